"""The flagship's demo data reads as a sales office: an org chart that makes sense (team
leads head their teams and report to the director, the administrator and the director
report to nobody, the demo manager sees the demo consultant's cases), floor prices under
list prices, plausible stage dates and days to contract, about one viewing in ten arranged
late. The `sample:` hints that make it (`cycle`, `of`/`times`, `when`, `past`) work for any
workspace. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from lowrise import demo_accounts
from lowrise import seed as seeding
from lowrise.accounts import Accounts
from lowrise.actor import Actor
from lowrise.storage import migrate as mig
from lowrise.storage import query
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace, load_workspace_from_texts

ROOT = Path(__file__).resolve().parents[1]


def _setup(engine, ws):
    schema = build_schema(ws)
    with engine.connect() as conn:
        plan = mig.plan(conn, schema)
    mig.apply(engine, plan)
    return Records(engine, schema)


def _rows(records, name):
    t = records.schema.table(name)
    with records.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(t).order_by(t.c.id)).mappings()]


@pytest.fixture(scope="module")
def office(module_db):
    """The flagship seeded once at full size (the tests read it only)."""
    from lowrise.storage.db import create_engine

    engine = create_engine(module_db, poolclass=sa.NullPool)
    records = _setup(engine, load_workspace(ROOT))
    seeding.seed(records, seed_value=7)
    yield records
    engine.dispose()


def test_the_org_chart_makes_sense(office):
    staff = {s["id"]: s for s in _rows(office, "staff")}
    depts = {d["id"]: d for d in _rows(office, "department")}
    heads = {d["head"]: d for d in depts.values() if d["head"] is not None}
    by_role = {}
    for s in staff.values():
        by_role.setdefault(s["role"], []).append(s)
    assert len(by_role["consultant"]) > len(by_role["manager"]) >= 2
    top = [d for d in depts.values() if d["name"] == "销售中心"][0]
    director = staff[top["head"]]
    assert director["role"] == "manager" and director["manager"] is None
    for admin in by_role["admin"]:
        assert admin["manager"] is None  # the administrator reports to nobody
    for s in staff.values():
        boss = staff.get(s["manager"])
        if s["role"] == "consultant":  # a consultant reports to their team's lead
            assert boss is not None and boss["role"] == "manager"
            assert heads[boss["id"]]["id"] == s["department"]
        if s["id"] in heads and heads[s["id"]]["parent"] == top["id"]:
            assert s["manager"] == director["id"]  # team leads report to the director
        if boss is not None:
            assert boss["id"] != s["id"] and boss["role"] != "consultant"
    # nobody manages themselves round a loop
    for s in staff.values():
        seen, x = set(), s["id"]
        while x is not None:
            assert x not in seen
            seen.add(x)
            x = staff[x]["manager"]


def test_the_demo_manager_sees_the_demo_consultants_cases(office):
    made = {a.role: a for a in demo_accounts.make(office, Accounts(office.engine))}
    ws = office.schema.workspace

    def who(role):
        return Actor(user=made[role].staff_id, name=role, roles=frozenset([role]))

    consultant, manager = made["consultant"].staff_id, made["manager"].staff_id
    staff = {s["id"]: s for s in _rows(office, "staff")}
    assert staff[consultant]["manager"] == manager
    with office.engine.connect() as conn:
        theirs = query.list_records(conn, office.schema, "case", ctx=who("manager"),
                                    filter={"field": "consultant", "op": "eq",
                                            "value": consultant}, limit=500)
        mine = query.list_records(conn, office.schema, "case", ctx=who("consultant"),
                                  limit=500)
    assert mine.rows and {r["id"] for r in mine.rows} <= {r["id"] for r in theirs.rows}
    assert ws.users_type == "staff"


def test_prices_dates_and_viewings_are_believable(office):
    units = _rows(office, "property")
    assert all(u["floor_price"] is not None and u["floor_price"] < u["list_price"]
               for u in units)
    cases = _rows(office, "case")
    today = datetime.now(UTC).date()
    done = [c for c in cases if c["stage"] in ("contracted", "handover")]
    assert done and all(c["contracted_on"] is not None for c in done)
    days = [(c["contracted_on"] - c["opened_on"]).days for c in done]
    assert all(0 <= d <= 120 for d in days) and 20 <= sum(days) / len(days) <= 75
    assert all(c["contracted_on"] is None for c in cases if c not in done)
    for stage, most in (("lead", 8), ("reception", 31), ("deposit", 76)):
        # the earlier the stage, the more recently the case came in
        assert all((today - c["opened_on"]).days <= most for c in cases if c["stage"] == stage)
    assert not [c for c in cases if c["stale"] and c["stage"] in ("contracted", "handover",
                                                                   "lost")]
    for c in cases:  # nothing has happened in the future, and in order
        for name in ("opened_on", "deposit_paid_on", "contracted_on", "handover_on"):
            assert c[name] is None or c[name] <= today
        if c["deposit_paid_on"] and c["contracted_on"]:
            assert c["deposit_paid_on"] <= c["contracted_on"]
        if c["stage"] != "lost":
            assert c["lost_reason"] is None
    viewed = [c for c in cases if c["viewing_requested_at"] and c["viewing_arranged_at"]]
    late = [c for c in viewed
            if c["viewing_arranged_at"] - c["viewing_requested_at"] > timedelta(hours=24)]
    assert viewed and 0.03 <= len(late) / len(viewed) <= 0.25
    assert max(c["viewing_arranged_at"] - c["viewing_requested_at"] for c in late) \
        < timedelta(hours=28)
    assert not [c for c in cases if c["viewing_requested_at"] and c["stage"] in (
        "lead", "reception", "presentation")]


HINTS = {
    "workspace.yaml": "label: Hints\ndefault_locale: en\nlocales: [en]\ntimezone: UTC\n"
                      "demo: {counts: {item: 6}}\n",
    "schemas/item.yaml": """
fields:
  kind:
    type: select
    options: [a, b, c]
    sample: {cycle: [a, b, c]}
  price: {type: currency, currency: CNY, sample: {min: 100000, max: 200000, empty: 0}}
  floor: {type: currency, currency: CNY, sample: {of: price, times: [0.5, 0.5]}}
  started: {type: date, sample: {past_days: 3}}
  ended: {type: date, sample: {after: started, days: [30, 40], past: true, when: {kind: c}}}
  note:
    type: text
    sample: [{when: {kind: a}, choices: [first], empty: 0}, {choices: [later], empty: 0}]
""",
}


def test_sample_hints_cycle_share_when_and_past(engine):
    records = _setup(engine, load_workspace_from_texts(HINTS))
    seeding.seed(records, seed_value=1)
    rows = _rows(records, "item")
    assert [r["kind"] for r in rows] == ["a", "b", "c", "a", "b", "c"]  # in turn, none empty
    assert all(r["floor"] is None or r["floor"] * 2 == r["price"] for r in rows)
    assert any(r["floor"] is not None for r in rows)
    today = datetime.now(UTC).date()
    for r in rows:
        if r["kind"] != "c":
            assert r["ended"] is None  # only where `when` holds
        elif r["started"] is not None:
            assert r["ended"] == today  # 30 days after a day 3 days back: not past today
    assert isinstance(rows[0]["started"], date)
    # a list of hints: the first whose `when` holds
    assert [r["note"] for r in rows] == ["first", "later", "later"] * 2
