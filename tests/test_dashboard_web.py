"""Dashboard pages over HTTP, on SQLite and PostgreSQL: the page and its htmx board, charts'
JSON and table fallbacks, the date range and filters in the URL, and every drill-down link
followed to the table view it opens, whose record count must be the number clicked."""

from __future__ import annotations

import html as htmllib
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from lowrise import seed as seeding
from test_dashboards import DASHBOARD
from test_web_support import PASSWORD, SMALL, build_app, make_record

pytest_plugins = ["test_web_support"]

ROOT = Path(__file__).resolve().parents[1]
TODAY = date.today()


@pytest.fixture
def app(tmp_path, db_url):
    from lowrise.workspace import load_workspace_from_texts

    ws = load_workspace_from_texts({**SMALL, "views/sales.yaml": DASHBOARD})
    app = build_app(tmp_path, db_url, ws)
    yield app
    app.extensions["lowrise"].engine.dispose()


@pytest.fixture
def deals(run):
    staff = make_record(run, "staff", name="Li")
    a = make_record(run, "client", name="Alpha", source="walk_in", consultant=staff["id"])
    b = make_record(run, "client", name="Beta", source="referral")
    out = []
    for i, (client, stage, amount, back) in enumerate([
            (a, "lead", "100", 1), (a, "won", "2500", 3), (b, "won", "1200", 8),
            (b, "lost", "800", 15), (a, "lead", "3000", 40), (b, "won", "700", 45)]):
        out.append(make_record(run, "deal", title=f"deal {i}", client=client["id"], stage=stage,
                               amount=amount, owner=staff["id"] if i % 2 else None,
                               closes_on=(TODAY - timedelta(days=back)).isoformat()))
    return out


def links(page: str) -> list[tuple[str, str]]:
    """(href, text) of every drill-down link on a dashboard page."""
    found = re.findall(r'<a class="[^"]*drill[^"]*" href="([^"]+)"[^>]*>([^<]*)</a>', page)
    return [(htmllib.unescape(h), htmllib.unescape(t).strip()) for h, t in found]


def total_of(page: str, client=None) -> int:
    """The record count of a table page: on the page, or (a table that counts its matches
    after the page) from the count URL the page asks for."""
    m = re.search(r'data-total="(\d+)"', page)
    if m is None and client is not None:
        url = re.search(r'id="total">.*?hx-get="([^"]+)"', page, re.S)
        assert url, "no record count on the table page, nor a count to ask for"
        m = re.search(r'data-total="(\d+)"', client.get(htmllib.unescape(url.group(1))).text)
    assert m, "no record count on the table page"
    return int(m.group(1))


def test_drill_downs_land_on_the_right_filtered_table(client, signed_in, deals, run):
    from lowrise.storage import query

    html = client.get("/d/sales?range=all").text
    found = links(html)
    assert len(found) >= 30
    followed = 0
    for href, text in found:
        assert href.startswith("/r/"), href
        table = client.get(href)
        assert table.status_code == 200, href
        assert 'class="filter-problem' not in table.text and "not a field" not in table.text
        total = total_of(table.text, client)
        if re.fullmatch(r"[\d,]+", text):  # a count: the table shows exactly that many
            assert total == int(text.replace(",", "")), (href, text)
            followed += 1
    assert followed >= 15
    # the funnel's second step: won deals (cumulative from won on), all time
    won = next(h for h, t in found if "v0=won" in h and "o0=eq" in h and "f1" not in h)
    with run.engine.connect() as conn:
        n = query.count(conn, run.schema, "deal", {"field": "stage", "op": "eq", "value": "won"})
    assert total_of(client.get(won).text, client) == n == 3


def test_range_and_filters_in_the_url(client, signed_in, deals):
    start = (TODAY - timedelta(days=10)).isoformat()
    html = client.get(f"/d/sales?from={start}&to={TODAY.isoformat()}").text
    assert re.search(r'id="w-deal_count".*?>3<', html, re.S)
    assert 'value="custom" selected' in html
    for href, _ in links(html):
        if "/r/deal/" in href and "closes_on" in href:
            assert f"v0={start}" in href or start in href
    staff_id = re.search(r'<option value="(\d+)">Li</option>', html).group(1)
    mine = client.get(f"/d/sales?range=all&owner={staff_id}").text
    assert re.search(r'id="w-deal_count".*?>3<', mine, re.S)  # deals 1, 3, 5 are Li's
    assert "Not narrowed by Owner" not in mine  # every widget's type maps the filter
    bad = client.get("/d/sales?range=forever&owner=abc")
    assert bad.status_code == 200
    assert "is not a date range" in bad.text and "flash-error" in bad.text


