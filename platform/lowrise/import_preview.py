"""An import's preview and refused rows, worked out once and kept, not redone on every look.

The preview of one mapping (the columns, the counts, the first rows as they will be stored
and the first refused rows with their reasons) is JSON kept with the import's row; every
refused row (the file's cells and the reasons) goes to a JSON-lines file beside the upload.
Reasons are kept as lowrise.i18n messages (`dump`), so the page and the refused rows' CSV
are written in whichever language their reader uses. No Flask here.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from lowrise import importer
from lowrise.actor import Actor
from lowrise.errors import Undisclosed
from lowrise.i18n import dump, load
from lowrise.storage.records import Records
from lowrise.storage.values import from_json_values, to_json_values
from lowrise.workspace.model import RecordType

SAMPLE_ROWS = importer.PREVIEW_ROWS
SHOW_REFUSED = 100


def build(records: Records, type_name: str, sheet: importer.Sheet,
          mapping: Sequence[str | None] | None, actor: Actor, *, revision: int,
          refused_path: Path, key: str | None = None, op: str = "create") -> dict[str, Any]:
    """Map, prepare and check every row (nothing is written); the preview as JSON data, with
    every refused row written to `refused_path`. A mapping that cannot work is the preview's
    `problem`, not an error: the person picks other fields."""
    rt = records.schema.workspace.type(type_name)
    locales = records.schema.workspace.locales
    width = len(sheet.headers)
    chosen = list(mapping or importer.guess_mapping(rt, sheet.headers, key=key))
    chosen = (chosen + [None] * width)[:width]
    first = sheet.rows[0] if sheet.rows else [None] * width
    out: dict[str, Any] = {
        "revision": revision, "headers": sheet.headers, "mapping": chosen,
        "header_row": sheet.header_row,
        "first": [_cell(c) for c in first], "rows": len(sheet.rows), "valid": 0, "refused": 0,
        "problem": None, "sample": [], "errors": [], "op": op, "key": key, "changes": [],
        "actions": {}}
    try:
        from lowrise import import_keyed

        import_keyed.check_key(records, rt, key, op)
        usable = importer.check_mapping(rt, chosen, key=key, op=op)
    except importer.ImportFileError as exc:
        out["problem"] = dump(exc.message, locales)
        return out
    prepared = importer.prepare(records, type_name, sheet, usable, actor)
    try:
        checked = importer.check(records, type_name, prepared, actor, key=key, op=op)
    except Undisclosed as exc:  # the whole file refused at once: never row by row
        refused_path.unlink(missing_ok=True)
        out["problem"] = dump(importer.describe_one(exc.errors, rt), locales)
        return out
    write_refused(refused_path, sheet, checked.errors, locales)
    out.update(
        valid=checked.valid, refused=len(checked.errors),
        sample=[] if checked.actions is not None else
        [to_json_values(rt, s) for s in checked.stored if s is not None][:SAMPLE_ROWS],
        errors=[[i, dump_errors(errs, locales)]
                for i, errs in list(checked.errors.items())[:SHOW_REFUSED]])
    if checked.actions is not None:
        acts = checked.actions
        out["actions"] = {a: acts.count(a) for a in ("create", "update", "same")}
        out["changes"] = [[i, a, _changes(rt, checked.changes.get(i, {}))]
                          for i, a in enumerate(acts) if a in ("create", "update")
                          ][:SAMPLE_ROWS]
    return out


def _changes(rt: RecordType, diff: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    """One row's changed fields as JSON data: {field: [before, after]}."""
    before = to_json_values(rt, {k: a for k, (a, _b) in diff.items()})
    after = to_json_values(rt, {k: b for k, (_a, b) in diff.items()})
    return {k: [before.get(k), after.get(k)] for k in diff}


def change_rows(rt: RecordType, preview: Mapping[str, Any]
                ) -> list[tuple[int, str, list[tuple[Any, Any, Any]]]]:
    """The preview's changes as stored values again: (row, action, [(field, before, after)])."""
    out = []
    for i, action, diff in preview.get("changes") or ():
        names = [k for k in diff if k in rt.fields]
        before, odd = from_json_values(rt, {k: diff[k][0] for k in names})
        after = from_json_values(rt, {k: diff[k][1] for k in names})[0]
        for k in odd:  # a value shown masked is no value of its type: shown as it was read
            before[k] = diff[k][0]
        out.append((i, action, [(rt.fields[k], before.get(k), after.get(k)) for k in names]))
    return out


def dump_errors(errs: Mapping[str, Any], locales: Sequence[str]) -> dict[str, Any]:
    """One row's reasons as JSON data."""
    return {name: dump(problem, locales) for name, problem in errs.items()}


def load_errors(data: Mapping[str, Any]) -> dict[str, Any]:
    """One row's reasons as messages again."""
    return {name: load(problem) for name, problem in data.items()}


def sample_rows(rt: RecordType, preview: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The preview's first rows as stored values again (for the page's cells)."""
    return [from_json_values(rt, row)[0] for row in preview.get("sample") or ()]


def _cell(value: Any) -> Any:
    """A file's cell as JSON data: text and numbers as they are, anything else as text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)  # a date or time as the CSV module writes it


def write_refused(path: Path, sheet: importer.Sheet, errors: Mapping[int, Mapping[str, Any]],
                  locales: Sequence[str]) -> None:
    """Every refused row (its cells and its reasons) as JSON lines, the header first; written
    beside and then moved into place, so a reader never meets half a file."""
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(json.dumps({"headers": sheet.headers}, ensure_ascii=False) + "\n")
        for i, errs in sorted(errors.items()):
            out.write(json.dumps({"row": i, "cells": [_cell(c) for c in sheet.rows[i]],
                                  "errors": dump_errors(errs, locales)},
                                 ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def refused_csv(path: Path, rt: RecordType, locale: str) -> Iterator[str]:
    """The refused rows of a `write_refused` file as CSV text in `locale`: the file's own
    columns and a last column with the reasons; a BOM first, so that Excel reads UTF-8."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    buf.write("\ufeff")
    with open(path, encoding="utf-8") as fh:
        head = json.loads(fh.readline() or "{}")
        writer.writerow([*head.get("headers", []), importer.ERROR_COLUMN])
        for n, line in enumerate(fh, 1):
            row = json.loads(line)
            cells = ["" if c is None else c for c in row["cells"]]
            writer.writerow([*cells, importer.describe(load_errors(row["errors"]), rt, locale)])
            if n % 500 == 0:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
    yield buf.getvalue()
