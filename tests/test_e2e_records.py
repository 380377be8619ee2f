"""The flagship's htmx actions through a real server (`lowrise serve`, as `make run` starts
it), in headless Chromium, in Chinese (the flagship's default) and in English, on SQLite and
PostgreSQL: a comment appears once with its toast; an inline edit is saved, or refused with
the reason; a bulk edit is saved, or refused; a kanban card moves, or snaps back with the
reason; a record goes to the trash and comes back; a legal officer reveals a masked phone.

Each test checks what a person sees (the toast, the new value, the message) and that the
server wrote no traceback or error. A toast rides in the HX-Trigger response header, which a
server sends only when it is ASCII (lowrise.web.headers), whatever the language.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from e2e_support import (  # noqa: F401 (instance ... visitor: fixtures)
    Http,
    instance,
    label_of,
    lead,
    locale,
    records,
    say,
    server,
    server_stays_clean,
    visitor,
)
from lowrise.accounts import Accounts
from lowrise.actor import SYSTEM
from lowrise.rules.engine import install
from lowrise.rules.worker import Worker
from test_browser_flows import browser  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("e2e_records")]


def token() -> str:
    """A word no seeded record has, to find a test's own records by."""
    return "e2e" + uuid.uuid4().hex[:8]


def make_case(recs, tag: str, **values) -> dict:
    client = recs.create("client", {"name": f"客户{tag}", "phone": phone(),
                                       "source": "walk_in"}, SYSTEM)
    return recs.create("case", {"client": client["id"], "opened_on": date(2026, 12, 1),
                                   "stage": "lead", "next_action": f"回访 {tag}", **values},
                          SYSTEM)


def phone() -> str:
    return "139" + str(uuid.uuid4().int)[:8]


def toast(page, text: str, error: bool = False) -> None:
    """The toast shows `text` (an error toast when `error`)."""
    shown = page.locator("#toast.error" if error else "#toast:not(.error)")
    shown.filter(has_text=text).wait_for()


def test_a_comment_appears_once_with_its_toast(visitor, records, locale):  # noqa: F811
    case = make_case(records, token())
    page, errors = visitor.open(f"/r/case/{case['id']}", locale=locale)
    text = f"明天下午三点带看 ({locale})"
    page.fill("#comment-body", text)
    page.click("#comment-compose button[type=submit]")
    toast(page, say("Comment added.", locale))
    posted = page.locator("#comment-list li.comment")
    assert posted.count() == 1 and text in posted.inner_text()
    assert page.input_value("#comment-body") == ""  # nothing left to post again
    assert page.inner_text("#comment-count") == "1"
    page.reload()
    assert page.locator("#comment-list li.comment").count() == 1
    assert errors == []


def open_cell(page, case_id: int, field: str):
    row = page.locator(f"tr#row-{case_id}")
    edit = f"a.cell-edit[hx-get*='/cell/{field}']"
    row.locator(f"td:has({edit})").hover()  # the edit link shows on the cell's hover
    row.locator(edit).click()
    editor = row.locator(f"form.cell-form [name={field}]")
    editor.wait_for()
    return row, editor


def test_inline_edit_saved_and_refused(visitor, records, instance, locale):  # noqa: F811
    tag = token()
    case = make_case(records, tag, amount="100")
    page, errors = visitor.open(f"/r/case/?q={tag}", locale=locale)
    row, editor = open_cell(page, case["id"], "amount")
    editor.fill("2500000")
    editor.press("Enter")
    page.locator(f"tr#row-{case['id']}:not([data-version='{case['version']}'])").wait_for()
    assert "2,500,000.00" in row.inner_text()
    assert str(records.get("case", case["id"])["amount"]) == "2500000.00"

    # a negative amount: refused, with the reason at the cell and in the toast
    row, editor = open_cell(page, case["id"], "amount")
    editor.evaluate("el => el.removeAttribute('min')")  # as a script or an old browser sends
    editor.fill("-5")
    editor.press("Enter")
    amount = label_of(instance, "case", "amount", locale)
    message = row.locator("p.cell-error")
    message.wait_for()
    assert message.inner_text().startswith(amount + ("" if locale == "zh" else " "))
    toast(page, message.inner_text(), error=True)
    assert editor.input_value() == "-5"  # what was typed stays, to correct it
    assert str(records.get("case", case["id"])["amount"]) == "2500000.00"
    assert errors == []


def select_rows(page, ids) -> None:
    for i in ids:
        page.check(f"tr#row-{i} input[name=ids]")
    page.locator("#bulk-form.show").wait_for()


def choose_bulk_field(page, name: str) -> None:
    with page.expect_response(lambda r: "/bulk-input" in r.url):
        page.select_option("#bulk-field", name)


