"""Approving through a real server (`lowrise serve`) in headless Chromium, in Chinese (the
flagship's default), on SQLite and PostgreSQL: a consultant's contract in review waits in her
manager's queue (我的审批, with its count); the manager approves it there in one click with a
comment, on a desktop and on a phone; the record page shows the trail; the contract is
approved and the server wrote no error.

Every other step kind and action goes through the same server as plain HTTP (the form posts a
page sends, in zh): one approver, 会签, 或签, a role, the manager chain up to a level by the
department heads (部门负责人 for people without a 直属上级), a person from a field; approve,
refuse, send back to the requester or an earlier step with a reason, 加签, 转交, and a step
that times out and escalates (the worker, `lowrise worker --once`, fires it). The flagship's
chains serve where they have the kind; a chain of this module's own (approvals/e2e_steps.yaml,
started by its button) has the others.

Approved terms changed come back to the manager with what changed; a signed contract is
refused to legal as locked; a contract naming another buyer than its case is refused; the case
page and board show the stage's time limit."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from e2e_support import (  # noqa: F401 (instance ... visitor: fixtures)
    Http,
    make_instance,
    records,
    server,
    server_stays_clean,
    visitor,
)
from lowrise.actor import SYSTEM, Actor
from test_browser_flows import browser  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("e2e_approvals")]

DIRECTOR = "流程核对总监"  # the admin account's staff record, named by the chain below
STEPS = f"""
record_type: contract
label: {{en: Steps check, zh: 流程核对}}
start:
  button: {{en: Ask for the check, zh: 提交核对}}
steps:
  - name: reviewer
    label: {{en: The reviewer, zh: 审核人审批}}
    kind: field
    field: reviewer
    timeout: {{after: 1h, escalate_to: {{role: admin}}}}
  - name: either
    label: {{en: Legal or the director, zh: 法务或总监（或签）}}
    kind: any
    approvers: [{{role: legal}}, {{person: {DIRECTOR}}}]
  - name: chain
    label: {{en: Managers up two levels, zh: 逐级主管审批}}
    kind: manager
    levels: 2
"""


@pytest.fixture(scope="module")
def instance(module_db, tmp_path_factory):
    """The flagship, seeded, with one more chain on contracts (STEPS) for the step kinds
    and actions the flagship's own chains do not have."""
    inst = make_instance(tmp_path_factory.mktemp("e2e"), module_db)
    (inst.workspace / "approvals" / "e2e_steps.yaml").write_text(STEPS, encoding="utf-8")
    recs = inst.records()
    recs.update("staff", _staff_of(recs, "admin@example.com"), {"name": DIRECTOR}, SYSTEM)
    recs.engine.dispose()
    return inst


def _staff_of(recs, email: str) -> int:
    from lowrise.accounts import users_table

    users = users_table(sa.MetaData())
    with recs.engine.connect() as conn:
        return conn.execute(sa.select(users.c.staff_id).where(
            users.c.email == email)).scalar_one()


@pytest.fixture(scope="module")
def office(records, server):  # noqa: F811
    """The org chart the chains walk: 核对中心 (headed by the admin account's person) over
    核对一组 (headed by the demo manager); the demo consultant and the manager are in 一组
    with no 直属上级, so their approvers are the department heads. One signed-in HTTP
    session per role."""
    tag = uuid.uuid4().hex[:6]
    staff = {role: _staff_of(records, f"{role}@example.com")
             for role in ("admin", "manager", "consultant", "legal")}
    top = records.create("department", {"name": f"核对中心{tag}", "head": staff["admin"]},
                         SYSTEM)["id"]
    one = records.create("department", {"name": f"核对一组{tag}", "parent": top,
                                        "head": staff["manager"]}, SYSTEM)["id"]
    for role in ("manager", "consultant"):
        records.update("staff", staff[role], {"manager": None, "department": one}, SYSTEM)
    http = {role: Http(server, role=role, locale="zh") for role in staff}
    return staff, http


