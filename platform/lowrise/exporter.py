"""Exporting a view as a person sees it: its columns, filter and sort, labels for options,
titles for links, values formatted for the person's locale; as CSV or XLSX.

Rows are read a keyset page at a time (each page in a connection of its own) and written as
they come, so a million rows never sit in memory: CSV is a generator of text, XLSX goes
through openpyxl's write-only workbook, which spools rows to a temporary file. Reads go
through `query.list_records` with the actor, like the table page. No Flask here.

Text that a spreadsheet would run as a formula (a client named `=HYPERLINK(...)`, typed by
someone who may not see what the reader of the export sees) never becomes one: in the CSV it
starts with an apostrophe, in the XLSX it is written as a string cell.

Confidential fields go into a file only as the exporter's role may export them (full, masked
or not at all: lowrise.access.exports), and every export is logged (lowrise.trail)
before its first row leaves, with its row count once it is written.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any, Literal

import sqlalchemy as sa

from lowrise import trail
from lowrise.access import Masked, Policy, mask_value
from lowrise.access.exports import export_plan
from lowrise.actor import Actor
from lowrise.filters import Node
from lowrise.storage import query
from lowrise.storage.tables import Schema
from lowrise.workspace.model import Field, RecordType

PAGE = 1000
Style = Literal["text", "typed"]

#: how a cell that Excel, LibreOffice or Sheets would read as a formula starts (the full-width
#: forms too: some spreadsheets read them as their ASCII twins)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def defuse(text: str) -> str:
    """`text` as plain text for a CSV cell: an apostrophe first when it would be a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def title_text(rt: RecordType, record: dict[str, Any], locale: str) -> str:
    """A record's name: its title field as text, else `#id`."""
    f = rt.fields.get(rt.title_field)
    value = record.get(rt.title_field) if f is not None else None
    if value in (None, "", []) or f.kind.links:
        return f"#{record.get('id')}"
    return f.kind.display(f, value, locale)


def _titles(conn, schema: Schema, fields: Sequence[Field], rows: list[dict[str, Any]],
            locale: str, actor: Actor) -> dict[tuple[str, int], str]:
    """The titles of every record the page's link fields point at: one query per type,
    through the same read as the rows (a record the actor may not see stays `#id`)."""
    wanted: dict[str, set[int]] = {}
    for f in fields:
        if f.kind.links and f.target:
            wanted.setdefault(f.target, set()).update(
                r[f.name] for r in rows if r.get(f.name) is not None)
    out: dict[tuple[str, int], str] = {}
    for target, ids in wanted.items():
        trt = schema.workspace.type(target)
        cols = [trt.title_field] if trt.title_field in trt.fields else []
        ids = sorted(ids)
        for start in range(0, len(ids), query.MAX_LIMIT):
            page = query.list_records(
                conn, schema, target, sort=["id"], limit=query.MAX_LIMIT, fields=cols,
                filter={"field": "id", "op": "in", "value": ids[start:start + query.MAX_LIMIT]},
                ctx=actor)
            for rec in page.rows:
                out[(target, rec["id"])] = title_text(trt, rec, locale)
    return out


def cell(f: Field, value: Any, titles: dict[tuple[str, int], str], locale: str, tz: str,
         style: Style) -> Any:
    """One value as the export shows it: text, or for XLSX a number or date where it is one.
    CSV text that would be a formula is defused; a number's own formatting ("-¥5.00") is not
    text anyone typed and stays as it is."""
    if value is None or value == "" or value == []:
        return None if style == "typed" else ""
    kind = f.kind.value_type(f)  # a formula's values are its result's
    if f.kind.links and f.target:
        title = titles.get((f.target, value), f"#{value}")
        return title if style == "typed" else defuse(title)
    if style == "text":
        shown = f.kind.display(f, value, locale)
        return shown if kind.numeric else defuse(shown)
    return kind.export_cell(f, value, locale, tz)


def exported_columns(schema: Schema, type_name: str, columns: Sequence[Field],
                     actor: Actor) -> list[Field]:
    """The columns an export by `actor` carries: those whose confidential field their role
    may not export at all are left out."""
    plan = export_plan(Policy.for_actor(actor, schema.workspace), type_name,
                       [f.name for f in columns])
    return [f for f in columns if f.name not in plan or plan[f.name].how != "none"]


def rows(engine: sa.Engine, schema: Schema, type_name: str, columns: Sequence[Field], *,
         actor: Actor, via: str, filter: Node | None = None,
         sort: Sequence[str] = ("-updated_at",), q: str | None = None, locale: str = "en",
         style: Style = "text", page_size: int = PAGE) -> Iterator[list[Any]]:
    """The header (labels in the locale), then every matching record's row, page by page;
    logged as an export `via` (csv, xlsx, api-csv, api-xlsx, share) before the header."""
    ws = schema.workspace
    tz = ws.config.get("timezone") or "UTC"
    pol = Policy.for_actor(actor, ws)
    pol.require("export", type_name)
    plan = export_plan(pol, type_name, [f.name for f in columns])
    columns = [f for f in columns if f.name not in plan or plan[f.name].how != "none"]
    masks = {n: c.mask for n, c in plan.items() if c.how == "masked"}
    names = [f.name for f in columns if f.name != "id"]

    def page_after(after):
        with engine.connect() as conn:
            page = query.list_records(conn, schema, type_name, filter=filter, sort=sort,
                                      limit=page_size, after=after, fields=names, ctx=actor,
                                      q=q)
            return page, _titles(conn, schema, columns, page.rows, locale, actor)

    page, titles = page_after(None)  # a refused sort or filter fails here, before the log
    logged = trail.export_started(engine, schema, actor, type_name, via,
                                  [f.name for f in columns],
                                  {n: c.how for n, c in plan.items()})
    written = 0
    try:
        header = [f.label.get(locale, ws.default_locale) for f in columns]
        yield header if style == "typed" else [defuse(h) for h in header]
        while True:
            for r in page.rows:
                line = [cell(f, _masked(f, r.get(f.name), masks), titles, locale, tz, style)
                        for f in columns]
                written += 1  # counted as it is handed out: a cut-short download had it
                yield line
            if page.next_cursor is None:
                return
            page, titles = page_after(page.next_cursor)
    finally:
        trail.export_finished(engine, schema, logged, written)


