"""Reading an import's file: a CSV in any common encoding or an XLSX workbook's first sheet,
streamed a row at a time within limits, so that no file can take the server's memory.

A file comes from whoever may import. Its rows are read one at a time and reading stops at
the first row past MAX_ROWS or at a value past MAX_COLUMNS; blank rows and the empty cells
at the end of a row are dropped as they come. An XLSX is a zip: every part's uncompressed
size is checked from the zip's directory before any is parsed, and the size a sheet declares
(`<dimension ref="A1:XFD1048576"/>`, which openpyxl would pad every row to) is ignored. No
Flask here; messages are lowrise.i18n messages, put into words where they are shown.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lowrise.errors import LowriseError
from lowrise.i18n import msg

MAX_ROWS = 1_000_000
MAX_COLUMNS = 1_000
#: the most one part of a workbook may hold uncompressed (a sheet of a million rows of a
#: dozen short cells is about 400 MB of XML), and all its parts together
MAX_PART_BYTES = 512 * 1024 * 1024
MAX_WORKBOOK_BYTES = 1024 * 1024 * 1024
#: the last row a sheet can have (Excel's): a row numbered beyond it is a damaged file
SHEET_ROWS = 1_048_576
#: bytes read to guess a CSV's encoding, and characters to guess its separator
ENCODING_SAMPLE = 200_000
DIALECT_SAMPLE = 20_000
MB = 1024 * 1024


class ImportFileError(LowriseError):
    """The file cannot be imported at all (unreadable, empty, too large, no column matches)."""


@dataclass
class Sheet:
    """A file's cells: the header row and the data rows (blank rows dropped)."""

    headers: list[str]
    rows: list[list[Any]]
    encoding: str | None = None
    #: the header's row in the file (1 unless title rows stand above it)
    header_row: int = 1


class Formula(str):
    """A formula cell whose result the file does not hold (the program that wrote it left
    that to Excel): the formula's text, never read as a value (an import refuses it)."""


#: how far down a file a header row is looked for below title rows
TITLE_ROWS = 10