def _contract(recs, requester: Actor, **values) -> dict:
    """A contract of `requester`'s, with its unit, client and case."""
    from lowrise.rules.engine import install

    install(recs)  # rules and approvals, as the server runs them
    tag = uuid.uuid4().hex[:6]
    unit = recs.create("property", {"project": "锦绣花园", "building": "9栋", "unit_no": tag,
                                    "layout": "3br", "gross_area": "120",
                                    "list_price": "3000000", "status": "available"}, SYSTEM)
    client = recs.create("client", {"name": f"客户{tag}", "phone": "139" + str(uuid.uuid4().int)[:8],
                                    "source": "walk_in", "consultant": requester.user}, SYSTEM)
    case = recs.create("case", {"client": client["id"], "unit": unit["id"],
                                "consultant": requester.user, "stage": "negotiation",
                                "amount": "2900000", "opened_on": "2026-12-01"}, SYSTEM)
    return recs.create("contract", {"kind": "sale", "case": case["id"], "client": client["id"],
                                    "unit": unit["id"], "amount": "2900000",
                                    "payment_method": "full", **values}, requester)


def _task(http: Http, type_name: str, rid: int) -> int | None:
    """The task of this record in the person's queue page (None: nothing waits there)."""
    page = http.send("GET", "/approvals", htmx=False)
    assert page.status == 200 and "我的审批" in page.body
    m = re.search(rf'id="task-(\d+)">\s*<p class="approval-head"><a href="/r/{type_name}/'
                  rf'{rid}#approvals"', page.body)
    return int(m.group(1)) if m else None


def _decide(http: Http, type_name: str, rid: int, decision: str, said: str, **form) -> str:
    """Decide on the record's task from the queue page's form; the page it comes back to,
    which says `said`."""
    task = _task(http, type_name, rid)
    assert task is not None, f"nothing of {type_name} {rid} waits in this queue"
    answer = http.send("POST", f"/approvals/tasks/{task}", {
        "decision": decision, "csrf_token": http.csrf, "next": "/approvals", **form},
        htmx=False)
    assert answer.status == 200 and said in answer.body, (answer.status, said)
    return answer.body


def _panel(http: Http, type_name: str, rid: int) -> str:
    page = http.send("GET", f"/r/{type_name}/{rid}", htmx=False)
    assert page.status == 200
    return page.body


def _contract_in_review(recs) -> dict:
    """A contract of a new consultant of the demo manager, sent to review by her."""
    from lowrise.rules.engine import install

    install(recs)  # rules and approvals, as the server runs them
    from lowrise.accounts import users_table

    users = users_table(sa.MetaData())
    with recs.engine.connect() as conn:
        boss = conn.execute(sa.select(users.c.staff_id).where(
            users.c.email == "manager@example.com")).scalar_one()
    tag = uuid.uuid4().hex[:6]
    me = recs.create("staff", {"name": f"顾问{tag}", "role": "consultant", "manager": boss},
                     SYSTEM)
    unit = recs.create("property", {"project": "锦绣花园", "building": "9栋", "unit_no": tag,
                                    "layout": "3br", "gross_area": "120",
                                    "list_price": "3000000", "status": "available"}, SYSTEM)
    client = recs.create("client", {"name": f"客户{tag}", "phone": "139" + str(uuid.uuid4().int)[:8],
                                    "source": "walk_in", "consultant": me["id"]}, SYSTEM)
    case = recs.create("case", {"client": client["id"], "unit": unit["id"],
                                "consultant": me["id"], "stage": "negotiation",
                                "amount": "2900000", "opened_on": "2026-12-01"}, SYSTEM)
    li = Actor(user=me["id"], name=me["name"], roles=frozenset({"consultant"}))
    contract = recs.create("contract", {"kind": "sale", "case": case["id"],
                                        "client": client["id"], "unit": unit["id"],
                                        "amount": "2900000", "payment_method": "full"}, li)
    recs.update("contract", contract["id"], {"status": "in_review"}, li)
    return contract


def _approved(recs) -> tuple[dict, Actor]:
    """A contract approved by the demo manager; (the contract, its consultant)."""
    from lowrise.approvals import queue as q
    from lowrise.approvals.engine import install

    contract = _contract_in_review(recs)
    staff = recs.get("staff", contract["created_by"])
    li = Actor(user=staff["id"], name=staff["name"], roles=frozenset({"consultant"}))
    boss = Actor(user=staff["manager"], name="经理", roles=frozenset({"manager"}))
    task = next(t for t in q.queue(recs, boss) if t["record_id"] == contract["id"])
    install(recs).act(task["task_id"], boss, "approve")
    return recs.get("contract", contract["id"]), li


