"""A lead through the public form, in headless Chromium (Debian's), in Chinese: a manager
publishes the flagship's viewing request form, a visitor who is not signed in fills it in on
a phone-sized page, and the manager finds the new case, assigned, on the pipeline board, then
shares the board by link for the visitor to see read-only."""

from __future__ import annotations

import re

import pytest

from test_browser_flows import CHROMIUM_ARGS, backend_of, chromium_path, serving, shot
from test_sharing_support import office_app
from test_web_support import PASSWORD, SYSTEM_ACTOR

pytest_plugins = ["test_web_support"]
pytestmark = pytest.mark.browser


def test_a_lead_from_the_public_form_lands_assigned_on_the_board(tmp_path, db_url):
    from playwright.sync_api import sync_playwright

    office = office_app(tmp_path, db_url)
    run = office.run
    # Amy is the one active consultant: the assignment rule gives her the lead
    run.records.update("staff", office.ben["id"], {"active": False}, SYSTEM_ACTOR)
    tag = backend_of(db_url)
    with serving(office.app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS,
                                    headless=True)
        try:
            manager = browser.new_page(viewport={"width": 1366, "height": 900})
            manager.set_default_timeout(15000)
            manager.goto(f"{base}/auth/login?next=/forms/viewing_request")
            manager.fill("#email", "manager@example.com")
            manager.fill("#password", PASSWORD)
            manager.click("button[type=submit]")
            manager.wait_for_url(re.compile(r"/forms/viewing_request$"))
            manager.click("button:has-text('发布')")
            url = manager.inner_text("#form-url")
            assert "/f/" in url
            shot(manager, "public-form-published", tag)

            visitor = browser.new_context(viewport={"width": 390, "height": 844},
                                          locale="zh-CN").new_page()
            visitor.set_default_timeout(15000)
            errors: list[str] = []
            visitor.on("pageerror", lambda exc: errors.append(str(exc)))
            visitor.goto(url)
            assert visitor.inner_text("h1") == "预约看房"
            visitor.fill("#f_client__name", "陈小姐")
            visitor.fill("#f_client__phone", "13566667777")
            visitor.select_option("#f_client__desired_layout", "2br")
            visitor.fill("#f_viewing_preferred_at", "2026-12-20T10:00")
            visitor.fill("#f_notes", "想看南向两居")
            bait = visitor.locator("#website").bounding_box()
            assert bait["x"] + bait["width"] < 0  # the bait field is out of sight
            shot(visitor, "public-form-filled", tag)
            visitor.wait_for_timeout(3200)  # a person takes longer than the form's 3 seconds
            visitor.click("button[type=submit]")
            visitor.wait_for_url(re.compile(r"/thanks$"))
            assert "感谢您的预约" in visitor.inner_text("main")
            shot(visitor, "public-form-thanks", tag)
            assert errors == []

            [case] = [r for r in _cases(run) if r["notes"] == "想看南向两居"]
            assert case["consultant"] == office.amy["id"] and case["stage"] == "lead"
            manager.goto(f"{base}/r/case/kanban/cases_board")
            card = manager.locator(f".kcard[data-id='{case['id']}']")
            card.wait_for()
            assert "陈小姐" in card.inner_text() and "Amy An" in card.inner_text()
            column = manager.locator("section.column", has=card)
            assert "线索" in column.locator(".column-head").inner_text()
            shot(manager, "public-form-lead-on-board", tag)

            # the manager shares the board; the visitor sees it read-only
            manager.click(".page-head a:has-text('共享')")
            manager.click("button:has-text('生成链接')")
            shared = manager.inner_text("#new-link")
            visitor.goto(shared)
            assert "陈小姐" in visitor.locator(f".kcard[data-id='{case['id']}']").inner_text()
            assert visitor.locator("form").count() == 0
            shot(visitor, "shared-board", tag)
            manager.goto(f"{base}/account/sharing")
            assert manager.locator("[data-link]").count() == 1
            shot(manager, "account-sharing", tag)
        finally:
            browser.close()


def _cases(run) -> list[dict]:
    import sqlalchemy as sa

    t = run.schema.table("case")
    with run.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(t)).mappings()]
