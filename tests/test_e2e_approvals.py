"""Approving through a real server (`lowrise serve`) in headless Chromium, in Chinese (the
flagship's default), on SQLite and PostgreSQL: a consultant's contract in review waits in her
manager's queue (我的审批, with its count); the manager approves it there in one click with a
comment, on a desktop and on a phone; the record page shows the trail; the contract is
approved and the server wrote no error. Approved terms changed come back to the manager with
what changed; a signed contract is refused to legal as locked; a contract naming another
buyer than its case is refused; the case page and board show the stage's time limit."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from e2e_support import (  # noqa: F401 (instance ... visitor: fixtures)
    Http,
    instance,
    records,
    server,
    server_stays_clean,
    visitor,
)
from lowrise.actor import SYSTEM, Actor
from test_browser_flows import browser  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("e2e_approvals")]


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