def detect_encoding(data: bytes) -> str:
    """The text encoding of a CSV from its first bytes: a BOM, else UTF-8 if it decodes, else
    the best guess (GB18030 covers GBK and GB2312, which Chinese Excel writes)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    sample = data[:ENCODING_SAMPLE]
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3 and len(data) > len(sample):
            return "utf-8"  # the sample cut a character in two
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    name = (best.encoding if best else "gb18030").lower().replace("_", "-")
    # GB18030 is the superset of GBK and GB2312: a Chinese file is read with it whichever
    # of the three the guesser names.
    return "gb18030" if name in ("gbk", "gb2312", "gb18030") else name


def read_csv(data: bytes | IO[bytes], *, encoding: str | None = None,
             rows: int | None = None, header_row: int | None = None) -> Sheet:
    """A CSV's rows, from bytes or a binary file, read a line at a time (only the first
    `rows` data rows when given: a first look)."""
    fh = io.BytesIO(data) if isinstance(data, bytes) else data
    start = fh.tell()
    encoding = encoding or detect_encoding(fh.read(ENCODING_SAMPLE + 1))
    try:
        fh.seek(start)
        text = io.TextIOWrapper(fh, encoding=encoding, newline="")
        try:
            sample = text.read(DIALECT_SAMPLE)
        finally:
            text.detach()  # closing the wrapper would close the caller's file
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        fh.seek(start)
        text = io.TextIOWrapper(fh, encoding=encoding, newline="")
        try:
            return _collect(_csv_rows(csv.reader(text, dialect)), encoding, rows, header_row)
        finally:
            text.detach()
    except UnicodeDecodeError:
        raise ImportFileError(msg("the file is not readable as %(encoding)s text; save it "
                                  "again as CSV UTF-8", encoding=encoding)) from None
    except LookupError:
        raise ImportFileError(msg("there is no text encoding called %(encoding)s",
                                  encoding=encoding)) from None


def _csv_rows(reader) -> Iterator[list[Any]]:
    try:
        yield from reader
    except csv.Error:
        raise ImportFileError(msg("line %(line)s cannot be read: a cell longer than %(limit)s "
                                  "characters, or a quote that is never closed",
                                  line=reader.line_num,
                                  limit=f"{csv.field_size_limit():,}")) from None


def read_xlsx(data: bytes | Path | IO[bytes], *, sheet: str | None = None,
              rows: int | None = None, header_row: int | None = None) -> Sheet:
    """The first (or the named) sheet of a workbook, read in openpyxl's read-only mode (only
    the first `rows` data rows when given). A formula cell whose result the file does not
    hold (none saved, or the workbook asks to be recalculated on opening, as files written
    by programs rather than Excel do) is a `Formula`, not its stale value."""
    from openpyxl import load_workbook

    source = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        with zipfile.ZipFile(source) as zf:
            check_workbook(zf)
            formulas = _has_formulas(zf)
            stale = formulas and _recalculated_on_opening(zf)
        if hasattr(source, "seek"):
            source.seek(0)
        wb = load_workbook(source, read_only=True, data_only=True)
        texts = None
        if formulas:
            if hasattr(source, "seek"):
                source.seek(0)
            texts = load_workbook(source, read_only=True, data_only=False)
    except ImportFileError:
        raise
    except Exception:  # zipfile and openpyxl raise many kinds for a damaged file
        raise _not_a_workbook() from None
    try:
        ws = wb[sheet] if sheet else wb.worksheets[0]
        ws.reset_dimensions()  # the sheet's declared size is not believed
        cells = _xlsx_rows(ws)
        if texts is not None:
            ft = texts[sheet] if sheet else texts.worksheets[0]
            ft.reset_dimensions()
            cells = _with_formulas(cells, ft.iter_rows(values_only=True), stale)
        return _collect(cells, None, rows, header_row)
    except ImportFileError:
        raise
    except Exception:  # a sheet's XML damaged past its first rows
        raise _not_a_workbook() from None
    finally:
        wb.close()
        if texts is not None:
            texts.close()


def _has_formulas(zf: zipfile.ZipFile) -> bool:
    """Whether any sheet of the workbook holds a formula (its XML read in pieces)."""
    for name in zf.namelist():
        if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
            continue
        tail = b""
        with zf.open(name) as fh:
            while chunk := fh.read(1 << 20):
                if b"<f>" in tail + chunk or b"<f " in tail + chunk:
                    return True
                tail = chunk[-3:]
    return False


def _recalculated_on_opening(zf: zipfile.ZipFile) -> bool:
    """Whether the workbook asks to be recalculated when opened (`fullCalcOnLoad`): its
    writer left the saved results to Excel, so they are not results. (Read from the XML:
    openpyxl reports the attribute as set when it is missing.)"""
    try:
        head = zf.read("xl/workbook.xml")
    except KeyError:
        return False
    m = re.search(rb"<(?:\w+:)?calcPr\b[^>]*>", head)
    return bool(m and re.search(rb'fullCalcOnLoad="(1|true)"', m.group(0)))


def _with_formulas(values: Iterable[tuple[Any, ...]], texts: Iterable[tuple[Any, ...]],
                   stale: bool) -> Iterator[tuple[Any, ...]]:
    """The rows of values, with each formula cell that has no result the file holds as a
    `Formula`: read beside the same sheet's formulas, row by row."""
    for row, formulas in zip(values, texts, strict=False):
        if not any(isinstance(t, str) and t.startswith("=") for t in formulas):
            yield row
            continue
        out = list(row) + [None] * (len(formulas) - len(row))
        for i, t in enumerate(formulas):
            if isinstance(t, str) and t.startswith("=") and (stale or out[i] is None):
                out[i] = Formula(t)
        yield tuple(out)


