"""The rules engine inside the write's transaction: each trigger kind, each action, all or
nothing, no self re-trigger, the chain depth limit. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from lowrise.errors import ValidationError
from lowrise.rules import history
from lowrise.rules.context import Blocked, RuleFailed
from lowrise.rules.inbox import Inbox
from lowrise.rules.tester import dry_run, run_manual
from test_rules_support import BASE, T0, make_env, staff


def test_created_updated_and_field_changed_triggers(engine):
    env = make_env(engine, {
        "on_create": """
record_type: ticket
trigger: {kind: created}
actions:
  - set_fields: {note: {expr: "concat('new: ', title)"}, requested_at: {expr: "now()"}}
""",
        "on_priority": """
record_type: ticket
trigger: {kind: updated, fields: [priority]}
actions:
  - set_fields: {count: {expr: "coalesce(count, 0) + 1"}}
""",
        "on_open": """
record_type: ticket
trigger: {kind: field_changed, field: status, from: new, to: [open, waiting]}
actions:
  - set_fields: {x: 1}
""",
    })
    t = env.create("ticket", title="Leak")
    assert t["note"] == "new: Leak" and t["requested_at"] == T0
    assert env.get("ticket", t["id"])["version"] == t["version"] == 2  # the caller sees it all
    t = env.update("ticket", t["id"], title="Leak 2")
    assert t["count"] is None and t["x"] is None
    t = env.update("ticket", t["id"], priority="high")
    assert t["count"] == 1
    t = env.update("ticket", t["id"], status="done")  # not from new to open/waiting... well
    assert t["x"] is None
    t2 = env.create("ticket", title="Door")
    t2 = env.update("ticket", t2["id"], status="waiting")
    assert t2["x"] == 1
    runs = env.rows("lr_rule_runs", rule="on_open")
    assert [r["status"] for r in runs] == ["ok"] and runs[0]["conditions"] is True
    assert runs[0]["actions"][0]["result"] == "set x = 1"
    assert runs[0]["trigger"] == "field_changed" and runs[0]["record_id"] == t2["id"]


def test_conditions_with_change_tests_and_matches(engine):
    env = make_env(engine, {
        "escalate": """
record_type: ticket
trigger: {kind: updated}
conditions:
  all:
    - {field: priority, op: eq, value: high}
    - {field: status, changed: true}
    - {field: status, to: waiting}
actions:
  - set_fields: {note: escalated}
""",
        "became_urgent": """
record_type: ticket
trigger: {kind: matches}
conditions:
  all:
    - {field: priority, op: eq, value: high}
    - {field: status, op: ne, value: done}
actions:
  - set_fields: {count: {expr: "coalesce(count, 0) + 1"}}
""",
    })
    t = env.create("ticket", title="A")
    assert t["count"] is None
    t = env.update("ticket", t["id"], priority="high")
    assert t["count"] == 1
    t = env.update("ticket", t["id"], title="A!")  # still matches: does not fire again
    assert t["count"] == 1 and t["note"] is None
    t = env.update("ticket", t["id"], status="waiting")
    assert t["note"] == "escalated" and t["count"] == 1
    t = env.update("ticket", t["id"], status="done")
    t = env.update("ticket", t["id"], status="open")  # starts to match again
    assert t["count"] == 2
    skipped = env.rows("lr_rule_runs", rule="escalate", status="skipped")
    assert skipped and all(r["conditions"] is False for r in skipped)


def test_deleted_trigger_create_record_and_update_linked(engine):
    env = make_env(engine, {
        "take_item": """
record_type: ticket
trigger: {kind: field_changed, field: status, to: open}
actions:
  - update_linked: {link: item, values: {state: taken}}
  - create_record:
      type: log
      values: {ticket: {expr: "id"}, text: {expr: "concat('opened ', title)"}}
""",
        "log_closed": """
record_type: item
trigger: {kind: field_changed, field: state, to: gone}
actions:
  - update_linked:
      related: {type: ticket, field: item}
      where: {field: status, op: ne, value: done}
      values: {status: done}
