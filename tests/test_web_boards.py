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
    # in English: each card's move button, the page's hint, the loading indicator's words
    assert lead.count('aria-haspopup="menu">Move to…</button>') == 2
    assert "or use its “Move to…” button, to change its Stage." in html
    assert 'id="busy" class="busy" role="status" data-text="Loading…"' in html


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


# -- filters, columns that load after the page, moves the rules forbid ----------------------

def column_html(html: str, key: str) -> str:
    start = html.index(f'<section class="column" data-value="{key}"')
    end = html.find("<section", start + 1)
    return html[start:end if end > 0 else len(html)]


def test_board_filters_in_the_url(client, signed_in, deals):
    url = "/r/deal/kanban/board?f0=amount&o0=gte&v0=200"
    html = client.get(url).text
    assert 'name="f0"' in html and 'value="gte" selected' in html  # the builder, filled
    lead = column_html(html, "lead")
    assert '<span class="count" data-count>1</span>' in lead and ">A2<" in lead
    assert ">A1<" not in lead and "250.00" in lead
    lost = column_html(html, "lost")
    assert '<span class="count" data-count>0</span>' in lost and 'class="kcard"' not in lost
    # the moves and the columns keep the filters: their counts stay the filtered ones
    assert 'data-move-url="/r/deal/kanban/board/move?f0=amount&amp;o0=gte&amp;v0=200"' in html
    moved = signed_in.post("/r/deal/kanban/board/move?f0=amount&o0=gte&v0=200",
                           data={"id": deals[1]["id"], "version": "1", "to": "won"},
                           headers={"Accept": "application/json"}).get_json()
    assert moved["ok"] and set(moved["columns"]) == {"lead", "won"}  # the two it changed
    assert moved["columns"]["won"]["count"] == 2 and moved["columns"]["lead"]["count"] == 0
    # a bad condition is reported, not applied; a quick search narrows the board
    bad = client.get("/r/deal/kanban/board?f0=amount&o0=gte&v0=lots")
    assert bad.status_code == 200 and "is not a number" in bad.text
    assert '<span class="count" data-count>1</span>' in column_html(bad.text, "lead")
    searched = client.get("/r/deal/kanban/board?q=C1").text
    assert ">C1<" in searched and ">B1<" not in searched
    part = signed_in.hx("GET", url)
    assert "<html" not in part.text and 'id="board-view"' in part.text


def test_board_columns_load_after_the_page_on_a_large_type(app, client, signed_in, deals):
    app.config["LOWRISE_KANBAN_INLINE"] = 1  # four deals: "large"
    html = client.get("/r/deal/kanban/board?f0=amount&o0=lt&v0=1000").text
    assert 'class="kcard"' not in html  # the first response waits for no column
    lead = column_html(html.replace('column loading"', 'column"'), "lead")
    url = re.search(r'hx-get="([^"]+)" hx-trigger="load"', lead).group(1).replace("&amp;", "&")
    assert url == "/r/deal/kanban/board/column/lead?f0=amount&o0=lt&v0=1000"
    assert 'href="/r/deal/?f0=stage&amp;o0=eq&amp;v0=lead"' in lead  # without JavaScript
    part = signed_in.hx("GET", url)
    assert part.status_code == 200 and part.text.lstrip().startswith("<section")
    assert '<span class="count" data-count>2</span>' in part.text and "350.00" in part.text
    assert part.text.count('class="kcard"') == 2 and "Kong" in part.text
    assert 'hx-trigger="load"' not in part.text
    lost = signed_in.hx("GET", "/r/deal/kanban/board/column/lost?f0=amount&o0=lt&v0=1000")
    assert '<span class="count" data-count>1</span>' in lost.text and ">C1<" in lost.text
    assert signed_in.hx("GET", "/r/deal/kanban/board/column/nope").status_code == 404


FLOW = {
    "automations/deal_flow.yaml": """
record_type: deal
label: Deal path
stages:
  field: stage
  transitions:
    lead: [won, lost]
    won: []
    lost: [lead]
  roles:
    "lead -> won": [manager]
  required:
    lost: [closes_on]
""",
}


