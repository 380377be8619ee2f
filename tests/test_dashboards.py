"""Dashboards, engine side: periods, the widget model, the cross-checks, and every widget's
numbers against a plain SQL computation, on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from lowrise import dashboards as dash
from lowrise.actor import Actor
from lowrise.dashboards.periods import bucket_days, buckets_between, resolve_range
from lowrise.workspace import WorkspaceError, load_workspace, load_workspace_from_texts
from test_web_support import SMALL, SYSTEM_ACTOR

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 3, 18, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai, a Wednesday
TODAY = date(2026, 3, 18)
ACTOR = Actor(user=None, name="test", clock=lambda: NOW)

DASHBOARD = """
type: dashboard
label: {en: Sales, zh: 销售}
date_range: {default: last_30_days}
filters:
  - {name: owner, label: Owner, fields: {deal: owner, client: consultant}}
widgets:
  - {name: won_amount, type: kpi, record_type: deal, date_field: closes_on,
     filter: {all: [{field: stage, op: eq, value: won}]}, measure: "sum:amount"}
  - {name: deal_count, type: kpi, record_type: deal, date_field: closes_on, measure: count}
  - {name: avg_amount, type: kpi, record_type: deal, date_field: closes_on, measure: "avg:amount",
     good: down}
  - {name: by_stage, type: bar, record_type: deal, date_field: closes_on, group_by: stage,
     measures: [count, "sum:amount"]}
  - {name: by_stage_owner, type: bar, record_type: deal, group_by: stage, series: owner,
     measure: count, stacked: true}
  - {name: per_week, type: line, record_type: deal, date_field: closes_on,
     group_by: "closes_on:week", measure: count}
  - {name: by_client, type: donut, record_type: deal, group_by: client, measure: "sum:amount"}
  - {name: funnel, type: funnel, record_type: deal, group_by: stage, steps: [lead, won]}
  - {name: owners, type: leaderboard, record_type: deal, group_by: owner,
     measures: ["sum:amount", count], show: [email], limit: 2}
  - {name: matrix, type: pivot, record_type: deal, rows: stage, columns: client, measure: count}
  - {name: big, type: list, record_type: deal, columns: [title, client, amount], sort: [-amount],
     filter: {all: [{field: amount, op: gte, value: 1000}]}, limit: 2}
  - {name: by_source, type: bar, record_type: deal, group_by: client.source,
     measures: [count, "avg:amount"]}
  - name: win_rate
    type: kpi
    record_type: deal
    measures:
      - {name: won, measure: count, filter: {field: stage, op: eq, value: won}}
      - {name: all, measure: count}
      - {name: rate, ratio: [won, all]}
  - {name: calls, type: bar, record_type: client, date_field: next_call,
     group_by: "next_call:day", measure: count}
  - {name: not_flat, type: kpi, record_type: deal, measure: count,
     filter: {any: [{field: stage, op: eq, value: won}, {field: amount, op: gt, value: 5000}]}}
