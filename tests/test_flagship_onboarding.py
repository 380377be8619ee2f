"""岗前培训通过后方可接待客户: in the flagship a consultant gets leads, by round robin or by
hand, only once a passed onboarding training is on record (staff.onboarding_passed, a count
of their training records); on both databases, with the flagship's rules running."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from lowrise.actor import Actor
from lowrise.errors import ValidationError
from lowrise.i18n import tr
from lowrise.rules.engine import install as install_rules
from lowrise.storage import migrate as mig
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
SYSTEM = Actor(name="setup", system=True, clock=lambda: NOW)


class Office:
    def __init__(self, engine):
        schema = build_schema(load_workspace(ROOT))
        with engine.connect() as conn:
            plan = mig.plan(conn, schema)
        mig.apply(engine, plan)
        self.records = Records(engine, schema)
        install_rules(self.records)
        mk = self.mk
        self.boss = mk("staff", name="文磊", role="manager")["id"]
        self.li = mk("staff", name="李秀英", role="consultant", manager=self.boss)["id"]
        self.new = mk("staff", name="新人小王", role="consultant", manager=self.boss)["id"]
        mk("training", staff=self.li, kind="onboarding", course="楼盘及户型知识",
           date=date(2026, 11, 2), score=88, passed=True)
        # a failed onboarding, and a passed course that is not onboarding, count for nothing
        mk("training", staff=self.new, kind="onboarding", course="楼盘及户型知识",
           date=date(2026, 11, 2), score=41, passed=False)
        mk("training", staff=self.new, kind="training", course="案场接待礼仪",
           date=date(2026, 11, 3), passed=True)
        self.client = mk("client", name="张伟", phone="13812345678", source="walk_in",
                         consultant=self.boss)["id"]
        self.manager = Actor(user=self.boss, name="文磊", roles=frozenset({"manager"}),
                             locale="zh", clock=lambda: NOW)

    def mk(self, type_name, **values):
        return self.records.create(type_name, values, SYSTEM)


@pytest.fixture
def office(engine):
    return Office(engine)


def test_the_count_of_passed_onboardings_follows_the_training_records(office):
    o = office
    assert o.records.get("staff", o.li)["onboarding_passed"] == 1
    assert o.records.get("staff", o.new)["onboarding_passed"] == 0


def test_round_robin_passes_over_consultants_without_onboarding(office):
    o = office
    got = {o.records.create("case", {"client": o.client, "opened_on": date(2026, 12, 7)},
                            o.manager)["consultant"] for _ in range(3)}
    assert got == {o.li}  # the client's consultant is a manager: round robin, trained only


def test_a_lead_given_by_hand_to_an_untrained_consultant_is_refused(office):
    o = office
    with pytest.raises(ValidationError) as exc:
        o.records.create("case", {"client": o.client, "opened_on": date(2026, 12, 7),
                                  "consultant": o.new}, o.manager)
    said = tr(exc.value.errors["consultant"], "zh")
    assert "该置业顾问尚未通过岗前培训，暂不能分配客户线索" in said
    case = o.records.create("case", {"client": o.client, "opened_on": date(2026, 12, 7),
                                     "consultant": o.li}, o.manager)
    with pytest.raises(ValidationError):  # nor reassigned to them
        o.records.update("case", case["id"], {"consultant": o.new}, o.manager,
                         expected_version=case["version"])
    assert o.records.get("case", case["id"])["consultant"] == o.li
    # once the onboarding is passed, the same assignment goes through
    o.mk("training", staff=o.new, kind="onboarding", course="楼盘及户型知识",
         date=date(2026, 12, 1), score=75, passed=True)
    case = o.records.get("case", case["id"])
    moved = o.records.update("case", case["id"], {"consultant": o.new}, o.manager,
                             expected_version=case["version"])
    assert moved["consultant"] == o.new


def test_demo_data_has_everyone_through_onboarding(engine):
    """`sample: {in_turn: true}` links every staff member to training records, and
    `{first_per: staff, value: ...}` makes the first of each a passed onboarding."""
    from lowrise.seed import seed

    schema = build_schema(load_workspace(ROOT))
    with engine.connect() as conn:
        plan = mig.plan(conn, schema)
    mig.apply(engine, plan)
    records = Records(engine, schema)
    made = seed(records, scale=0.2, seed_value=3)
    assert made["staff"] == 5 and made["training"] == 12
    from lowrise.storage import query

    with engine.connect() as conn:
        trainings = query.list_records(conn, schema, "training", sort=["id"], limit=100).rows
    firsts: dict[int, dict] = {}
    for t in trainings:
        firsts.setdefault(t["staff"], t)
    assert len(firsts) == 5  # everyone, in turn
    assert all(t["kind"] == "onboarding" and t["passed"] is True for t in firsts.values())
    assert any(t["kind"] != "onboarding" for t in trainings)  # the others: `then`
    assert all(records.get("staff", sid)["onboarding_passed"] >= 1 for sid in firsts)
