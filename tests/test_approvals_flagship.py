"""The flagship on approval chains: contract review (standard text → the consultant's
manager; custom text → legal and the manager together; a discount above the consultant's
limit → the sales director), the deposit refund and the unit price change, on both
databases, with the flagship's own rules running beside them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from lowrise.actor import Actor
from lowrise.approvals import queue as q
from lowrise.approvals.engine import install as approvals_of
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
        ws = load_workspace(ROOT)
        schema = build_schema(ws)
        with engine.connect() as conn:
            plan = mig.plan(conn, schema)
        mig.apply(engine, plan)
        self.engine = engine
        self.records = records = Records(engine, schema)
        install_rules(records)
        self.approvals = approvals_of(records)
        mk = self.mk
        self.director = mk("staff", name="赵总", role="manager")["id"]
        self.boss = mk("staff", name="文磊", role="manager", manager=self.director)["id"]
        self.li = mk("staff", name="李秀英", role="consultant", manager=self.boss)["id"]
        self.fa = mk("staff", name="法务小周", role="legal")["id"]
        self.client = mk("client", name="张伟", phone="13812345678", source="walk_in",
                         consultant=self.li)["id"]
        self.unit = mk("property", project="锦绣花园", building="3栋", unit_no="1801",
                       list_price="3400000", status="available", layout="3br",
                       gross_area="125.00")["id"]
        self.case = mk("case", client=self.client, unit=self.unit, consultant=self.li,
                       stage="negotiation", amount="3250000", opened_on="2026-11-01")["id"]

    def mk(self, t, **v):
        return self.records.create(t, v, SYSTEM)

    def person(self, staff: int | None, name: str, *roles: str) -> Actor:
        return Actor(user=staff, name=name, roles=frozenset(roles), locale="zh",
                     clock=lambda: NOW)

    @property
    def li_(self):
        return self.person(self.li, "李秀英", "consultant")

    @property
    def boss_(self):
        return self.person(self.boss, "文磊", "manager")

    def contract(self, **values) -> int:
        base = dict(kind="sale", template="presale_model", case=self.case, client=self.client,
                    unit=self.unit, amount="3250000", payment_method="mortgage")
        return self.records.create("contract", {**base, **values}, self.li_)["id"]

    def submit(self, rid: int) -> None:
        self.records.update("contract", rid, {"status": "in_review"}, self.li_)

    def decide(self, actor: Actor, decision: str = "approve", **kw):
        rows = q.queue(self.records, actor)
        assert rows, f"nothing waits for {actor.name}"
        return self.approvals.act(rows[0]["task_id"], actor, decision, **kw)

    def get(self, t: str, rid: int) -> dict:
        return self.records.get(t, rid)


@pytest.fixture
def office(engine):
    return Office(engine)


def test_standard_text_is_approved_by_the_consultants_manager(office):
    rid = office.contract()
    office.submit(rid)
    assert q.count(office.records, office.boss_) == 1
    assert q.count(office.records, office.person(office.director, "赵总", "manager")) == 0
    office.decide(office.boss_, comment="同意")
    c = office.get("contract", rid)
    assert c["status"] == "approved" and c["approved_at"] is not None
    assert c["reviewer"] == office.boss  # the rule records who approved
    # signing is allowed now (the approval set approved_at)
    office.records.update("contract", rid, {"status": "signed", "signed_on": "2026-12-07"},
                          office.li_)


def test_without_a_manager_the_department_head_approves_and_the_one_above_after(office):
    """直属上级 first, else 部门负责人: a consultant of 案场一组 with no manager of her own goes
    to 一组's head; the director step ({manager: 2}) to the head of 销售中心 above it, as
    the head of 一组 has no manager of his own either."""
    centre = office.mk("department", name="销售中心", head=office.director)["id"]
    one = office.mk("department", name="案场一组", parent=centre, head=office.boss)["id"]
    office.records.update("staff", office.boss, {"manager": None, "department": one}, SYSTEM)
    office.records.update("staff", office.li, {"manager": None, "department": one}, SYSTEM)
    rid = office.contract(discount=8)
    office.submit(rid)
    assert [r["step"] for r in q.queue(office.records, office.boss_)] == [0]
    office.decide(office.boss_)
    director = office.person(office.director, "赵总", "manager")
    assert [r["step"] for r in q.queue(office.records, director)] == [2]
    office.decide(director)
    assert office.get("contract", rid)["status"] == "approved"
    # an explicit manager (直属上级) comes before the department's head
    lead = office.mk("staff", name="组长", role="manager")["id"]
    office.records.update("staff", office.li, {"manager": lead}, SYSTEM)
    rid = office.contract()
    office.submit(rid)
    assert q.count(office.records, office.boss_) == 0
    assert q.count(office.records, office.person(lead, "组长", "manager")) == 1


def test_a_consultant_cannot_mark_a_contract_approved_by_hand(office):
    rid = office.contract()
    office.submit(rid)
    with pytest.raises(ValidationError):
        office.records.update("contract", rid, {"status": "approved"}, office.boss_)


def test_custom_text_needs_legal_and_the_manager_together(office):
    rid = office.contract(template="custom")
    office.submit(rid)
    legal = office.person(office.fa, "法务小周", "legal")
    assert q.count(office.records, legal) == 1 and q.count(office.records, office.boss_) == 1
    office.decide(legal)
    assert office.get("contract", rid)["status"] == "in_review"  # 会签: the manager too
    office.decide(office.boss_)
    assert office.get("contract", rid)["status"] == "approved"


def test_a_discount_above_the_limit_goes_on_to_the_sales_director(office):
    rid = office.contract(discount=8)
    office.submit(rid)
    office.decide(office.boss_)
    assert office.get("contract", rid)["status"] == "in_review"
    director = office.person(office.director, "赵总", "manager")
    office.decide(director)
    assert office.get("contract", rid)["status"] == "approved"


def test_terms_locked_in_review_and_a_change_after_approval_reviews_again(office):
    rid = office.contract()
    office.submit(rid)
    with pytest.raises(ValidationError) as exc:
        office.records.update("contract", rid, {"amount": "3000000"}, office.li_)
    assert tr(exc.value.errors["amount"], "zh") == (
        "审批中（合同审批）的记录不能修改合同总价；如需修改，请审批人先退回")
    office.decide(office.boss_)
    office.records.update("contract", rid, {"amount": "3100000"}, office.li_)
    c = office.get("contract", rid)
    assert c["status"] == "in_review" and c["approved_at"] is None
    rounds = q.rounds(office.records, "contract", rid)
    assert [r["status"] for r in rounds] == ["running", "restarted"]
    assert q.changes_since_last_round(rounds)["amount"] == ("3250000.00", "3100000.00")


@pytest.mark.parametrize("terms", [
    {"amount": "3100000"}, {"discount": 2}, {"payment_method": "full"},
    {"custom_clauses": "赠送车位一个"}, {"down_payment": "1000000"}])
def test_each_approved_term_changed_sends_it_back_with_only_that_diff(office, terms):
    rid = office.contract()
    office.submit(rid)
    office.decide(office.boss_)
    office.records.update("contract", rid, terms, office.li_)
    assert office.get("contract", rid)["status"] == "in_review"
    rounds = q.rounds(office.records, "contract", rid)
    # the reviewer sees what changed in the terms, not who approved last time or when
    assert set(q.changes_since_last_round(rounds)) == set(terms)
    waiting = q.queue(office.records, office.boss_)
    assert q.changes_for(office.records, waiting) == {waiting[0]["approval_id"]: list(terms)}


def test_the_buyer_or_unit_of_an_approved_contract_changes_only_with_its_case(office):
    rid = office.contract()
    office.submit(rid)
    office.decide(office.boss_)
    unit = office.mk("property", project="锦绣花园", building="3栋", unit_no="1902",
                     list_price="3400000", status="available", layout="3br",
                     gross_area="125.00")["id"]
    office.records.update("case", office.case, {"unit": unit}, office.boss_)
    office.records.update("contract", rid, {"unit": unit}, office.li_)
    rounds = q.rounds(office.records, "contract", rid)
    assert rounds[0]["status"] == "running"
    assert set(q.changes_since_last_round(rounds)) == {"unit"}


def test_sent_back_to_the_consultant_goes_back_to_draft_and_unlocks(office):
    rid = office.contract()
    office.submit(rid)
    office.decide(office.boss_, "send_back", comment="首付比例不对")
    assert office.get("contract", rid)["status"] == "draft"
    office.records.update("contract", rid, {"amount": "3200000"}, office.li_)
    office.submit(rid)
    assert q.count(office.records, office.boss_) == 1


def test_putting_a_contract_back_to_draft_withdraws_the_review(office):
    rid = office.contract()
    office.submit(rid)
    office.records.update("contract", rid, {"status": "draft"}, office.li_)
    assert q.count(office.records, office.boss_) == 0
    assert q.rounds(office.records, "contract", rid)[0]["status"] == "cancelled"


def test_deposit_refund_goes_to_the_manager_then_the_contract_specialists(office):
    cid = office.contract()
    pid = office.mk("payment", contract=cid, label="定金", kind="deposit", amount="50000",
                    due_on="2026-12-01", status="paid")["id"]
    office.records.update("payment", pid, {"status": "refund_requested"}, office.li_)
    with pytest.raises(ValidationError):
        office.records.update("payment", pid, {"amount": "60000"}, office.li_)
    office.decide(office.boss_)
    legal = office.person(office.fa, "法务小周", "legal")
    office.decide(legal, comment="已核对")
    assert office.get("payment", pid)["status"] == "refunded"


def test_a_refused_deposit_refund_leaves_the_deposit_paid(office):
    cid = office.contract()
    pid = office.mk("payment", contract=cid, label="定金", kind="deposit", amount="50000",
                    due_on="2026-12-01", status="paid")["id"]
    office.records.update("payment", pid, {"status": "refund_requested"}, office.li_)
    office.decide(office.boss_, "refuse", comment="已过退款期")
    assert office.get("payment", pid)["status"] == "paid"


def test_a_unit_price_change_waits_and_a_refused_one_is_put_back(office):
    office.records.update("property", office.unit, {"list_price": "3300000"}, office.boss_)
    assert office.get("property", office.unit)["list_price"] == 3300000
    with pytest.raises(ValidationError):
        office.records.update("property", office.unit, {"list_price": "3200000"}, office.boss_)
    director = office.person(office.director, "赵总", "manager")
    office.decide(director, "refuse", comment="不降价")
    assert office.get("property", office.unit)["list_price"] == 3400000
    # a new unit's first price starts nothing
    office.mk("property", project="锦绣花园", building="3栋", unit_no="1802",
              list_price="3500000", status="available", layout="3br", gross_area="125.00")
    assert q.count(office.records, director) == 0


def test_demo_data_has_contract_reviews_in_progress(engine):
    from lowrise.seed import seed

    ws = load_workspace(ROOT)
    schema = build_schema(ws)
    with engine.connect() as conn:
        mig.apply(engine, mig.plan(conn, schema))
    records = Records(engine, schema)
    seed(records, scale=0.2)
    t = schema.system["lr_approvals"]
    tk = schema.system["lr_approval_tasks"]
    contracts = schema.tables["contract"]
    with engine.connect() as conn:
        running = conn.execute(sa.select(sa.func.count()).select_from(t).where(
            t.c.status == "running")).scalar_one()
        in_review = conn.execute(sa.select(sa.func.count()).select_from(contracts).where(
            contracts.c.status == "in_review")).scalar_one()
        tasks = conn.execute(sa.select(sa.func.count()).select_from(tk).where(
            tk.c.status == "pending")).scalar_one()
    assert running == in_review > 0 and tasks >= running
