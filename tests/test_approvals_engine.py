"""Approval chains: every step kind and every approver action, on SQLite and PostgreSQL,
through the engine (lowrise.approvals) with the rules engine installed as the app does."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa

from lowrise.actor import Actor
from lowrise.approvals import queue as q
from lowrise.approvals.engine import ApprovalError, install
from lowrise.errors import NotFound, ValidationError
from lowrise.i18n import tr
from lowrise.rules.engine import install as install_rules
from lowrise.storage import migrate as mig
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts
from lowrise.workspace.loader import WorkspaceError
from test_rules_support import T0, Env

WS = ("label: Office\ndefault_locale: en\nlocales: [en, zh]\ntimezone: UTC\nusers: person\n"
      "teams: {manager: manager}\nroles:\n"
      "  agent: {label: Agent, permissions: {deal: {can: [read, create, update]}, "
      "person: {can: [read]}}}\n"
      "  legal: {label: Legal, permissions: {deal: {can: [read]}, person: {can: [read]}}}\n"
      "  admin: {label: Admin, admin: true}\n")
PERSON = """
fields:
  name: {type: text, required: true}
  email: {type: email}
  manager: {type: link, target: person}
"""
DEAL = """
fields:
  title: {type: text, required: true}
  status:
    type: select
    default: draft
    options: [draft, in_review, approved, signed]
  text:
    type: select
    default: standard
    options: [standard, custom]
  discount: {type: decimal}
  amount: {type: integer}
  reviewer: {type: user}
  approved_by_rule: {type: text}
"""
REVIEW = """
record_type: deal
label: {en: Deal review, zh: 合同审批}
start:
  when: {field: status, to: in_review}
  button: {en: Submit, zh: 提交审批}
lock: [amount, discount, text]
steps:
  - name: manager
    kind: manager
    levels: %(levels)s
  - name: custom
    kind: all
    when: "text == 'custom'"
    approvers: [{role: legal}, {field: reviewer}]
  - name: discount
    kind: any
    when: "discount > 3"
    approvers: [{person: boss@example.com}, {person: Big}]
    timeout: {after: 2d, escalate_to: {role: admin}}