@pytest.mark.parametrize("width", [1366, 390])
def test_a_manager_approves_from_the_queue_in_chinese(visitor, records, width):  # noqa: F811
    contract = _contract_in_review(records)
    page, errors = visitor.open("/approvals", role="manager", locale="zh", width=width)
    assert page.locator("h1").inner_text() == "我的审批"
    badge = page.locator("#approvals-badge")
    assert int(badge.inner_text()) >= 1
    item = page.locator(".approval-item", has_text=contract["contract_no"])
    item.locator("input[name=comment]").fill("同意，价格在权限内")
    button = item.get_by_role("button", name="同意")
    box = button.bounding_box()
    assert box and box["x"] + box["width"] <= width  # reachable on a phone, no side scroll
    button.click()
    page.locator(".flash-success", has_text="已同意。").wait_for()
    assert page.locator(".approval-item", has_text=contract["contract_no"]).count() == 0
    assert records.get("contract", contract["id"])["status"] == "approved"
    page.goto(f"{visitor.server.base}/r/contract/{contract['id']}")
    panel = page.locator("#approvals")
    panel.get_by_text("审批通过").first.wait_for()
    assert "同意，价格在权限内" in panel.inner_text()
    assert "合同审批：同意（同意，价格在权限内）" in page.locator(".timeline:not(.approval-trail):not(.runs)").inner_text()
    assert errors == []


def _consultant(office) -> Actor:
    staff, _ = office
    return Actor(user=staff["consultant"], name="顾问", roles=frozenset({"consultant"}))


def _ask(office, rid: int) -> None:
    """The consultant presses the chain's button on the record page (提交核对)."""
    http = office[1]["consultant"]
    sent = http.send("POST", f"/r/contract/{rid}/approvals/e2e_steps",
                     {"csrf_token": http.csrf}, htmx=False)
    assert sent.status == 200 and "已提交审批。" in sent.body


def test_a_field_then_any_one_then_the_managers_up_two_levels(records, office):  # noqa: F811
    staff, http = office
    rid = _contract(records, _consultant(office))["id"]
    records.update("contract", rid, {"reviewer": staff["legal"]}, SYSTEM)
    _ask(office, rid)
    # a person from a field: the contract's reviewer, and nobody else
    assert _task(http["manager"], "contract", rid) is None
    _decide(http["legal"], "contract", rid, "approve", "已同意。")
    # 或签: anyone who is legal, or the director by name; the first decides for all
    assert _task(http["legal"], "contract", rid) is not None
    _decide(http["admin"], "contract", rid, "approve", "已同意。")
    assert _task(http["legal"], "contract", rid) is None
    # the managers up two levels, by the department heads (no 直属上级): 一组's, then 中心's
    assert _task(http["admin"], "contract", rid) is None
    _decide(http["manager"], "contract", rid, "approve", "已同意。")
    _decide(http["admin"], "contract", rid, "approve", "已同意。")
    panel = _panel(http["consultant"], "contract", rid)
    section = panel[panel.index('id="approvals"'):]
    assert "流程核对" in section and "审批通过" in section, section[:3000]


def test_countersign_then_one_approver_two_levels_up(records, office):  # noqa: F811
    staff, http = office
    me = _consultant(office)
    rid = _contract(records, me, template="custom", discount=8)["id"]
    records.update("contract", rid, {"status": "in_review"}, me)
    # 会签: legal (a role) and 一组's head, both
    _decide(http["legal"], "contract", rid, "approve", "已同意。")
    assert records.get("contract", rid)["status"] == "in_review"
    assert _task(http["admin"], "contract", rid) is None
    _decide(http["manager"], "contract", rid, "approve", "已同意。")
    # one approver, {manager: 2}: the head of the department above
    _decide(http["admin"], "contract", rid, "approve", "已同意。")
    assert records.get("contract", rid)["status"] == "approved"


