"""Approving through a real server (`lowrise serve`) in headless Chromium, in Chinese (the
flagship's default), on SQLite and PostgreSQL: a consultant's contract in review waits in her
manager's queue (我的审批, with its count); the manager approves it there in one click with a
comment, on a desktop and on a phone; the record page shows the trail; the contract is
approved and the server wrote no error."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from e2e_support import (  # noqa: F401 (instance ... visitor: fixtures)
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
