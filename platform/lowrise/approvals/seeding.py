"""Demo approvals: rounds in progress for demo records that wait for one (a contract in
review), as if their requesters had sent them, so an approver's queue is not empty."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from lowrise import filters
from lowrise.actor import Actor
from lowrise.rules import conditions as conds
from lowrise.storage.db import write_transaction
from lowrise.storage.records import Records

from .engine import install
from .model import for_type


def _requester_path(records: Records, type_name: str) -> str | None:
    """The user field (or path) naming who would have asked: the record's consultant or
    owner, else its case's; None: whoever created it."""
    ws = records.schema.workspace
    rt = ws.type(type_name)
    for name, f in rt.fields.items():
        if f.kind.person and name in ("consultant", "owner"):
            return name
    for name, f in rt.fields.items():
        if f.kind.links and not f.kind.person and f.target:
            for inner, g in ws.type(f.target).fields.items():
                if g.kind.person and inner in ("consultant", "owner"):
                    return f"{name}.{inner}"
    return None


def seed_rounds(records: Records, now: datetime, *, limit: int = 200) -> int:
    """Start the approvals whose start condition the demo records meet; returns how many."""
    from .resolve import field_person

    ws = records.schema.workspace
    approvals = install(records)
    started = 0
    users = ws.type(ws.users_type) if ws.users_type else None
    for type_name in ws.record_types:
        for ap in for_type(ws, type_name):
            cond = ap.start_when.condition if ap.start_when else None
            # a change test ({field: status, to: in_review}) read as "is now"
            wanted = _as_state(cond)
            if wanted is None:
                continue
            t = records.schema.tables[type_name]
            with write_transaction(records.engine) as conn:
                ids = conn.execute(sa.select(t.c.id).where(t.c[wanted[0]].in_(wanted[1]))
                                   .order_by(t.c.id).limit(limit)).scalars().all()
                path = _requester_path(records, type_name)
                for rid in ids:
                    record = records.get(type_name, rid, conn=conn)
                    ctx = filters.FilterContext(clock=lambda: now,
                                                resolver=approvals._resolver(conn))
                    if not ap.start_when.holds(None, record, frozenset(record), ctx,
                                               approvals.tz):
                        continue
                    who = field_person(records, conn, type_name, record, path) if path else None
                    name = ""
                    if who is not None and users is not None:
                        name = str(records.get(users.name, who, conn=conn).get(
                            users.title_field) or "")
                    actor = Actor(user=who, name=name or "demo data", clock=lambda: now)
                    approvals.start(ap, rid, actor, conn=conn)
                    started += 1
    return started


def _as_state(cond) -> tuple[str, tuple] | None:
    if isinstance(cond, conds.ChangeTest) and cond.to:
        return cond.field, tuple(cond.to)
    if isinstance(cond, conds.AllOf):
        for item in cond.items:
            if (found := _as_state(item)) is not None:
                return found
    return None