on_approved: {set: {status: approved}}
on_refused: {set: {status: draft}}
"""
RULES = {
    "on_approved": "record_type: deal\ntrigger: {kind: approved, approval: review}\n"
                   "actions:\n  - set_fields: {approved_by_rule: \"yes\"}\n",
    "on_refused": "record_type: deal\ntrigger: {kind: refused}\n"
                  "actions:\n  - set_fields: {approved_by_rule: refused}\n",
}


def files(levels: int = 1, review: str = REVIEW) -> dict[str, str]:
    return {"workspace.yaml": WS, "schemas/person.yaml": PERSON, "schemas/deal.yaml": DEAL,
            "approvals/review.yaml": review % {"levels": levels}}


def make(engine, levels: int = 1, review: str = REVIEW) -> Env:
    f = files(levels, review)
    f.update({f"automations/{k}.yaml": v for k, v in RULES.items()})
    schema = build_schema(load_workspace_from_texts(f))
    with engine.connect() as conn:
        plan = mig.plan(conn, schema)
    mig.apply(engine, plan)
    records = Records(engine, schema)
    env = Env(engine, records, install_rules(records))
    env.actor = lambda *a, **k: Actor(name="setup", system=True, clock=env.clock)
    big = env.create("person", name="Big", email="big@example.com")["id"]
    boss = env.create("person", name="Boss", email="boss@example.com", manager=big)["id"]
    ann = env.create("person", name="Ann", email="ann@example.com", manager=boss)["id"]
    lee = env.create("person", name="Lee", email="lee@example.com")["id"]
    env.people = {"big": big, "boss": boss, "ann": ann, "lee": lee}
    return env


def who(env: Env, name: str, *roles: str) -> Actor:
    return Actor(user=env.people.get(name), name=name, roles=frozenset(roles or ("agent",)),
                 clock=env.clock)


def ap(env: Env):
    return install(env.records)


def submit(env: Env, **values) -> int:
    ann = who(env, "ann")
    rid = env.records.create("deal", {"title": "D1", **values}, ann)["id"]
    env.records.update("deal", rid, {"status": "in_review"}, ann)
    return rid


def pending(env: Env, rid: int) -> list[dict]:
    return [t for t in env.rows("lr_approval_tasks", record_id=rid) if t["status"] == "pending"]


def task_of(env: Env, rid: int, actor: Actor) -> int:
    (t,) = [t for t in pending(env, rid) if ap(env).may_decide(t, actor)]
    return t["id"]


def decide(env: Env, rid: int, actor: Actor, decision: str = "approve", **kw):
    return ap(env).act(task_of(env, rid, actor), actor, decision, **kw)


def test_standard_text_goes_to_the_requesters_manager(engine):
    env = make(engine)
    rid = submit(env)
    (task,) = pending(env, rid)
    assert task["assignee"] == env.people["boss"]
    assert q.count(env.records, who(env, "boss")) == 1
    assert q.count(env.records, who(env, "lee")) == 0
    decide(env, rid, who(env, "boss"), comment="fine")
    deal = env.get("deal", rid)
    assert deal["status"] == "approved" and deal["approved_by_rule"] == "yes"
    events = [e["event"] for e in env.rows("lr_approval_trail", record_id=rid)]
    assert events == ["started", "approve", "approved"]
    audit = [r for r in env.rows("lr_audit", record_id=rid) if r["action"] == "approval"]
    assert [e for e in audit if '"comment": "fine"' in e["note"]]


def test_manager_chain_up_to_a_level(engine):
    env = make(engine, levels=2)
    rid = submit(env)
    assert pending(env, rid)[0]["assignee"] == env.people["boss"]
    decide(env, rid, who(env, "boss"))
    (task,) = pending(env, rid)
    assert task["assignee"] == env.people["big"]
    decide(env, rid, who(env, "big"))
    assert env.get("deal", rid)["status"] == "approved"


def test_custom_text_needs_every_approver_countersign(engine):
    env = make(engine)
    rid = submit(env, text="custom", reviewer=None)
    env.records.update("deal", rid, {}, who(env, "ann"))
    decide(env, rid, who(env, "boss"))
    # all: legal (a role) and the reviewer field (empty: the administrators stand in)
    tasks = pending(env, rid)
    assert {t["role"] for t in tasks} == {"legal"}
    env2_rid = submit(env, text="custom", reviewer=env.people["lee"])
    decide(env, env2_rid, who(env, "boss"))
    assert {(t["role"], t["assignee"]) for t in pending(env, env2_rid)} == {
        ("legal", None), (None, env.people["lee"])}
    decide(env, env2_rid, who(env, "lee"))
    assert env.get("deal", env2_rid)["status"] == "in_review"  # legal has not signed
    decide(env, env2_rid, who(env, "lee2", "legal"))
    assert env.get("deal", env2_rid)["status"] == "approved"


def test_any_one_of_them_decides_and_fixed_people(engine):
    env = make(engine)
    rid = submit(env, discount=5)
    decide(env, rid, who(env, "boss"))
    assert {t["assignee"] for t in pending(env, rid)} == {env.people["boss"], env.people["big"]}
    decide(env, rid, who(env, "big"))
    assert pending(env, rid) == []
    assert env.get("deal", rid)["status"] == "approved"


def test_refuse_with_comment_ends_it_and_rules_react(engine):
    env = make(engine)
    rid = submit(env)
    decide(env, rid, who(env, "boss"), "refuse", comment="price too low")
    deal = env.get("deal", rid)
    assert deal["status"] == "draft" and deal["approved_by_rule"] == "refused"
    trail = env.rows("lr_approval_trail", record_id=rid)
    assert ("refuse", "price too low") in [(e["event"], e["comment"]) for e in trail]
    # the requester is told
    notes = env.rows("lr_notifications", user_id=env.people["ann"])
    assert any("Refused" in n["title"] for n in notes)


def test_send_back_needs_a_reason_and_goes_to_requester_or_earlier_step(engine):
    env = make(engine)
    rid = submit(env, discount=5)
    boss = who(env, "boss")
    with pytest.raises(ApprovalError):
        decide(env, rid, boss, "send_back")
    decide(env, rid, boss)
    big = who(env, "big")
    decide(env, rid, big, "send_back", comment="check with manager", to_step=0)
    (task,) = pending(env, rid)
    assert task["assignee"] == env.people["boss"] and task["step"] == 0
    decide(env, rid, boss, "send_back", comment="fix the amount")
    assert pending(env, rid) == []
    assert env.rows("lr_approvals", record_id=rid)[-1]["status"] == "returned"
    # unlocked: the requester changes the terms and submits again (a new round)
    ann = who(env, "ann")
    env.records.update("deal", rid, {"amount": 90, "status": "draft"}, ann)
    env.records.update("deal", rid, {"status": "in_review"}, ann)
    rows = q.rounds(env.records, "deal", rid)
    assert rows[0]["round"] == 2 and rows[0]["status"] == "running"
    assert q.changes_since_last_round(rows) == {"amount": (None, 90)}


def test_add_an_approver_and_delegate(engine):
    env = make(engine)
    rid = submit(env)
    boss = who(env, "boss")
    decide(env, rid, boss, "add", person=env.people["lee"], comment="please check too")
    decide(env, rid, boss)  # boss approved; the added approver still has to
    assert env.get("deal", rid)["status"] == "in_review"
    lee = who(env, "lee")
    lees = task_of(env, rid, lee)
    decide(env, rid, lee, "delegate", person=env.people["big"])
    assert [t["assignee"] for t in pending(env, rid)] == [env.people["big"]]
    with pytest.raises(ApprovalError, match="decided already"):
        ap(env).act(lees, lee, "approve")
    with pytest.raises(NotFound):  # nobody else decides another's task
        ap(env).act(task_of(env, rid, who(env, "big")), lee, "approve")
    decide(env, rid, who(env, "big"))
    assert env.get("deal", rid)["status"] == "approved"
    events = [e["event"] for e in env.rows("lr_approval_trail", record_id=rid)]
    assert events == ["started", "add", "approve", "delegate", "approve", "approved"]


def test_nobody_approves_their_own_request(engine):
    env = make(engine)
    boss = who(env, "boss")
    rid = env.records.create("deal", {"title": "mine"}, boss)["id"]
    env.records.update("deal", rid, {"status": "in_review"}, boss)
    (task,) = pending(env, rid)
    assert task["assignee"] == env.people["big"]  # not the requester: their manager
    with pytest.raises(ApprovalError):
        decide(env, rid, who(env, "big"), "delegate", person=env.people["boss"])
    # a role task the requester holds is still not theirs to decide
    rid2 = submit(env, text="custom", reviewer=env.people["lee"])
    decide(env, rid2, who(env, "boss"))
    legal_task = [t for t in pending(env, rid2) if t["role"] == "legal"][0]
    with pytest.raises(ApprovalError, match="own request"):
        ap(env).act(legal_task["id"], who(env, "ann", "legal"), "approve")
    assert q.count(env.records, who(env, "ann", "legal")) == 0


def test_locked_fields_refused_during_and_restart_after_approval(engine):
    env = make(engine)
    rid = submit(env, amount=100)
    ann = who(env, "ann")
    with pytest.raises(ValidationError) as exc:
        env.records.update("deal", rid, {"amount": 120}, ann)
    assert "in approval" in str(exc.value.errors["amount"])
    with pytest.raises(ValidationError) as exc:  # in the writer's language
        env.records.update("deal", rid, {"amount": 120}, replace(ann, locale="zh"))
    assert tr(exc.value.errors["amount"], "zh").startswith("审批中（合同审批）的记录不能修改")
    assert env.get("deal", rid)["amount"] == 100
    env.records.update("deal", rid, {"title": "renamed"}, ann)  # not locked
    decide(env, rid, who(env, "boss"))
    assert env.get("deal", rid)["status"] == "approved"
    env.records.update("deal", rid, {"amount": 150}, ann)
    rows = q.rounds(env.records, "deal", rid)
    assert [r["status"] for r in rows] == ["running", "restarted"]
    # what changed since the round before: the locked terms (not what the rules wrote on
    # approval, nor a free field changed meanwhile)
    assert q.changes_since_last_round(rows) == {"amount": (100, 150)}
    assert pending(env, rid)[0]["assignee"] == env.people["boss"]


def test_timeout_escalates_through_the_worker(engine):
    env = make(engine)
    rid = submit(env, discount=5)
    decide(env, rid, who(env, "boss"))
    env.advance(days=1)
    assert env.worker().run_once()["approvals"] == 0
    env.advance(days=1, minutes=1)
    assert env.worker().run_once()["approvals"] == 1
    (task,) = pending(env, rid)
    assert task["role"] == "admin"
    assert "escalated" in [e["event"] for e in env.rows("lr_approval_trail", record_id=rid)]
    decide(env, rid, who(env, "root", "admin"))
    assert env.get("deal", rid)["status"] == "approved"


def test_button_start_and_who_may_press_it(engine):
    env = make(engine)
    rid = env.records.create("deal", {"title": "B"}, who(env, "ann"))["id"]
    aid = ap(env).start("review", rid, who(env, "ann"), button=True)
    assert env.rows("lr_approvals", id=aid)[0]["status"] == "running"
    with pytest.raises(ApprovalError):
        ap(env).start("review", rid, who(env, "ann"), button=True)


def test_expression_start_starts_when_it_begins_to_hold(engine):
    review = REVIEW.replace("when: {field: status, to: in_review}", 'when: "discount > 3"')
    env = make(engine, review=review)
    ann = who(env, "ann")
    rid = env.records.create("deal", {"title": "E", "discount": 1}, ann)["id"]
    assert env.rows("lr_approvals", record_id=rid) == []
    with pytest.raises(ValidationError):  # the discount is locked once it starts
        env.records.update("deal", rid, {"discount": 5}, ann)
        env.records.update("deal", rid, {"discount": 6}, ann)
    env.records.update("deal", rid, {"discount": 5}, ann)
    assert len(env.rows("lr_approvals", record_id=rid)) == 1


def test_queue_lists_only_my_tasks_with_their_step(engine):
    env = make(engine)
    for _ in range(3):
        submit(env)
    rows = q.queue(env.records, who(env, "boss"))
    assert len(rows) == 3 and rows[0]["step_label"].get("en") == "Manager"
    assert q.queue(env.records, who(env, "big")) == []


@pytest.mark.parametrize("bad, said", [
    ("lokc: [amount]\n", "did you mean 'lock'"),
    ("lock: [amout]\n", "did you mean 'amount'"),
])
def test_check_reports_unknown_keys_and_names(bad, said):
    text = REVIEW % {"levels": 1} + bad
    if bad.startswith("lock"):
        text = text.replace("lock: [amount, discount, text]\n", "")
    f = files()
    f["approvals/review.yaml"] = text
    with pytest.raises(WorkspaceError) as exc:
        load_workspace_from_texts(f)
    assert said in str(exc.value)


def test_check_reports_a_step_kind_setting_out_of_place():
    f = files()
    f["approvals/review.yaml"] = f["approvals/review.yaml"].replace(
        "kind: manager\n    levels: 1", "kind: role\n    levels: 1")
    with pytest.raises(WorkspaceError) as exc:
        load_workspace_from_texts(f)
    assert "a role step needs 'role'" in str(exc.value)
    assert "does not take 'levels'" in str(exc.value)


def test_tables_exist_with_the_others(engine):
    env = make(engine)
    names = set(sa.inspect(env.engine).get_table_names())
    assert {"lr_approvals", "lr_approval_tasks", "lr_approval_trail"} <= names
    assert T0 == env.now


FIELD_STEP = """
record_type: deal
start:
  button: {en: Ask, zh: 申请}
  roles: [legal]
steps:
  - kind: field
    field: reviewer
"""


def test_a_field_step_and_who_may_press_the_button(engine):
    env = make(engine, review=FIELD_STEP.replace("%", "%%"))
    ann = who(env, "ann")
    rid = env.records.create("deal", {"title": "F", "reviewer": env.people["lee"]}, ann)["id"]
    from lowrise.errors import Forbidden

    with pytest.raises(Forbidden):  # start.roles: only legal presses it
        ap(env).start("review", rid, ann, button=True)
    ap(env).start("review", rid, who(env, "ann", "agent", "legal"), button=True)
    (task,) = pending(env, rid)
    assert task["assignee"] == env.people["lee"]


def test_a_disabled_approval_never_starts(engine):
    env = make(engine, review=REVIEW + "enabled: false\n")
    rid = submit(env)
    assert env.rows("lr_approvals", record_id=rid) == []
