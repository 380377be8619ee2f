"""The standard sales process through a real server, in Chinese and English: a consultant's
board knows which columns a case may not go to and says why before the drop; a refused drop
moves nothing and says why in a toast; the server refuses a skip sent by hand, in the
reader's language; a manager's move back needs a reason, which the history keeps."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest

from e2e_support import (  # noqa: F401 (instance ... visitor: fixtures)
    Http,
    csrf_of,
    instance,
    locale,
    records,
    server,
    server_stays_clean,
    visitor,
)
from lowrise.actor import SYSTEM
from test_browser_flows import browser  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("e2e_stages")]

BOARD = "/r/case/kanban/cases_board"


def staff_id(recs, role: str) -> int:
    """The staff record the demo account of `role` signs in as."""
    from lowrise.accounts import Accounts

    return Accounts(recs.engine).by_email(f"{role}@example.com").staff_id


def make_case(recs, role: str = "consultant", **values) -> tuple[dict, str]:
    tag = "e2e" + uuid.uuid4().hex[:8]
    client = recs.create("client", {"name": f"客户{tag}", "phone": "139" + str(
        uuid.uuid4().int)[:8], "source": "walk_in", "consultant": staff_id(recs, role)},
        SYSTEM)
    case = recs.create("case", {"client": client["id"], "opened_on": date(2026, 12, 1),
                                "stage": "lead", "next_action": f"回访 {tag}",
                                "consultant": staff_id(recs, role), **values}, SYSTEM)
    return case, tag


def move(http: Http, case: dict, to: str) -> tuple[int, dict]:
    """The board's move as its script sends it (JSON answer); (status, answer)."""
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode

    board = http.send("GET", BOARD, htmx=False)
    req = urllib.request.Request(
        http.base + f"{BOARD}/move", method="POST",
        data=urlencode({"id": case["id"], "version": case["version"], "to": to}).encode(),
        headers={"Accept": "application/json", "X-CSRFToken": csrf_of(board.body),
                 "Content-Type": "application/x-www-form-urlencoded"})
    try:
        resp = http.opener.open(req, timeout=30)
    except urllib.error.HTTPError as exc:
        resp = exc
    with resp:
        return resp.status, json.loads(resp.read().decode())


def refusals(page, key: str) -> dict[str, str]:
    """{column: why not} of the cards whose refusals the board names `key`: a card carries
    the name, its column the reasons once (data-reasons: {"why": [...], "names": {key:
    {column: place in why}}})."""
    for raw in page.eval_on_selector_all("[data-reasons]",
                                         "els => els.map(e => e.dataset.reasons)"):
        data = json.loads(raw)
        if key in data["names"]:
            return {col: data["why"][i] for col, i in data["names"][key].items()}
    raise AssertionError(f"no reasons on the board for {key!r}")


def test_the_board_says_why_before_and_on_a_refused_drop(visitor, records, locale):  # noqa: F811
    case, tag = make_case(records)
    stage = records.schema.workspace.type("case").fields["stage"]
    page, errors = visitor.open(f"{BOARD}?q={tag}", role="consultant", locale=locale)
    card = page.locator(f".kcard[data-id='{case['id']}']")
    card.wait_for()
    refused = refusals(page, card.get_attribute("data-refused"))
    # the next step and lost are offered; a skip is refused with the reason, in the locale
    assert "reception" not in refused and "lost" in refused  # lost needs its reason first
    lost_label = stage.option("lost").label.get(locale)
    why = refused["negotiation"]
    assert stage.option("reception").label.get(locale) in why
    assert lost_label in why
    if locale == "zh":
        assert "每次只能前进一步" in why and "销售经理" in why
        assert not any(w in why for w in ("moves", "step", "manager"))
    else:
        assert "one step at a time" in why and "Sales manager" in why
    # a drop on the refused column moves nothing and shows the reason
    target = page.locator("section.column[data-value='negotiation']")
    box, to = card.bounding_box(), target.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 12)
    page.mouse.down()
    page.mouse.move(box["x"] + 40, box["y"] + 30, steps=4)
    page.mouse.move(to["x"] + to["width"] / 2, to["y"] + 120, steps=8)
    marked = page.locator("section.column.drop-no[data-value='negotiation']")
    marked.wait_for()  # greyed out while dragging, with the reason
    assert marked.get_attribute("data-reason") == why
    page.mouse.move(to["x"] + to["width"] / 2 + 5, to["y"] + 125, steps=3)
    page.mouse.up()
    page.locator("#toast.error").filter(has_text=why).wait_for()
    assert records.get("case", case["id"])["stage"] == "lead"
    page.locator(f"section.column[data-value='lead'] .kcard[data-id='{case['id']}']").wait_for()
    # the next step goes through
    card.drag_to(page.locator("section.column[data-value='reception'] .cards"))
    page.locator(f"section.column[data-value='reception'] .kcard[data-id='{case['id']}']"
                 f":not([data-version='{case['version']}'])").wait_for()
    assert records.get("case", case["id"])["stage"] == "reception"
    assert errors == []


def test_the_server_refuses_a_skip_sent_by_hand(server, records, locale):  # noqa: F811
    case, _tag = make_case(records)
    http = Http(server, role="consultant", locale=locale)
    status, answer = move(http, case, "contracted")
    assert status == 422, answer
    stage = records.schema.workspace.type("case").fields["stage"]
    contracted = stage.option("contracted").label.get(locale)
    body = answer["message"]
    if locale == "zh":
        assert "每次只能前进一步" in body and contracted in body
    else:
        assert "one step at a time" in body
    assert records.get("case", case["id"])["stage"] == "lead"


def test_a_manager_moves_back_only_with_a_reason_the_history_keeps(
        server, visitor, records, locale):  # noqa: F811
    case, _tag = make_case(records, role="manager")
    case = records.update("case", case["id"], {"stage": "reception"}, SYSTEM)
    http = Http(server, role="manager", locale=locale)
    status, answer = move(http, case, "lead")
    assert status == 422, answer
    reason_label = records.schema.workspace.type("case").fields["stage_reason"].label.get(
        locale)
    assert reason_label in answer["message"]
    # on the case's form, with the reason, the move is made; the history keeps the reason
    page, errors = visitor.open(f"/r/case/{case['id']}/edit", role="manager", locale=locale)
    page.select_option("select[name=stage]", "lead")
    page.fill("input[name=stage_reason]", "客户暂缓购房")
    page.click("form button[type=submit].btn-primary")
    page.wait_for_url(lambda url: url.rstrip("/").endswith(f"/r/case/{case['id']}"))
    after = records.get("case", case["id"])
    assert after["stage"] == "lead" and after["stage_reason"] is None  # cleared by the rule
    assert "客户暂缓购房" in page.content()  # the history keeps the reason
    assert errors == []