def test_htmx_gets_the_board_alone(client, signed_in, deals):
    resp = signed_in.hx("GET", "/d/sales?range=last_7_days")
    assert resp.status_code == 200
    assert "<html" not in resp.text and resp.text.lstrip().startswith('<div id="dashboard"')
    assert 'id="chart-funnel"' in resp.text


def test_chinese_and_not_found(client, signed_in, deals):
    client.get("/locale/zh")
    html = client.get("/d/sales").text
    assert "日期范围" in html and "销售" in html
    assert client.get("/d/nosuch").status_code == 404
    assert client.get("/d/").status_code == 302


def test_signed_out_goes_to_sign_in(client):
    resp = client.get("/d/sales")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]


def build_flagship(tmp_path, db_url):
    """The flagship workspace with demo data and an admin, set up as the system: the
    flagship's permissions would refuse a plain actor."""
    from lowrise.actor import SYSTEM
    from lowrise.web import create_app
    from lowrise.workspace import load_workspace

    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "DATABASE_URL": db_url,
                      "LOWRISE_WORKSPACE": load_workspace(ROOT), "LOWRISE_NULL_POOL": True,
                      "LOWRISE_INSTANCE": str(tmp_path / "instance")})
    run = app.extensions["lowrise"]
    staff = run.records.create("staff", {"name": "Ada Admin"}, SYSTEM)
    run.accounts.add("ada@example.com", PASSWORD, name="Ada Admin", roles=["admin"],
                     staff_id=staff["id"])
    seeding.seed(run.records, scale=0.1, seed_value=11, actor=SYSTEM)
    return app


@pytest.fixture
def flagship(tmp_path, db_url):
    app = build_flagship(tmp_path, db_url)
    yield app
    app.extensions["lowrise"].engine.dispose()


def test_the_flagship_dashboard(flagship):
    from test_web_support import AuthActions

    client = flagship.test_client()
    assert AuthActions(client).login().status_code == 302
    html = client.get("/d/dashboard?range=all").text
    assert 'class="dash-error"' not in html
    for name in ("funnel", "sales_by_layout", "sales_by_source", "leaderboard", "stock_by_layout",
                 "stock_pivot", "late_viewings", "overdue_disputes", "days_to_contract"):
        assert f'id="w-{name}"' in html
    run = flagship.extensions["lowrise"]
    with run.engine.connect() as conn:
        stages = dict(conn.execute(sa.text('SELECT stage, count(*) FROM "case" GROUP BY stage')).all())
    data = htmllib.unescape(re.search(r'data-chart="funnel" data-spec=\'([^\']*)\'', html).group(1))
    steps = ["lead", "reception", "presentation", "viewing", "negotiation", "deposit",
             "contracted", "handover"]
    expected = [sum(stages.get(s, 0) for s in steps[i:]) for i in range(len(steps))]
    assert json.loads(data)["datasets"][0]["data"] == expected
    viewing = next(h for h, _ in links(html) if "o0=in&v0=viewing&" in h)
    assert total_of(client.get(viewing).text, client) == expected[3]
    client.get("/locale/zh")
    assert client.get("/d/dashboard").status_code == 200


def test_each_person_sees_the_numbers_of_their_own_rows(flagship):
    """A consultant's dashboard counts their own cases only (the row scope of their role)."""
    from lowrise.actor import Actor
    from lowrise.storage import query
    from test_web_support import AuthActions

    run = flagship.extensions["lowrise"]
    with run.engine.connect() as conn:
        sid = conn.execute(sa.text('SELECT consultant FROM "case" WHERE consultant IS NOT NULL '
                                   "GROUP BY consultant ORDER BY count(*) DESC LIMIT 1")).scalar()
        mine = dict(conn.execute(sa.text('SELECT stage, count(*) FROM "case" WHERE consultant = '
                                         ":s GROUP BY stage"), {"s": sid}).all())
        me = Actor(user=sid, roles=frozenset({"consultant"}))
        scoped = {r["stage"]: r["count"] for r in query.aggregate(
            conn, run.schema, "case", group_by=["stage"], ctx=me)}
    assert scoped == mine  # demo cases are the system's: "own" is the consultant field
    run.accounts.add("con@example.com", PASSWORD, name="Con", roles=["consultant"], staff_id=sid)
    client = flagship.test_client()
    assert AuthActions(client).login("con@example.com").status_code == 302
    html = client.get("/d/dashboard?range=all").text
    assert 'class="dash-error"' not in html
    spec = htmllib.unescape(re.search(r'data-chart="funnel" data-spec=\'([^\']*)\'', html).group(1))
    steps = ["lead", "reception", "presentation", "viewing", "negotiation", "deposit",
             "contracted", "handover"]
    assert json.loads(spec)["datasets"][0]["data"] == [
        sum(mine.get(s, 0) for s in steps[i:]) for i in range(len(steps))]
    board = html[html.index('id="w-leaderboard"'):html.index('id="w-late_viewings"')]
    assert board.count('class="rank-badge') <= 1  # only themselves on the leaderboard