"""


def workspace(extra: str = DASHBOARD):
    return load_workspace_from_texts({**SMALL, "views/sales.yaml": extra})


# -- periods ---------------------------------------------------------------------------------

def test_presets_and_the_period_before():
    r = resolve_range("last_7_days", TODAY)
    assert (r.start, r.end, r.days) == (date(2026, 3, 12), TODAY, 7)
    assert (r.previous.start, r.previous.end) == (date(2026, 3, 5), date(2026, 3, 11))
    m = resolve_range("this_month", TODAY)  # month to date, against the same days before
    assert (m.start, m.end) == (date(2026, 3, 1), TODAY)
    assert (m.previous.start, m.previous.end) == (date(2026, 2, 1), date(2026, 2, 18))
    end_of_march = resolve_range("this_month", date(2026, 3, 31))
    assert end_of_march.previous.end == date(2026, 2, 28)  # February is shorter
    lm = resolve_range("last_month", TODAY)
    assert (lm.start, lm.end, lm.previous.start) == (date(2026, 2, 1), date(2026, 2, 28),
                                                    date(2026, 1, 1))
    q = resolve_range("this_quarter", date(2026, 5, 10))
    assert (q.start, q.previous.start, q.previous.end) == (date(2026, 4, 1), date(2026, 1, 1),
                                                          date(2026, 2, 9))
    y = resolve_range("this_year", date(2028, 2, 29))
    assert (y.start, y.previous.end) == (date(2028, 1, 1), date(2027, 2, 28))
    assert resolve_range("all", TODAY).start is None
    c = resolve_range("custom", TODAY, "2026-03-10", "2026-03-01")  # swapped: put right
    assert (c.start, c.end, c.previous.start, c.previous.end) == (
        date(2026, 3, 1), date(2026, 3, 10), date(2026, 2, 19), date(2026, 2, 28))
    with pytest.raises(ValueError, match="not a date range"):
        resolve_range("fortnight", TODAY)
    with pytest.raises(ValueError, match="not a date"):
        resolve_range(None, TODAY, "31/03/2026")


def test_buckets():
    assert buckets_between(date(2026, 1, 30), date(2026, 3, 2), "month") == [
        date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    assert buckets_between(date(2026, 3, 18), date(2026, 3, 30), "week") == [
        date(2026, 3, 16), date(2026, 3, 23), date(2026, 3, 30)]
    assert bucket_days(date(2024, 2, 1), "month") == (date(2024, 2, 1), date(2024, 2, 29))
    assert bucket_days(date(2026, 3, 16), "week") == (date(2026, 3, 16), date(2026, 3, 22))
    assert bucket_days(date(2026, 1, 1), "year")[1] == date(2026, 12, 31)


def test_the_presets_are_the_schemas():
    from lowrise.workspace import metaschema

    assert tuple(dash.PRESETS) == metaschema.DATE_RANGES
    assert tuple(dash.KINDS) == metaschema.WIDGET_KINDS


# -- the model and the checks ----------------------------------------------------------------

def test_load_the_flagship_dashboard():
    ws = load_workspace(ROOT)
    board = dash.load(ws.views["dashboard"], ws)
    kinds = Counter(w.kind for w in board.widgets)
    assert set(kinds) >= {"kpi", "funnel", "line", "bar", "donut", "leaderboard", "pivot", "list"}
    assert board.default_range == "this_month"
    assert board.controls[0].fields["case"] == "consultant"
    stock = next(w for w in board.widgets if w.name == "stock_by_layout")
    assert [m.name for m in stock.measures] == ["units", "left", "sold", "sell_through"]
    assert stock.measures[-1].ratio == ("sold", "units")
    assert [v.name for v in dash.dashboard_views(ws)] == ["dashboard"]


def test_cross_checks_name_each_mistake():
    bad = """
type: dashboard
filters:
  - {name: owner, fields: {deal: owner, nosuch: x, client: nofield}}
widgets:
  - {type: kpi, record_type: deal, measure: "sum:title", date_field: stage, value: nope}
  - {type: bar, record_type: deal, group_by: amount, measure: count}
  - {type: bar, record_type: deal, group_by: client.name, measure: "avg:closes_on"}
  - {type: funnel, record_type: deal, group_by: client}
  - {type: funnel, record_type: deal, group_by: stage, steps: [lead, wonn]}
  - {type: line, record_type: deal, group_by: "title:month",
     measures: [count, {name: r, ratio: [count, x]}]}
  - {type: leaderboard, record_type: deal, group_by: owner, measures: [count],
     show: [name, zz], sort: -amount}
  - {type: list, record_type: deal, columns: [title, nope], sort: [-zzz], view: board}
  - {type: pivot, record_type: nosuch, rows: a, columns: b}
  - {type: pie, record_type: deal, measure: "median:amount", group_by: stage}
