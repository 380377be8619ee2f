"""Importing a spreadsheet onto records that exist: each row finds its record by a key field
(`id` or a unique field such as a phone number) and changes it (`update`), or, found or not,
changes it or creates it (`upsert`). Export → edit in Excel → import back.

The writes are lowrise.storage.upsert's `bulk_write` (the REST API's bulk call), so every
row is parsed, checked, audited and access-checked as one record's edit is. The check of a
file (the preview, `--dry-run`) is that same write in a transaction that is rolled back,
and it says per row what would change: `action` ("create", "update" or "same") and the
changed fields with the value before (as the reader sees it: masked stays masked) and
after. No Flask here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa

from lowrise.actor import Actor
from lowrise.errors import BulkValidationError
from lowrise.i18n import msg
from lowrise.sheets import ImportFileError
from lowrise.storage import query
from lowrise.storage.db import write_transaction
from lowrise.storage.records import Records
from lowrise.storage.upsert import bulk_write, find_ids, key_fields
from lowrise.storage.values import parse_values
from lowrise.workspace.model import RecordType

Op = Literal["create", "update", "upsert"]
OPS = ("create", "update", "upsert")


def check_key(records: Records, rt: RecordType, key: str | None, op: str) -> None:
    """ImportFileError unless `op` is known and `key` can find records (id or unique)."""
    if op not in OPS:
        raise ImportFileError(msg("'%(op)s' is not a way to import: use create, update or "
                                  "upsert", op=op))
    if op == "create":
        return
    usable = key_fields(records, rt.name)
    if not key or key not in usable:
        raise ImportFileError(msg(
            "'%(key)s' cannot find the records: choose id or a field whose values are unique "
            "(%(fields)s)", key=key or "", fields=" / ".join(usable)))


@dataclass
class Plan:
    """Per row: what it does (create, update, same) and, for an update, what changes."""

    actions: list[str | None] = field(default_factory=list)
    ids: list[int | None] = field(default_factory=list)
    changes: dict[int, dict[str, tuple[Any, Any]]] = field(default_factory=dict)


def plan(records: Records, type_name: str, rows: Sequence[dict[str, Any]], actor: Actor,
         key: str, op: str) -> Plan:
    """Which record each row finds, and which of its values the row changes (parsed as the
    write parses them; before-values read as `actor` sees them)."""
    rt = records.schema.workspace.type(type_name)
    errors: dict[int, dict[str, str]] = {}
    with records.engine.connect() as conn:
        found = find_ids(conn, records, type_name, rows, key, actor, errors, op)  # type: ignore[arg-type]
        ids = sorted(set(found.values()))
        names = sorted({n for r in rows for n in r if n in rt.fields and n != "id"})
        before: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), query.MAX_LIMIT):
            page = query.list_records(
                conn, records.schema, type_name, sort=["id"], limit=query.MAX_LIMIT,
                filter={"field": "id", "op": "in", "value": ids[start:start + query.MAX_LIMIT]},
                fields=names, ctx=actor)
            before.update({r["id"]: r for r in page.rows})
    out = Plan()
    for i, row in enumerate(rows):
        rid = found.get(i)
        out.ids.append(rid)
        if rid is None:
            out.actions.append("create" if op == "upsert" and i not in errors else None)
            continue
        parsed, _errs = parse_values(rt, {k: v for k, v in row.items() if k != "id"},
                                     creating=False, actor=actor)
        old = before.get(rid, {})
        diff = {k: (old.get(k), v) for k, v in parsed.items() if old.get(k) != v}
        out.actions.append("update" if diff else "same")
        if diff:
            out.changes[i] = diff
    return out


class _RolledBack(Exception):
    """Raised to undo a check's write."""


def attempt(records: Records, type_name: str, rows: Sequence[dict[str, Any]], actor: Actor,
            key: str, op: str) -> dict[int, dict[str, Any]]:
    """The rows the write would refuse (by index, with the reasons), writing nothing: the
    write itself, without automations, in a transaction that is rolled back."""
    try:
        with write_transaction(records.engine) as conn:
            bulk_write(records, type_name, rows, actor, op=op, key=key,  # type: ignore[arg-type]
                       run_hooks=False, conn=conn)
            raise _RolledBack
    except BulkValidationError as exc:
        return dict(exc.rows)
    except _RolledBack:
        return {}


def write(records: Records, type_name: str, rows: Sequence[dict[str, Any]], actor: Actor,
          key: str, op: str, *, run_hooks: bool,
          finish: Callable[[sa.Connection, int, int], None] | None = None) -> tuple[int, int]:
    """Write the rows (all or nothing: BulkValidationError); (created, changed). `finish`
    runs inside the write's transaction before it commits."""
    with write_transaction(records.engine) as conn:
        result = bulk_write(records, type_name, rows, actor, op=op, key=key,  # type: ignore[arg-type]
                            run_hooks=run_hooks, conn=conn)
        if finish is not None:
            finish(conn, result.created, result.updated - result.unchanged)
    return result.created, result.updated - result.unchanged