@pytest.mark.parametrize("login", ["ada@example.com", "con@example.com"])
def test_every_flagship_drill_down_counts_what_it_shows_for_each_role(flagship, login):
    """Admin and consultant: every count on the flagship dashboard, bars and slices grouped
    through a link (client.source, unit.layout) included, opens a table of exactly that
    many records; the consultant's through their own row scope (clients out of it form the
    "(empty)" group in both). One test a role, so that test workers share them out."""
    from test_web_support import AuthActions

    run = flagship.extensions["lowrise"]
    with run.engine.connect() as conn:
        sid = conn.execute(sa.text('SELECT consultant FROM "case" WHERE consultant IS NOT NULL '
                                   "GROUP BY consultant ORDER BY count(*) DESC LIMIT 1")).scalar()
    run.accounts.add("con@example.com", PASSWORD, name="Con", roles=["consultant"], staff_id=sid)
    client = flagship.test_client()
    assert AuthActions(client).login(login).status_code == 302
    html = client.get("/d/dashboard?range=all").text
    assert 'class="dash-error"' not in html
    followed, paths = 0, 0
    for href, text in links(html):
        if not re.fullmatch(r"[\d,]+", text):
            continue  # amounts and rates: their records are those of the count beside
        table = client.get(href)
        assert table.status_code == 200, href
        assert "not a field" not in table.text, href
        assert total_of(table.text, client) == int(text.replace(",", "")), (login, href, text)
        followed += 1
        paths += "=client.source" in href or "=unit.layout" in href
    assert followed >= 20 and paths >= 4, (login, followed, paths)
    by_source = [h for h, _ in links(html) if "f0=client.source" in h
                 or "=client.source&" in h]
    assert by_source  # the slices by source are clickable, in the consultant's scope too


def test_the_filter_row_keeps_a_condition_through_a_link(flagship):
    """A drill-down's condition through a link shows in the table's filter builder as that
    path (客户 › 来源渠道: the flagship speaks Chinese first), with the linked field's operators and value input, so
    that pressing Apply keeps it; the row's own htmx refresh keeps it too."""
    from test_web_support import AuthActions

    client = flagship.test_client()
    assert AuthActions(client).login().status_code == 302
    page = client.get("/r/case/table/cases?f0=client.source&o0=eq&v0=referral").text
    row = page[page.index('id="cond-0"'):]
    row = row[:row.index('id="o0"') + 2000]
    assert re.search(r'<option value="client.source" selected>客户 › 来源渠道</option>',
                     row), row[:600]
    assert '<option value="eq" selected>' in row
    assert 'value="referral" selected' in row or 'value="referral" checked' in row
    refreshed = client.get("/r/case/filter-row?i=0&f0=client.source&o0=ne",
                           headers={"HX-Request": "true"}).text
    assert '<option value="client.source" selected>' in refreshed
    assert '<option value="ne" selected>' in refreshed
    unknown = client.get("/r/case/filter-row?i=0&f0=client.nosuch",
                         headers={"HX-Request": "true"}).text
    assert 'value="client.nosuch"' not in unknown


def test_a_table_url_names_a_field_through_a_link():
    """A drill-down through a link (unit.layout) is a condition of the table's URL; a path
    that goes nowhere is reported, as an unknown field is, and not applied."""
    from werkzeug.datastructures import MultiDict

    from lowrise.web.viewstate import parse_state
    from lowrise.workspace import load_workspace

    ws = load_workspace(ROOT)
    args = MultiDict([("f0", "unit.layout"), ("o0", "eq"), ("v0", "3br"),
                      ("f1", "client.nosuch"), ("o1", "eq"), ("v1", "x"),
                      ("f2", "client.source"), ("o2", "eq"), ("v2", "no such source!")])
    state = parse_state(args, ws, ws.type("case"), ws.views["cases"])
    assert state.user_filter() == {"all": [{"field": "unit.layout", "op": "eq", "value": "3br"}]}
    assert [[f.name for f in c.path] for c in state.conds] == [["unit", "layout"],
                                                               ["client", "source"]]
    assert state.problems[0] == "client.nosuch: not a field of Sales case"
    assert "is not one of the options" in state.problems[1]


def test_the_charting_library_is_vendored_pinned_with_its_licence():
    import hashlib

    vendor = ROOT / "platform" / "lowrise" / "web" / "static" / "vendor"
    js = (vendor / "chart-4.6.1.umd.min.js").read_bytes()
    assert b"Chart.js v4.6.1" in js[:200]
    assert hashlib.sha256(js).hexdigest() in (vendor / "README.md").read_text()
    assert "MIT License" in (vendor / "chart-LICENSE.md").read_text()
