"""Workers' heartbeats: a running worker keeps its row of `lr_workers` fresh, so that the web
app's /readyz can tell whether timers, schedules and the outbox are being looked after.

A worker writes its row when it starts, then at most once every `every` seconds while it
works (between rounds and between the steps of a long one), and deletes it when it stops
cleanly. A worker killed outright leaves its row, which goes stale: `fresh()` counts only the
rows seen within the last `within` seconds, and the row of a worker that has been gone for a
day is deleted by the next worker that starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa

from lowrise.actor import utcnow
from lowrise.storage.db import write_transaction

log = logging.getLogger("lowrise.worker")
#: seconds between two heartbeats, unless the worker is told otherwise
EVERY = 5.0
#: rows of workers not seen for this long are deleted when a worker starts
FORGET_AFTER = timedelta(days=1)


def interval_for(stale_after: float) -> float:
    """How often to beat so that a live worker never looks stale after `stale_after` s."""
    return max(0.2, min(EVERY, stale_after / 4))


class Heartbeat:
    """One worker's row of `lr_workers`."""

    def __init__(self, engine: sa.Engine, table: sa.Table, name: str, *, every: float = EVERY,
                 clock: Callable[[], datetime] = utcnow):
        self.engine, self.table, self.every, self.clock = engine, table, every, clock
        self.name = name[-64:]
        self._last = 0.0
        self._started: datetime | None = None

    def beat(self) -> None:
        """Note that the worker is alive (a write only when the last one is `every` s old).
        A failure is logged, never raised: the worker's own work matters more."""
        if time.monotonic() - self._last < self.every:
            return
        try:
            self._write()
            self._last = time.monotonic()
        except sa.exc.SQLAlchemyError as exc:
            log.warning("could not write the worker's heartbeat: %s", exc)

    def _write(self) -> None:
        t, now = self.table, self.clock()
        with write_transaction(self.engine) as conn:
            if self._started is None:
                self._started = now
                conn.execute(t.delete().where(t.c.seen_at < now - FORGET_AFTER))
            if not conn.execute(t.update().where(t.c.name == self.name)
                                .values(seen_at=now)).rowcount:
                conn.execute(t.insert().values(name=self.name, started_at=self._started,
                                               seen_at=now))

    def end(self) -> None:
        """The worker stops: its row goes at once (not after `within` seconds)."""
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(self.table.delete().where(self.table.c.name == self.name))
        except sa.exc.SQLAlchemyError as exc:
            log.warning("could not remove the worker's heartbeat: %s", exc)


def fresh(conn: sa.Connection, table: sa.Table, within: float,
          now: datetime | None = None) -> tuple[int, float | None]:
    """(workers seen within the last `within` seconds, seconds since the newest heartbeat
    of any worker, or None when there is none)."""
    now = now or utcnow()
    n = conn.execute(sa.select(sa.func.count()).select_from(table).where(
        table.c.seen_at >= now - timedelta(seconds=within))).scalar_one()
    newest = conn.execute(sa.select(sa.func.max(table.c.seen_at))).scalar()
    if isinstance(newest, str):  # pragma: no cover - a type decorator normally parses it
        newest = datetime.fromisoformat(newest)
    return n, (max(0.0, (now - newest).total_seconds()) if newest is not None else None)
