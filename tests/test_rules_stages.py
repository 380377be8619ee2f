"""Stage rules: transitions, roles per transition, fields required before a stage; enforced on
writes and asked by the kanban board and the form through RuleSet.check_move."""

from __future__ import annotations

import pytest

from lowrise.actor import SYSTEM, Actor
from lowrise.errors import ValidationError
from lowrise.rules.engine import rule_set
from test_rules_support import make_env, workspace

FLOW = {"flow": """
record_type: ticket
stages:
  field: status
  transitions:
    new: [open]
    open: [waiting, done]
    waiting: [open]
  roles:
    "open -> done": [boss]
    waiting: [agent, boss]
  required:
    waiting: [owner]
    done: [answered_at]
"""}


def test_check_move_says_why():
    rs = rule_set(workspace(FLOW))
    agent = Actor(user=1, roles=frozenset({"agent"}))
    boss = Actor(user=2, roles=frozenset({"boss"}))
    rec = {"id": 1, "status": "new", "owner": None, "answered_at": None}
    assert rs.check_move("ticket", rec, {"status": "open"}, agent)
    v = rs.check_move("ticket", rec, {"status": "done"}, boss)
    assert not v and "cannot go from New to Done (from there: Open)" in v.message
    rec["status"] = "open"
    v = rs.check_move("ticket", rec, {"status": "done"}, agent)
    assert not v.allowed and "only Boss may move" in v.message  # the role by its label
    assert v.missing == ("answered_at",)
    assert rs.check_move("ticket", rec, {"status": "done", "answered_at": "2025-03-03"}, boss)
    v = rs.check_move("ticket", rec, {"status": "waiting"}, agent)
    assert v.missing == ("owner",)
    assert rs.check_move("ticket", rec, {"status": "waiting", "owner": 5}, agent)
    # the system (rules, the worker) is not held to roles, but to transitions and fields
    assert rs.check_move("ticket", rec, {"status": "done", "answered_at": "x"}, SYSTEM)
    assert not rs.check_move("ticket", {**rec, "status": "new"}, {"status": "done",
                                                                  "answered_at": "x"}, SYSTEM)
    assert rs.check_move("ticket", rec, {"title": "only the title"}, agent)


def test_stage_rules_are_enforced_on_writes(engine):
    env = make_env(engine, FLOW)
    agent = env.actor(roles=("agent",))
    t = env.records.create("ticket", {"title": "T"}, agent)
    with pytest.raises(ValidationError) as info:
        env.records.update("ticket", t["id"], {"status": "done"}, agent)
    assert "cannot go from New to Done" in info.value.errors["status"]
    t = env.records.update("ticket", t["id"], {"status": "open"}, agent)
    with pytest.raises(ValidationError) as info:
        env.records.update("ticket", t["id"], {"status": "done"}, agent)
    assert info.value.errors["answered_at"] == "is required for this stage"
    assert env.get("ticket", t["id"])["status"] == "open"
    boss = env.actor(roles=("boss",))
    env.records.update("ticket", t["id"], {"status": "done", "answered_at": "2025-03-03T10:00"},
                       boss)
    assert env.get("ticket", t["id"])["status"] == "done"
