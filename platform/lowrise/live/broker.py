"""One broker per process and database: it learns of new change-log rows and hands them to
the process's subscriptions (one per open live page), within bounds.

PostgreSQL: a connection of its own LISTENs on the change log's channel (every process's
commit NOTIFYs it); SQLite: it polls the change log every `poll` seconds, and a commit made
in this process nudges it at once. Either way it reads the rows after the last it handed
out, in id order, so a row is handed to each subscription once and none is skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lowrise.errors import LowriseError
from lowrise.i18n import msg

from . import feed

log = logging.getLogger(__name__)


class Busy(LowriseError):
    """No more live pages here: too many of this person's (`per_user`), or of the process's
    (`process`). The message says which, and what to do."""

    def __init__(self, kind: str, limit: int):
        self.kind, self.limit = kind, limit
        if kind == "per_user":
            text = msg("You have %(n)s live pages open already, the most allowed; close one "
                       "(this page updates when you reload it).", n=limit)
        else:
            text = msg("This server is following as many live pages as it may (%(n)s); this "
                       "page updates when you reload it, and tries again in a while.", n=limit)
        super().__init__(text)
        self.message = text


@dataclass(eq=False)
class Subscription:
    """One live page's queue of change rows."""

    user: Any
    since: int
    rows: deque = field(default_factory=deque)
    ready: threading.Condition = field(default_factory=threading.Condition)
    closed: bool = False

    def put(self, rows: Sequence[dict[str, Any]]) -> None:
        with self.ready:
            self.rows.extend(r for r in rows if r["id"] > self.since)
            self.ready.notify()

    def take(self, timeout: float) -> list[dict[str, Any]]:
        """The rows that arrived (waits up to `timeout` seconds for one)."""
        with self.ready:
            if not self.rows and not self.closed:
                self.ready.wait(timeout)
            out = list(self.rows)
            self.rows.clear()
        if out:
            self.since = out[-1]["id"]
        return out


class Broker:
    """The process's broker for one database."""

    def __init__(self, engine: sa.Engine, *, poll: float = 0.25, max_streams: int = 32,
                 per_user: int = 8, keep: float = 3600.0):
        self.engine, self.poll = engine, poll
        self.max_streams, self.per_user, self.keep = max_streams, per_user, keep
        self.subs: list[Subscription] = []
        self.last: int | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned = 0.0
        self._closed = False
        self._postgres = engine.dialect.name == "postgresql"
        feed.nudges.append(self._nudged)

    # -- subscriptions ----------------------------------------------------------------------
    def subscribe(self, user: Any, since: int | None) -> Subscription:
        """A subscription from change `since` on (None: from now); Busy when over a bound.
        Rows between `since` and what the broker already handed out are read here."""
        with self._lock:
            if len(self.subs) >= self.max_streams:
                raise Busy("process", self.max_streams)
            if user is not None and sum(s.user == user for s in self.subs) >= self.per_user:
                raise Busy("per_user", self.per_user)
            if self.last is None:
                self.last = feed.latest_id(self.engine)
            upto = self.last
            sub = Subscription(user, upto if since is None else min(since, upto))
            self.subs.append(sub)
            self._start()
        if sub.since < upto:
            with self.engine.connect() as c:
                backlog = feed.read_since(c, sub.since, upto=upto, limit=100_000)
            with sub.ready:
                sub.rows.extendleft(reversed(backlog))
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self.subs:
                self.subs.remove(sub)
        with sub.ready:
            sub.closed = True
            sub.ready.notify()

    def count(self, user: Any = None) -> int:
        with self._lock:
            return len(self.subs) if user is None else sum(s.user == user for s in self.subs)

    def oldest(self) -> int:
        """The oldest change still logged (a resume from before it missed some)."""
        with self.engine.connect() as c:
            return feed.oldest_id(c)

    # -- the thread -------------------------------------------------------------------------
    def _nudged(self, engine: sa.Engine) -> None:
        if engine is self.engine:
            self._wake.set()

    def _start(self) -> None:
        """(Under the lock.) The thread runs while there are subscriptions."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lowrise-live", daemon=True)
            self._thread.start()

    def _idle(self) -> bool:
        """True when nobody follows any more: the thread then ends (the next subscription
        starts it again, from the newest change)."""
        with self._lock:
            if self.subs and not self._closed:
                return False
            self._thread, self.last = None, None
            return True

    def close(self) -> None:
        """Stop the thread and end every subscription (a process's or a test's end)."""
        self._closed = True
        self._wake.set()
        for sub in list(self.subs):
            self.unsubscribe(sub)
        try:
            feed.nudges.remove(self._nudged)
        except ValueError:
            pass
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    def _run(self) -> None:
        while not self._idle():
            try:
                if self._postgres:
                    self._listen()
                else:
                    self._wake.wait(self.poll)
                    self._wake.clear()
                    self.deliver()
            except Exception:  # the database away for a while: try again, never die
                if self._idle():
                    return
                log.exception("live updates: reading the change log failed")
                time.sleep(min(5.0, self.poll * 10))

    def _listen(self) -> None:
        """LISTEN on a connection of its own; read the log at each notification (and every
        second, should one be lost), while anybody follows."""
        raw = self.engine.raw_connection()
        try:
            driver = raw.driver_connection
            driver.autocommit = True
            driver.execute(f"LISTEN {feed.CHANNEL}")
            self.deliver()
            while self.subs and not self._closed:
                for _ in driver.notifies(timeout=min(self.poll * 4, 1.0), stop_after=1):
                    pass
                self.deliver()
        finally:
            raw.invalidate()

    def deliver(self) -> int:
        """Hand the rows after the last handed out to every subscription; how many."""
        after = self.last
        if after is None:
            return 0
        with self.engine.connect() as c:
            rows = feed.read_since(c, after)
        if rows:
            # under the lock: a subscription made before this gets the rows here, one made
            # after reads them as its backlog
            with self._lock:
                self.last = rows[-1]["id"]
                subs = list(self.subs)
            for sub in subs:
                sub.put(rows)
        if time.monotonic() - self._pruned > 300:
            self._pruned = time.monotonic()
            try:
                feed.prune(self.engine, self.keep)
            except sa.exc.OperationalError:  # busy: next time
                pass
        return len(rows)
