"""Comments in headless Chromium (Debian's), on the flagship: a consultant comments on her case
and mentions her manager through the @-autocomplete (keyboard only); the manager signs in,
sees the unread badge, opens the notification and lands on the case with the comment.

Screenshots go to test-artifacts/screenshots/ (ignored by git), as in test_browser_flows.
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from test_browser_flows import backend_of, browser, server, shot  # noqa: F401 (fixtures)
from test_web_support import PASSWORD, SYSTEM_ACTOR

pytest_plugins = ["test_web_support"]
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser_comments")]


def sign_in_as(page, base: str, email: str) -> None:
    page.goto(f"{base}/auth/login?next=/locale/zh")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/auth/login" not in url)


def test_mention_a_colleague_who_then_sees_it(server, browser, module_db):  # noqa: F811
    app, base = server
    run = app.extensions["lowrise"]
    tag = backend_of(module_db)
    mk = lambda t, **v: run.records.create(t, v, SYSTEM_ACTOR)  # noqa: E731
    boss = mk("staff", name="王芳", role="manager", team="team_a")
    amy = mk("staff", name="Amy An", role="consultant", team="team_a", manager=boss["id"])
    for email, staff, role in (("amy@example.com", amy, "consultant"),
                               ("wang@example.com", boss, "manager")):
        run.accounts.add(email, PASSWORD, name=staff["name"], staff_id=staff["id"], roles=[role])
    client = mk("client", name="Comment Client", phone="13800001111", source="walk_in",
                consultant=amy["id"])
    case = mk("case", client=client["id"], consultant=amy["id"], opened_on=date(2026, 11, 20),
              stage="lead")
    case_url = f"/r/case/{case['id']}"
    errors: list[str] = []

    # Amy writes a comment and picks her manager from the autocomplete with the keyboard
    amy_page = browser.new_page(viewport={"width": 1366, "height": 900})
    amy_page.set_default_timeout(15000)
    amy_page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in_as(amy_page, base, "amy@example.com")
    amy_page.goto(base + case_url)
    box = amy_page.locator("#comment-body")
    box.click()
    with amy_page.expect_response(lambda r: "/comments/mentions?q=" in r.url):
        box.press_sequentially("Please call the client, @王")
    option = amy_page.locator("#mention-options li[role=option][data-id]")
    option.first.wait_for()
    assert option.first.get_attribute("aria-selected") == "true"
    assert box.get_attribute("aria-activedescendant") == f"mention-opt-{boss['id']}"
    shot(amy_page, "comment-mention", tag)
    box.press("Enter")
    assert box.input_value() == "Please call the client, @王芳 "
    assert amy_page.locator("#mention-options li").count() == 0
    box.press_sequentially("<b>today</b>")
    amy_page.click("#comment-compose button[type=submit]")
    posted = amy_page.locator("#comment-list li.comment").last
    posted.locator("a.chip.mention").wait_for()
    assert posted.locator("a.chip.mention").inner_text() == "@王芳"
    assert "<b>today</b>" in posted.locator(".comment-body").inner_text()  # shown, not run
    assert "已通知：王芳。" in amy_page.inner_text("#comment-compose")
    amy_page.locator("#toast").filter(has_text="评论已发布。").wait_for()
    assert box.input_value() == ""
    assert amy_page.locator("#comment-count").inner_text() == "1"
    shot(amy_page, "comment-posted", tag)
    amy_page.reload()  # it is stored: still there after a reload
    assert amy_page.locator("#comment-list li.comment a.chip.mention").count() == 1
    amy_page.close()

    # her manager signs in: the badge counts it, the notification leads to the case
    wang = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    wang.set_default_timeout(15000)
    wang.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in_as(wang, base, "wang@example.com")
    assert wang.locator("#inbox-badge").inner_text().startswith("1")
    shot(wang, "inbox-badge", tag)
    wang.click("#inbox-link")
    wang.wait_for_url(re.compile(r"/inbox$"))
    # the title is stored in the workspace's own language (the flagship's is Chinese)
    assert f"Amy An 在销售案件 {case['case_no']} 的评论中提到了你" in wang.inner_text("main")
    shot(wang, "inbox", tag)
    wang.click(f"main a[href='{case_url}']")
    wang.wait_for_url(re.compile(re.escape(case_url) + "$"))
    assert "Please call the client" in wang.inner_text("#comments")
    assert errors == []


@pytest.mark.parametrize("width", [1366, 390])
def test_the_colleagues_list_never_covers_the_comment_button(server, browser, module_db, width):  # noqa: F811
    """A mention picked, the message typed on after it in Chinese: no list reopens ("No
    match"), and a click where the Comment button is lands on it (a phone too); while the list
    is open, it opens above the box, not over the button."""
    app, base = server
    run = app.extensions["lowrise"]
    mk = lambda t, **v: run.records.create(t, v, SYSTEM_ACTOR)  # noqa: E731
    where = "桌面" if width > 500 else "手机"
    boss = mk("staff", name=f"文磊{where}", role="manager", team="team_a")
    me = mk("staff", name=f"李秀英{width}", role="consultant", team="team_a",
            manager=boss["id"])
    run.accounts.add(f"li{width}@example.com", PASSWORD, name=me["name"], staff_id=me["id"],
                     roles=["consultant"])
    client = mk("client", name=f"价格客户{width}", phone=f"1380000{width:04d}",
                source="walk_in", consultant=me["id"])
    case = mk("case", client=client["id"], consultant=me["id"], opened_on=date(2026, 11, 20),
              stage="lead")
    page = browser.new_page(viewport={"width": width, "height": 844})
    page.set_default_timeout(15000)
    sign_in_as(page, base, f"li{width}@example.com")
    page.goto(f"{base}/r/case/{case['id']}")
    box = page.locator("#comment-body")
    box.click()
    with page.expect_response(lambda r: "/comments/mentions?q=" in r.url):
        box.press_sequentially(f"@文磊{where[0]}")
    page.locator("#mention-options li[data-id]").first.wait_for()
    button = page.locator("#comment-compose button[type=submit]")

    def on_top(locator) -> bool:
        return locator.evaluate("""el => { const r = el.getBoundingClientRect();
            const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
            return hit === el || el.contains(hit); }""")

    button.scroll_into_view_if_needed()
    assert on_top(button)  # the open list is above the box
    box.press("Enter")
    assert box.input_value() == f"@文磊{where} "
    box.press_sequentially("请看一下价格，客户想要九五折")
    page.wait_for_timeout(600)  # longer than the lookup's pause
    assert page.locator("#mention-options li").count() == 0
    assert on_top(button)
    button.click(no_wait_after=True)
    posted = page.locator("#comment-list li.comment").last
    posted.locator("a.chip.mention").wait_for()
    assert "请看一下价格" in posted.inner_text()
