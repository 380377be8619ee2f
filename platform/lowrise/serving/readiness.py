"""Is this instance ready to serve: the database answers, it has every table and column the
workspace needs, and a rules worker is alive. What /readyz answers, without Flask.

Each check says ok or not and a few plain words or figures, never an error's text (which
could name a host, a user or a table): the reason goes to the log.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lowrise.rules.heartbeat import fresh
from lowrise.storage.tables import Schema

log = logging.getLogger("lowrise.readiness")
#: seconds a "migrations are current" answer is kept (planning reads the whole catalogue)
PLAN_KEPT = 30.0


@dataclass
class MigrationCheck:
    """Whether the database needs migrating for a Schema, worked out at most every PLAN_KEPT
    seconds (per schema: a hot reload gives a new one)."""

    _known: tuple[int, float, bool] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self, conn: sa.Connection, schema: Schema) -> bool:
        known = self._known
        if known and known[0] == id(schema) and time.monotonic() - known[1] < PLAN_KEPT:
            return known[2]
        from lowrise.storage.migrate import plan

        with self._lock:
            ok = plan(conn, schema).is_empty
            self._known = (id(schema), time.monotonic(), ok)
        return ok


def check(engine: sa.Engine, schema: Schema, migrations: MigrationCheck, *,
          stale_after: float, in_process_worker: bool | None) -> tuple[bool, dict[str, Any]]:
    """(all good, what each check found). `in_process_worker`: True when this process runs
    the worker on a thread (`lowrise serve`), whose heartbeat is then checked like any."""
    checks: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            checks["database"] = {"ok": True}
            try:
                ok = migrations.current(conn, schema)
                checks["migrations"] = {"ok": ok} if ok else {
                    "ok": False, "detail": "the database needs `lowrise migrate`"}
            except sa.exc.SQLAlchemyError:
                log.exception("readiness: could not plan the migration")
                checks["migrations"] = {"ok": False, "detail": "could not be checked"}
            checks["worker"] = _worker(conn, schema, stale_after, in_process_worker)
    except sa.exc.SQLAlchemyError:
        log.exception("readiness: the database cannot be reached")
        checks["database"] = {"ok": False, "detail": "cannot be reached"}
    return all(c["ok"] for c in checks.values()) and len(checks) == 3, checks


def _worker(conn: sa.Connection, schema: Schema, stale_after: float,
            in_process: bool | None) -> dict[str, Any]:
    try:
        n, age = fresh(conn, schema.system["lr_workers"], stale_after)
    except sa.exc.SQLAlchemyError:  # no lr_workers yet: the migration check says why
        log.exception("readiness: could not read the workers' heartbeats")
        return {"ok": False, "detail": "could not be checked"}
    out: dict[str, Any] = {"ok": n > 0, "alive": n}
    if age is not None:
        out["last_seen_seconds"] = round(age, 1)
    if in_process:
        out["in_process"] = True  # `lowrise serve` runs it on a thread: none other expected
    if not n:
        out["detail"] = (f"no rules worker has reported in the last {stale_after:g} s: timers, "
                         "schedules and e-mails wait (run `lowrise worker`)")
    return out
