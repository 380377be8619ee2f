"""Durable time triggers: set and cancelled in the write's transaction, surviving a restart,
fired once; working hours; several workers on PostgreSQL fire each timer exactly once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from lowrise.rules.model import WorkingHours
from lowrise.rules.tester import dry_run
from lowrise.rules.timing import TimingError, add_working, parse_duration
from test_rules_support import T0, make_env, reopen, staff

ANSWER_IN_24H = """
record_type: ticket
trigger:
  kind: time
  field: requested_at
  after: 24h
  unless: {field: answered_at, op: is_not_empty}
conditions: {field: status, op: ne, value: done}
actions:
  - set_fields: {priority: high}
  - notify: {to: [owner.manager], title: "{{ title }} not answered in 24h"}
"""

WAITING_TOO_LONG = """
record_type: ticket
trigger:
  kind: time
  after: {by: priority, durations: {low: 3d, high: 4h}}
conditions: {field: status, op: eq, value: waiting}
actions:
  - set_fields: {note: waited too long}
"""


def timers(env, **where):
    return [(t["rule"], t["status"], t["due_at"]) for t in env.rows("lr_timers", **where)]


def test_timer_survives_a_restart_and_fires_once(engine):
    env = make_env(engine, {"answer": ANSWER_IN_24H})
    p = staff(env)
    t = env.create("ticket", title="Sink", owner=p["ann"], requested_at=T0)
    assert timers(env) == [("answer", "pending", T0 + timedelta(hours=24))]
    env.advance(hours=23)
    assert env.worker().run_once()["timers"] == 0
    # a "restart": new Records, rules engine and worker on the same database
    env2 = reopen(env)
    env2.advance(hours=1, seconds=1)
    assert env2.worker().run_once()["timers"] == 1
    assert env2.worker().run_once()["timers"] == 0
    assert env2.get("ticket", t["id"])["priority"] == "high"
    assert [n["user_id"] for n in env2.rows("lr_notifications")] == [p["boss"]]
    assert timers(env2) == [("answer", "fired", T0 + timedelta(hours=24))]
    # an unrelated change later does not set the same moment again: it fired once
    env2.update("ticket", t["id"], status="open")
    env2.advance(days=1)
    assert env2.worker().run_once()["timers"] == 0
    assert len(env2.rows("lr_notifications")) == 1
    runs = env2.rows("lr_rule_runs", rule="answer")
    assert [(r["trigger"], r["status"]) for r in runs] == [("time", "ok")]


def test_timer_cancelled_or_moved_when_the_facts_change(engine):
    env = make_env(engine, {"answer": ANSWER_IN_24H})
    staff(env)
    a = env.create("ticket", title="A", requested_at=T0)
    b = env.create("ticket", title="B", requested_at=T0)
    c = env.create("ticket", title="C", requested_at=T0)
    env.update("ticket", a["id"], answered_at=T0 + timedelta(hours=2))  # unless: holds
    env.update("ticket", b["id"], status="done")  # conditions stop holding
    later = T0 + timedelta(hours=5)
    env.update("ticket", c["id"], requested_at=later)  # the date moved
    assert timers(env, record_id=a["id"]) == [("answer", "cancelled", T0 + timedelta(hours=24))]
    assert timers(env, record_id=b["id"]) == [("answer", "cancelled", T0 + timedelta(hours=24))]
    assert timers(env, record_id=c["id"]) == [
        ("answer", "cancelled", T0 + timedelta(hours=24)),
        ("answer", "pending", later + timedelta(hours=24))]
    env.records.delete("ticket", c["id"], env.actor())
    assert timers(env, record_id=c["id"])[-1][1] == "cancelled"
    env.advance(days=3)
    assert env.worker().run_once()["timers"] == 0


def test_timer_from_when_conditions_start_to_hold(engine):
    env = make_env(engine, {"waiting": WAITING_TOO_LONG})
    t = env.create("ticket", title="T")
    assert timers(env) == []
    env.update("ticket", t["id"], status="waiting")
    assert timers(env) == [("waiting", "pending", T0 + timedelta(days=3))]
    env.advance(hours=1)
    env.update("ticket", t["id"], title="T2")  # still waiting: the clock keeps running
    assert len(timers(env)) == 1
    env.update("ticket", t["id"], priority="high")  # the delay depends on priority
    assert timers(env)[-1] == ("waiting", "pending", T0 + timedelta(hours=4))
    env.advance(hours=4)
    report = dry_run(env.records, "waiting", t["id"], at=env.now)
    assert report.outcome == "ok" and report.actions[0]["result"] == "set note = waited too long"
    assert env.get("ticket", t["id"])["note"] is None
    assert env.worker().run_once()["timers"] == 1
    assert env.get("ticket", t["id"])["note"] == "waited too long"


def test_durations_and_working_hours():
    assert parse_duration("24h") == 86400 and parse_duration("1h30m") == 5400
    assert parse_duration("3d") == 3 * 86400 and parse_duration(2) == 7200
    with pytest.raises(TimingError):
        parse_duration("soon")
    wh = WorkingHours()
    friday_5pm = datetime(2025, 3, 7, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai
    # one hour left on Friday, then Monday from 09:00: 10:00 Shanghai = 02:00 UTC
    assert add_working(friday_5pm, 7200, wh, "Asia/Shanghai") == datetime(2025, 3, 10, 2, 0,
                                                                          tzinfo=UTC)
    saturday = datetime(2025, 3, 8, 3, 0, tzinfo=UTC)
    assert add_working(saturday, 3600, wh, "Asia/Shanghai") == datetime(2025, 3, 10, 2, 0,
                                                                        tzinfo=UTC)


def test_working_hours_rule(engine):
    env = make_env(engine, {"answer": ANSWER_IN_24H.replace(
        "after: 24h", "after: 4h\n  working_hours: {days: [mon, tue, wed, thu, fri], "
        "start: '09:00', end: '17:00'}")})
    friday_3pm = datetime(2025, 3, 7, 15, 0, tzinfo=UTC)
    env.create("ticket", title="W", requested_at=friday_3pm)
    assert timers(env)[0][2] == datetime(2025, 3, 10, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_concurrent_workers_fire_each_timer_exactly_once(engine):
    env = make_env(engine, {"answer": ANSWER_IN_24H})
    p = staff(env)
    n = 240
    rows = [{"title": f"t{i}", "owner": p["ann"], "requested_at": T0} for i in range(n)]
    created = env.records.bulk_create("ticket", rows, env.actor())
    assert len(env.rows("lr_timers")) == n
    env.advance(days=2)
    workers = [reopen(env).worker(batch=16, name=f"w{i}") for i in range(4)]
    counts = [0] * len(workers)
    start = threading.Barrier(len(workers))

    def go(i: int) -> None:
        start.wait()
        for _ in range(5):
            counts[i] += workers[i].fire_due_timers()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(counts) == n  # (how they shared the work depends on the scheduler)
    with engine.connect() as conn:
        per_record = conn.execute(sa.text(
            "SELECT record_id, count(*) FROM lr_rule_runs WHERE rule = 'answer' "
            "GROUP BY record_id")).all()
        fired = conn.execute(sa.text(
            "SELECT count(*) FROM lr_timers WHERE status = 'fired'")).scalar()
        notes = conn.execute(sa.text("SELECT count(*) FROM lr_notifications")).scalar()
    assert len(per_record) == n and all(c == 1 for _, c in per_record)
    assert fired == n and notes == n
    assert {r["id"] for r in created} == {rid for rid, _ in per_record}


def test_background_worker_fires_and_stops(engine):
    import time as clock

    from lowrise.rules import start_background_worker

    env = make_env(engine, {"answer": ANSWER_IN_24H})
    p = staff(env)
    env.create("ticket", title="Old", owner=p["ann"], requested_at=T0)
    handle = start_background_worker(env.records, interval=0.05, senders={})
    try:
        deadline = clock.monotonic() + 20
        while clock.monotonic() < deadline and not env.rows("lr_notifications"):
            clock.sleep(0.05)  # T0 is long past on the real clock: the timer is due
    finally:
        handle.stop()
    assert not handle.thread.is_alive()
    assert [n["user_id"] for n in env.rows("lr_notifications")] == [p["boss"]]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_concurrent_workers_run_a_schedule_slot_once(engine):
    env = make_env(engine, {"daily": """