""",
        "on_delete": """
record_type: ticket
trigger: {kind: deleted}
actions:
  - create_record: {type: log, values: {text: {expr: "concat('deleted ', title)"}}}
""",
    })
    item = env.create("item", name="Ladder")
    t1 = env.create("ticket", title="T1", item=item["id"])
    t2 = env.create("ticket", title="T2", item=item["id"])
    env.update("ticket", t1["id"], status="open")
    assert env.get("item", item["id"])["state"] == "taken"
    logs = env.rows("lr_audit", record_type="log")
    assert len(logs) == 1
    env.update("item", item["id"], state="gone")
    assert env.get("ticket", t1["id"])["status"] == "done"
    assert env.get("ticket", t2["id"])["status"] == "done"
    env.records.delete("ticket", t2["id"], env.actor())
    with engine.connect() as conn:
        texts = sorted(conn.execute(sa.text("SELECT text FROM log")).scalars())
    assert texts == ["deleted T2", "opened T1"]


def test_assign_round_robin_and_least_loaded_skip_inactive(engine):
    env = make_env(engine, {
        "rr": """
record_type: ticket
trigger: {kind: created}
conditions: {field: priority, op: eq, value: low}
actions:
  - assign:
      field: owner
      among: {all: [{field: role, op: eq, value: agent}, {field: active, op: eq, value: true}]}
""",
        "ll": """
record_type: ticket
trigger: {kind: created}
conditions: {field: priority, op: eq, value: high}
actions:
  - assign:
      field: owner
      strategy: least_loaded
      among: {all: [{field: role, op: eq, value: agent}, {field: active, op: eq, value: true}]}
      load: {field: status, op: ne, value: done}
""",
    })
    p = staff(env)
    owners = [env.create("ticket", title=f"t{i}")["owner"] for i in range(5)]
    assert owners == [p["ann"], p["cy"], p["ann"], p["cy"], p["ann"]]
    given = env.create("ticket", title="mine", owner=p["bob"])
    assert given["owner"] == p["bob"]  # already assigned: left alone
    # ann has 3 open, cy 2: least loaded picks cy, then they tie at 3 (lowest id after the last)
    assert env.create("ticket", title="h1", priority="high")["owner"] == p["cy"]
    # close two of ann's: she has the fewest open now
    for t in env.rows("lr_audit", record_type="ticket", action="create")[:3:2]:
        env.update("ticket", t["record_id"], status="done")
    assert env.create("ticket", title="h2", priority="high")["owner"] == p["ann"]


def test_notify_inbox_and_email_outbox(engine):
    env = make_env(engine, {
        "tell": """
record_type: ticket
trigger: {kind: field_changed, field: status, to: waiting}
actions:
  - notify:
      to: [owner, owner.manager, {users: {field: role, op: eq, value: boss}}]
      title: "{{ title }} waits ({{ shown.priority }})"
      body: "Ticket {{ record.title }} went from {{ before.status }} to {{ record.status }}"
      email: true
""",
    })
    p = staff(env)
    t = env.create("ticket", title="Roof", owner=p["ann"], priority="high")
    env.update("ticket", t["id"], status="waiting")
    notes = env.rows("lr_notifications")
    assert sorted(n["user_id"] for n in notes) == sorted([p["ann"], p["boss"]])  # no repeats
    assert notes[0]["title"] == "Roof waits (High)"
    assert notes[0]["body"] == "Ticket Roof went from new to waiting"
    mails = env.rows("lr_outbox", kind="email")
    assert sorted(m["target"] for m in mails) == ["ann@example.com", "boss@example.com"]
    assert all(m["status"] == "pending" and len(m["key"]) == 32 for m in mails)
    inbox = Inbox(engine, env.tables)
    assert inbox.unread_count(p["ann"]) == 1
    assert inbox.list(p["ann"])[0]["title"] == "Roof waits (High)"
    assert inbox.mark_read(p["ann"]) == 1
    assert inbox.unread_count(p["ann"]) == 0 and inbox.unread_count(p["boss"]) == 1


def test_comment_and_block(engine):
    env = make_env(engine, {
        "no_done_without_answer": """
