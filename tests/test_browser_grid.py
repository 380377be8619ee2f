"""The cases table as a grid, by keyboard, in headless Chromium (Debian's), on the flagship in
Chinese: arrows move a focused cell, Enter or F2 edits with the focus in the editor, a typed
letter starts an edit with it, Enter saves and moves down, Tab saves and moves right, Esc
cancels, a select saves on choice, a double click edits, leaving the editor by the mouse
saves, and a refused value keeps the editor open with its message and the focus in it.
"""

from __future__ import annotations

import re

import pytest

from lowrise.workspace import load_workspace
from test_browser_flows import ROOT, backend_of, browser, open_page, server, shot, sign_in  # noqa: F401 (fixtures)
from test_web_support import SYSTEM_ACTOR

pytest_plugins = ["test_web_support"]
pytestmark = pytest.mark.browser

# the cases table's columns, as views/cases.yaml lists them (the admin sees them all)
COLUMNS = list(load_workspace(ROOT).views["cases"].config["columns"])
PRIORITY, AMOUNT, NEXT_ACTION, NEXT_AT = (COLUMNS.index(n) for n in (
    "priority", "amount", "next_action", "next_action_at"))


def focused(page) -> dict:
    """Where the focus is: the row's id, the cell's column, the element's tag and name."""
    return page.evaluate("""() => {
        const a = document.activeElement, td = a.closest('td'), tr = a.closest('tr');
        const cells = tr ? [...tr.querySelectorAll('td.cell, td.editing')] : [];
        return {row: tr ? tr.id : null, col: td ? cells.indexOf(td) : null,
                tag: a.tagName, name: a.getAttribute('name')};
    }""")


