"""The in-app inbox: notifications for one user (a record of the users type), unread first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from lowrise.actor import utcnow
from lowrise.storage.db import write_transaction

from .tables import RuleTables


class Inbox:
    """Read and mark notifications. `user` is the id stored in user fields (a staff record)."""

    def __init__(self, engine: sa.Engine, tables: RuleTables):
        self.engine = engine
        self.t = tables.notifications

    def unread_count(self, user: int | None) -> int:
        if user is None:
            return 0
        t = self.t
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).where(
                t.c.user_id == user, t.c.read_at.is_(None))).scalar_one()

    def list(self, user: int | None, *, unread_only: bool = False, limit: int = 50,
             before_id: int | None = None) -> list[dict[str, Any]]:
        """Newest first; `before_id` pages backwards."""
        if user is None:
            return []
        t = self.t
        stmt = sa.select(t).where(t.c.user_id == user).order_by(t.c.id.desc()).limit(limit)
        if unread_only:
            stmt = stmt.where(t.c.read_at.is_(None))
        if before_id is not None:
            stmt = stmt.where(t.c.id < before_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def mark_read(self, user: int, ids: Iterable[int] | None = None) -> int:
        """Mark some (or, with ids None, all) of the user's notifications read."""
        t = self.t
        stmt = t.update().where(t.c.user_id == user, t.c.read_at.is_(None))
        if ids is not None:
            stmt = stmt.where(t.c.id.in_(list(ids)))
        with write_transaction(self.engine) as conn:
            return conn.execute(stmt.values(read_at=utcnow())).rowcount
