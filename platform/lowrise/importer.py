"""Importing records from a spreadsheet: read (CSV in any common encoding, XLSX; see
lowrise.sheets for the limits), match the columns to fields, turn cells into values, check
every row, then write all or only the valid rows through `Records.bulk_create`, which checks
again inside its transaction.

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
from typing import Any, Literal

import sqlalchemy as sa

from lowrise.actor import Actor
from lowrise.errors import BulkValidationError
from lowrise.i18n import Lazy, about, msg, msg_n, tr
from lowrise.sheets import (
    MAX_COLUMNS,
    MAX_ROWS,
    Formula,
    ImportFileError,
    Sheet,
    detect_encoding,
    probe,
    read_csv,
    read_file,
    read_xlsx,
)
from lowrise.storage import query
from lowrise.storage.db import write_transaction
from lowrise.storage.records import Records
from lowrise.workspace.model import Field, RecordType

Mode = Literal["all", "valid"]
PREVIEW_ROWS = 20
ERROR_COLUMN = "error"
__all__ = ["MAX_COLUMNS", "MAX_ROWS", "ImportFileError", "Sheet", "detect_encoding", "probe",
           "read_csv", "read_file", "read_xlsx"]


# -- columns → fields ------------------------------------------------------------------------

def importable(rt: RecordType) -> list[Field]:
    """The fields an import can fill (not system, computed, read-only or file fields)."""
    return [f for f in rt.user_fields
            if not f.kind.generated and not f.read_only and not f.kind.stores_files]


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    return re.sub(r"[\s_\-*:：()（）]+", "", text)


def guess_mapping(rt: RecordType, headers: Sequence[str], *, key: str | None = None
                  ) -> list[str | None]:
    """For each column, the field whose name or label (in any locale) it carries, or None;
    with `key` "id" (an import onto existing records by id), an id column too."""
    names: dict[str, str] = {}
    fields = importable(rt)
    if key == "id" and "id" in rt.fields:
        fields = [rt.fields["id"], *fields]
        names.update({_norm("#"): "id", _norm("编号"): "id"})
    for f in fields:
        for text in (f.name, *f.label.texts.values()):
            names.setdefault(_norm(text), f.name)
    out: list[str | None] = []
    for h in headers:
        name = names.get(_norm(h)) if h else None
        out.append(name if name not in out else None)
    return out


def check_mapping(rt: RecordType, mapping: Sequence[str | None], *, key: str | None = None,
                  op: str = "create") -> list[str | None]:
    """The mapping with unknown fields and repeats dropped; ImportFileError when nothing maps,
    or (op "update"/"upsert") when no column holds the `key` field. Only new records need
    every required field: an update leaves the fields it has no column for as they are."""
    allowed = {f.name for f in importable(rt)}
    if op != "create" and key == "id":
        allowed.add("id")
    out: list[str | None] = []
    for name in mapping:
        out.append(name if name in allowed and name not in out else None)
    if not any(out):
        raise ImportFileError(msg("no column matches a field of %(type)s; name the columns "
                                  "after the fields (or their labels) or choose a field for "
                                  "each column", type=rt.label))
    if op != "create" and key and key not in out:
        kf = rt.fields.get(key)
        raise ImportFileError(msg("no column holds %(field)s, which finds the records to "
                                  "change; choose the column that holds it",
                                  field=kf.label if kf else key))
    if op != "create":
        return out
    missing = [f for f in importable(rt) if f.required and f.default is None
               and f.name not in out]
    if missing:
        names = Lazy(lambda locale: _list([f.label.get(locale) for f in missing], locale))
        raise ImportFileError(msg_n("a required field has no column: %(fields)s",
                                    "required fields have no column: %(fields)s",
                                    len(missing), fields=names))
    return out


# -- cells → values --------------------------------------------------------------------------

def _cell(f: Field, value: Any) -> Any:
    """A cell as the field's parser reads it: text as it is (the field types read the ways
    people write dates and lists, as a form and the API do), typed cells as text or as the
    values they stand for."""
    return f.kind.import_cell(f, f.kind.from_cell(f, value))


_CELL_MEMO = 2000


def NO_RESULT(formula: str) -> Any:  # noqa: N802 - a message, as the constants beside it
    return msg("is a formula (%(formula)s) whose result the file does not hold; open the file "
               "in Excel or WPS, save it, and import it again", formula=formula)


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
        if title not in target.fields or target.fields[title].kind.links:
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
            return None, msg("'%(text)s' names %(n)s %(types)s; write the one you mean as #id "
                             "(#%(a)s, #%(b)s...)", text=text, n=len(ids),
                             types=target.label_plural, a=ids[0], b=ids[1])
        if re.fullmatch(r"#?\d+", text):
            return text, None  # an id: the field type reads it, Records checks it exists
        return None, msg("'%(text)s' names no %(type)s", text=text, type=target.label)


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
        if f.kind.links and f.target:
            titles.load(f, (row[i] for row in sheet.rows))
    values: list[dict[str, Any]] = []
    errors: dict[int, dict[str, str]] = {}
    seen: dict[str, dict[Any, Any]] = {f.name: {} for _, f in cols}
    for n, row in enumerate(sheet.rows):
        out: dict[str, Any] = {}
        for i, f in cols:
            if type(row[i]) is Formula:
                errors.setdefault(n, {})[f.name] = NO_RESULT(row[i])
                continue
            v = _cell_once(f, row[i], seen[f.name])
            if v is None:
                continue  # an empty cell: no value (the field's default applies)
            if f.kind.links and f.target:
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
    #: an import onto existing records (lowrise.import_keyed): per row "create", "update" or
    #: "same", and the changed fields of an update as (before, after)
    actions: list[str | None] | None = None
    changes: dict[int, dict[str, tuple[Any, Any]]] = field(default_factory=dict)

    @property
    def valid(self) -> int:
        return sum(1 for s in self.stored if s is not None)


def check(records: Records, type_name: str, prepared: Prepared, actor: Actor, *,
          key: str | None = None, op: str = "create") -> Checked:
    """Check every row as bulk_create (or, with a key, bulk_write) would, writing nothing."""
    if op != "create":
        return _check_keyed(records, type_name, prepared, actor, key or "id", op)
    parsed, errors = records.check_create(type_name, prepared.values, actor)
    for i, errs in prepared.errors.items():
        errors.setdefault(i, {}).update(errs)
    stored = [None if i in errors else p for i, p in enumerate(parsed)]
    return Checked(stored, dict(sorted(errors.items())))


def _check_keyed(records: Records, type_name: str, prepared: Prepared, actor: Actor,
                 key: str, op: str) -> Checked:
    from lowrise import import_keyed

    rows = prepared.values
    errors = {i: dict(e) for i, e in prepared.errors.items()}
    keep = [i for i in range(len(rows)) if i not in errors]
    for j, errs in import_keyed.attempt(records, type_name, [rows[i] for i in keep], actor,
                                        key, op).items():
        errors.setdefault(keep[j], {}).update(errs)
    planned = import_keyed.plan(records, type_name, rows, actor, key, op)
    stored = [None if i in errors else rows[i] for i in range(len(rows))]
    actions = [None if i in errors else a for i, a in enumerate(planned.actions)]
    changes = {i: c for i, c in planned.changes.items() if i not in errors}
    return Checked(stored, dict(sorted(errors.items())), actions, changes)


@dataclass
class Result:
    """What an import did: records created (and updated), rows refused (with reasons), rows
    in the file."""

    created: int
    errors: dict[int, dict[str, str]]
    total: int
    written: bool
    updated: int = 0


def run(records: Records, type_name: str, prepared: Prepared, actor: Actor, *,
        mode: Mode = "all", run_hooks: bool = True,
        progress: Callable[[int], None] | None = None,
        finish: Callable[[sa.Connection, Result], None] | None = None,
        key: str | None = None, op: str = "create") -> Result:
    """Import the prepared rows: all or nothing (mode "all"), or only the valid ones. With
    `op` "update" or "upsert", each row changes the record its `key` value finds (upsert:
    or creates one).

    `finish`, when given, is called with the result inside the transaction that writes the
    records, before it commits: what it records (an import job's final state) commits with
    the records or not at all."""
    total = len(prepared.values)
    if op != "create":
        return _run_keyed(records, type_name, prepared, actor, mode=mode, run_hooks=run_hooks,
                          finish=finish, key=key or "id", op=op)

    def write(rows: list[dict[str, Any]], errors: dict[int, dict[str, Any]]) -> Result:
        with write_transaction(records.engine) as conn:
            made = records.bulk_create(type_name, rows, actor, conn=conn, run_hooks=run_hooks,
                                       progress=progress)
            result = Result(len(made), dict(sorted(errors.items())), total, True)
            if finish is not None:
                finish(conn, result)
        return result

    if mode == "all":
        if prepared.errors:
            return Result(0, dict(prepared.errors), total, False)
        try:
            return write(prepared.values, {})
        except BulkValidationError as exc:
            return Result(0, exc.rows, total, False)
    errors = dict(prepared.errors)
    keep = [i for i in range(total) if i not in errors]
    for _attempt in range(3):  # a row may turn invalid between the check and the write
        _parsed, found = records.check_create(type_name, [prepared.values[i] for i in keep],
                                              actor)
        for j, errs in found.items():
            errors[keep[j]] = errs
        keep = [i for i in keep if i not in errors]
        try:
            return write([prepared.values[i] for i in keep], errors)
        except BulkValidationError as exc:
            for j, errs in exc.rows.items():
                errors[keep[j]] = errs
            keep = [i for i in keep if i not in errors]
    return Result(0, dict(sorted(errors.items())), total, False)


def _run_keyed(records: Records, type_name: str, prepared: Prepared, actor: Actor, *,
               mode: Mode, run_hooks: bool,
               finish: Callable[[sa.Connection, Result], None] | None, key: str, op: str
               ) -> Result:
    from lowrise import import_keyed

    total = len(prepared.values)
    errors = dict(prepared.errors)
    if mode == "all" and errors:
        return Result(0, errors, total, False)
    keep = [i for i in range(total) if i not in errors]
    for _attempt in range(3):  # a row may turn invalid between the check and the write
        if mode == "valid":
            found = import_keyed.attempt(records, type_name, [prepared.values[i] for i in keep],
                                         actor, key, op)
            for j, errs in found.items():
                errors[keep[j]] = errs
            keep = [i for i in keep if i not in errors]
        shown = dict(sorted(errors.items()))

        def done(conn: sa.Connection, created: int, updated: int,
                 shown: dict[int, dict[str, str]] = shown) -> None:
            if finish is not None:
                finish(conn, Result(created, shown, total, True, updated))

        try:
            created, updated = import_keyed.write(
                records, type_name, [prepared.values[i] for i in keep], actor, key, op,
                run_hooks=run_hooks, finish=done)
        except BulkValidationError as exc:
            for j, errs in exc.rows.items():
                errors[keep[j]] = errs
            if mode == "all":
                return Result(0, dict(sorted(errors.items())), total, False)
            keep = [i for i in keep if i not in errors]
            continue
        return Result(created, shown, total, True, updated)
    return Result(0, dict(sorted(errors.items())), total, False)


def describe_one(errs: Mapping[str, Any], rt: RecordType) -> Any:
    """The first of a row's errors as one message that names its field."""
    name, problem = next(iter(errs.items()))
    f = rt.fields.get(name) if name else None
    return about(f.label, problem) if f else problem


def describe(errs: Mapping[str, Any], rt: RecordType, locale: str = "en") -> str:
    """A row's errors in one line, in `locale`: each problem after its field's label."""
    parts = []
    for name, problem in errs.items():
        f = rt.fields.get(name) if name else None
        parts.append(tr(about(f.label, problem) if f else problem, locale))
    return _list(parts, locale, sep=msg("; "))


def _list(items: Sequence[str], locale: str | None, *, sep: str = msg(", ")) -> str:
    """Items joined as the locale writes a list (Chinese with its own marks)."""
    return tr(sep, locale).join(items)


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