record_type: ticket
trigger: {kind: field_changed, field: status, to: done}
conditions: {field: answered_at, op: is_empty}
actions:
  - comment: "tried to close {{ title }}"
  - block:
      field: status
      message: "answer {{ record.title }} before closing it"
""",
        "note_it": """
record_type: ticket
trigger: {kind: field_changed, field: status, to: open}
actions:
  - comment: "{{ actor }} opened it"
""",
    })
    t = env.create("ticket", title="Gate")
    with pytest.raises(Blocked) as info:
        env.update("ticket", t["id"], status="done", note="closing")
    assert info.value.errors == {"status": "answer Gate before closing it"}
    fresh = env.get("ticket", t["id"])
    assert fresh["status"] == "new" and fresh["note"] is None and fresh["version"] == 1
    assert env.rows("lr_comments") == []  # the comment went with the refused write
    env.update("ticket", t["id"], status="open")
    assert [c["body"] for c in env.rows("lr_comments")] == ["tester opened it"]
    env.update("ticket", t["id"], status="done", answered_at=T0)
    assert env.get("ticket", t["id"])["status"] == "done"
    env.rules.flush_failed_runs(engine, env.tables)
    blocked = env.rows("lr_rule_runs", status="blocked")
    assert len(blocked) == 1 and "answer Gate" in blocked[0]["error"]


def test_a_failing_action_rolls_the_whole_write_back(engine):
    env = make_env(engine, {
        "good": """
record_type: ticket
trigger: {kind: created}
actions:
  - create_record: {type: log, values: {text: created}}
""",
        "zbad": """
record_type: ticket
trigger: {kind: created}
actions:
  - set_fields: {note: ok}
  - set_fields: {x: {expr: "title + 1"}}
""",
    })
    with pytest.raises(RuleFailed) as info:
        env.create("ticket", title="Boom")
    assert "zbad" in str(info.value)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ticket")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM log")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM lr_audit")).scalar() == 0
    assert env.rows("lr_rule_runs") == []
    assert env.rules.flush_failed_runs(engine, env.tables) == 1
    failed = history.runs(engine, env.tables, rule="zbad", failed_only=True)
    assert len(failed) == 1 and failed[0]["status"] == "failed"
    assert failed[0]["actions"][0]["result"] == "set note = ok"


def test_no_self_retrigger_and_the_chain_depth_limit(engine):
    env = make_env(engine, {
        "self": """
record_type: ticket
trigger: {kind: updated}
actions:
  - set_fields: {count: {expr: "coalesce(count, 0) + 1"}}
""",
        "ping": """
record_type: ticket
trigger: {kind: updated, fields: [x]}
actions:
  - set_fields: {y: {expr: "coalesce(y, 0) + 1"}}
""",
        "pong": """
record_type: ticket
trigger: {kind: updated, fields: [y]}
actions:
  - set_fields: {x: {expr: "coalesce(x, 0) + 1"}, priority: high}
""",
        "third": """
record_type: ticket
trigger: {kind: updated, fields: [priority]}
actions:
  - set_fields: {note: reached}
""",
    }, max_depth=2)
    t = env.create("ticket", title="Loop")
    t = env.update("ticket", t["id"], title="Loop!")
    assert t["count"] == 1  # its own write did not trigger it again
    t = env.update("ticket", t["id"], x=10)
    # x=10 → ping (y=1) → pong (x=11): ping is in the chain already, so the loop ends there;
    # pong's priority change would start a third rule: the chain limit (2) stops it, logged
    got = env.get("ticket", t["id"])
    assert (got["y"], got["x"], got["priority"], got["note"]) == (1, 11, "high", None)
    limited = {r["rule"]: r for r in env.rows("lr_rule_runs", status="depth_limit")}
    assert set(limited) == {"third", "self"}  # self would have been the third in line too
    assert "ping → pong" in limited["third"]["error"]
    assert "limit of 2" in limited["third"]["error"]


def test_manual_button_and_dry_run(engine):
    env = make_env(engine, {
        "reopen": """