"""
    with pytest.raises(WorkspaceError) as err:
        workspace(bad)
    text = str(err.value)
    for expected in [
        "'nosuch' is not a record type",
        "'nofield' is not a field of client",
        "widgets[0].measure: 'title' is a text field; sum needs a number field",
        "widgets[0].date_field: 'stage' is a select field",
        "widgets[0].value: 'nope' is not a measure",
        "widgets[1].group_by: 'amount' is a currency field",
        "widgets[2].group_by: 'client.name' is a text field",
        "widgets[2].measure: 'closes_on' is a date field; avg needs a number field",
        "widgets[3].group_by: 'client' is a link field; a funnel's steps",
        "widgets[4].steps[1]: 'wonn' is not an option of stage; did you mean 'won'?",
        "widgets[5].group_by: 'title:month': a bucket",
        "widgets[5].measures[1].ratio[1]: 'x' is not a measure",
        "widgets[6].show[1]: 'zz' is not a field of staff",
        "widgets[6].sort: 'amount' is neither a measure",
        "widgets[7].columns[1]: 'nope' is not a field of deal",
        "widgets[7].sort[0]: 'zzz' is not a field of deal",
        "widgets[7].view: 'board' is not a table view of deal",
        "widgets[8].record_type: 'nosuch' is not a record type",
        "widgets[9].measure: 'median:amount' is not a measure",
    ]:
        assert expected in text, expected
    assert "views/sales.yaml:" in text  # every problem names the file and line
    with pytest.raises(WorkspaceError, match=r"widgets\[0\]: this needs 'type' \(kpi, bar, "):
        workspace("type: dashboard\nwidgets: [{record_type: deal}]\n")


def test_the_engine_does_not_import_flask():
    code = ("import sys, lowrise.dashboards, lowrise.workspace.dashboard_checks; "
            "assert not [m for m in sys.modules if m.split('.')[0] == 'flask'], 'flask'")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- numbers against SQL ---------------------------------------------------------------------

@pytest.fixture
def shop(engine):
    """The small workspace with a dashboard, its tables, and deals around 18 March 2026."""
    from lowrise.storage import migrate
    from lowrise.storage.records import Records
    from lowrise.storage.tables import build_schema

    ws = workspace()
    schema = build_schema(ws)
    with engine.connect() as conn:
        migrate.apply(engine, migrate.plan(conn, schema))
    records = Records(engine, schema)
    staff = [records.create("staff", {"name": n, "email": f"{n.lower()}@x.cn"}, SYSTEM_ACTOR)
             for n in ("Li", "Wang", "Zhao")]
    clients = [records.create("client", {"name": n, "source": s, "next_call": call,
                                         "consultant": c["id"] if c else None}, SYSTEM_ACTOR)
               for n, s, c, call in [
                   ("Alpha", "walk_in", staff[0], "2026-03-17T17:30:00+00:00"),  # the 18th locally
                   ("Beta", "referral", staff[1], "2026-03-18T01:00:00+00:00"),
                   ("Gamma", None, staff[0], "2026-03-10T12:00:00+00:00"),
                   ("Delta", "referral", None, None)]]
    rows = [  # title, client, stage, amount, days before TODAY it closes, owner
        ("a", 0, "lead", "100", 1, 0), ("b", 0, "won", "2500", 2, 0),
        ("c", 1, "won", "1200.50", 9, 1), ("d", 1, "lost", "800", 12, 1),
        ("e", 2, "lead", "3000", 20, 2), ("f", 3, "won", "999.99", 29, None),
        ("g", 0, "won", "5000", 35, 0), ("h", 1, "lead", None, 40, 1),
        ("i", 2, "lost", "60", 45, None), ("j", 3, "lead", "7000", None, 2),
    ]
    for title, ci, stage, amount, back, owner in rows:
        records.create("deal", {
            "title": title, "client": clients[ci]["id"], "stage": stage, "amount": amount,
            "closes_on": (TODAY - timedelta(days=back)).isoformat() if back is not None else None,
            "owner": staff[owner]["id"] if owner is not None else None}, SYSTEM_ACTOR)
    yield ws, schema, staff, clients


def compute(engine, schema, ws, args=None, actor=ACTOR):
    board = dash.load(ws.views["sales"], ws)
    sel = dash.select(board, args or {}, TODAY, ws)
    out = dash.compute(engine, schema, board, sel, actor=actor, locale="en")
    return {w.widget.name: w for w in out}, sel


def sql(engine, text, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(text), params).all()


def money(engine, value):
    """A stored amount as a Decimal (SQLite keeps cents in an integer)."""
    if value is None:
        return None
    return Decimal(value) / 100 if engine.dialect.name == "sqlite" else Decimal(value)


def values(w, name):
    return {p.key: p.values[name] for p in w.points}


def test_every_widget_against_sql(engine, shop):
    ws, schema, staff, clients = shop
    got, sel = compute(engine, schema, ws)
    assert all(w.error is None for n, w in got.items()), {n: w.error for n, w in got.items()}
    lo, hi = sel.range.start, sel.range.end
    assert (lo, hi) == (TODAY - timedelta(days=29), TODAY)
    span = "closes_on BETWEEN :lo AND :hi"

    # KPIs, and the same figures over the 30 days before
    won = sql(engine, f"SELECT sum(amount) FROM deal WHERE stage = 'won' AND {span}", lo=lo, hi=hi)
    assert got["won_amount"].figure.value == money(engine, won[0][0]) == Decimal("4700.49")
    plo, phi = lo - timedelta(days=30), lo - timedelta(days=1)
    before = sql(engine, f"SELECT sum(amount) FROM deal WHERE stage = 'won' AND {span}",
                 lo=plo, hi=phi)
    fig = got["won_amount"].figure
    assert fig.previous == money(engine, before[0][0]) == Decimal("5000.00")
    assert fig.change == (Decimal("4700.49") - 5000) / 5000 and fig.trend == "bad"
    assert fig.text == "CN¥4,700.49" and fig.change_text == "−6.0%"
    n = sql(engine, f"SELECT count(*) FROM deal WHERE {span}", lo=lo, hi=hi)[0][0]
    assert got["deal_count"].figure.value == n == 6
    avg = sql(engine, f"SELECT sum(amount), count(amount) FROM deal WHERE {span}", lo=lo, hi=hi)
    assert got["avg_amount"].figure.value == money(engine, avg[0][0]) / avg[0][1]
    assert got["avg_amount"].figure.text == "CN¥1,433.42"

    # a bar per stage (every option shown, in option order), two measures
    rows = sql(engine, f"SELECT stage, count(*), sum(amount) FROM deal WHERE {span} "
                       "GROUP BY stage", lo=lo, hi=hi)
    by_stage = got["by_stage"]
    assert [p.key for p in by_stage.points] == ["lead", "won", "lost"]
    assert values(by_stage, "count") == {s: c for s, c, _ in rows}
    assert values(by_stage, "sum_amount") == {s: money(engine, a) for s, _, a in rows}

    # series: stage × owner (all time, no date field)
    pairs = sql(engine, "SELECT stage, owner, count(*) FROM deal GROUP BY stage, owner")
    series = got["by_stage_owner"]
    assert {s.key for s in series.series} == {o for _, o, _ in pairs}
    for stage, owner, c in pairs:
        p = next(p for p in series.points if p.key == stage)
        assert p.values[f"count@{owner}"] == c

    # weeks of the range, empty weeks included
    weeks = Counter()
    for (d,) in sql(engine, f"SELECT closes_on FROM deal WHERE {span}", lo=lo, hi=hi):
        d = d if isinstance(d, date) else date.fromisoformat(d)
        weeks[d - timedelta(days=d.weekday())] += 1
    line = got["per_week"]
    assert [p.key for p in line.points] == buckets_between(lo, hi, "week")
    assert {p.key: p.values["count"] for p in line.points} == {
        k: weeks.get(k, 0) for k in buckets_between(lo, hi, "week")}

    # a slice per client, biggest first, titled by the client's name
    per_client = sql(engine, "SELECT c.name, sum(d.amount) FROM deal d JOIN client c "
                             "ON c.id = d.client GROUP BY c.name")
    donut = got["by_client"]
    assert {p.label: p.values["sum_amount"] for p in donut.points} == {
        name: money(engine, a) for name, a in per_client}
    amounts = [p.values["sum_amount"] for p in donut.points]
    assert amounts == sorted(amounts, reverse=True)

    # the funnel: a step counts the records at it or further on; conversion step to step
    counts = dict(sql(engine, "SELECT stage, count(*) FROM deal GROUP BY stage"))
    funnel = got["funnel"]
    assert [p.values["count"] for p in funnel.points] == [
        counts["lead"] + counts["won"], counts["won"]]
    assert funnel.points[1].extra["rate"] == Decimal(counts["won"]) / (counts["lead"] +
                                                                        counts["won"])
    assert funnel.points[0].extra["rate"] is None

    # the leaderboard: top 2 owners by amount, with the owner's e-mail
    board = sql(engine, "SELECT owner, sum(amount), count(*) FROM deal GROUP BY owner")
    top = sorted(((money(engine, a), c, o) for o, a, c in board),
                 key=lambda r: (r[0] is None, -(r[0] or 0)))[:2]
    lead = got["owners"]
    assert [(p.values["sum_amount"], p.values["count"], p.key) for p in lead.points] == top
    assert lead.ranked and lead.columns == [("email", "Email")]
    assert lead.points[0].extra["email"] == "zhao@x.cn"  # 3,000 + 7,000

    # the pivot: stage × client, with totals
    cells = {(s, c): n for s, c, n in sql(
        engine, "SELECT stage, client, count(*) FROM deal GROUP BY stage, client")}
    pv = got["matrix"].pivot
    for i, r in enumerate(pv.rows):
        for j, c in enumerate(pv.columns):
            assert pv.cells[(i, j)][0] == cells.get((r.key, c.key), 0)
        assert r.values["count"] == sum(n for (s, _), n in cells.items() if s == r.key)
    assert pv.total[0] == sum(cells.values()) == 10

    # the list: the biggest deals first, and how many there are
    big = sql(engine, "SELECT title FROM deal WHERE amount >= :a ORDER BY amount DESC",
              a=1000 * (100 if engine.dialect.name == "sqlite" else 1))
    lst = got["big"]
    assert [r["cells"][0][0] for r in lst.rows] == [t for (t,) in big[:2]]
    assert lst.total == len(big) == 5
    assert lst.rows[0]["cells"][1] == ("Delta", ("client", clients[3]["id"]))

    # through a link: the client's source, averages kept exact
    src = defaultdict(lambda: [0, Decimal(0), 0])
    for source, amount in sql(engine, "SELECT c.source, d.amount FROM deal d "
                                      "LEFT JOIN client c ON c.id = d.client"):
        src[source][0] += 1
        if amount is not None:
            src[source][1] += money(engine, amount)
            src[source][2] += 1
    by_source = got["by_source"]
    assert values(by_source, "count") == {k: v[0] for k, v in src.items()} | {
        "walk_in": src["walk_in"][0]}
    assert values(by_source, "avg_amount") == {k: v[1] / v[2] for k, v in src.items()}
    assert [p.key for p in by_source.points] == ["walk_in", "referral", None]

    # a ratio of two filtered counts
    rate = got["win_rate"].figure
    assert rate.value == Decimal(counts["won"]) / 10 and rate.text == "40.0%"

    # datetimes are bucketed by the day in the workspace's time zone (Asia/Shanghai)
    calls = got["calls"]
    assert {p.key: p.values["count"] for p in calls.points if p.values["count"]} == {
        date(2026, 3, 10): 1, date(2026, 3, 18): 2}


def test_drill_downs_are_the_records_counted(engine, shop):
    """Each drill-down's conditions, run as a filter, count what the widget shows."""
    from lowrise.storage import query

    ws, schema, staff, _ = shop
    got, _ = compute(engine, schema, ws, {"owner": str(staff[0]["id"])})
    checked = 0
    with engine.connect() as conn:
        def count(drill):
            nonlocal checked
            checked += 1
            flt = {"all": list(drill.conditions)} if drill.conditions else None
            return query.count(conn, schema, drill.record_type, flt, ACTOR)

        for w in got.values():
            for p in w.points:
                for name, drill in p.drills.items():
                    if drill is not None and "sum" not in name and "avg" not in name:
                        assert count(drill) == p.values[name], (w.widget.name, p.key, name)
            if w.figure is not None and w.drill is not None and \
                    w.widget.shown.spec == "count":
                assert count(w.drill) == w.figure.value, w.widget.name
            if w.pivot is not None:
                for value, _, drill in w.pivot.cells.values():
                    assert count(drill) == value
    assert checked >= 15
    assert got["not_flat"].drill is None  # an `any:` filter cannot go into a table's URL
    # a group through a link drills down through the same path (client.source)
    by_source = got["by_source"].points
    assert all(p.drills["count"] is not None for p in by_source)
    assert [c for c in by_source[0].drills["count"].conditions if "." in c["field"]] == [
        {"field": "client.source", "op": "eq", "value": by_source[0].key}]
    assert got["calls"].notes == []  # client maps owner to consultant
    calls = [d for p in got["calls"].points for d in p.drills.values()]
    assert calls and all(d.view is None for d in calls)  # client has no table view: its own
    assert got["deal_count"].figure.value == 2  # only Li's deals in the range


