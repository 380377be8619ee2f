"""Who took confidential data: the reveals (lr_audit, action `reveal`) and the exports
(lr_exports) across records, for the people who supervise them.

An export is logged before its first row leaves (who, which type, which columns and how each
confidential one went, when) and its row count is set once the file is complete; an export
cut short keeps the count of the rows that were written.

Who may read the log: roles flagged `audit: true` in workspace.yaml, and administrators. A
reader who is not an administrator sees the reveals of records they may read (the others
would name records they may not see) and every export (which names no record).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lowrise.access.policy import Policy
from lowrise.actor import Actor
from lowrise.storage.db import write_transaction

#: the most entries a page of the log shows
LIMIT = 200


def may_read(pol: Policy) -> bool:
    """Whether the actor reads the log of reveals and exports."""
    return pol.bypass or any(r.audit for r in pol.roles)


def export_started(engine: sa.Engine, schema, actor: Actor, type_name: str, via: str,
                   fields: Iterable[str], confidential: Mapping[str, str]) -> int:
    """Log an export before its rows go out; the id to finish it with."""
    with write_transaction(engine) as conn:
        return conn.execute(schema.system["lr_exports"].insert().values(
            at=actor.now(), actor=actor.user, actor_name=str(actor.name),
            record_type=type_name, via=via, fields=list(fields),
            confidential=dict(confidential), rows=None)).inserted_primary_key[0]


def export_finished(engine: sa.Engine, schema, export_id: int, rows: int) -> None:
    """How many rows the export wrote."""
    t = schema.system["lr_exports"]
    with write_transaction(engine) as conn:
        conn.execute(t.update().where(t.c.id == export_id).values(rows=rows))


@dataclass(frozen=True)
class TrailEntry:
    """One reveal or export: `kind` reveal | export; `fields` the field names (a reveal's
    shown fields, an export's columns); `confidential` {field: full | masked | none} of an
    export; `rows` an export's row count (None while it runs); a reveal's `record_id` and
    `reason`."""

    kind: str
    at: datetime
    actor: int | None
    actor_name: str
    record_type: str
    fields: tuple[str, ...]
    record_id: int | None = None
    reason: str | None = None
    via: str | None = None
    rows: int | None = None
    confidential: Mapping[str, str] | None = None


def entries(engine: sa.Engine, schema, pol: Policy, *, person: int | None = None,
            since: datetime | None = None, until: datetime | None = None,
            kind: str | None = None, limit: int = LIMIT) -> list[TrailEntry]:
    """The newest reveals and exports (of `person`, from `since` to before `until`, of one
    `kind`), newest first, as `pol`'s actor may read them."""
    out: list[TrailEntry] = []
    with engine.connect() as conn:
        if kind in (None, "reveal"):
            out += _reveals(conn, schema, pol, person, since, until, limit)
        if kind in (None, "export"):
            out += _exports(conn, schema, person, since, until, limit)
    out.sort(key=lambda e: e.at, reverse=True)
    return out[:limit]


def _when(t: sa.Table, person, since, until) -> list[Any]:
    cond = []
    if person is not None:
        cond.append(t.c.actor == person)
    if since is not None:
        cond.append(t.c.at >= since)
    if until is not None:
        cond.append(t.c.at < until)
    return cond


def _reveals(conn, schema, pol: Policy, person, since, until, limit) -> list[TrailEntry]:
    a = schema.audit
    stmt = (sa.select(a).where(a.c.action == "reveal", *_when(a, person, since, until))
            .order_by(a.c.id.desc()))
    readable = set(pol.readable_types()) if not pol.bypass else None
    out: list[TrailEntry] = []
    for chunk in _pages(conn, stmt, limit):
        keep = chunk
        if readable is not None:  # only records the reader may read
            keep = []
            by_type: dict[str, list[Mapping]] = {}
            for r in chunk:
                if r["record_type"] in readable:
                    by_type.setdefault(r["record_type"], []).append(r)
            for type_name, rows in by_type.items():
                ok = pol.ids_in_scope(conn, schema, type_name, [r["record_id"] for r in rows])
                keep += [r for r in rows if r["record_id"] in ok]
        out += [TrailEntry("reveal", r["at"], r["actor"], r["actor_name"] or "",
                           r["record_type"], tuple(n.strip() for n in
                                                   (r["note"] or "").split(",") if n.strip()),
                           record_id=r["record_id"], reason=r["reason"]) for r in keep]
        if len(out) >= limit:
            break
    return out[:limit]


def _pages(conn, stmt, limit: int):
    """The rows of `stmt` a page at a time (a reader may keep only some of each)."""
    offset = 0
    while True:
        rows = [dict(r) for r in conn.execute(stmt.limit(limit).offset(offset)).mappings()]
        if not rows:
            return
        yield rows
        if len(rows) < limit:
            return
        offset += limit


def _exports(conn, schema, person, since, until, limit) -> list[TrailEntry]:
    t = schema.system["lr_exports"]
    stmt = (sa.select(t).where(*_when(t, person, since, until))
            .order_by(t.c.id.desc()).limit(limit))
    return [TrailEntry("export", r["at"], r["actor"], r["actor_name"] or "", r["record_type"],
                       tuple(r["fields"] or ()), via=r["via"], rows=r["rows"],
                       confidential=dict(r["confidential"] or {}))
            for r in conn.execute(stmt).mappings()]


def people(engine: sa.Engine, schema) -> list[tuple[int, str]]:
    """(id, name) of everyone who revealed or exported something, by name."""
    a, t = schema.audit, schema.system["lr_exports"]
    with engine.connect() as conn:
        found = {r.actor: r.actor_name for r in conn.execute(
            sa.select(a.c.actor, a.c.actor_name).where(a.c.action == "reveal",
                                                         a.c.actor.is_not(None)).distinct())}
        found.update({r.actor: r.actor_name for r in conn.execute(
            sa.select(t.c.actor, t.c.actor_name).where(t.c.actor.is_not(None)).distinct())})
    return sorted(((i, n or f"#{i}") for i, n in found.items()), key=lambda p: p[1])