def test_the_cases_table_works_by_keyboard(server, browser, module_db):  # noqa: F811
    app, base = server
    run = app.extensions["lowrise"]
    mk = lambda t, **v: run.records.create(t, v, SYSTEM_ACTOR)["id"]  # noqa: E731
    client = mk("client", name="键盘测试客户", phone="13700001111", source="walk_in")
    ids = [mk("case", client=client, stage="lead", opened_on=f"2026-11-0{3 - i}",
              next_action=f"回访{i}", priority="normal") for i in range(3)]
    rows = [f"row-{i}" for i in ids]  # newest first: the order of the view
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(15000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, base, f"/r/case/?f0=client&o0=eq&v0={client}")
    assert [r for r in page.locator("tbody tr[data-id]").evaluate_all(
        "rs => rs.map(r => r.id)")] == rows

    def wait_focus(row, col, tag="TD"):
        page.wait_for_function(
            """([row, col, tag]) => {
                const a = document.activeElement, tr = a.closest('tr');
                if (!tr || tr.id !== row || a.tagName !== tag) return false;
                const cells = [...tr.querySelectorAll('td.cell, td.editing')];
                return cells.indexOf(a.closest('td')) === col;
            }""", arg=[row, col, tag])

    # a click focuses a cell; the arrows move
    page.locator(f"#{rows[0]} td.cell").nth(NEXT_ACTION).click(position={"x": 5, "y": 5})
    wait_focus(rows[0], NEXT_ACTION)
    page.keyboard.press("ArrowDown")
    wait_focus(rows[1], NEXT_ACTION)
    page.keyboard.press("ArrowLeft")
    wait_focus(rows[1], AMOUNT)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowUp")
    wait_focus(rows[0], NEXT_ACTION)
    assert page.locator(f"#{rows[0]} td.cell:focus .cell-edit").is_visible()  # the pencil shows

    # Enter edits, the editor has the focus and its text selected; Enter saves and moves down
    page.keyboard.press("Enter")
    wait_focus(rows[0], NEXT_ACTION, "INPUT")
    assert focused(page)["name"] == "next_action"
    page.keyboard.type("周六带看")
    shot(page, "grid-editing", backend_of(module_db))
    page.keyboard.press("Enter")
    wait_focus(rows[1], NEXT_ACTION)
    assert run.records.get("case", ids[0])["next_action"] == "周六带看"
    assert "周六带看" in page.inner_text(f"#{rows[0]}")

    # F2 edits; Esc cancels and leaves the value and the focus where they were
    page.keyboard.press("F2")
    wait_focus(rows[1], NEXT_ACTION, "INPUT")
    page.keyboard.type("不要保存")
    page.keyboard.press("Escape")
    wait_focus(rows[1], NEXT_ACTION)
    assert run.records.get("case", ids[1])["next_action"] == "回访1"
    assert page.locator(f"#{rows[1]} .cell-form").count() == 0

    # a typed letter starts the edit with it; Tab saves and moves right
    page.keyboard.press("ArrowDown")
    wait_focus(rows[2], NEXT_ACTION)
    page.keyboard.press("A")
    wait_focus(rows[2], NEXT_ACTION, "INPUT")
    page.keyboard.type("BC")
    page.keyboard.press("Tab")
    wait_focus(rows[2], NEXT_AT)
    assert run.records.get("case", ids[2])["next_action"] == "ABC"
    page.keyboard.press("Shift+Tab")  # Tab outside an editor is the page's own

    # a refused value (an amount is at least 0) keeps the editor open with the focus in it
    # and the server's message in Chinese (an amount's input is text: 325万 is typed too)
    page.locator(f"#{rows[2]} td.cell").nth(AMOUNT).click(position={"x": 5, "y": 5})
    wait_focus(rows[2], AMOUNT)
    page.keyboard.press("Enter")
    wait_focus(rows[2], AMOUNT, "INPUT")
    page.keyboard.type("-5")
    page.keyboard.press("Enter")
    page.locator(f"#{rows[2]} .cell-error").wait_for()
    wait_focus(rows[2], AMOUNT, "INPUT")
    assert "0" in page.inner_text(f"#{rows[2]} .cell-error")
    assert not re.search(r"[A-Za-z]{3}", page.inner_text(f"#{rows[2]} .cell-error"))
    page.keyboard.press("Escape")
    wait_focus(rows[2], AMOUNT)
    assert run.records.get("case", ids[2])["amount"] is None

    # a select saves on choice and keeps the focus on its cell
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowLeft")
    wait_focus(rows[1], PRIORITY)
    page.keyboard.press("Enter")
    wait_focus(rows[1], PRIORITY, "SELECT")
    page.select_option(f"#{rows[1]} select[name=priority]", "high")
    wait_focus(rows[1], PRIORITY)
    assert run.records.get("case", ids[1])["priority"] == "high"

    # a double click edits; a click elsewhere saves what changed
    page.locator(f"#{rows[1]} td.cell").nth(NEXT_ACTION).dblclick(position={"x": 5, "y": 5})
    wait_focus(rows[1], NEXT_ACTION, "INPUT")
    page.keyboard.press("Control+A")
    page.keyboard.type("电话回访")
    page.click("h1")
    page.wait_for_function(
        f"() => !document.querySelector('#{rows[1]} .cell-form')")
    page.wait_for_function(
        f"() => document.querySelector('#{rows[1]}').innerText.includes('电话回访')")
    assert run.records.get("case", ids[1])["next_action"] == "电话回访"
    assert not errors


