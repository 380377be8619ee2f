"""Importing records from a spreadsheet: read (CSV in any common encoding, XLSX), match the
columns to fields, turn cells into values, check every row, then write all or only the
valid rows through `Records.bulk_create`, which checks again inside its transaction.

No Flask here: the web import pages, the `lowrise import` command and tests call the same
functions. Link and user cells are matched by the target record's title (or `#id`); select
cells by option value or label in any locale (the field type does that).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal

from lowrise.actor import Actor
from lowrise.errors import BulkValidationError, LowriseError
from lowrise.storage import query
from lowrise.storage.records import Records
from lowrise.workspace.model import Field, RecordType

Mode = Literal["all", "valid"]
PREVIEW_ROWS = 20
MAX_ROWS = 1_000_000
ERROR_COLUMN = "error"


class ImportFileError(LowriseError):
    """The file cannot be imported at all (unreadable, empty, no column matches a field)."""


# -- reading ---------------------------------------------------------------------------------

@dataclass
class Sheet:
    """A file's cells: the header row and the data rows (blank rows dropped)."""

    headers: list[str]
    rows: list[list[Any]]
    encoding: str | None = None


def detect_encoding(data: bytes) -> str:
    """The text encoding of a CSV: a BOM, else UTF-8 if it decodes, else the best guess
    (GB18030 covers GBK and GB2312, which Chinese Excel writes)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    sample = data[:200_000]
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


def read_csv(data: bytes, *, encoding: str | None = None) -> Sheet:
    encoding = encoding or detect_encoding(data)
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise ImportFileError(f"the file is not readable as {encoding} text: {exc}") from None
    sample = text[:20_000]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    return _sheet(rows, encoding, text=True)


def read_xlsx(data: bytes | Path, *, sheet: str | None = None) -> Sheet:
    from openpyxl import load_workbook

    source = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        wb = load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise ImportFileError(f"the file is not a readable Excel workbook: {exc}") from None
    try:
        ws = wb[sheet] if sheet else wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    return _sheet(rows, None)


def read_file(path: Path | str, *, encoding: str | None = None) -> Sheet:
    """A CSV or XLSX file, told apart by its content (an XLSX is a zip)."""
    data = Path(path).read_bytes()
    if data[:4] == b"PK\x03\x04":
        return read_xlsx(data)
    return read_csv(data, encoding=encoding)


def _sheet(rows: list[list[Any]], encoding: str | None, *, text: bool = False) -> Sheet:
    if text:  # CSV cells are strings: a blank one is the empty string
        rows = [r for r in rows if any(r)]
    else:
        rows = [r for r in rows if any(c not in (None, "") for c in r)]
    if not rows:
        raise ImportFileError("the file has no rows")
    headers = ["" if h is None else str(h).strip() for h in rows[0]]
    body = rows[1:]
    if len(body) > MAX_ROWS:
        raise ImportFileError(f"the file has {len(body):,} rows; at most {MAX_ROWS:,} at a time")
    width = len(headers)
    body = [r if len(r) == width else (r + [None] * (width - len(r)))[:width] for r in body]
    return Sheet(headers, body, encoding)


# -- columns → fields ------------------------------------------------------------------------

def importable(rt: RecordType) -> list[Field]:
    """The fields an import can fill (not system, computed or file fields)."""
    return [f for f in rt.user_fields if not f.kind.generated and f.type != "attachment"]


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    return re.sub(r"[\s_\-*:：()（）]+", "", text)


def guess_mapping(rt: RecordType, headers: Sequence[str]) -> list[str | None]:
    """For each column, the field whose name or label (in any locale) it carries, or None."""
    names: dict[str, str] = {}
    for f in importable(rt):
        for text in (f.name, *f.label.texts.values()):
            names.setdefault(_norm(text), f.name)
    out: list[str | None] = []
    for h in headers:
        name = names.get(_norm(h)) if h else None
        out.append(name if name not in out else None)
    return out


def check_mapping(rt: RecordType, mapping: Sequence[str | None]) -> list[str | None]:
    """The mapping with unknown fields and repeats dropped; ImportFileError when nothing maps."""
    allowed = {f.name for f in importable(rt)}
    out: list[str | None] = []
    for name in mapping:
        out.append(name if name in allowed and name not in out else None)
    if not any(out):
        raise ImportFileError(f"no column matches a field of {rt.label}; name the columns after "
                           "the fields (or their labels) or choose a field for each column")
    missing = [f for f in importable(rt) if f.required and f.default is None
               and f.name not in out]
    if missing:
        raise ImportFileError("required field(s) without a column: "
                           + ", ".join(f"{f.label} ({f.name})" for f in missing))
    return out


# -- cells → values --------------------------------------------------------------------------

def _cell(f: Field, value: Any) -> Any:
    """A cell as the field's parser reads it: text as it is (the field types read the ways
    people write dates and lists, as a form and the API do), typed cells as text or as the
    values they stand for."""
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
    elif isinstance(value, float) and value.is_integer() and f.type in ("integer", "phone",
                                                                           "rating", "text"):
        value = int(value)
    elif isinstance(value, time) and f.type == "duration":
        value = f"{value.hour}:{value.minute:02d}:{value.second:02d}"
    elif isinstance(value, datetime) and f.type == "date":
        value = value.date()
    if f.type in ("text", "long_text", "phone", "email", "url") and \
            isinstance(value, int | float | date) and not isinstance(value, bool):
        value = str(value)
    return value


_CELL_MEMO = 2000


def _cell_once(f: Field, value: Any, seen: dict[Any, Any]) -> Any:
    """_cell, remembering up to _CELL_MEMO results a column (a column's labels, dates and
    names repeat down a sheet). Only text cells: they are what a file holds."""
    if type(value) is not str:
        return _cell(f, value)
    out = seen.get(value, seen)
    if out is seen:
        out = _cell(f, value)
        if len(seen) < _CELL_MEMO:
            seen[value] = out
    return out


@dataclass
class Titles:
    """Link cells → record ids: by title (one query a thousand distinct titles) or `#id`."""

    records: Records
    actor: Actor
    _cache: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def load(self, f: Field, cells: Iterable[Any]) -> None:
        target = self.records.schema.workspace.type(f.target)
        title = target.title_field
        known = self._cache.setdefault(f.target, {})
        # (text with a NUL is no record's title, and not text a filter takes)
        wanted = sorted({str(c).strip() for c in cells
                         if c not in (None, "") and "\x00" not in str(c)} - set(known))
        if title not in target.fields or target.fields[title].type in ("link", "user"):
            return
        with self.records.engine.connect() as conn:
            for start in range(0, len(wanted), query.MAX_LIMIT):
                chunk = wanted[start:start + query.MAX_LIMIT]
                for text in chunk:
                    known.setdefault(text, [])
                after = None
                while True:
                    page = query.list_records(
                        conn, self.records.schema, f.target, sort=["id"], after=after,
                        filter={"field": title, "op": "in", "value": chunk},
                        fields=[title], limit=query.MAX_LIMIT, ctx=self.actor)
                    for r in page.rows:
                        known.setdefault(str(r[title]), []).append(r["id"])
                    after = page.next_cursor
                    if after is None:
                        break

    def resolve(self, f: Field, value: Any) -> tuple[Any, str | None]:
        """(the id, None) or (None, why not)."""
        text = str(value).strip()
        target = self.records.schema.workspace.type(f.target)
        ids = self._cache.get(f.target, {}).get(text) or []
        if len(ids) == 1:
            return ids[0], None
        if len(ids) > 1:
            return None, (f"{len(ids)} {target.label_plural} are called '{text}'; "
                          f"write the one you mean as #id (#{ids[0]}, #{ids[1]}...)")
        if re.fullmatch(r"#?\d+", text):
            return text, None  # an id: the field type reads it, Records checks it exists
        return None, f"there is no {target.label} called '{text}'"


@dataclass
class Prepared:
    """Each row as raw values for `Records`, and the rows already refused with the reason."""

    values: list[dict[str, Any]]
    errors: dict[int, dict[str, str]]


def prepare(records: Records, type_name: str, sheet: Sheet, mapping: Sequence[str | None],
            actor: Actor) -> Prepared:
    """Turn the cells into values; link cells become ids (by title)."""
    rt = records.schema.workspace.type(type_name)
    cols = [(i, rt.fields[name]) for i, name in enumerate(mapping) if name]
    titles = Titles(records, actor)
    for i, f in cols:
        if f.type in ("link", "user") and f.target:
            titles.load(f, (row[i] for row in sheet.rows))
    values: list[dict[str, Any]] = []
    errors: dict[int, dict[str, str]] = {}
    seen: dict[str, dict[Any, Any]] = {f.name: {} for _, f in cols}
    for n, row in enumerate(sheet.rows):
        out: dict[str, Any] = {}
        for i, f in cols:
            v = _cell_once(f, row[i], seen[f.name])
            if v is None:
                continue  # an empty cell: no value (the field's default applies)
            if f.type in ("link", "user") and f.target:
                v, why = titles.resolve(f, v)
                if why:
                    errors.setdefault(n, {})[f.name] = why
                    continue
            out[f.name] = v
        values.append(out)
    return Prepared(values, errors)


# -- preview and import ----------------------------------------------------------------------

@dataclass
class Checked:
    """Every row checked: the stored values of the valid ones and the reasons of the others."""

    stored: list[dict[str, Any] | None]
    errors: dict[int, dict[str, str]]

    @property
    def valid(self) -> int:
        return sum(1 for s in self.stored if s is not None)


def check(records: Records, type_name: str, prepared: Prepared, actor: Actor) -> Checked:
    """Check every row as bulk_create would, writing nothing."""
    parsed, errors = records.check_create(type_name, prepared.values, actor)
    for i, errs in prepared.errors.items():
        errors.setdefault(i, {}).update(errs)
    stored = [None if i in errors else p for i, p in enumerate(parsed)]
    return Checked(stored, dict(sorted(errors.items())))


@dataclass
class Result:
    """What an import did: records created, rows refused (with reasons), rows in the file."""

    created: int
    errors: dict[int, dict[str, str]]
    total: int
    written: bool


def run(records: Records, type_name: str, prepared: Prepared, actor: Actor, *,
        mode: Mode = "all", run_hooks: bool = True,
        progress: Callable[[int], None] | None = None) -> Result:
    """Import the prepared rows: all or nothing (mode "all"), or only the valid ones."""
    total = len(prepared.values)
    if mode == "all":
        if prepared.errors:
            return Result(0, dict(prepared.errors), total, False)
        try:
            made = records.bulk_create(type_name, prepared.values, actor, run_hooks=run_hooks,
                                       progress=progress)
        except BulkValidationError as exc:
            return Result(0, exc.rows, total, False)
        return Result(len(made), {}, total, True)
    errors = dict(prepared.errors)
    keep = [i for i in range(total) if i not in errors]
    for _attempt in range(3):  # a row may turn invalid between the check and the write
        _parsed, found = records.check_create(type_name, [prepared.values[i] for i in keep],
                                              actor)
        for j, errs in found.items():
            errors[keep[j]] = errs
        keep = [i for i in keep if i not in errors]
        try:
            made = records.bulk_create(type_name, [prepared.values[i] for i in keep], actor,
                                       run_hooks=run_hooks, progress=progress)
        except BulkValidationError as exc:
            for j, errs in exc.rows.items():
                errors[keep[j]] = errs
            keep = [i for i in keep if i not in errors]
            continue
        return Result(len(made), dict(sorted(errors.items())), total, True)
    return Result(0, dict(sorted(errors.items())), total, False)


def describe(errs: Mapping[str, str], rt: RecordType, locale: str = "en") -> str:
    """A row's errors in one line: `Label: reason; Label: reason`."""
    parts = []
    for name, msg in errs.items():
        f = rt.fields.get(name)
        parts.append(f"{f.label.get(locale) if f else name or 'record'}: {msg}")
    return "; ".join(parts)


def error_rows_csv(sheet: Sheet, errors: Mapping[int, Mapping[str, str]], rt: RecordType,
                   locale: str = "en") -> Iterable[str]:
    """The refused rows as CSV text (the file's own columns and an error column), line by
    line; UTF-8 with a BOM when written out so that Excel opens it right."""
    buf = io.StringIO()
    writer = csv.writer(buf)

    def line(cells: list[Any]) -> str:
        buf.seek(0)
        buf.truncate()
        writer.writerow(cells)
        return buf.getvalue()

    yield line([*sheet.headers, ERROR_COLUMN])
    for i, errs in sorted(errors.items()):
        row = ["" if c is None else c for c in sheet.rows[i]]
        yield line([*row, describe(errs, rt, locale)])
