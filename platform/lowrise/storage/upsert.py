"""Bulk create, update and upsert by a key field, all or nothing, with per-record errors.

The REST API's bulk call and any other batch writer use this; every write goes through
`Records` (parsing, checks, audit, hooks) and every lookup through `query` with the actor,
so what a person may not see or change stays out of reach here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lowrise.actor import Actor
from lowrise.errors import (
    BulkValidationError,
    ConflictError,
    FieldError,
    LowriseError,
    NotFound,
    ValidationError,
)
from lowrise.i18n import msg

from . import query
from .records import Records

Op = Literal["create", "update", "upsert"]


@dataclass(frozen=True)
class BulkResult:
    """Every record as stored, in the order given; how many were created and updated."""

    records: list[dict[str, Any]]
    created: int
    updated: int
    #: rows that found their record and changed nothing in it (counted in `updated` too)
    unchanged: int = 0


def key_fields(records: Records, type_name: str) -> list[str]:
    """The fields that can find a record in update and upsert: id and unique fields."""
    rt = records.schema.workspace.type(type_name)
    return ["id", *(f.name for f in rt.user_fields if f.unique and not f.kind.generated)]


def bulk_write(records: Records, type_name: str, rows: Sequence[Mapping[str, Any]],
               actor: Actor, *, op: Op = "create", key: str = "id",
               run_hooks: bool = True, conn=None) -> BulkResult:
    """Write many records in one transaction (the caller's `conn` when given): every row
    is checked, and if any is refused nothing is written and BulkValidationError names each
    refused row and field."""
    if op == "create":
        made = records.bulk_create(type_name, [_without(r, ("id", "version")) for r in rows],
                                   actor, run_hooks=run_hooks, conn=conn)
        return BulkResult(made, len(made), 0)
    rt = records.schema.workspace.type(type_name)
    if key not in key_fields(records, type_name):
        raise ValidationError({"key": msg("'%(key)s' cannot find records: use %(fields)s",
                                          key=key,
                                          fields=" / ".join(key_fields(records, type_name)))})
    errors: dict[int, dict[str, str]] = {}
    out: list[dict[str, Any] | None] = [None] * len(rows)
    with records.transaction(conn) as conn:
        versions: dict[int, Any] = {}
        found = find_ids(conn, records, type_name, rows, key, actor, errors, op, versions)
        unchanged = 0
        creates: list[int] = []
        updated = 0
        for i, row in enumerate(rows):
            if i in errors:
                continue
            rid = found.get(i)
            if rid is None:
                if op == "upsert":
                    creates.append(i)
                else:
                    shown = row.get(key)
                    errors[i] = {key: msg("no %(type)s has %(key)s '%(value)s'", type=rt.label,
                                          key=key, value=shown)}
                continue
            values = _without(row, ("id", "version"))
            try:
                out[i] = records.update(type_name, rid, values, actor, conn=conn,
                                        expected_version=row.get("version"))
                updated += 1
                if versions.get(rid) is not None and out[i].get("version") == versions[rid]:
                    unchanged += 1
            except ValidationError as exc:
                errors[i] = exc.errors
            except ConflictError as exc:
                errors[i] = {"version": exc.message}
            except NotFound as exc:
                errors[i] = {key: exc.message}
        if creates:
            try:
                made = records.bulk_create(
                    type_name, [_without(rows[i], ("id", "version")) for i in creates], actor,
                    conn=conn, run_hooks=run_hooks)
            except BulkValidationError as exc:
                for j, errs in exc.rows.items():
                    errors[creates[j]] = errs
            else:
                for i, rec in zip(creates, made, strict=True):
                    out[i] = rec
        if errors:  # raising inside the transaction undoes the updates already made
            raise BulkValidationError(dict(sorted(errors.items())))
    return BulkResult([r for r in out if r is not None], len(creates), updated, unchanged)


def _without(row: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in names}


def find_ids(conn, records: Records, type_name: str, rows: Sequence[Mapping[str, Any]], key: str,
          actor: Actor, errors: dict[int, dict[str, str]], op: Op,
          versions: dict[int, Any] | None = None) -> dict[int, int]:
    """Row index → id of the record the row's key value names (one query a thousand rows);
    `versions`, when given, gets each found record's version by id."""
    rt = records.schema.workspace.type(type_name)
    f = rt.fields[key]
    wanted: dict[int, Any] = {}
    for i, row in enumerate(rows):
        raw = row.get(key)
        if raw is None:
            if op == "update":
                errors[i] = {key: msg("is required to find the record")}
            continue  # upsert without a key value: a new record
        try:
            wanted[i] = f.kind.parse(f, raw)
        except FieldError as exc:
            errors[i] = {key: exc.message}
    values = list(dict.fromkeys(v for v in wanted.values() if v is not None))
    by_value: dict[Any, int] = {}
    for start in range(0, len(values), query.MAX_LIMIT):
        chunk = values[start:start + query.MAX_LIMIT]
        try:
            page = query.list_records(conn, records.schema, type_name,
                                      filter={"field": key, "op": "in", "value": chunk},
                                      sort=["id"], limit=query.MAX_LIMIT,
                                      fields=[key, "version"], ctx=actor)
        except LowriseError as exc:
            raise ValidationError({key: str(exc)}) from None
        by_value.update({r[key]: r["id"] for r in page.rows})
        if versions is not None:
            versions.update({r["id"]: r.get("version") for r in page.rows})
    return {i: by_value[v] for i, v in wanted.items() if v in by_value}
