"""The worker: fires due timers, runs cron schedules and delivers the outbox.

Several workers may run at once. On PostgreSQL each claims rows with
`FOR UPDATE SKIP LOCKED`: a timer is fired, and marked fired, in the transaction that
locked it, so it fires exactly once; outbox messages are leased (see outbox.py). On SQLite
a write transaction holds the database's single write lock, which serialises the workers.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lowrise import filters
from lowrise.actor import Actor, utcnow
from lowrise.errors import NotFound
from lowrise.i18n import msg
from lowrise.storage import derived
from lowrise.storage.db import write_transaction
from lowrise.storage.records import AUDIT_LATER, Records

from . import conditions as conds
from . import timers
from .actions import _set_state, _state_row
from .batch import flush, prefetch
from .context import DEFERRED, SHARED, Run
from .engine import RuleEngine, install
from .heartbeat import EVERY as HEARTBEAT_EVERY
from .heartbeat import Heartbeat
from .model import CallWebhook, ChatBot, Schedule
from .outbox import DEFAULT_TIMEOUT, SMTP_TIMEOUT, DeliveryError, default_senders, next_attempt
from .tables import RuleTables
from .timing import next_run

log = logging.getLogger("lowrise.worker")
Sender = Callable[[Mapping[str, Any]], str]
#: time for the worker's own statements around a send, on top of the send's timeout
LEASE_MARGIN = 30.0


def longest_send(engine: RuleEngine, kinds) -> float:
    """The longest one message of `kinds` (what a worker sends) may take: the largest timeout
    of the rules' webhooks, the SMTP timeout for e-mail."""
    timeouts = []
    if "webhook" in kinds or "chat" in kinds:
        timeouts += [a.spec.timeout for rule in engine.rules.rules.values()
                     for a in rule.actions if isinstance(a.spec, (CallWebhook, ChatBot))]
    if "email" in kinds:
        timeouts.append(SMTP_TIMEOUT)
    return max(timeouts, default=DEFAULT_TIMEOUT)


def _transient(exc: BaseException) -> bool:
    """A database error worth retrying as a whole (deadlock, lock timeout, serialisation)."""
    while exc is not None:
        if isinstance(exc, sa.exc.OperationalError):
            return True
        exc = exc.__cause__
    return False


