"""The change feed's writing side: a write notes what it changed on its connection; when
that transaction commits, the notes become rows of lr_changes in the same transaction.

Notes are kept in `conn.info` and written by a `commit` listener on the engine (installed
by the first note), so that a rolled-back write leaves no event and a transaction's many
changes cost one insert. On PostgreSQL the insert takes a transaction-level advisory lock
first: the rows' ids are then handed out in commit order, and a reader that remembers the
last id it saw misses nothing. The commit's NOTIFY wakes every process's broker; on SQLite
(one writer at a time, so ids are in commit order anyway) brokers poll, and the process that
wrote is nudged at once.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from .tables import live_tables

CHANGES = live_tables(sa.MetaData())[0]
#: conn.info key: the changes noted in this transaction, written at its commit
PENDING = "lowrise_live_pending"
#: PostgreSQL: the channel every broker listens on, and the advisory lock of the change log
CHANNEL = "lowrise_changes"
LOCK_KEY = 7_310_042_016
#: more changes of one record type in one transaction than this are logged as one row
#: "many" (pages of that type refresh whole): an import of a million rows logs one row
MANY = 200

#: engine -> (when to look again, whether it has the change log); engines are not kept alive
_installed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()
#: called after a process's own commit that logged changes (its broker, to look at once)
nudges: list[Callable[[sa.Engine], None]] = []


def note(conn: sa.Connection, record_type: str | None, record_id: int | None, action: str,
         actor: Any = None, *, version: int | None = None, for_user: int | None = None) -> None:
    """Remember a change of this transaction; it is logged when the transaction commits."""
    if not _ready(conn.engine):
        return
    conn.info.setdefault(PENDING, []).append(dict(
        record_type=record_type, record_id=record_id, action=action, version=version,
        actor=getattr(actor, "user", None), actor_name=getattr(actor, "name", None),
        for_user=for_user))


def note_notices(conn: sa.Connection, users: Iterable[int | None]) -> None:
    """Remember inbox notices for these people (their inbox badge updates)."""
    for user in dict.fromkeys(u for u in users if u is not None):
        note(conn, None, None, "notice", for_user=int(user))


def _ready(engine: sa.Engine) -> bool:
    """Whether this database has the change log (checked again every 30 s while it has not),
    with the commit listener installed."""
    held = _installed.get(engine)
    if held is not None and (held[1] or time.monotonic() < held[0]):
        return held[1]
    with _lock:
        try:
            has = sa.inspect(engine).has_table(CHANGES.name)
        except sa.exc.SQLAlchemyError:
            has = False
        if has and not sa.event.contains(engine, "commit", _on_commit):
            sa.event.listen(engine, "commit", _on_commit)
            sa.event.listen(engine, "rollback", _on_rollback)
        _installed[engine] = (time.monotonic() + 30, has)
    return has


def _coalesce(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per record and action (the last version, by whoever changed it first: a
    person, rather than the rule their change set off), types with more than MANY changed
    records as one row "many"."""
    by_type: dict[str | None, int] = {}
    last: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = (row["record_type"], row["record_id"], row["action"], row["for_user"])
        first = last.pop(key, None)
        if first is not None:  # who made the change, not the rule that followed it up
            row = {**row, "actor": first["actor"], "actor_name": first["actor_name"]}
        last[key] = row
    for row in last.values():
        if row["record_id"] is not None:
            by_type[row["record_type"]] = by_type.get(row["record_type"], 0) + 1
    out, many = [], set()
    for row in last.values():
        rtype = row["record_type"]
        if row["record_id"] is not None and by_type.get(rtype, 0) > MANY:
            if rtype not in many:
                many.add(rtype)
                out.append({**row, "record_id": None, "action": "many", "version": None})
            continue
        out.append(row)
    return out


def _on_commit(conn: sa.Connection) -> None:
    rows = conn.info.pop(PENDING, None)
    if not rows:
        return
    now = datetime.now(UTC)
    rows = [{**r, "at": now} for r in _coalesce(rows)]
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    conn.execute(CHANGES.insert(), rows)
    if postgres:
        conn.execute(sa.text("SELECT pg_notify(:c, '')"), {"c": CHANNEL})
    conn.info["lowrise_live_nudge"] = True


def _on_rollback(conn: sa.Connection) -> None:
    conn.info.pop(PENDING, None)


def after_commit(conn: sa.Connection) -> None:
    """Tell this process's brokers that `conn` just committed changes (no wait for a poll)."""
    if conn.info.pop("lowrise_live_nudge", False):
        for nudge in list(nudges):
            nudge(conn.engine)


def latest_id(engine: sa.Engine) -> int:
    """The newest change's id (0: none yet, or no change log in this database)."""
    if not _ready(engine):
        return 0
    with engine.connect() as c:
        return int(c.execute(sa.select(sa.func.max(CHANGES.c.id))).scalar() or 0)


def oldest_id(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.min(CHANGES.c.id))).scalar() or 0)


def read_since(conn: sa.Connection, after: int, *, upto: int | None = None,
               limit: int = 1000) -> list[dict[str, Any]]:
    """The changes after id `after` (up to `upto`), oldest first."""
    stmt = sa.select(CHANGES).where(CHANGES.c.id > after).order_by(CHANGES.c.id).limit(limit)
    if upto is not None:
        stmt = stmt.where(CHANGES.c.id <= upto)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def prune(engine: sa.Engine, keep_seconds: float) -> int:
    """Delete changes older than `keep_seconds`; how many went."""
    cutoff = datetime.fromtimestamp(time.time() - keep_seconds, UTC)
    from lowrise.storage.db import write_transaction

    with write_transaction(engine) as c:
        return c.execute(CHANGES.delete().where(CHANGES.c.at < cutoff)).rowcount