def test_control_values_and_notes(engine, shop):
    ws, schema, staff, _ = shop
    board = dash.load(ws.views["sales"], ws)
    sel = dash.select(board, {"owner": "nobody", "range": "nope"}, TODAY, ws)
    assert sel.values == {} and len(sel.problems) == 2
    assert sel.range.key == "last_30_days"
    sel = dash.select(board, {"from": "2026-03-01", "to": "2026-03-31", "owner": "me"}, TODAY, ws)
    assert sel.range.key == "custom" and sel.values == {"owner": "me"}
    me = Actor(user=staff[1]["id"], clock=lambda: NOW)
    got = {w.widget.name: w for w in dash.compute(engine, schema, board, sel, actor=me)}
    assert got["deal_count"].figure.value == 2  # Wang's deals closing in March (c, d)


def test_a_broken_widget_shows_its_error_and_the_others_still_compute(engine, shop):
    ws, schema, _, _ = shop
    board = dash.load(ws.views["sales"], ws)
    broken = dash.Widget("broken", "bar", dash.load(ws.views["sales"], ws).label, "deal",
                         group_by=("nosuch",), measures=board.widgets[0].measures)
    board = type(board)(board.name, board.label, (broken, *board.widgets[:2]))
    out = dash.compute(engine, schema, board, dash.select(board, {}, TODAY, ws), actor=ACTOR)
    assert out[0].error and out[1].error is None and out[1].figure.value is not None


