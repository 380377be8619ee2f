"""Kanban boards (columns, counts, sums, moves allowed and refused, load more) and calendars."""

from __future__ import annotations

import re

import pytest

from lowrise.actor import Actor
from test_web_support import make_record

pytest_plugins = ["test_web_support"]


@pytest.fixture
def deals(run):
    c = make_record(run, "client", name="Kong")
    return [make_record(run, "deal", title=t, client=c["id"], stage=s, amount=a,
                        closes_on=d)
            for t, s, a, d in [("A1", "lead", "100", "2026-03-05"),
                               ("A2", "lead", "250", "2026-03-05"),
                               ("B1", "won", "1000", "2026-03-20"),
                               ("C1", "lost", "5", "2026-04-02")]]


def columns(html: str) -> list[str]:
    return re.findall(r'<section class="column" data-value="(\w+)"', html)


def test_board_columns_in_option_order_with_counts_and_sums(client, signed_in, deals):
    page = client.get("/r/deal/kanban/board")
    assert page.status_code == 200
    html = page.text
    assert columns(html) == ["lead", "won", "lost"]
    lead = html[html.index('data-value="lead"'):html.index('data-value="won"')]
    assert 'class="chip c-gray"' in lead and ">Lead<" in lead
    assert '<span class="count" data-count>2</span>' in lead
    assert "350.00" in lead  # the sum of the view's sum field
    assert lead.count('class="kcard"') == 2 and "Kong" in lead  # card_fields: client, amount
    assert lead.index(">A2<") < lead.index(">A1<")  # the view's sort: -amount
    assert 'draggable="true"' in lead and 'data-version="1"' in lead
    assert 'data-move-url="/r/deal/kanban/board/move"' in html


def test_move_allowed(client, signed_in, run, deals):
    a1 = deals[0]
    resp = signed_in.post("/r/deal/kanban/board/move",
                          data={"id": a1["id"], "version": "1", "to": "won"},
                          headers={"Accept": "application/json"})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["ok"] is True and body["version"] == 2
    assert body["columns"]["won"]["count"] == 2 and body["columns"]["lead"]["count"] == 1
    assert 'data-version="2"' in body["card"] and "Won" in body["message"]
    assert run.records.get("deal", a1["id"])["stage"] == "won"
    after = client.get("/r/deal/kanban/board").text  # survives a reload
    won = after[after.index('data-value="won"'):after.index('data-value="lost"')]
    assert ">A1<" in won
    history = client.get(f"/r/deal/{a1['id']}").text
    assert "Lead" in history[history.index("timeline"):]


def test_move_refused_for_a_stale_version(client, signed_in, run, deals):
    a1 = deals[0]
    run.records.update("deal", a1["id"], {"amount": "101"}, Actor(name="Bob"))
    resp = signed_in.post("/r/deal/kanban/board/move",
                          data={"id": a1["id"], "version": "1", "to": "won"},
                          headers={"Accept": "application/json"})
    assert resp.status_code == 409
    body = resp.get_json()
    assert body["ok"] is False and "changed by someone else" in body["message"]
    assert run.records.get("deal", a1["id"])["stage"] == "lead"


def test_move_refused_by_validation(client, signed_in, run, deals):
    resp = signed_in.post("/r/deal/kanban/board/move",
                          data={"id": deals[0]["id"], "version": "1", "to": "nowhere"},
                          headers={"Accept": "application/json"})
    assert resp.status_code == 422
    assert "Stage" in resp.get_json()["message"]
    empty = signed_in.post("/r/deal/kanban/board/move",
                           data={"id": deals[0]["id"], "version": "1", "to": ""},
                           headers={"Accept": "application/json"})
    assert empty.status_code == 422 and "is required" in empty.get_json()["message"]
    missing = signed_in.post("/r/deal/kanban/board/move", data={"id": "9999", "to": "won"},
                             headers={"Accept": "application/json"})
    assert missing.status_code == 404


def test_move_without_javascript_and_csrf(client, signed_in, run, deals):
    resp = signed_in.post("/r/deal/kanban/board/move",
                          data={"id": deals[0]["id"], "version": "1", "to": "lost"})
    assert resp.status_code == 302
    assert "Moved to Lost" in client.get("/r/deal/kanban/board").text
    no_token = client.post("/r/deal/kanban/board/move",
                           data={"id": deals[1]["id"], "version": "1", "to": "lost"})
    assert no_token.status_code == 400
    assert run.records.get("deal", deals[1]["id"])["stage"] == "lead"


def test_column_load_more(app, client, signed_in, run, deals):
    app.config["LOWRISE_KANBAN_PAGE"] = 1
    html = client.get("/r/deal/kanban/board").text
    lead = html[html.index('data-value="lead"'):html.index('data-value="won"')]
    assert lead.count('class="kcard"') == 1
    more = re.search(r'hx-get="(/r/deal/kanban/board/column/lead[^"]+)"', lead).group(1)
    part = signed_in.hx("GET", more.replace("&amp;", "&"))
    assert part.status_code == 200 and "<html" not in part.text
    assert part.text.count('class="kcard"') == 1 and ">A1<" in part.text


def test_board_htmx_partial_and_unknown_view(client, signed_in, deals):
    part = signed_in.hx("GET", "/r/deal/kanban/board")
    assert "<html" not in part.text and 'id="board-view"' in part.text
    assert client.get("/r/deal/kanban/nope").status_code == 404
    assert client.get("/r/deal/kanban/deals").status_code == 404  # a table, not a board


def test_calendar_month(client, signed_in, deals):
    page = client.get("/r/deal/calendar/closing?month=2026-03")
    assert page.status_code == 200
    html = page.text
    assert "March 2026" in html
    day5 = re.search(r'<span class="cal-date">5</span>\s*<ul class="cal-items">(.*?)</ul>',
                     html, re.S).group(1)
    assert day5.count("<li>") == 2 and "Kong" in day5  # title_field: client
    assert f'href="/r/deal/{deals[0]["id"]}"' in day5
    assert "?month=2026-02" in html and "?month=2026-04" in html
    april = client.get("/r/deal/calendar/closing?month=2026-04").text
    assert "April 2026" in april and f'href="/r/deal/{deals[3]["id"]}"' in april
    part = signed_in.hx("GET", "/r/deal/calendar/closing?month=2026-04")
    assert "<html" not in part.text and 'id="calendar-view"' in part.text
    assert client.get("/r/deal/calendar/closing?month=nonsense").status_code == 200