@pytest.fixture
def flow_app(tmp_path, db_url):
    from test_web_support import SMALL, build_app, make_workspace

    files = {**SMALL, **FLOW}
    files["workspace.yaml"] = SMALL["workspace.yaml"] + "  manager: {label: Manager}\n"
    app = build_app(tmp_path, db_url, make_workspace(files))
    yield app
    app.extensions["lowrise"].engine.dispose()


def test_moves_the_rules_forbid_are_marked_on_each_card(flow_app):
    import json
    from html import unescape

    from test_web_support import AuthActions

    run = flow_app.extensions["lowrise"]
    c = make_record(run, "client", name="Kong")
    dated = make_record(run, "deal", title="Dated", client=c["id"], closes_on="2026-03-05")
    undated = make_record(run, "deal", title="Undated", client=c["id"])
    won = make_record(run, "deal", title="Done", client=c["id"], stage="won")
    client = flow_app.test_client()
    auth = AuthActions(client)
    assert auth.login().status_code == 302
    html = client.get("/r/deal/kanban/board").text

    # each card names its refusals; the list of cards says once what the names stand for
    said = [json.loads(unescape(r)) for r in re.findall(r'<li hidden data-reasons="([^"]*)"', html)]

    def refused(rec_id):
        m = re.search(rf'<li class="kcard"[^>]*data-id="{rec_id}"[^>]*>', html).group(0)
        found = re.search(r'data-refused="([^"]*)"', m)
        if not found:
            return {}
        known = next(k for k in said if found.group(1) in k["names"])
        return {col: known["why"][i] for col, i in known["names"][found.group(1)].items()}

    # admin is not manager: lead -> won is the manager's; lost needs the closing date
    assert set(refused(dated["id"])) == {"won"}
    assert "only Manager may move Stage to Won" in refused(dated["id"])["won"]
    assert set(refused(undated["id"])) == {"won", "lost"}
    assert "fill in Closes on" in refused(undated["id"])["lost"]
    done = refused(won["id"])  # nowhere to go from Won
    assert set(done) == {"lead", "lost"} and "cannot go from Won to Lead" in done["lead"]
    assert len(said) == 2  # one list of reasons a column (lead, won), not one a card
    assert "<form" not in html[html.index('<div class="board"'):]  # no move form a card
    # without JavaScript a card's "Move to…" opens a page whose form offers the allowed
    # columns only, and says why not the others
    assert f'form="kmove" name="id" value="{undated["id"]}"' in html
    page = client.get(f"/r/deal/kanban/board/move?id={undated['id']}").text
    form = page[page.index('id="move-to"'):]
    form = form[:form.index("</select>")]
    assert '<option value="won" disabled' in form and '<option value="lost" disabled' in form
    assert "fill in Closes on" in form and '<option value="lead" selected' in form
    assert client.get("/r/deal/kanban/board/move?id=99999").status_code == 404
    assert client.get("/r/deal/kanban/board/move").status_code == 404
    # the server stays the judge of a move made anyway
    resp = auth.post("/r/deal/kanban/board/move",
                     data={"id": dated["id"], "version": "1", "to": "won"},
                     headers={"Accept": "application/json"})
    assert resp.status_code == 422 and "only Manager" in resp.get_json()["message"]
    assert run.records.get("deal", dated["id"])["stage"] == "lead"
    ok = auth.post("/r/deal/kanban/board/move",
                   data={"id": dated["id"], "version": "1", "to": "lost"},
                   headers={"Accept": "application/json"})
    assert ok.status_code == 200 and ok.get_json()["ok"]
    card = ok.get_json()["card"]  # a moved card carries what its refusals' name stands for
    name = re.search(r'data-refused="([^"]*)"', card).group(1)
    whole = json.loads(unescape(re.search(r'data-reasons="([^"]*)"', card).group(1)))
    assert set(whole["names"][name]) == {"won"}  # from Lost only back to Lead
