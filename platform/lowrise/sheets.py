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
             rows: int | None = None) -> Sheet:
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
            return _collect(_csv_rows(csv.reader(text, dialect)), encoding, rows)
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
              rows: int | None = None) -> Sheet:
    """The first (or the named) sheet of a workbook, read in openpyxl's read-only mode (only
    the first `rows` data rows when given)."""
    from openpyxl import load_workbook

    source = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        with zipfile.ZipFile(source) as zf:
            check_workbook(zf)
        if hasattr(source, "seek"):
            source.seek(0)
        wb = load_workbook(source, read_only=True, data_only=True)
    except ImportFileError:
        raise
    except Exception:  # zipfile and openpyxl raise many kinds for a damaged file
        raise _not_a_workbook() from None
    try:
        ws = wb[sheet] if sheet else wb.worksheets[0]
        ws.reset_dimensions()  # the sheet's declared size is not believed
        return _collect(_xlsx_rows(ws), None, rows)
    except ImportFileError:
        raise
    except Exception:  # a sheet's XML damaged past its first rows
        raise _not_a_workbook() from None
    finally:
        wb.close()


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


def read_file(path: Path | str, *, encoding: str | None = None) -> Sheet:
    """A CSV or XLSX file, told apart by its content (an XLSX is a zip)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(4) == b"PK\x03\x04":
                fh.seek(0)
                return read_xlsx(fh)
            fh.seek(0)
            return read_csv(fh, encoding=encoding)
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
                    if "xl/workbook.xml" not in zf.namelist():
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


def _collect(rows: Iterable[Any], encoding: str | None, first: int | None = None) -> Sheet:
    """The header and data rows: blank rows dropped, trailing empty cells trimmed, every row
    as wide as the widest; reading stops at the first row or value past the limits (or,
    quietly, after the `first` data rows)."""
    headers: list[str] | None = None
    body: list[list[Any]] = []
    width = 0
    for n, raw in enumerate(rows, 1):
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
    return Sheet(headers, body, encoding)