record_type: ticket
trigger: {kind: schedule, cron: "0 8 * * *"}
actions:
  - set_fields: {count: {expr: "coalesce(count, 0) + 1"}}
"""})
    made = [env.create("ticket", title=f"t{i}") for i in range(5)]
    env.worker().run_schedules()  # remembers the next slot
    env.advance(days=1)
    workers = [reopen(env).worker(name=f"w{i}") for i in range(4)]
    ran = [0] * len(workers)
    start = threading.Barrier(len(workers))

    def go(i):
        start.wait()
        ran[i] = workers[i].run_schedules()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(ran) == [0, 0, 0, 5]
    assert [env.get("ticket", t["id"])["count"] for t in made] == [1] * 5


# -- the worker's batches -------------------------------------------------------------------

RAISE = """
record_type: ticket
trigger: {kind: time, field: requested_at, after: 1h}
actions:
  - set_fields: {priority: {expr: "note"}}
  - notify: {to: [owner.manager], title: "{{ title }} raised"}
  - comment: "raised"
"""


def test_a_failing_timer_rolls_back_alone_and_the_batch_commits(engine):
    env = make_env(engine, {"raise": RAISE})
    p = staff(env)
    notes = ["high", "urgent", "high", "bogus", "high", "high"]  # not options: those fail
    made = [env.create("ticket", title=f"t{i}", owner=p["ann"], requested_at=T0, note=note)
            for i, note in enumerate(notes)]
    env.advance(hours=2)
    worker = env.worker(batch=50)
    assert worker.run_once()["timers"] == 4
    assert [env.get("ticket", t["id"])["priority"] for t in made] == \
        ["high", "low", "high", "low", "high", "high"]
    by_record = {t["record_id"]: t for t in env.rows("lr_timers")}
    assert [by_record[t["id"]]["status"] for t in made] == \
        ["fired", "failed", "fired", "failed", "fired", "fired"]
    assert "priority" in by_record[made[1]["id"]]["error"]
    ok = {made[i]["id"] for i in (0, 2, 4, 5)}
    assert {n["record_id"] for n in env.rows("lr_notifications")} == ok
    assert len(env.rows("lr_notifications")) == 4
    assert {c["record_id"] for c in env.rows("lr_comments")} == ok
    # the failed timers' updates left no audit entry; the others one each, as stored
    audited = env.rows("lr_audit", record_type="ticket", action="update")
    assert sorted(a["record_id"] for a in audited) == sorted(ok)
    assert all(env.get("ticket", a["record_id"])["version"] == a["version"] for a in audited)
    runs = env.rows("lr_rule_runs", rule="raise")
    assert sorted((r["record_id"], r["status"]) for r in runs) == sorted(
        [(t["id"], "ok") for t in made if t["id"] in ok]
        + [(made[1]["id"], "failed"), (made[3]["id"], "failed")])
    assert worker.run_once()["timers"] == 0  # failed timers do not come back by themselves


def test_a_batch_reads_each_type_once_and_writes_its_logs_in_one_statement(engine):
    """Per timer, only the record's own update (the batch read the record, and nothing
    changed it since, so it is not read again); the timers, their records, the managers the
    notifications go to and the run log, the inbox rows, the audit entries and the status
    changes are one statement each for the whole batch."""
    env = make_env(engine, {"answer": ANSWER_IN_24H})
    p = staff(env)
    n = 30
    env.records.bulk_create("ticket", [{"title": f"t{i}", "owner": p["ann" if i % 2 else "cy"],
                                        "requested_at": T0} for i in range(n)], env.actor())
    env.advance(days=2)
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        assert env.worker(batch=100).fire_due_timers() == n
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    writes = [s for s in statements if s.lstrip().upper().startswith("UPDATE TICKET")]
    assert len(writes) == n
    assert len([s for s in statements if "INSERT INTO lr_audit" in s]) == 1
    assert len(statements) <= n + 15, statements[:40]
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")
             and "FROM ticket" in s]
    assert len(reads) == 1, reads
    first = env.rows("lr_audit", record_type="ticket", action="update")[0]
    assert (first["actor_name"], first["version"], first["changes"]) == \
        ("rule answer", 2, {"priority": ["low", "high"]})
    inserts = [s for s in statements if "INSERT INTO lr_notifications" in s
               or "INSERT INTO lr_rule_runs" in s]
    assert len(inserts) == 2
    assert len(env.rows("lr_notifications")) == n
    assert len(env.rows("lr_rule_runs", rule="answer")) == n


def test_two_timers_on_one_record_in_one_batch_see_each_others_changes(engine):
    env = make_env(engine, {"answer": ANSWER_IN_24H, "escalate": """
