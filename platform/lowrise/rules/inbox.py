"""The in-app inbox: notifications for one user (a record of the users type), unread first.

A notification's title and body were masked for its recipient when it was written; whether
they may still read its record is asked again each time it is shown (`as_seen`)."""

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

    def as_seen(self, items: Iterable[dict[str, Any]], schema: Any, policy: Any
                ) -> list[dict[str, Any]]:
        """The notifications as their reader may see them now. One about a record they may no
        longer read (their role changed, the record left their rows, was deleted, or its type
        is gone) keeps its time and read state but not its title, body or record, and says
        `hidden`. `policy` is the reader's access.Policy (None: no restriction)."""
        items = list(items)
        wanted: dict[str, set[int]] = {}
        for n in items:
            if n["record_type"] and n["record_id"] is not None:
                wanted.setdefault(n["record_type"], set()).add(n["record_id"])
        readable: dict[str, set[int]] = {}
        with self.engine.connect() as conn:
            for type_name, ids in wanted.items():
                if type_name not in schema.workspace.record_types:
                    continue
                table = schema.table(type_name)
                cond = None
                if policy is not None and not policy.bypass:
                    if not policy.may("read", type_name):
                        continue
                    cond = policy.scope_sql(schema, type_name, "read")
                stmt = sa.select(table.c.id).where(table.c.id.in_(sorted(ids)))
                readable[type_name] = set(conn.execute(
                    stmt if cond is None else stmt.where(cond)).scalars())
        out = []
        for n in items:
            hidden = (n["record_type"] is not None and n["record_id"] is not None
                      and n["record_id"] not in readable.get(n["record_type"], ()))
            out.append({**n, "title": None, "body": None, "record_type": None,
                        "record_id": None, "hidden": True} if hidden
                       else {**n, "hidden": False})
        return out

    def mark_read(self, user: int, ids: Iterable[int] | None = None) -> int:
        """Mark some (or, with ids None, all) of the user's notifications read."""
        t = self.t
        stmt = t.update().where(t.c.user_id == user, t.c.read_at.is_(None))
        if ids is not None:
            stmt = stmt.where(t.c.id.in_(list(ids)))
        with write_transaction(self.engine) as conn:
            return conn.execute(stmt.values(read_at=utcnow())).rowcount