record_type: ticket
trigger: {kind: manual, label: Reopen}
conditions: {field: status, op: eq, value: done}
actions:
  - set_fields: {status: open, note: reopened}
""",
        "bump": """
record_type: ticket
trigger: {kind: field_changed, field: status, to: open}
actions:
  - set_fields: {count: 1}
""",
    })
    t = env.create("ticket", title="Fan", status="done")
    report = dry_run(env.records, "reopen", t["id"], at=T0)
    assert report.conditions is True and report.outcome == "ok"
    assert report.actions[0]["result"] == "set status = open, note = reopened"
    assert [c["rule"] for c in report.chained] == ["bump"]
    assert any("Nothing was changed" in line for line in report.lines())
    assert env.get("ticket", t["id"])["status"] == "done"  # rolled back
    assert env.rows("lr_rule_runs", rule="reopen") == []
    run_manual(env.records, "reopen", "ticket", t["id"], env.actor())
    got = env.get("ticket", t["id"])
    assert got["status"] == "open" and got["count"] == 1
    with pytest.raises(ValidationError):  # conditions no longer hold
        run_manual(env.records, "reopen", "ticket", t["id"], env.actor())
    assert env.rows("lr_rule_runs", rule="reopen")[-1]["trigger"] == "manual"


def test_schedule_runs_once_per_slot(engine):
    env = make_env(engine, {
        "daily": """
record_type: ticket
trigger: {kind: schedule, cron: "0 8 * * *"}
conditions: {field: status, op: ne, value: done}
actions:
  - set_fields: {count: {expr: "coalesce(count, 0) + 1"}}
""",
    })
    a = env.create("ticket", title="A")
    b = env.create("ticket", title="B", status="done")
    w = env.worker()
    assert w.run_schedules() == 0  # first sight: remembers the next slot (08:00 tomorrow)
    env.advance(hours=23)
    assert w.run_schedules() == 1 and env.worker().run_schedules() == 0
    assert env.get("ticket", a["id"])["count"] == 1 and env.get("ticket", b["id"])["count"] is None
    env.advance(hours=1)
    assert w.run_schedules() == 0
    env.advance(hours=23)
    assert w.run_schedules() == 1
    assert env.get("ticket", a["id"])["count"] == 2


def test_max_depth_comes_from_workspace_yaml(engine):
    from test_rules_support import BASE

    ws_yaml = BASE["workspace.yaml"] + "automations: {max_depth: 1}\n"
    env = make_env(engine, {
        "first": """
record_type: ticket
trigger: {kind: updated, fields: [x]}
actions:
  - set_fields: {y: 1}
""",
        "second": """
record_type: ticket
trigger: {kind: updated, fields: [y]}
actions:
  - set_fields: {note: second}
""",
    }, extra={"workspace.yaml": ws_yaml})
    assert env.rules.max_depth == 1
    t = env.create("ticket", title="D")
    env.update("ticket", t["id"], x=1)
    got = env.get("ticket", t["id"])
    assert got["y"] == 1 and got["note"] is None
    assert [r["rule"] for r in env.rows("lr_rule_runs", status="depth_limit")] == ["second"]


def test_today_in_an_action_is_the_day_in_the_workspace_time_zone(engine):
    # 20:00 UTC on 3 March is 04:00 on 4 March in Shanghai: the office's today() is the 4th,
    # as formulas and the relative dates of filters count it.
    shanghai = BASE["workspace.yaml"].replace("timezone: UTC", "timezone: Asia/Shanghai")
    env = make_env(engine, {"stamp": """
record_type: ticket
trigger: {kind: created}
actions:
  - set_fields: {due_on: {expr: "today()"}}
"""}, extra={"workspace.yaml": shanghai})
    env.now = datetime(2025, 3, 3, 20, 0, tzinfo=UTC)
    assert env.create("ticket", title="Late")["due_on"] == date(2025, 3, 4)
    env.now = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai: still the 3rd
    assert env.create("ticket", title="Early")["due_on"] == date(2025, 3, 3)