record_type: ticket
trigger: {kind: time, field: requested_at, after: 24h}
actions:
  - when: {field: priority, op: eq, value: high}
    set_fields: {note: escalated}
"""})
    p = staff(env)
    t = env.create("ticket", title="Sink", owner=p["ann"], requested_at=T0)
    assert [r["rule"] for r in env.rows("lr_timers")] == ["answer", "escalate"]
    env.advance(days=2)
    assert env.worker().fire_due_timers() == 2
    # "answer" (the first timer) made it high; "escalate" reads the record after that
    assert env.get("ticket", t["id"])["note"] == "escalated"
    assert [r["rule"] for r in env.rows("lr_rule_runs")] == ["answer", "escalate"]


def test_a_rule_that_writes_the_new_record_leaves_it_one_timer(engine):
    env = make_env(engine, {"answer": ANSWER_IN_24H, "triage": """
record_type: ticket
trigger: {kind: created}
actions:
  - set_fields: {note: triaged}
"""})
    p = staff(env)
    t = env.create("ticket", title="Sink", owner=p["ann"], requested_at=T0)
    assert timers(env) == [("answer", "pending", T0 + timedelta(hours=24))]
    env.records.bulk_create("ticket", [{"title": "Tap", "requested_at": T0}], env.actor())
    assert [x[1] for x in timers(env)] == ["pending", "pending"]
    env.advance(days=2)
    assert env.worker().fire_due_timers() == 2
    assert env.get("ticket", t["id"])["priority"] == "high"


REMIND_2H_BEFORE = """
record_type: ticket
trigger:
  kind: time
  field: requested_at
  after: -2h