def test_a_role_step_refuses_a_deposit_refund(records, office):  # noqa: F811
    staff, http = office
    me = _consultant(office)
    cid = _contract(records, me)["id"]
    pid = records.create("payment", {"contract": cid, "label": "定金", "kind": "deposit",
                                     "amount": "50000", "due_on": "2026-12-01",
                                     "status": "paid"}, SYSTEM)["id"]
    records.update("payment", pid, {"status": "refund_requested"}, me)
    _decide(http["manager"], "payment", pid, "approve", "已同意。")
    # anyone who is legal decides the contract specialists' step
    _decide(http["legal"], "payment", pid, "refuse", "已驳回。", comment="已过退款期")
    assert records.get("payment", pid)["status"] == "paid"
    assert "退定金审批：驳回（已过退款期）" in _panel(http["manager"], "payment", pid)


def test_sent_back_with_a_reason_to_the_requester_then_refused(records, office):  # noqa: F811
    staff, http = office
    me = _consultant(office)
    rid = _contract(records, me)["id"]
    records.update("contract", rid, {"status": "in_review"}, me)
    _decide(http["manager"], "contract", rid, "send_back", "请填写退回原因（必填）")
    assert records.get("contract", rid)["status"] == "in_review"  # refused, nothing changed
    _decide(http["manager"], "contract", rid, "send_back", "已退回。", comment="首付比例不对")
    assert records.get("contract", rid)["status"] == "draft"
    records.update("contract", rid, {"status": "in_review"}, me)  # sent again: a new round
    _decide(http["manager"], "contract", rid, "refuse", "已驳回。", comment="价格低于底价")
    assert records.get("contract", rid)["status"] == "draft"
    panel = _panel(http["consultant"], "contract", rid)
    assert "合同审批：退回（首付比例不对）" in panel and "合同审批：驳回（价格低于底价）" in panel


def test_add_an_approver_send_back_a_step_and_hand_on(records, office):  # noqa: F811
    staff, http = office
    rid = _contract(records, _consultant(office))["id"]
    records.update("contract", rid, {"reviewer": staff["legal"]}, SYSTEM)
    _ask(office, rid)
    # 加签: the reviewer adds the manager, who must approve this step too
    _decide(http["legal"], "contract", rid, "add", "已加签。", person=str(staff["manager"]))
    _decide(http["legal"], "contract", rid, "approve", "已同意。")
    assert _task(http["admin"], "contract", rid) is None  # the step waits for the added one
    _decide(http["manager"], "contract", rid, "approve", "已同意。")
    # at 或签, legal sends it back to the reviewer's step, with a reason
    assert _task(http["admin"], "contract", rid) is not None
    _decide(http["legal"], "contract", rid, "send_back", "已退回。", comment="审核人再看一下",
            to_step="0")
    assert _task(http["admin"], "contract", rid) is None
    # the reviewer again; away, she hands it on (转交) to the manager, who decides
    _decide(http["legal"], "contract", rid, "delegate", "已转交。", person=str(staff["manager"]))
    assert _task(http["legal"], "contract", rid) is None
    _decide(http["manager"], "contract", rid, "approve", "已同意。")
    assert _task(http["admin"], "contract", rid) is not None
    panel = _panel(http["consultant"], "contract", rid)
    for said in ("流程核对：加签", "流程核对：退回（审核人再看一下）", "流程核对：转交"):
        assert said in panel, said


def test_a_step_not_decided_in_time_escalates(records, office, instance):  # noqa: F811
    staff, http = office
    rid = _contract(records, _consultant(office))["id"]
    records.update("contract", rid, {"reviewer": staff["legal"]}, SYSTEM)
    _ask(office, rid)
    timers = records.schema.system["lr_timers"]
    with records.engine.begin() as conn:  # an hour and a minute later
        moved = conn.execute(timers.update().where(
            timers.c.rule == "approval:e2e_steps", timers.c.record_id == rid,
            timers.c.status == "pending").values(
                due_at=datetime.now(UTC) - timedelta(minutes=1))).rowcount
    assert moved == 1
    instance.lowrise("worker", "--once")
    assert _task(http["legal"], "contract", rid) is None
    _decide(http["admin"], "contract", rid, "approve", "已同意。")  # escalate_to: {role: admin}
    assert "超时未处理，已升级" in _panel(http["consultant"], "contract", rid)