def read_ods(data: bytes | Path | IO[bytes], *, rows: int | None = None,
             header_row: int | None = None) -> Sheet:
    """The first sheet of an OpenDocument spreadsheet (.ods: LibreOffice's and WPS's own
    format), read with calamine. Its parts' sizes are checked as a workbook's first."""
    from python_calamine import CalamineWorkbook

    source = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        with zipfile.ZipFile(source) as zf:
            check_workbook(zf)
        if hasattr(source, "seek"):
            source.seek(0)
        wb = (CalamineWorkbook.from_path(str(source)) if isinstance(source, Path)
              else CalamineWorkbook.from_filelike(source))
        cells = wb.get_sheet_by_index(0).iter_rows()
    except ImportFileError:
        raise
    except Exception:  # zipfile and calamine raise many kinds for a damaged file
        raise _not_a_spreadsheet() from None
    try:
        return _collect((["" if c is None else c for c in r] for r in cells), None, rows,
                        header_row)
    except ImportFileError:
        raise
    except Exception:
        raise _not_a_spreadsheet() from None
    finally:
        wb.close()


def _not_a_spreadsheet() -> ImportFileError:
    return ImportFileError(msg("the file is not a readable OpenDocument spreadsheet (.ods); "
                               "save it again from LibreOffice or WPS, or as CSV"))


def _is_ods(fh: IO[bytes]) -> bool:
    """Whether a zip is an OpenDocument spreadsheet (its first part names the type)."""
    try:
        with zipfile.ZipFile(fh) as zf:
            names = zf.namelist()
            return "mimetype" in names and zf.read("mimetype").startswith(
                b"application/vnd.oasis.opendocument.spreadsheet")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, KeyError, OSError):
        return False
    finally:
        fh.seek(0)


def check_workbook(zf: zipfile.ZipFile) -> None:
    """Refuse a workbook whose parts would unzip to more than the limits (from the zip's
    directory: nothing is decompressed)."""
    total = 0
    for info in zf.infolist():
        if info.file_size > MAX_PART_BYTES:
            raise ImportFileError(msg("the workbook's part %(name)s is %(size)s MB uncompressed; "
                                      "at most %(limit)s MB", name=info.filename,
                                      size=f"{info.file_size / MB:,.0f}",
                                      limit=f"{MAX_PART_BYTES / MB:,.0f}"))
        total += info.file_size
    if total > MAX_WORKBOOK_BYTES:
        raise ImportFileError(msg("the workbook is %(size)s MB uncompressed; at most "
                                  "%(limit)s MB", size=f"{total / MB:,.0f}",
                                  limit=f"{MAX_WORKBOOK_BYTES / MB:,.0f}"))


def _not_a_workbook() -> ImportFileError:
    return ImportFileError(msg("the file is not a readable Excel workbook (.xlsx); save it "
                               "again from Excel, or as CSV"))


def _xlsx_rows(ws) -> Iterator[tuple[Any, ...]]:
    """The sheet's rows, counting the empty ones openpyxl yields for missing row numbers."""
    for n, row in enumerate(ws.iter_rows(values_only=True), 1):
        if n > SHEET_ROWS:
            raise ImportFileError(msg("the sheet has rows numbered past %(last)s, the last row "
                                      "a sheet can have; the file is damaged",
                                      last=f"{SHEET_ROWS:,}"))
        yield row


def read_file(path: Path | str, *, encoding: str | None = None,
              header_row: int | None = None) -> Sheet:
    """A CSV, XLSX or ODS file, told apart by its content (XLSX and ODS are zips).
    `header_row`: the row that names the columns (the rows above it are skipped); by
    default the first, or the first with two filled cells below title rows of one cell."""
    try:
        with open(path, "rb") as fh:
            if fh.read(4) == b"PK\x03\x04":
                fh.seek(0)
                if _is_ods(fh):
                    return read_ods(fh, header_row=header_row)
                return read_xlsx(fh, header_row=header_row)
            fh.seek(0)
            return read_csv(fh, encoding=encoding, header_row=header_row)
    except OSError as exc:
        raise _unreadable(exc) from None