def test_bulk_edit_saved_and_refused(visitor, records, instance, locale):  # noqa: F811
    tag = token()
    cases = [make_case(records, tag) for _ in range(2)]
    page, errors = visitor.open(f"/r/case/?q={tag}", locale=locale)
    select_rows(page, [c["id"] for c in cases])
    choose_bulk_field(page, "priority")
    page.select_option("#bulk-value select[name=bulk-priority]", "high")
    page.click("#bulk-form button[value=update]")
    page.locator(".flash-success").filter(has_text=say("%(num)s records updated.", locale,
                                                       num=2)).wait_for()
    assert {records.get("case", c["id"])["priority"] for c in cases} == {"high"}
    assert tag in page.url  # back to the same search

    # the same new phone number on two clients: unique, so nothing changes
    clients = [records.create("client", {"name": f"{tag}{n}", "phone": phone()}, SYSTEM)
               for n in ("孙", "马")]
    page.goto(f"{visitor.server.base}/r/client/?q={tag}")
    select_rows(page, [c["id"] for c in clients])
    choose_bulk_field(page, "phone")
    page.fill("#bulk-value input[name=bulk-phone]", "139 0000 1111")
    page.click("#bulk-form button[value=update]")
    error = page.locator("#bulk-error")
    error.wait_for()
    nothing = lead("Nothing was changed: %(reason)s", locale)
    assert error.inner_text().startswith(nothing)
    assert label_of(instance, "client", "phone", locale) in error.inner_text()
    toast(page, nothing, error=True)
    assert [records.get("client", c["id"])["phone"] for c in clients] == \
        [c["phone"] for c in clients]
    assert errors == []


def drag(page, card_id: int, to: str) -> None:
    page.locator(f".kcard[data-id='{card_id}']").drag_to(
        page.locator(f"section.column[data-value='{to}'] .cards"))


def test_a_kanban_move_saved_and_refused(visitor, records, locale):  # noqa: F811
    tag = token()
    case = make_case(records, tag)
    page, errors = visitor.open(f"/r/case/kanban/cases_board?q={tag}", locale=locale,
                                live=False)  # the page has not heard of the change below
    page.locator(f".kcard[data-id='{case['id']}']").wait_for()
    drag(page, case["id"], "reception")
    stage = records.schema.workspace.type("case").fields["stage"]
    reception = stage.option("reception").label.get(locale)
    toast(page, say("Moved to %(column)s.", locale, column=reception))
    page.locator(f"section.column[data-value='reception'] .kcard[data-id='{case['id']}']"
                 f":not([data-version='{case['version']}'])").wait_for()
    assert records.get("case", case["id"])["stage"] == "reception"

    # someone else changes the case meanwhile: the move is refused and the card snaps back
    records.update("case", case["id"], {"priority": "high"}, SYSTEM)
    drag(page, case["id"], "presentation")
    page.locator("#toast.error").filter(has_text=f"#{case['id']}").wait_for()  # the reason
    page.locator(f"section.column[data-value='reception'] .kcard[data-id='{case['id']}']"
                 ).wait_for()
    assert records.get("case", case["id"])["stage"] == "reception"
    assert errors == []


def test_no_answer_or_a_server_error_is_said_not_silent(visitor, records, locale):  # noqa: F811
    """A dropped connection or a 5xx page (as the Chinese toast header once caused) gets a
    toast in the person's language instead of a page that waits for nothing."""
    tag = token()
    case = make_case(records, tag)
    page, errors = visitor.open(f"/r/case/{case['id']}", locale=locale)
    no_answer = say("The server did not answer. Reload the page to see what was saved.", locale)
    page.route("**/comments", lambda route: route.abort())
    page.fill("#comment-body", "断线了")
    page.click("#comment-compose button[type=submit]")
    toast(page, no_answer, error=True)
    page.unroute("**/comments")
    page.route("**/comments", lambda route: route.fulfill(status=500, body="<h1>500</h1>"))
    page.click("#comment-compose button[type=submit]")
    toast(page, say("The server could not do this (error %(status)s). Reload the page to see "
                    "what was saved.", locale, status=500), error=True)
    page.unroute("**/comments")

    page.goto(f"{visitor.server.base}/r/case/kanban/cases_board?q={tag}")
    page.route(re.compile(r"/move\?"), lambda route: route.abort())
    drag(page, case["id"], "reception")
    toast(page, no_answer, error=True)
    page.locator(f"section.column[data-value='lead'] .kcard[data-id='{case['id']}']").wait_for()
    assert errors == []


def test_delete_then_restore_from_the_trash(visitor, records, instance, locale):  # noqa: F811
    tag = token()
    case = make_case(records, tag)
    page, errors = visitor.open(f"/r/case/{case['id']}", locale=locale)
    page.on("dialog", lambda d: d.accept())  # "Move this record to the trash?"
    page.click("form[action$='/delete'] button[type=submit]")
    page.wait_for_url(re.compile(r"/r/case/$"))
    kind = label_of(instance, "case", None, locale)
    gone = say("%(type)s #%(id)s moved to the trash.", locale, type=kind, id=case["id"])
    page.locator(".flash-success").filter(has_text=gone).wait_for()

    page.goto(f"{visitor.server.base}/trash")
    item = page.locator(f"form[action$='/trash/case/{case['id']}/restore']")
    item.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/r/case/{case['id']}$"))
    page.locator(".flash-success").filter(has_text=say("Restored.", locale)).wait_for()
    assert tag in page.inner_text("main")
    assert records.get("case", case["id"])["next_action"] == f"回访 {tag}"
    assert errors == []


