"""Stage time limits (a time rule's `deadline:`): the flagship's cases show the limit of their
stage (a lead followed up within 2 days, negotiation stalled after 14) and of a requested
viewing (arranged within 24 hours), due or overdue, read from the rules that escalate them;
the limit stays shown after the rule flagged the case, and goes when the viewing is
arranged or the case moves on. Both databases; `lowrise check` refuses a deadline on a rule
that has no time limit from a field."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from lowrise.i18n import tr
from lowrise.rules.engine import RuleSet
from lowrise.rules.parse import rule_problems
from lowrise.workspace import load_workspace
from lowrise.workspace.model import Rule as RuleConfig
from test_approvals_flagship import NOW, ROOT, SYSTEM, Office


@pytest.fixture
def office(engine):
    return Office(engine)


def _limits(office: Office, rid: int, hours_later: float = 0):
    rules = RuleSet.of(office.records.schema.workspace)
    later = replace(office.li_, clock=lambda: NOW + timedelta(hours=hours_later))
    case = office.records.get("case", rid, actor=later)
    return [(tr(d.label, "zh"), d.due, d.overdue) for d in rules.deadlines("case", case, later)]


def test_a_stage_shows_its_time_limit_due_then_overdue(office):
    rid = office.mk("case", client=office.client, consultant=office.li, stage="negotiation",
                    opened_on="2026-11-01")["id"]
    entered = office.get("case", rid)["stage_entered_at"]
    assert _limits(office, rid) == [("阶段时限", entered + timedelta(days=14), False)]
    assert _limits(office, rid, 14 * 24 + 1)[0][2] is True
    # the rule flags it stale when the limit passes: the limit still shows, overdue
    office.records.update("case", rid, {"stale": True}, SYSTEM)
    assert _limits(office, rid, 14 * 24 + 1) == [("阶段时限", entered + timedelta(days=14), True)]
    office.records.update("case", rid, {"stage": "deposit", "deposit_amount": "50000",
                                        "deposit_paid_on": "2026-12-07"}, office.li_)
    assert _limits(office, rid)[0][1] == office.get("case", rid)["stage_entered_at"] + \
        timedelta(days=10)


def test_a_requested_viewing_is_due_within_24_hours_until_arranged(office):
    rid = office.mk("case", client=office.client, consultant=office.li, stage="presentation",
                    opened_on="2026-11-01", viewing_requested_at=NOW.isoformat())["id"]
    limits = dict((name, (due, late)) for name, due, late in _limits(office, rid, 25))
    assert limits["安排看房"] == (NOW + timedelta(hours=24), True)
    office.records.update("case", rid, {"viewing_arranged_at": (NOW + timedelta(hours=30))
                                        .isoformat()}, office.li_)
    assert "安排看房" not in dict((n, d) for n, d, _ in _limits(office, rid, 25))


def test_a_contracted_case_has_no_time_limit(office):
    assert _limits(office, office.case, 0)  # negotiation
    rid = office.mk("case", client=office.client, consultant=office.li, stage="lost",
                    lost_reason="price", opened_on="2026-11-01")["id"]
    assert _limits(office, rid) == []


def test_a_deadline_needs_a_time_limit_from_a_field():
    ws = load_workspace(ROOT)
    bad = RuleConfig("x", "case", {"record_type": "case", "deadline": True,
                                   "trigger": {"kind": "created"},
                                   "actions": [{"set_fields": {"stale": True}}]})
    problems = rule_problems(ws, bad)
    assert [p for p, _ in problems] == [("deadline",)]
