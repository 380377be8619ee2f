"""Reading what rules did: recent runs (of a rule, or touching a record), outbox messages,
and retrying failed messages. For the rule pages, the record page and `lowrise rules`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from lowrise.actor import utcnow
from lowrise.storage.db import write_transaction

from .tables import RuleTables


def runs(engine: sa.Engine, tables: RuleTables, *, rule: str | None = None,
         record: tuple[str, int] | None = None, failed_only: bool = False,
         limit: int = 50) -> list[dict[str, Any]]:
    """Runs, newest first: of one rule, or on one record (type, id); failures only if asked."""
    t = tables.runs
    stmt = sa.select(t).order_by(t.c.id.desc()).limit(limit)
    if rule:
        stmt = stmt.where(t.c.rule == rule)
    if record:
        stmt = stmt.where(t.c.record_type == record[0], t.c.record_id == record[1])
    if failed_only:
        stmt = stmt.where(t.c.status.in_(["failed", "depth_limit"]))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def messages(engine: sa.Engine, tables: RuleTables, *, rule: str | None = None,
             status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Outbox messages, newest first."""
    o = tables.outbox
    stmt = sa.select(o).order_by(o.c.id.desc()).limit(limit)
    if rule:
        stmt = stmt.where(o.c.rule == rule)
    if status:
        stmt = stmt.where(o.c.status == status)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def retry(engine: sa.Engine, tables: RuleTables, ids: Iterable[int] | None = None, *,
          rule: str | None = None, now=None) -> int:
    """Send failed messages again (all failed ones of a rule, or those given)."""
    o = tables.outbox
    stmt = o.update().where(o.c.status == "failed")
    if ids is not None:
        stmt = stmt.where(o.c.id.in_(list(ids)))
    if rule:
        stmt = stmt.where(o.c.rule == rule)
    with write_transaction(engine) as conn:
        return conn.execute(stmt.values(status="pending", attempts=0, next_attempt_at=now or utcnow(),
                                        lease_until=None)).rowcount


def comments(engine: sa.Engine, tables: RuleTables, record_type: str, record_id: int
             ) -> list[dict[str, Any]]:
    c = tables.comments
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(c).where(c.c.record_type == record_type, c.c.record_id == record_id)
            .order_by(c.c.id)).mappings()]
