"""Documents and printing in headless Chromium (Debian's), on the flagship, in Chinese and
English: a consultant clicks 生成商品房买卖合同（预售） on her contract's page and the stored
DOCX holds the contract's values; every kind of page prints (emulated print media, then
page.pdf()) without the navigation, search, buttons or filters, with the workspace and the
page's title on top, page numbers, and the values.

Screenshots go to test-artifacts/screenshots/ (ignored by git), as in test_browser_flows.
"""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from test_browser_flows import backend_of, browser, server, shot  # noqa: F401 (fixtures)
from test_documents_web import Office, _docx_text
from test_web_support import PASSWORD, SYSTEM_ACTOR

pytest_plugins = ["test_web_support"]
pytestmark = pytest.mark.browser


def office_of(app) -> Office:
    """The module's sales office, made once for the module's server: 张伟's contract, and
    seventy clients before him, so that the clients' table runs over several printed pages."""
    ext = app.extensions
    if "test_office" not in ext:
        for n in range(70):
            ext["lowrise"].records.create("client", {
                "name": f"客户{n:02d}", "source": "walk_in", "phone": f"1390000{n:04d}"},
                SYSTEM_ACTOR)
        ext["test_office"] = Office(app)
    return ext["test_office"]


def sign_in_as(page, base: str, email: str, locale: str) -> None:
    page.goto(f"{base}/auth/login?next=/locale/{locale}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/auth/login" not in url)


def test_a_consultant_clicks_generate_on_her_contract(server, browser, db_url):  # noqa: F811
    app, base = server
    office = office_of(app)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.set_default_timeout(20000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in_as(page, base, "li@example.com", "zh")
    page.goto(f"{base}/r/contract/{office.cid}")
    page.click("button:has-text('生成商品房买卖合同（预售）')")
    page.wait_for_selector(".flash-success")
    assert "已生成商品房买卖合同（预售）" in page.inner_text(".flash-success")
    shot(page, "contract-generated", backend_of(db_url))
    name = f"{office.contract['contract_no']} 商品房买卖合同（预售）张伟.docx"
    assert page.locator(f"a:has-text('{name}')").count() >= 1
    item = office.run.records.get("contract", office.cid)["attachment"][0]
    text = _docx_text(office.file(item))
    assert "张伟" in text and "¥3,250,000.00" in text and "叁佰贰拾伍万元整" in text
    assert re.search(r"20\d\d年\d{1,2}月\d{1,2}日", text) and "138****5678" in text
    assert page.locator(".tl-document").first.is_visible()
    assert not errors


NAV = {"zh": ("回收站", "退出", "密码"), "en": ("Trash", "Sign out", "Password")}


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_every_kind_of_page_prints_its_content_only(server, browser, db_url, locale):  # noqa: F811
    app, base = server
    office = office_of(app)
    ws = app.extensions["lowrise"].workspace
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(20000)
    sign_in_as(page, base, "ada@example.com", locale)
    board = next(v for v in ws.views.values() if v.type == "kanban")
    calendar = next(v for v in ws.views.values() if v.type == "calendar")
    dashboard = next(v for v in ws.views.values() if v.type == "dashboard")
    pages = {
        "record": (f"/r/contract/{office.cid}", office.contract["contract_no"]),
        "table": ("/r/client/", "张伟"),
        "board": (f"/r/{board.record_type}/kanban/{board.name}", None),
        "calendar": (f"/r/{calendar.record_type}/calendar/{calendar.name}", None),
        "dashboard": (f"/d/{dashboard.name}", None),
    }
    page.goto(f"{base}/r/contract/{office.cid}")
    assert page.locator("button[data-print]").is_visible()
    for kind, (url, value) in pages.items():
        page.emulate_media(media="screen")
        page.goto(base + url)
        title = page.inner_text("h1").strip()
        assert page.locator(".sidebar").is_visible() and page.locator(".topbar").is_visible()
        page.emulate_media(media="print")
        for hidden in (".sidebar", ".topbar", ".actions", "button", "form.tools",
                       "#dash-controls"):
            loc = page.locator(hidden)
            assert all(not loc.nth(i).is_visible() for i in range(loc.count())), (kind, hidden)
        assert page.locator(".print-head").is_visible(), kind
        assert page.locator("h1").is_visible()
        if value:
            assert page.get_by_text(value).first.is_visible(), (kind, value)
        shot(page, f"print-{kind}-{locale}", backend_of(db_url))
        printed = [p.extract_text() for p in PdfReader(io.BytesIO(
            page.pdf(format="A4", print_background=False))).pages]
        text = "".join(printed)
        flat = re.sub(r"\s+", "", text)
        if kind == "table":
            assert len(printed) > 1
        for number, one in enumerate(printed, 1):  # the header and the number on every page
            one = re.sub(r"\s+", "", one)
            assert re.sub(r"\s+", "", ws.label.get(locale)) in one, (kind, number)
            assert f"{number}/{len(printed)}" in one, (kind, number)
        assert re.sub(r"\s+", "", title) in flat, (kind, title)
        assert re.sub(r"\s+", "", ws.label.get(locale)) in flat, kind  # the print header
        assert re.search(r"1/\d+", flat), kind  # the page counter
        if value:
            assert value in flat, (kind, value)
        for word in NAV[locale]:
            assert word not in text, (kind, word)
