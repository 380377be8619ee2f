"""Boards and tables in headless Chromium (Debian's): filter a kanban board with the filter
builder, bulk-edit two rows with a typed input (and see a refusal at the input), and see the
columns a card may not go to greyed out, with the reason, while it is dragged.

Runs the small test workspace with stage rules on its deals; screenshots go to
test-artifacts/screenshots/ like the other browser tests'.
"""

from __future__ import annotations

import re

import pytest

from test_browser_flows import backend_of, browser, open_page, serving, shot  # noqa: F401 (a fixture)
from test_web_boards import FLOW
from test_web_support import SMALL, SYSTEM_ACTOR, build_app, make_workspace

pytest_plugins = ["test_web_support"]
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser_boards")]


@pytest.fixture
def served(tmp_path, db_url):
    """The small workspace with a deal path (only a manager wins a lead; a lost deal needs
    its closing date), a few deals, served on 127.0.0.1 at a free port."""
    files = {**SMALL, **FLOW}
    files["workspace.yaml"] = SMALL["workspace.yaml"] + "  manager: {label: Manager}\n"
    app = build_app(tmp_path, db_url, make_workspace(files))
    records = app.extensions["lowrise"].records
    kong = records.create("client", {"name": "Kong"}, SYSTEM_ACTOR)
    deals = {t: records.create("deal", {"title": t, "client": kong["id"], "stage": s,
                                        "amount": a, "closes_on": d}, SYSTEM_ACTOR)
             for t, s, a, d in [("A1", "lead", "100", "2026-03-05"),
                                ("A2", "lead", "250", None),
                                ("B1", "won", "1000", "2026-03-20")]}
    with serving(app) as base:
        yield app, base, deals


def test_filter_the_board(served, browser, db_url):  # noqa: F811
    app, base, deals = served
    page, errors = open_page(browser, base, "/r/deal/kanban/board")
    lead = page.locator("section.column[data-value='lead']")
    assert lead.locator(".kcard").count() == 2
    page.click("details.filters summary")
    with page.expect_response(lambda r: "/filter-row" in r.url):
        page.select_option("#f0", "amount")
    page.locator("#cond-0 input[name=v0]").wait_for()
    page.eval_on_selector("#cond-0", "row => row.dataset.old = '1'")  # until htmx swaps it
    page.select_option("#cond-0 select[name=o0]", "gte")
    page.locator("#cond-0:not([data-old]) input[name=v0]").wait_for()
    page.fill("#cond-0 input[name=v0]", "200")
    page.click("button:has-text('应用')")
    page.wait_for_url(re.compile(r"f0=amount&o0=gte&v0=200"))
    lead.locator(".kcard").first.wait_for()
    page.locator("section.column[data-value='lead'] [data-count]:text-is('1')").wait_for()
    assert lead.locator(".kcard").count() == 1 and "A2" in lead.inner_text()
    assert page.locator("section.column[data-value='won'] .kcard").count() == 1
    shot(page, "kanban-filtered", backend_of(db_url))
    page.reload()  # the filter is in the URL: a bookmark shows the same board
    assert page.locator("section.column[data-value='lead'] .kcard").count() == 1
    assert page.input_value("#cond-0 input[name=v0]") == "200"
    assert not errors, errors


def test_bulk_edit_two_rows(served, browser, db_url):  # noqa: F811
    app, base, deals = served
    run = app.extensions["lowrise"]
    page, errors = open_page(browser, base, "/r/deal/")
    for t in ("A1", "A2"):
        page.check(f"tr#row-{deals[t]['id']} input[name=ids]")
    page.locator("#bulk-form.show").wait_for()
    assert page.inner_text("#bulk-form [data-selected]") == "2"
    with page.expect_response(lambda r: "/bulk-input" in r.url):
        page.select_option("#bulk-field", "closes_on")
    page.fill("#bulk-value input[type=date]", "2026-12-24")
    shot(page, "bulk-edit", backend_of(db_url))
    page.click("#bulk-form button[value=update]")
    page.locator(".flash:has-text('已更新 2 条记录。')").wait_for()
    assert {str(run.records.get("deal", deals[t]["id"])["closes_on"]) for t in ("A1", "A2")} \
        == {"2026-12-24"}

    # a value one record takes and the other refuses: nothing changes, the input says why
    page.goto(f"{base}/r/client/")
    two = [run.records.create("client", {"name": n}, SYSTEM_ACTOR) for n in ("Sun", "Ma")]
    page.reload()
    for c in two:
        page.check(f"tr#row-{c['id']} input[name=ids]")
    with page.expect_response(lambda r: "/bulk-input" in r.url):
        page.select_option("#bulk-field", "phone")
    page.fill("#bulk-value input[name=bulk-phone]", "139 0000 1111")
    page.click("#bulk-form button[value=update]")
    error = page.locator("#bulk-error")
    error.wait_for()
    assert error.inner_text().startswith("未做任何修改：") and "手机" in error.inner_text()
    page.locator("#toast.error").filter(has_text="未做任何修改：").wait_for()
    assert page.input_value("#bulk-value input[name=bulk-phone]") == "139 0000 1111"
    shot(page, "bulk-edit-refused", backend_of(db_url))
    assert [run.records.get("client", c["id"])["phone"] for c in two] == [None, None]
    assert not errors, errors


def test_a_column_the_rules_forbid_is_marked_while_dragging(served, browser, db_url):  # noqa: F811
    app, base, deals = served
    run = app.extensions["lowrise"]
    page, errors = open_page(browser, base, "/r/deal/kanban/board")
    card = page.locator(f".kcard[data-id='{deals['A1']['id']}']")
    won = page.locator("section.column[data-value='won']")
    lost = page.locator("section.column[data-value='lost']")
    box, to = card.bounding_box(), won.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 12)
    page.mouse.down()
    page.mouse.move(box["x"] + 40, box["y"] + 30, steps=4)
    page.mouse.move(to["x"] + to["width"] / 2, to["y"] + 120, steps=8)
    page.locator("section.column.drop-no[data-value='won']").wait_for()
    # the reason, labels and sentence alike, is in the reader's language
    assert "只有 Manager 可以将阶段改为 赢单" in won.get_attribute("data-reason")
    assert "drop-no" not in (lost.get_attribute("class") or "")  # A1 has its closing date
    shot(page, "kanban-forbidden-column", backend_of(db_url))
    page.mouse.up()  # dropped on the forbidden column: it stays where it was
    page.locator("section.column.drop-no").first.wait_for(state="detached")
    assert page.locator(f"section.column[data-value='lead'] .kcard[data-id='{deals['A1']['id']}']"
                        ).count() == 1
    assert run.records.get("deal", deals["A1"]["id"])["stage"] == "lead"
    card.drag_to(lost.locator(".cards"))  # an allowed move goes through
    page.locator(f"section.column[data-value='lost'] .kcard[data-id='{deals['A1']['id']}']"
                 ":not([data-version='1'])").wait_for()  # the server's answer is in
    assert run.records.get("deal", deals["A1"]["id"])["stage"] == "lost"
    assert not errors, errors
