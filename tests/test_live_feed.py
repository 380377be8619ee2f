"""The change feed of live updates (lowrise.live), on SQLite and PostgreSQL: every committed
write logs an event after commit (none for a rolled-back one), a big import logs one row,
comments and inbox notices log theirs, the broker hands rows to subscriptions in order with a
backlog from Last-Event-ID, within bounds per person and per process, and what a subscriber
is told is decided with its own Actor (ids only, records it may read)."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from lowrise.actor import SYSTEM
from lowrise.errors import ValidationError
from lowrise.live import Broker, Busy, feed, latest_id, read_since
from lowrise.live.seen import events_for
from test_comments import Office


@pytest.fixture
def office(engine):
    return Office(engine)


@pytest.fixture
def brokers():
    made = []
    yield lambda *a, **kw: made.append(Broker(*a, **kw)) or made[-1]
    for b in made:
        b.close()


def changes(engine, after=0):
    with engine.connect() as c:
        return read_since(c, after)


def test_each_committed_write_logs_one_event(office):
    o = office
    start = latest_id(o.engine)
    amy = o.actors["amy"]
    made = o.records.create("case", {"title": "New", "seller": o.amy["id"]}, amy)
    o.records.update("case", made["id"], {"title": "Newer"}, amy)
    o.records.delete("case", made["id"], SYSTEM)
    o.records.restore("case", made["id"], SYSTEM)
    rows = changes(o.engine, start)
    assert [(r["record_type"], r["record_id"], r["action"], r["version"]) for r in rows] == [
        ("case", made["id"], "create", 1), ("case", made["id"], "update", 2),
        ("case", made["id"], "delete", 2), ("case", made["id"], "restore", 3)]
    assert [r["actor_name"] for r in rows[:2]] == ["Amy An"] * 2
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    # the rows hold ids only: no column carries a value of the record
    assert set(rows[0]) == {"id", "at", "record_type", "record_id", "action", "version",
                            "actor", "actor_name", "for_user"}


def test_a_refused_write_logs_nothing(office):
    o = office
    start = latest_id(o.engine)
    with pytest.raises(ValidationError):
        o.records.create("case", {"title": ""}, SYSTEM)
    with pytest.raises(RuntimeError), o.records.transaction() as c:
        o.records.update("case", o.case["id"], {"title": "gone"}, SYSTEM, conn=c)
        raise RuntimeError("rolled back")
    assert changes(o.engine, start) == []
    # the connection's notes went with the rollback: the next write logs only itself
    o.records.update("case", o.case["id"], {"title": "kept"}, SYSTEM)
    assert [r["action"] for r in changes(o.engine, start)] == ["update"]


def test_a_big_write_logs_one_row_and_rules_writes_theirs(office):
    o = office
    start = latest_id(o.engine)
    o.records.bulk_create("case", [{"title": f"c{i}"} for i in range(feed.MANY + 5)], SYSTEM,
                          run_hooks=False)
    rows = changes(o.engine, start)
    assert [(r["record_type"], r["record_id"], r["action"]) for r in rows] == [
        ("case", None, "many")]
    start = rows[-1]["id"]
    # a rule's comment in the same transaction as the update that set it off
    o.records.update("case", o.case["id"], {"stage": "won"}, SYSTEM)
    assert [r["action"] for r in changes(o.engine, start)] == ["update", "comment"]


def test_comments_and_notices(office):
    o = office
    start = latest_id(o.engine)
    o.comments.add("case", o.case["id"], "@王芳 please look", o.actors["amy"])
    rows = changes(o.engine, start)
    assert [(r["action"], r["record_id"], r["for_user"]) for r in rows] == [
        ("comment", o.case["id"], None), ("notice", None, o.wang["id"])]


def test_what_each_subscriber_is_told(office):
    o = office
    start = latest_id(o.engine)
    o.records.update("case", o.case["id"], {"title": "Amy's, changed"}, SYSTEM)
    o.records.update("case", o.other["id"], {"title": "Ben's, changed"}, SYSTEM)
    o.comments.add("case", o.case["id"], "@王芳 look", o.actors["amy"])
    o.records.delete("case", o.other["id"], SYSTEM)
    rows = changes(o.engine, start)
    amy = events_for(o.records, o.actors["amy"], rows)
    # amy sees her own case only; of the deleted one (not hers) she learns no id
    assert [(e["action"], e.get("record")) for e in amy] == [
        ("update", o.case["id"]), ("comment", o.case["id"]), ("delete", None)]
    assert amy[0] == {"id": rows[0]["id"], "action": "update", "type": "case",
                      "record": o.case["id"], "version": 2, "by": SYSTEM.name or ""}
    wang = events_for(o.records, o.actors["wang"], rows)  # a boss reads every case
    assert [(e["action"], e.get("record")) for e in wang] == [
        ("update", o.case["id"]), ("update", o.other["id"]), ("comment", o.case["id"]),
        ("notice", None), ("delete", o.other["id"])]
    assert events_for(o.records, o.actors["cat"], rows) == []  # may not read cases


@pytest.mark.parametrize("poll", [0.05])
def test_the_broker_hands_rows_over_in_order(office, poll, brokers):
    o = office
    broker = brokers(o.engine, poll=poll, max_streams=4, per_user=2)
    before = latest_id(o.engine)
    o.records.update("case", o.case["id"], {"title": "one"}, SYSTEM)
    now_sub = broker.subscribe(1, None)  # from now on
    resumed = broker.subscribe(2, before)  # Last-Event-ID: what came after `before`
    o.records.update("case", o.case["id"], {"title": "two"}, SYSTEM)
    end = time.monotonic() + 5
    got_now, got_resumed = [], []
    while time.monotonic() < end and (len(got_now) < 1 or len(got_resumed) < 2):
        got_now += now_sub.take(0.1)
        got_resumed += resumed.take(0.1)
    assert [r["version"] for r in got_now] == [3]
    assert [r["version"] for r in got_resumed] == [2, 3]
    # bounds: two per person, four in all
    broker.subscribe(1, None)
    with pytest.raises(Busy) as over:
        broker.subscribe(1, None)
    assert over.value.kind == "per_user" and "2" in str(over.value)
    broker.subscribe(3, None)
    with pytest.raises(Busy) as full:
        broker.subscribe(4, None)
    assert full.value.kind == "process" and "4" in str(full.value)
    broker.unsubscribe(now_sub)
    assert broker.count() == 3 and broker.count(1) == 1
    broker.subscribe(4, None)


def test_a_write_from_another_engine_reaches_the_broker(office, db_url, brokers):
    """Another process's write (here: another engine on the same database) is seen through
    the database alone: LISTEN/NOTIFY on PostgreSQL, the change log's poll on SQLite."""
    from lowrise.storage.db import create_engine
    from lowrise.storage.records import Records

    o = office
    broker = brokers(o.engine, poll=0.05)
    sub = broker.subscribe(None, None)
    other = create_engine(db_url, poolclass=sa.NullPool)
    try:
        Records(other, o.records.schema).update("case", o.case["id"], {"title": "elsewhere"},
                                                SYSTEM)
        got, end = [], time.monotonic() + 5
        while not got and time.monotonic() < end:
            got = sub.take(0.2)
        assert [(r["record_id"], r["action"]) for r in got] == [(o.case["id"], "update")]
    finally:
        other.dispose()