def test_result_cache_holds_until_a_write_or_max_age():
    now = [0.0]
    cache = dash.ResultCache(max_age=60, size=2, clock=lambda: now[0])
    cache.put("a", 7, "A")
    assert cache.get("a", 7) == "A" and cache.get("a", 8) is None  # a write since: recompute
    now[0] = 61
    assert cache.get("a", 7) is None  # too old (filters relative to the clock move on)
    cache.put("a", 7, "A")
    cache.put("b", 7, "B")
    cache.put("c", 7, "C")
    assert cache.get("a", 7) is None and cache.get("c", 7) == "C"  # the oldest went first
    off = dash.ResultCache(max_age=0)
    off.put("a", 1, "A")
    assert off.get("a", 1) is None


def test_compute_reuses_widgets_until_the_next_write(engine, shop):
    from lowrise.storage.records import Records

    ws, schema, staff, clients = shop
    board = dash.load(ws.views["sales"], ws)
    sel = dash.select(board, {"range": "all"}, TODAY, ws)
    cache = dash.ResultCache()
    first = dash.compute(engine, schema, board, sel, actor=ACTOR, cache=cache)
    again = dash.compute(engine, schema, board, sel, actor=ACTOR, cache=cache)
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert cache.hits == len(board.widgets)
    other = Actor(user=staff[0]["id"], clock=lambda: NOW)  # another person: their own numbers
    assert dash.compute(engine, schema, board, sel, actor=other, cache=cache)[1] is not first[1]
    Records(engine, schema).create("deal", {"title": "new", "client": clients[0]["id"],
                                            "stage": "lead"}, SYSTEM_ACTOR)
    after = {w.widget.name: w for w in dash.compute(engine, schema, board, sel, actor=ACTOR,
                                                    cache=cache)}
    assert after["deal_count"].figure.value == 11


@pytest.mark.parametrize("group_by, measures", [
    (["client.source"], ["count", "sum:amount", "avg:amount", "min:amount", "max:amount"]),
    (["client.source", "stage"], ["count", "sum:amount"]),
    (["stage", "client.consultant"], ["count", "avg:amount"]),
])
def test_a_path_grouped_in_one_join_or_in_two_steps_gives_the_same(engine, shop, group_by,
                                                                   measures):
    """The join (people who see every row) and the two steps (people with a row scope)."""
    from lowrise.dashboards import paths

    ws, schema, _, _ = shop
    flt = {"field": "amount", "op": "gte", "value": 100}
    with engine.connect() as conn:
        one = paths._joined(conn, schema, "deal", group_by, measures, flt, ACTOR)
        two = paths._in_two_steps(conn, schema, "deal", group_by, measures, flt, ACTOR)

    def key(row):
        return tuple(str(row[g]) for g in group_by)

    assert sorted(one, key=key) == sorted(two, key=key) and len(one) >= 3
    for row in one:
        assert isinstance(row["count"], int)
        if "sum:amount" in row:
            assert isinstance(row["sum:amount"], Decimal)
