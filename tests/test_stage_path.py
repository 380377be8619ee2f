"""Stage rules with a standard path: one step forward at a time, back or skip only by the
override roles with a reason, exits from any stage, linked records a stage needs; every
reason in the reader's language."""

from __future__ import annotations

import pytest

from lowrise.actor import SYSTEM, Actor
from lowrise.errors import ValidationError
from lowrise.i18n import tr
from lowrise.rules.engine import rule_set
from test_rules_support import make_env, workspace

DEAL = {"schemas/deal.yaml": """
label: {en: Deal, zh: 交易}
fields:
  title: {type: text, required: true}
  stage:
    type: select
    label: {en: Stage, zh: 阶段}
    default: lead
    options:
      - {value: lead, label: {en: Lead, zh: 线索}}
      - {value: meet, label: {en: Meeting, zh: 会面}}
      - {value: offer, label: {en: Offer, zh: 报价}}
      - {value: won, label: {en: Won, zh: 成交}}
      - {value: lost, label: {en: Lost, zh: 流失}}
  why: {type: text, label: {en: Reason, zh: 原因}}
  meet_at: {type: datetime, label: {en: Meeting time, zh: 会面时间}}
  lost_reason: {type: text, label: {en: Reason lost, zh: 流失原因}}
""", "schemas/paper.yaml": """
fields:
  deal: {type: link, target: deal}
  status: {type: select, default: draft, options: [draft, signed]}
"""}

PATH = {"deal_path": """
record_type: deal
stages:
  field: stage
  path: [lead, meet, offer, won]
  exits: [lost]
  override: {roles: [boss], reason: why}
  required:
    meet: [meet_at]
    lost: [lost_reason]
  linked:
    won:
      - {type: paper, link: deal, where: {field: status, op: eq, value: signed},
         label: {en: A signed paper, zh: 已签署的文件}}
"""}

AGENT = Actor(user=1, roles=frozenset({"agent"}), locale="zh")
BOSS = Actor(user=2, roles=frozenset({"boss"}), locale="zh")


def test_one_step_forward_and_why_not_in_the_readers_language():
    rs = rule_set(workspace(PATH, DEAL))
    rec = {"id": 1, "stage": "lead", "meet_at": None, "why": None, "lost_reason": None}
    v = rs.check_move("deal", rec, {"stage": "meet"}, AGENT)
    assert not v and v.missing == ("meet_at",)
    assert "会面时间" in v.say("zh") and "Meeting time" in v.say("en")
    assert rs.check_move("deal", rec, {"stage": "meet", "meet_at": "2025-03-03T10:00"}, AGENT)
    # a skip: the agent is told the next step and who may skip
    v = rs.check_move("deal", rec, {"stage": "offer"}, AGENT)
    assert not v
    assert v.say("zh") == "每次只能前进一步：从 线索 只能转到 会面、流失；退回或跳过阶段需要 Boss"
    assert "one step at a time" in v.say("en") and "Meeting, Lost" in v.say("en")
    # the boss may skip, with a reason
    v = rs.check_move("deal", rec, {"stage": "offer"}, BOSS)
    assert not v and "原因" in v.say("zh")
    assert rs.check_move("deal", rec, {"stage": "offer", "why": "客户直接报价"}, BOSS)
    assert not rs.check_move("deal", rec, {"stage": "offer", "why": "   "}, BOSS)
    # back: only the boss, with a reason
    offer = {**rec, "stage": "offer"}
    assert not rs.check_move("deal", offer, {"stage": "meet", "meet_at": "x"}, AGENT)
    assert rs.check_move("deal", offer, {"stage": "meet", "meet_at": "x", "why": "重谈"}, BOSS)
    # lost from any stage, with its reason
    for stage in ("lead", "meet", "offer"):
        r = {**rec, "stage": stage}
        assert not rs.check_move("deal", r, {"stage": "lost"}, AGENT)
        assert rs.check_move("deal", r, {"stage": "lost", "lost_reason": "价格"}, AGENT)
    # reopening a lost deal is an override
    assert not rs.check_move("deal", {**rec, "stage": "lost"}, {"stage": "lead"}, AGENT)
    assert rs.check_move("deal", {**rec, "stage": "lost"}, {"stage": "lead", "why": "回来了"},
                         BOSS)
    # a new record starts at the first stage, unless the boss (or the system) says otherwise
    assert rs.check_move("deal", None, {"stage": "lead"}, AGENT)
    assert not rs.check_move("deal", None, {"stage": "offer"}, AGENT)
    assert rs.check_move("deal", None, {"stage": "offer"}, BOSS)
    # the system (a rule) may skip, but not leave out the required fields
    assert rs.check_move("deal", rec, {"stage": "offer"}, SYSTEM)
    assert not rs.check_move("deal", {**rec, "stage": "lead"}, {"stage": "meet"}, SYSTEM)


