"""The flows a salesperson clicks through, in headless Chromium (Debian's), on the flagship,
in Chinese (its default locale; `sign_in` chooses the locale, zh unless a test says).

Screenshots of each main page go to test-artifacts/screenshots/ (ignored by git) so that a
person can look at them. Never runs `playwright install`: it drives the system chromium.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest

from lowrise import seed as seeding
from test_web_support import PASSWORD, build_app

pytest_plugins = ["test_web_support"]
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser_flows")]

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    """Debian's chromium, installed with apt-get when it is missing."""
    path = shutil.which("chromium")
    if path is None:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True)
        path = shutil.which("chromium")
    assert path, "chromium is not installed and could not be installed"
    return path


@contextmanager
def serving(app):
    """`app` served on 127.0.0.1 at a free port from a thread, for a browser; yields its base
    URL, and stops the server and disposes of the app's database engine afterwards."""
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        thread.join(timeout=10)
        app.extensions["lowrise"].engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory, module_db):
    """The flagship app with a little demo data, served on 127.0.0.1 at a free port, for the
    module's tests (they make records of their own)."""
    from lowrise.workspace import load_workspace

    app = build_app(tmp_path_factory.mktemp("flagship"), module_db, load_workspace(ROOT))
    seeding.seed(app.extensions["lowrise"].records, scale=0.1, seed_value=3)
    with serving(app) as base:
        yield app, base


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for a whole module: each test opens pages (contexts) of its own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS,
                              headless=True)
        yield b
        b.close()