def started(lines: Iterator[list[Any]]) -> Iterator[list[Any]]:
    """`lines` with its first page read (and the export logged) now: a refused sort or
    filter is an error of the request, not of a stream already under way."""
    first = next(lines)
    return itertools.chain([first], lines)


def _masked(f: Field, value: Any, masks: dict) -> Any:
    """A confidential value exported masked (one the reader sees masked stays as it is)."""
    if f.name not in masks or isinstance(value, Masked):
        return value
    return mask_value(f, value, masks[f.name])


def csv_text(lines: Iterator[list[Any]], *, bom: bool = True) -> Iterator[str]:
    """Rows as CSV text, a chunk every few hundred rows; a BOM first so that Excel reads
    the file as UTF-8 (Chinese text otherwise shows as mojibake)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    if bom:
        buf.write("\ufeff")
    for n, line in enumerate(lines, 1):
        writer.writerow(line)
        if n % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    if buf.getvalue():
        yield buf.getvalue()


#: rows read ahead to size the columns (a write-only sheet declares its widths first)
WIDTH_SAMPLE = 200


def number_format(f: Field | None) -> str | None:
    """The Excel number format of a field's cells, as its value type says: money with its
    sign, percent values as written, decimals with their places, whole numbers with
    thousands separators, dates (a formula's and a rollup's as their result's)."""
    if f is None:
        return None
    return f.kind.value_type(f).excel_format(f)


def _width(value: Any) -> int:
    """How many character widths a value takes (Chinese characters count two)."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    if isinstance(value, Decimal | int | float):
        return len(f"{value:,}") + 3
    text = str(value).split("\n", 1)[0]
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def write_xlsx(lines: Iterator[list[Any]], out: IO[bytes] | str, *, title: str = "Export",
               columns: Sequence[Field] | None = None) -> None:
    """Rows into an XLSX workbook written in openpyxl's write-only mode (bounded memory):
    the header bold and frozen, columns as wide as their first rows need (8 to 50), and with
    `columns` (the fields) each cell in its field's number format (money, percent, dates).
    Every text is a string cell (openpyxl would make `=...` a formula), marked to stay text
    when someone edits it in Excel."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    sheet = wb.create_sheet(title=_sheet_title(title))
    header = next(lines, None)
    ahead = list(itertools.islice(lines, WIDTH_SAMPLE))
    fields = list(columns or [])
    formats = [number_format(fields[i]) if i < len(fields) else None
               for i in range(len(header or ()))]
    # views and widths are written before the first row: set them first
    sheet.freeze_panes = "A2"
    for i, text in enumerate(header or ()):
        widest = max([_width(text) + 2, *(_width(r[i]) for r in ahead if i < len(r))])
        sheet.column_dimensions[get_column_letter(i + 1)].width = min(max(widest + 1, 8), 50)
    if header is not None:
        bold = Font(bold=True)
        cells = []
        for text in header:
            c = _text_cell(sheet, text) if _formula_like(text) else WriteOnlyCell(sheet, text)
            c.font = bold
            cells.append(c)
        sheet.append(cells)
    by_type = {date: "yyyy-mm-dd", datetime: "yyyy-mm-dd hh:mm"}
    for line in itertools.chain(ahead, lines):
        out_cells = []
        for i, v in enumerate(line):
            if isinstance(v, str):  # control characters XML cannot hold are dropped
                v = ILLEGAL_CHARACTERS_RE.sub("", v)
            fmt = (formats[i] if i < len(formats) else None) or by_type.get(type(v))
            if _formula_like(v):
                out_cells.append(_text_cell(sheet, v))
            elif fmt and v is not None and not isinstance(v, str):
                c = WriteOnlyCell(sheet, value=v)
                c.number_format = fmt
                out_cells.append(c)
            else:
                out_cells.append(v)
        sheet.append(out_cells)
    wb.save(out)


def _text_cell(sheet, text: str):
    """A cell that holds `text` as a string, whatever it starts with."""
    from openpyxl.cell import WriteOnlyCell

    c = WriteOnlyCell(sheet, value=text)
    c.data_type = "s"
    c.quotePrefix = True  # Excel keeps it text when the cell is edited
    return c


def _formula_like(value: Any) -> bool:
    """Text that openpyxl or a spreadsheet would take for a formula (other text is written as
    a string cell already)."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def _sheet_title(text: str) -> str:
    for ch in "[]:*?/\\":
        text = text.replace(ch, " ")
    return text.strip()[:31] or "Export"