def test_legal_reveals_a_masked_phone(visitor, records, instance, locale):  # noqa: F811
    tag = token()
    client = records.create("client", {"name": f"客户{tag}", "phone": phone()}, SYSTEM)
    records.create("dispute", {"subject": f"退定 {tag}", "type": "refund", "client":
                               client["id"], "description": "要求退还定金",
                               "reported_at": datetime.now(UTC)}, SYSTEM)
    page, errors = visitor.open(f"/r/client/{client['id']}", role="legal", locale=locale)
    main = page.locator("main")
    assert client["phone"] not in main.inner_text()  # masked: 139****1234
    page.fill("#reveal-reason", "核对退定申请人")  # legal reveals only with a reason
    page.click("form[action$='/reveal'] button[type=submit]")
    shown = lead("Shown in full: %(fields)s. This was written to the record's history.",
                 locale)
    notice = page.locator(".flash-info").filter(has_text=shown)
    notice.wait_for()
    notice = notice.inner_text()
    assert label_of(instance, "client", "phone", locale) in notice
    assert "phone" not in notice  # the field's label, not its name
    assert client["phone"] in main.inner_text()
    assert errors == []


def test_htmx_answers_carry_headers_a_server_can_send(server, records, locale):  # noqa: F811
    """The headers of these actions, read as plain HTTP: present, ASCII, and they decode."""
    import json
    from urllib.parse import quote, unquote

    tag = token()
    case = make_case(records, tag)
    http = Http(server, locale=locale)
    comment = http.send("POST", f"/r/case/{case['id']}/comments", {"body": f"评论 {tag}"})
    assert comment.status == 200 and f"评论 {tag}" in comment.body
    refused = http.send("POST", f"/r/case/{case['id']}/cell/amount?view=cases",
                        {"amount": "-5", "_version": str(case["version"])})
    assert refused.status == 422
    back = "/r/case/?q=" + quote(f"回访 {tag}")  # as the page puts it: its own encoded URL
    bulk = http.send("POST", "/r/case/bulk", {
        "action": "update", "field": "priority", "bulk-priority": "high",
        "ids": [str(case["id"])], "next": back})
    exported = http.send("GET", f"/r/case/export.csv?q={quote(tag)}", htmx=False)
    for answer in (comment, refused, bulk, exported):
        assert all(v.isascii() for _k, v in answer.headers), answer.headers
    assert json.loads(comment.header("HX-Trigger")) == {
        "lowrise:toast": {"message": say("Comment added.", locale)}}
    toast = json.loads(refused.header("HX-Trigger"))["lowrise:toast"]
    assert toast["error"] and toast["message"] in refused.body
    assert unquote(bulk.header("HX-Redirect")) == f"/r/case/?q=回访 {tag}"
    disposition = exported.header("Content-Disposition")
    assert unquote(disposition.split("filename*=UTF-8''")[1]).endswith(".csv")
    assert f"回访 {tag}" in exported.body


def test_a_rules_notice_reads_in_the_readers_language(visitor, instance, locale):  # noqa: F811
    """A rule's notice in the inbox, as the consultant reads it in their language: the rule's
    words in that language, the consultant named (not #id), the request's time in the
    locale's format, the record linked by its name."""
    recs = instance.records()  # its own, with the rules: the fixture's writes run none
    try:
        install(recs)
        me = Accounts(recs.engine).by_email("consultant@example.com").staff_id
        name = recs.get("staff", me)["name"]
        asked = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai
        client = recs.create("client", {"name": f"客户{token()}", "phone": phone(),
                                         "source": "walk_in"}, SYSTEM)
        case = recs.create("case", {"client": client["id"], "consultant": me,
                                    "stage": "presentation", "opened_on": date(2026, 11, 30),
                                    "viewing_requested_at": asked}, SYSTEM)
        Worker(recs, senders={}).fire_due_timers()  # (or the server's worker fires it)
        notes = recs.schema.system["lr_notifications"]
        with recs.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).where(
                notes.c.record_id == case["id"], notes.c.user_id == me)).scalar_one() == 1
    finally:
        recs.engine.dispose()
    page, errors = visitor.open("/inbox", role="consultant", locale=locale)
    item = page.locator("ul.inbox li").filter(has_text=case["case_no"]).first
    text = item.inner_text()
    if locale == "zh":
        assert f"看房超时未安排：{case['case_no']}" in text
        assert "客户于 2026/12/1 10:30 提出看房" in text and f"顾问：{name}。" in text
        assert "Viewing" not in text
    else:
        assert f"Viewing not arranged within 24h: {case['case_no']}" in text
        assert "12/1/26, 10:30" in text and f"Consultant: {name}." in text
        assert "看房" not in text
    assert f"#{me}" not in text and f"#{case['id']}" not in text
    link = item.locator(f"a[href='/r/case/{case['id']}']")
    assert link.inner_text() == case["case_no"]  # the record by its name
    assert errors == []