actions:
  - notify: {to: [owner], title: "{{ title }} in 2 hours"}
"""


def test_a_reminder_of_a_moment_that_has_passed_is_neither_set_nor_sent_late(engine):
    env = make_env(engine, {"remind": REMIND_2H_BEFORE})
    p = staff(env)
    # the moment has passed: no "in 2 hours" reminder about it
    env.create("ticket", title="Gone", owner=p["ann"], requested_at=T0 - timedelta(hours=1))
    assert timers(env) == []
    # an hour to go: the reminder is late but its moment is still to come, so it goes now
    env.create("ticket", title="Soon", owner=p["ann"], requested_at=T0 + timedelta(hours=1))
    assert env.worker().run_once()["timers"] == 1
    assert [n["title"] for n in env.rows("lr_notifications")] == ["Soon in 2 hours"]
    # a worker down past the moment itself drops the reminder instead of sending it late
    later = env.create("ticket", title="Later", owner=p["ann"],
                       requested_at=T0 + timedelta(hours=5))
    env.advance(hours=6)
    env.worker().run_once()
    assert len(env.rows("lr_notifications")) == 1
    [row] = [t for t in env.rows("lr_timers") if t["record_id"] == later["id"]]
    assert row["status"] == "cancelled" and "passed" in row["error"]