def test_linked_need_is_judged_when_asked():
    rs = rule_set(workspace(PATH, DEAL))
    offer = {"id": 1, "stage": "offer"}
    # without a way to look, the page does not judge it (the write does)
    assert rs.check_move("deal", offer, {"stage": "won"}, AGENT)
    v = rs.check_move("deal", offer, {"stage": "won"}, AGENT, linked=lambda need: False)
    assert not v and tr(v.reasons[0], "zh") == "转到 成交 前需要：已签署的文件"
    assert rs.check_move("deal", offer, {"stage": "won"}, AGENT, linked=lambda need: True)


def test_path_is_enforced_on_writes(engine):
    env = make_env(engine, PATH, extra=DEAL)
    agent = env.actor(user=1, roles=("agent",))
    boss = env.actor(user=2, roles=("boss",))
    d = env.records.create("deal", {"title": "D"}, agent)
    assert d["stage"] == "lead"
    with pytest.raises(ValidationError) as info:
        env.records.create("deal", {"title": "E", "stage": "won"}, agent)
    assert "starts at" in info.value.errors["stage"]
    with pytest.raises(ValidationError) as info:
        env.records.update("deal", d["id"], {"stage": "offer"}, agent)
    assert "one step at a time" in info.value.errors["stage"]
    assert "一步" in tr(info.value.errors["stage"], "zh")
    with pytest.raises(ValidationError) as info:
        env.records.update("deal", d["id"], {"stage": "meet"}, agent)
    assert tr(info.value.errors["meet_at"], "zh") == "进入该阶段前必须填写"
    d = env.records.update("deal", d["id"], {"stage": "meet", "meet_at": "2025-03-03T10:00"},
                           agent)
    d = env.records.update("deal", d["id"], {"stage": "offer"}, agent)
    # won needs a signed paper of this deal: a draft, or another deal's signed paper, is not it
    other = env.records.create("deal", {"title": "F"}, agent)
    env.records.create("paper", {"deal": other["id"], "status": "signed"}, agent)
    paper = env.records.create("paper", {"deal": d["id"]}, agent)
    with pytest.raises(ValidationError) as info:
        env.records.update("deal", d["id"], {"stage": "won"}, agent)
    assert "A signed paper" in info.value.errors["stage"]
    env.records.update("paper", paper["id"], {"status": "signed"}, agent)
    d = env.records.update("deal", d["id"], {"stage": "won"}, agent)
    assert d["stage"] == "won"
    # back to offer: the boss, with a reason
    with pytest.raises(ValidationError):
        env.records.update("deal", d["id"], {"stage": "offer"}, agent)
    with pytest.raises(ValidationError):
        env.records.update("deal", d["id"], {"stage": "offer"}, boss)
    d = env.records.update("deal", d["id"], {"stage": "offer", "why": "合同作废"}, boss)
    assert (d["stage"], d["why"]) == ("offer", "合同作废")


def test_bad_path_settings_are_reported():
    from lowrise.errors import LowriseError
    from lowrise.rules.parse import parse_rules
    from lowrise.workspace import load_workspace_from_texts
    from test_rules_support import BASE

    bad = {"deal_path": """
record_type: deal
stages:
  field: stage
  path: [lead, nope]
  override: {roles: [king], reason: nofield, extra: 1}
  linked:
    won: [{type: paper, link: status}]
"""}
    files = {**BASE, **DEAL, **{f"automations/{k}.yaml": v for k, v in bad.items()}}
    with pytest.raises(LowriseError) as info:
        parse_rules(load_workspace_from_texts(files))
    text = str(info.value)
    for word in ("'nope' is not an option", "'king' is not a role", "'nofield' is not a field",
                 "'extra' is not a setting", "is not a link to deal"):
        assert word in text, text