def shot(page, name: str, backend: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{backend}-{name}.png"))


def sign_in(page, base: str, next_path: str = "/", locale: str = "zh") -> None:
    """Sign in as Ada, in `locale` (zh unless a test is about another), landing on
    `next_path`."""
    chosen = f"/locale/{locale}?" + urlencode({"next": next_path})
    page.goto(f"{base}/auth/login?" + urlencode({"next": chosen}))
    page.fill("#email", "ada@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/auth/login" not in url)


def open_page(browser, base: str, path: str, width: int = 1366):
    """A new tab signed in (in Chinese) on `path`, and the list its page errors go to."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(15000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, base, path)
    page.wait_for_url(lambda url: "/auth/login" not in url)
    return page, errors


def backend_of(db_url: str) -> str:
    return "pg" if db_url.startswith("postgresql") else "sqlite"


def test_sales_flow(server, browser, module_db):
    app, base = server
    run = app.extensions["lowrise"]
    tag = backend_of(module_db)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.set_default_timeout(15000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    sign_in(page, base, "/r/client/new")

    # 1. create a client
    page.fill("#name", "Browser Client")
    page.fill("#phone", "139 1234 5678")
    page.select_option("#source", "referral")
    shot(page, "client-form", tag)
    page.click("button[type=submit]:has-text('创建')")
    page.wait_for_url(re.compile(r"/r/client/\d+$"))
    client_id = int(page.url.rsplit("/", 1)[1])
    assert "Browser Client" in page.inner_text("h1")
    shot(page, "client-record", tag)

    # 2. create a case linked to that client with the picker
    page.goto(f"{base}/r/case/new")
    with page.expect_response(lambda r: "client__q=Browser" in r.url):
        page.fill("#client", "Browser")
    option = page.locator(f"#client-options li[data-id='{client_id}']")
    option.wait_for()
    option.click()
    assert page.input_value("input[name=client]") == str(client_id)
    page.fill("#opened_on", "2026-11-20")
    page.fill("#amount", "1234567")
    page.fill("#next_action", "Call back")
    shot(page, "case-form", tag)
    page.click("button[type=submit]:has-text('创建')")
    page.wait_for_url(re.compile(r"/r/case/\d+$"))
    case_id = int(page.url.rsplit("/", 1)[1])
    case = run.records.get("case", case_id)
    assert case["client"] == client_id and case["stage"] == "lead"
    assert page.locator(f"a.chip-link[href='/r/client/{client_id}']").inner_text() == \
        "Browser Client"

    # 3. filter and sort the cases table
    page.goto(f"{base}/r/case/")
    shot(page, "cases-table", tag)
    page.click("details.filters summary")
    page.select_option("#f0", "client")
    page.locator("#cond-0 [data-picker-input]").wait_for()
    with page.expect_response(lambda r: "v0__q=Browser" in r.url):
        page.fill("#cond-0 [data-picker-input]", "Browser")
    page.locator(f"#cond-0 li[data-id='{client_id}']").click()
    assert page.input_value("#cond-0 input[name=v0]") == str(client_id)
    page.click("button:has-text('应用')")
    page.wait_for_url(re.compile(r"f0=client"))
    page.locator("#total:has-text('1 条记录')").wait_for()
    assert page.locator("tbody tr[data-id]").count() == 1
    page.goto(f"{base}/r/case/")
    page.click("thead a:has-text('成交金额')")
    page.wait_for_url(re.compile(r"sort=amount"))
    page.locator("th[aria-sort=ascending]:has-text('成交金额')").wait_for()
    amounts = [run.records.get("case", int(i))["amount"] for i in
               page.locator("tbody tr[data-id]").evaluate_all("rs => rs.map(r => r.dataset.id)")]
    present = [a for a in amounts if a is not None]
    assert present == sorted(present)
    shot(page, "cases-sorted", tag)

    # 4. edit a cell inline
    page.goto(f"{base}/r/case/?f0=client&o0=eq&v0={client_id}")
    before = run.records.get("case", case_id)["version"]  # rules may have written already
    row = page.locator(f"tr#row-{case_id}")
    cell = row.locator("td.cell:has(a.cell-edit[hx-get*='/cell/next_action?'])")
    cell.hover()
    cell.locator("a.cell-edit").click()
    editor = row.locator("input[name=next_action]")
    editor.wait_for()
    editor.fill("Visit on Saturday")
    editor.press("Enter")
    page.locator(f"tr#row-{case_id}:has-text('Visit on Saturday')").wait_for()
    assert int(page.get_attribute(f"tr#row-{case_id}", "data-version")) > before
    assert run.records.get("case", case_id)["next_action"] == "Visit on Saturday"
    shot(page, "inline-edit", tag)

    # 5. drag the case to the next stage of the standard path (lead → reception); the move
    # survives a reload
    page.goto(f"{base}/r/case/kanban/cases_board?q=Visit on Saturday")
    card = page.locator(f".kcard[data-id='{case_id}']")
    card.wait_for()
    before = run.records.get("case", case_id)["version"]
    target = page.locator("section.column[data-value='reception']")
    card.drag_to(target.locator(".cards"))
    page.locator(f"section.column[data-value='reception'] .kcard[data-id='{case_id}']"
                 f":not([data-version='{before}'])").wait_for()
    assert run.records.get("case", case_id)["stage"] == "reception"
    page.reload()
    assert page.locator(f"section.column[data-value='reception'] .kcard[data-id='{case_id}']"
                        ).count() == 1
    page.goto(f"{base}/r/case/kanban/cases_board")
    shot(page, "kanban", tag)

    # a move the server refuses snaps back with the reason
    run.records.update("case", case_id, {"priority": "high"},
                       __import__("lowrise.actor").actor.Actor(name="Someone else", system=True))
    page.goto(f"{base}/r/case/kanban/cases_board?q=Visit on Saturday")
    card = page.locator(f".kcard[data-id='{case_id}']")
    stale = run.records.get("case", case_id)["version"] - 1
    page.evaluate(f"document.querySelector(\".kcard[data-id='{case_id}']\").dataset.version"
                  f" = '{stale}'")
    card.drag_to(page.locator("section.column[data-value='presentation'] .cards"))
    page.locator("#toast.error").wait_for()
    assert "已被他人修改" in page.inner_text("#toast")
    assert page.locator(f"section.column[data-value='reception'] .kcard[data-id='{case_id}']"
                        ).count() == 1
    assert run.records.get("case", case_id)["stage"] == "reception"

    # 6. the change is in the record's history
    page.goto(f"{base}/r/case/{case_id}")
    history = page.inner_text(".timeline")
    assert "阶段" in history and "线索" in history and "接待" in history
    assert "下一步行动" in history and "Visit on Saturday" in history
    shot(page, "case-record", tag)

    # the other main pages, for a person to look at
    for name, path in [("calendar", "/r/case/calendar/viewings_calendar"),
                       ("search", "/search?q=Browser"), ("trash", "/trash")]:
        page.goto(base + path)
        shot(page, name, tag)
    page.goto(f"{base}/locale/en?next=/r/case/")  # one click to English
    assert page.locator("thead a:has-text('Amount')").count() == 1
    shot(page, "cases-table-en", tag)
    assert not errors, errors


def _lead_case(run, tag: str) -> int:
    """A new case at 线索 (lead) of a client of its own, found on the board by `tag`."""
    from test_web_support import SYSTEM_ACTOR

    client = run.records.create("client", {"name": f"客户{tag}",
                                           "phone": "139" + str(uuid.uuid4().int)[:8],
                                           "source": "walk_in"}, SYSTEM_ACTOR)
    return run.records.create("case", {"client": client["id"], "stage": "lead",
                                       "opened_on": "2026-12-01", "next_action": tag},
                              SYSTEM_ACTOR)["id"]


def test_a_card_moves_by_keyboard_with_its_move_menu(server, browser, module_db):
    """A card's "Move to…" opens a menu of the other columns: arrows move, Enter moves the
    card with a drag's toast and the focus stays on the card; a column the stage rules refuse
    is listed greyed with the reason and, chosen, says it without moving; Esc closes."""
    app, base = server
    run = app.extensions["lowrise"]
    tag = "kb" + uuid.uuid4().hex[:8]
    case_id = _lead_case(run, tag)
    page, errors = open_page(browser, base, f"/r/case/kanban/cases_board?q={tag}")
    card = page.locator(f".kcard[data-id='{case_id}']")
    assert card.locator(".kcard-title").inner_text() == f"客户{tag}"  # card_title: client
    card.locator(".kcard-move").focus()
    page.keyboard.press("Enter")
    menu = page.locator(".kmenu[role=menu]")
    menu.wait_for()
    assert page.evaluate("document.activeElement.textContent") == "接待"  # the first allowed
    viewing = menu.locator("[role=menuitem][data-value=viewing]")
    assert viewing.get_attribute("aria-disabled") == "true"  # lead → viewing skips stages
    assert "阶段调整原因" in viewing.get_attribute("data-reason")
    page.keyboard.press("Escape")
    assert menu.count() == 0
    assert page.evaluate("document.activeElement.classList.contains('kcard-move')")
    page.keyboard.press("Enter")  # a refused column: the reason, nothing moved
    while page.evaluate("document.activeElement.dataset.value") != "viewing":
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.locator("#toast.error").filter(has_text="阶段调整原因").wait_for()
    assert run.records.get("case", case_id)["stage"] == "lead"
    page.keyboard.press("Enter")  # the focus is back on the card's button
    page.keyboard.press("Home")
    page.keyboard.press("Enter")
    page.locator("#toast:not(.error)").filter(has_text="已移至 接待。").wait_for()
    page.locator(f"section.column[data-value='reception'] .kcard[data-id='{case_id}']"
                 ":not([data-version='1'])").wait_for()
    assert run.records.get("case", case_id)["stage"] == "reception"
    assert page.evaluate("document.activeElement.closest('.kcard').dataset.id") == str(case_id)
    assert errors == []
    page.close()


def test_pages_at_phone_width(server, browser, module_db):
    app, base = server
    tag = backend_of(module_db)
    page = browser.new_page(viewport={"width": 390, "height": 844}, has_touch=True)
    sign_in(page, base, "/r/case/")
    page.wait_for_url(re.compile(r"/r/case/$"))
    assert page.locator(".sidebar").is_hidden()
    page.click("label.nav-button")
    assert page.locator(".sidebar").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400  # the page itself does not scroll sideways; wide tables scroll inside
    shot(page, "phone-menu", tag)
    for name, path in [("phone-table", "/r/case/"), ("phone-record", "/r/case/1"),
                       ("phone-form", "/r/client/new"),
                       ("phone-kanban", "/r/case/kanban/cases_board")]:
        page.goto(base + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 400, path
        shot(page, name, tag)
    # a card moves by a tap on its "Move to…" and one on a column in its menu
    run = app.extensions["lowrise"]
    word = "ph" + uuid.uuid4().hex[:8]
    case_id = _lead_case(run, word)
    page.goto(f"{base}/r/case/kanban/cases_board?q={word}")
    page.locator(f".kcard[data-id='{case_id}'] .kcard-move").tap()
    item = page.locator(".kmenu [role=menuitem][data-value=reception]")
    item.wait_for()
    box = page.locator(".kmenu").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390  # the menu is all on the screen
    shot(page, "phone-kanban-move", tag)
    item.tap()
    page.locator("#toast:not(.error)").filter(has_text="已移至 接待。").wait_for()
    page.locator(f"section.column[data-value='reception'] .kcard[data-id='{case_id}']"
                 ).wait_for()
    assert run.records.get("case", case_id)["stage"] == "reception"


def test_reading_works_without_javascript(server, browser, module_db):
    _app, base = server
    ctx = browser.new_context(java_script_enabled=False)
    page = ctx.new_page()
    sign_in(page, base, "/r/case/")
    page.wait_for_url(re.compile(r"/r/case/$"))
    assert page.locator("tbody tr[data-id]").count() > 0
    page.click("thead a:has-text('成交金额')")
    page.wait_for_url(re.compile(r"sort="))
    page.goto(f"{base}/r/case/kanban/cases_board")
    assert page.locator(".kcard").count() > 0
    page.locator(".kcard .kcard-move").first.click()  # a page with a form moves it instead
    page.wait_for_url(re.compile(r"/kanban/cases_board/move\?id=\d+"))
    assert page.locator("form.move select[name=to]").is_visible()
    page.goto(f"{base}/r/case/calendar/viewings_calendar")
    assert page.locator(".cal-day").count() >= 28
    ctx.close()