def test_a_form_takes_amounts_as_typed_and_leads_to_its_errors(server, browser, module_db):  # noqa: F811
    """The case form in Chinese: an amount typed as 325万 is read, the errors listed at the top
    link to their fields, the first field in error has the focus, a link moves it."""
    app, base = server
    run = app.extensions["lowrise"]
    client = run.records.create("client", {"name": "金额测试客户", "phone": "13700002222",
                                           "source": "walk_in"}, SYSTEM_ACTOR)["id"]
    page, errors = open_page(browser, base, "/r/case/new")
    page.fill("#opened_on", "2026-12-01")
    page.fill("#amount", "很多")
    page.click("button[type=submit]:has-text('创建')")
    links = page.locator("#form-errors a")
    assert links.evaluate_all("ls => ls.map(l => l.getAttribute('href'))") == ["#client", "#amount"]
    assert "客户" in links.first.inner_text()
    page.wait_for_function("document.activeElement.id === 'client'")  # the first error
    links.nth(1).click()
    page.wait_for_function("document.activeElement.id === 'amount'")
    page.fill("#amount", "325万")
    with page.expect_response(lambda r: "client__q=" in r.url):
        page.fill("#client", "金额测试")
    page.locator(f"#client-options li[data-id='{client}']").click()
    page.click("button[type=submit]:has-text('创建')")
    page.wait_for_url(re.compile(r"/r/case/\d+$"))
    case_id = int(page.url.rsplit("/", 1)[1])
    assert str(run.records.get("case", case_id)["amount"]) == "3250000.00"
    assert "¥3,250,000.00" in page.inner_text("main")
    page.goto(f"{base}/r/case/{case_id}/edit")
    assert page.input_value("#amount") == "3,250,000.00"  # shown back grouped
    assert errors == []
    page.close()


def test_a_slow_request_shows_the_one_loading_indicator(server, browser, module_db):  # noqa: F811
    """A request still unanswered after 150 ms shows the bar along the top, says 正在加载…
    (role=status) and marks what it loads aria-busy; the answer takes all three away."""
    _app, base = server
    page, errors = open_page(browser, base, "/r/case/")
    held = []
    searched = re.compile(r"/r/case/.*[?&]q=%E6")
    # the search's first answer waits until the test lets it go; any later one goes at once
    page.route(searched, lambda route: route.continue_() if held else held.append(route))
    page.fill("#q", "无此记录")
    page.locator("#busy.on").wait_for()
    assert page.locator("#busy[role=status]").inner_text() == "正在加载…"
    assert page.locator("#table-view").get_attribute("aria-busy") == "true"
    held[0].continue_()
    page.locator("#busy:not(.on)").wait_for(state="attached")
    assert page.locator("#busy").inner_text() == ""
    assert page.locator("[aria-busy]").count() == 0
    assert errors == []
    page.close()


def test_the_table_keeps_its_header_and_first_column_in_place(server, browser, module_db):  # noqa: F811
    """On a phone (390 px) the cases table scrolls inside its card, no taller than the window,
    so its sideways scrollbar is in reach; scrolled either way, the header row and the first
    column (a case's number, with its checkbox) stay where they were; the page itself does not
    scroll sideways."""
    _app, base = server
    page, errors = open_page(browser, base, "/r/case/", width=390)
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator(".table-wrap").scroll_into_view_if_needed()
    where = """() => {
        const wrap = document.querySelector('.table-card .table-wrap');
        const rect = el => el.getBoundingClientRect();
        const first = document.querySelector('tbody tr[data-id] td.sel + td');
        const head = document.querySelector('thead th.sel + th');
        return {first: rect(first).left, sel: rect(document.querySelector('tbody td.sel')).left,
                head: rect(head).top, wrapTop: rect(wrap).top, wrapBottom: rect(wrap).bottom,
                wide: wrap.scrollWidth > wrap.clientWidth, tall: wrap.scrollHeight > wrap.clientHeight,
                page: document.documentElement.scrollWidth};
    }"""
    before = page.evaluate(where)
    assert before["wide"] and before["tall"] and before["page"] <= 400
    assert before["wrapBottom"] <= 844  # the scrollbar at its bottom is on the screen
    page.evaluate("document.querySelector('.table-card .table-wrap').scrollBy(400, 300)")
    after = page.evaluate(where)
    assert abs(after["first"] - before["first"]) < 1 and abs(after["sel"] - before["sel"]) < 1
    assert abs(after["head"] - after["wrapTop"]) < 2  # the header row at the top of the table
    shot(page, "phone-table-scrolled", backend_of(module_db))
    assert errors == []
    page.close()