def test_changed_terms_come_back_to_the_manager_with_what_changed(server, records):  # noqa: F811
    contract, li = _approved(records)
    records.update("contract", contract["id"], {"amount": "2800000", "discount": 3}, li)
    manager = Http(server, role="manager", locale="zh")
    queue = manager.send("GET", "/approvals", htmx=False).body
    assert "与上一轮相比有变更：合同总价、折扣优惠" in queue
    panel = manager.send("GET", f"/r/contract/{contract['id']}", htmx=False).body
    assert "2,900,000" in panel and "2,800,000" in panel and "审批人" not in panel.split(
        "tl-changes")[1].split("</ul>")[0]


def test_a_signed_contract_is_locked_and_a_buyer_must_be_the_cases(visitor, records):  # noqa: F811
    contract, li = _approved(records)
    records.update("contract", contract["id"], {"status": "signed", "signed_on": "2026-12-07"},
                   li)
    # legal's form offers only what archiving adds; the terms show as values
    page, errors = visitor.open(f"/r/contract/{contract['id']}/edit", role="legal")
    page.locator("input[name=registration_no]").wait_for()
    assert page.locator("input[name=amount]").count() == 0
    assert "2,900,000" in page.locator("main").inner_text()
    # a change sent anyway (the table's cell editor) is refused, in Chinese
    legal = Http(visitor.server, role="legal", locale="zh")
    answer = legal.send("POST", f"/r/contract/{contract['id']}/cell/amount",
                        {"amount": "1", "_version": str(records.get(
                            "contract", contract["id"])["version"])})
    assert answer.status == 422
    assert "合同已签约，已锁定：合同总价不能修改；只有系统管理员可以修改已锁定的记录" in answer.body
    assert records.get("contract", contract["id"])["amount"] == 2900000
    shown = legal.send("GET", f"/r/contract/{contract['id']}", htmx=False).body
    assert "合同已签约，已锁定：只有系统管理员可以修改" in shown
    assert "签字版 SHA-256 校验值" in shown
    # an administrator corrects it: the history says who changed what
    admin = Actor(name="管理员甲", roles=frozenset({"admin"}))
    records.update("contract", contract["id"], {"loan_bank": "招商银行"}, admin)
    history = legal.send("GET", f"/r/contract/{contract['id']}", htmx=False).body.split(
        '<ol class="timeline">')[1].split("</ol>")[0]
    first = history.split("</li>")[0]
    assert "管理员甲" in first and "按揭银行" in first and "招商银行" in first
    # the case page's new contract takes the case's client and unit
    case = records.get("case", contract["case"])
    page.goto(f"{visitor.server.base}/r/case/{case['id']}")
    new = page.locator("a[href*='/r/contract/new?']").first.get_attribute("href")
    assert f"client={case['client']}" in new and f"unit={case['unit']}" in new
    other = next(c["id"] for c in _clients(records)
                 if c["id"] != case["client"])
    page.goto(f"{visitor.server.base}/r/contract/new?case={case['id']}&client={other}"
              f"&unit={case['unit']}")
    page.fill("input[name=amount]", "2900000")
    page.select_option("select[name=payment_method]", "full")
    page.click("form button[type=submit].btn-primary")
    page.get_by_text("买受人必须是所属销售案件的客户").first.wait_for()
    assert errors == []


def _clients(recs) -> list[dict]:
    t = recs.schema.table("client")
    with recs.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(t.c.id).limit(3)).mappings()]


def test_the_case_and_its_card_show_the_stages_time_limit(server, records):  # noqa: F811
    contract = _contract_in_review(records)
    case = records.get("case", contract["case"])
    admin = Http(server, role="admin", locale="zh")
    page = admin.send("GET", f"/r/case/{case['id']}", htmx=False).body
    assert "阶段时限：" in page and "前到期" in page
    board = admin.send("GET", f"/r/case/kanban/cases_board?q={case['case_no']}",
                       htmx=False).body
    card = board.split(f'data-id="{case["id"]}"')[1].split("</li>")[0]
    assert "阶段时限：" in card and "前到期" in card