def probe(path: Path | str) -> None:
    """Refuse at once a file that cannot be imported at all, reading as little as tells:
    a CSV's header and first row, a workbook's zip directory (its sheet is read later)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":
                fh.seek(0)
                read_csv(fh, rows=1)
                return
            fh.seek(0)
            try:
                with zipfile.ZipFile(fh) as zf:
                    check_workbook(zf)
                    names = zf.namelist()
                    if "xl/workbook.xml" not in names and not (
                            "mimetype" in names and "content.xml" in names):
                        raise _not_a_workbook()
            except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
                raise _not_a_workbook() from None
    except OSError as exc:
        raise _unreadable(exc) from None


def _unreadable(exc: OSError) -> ImportFileError:
    return ImportFileError(msg("the file cannot be read (%(why)s)", why=exc.strerror or str(exc)))


def _blank(cell: Any) -> bool:
    """An empty cell: nothing, or only spaces (an import reads a cell without them)."""
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _titles_skipped(rows: Iterable[Any]) -> Iterator[tuple[int, Any]]:
    """The rows numbered from 1, without the title rows above the header: rows with one
    filled cell (a title, merged across the sheet or not) followed, within TITLE_ROWS rows,
    by a row with two or more (the header). A sheet of one column keeps its first row."""
    held: list[tuple[int, Any]] = []
    it = enumerate(rows, 1)
    for n, raw in it:
        filled = sum(1 for c in raw if not _blank(c))
        if filled == 0 and not held:
            held.append((n, raw))
            continue
        if filled >= 2:
            yield from ((m, r) for m, r in held if not any(not _blank(c) for c in r))
            yield n, raw
            break
        held.append((n, raw))
        if n >= TITLE_ROWS:
            yield from held
            break
    else:
        yield from held
        return
    yield from it


def _collect(rows: Iterable[Any], encoding: str | None, first: int | None = None,
             header_row: int | None = None) -> Sheet:
    """The header and data rows: blank rows dropped, trailing empty cells trimmed, every row
    as wide as the widest; reading stops at the first row or value past the limits (or,
    quietly, after the `first` data rows). The header is row `header_row` when given (the
    rows above are skipped), else the first below any title rows (_titles_skipped)."""
    headers: list[str] | None = None
    body: list[list[Any]] = []
    width = 0
    at = 1
    numbered = (enumerate(rows, 1) if header_row else _titles_skipped(rows))
    for n, raw in numbered:
        if header_row and n < header_row:
            continue
        end = len(raw)
        while end and _blank(raw[end - 1]):
            end -= 1
        if not end:
            continue
        if end > MAX_COLUMNS:
            raise ImportFileError(msg("row %(row)s has a value in column %(column)s; at most "
                                      "%(limit)s columns can be imported", row=n,
                                      column=f"{end:,}", limit=f"{MAX_COLUMNS:,}"))
        width = max(width, end)
        if headers is None:
            headers = ["" if h is None else str(h).strip() for h in raw[:end]]
            at = n
            continue
        if first is not None and len(body) >= first:
            break
        if len(body) >= MAX_ROWS:
            raise ImportFileError(msg("the file has more than %(limit)s rows; at most "
                                      "%(limit)s can be imported at a time",
                                      limit=f"{MAX_ROWS:,}"))
        body.append(list(raw[:end]))
    if headers is None:
        raise ImportFileError(msg("the file has no rows"))
    headers += [""] * (width - len(headers))
    for row in body:
        if len(row) < width:
            row.extend([None] * (width - len(row)))
    return Sheet(headers, body, encoding, at)