class Worker:
    """One worker. `run_once()` does one round of everything; `run_forever()` loops."""

    def __init__(self, records: Records, *, engine: RuleEngine | None = None,
                 name: str | None = None, senders: Mapping[str, Sender] | None = None,
                 clock: Callable[[], datetime] = utcnow, batch: int = 200,
                 lease_seconds: float = 120.0, backoff_base: float = 30.0):
        self.records = records
        self.engine = engine or install(records)
        self.tables = RuleTables(records.schema.system)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.senders = dict(default_senders() if senders is None else senders)
        self.clock = clock
        self.batch = batch
        # A message is sent under a lease that is renewed right before its send; the lease
        # outlasts the longest send there can be, so no other worker takes a message over
        # while it is on its way, and a claim takes no more messages than can be sent
        # within one lease (a batch that outlived its lease was sent twice).
        self.longest_send = longest_send(self.engine, self.senders)
        self.lease = timedelta(seconds=max(lease_seconds, self.longest_send + LEASE_MARGIN))
        self.claim_size = max(1, min(batch, int(self.lease.total_seconds()
                                                // self.longest_send)))
        self.backoff_base = backoff_base
        self.actor = Actor(name=msg("worker"), system=True, clock=clock)
        #: set by run_forever: the worker's row of lr_workers, kept fresh while it works
        self.heartbeat: Heartbeat | None = None
        #: the workspace's day when rollups over a period (this_month) were last recomputed
        self.period_day: Any = None

    @property
    def db(self) -> sa.Engine:
        return self.records.engine

    def _claim(self, stmt):
        if self.db.dialect.name == "postgresql":
            return stmt.with_for_update(skip_locked=True)
        return stmt

    # -- timers --------------------------------------------------------------------------------
    def fire_due_timers(self, limit: int | None = None) -> int:
        """Fire every timer due now (in batches); returns how many fired."""
        fired = 0
        while limit is None or fired < limit:
            n, claimed = self._timer_batch(min(self.batch, (limit - fired) if limit else self.batch))
            fired += n
            if claimed < self.batch:
                break
        return fired

    def _timer_batch(self, size: int) -> tuple[int, int]:
        t = self.tables.timers
        now = self.clock()
        try:
            with write_transaction(self.db) as conn:
                rows = conn.execute(self._claim(
                    sa.select(t).where(t.c.status == "pending", t.c.due_at <= now,
                                       ~t.c.rule.startswith("approval:"))  # approvals' own
                    .order_by(t.c.due_at, t.c.id).limit(size))).mappings().all()
                fired = self._fire_batch(conn, rows, now) if rows else 0
        except sa.exc.OperationalError as exc:  # deadlock or lock timeout: all of it retries
            log.warning("timer batch rolled back, will retry: %s", exc)
            return 0, 0
        return fired, len(rows)

    def _fire_batch(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]],
                    now: datetime) -> int:
        """Fire a claimed batch in its one transaction: the timers are marked fired in one
        statement, their records read in one query per type (and the records their rules'
        paths reach, in one query per step), the rules run in a savepoint (a failing timer
        rolls back alone and is marked failed, see below), and what the runs log and notify,
        and the audit entries of their updates, are inserted in one statement per table at
        the end."""
        t = self.tables.timers
        rules = self.engine.rules.rules
        ended: list[dict[str, Any]] = []  # timers that end otherwise than fired and ok

        def end(row, status: str, error: str) -> None:
            ended.append({"tid": row["id"], "st": status, "err": error[:2000]})

        # one lock order for every worker: no two batches wait on each other's records
        live = []
        for row in sorted(rows, key=lambda r: (r["record_type"], r["record_id"], r["id"])):
            rule = rules.get(row["rule"])
            if rule is None or not rule.enabled:
                end(row, "cancelled", "the rule no longer exists or is disabled")
            elif timers.stale(row["due_at"], row["since"], now):
                end(row, "cancelled", "a reminder of a moment that has passed: not sent late")
            else:
                live.append((row, rule))
        # marked first, so that the actions' own changes see them fired, not pending
        conn.execute(t.update().where(t.c.id.in_([r["id"] for r in rows])).values(
            status="fired", done_at=now, attempts=t.c.attempts + 1))
        shared: dict[tuple[str, int], dict[str, Any] | None] = {}
        conn.info[SHARED] = shared
        # the timer each record now has for the rule fired on it: the one being fired
        conn.info[timers.LAST] = {(rule.name, r["record_type"], r["record_id"]): timers.Last(
            r["id"], r["due_at"], "fired", r["since"]) for r, rule in live}
        deferred: list[tuple[sa.Table, list[dict[str, Any]]]] = []
        fired = 0
        try:
            prefetch(conn, self.records, shared, [(r["record_type"], r["record_id"], rule)
                                                  for r, rule in live])
            # A run of timers in one savepoint; when one fails, the savepoint rolls back, the
            # ones before it run again (in one savepoint), the failing one is marked failed
            # without running again, and the ones after it carry on: every timer that did
            # not fail commits, and no timer runs more than twice.
            segments = [live]
            while segments:
                segment = segments.pop()
                done, failure = self._try_segment(conn, segment, shared)
                if failure is None:
                    fired += len(done)
                    for row, mine, held in done:
                        deferred += mine
                        if not held:
                            end(row, "fired", "conditions no longer hold; nothing done")
                    continue
                k, exc = failure
                row = segment[k][0]
                if isinstance(exc, NotFound):
                    end(row, "cancelled", "the record is gone")
                else:
                    log.warning("timer %s of rule %s failed: %s", row["id"], row["rule"], exc)
                    end(row, "failed", str(exc))
                segments += [s for s in (segment[k + 1:], segment[:k]) if s]
        finally:
            for key in (SHARED, DEFERRED, AUDIT_LATER, timers.LAST):
                conn.info.pop(key, None)
        flush(conn, deferred)
        if ended:
            conn.execute(t.update().where(t.c.id == sa.bindparam("tid")).values(
                status=sa.bindparam("st"), error=sa.bindparam("err")), ended)
        return fired

    def _try_segment(self, conn: sa.Connection, segment, shared):
        """Run these timers' rules in one savepoint: ([(row, rows to insert, conditions
        held)], None), or, when the k-th fails, ([], (k, exception)) and nothing is kept."""
        done = []
        k = 0
        last = conn.info[timers.LAST]
        saved = dict(last)
        try:
            with conn.begin_nested():
                for k, (row, rule) in enumerate(segment):  # noqa: B007 (k names the failure)
                    mine: list[tuple[sa.Table, list[dict[str, Any]]]] = []
                    conn.info[DEFERRED] = conn.info[AUDIT_LATER] = mine
                    key = (row["record_type"], row["record_id"])
                    record = shared.get(key) if key in shared else self.records.get(
                        *key, conn=conn)
                    if record is None:
                        raise NotFound(f"{key[0]} #{key[1]} is gone")
                    run = self.engine.run_rule(conn, self.records, rule, dict(record),
                                               self.actor, "time")
                    done.append((row, mine, run.conditions))
        except Exception as exc:
            if _transient(exc):
                raise
            last.clear()
            last.update(saved)  # what the rolled-back runs did to timers is undone too
            return [], (k, exc)
        return done, None

    # -- schedules -----------------------------------------------------------------------------
    def run_schedules(self) -> int:
        """Run the schedule rules whose time has come; returns how many records they ran on."""
        ran = 0
        tz = self.engine.tz
        for rule in self.engine.rules.rules.values():
            if not rule.enabled or not isinstance(rule.trigger, Schedule):
                continue
            now = self.clock()
            with write_transaction(self.db) as conn:
                probe = Run(conn, self.records, self.tables, rule,
                            self.records.schema.workspace.type(rule.record_type), None,
                            self.actor, "schedule")
                key = f"schedule:{rule.name}"
                state = _state_row(probe, key) or {}
                due = state.get("next")
                if due is None:
                    _set_state(probe, key, {"next": next_run(rule.trigger.cron, now, tz)
                                            .isoformat()})
                    continue
                if datetime.fromisoformat(due) > now:
                    continue
                _set_state(probe, key, {"next": next_run(rule.trigger.cron, now, tz).isoformat(),
                                        "last": now.isoformat()})
                ran += self._schedule_run(conn, rule)
        return ran

    def _schedule_run(self, conn: sa.Connection, rule) -> int:
        schema = self.records.schema
        t = schema.table(rule.record_type)
        stmt = sa.select(t.c.id).order_by(t.c.id).limit(rule.trigger.limit)
        if isinstance(rule.conditions, conds.FilterTest):
            stmt = stmt.where(filters.to_sql(rule.conditions.node, schema, self.actor))
        ran = 0
        for rid in conn.execute(stmt).scalars().all():
            try:
                with conn.begin_nested():
                    record = self.records.get(rule.record_type, rid, conn=conn)
                    run = self.engine.run_rule(conn, self.records, rule, record, self.actor,
                                               "schedule")
                    ran += bool(run.conditions)
            except Exception as exc:
                if _transient(exc):
                    raise
                log.warning("schedule %s on #%s failed: %s", rule.name, rid, exc)
        return ran

    # -- outbox --------------------------------------------------------------------------------
    def deliver_outbox(self, limit: int | None = None) -> int:
        """Deliver due messages of the kinds this worker can send; returns how many were sent."""
        sent = 0
        while limit is None or sent < limit:
            claimed = self._claim_messages()
            if not claimed:
                break
            for message in claimed:
                self._alive()  # a slow receiver must not make the worker look gone
                if self._renew(message):  # still ours: another worker has not taken it over
                    sent += self._deliver(message)
            if len(claimed) < self.claim_size:
                break
        return sent

    def _claim_messages(self) -> list[dict[str, Any]]:
        o = self.tables.outbox
        now = self.clock()
        if not self.senders:
            return []
        due = sa.or_(sa.and_(o.c.status == "pending", o.c.next_attempt_at <= now),
                     sa.and_(o.c.status == "sending", o.c.lease_until < now))
        with write_transaction(self.db) as conn:
            rows = conn.execute(self._claim(
                sa.select(o).where(due, o.c.kind.in_(sorted(self.senders)))
                .order_by(o.c.id).limit(self.claim_size))).mappings().all()
            if not rows:
                return []
            conn.execute(o.update().where(o.c.id.in_([r["id"] for r in rows])).values(
                status="sending", lease_until=now + self.lease, worker=self.name,
                attempts=o.c.attempts + 1))
        return [{**r, "attempts": r["attempts"] + 1} for r in rows]

    def _renew(self, message: dict[str, Any]) -> bool:
        """Extend the message's lease from now, in one statement that also checks it is still
        this worker's and still being sent; False (do not send) when it is not."""
        o = self.tables.outbox
        timeout = float((message.get("payload") or {}).get("timeout") or 0)
        lease = max(self.lease, timedelta(seconds=timeout + LEASE_MARGIN))
        with write_transaction(self.db) as conn:
            renewed = conn.execute(o.update().where(
                o.c.id == message["id"], o.c.worker == self.name, o.c.status == "sending")
                .values(lease_until=self.clock() + lease)).rowcount
        if not renewed:
            log.info("outbox message %s was taken over by another worker; not sent here",
                     message["id"])
        return renewed == 1

    def _deliver(self, message: dict[str, Any]) -> int:
        o = self.tables.outbox
        try:
            result = self.senders[message["kind"]](message)
            values: dict[str, Any] = dict(status="delivered", delivered_at=self.clock(),
                                          last_error=None, lease_until=None)
            ok = 1
        except DeliveryError as exc:
            result, ok = str(exc), 0
        except Exception as exc:  # a sender bug must not stop the worker
            result, ok = f"{type(exc).__name__}: {exc}", 0
        if not ok:
            last = message["attempts"] >= message["max_attempts"]
            values = dict(status="failed" if last else "pending", last_error=result[:2000],
                          lease_until=None,
                          next_attempt_at=next_attempt(self.clock(), message["attempts"],
                                                       self.backoff_base))
        with write_transaction(self.db) as conn:
            conn.execute(o.update().where(o.c.id == message["id"], o.c.worker == self.name,
                                          o.c.status == "sending").values(**values))
        return ok

    # -- the loop ------------------------------------------------------------------------------
    def run_once(self) -> dict[str, int]:
        """One round: timers, schedules, outbox, then the logs of failed runs."""
        out = {"timers": self.fire_due_timers()}
        if self.records.schema.workspace.approvals:  # approval steps that timed out
            from lowrise.approvals.engine import install as approvals

            out["approvals"] = approvals(self.records).fire_due(self.clock(), self.actor)
        self._alive()
        out["schedules"] = self.run_schedules()
        self._alive()
        out["messages"] = self.deliver_outbox()
        out["failed_runs"] = self.engine.flush_failed_runs(self.db, self.tables)
        out["periods"] = self.refresh_periods()
        return out

    def refresh_periods(self) -> int:
        """Rollups whose filter names a period relative to today (a consultant's deals
        this month) are recomputed on the worker's first round and whenever the day turns
        in the workspace's time zone; returns how many were (0 on other rounds)."""
        schema = self.records.schema
        if not derived.timed_rollups(schema.workspace):
            return 0
        now = self.clock()
        day = now.astimezone(filters.zone(schema.workspace.config.get("timezone"))).date()
        if day == self.period_day:
            return 0
        with write_transaction(self.db) as conn:
            n = derived.refresh_periods(conn, schema, now)
        self.period_day = day
        return n

    def _alive(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.beat()

    def run_forever(self, *, interval: float = 1.0, stop: threading.Event | None = None,
                    heartbeat_every: float = HEARTBEAT_EVERY) -> None:
        """Rounds every `interval` seconds until `stop` is set, with a heartbeat in
        lr_workers (removed when it stops)."""
        stop = stop or threading.Event()
        self.heartbeat = Heartbeat(self.db, self.tables.workers, self.name,
                                   every=heartbeat_every)  # real time, whatever self.clock
        try:
            while not stop.is_set():
                self._alive()
                try:
                    self.run_once()
                except Exception:  # keep going: the next round retries
                    log.exception("worker round failed")
                stop.wait(interval)
        finally:
            self.heartbeat.end()


class BackgroundWorker:
    """A worker on a daemon thread; `stop()` ends it."""

    def __init__(self, worker: Worker, interval: float, heartbeat_every: float = HEARTBEAT_EVERY):
        self.worker = worker
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=worker.run_forever, name="lowrise-worker",
                                       kwargs={"interval": interval, "stop": self.stop_event,
                                               "heartbeat_every": heartbeat_every},
                                       daemon=True)

    def start(self) -> BackgroundWorker:
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        self.thread.join(timeout)


def start_background_worker(app_or_records: Any, *, interval: float = 1.0,
                            heartbeat_every: float = HEARTBEAT_EVERY,
                            **worker_options: Any) -> BackgroundWorker:
    """Run a worker on a thread for a Flask app (its runtime's Records) or a Records service."""
    records = app_or_records
    if not isinstance(records, Records):
        records = app_or_records.extensions["lowrise"].records
    return BackgroundWorker(Worker(records, **worker_options), interval,
                            heartbeat_every).start()
