"""Reading records: keyset pages, counts, aggregates, link chips, reverse links."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lowrise import filters as F
from lowrise.errors import FilterError
from lowrise.storage import query as Q
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts

TZ = "America/New_York"
T0 = datetime(2024, 3, 8, 3, 0, tzinfo=UTC)

WS = {
    "workspace.yaml": f"label: Test\ndefault_locale: en\nlocales: [en, zh]\nusers: staff\n"
                      f"timezone: {TZ}\n",
    "schemas/staff.yaml": "fields:\n  name: {type: text}\n",
    "schemas/client.yaml": """
label: {en: Client, zh: 客户}
label_plural: {en: Clients, zh: 客户}
fields:
  name: {type: text}
  source: {type: select, options: [walk_in, referral]}
""",
    "schemas/deal.yaml": """
label: {en: Deal, zh: 交易}
label_plural: {en: Deals, zh: 交易}
fields:
  name: {type: text}
  amount: {type: currency}
  qty: {type: integer}
  stage: {type: select, options: [lead, negotiation, won, lost]}
  due: {type: date}
  at: {type: datetime}
  flag: {type: boolean}
  tags: {type: multi_select, options: [a, b]}
  client: {type: link, target: client, related_label: {en: Deals, zh: 交易}}
  owner: {type: user}
  double: {type: formula, expression: "amount * 2", result: decimal}
""",
}


@pytest.fixture(scope="module")
def ws():
    return load_workspace_from_texts(WS)


@pytest.fixture
def db(engine, ws):
    schema = build_schema(ws)
    with engine.begin() as conn:
        schema.metadata.create_all(conn)
    with engine.connect() as conn:
        yield Db(conn, schema)


class Db:
    def __init__(self, conn, schema):
        self.conn, self.schema, self.ws = conn, schema, schema.workspace

    def insert(self, type_name, records):
        rt = self.ws.type(type_name)
        defaults = {"version": 1, "created_at": T0, "updated_at": T0}
        for i, r in enumerate(records):
            values = {**defaults, **r}
            row = {k: rt.fields[k].kind.to_db(rt.fields[k], v) for k, v in values.items()}
            result = self.conn.execute(sa.insert(self.schema.table(type_name)).values(**row))
            records[i] = {**values, "id": result.inserted_primary_key[0]}
        self.conn.commit()
        return records


# -- keyset pages ----------------------------------------------------------------------------

SORTABLE = ["name", "amount", "qty", "stage", "due", "at", "flag", "client", "updated_at", "id"]
#: a select field sorts in its options' order, not alphabetically
STAGE_RANK = {"lead": 0, "negotiation": 1, "won": 2, "lost": 3}


def expected_order(rows, sort):
    keys = [(k.lstrip("-"), k.startswith("-")) for k in sort]
    if "id" not in [k for k, _ in keys]:
        keys.append(("id", keys[-1][1] if keys else False))

    def cmp(a, b):
        for name, desc in keys:
            x, y = a[name], b[name]
            if name == "stage":
                x, y = STAGE_RANK.get(x, x), STAGE_RANK.get(y, y)
            if x == y:
                continue
            # an empty value sorts as larger than any value
            r = 1 if x is None else -1 if y is None else (-1 if x < y else 1)
            return -r if desc else r
        return 0

    return [r["id"] for r in sorted(rows, key=functools.cmp_to_key(cmp))]


def all_pages(db, sort, size, **kw):
    ids, cursor, pages = [], None, 0
    while True:
        page = Q.list_records(db.conn, db.schema, "deal", sort=sort, limit=size, after=cursor,
                              **kw)
        ids += [r["id"] for r in page.rows]
        pages += 1
        assert len(page.rows) <= size
        cursor = page.next_cursor
        if cursor is None:
            return ids
        assert pages < 100


def deal_strategy():
    none = st.none()
    return st.fixed_dictionaries({
        "name": none | st.sampled_from(["a", "b", "c", "ab"]),
        "amount": none | st.sampled_from([Decimal("-1.00"), Decimal("0.00"), Decimal("2.50")]),
        "qty": none | st.integers(-1, 2),
        "stage": none | st.sampled_from(["lead", "won", "lost"]),
        "due": none | st.sampled_from([date(2024, 1, d) for d in (1, 2, 3)]),
        "at": none | st.sampled_from([T0, T0 + timedelta(microseconds=1), T0 + timedelta(days=1)]),
        "flag": none | st.booleans(),
        "client": none | st.integers(1, 3),
        "updated_at": st.sampled_from([T0, T0 + timedelta(hours=1)]),
    })


def test_keyset_pages_cover_every_record_once_in_order(db):
    """Property: the pages, joined, are the whole result in sort order (NULLs included)."""
    sort_key = st.sampled_from(SORTABLE).flatmap(
        lambda name: st.sampled_from([name, "-" + name]))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def run(data):
        db.conn.execute(sa.delete(db.schema.table("deal")))
        db.conn.commit()
        rows = db.insert("deal", data.draw(st.lists(deal_strategy(), max_size=14)))
        for _ in range(3):
            sort = data.draw(st.lists(sort_key, min_size=1, max_size=3,
                                      unique_by=lambda k: k.lstrip("-")))
            size = data.draw(st.integers(1, 4))
            assert all_pages(db, sort, size) == expected_order(rows, sort), sort
        flt = {"field": "qty", "op": "ne", "value": 0}
        node = F.parse(flt, "deal", db.ws)
        kept = [r for r in rows if F.evaluate(node, r)]
        assert all_pages(db, ["-amount", "name"], 2, filter=flt) == \
            expected_order(kept, ["-amount", "name"])
        # reading the matches first, then sorting them, gives the same pages
        assert all_pages(db, sort, size, filter=flt, matches_first=True) == \
            expected_order(kept, sort), sort

    run()


def test_rows_are_python_values_and_fields_narrow_them(db):
    db.insert("deal", [{"name": "x", "amount": Decimal("1.50"), "tags": ["a", "b"],
                        "at": T0, "due": date(2024, 1, 2), "flag": True}])
    (row,) = Q.list_records(db.conn, db.schema, "deal").rows
    assert row["amount"] == Decimal("1.50") and row["tags"] == ["a", "b"]
    assert row["at"] == T0 and row["due"] == date(2024, 1, 2) and row["flag"] is True
    (row,) = Q.list_records(db.conn, db.schema, "deal", fields=["name"], sort=["-amount"]).rows
    assert row == {"id": 1, "name": "x"}


def test_a_cursor_belongs_to_its_sort(db):
    db.insert("deal", [{"name": n} for n in "abc"])
    page = Q.list_records(db.conn, db.schema, "deal", sort=["name"], limit=1)
    with pytest.raises(FilterError, match="out of date"):
        Q.list_records(db.conn, db.schema, "deal", sort=["-name"], after=page.next_cursor)
    with pytest.raises(FilterError, match="out of date"):
        Q.list_records(db.conn, db.schema, "deal", sort=["name"], after="garbage!")
    with pytest.raises(FilterError, match="not sortable"):
        Q.list_records(db.conn, db.schema, "deal", sort=["tags"])
    with pytest.raises(FilterError, match="did you mean 'name'"):
        Q.list_records(db.conn, db.schema, "deal", sort=["nme"])


def _statements(conn):
    seen = []

    def record(c, cur, stmt, params, ctx, many):
        if stmt.strip().upper() != "BEGIN":
            seen.append((stmt, params))

    sa.event.listen(conn, "before_cursor_execute", record)
    return seen


def test_deep_pages_read_the_index_not_an_offset(db):
    table = db.schema.table("deal")
    rows = [{"name": f"n{i % 7}", "version": 1, "created_at": T0,
             "updated_at": T0 + timedelta(seconds=i // 3)} for i in range(3000)]
    db.conn.execute(sa.insert(table), rows)
    db.conn.commit()
    if db.conn.dialect.name == "postgresql":
        db.conn.exec_driver_sql("ANALYZE deal")
    cursor = None
    for _ in range(5):
        page = Q.list_records(db.conn, db.schema, "deal", limit=50, after=cursor)
        cursor = page.next_cursor
    seen = _statements(db.conn)
    Q.list_records(db.conn, db.schema, "deal", limit=50, after=cursor)
    ((stmt, params),) = seen
    assert "OFFSET" not in stmt.upper() or params[-1] == 0  # SQLite writes OFFSET 0
    if db.conn.dialect.name == "postgresql":
        plan = "\n".join(r[0] for r in db.conn.exec_driver_sql("EXPLAIN " + stmt, params))
        assert "Index Scan Backward using ix_deal_updated_at_id" in plan, plan
        assert "Sort" not in plan, plan
    else:
        plan = str(db.conn.exec_driver_sql("EXPLAIN QUERY PLAN " + stmt, params).all())
        assert "ix_deal_updated_at_id" in plan and "TEMP B-TREE" not in plan, plan


def test_empty_values_last_ascending_first_descending(db):
    rows = db.insert("deal", [{"qty": 2}, {"qty": None}, {"qty": 1}, {"qty": None}])
    ids = [r["id"] for r in rows]
    assert all_pages(db, ["qty"], 1) == [ids[2], ids[0], ids[1], ids[3]]
    assert all_pages(db, ["-qty"], 1) == [ids[3], ids[1], ids[0], ids[2]]


def test_a_select_field_sorts_in_its_options_order_across_pages(db):
    rows = db.insert("deal", [{"stage": s} for s in
                              ["won", "lead", None, "lost", "negotiation", "won", "lead"]])
    # values that are no longer options (renamed in YAML) come after the options
    ids = {r["id"]: r["stage"] for r in rows}
    for i, old in ((2, "archived"), (3, "middle"), (5, "zzz")):
        db.conn.execute(sa.update(db.schema.table("deal")).where(
            db.schema.table("deal").c.id == rows[i]["id"]).values(stage=old))
        ids[rows[i]["id"]] = old
    db.conn.commit()
    db.insert("deal", [{"stage": None}])

    def stages(sort, size):
        got = all_pages(db, sort, size)
        return [ids.get(i) for i in got]

    # (the others among themselves by id, as the tie-breaker runs)
    up = ["lead", "lead", "negotiation", "won", "archived", "middle", "zzz", None]
    for size in (1, 2, 3, 50):
        assert stages(["stage"], size) == up
        assert stages(["-stage"], size) == up[::-1]
        # (ties broken by name, then by id ascending as the last key runs)
        assert stages(["-stage", "name"], size) == [None, "archived", "middle", "zzz", "won",
                                                    "negotiation", "lead", "lead"]
    # lt / gt compare by the same order (the stages before won)
    flt = {"field": "stage", "op": "lt", "value": "won"}
    assert Q.count(db.conn, db.schema, "deal", flt) == 3


# -- counts ----------------------------------------------------------------------------------

def test_count_and_estimate(db):
    db.insert("deal", [{"stage": "won"}, {"stage": "lost"}, {"stage": None}])
    assert Q.count(db.conn, db.schema, "deal") == 3
    assert Q.count(db.conn, db.schema, "deal", {"field": "stage", "op": "ne", "value": "won"}) == 2
    assert Q.estimate_count(db.conn, db.schema, "deal") == 3


def test_estimate_uses_the_planner_on_a_large_postgresql_table(db):
    if db.conn.dialect.name != "postgresql":
        return
    db.conn.exec_driver_sql("INSERT INTO deal (version) SELECT 1 FROM generate_series(1, 120000)")
    db.conn.exec_driver_sql("ANALYZE deal")
    db.conn.commit()
    seen = _statements(db.conn)
    assert abs(Q.estimate_count(db.conn, db.schema, "deal") - 120000) < 5000
    assert "pg_class" in seen[0][0] and len(seen) == 1


# -- aggregates ------------------------------------------------------------------------------

def test_aggregate_is_exact_for_money(db):
    db.insert("deal", [
        {"stage": "won", "amount": Decimal("0.10"), "qty": 1, "double": Decimal("0.20")},
        {"stage": "won", "amount": Decimal("0.20"), "qty": 2, "double": Decimal("0.41")},
        {"stage": "won", "amount": None, "qty": None},
        {"stage": "lead", "amount": Decimal("1000000000.01"), "qty": 5},
        {"stage": None, "amount": Decimal("-3.00")},
    ])
    out = Q.aggregate(db.conn, db.schema, "deal", group_by=["stage"],
                      measures=["count", "sum:amount", "avg:amount", "min:amount", "max:qty",
                                "sum:qty", "avg:qty", "sum:double"])
    assert [r["stage"] for r in out] == ["lead", "won", None]  # option order, empty last
    won = out[1]
    assert won["count"] == 3 and won["sum:amount"] == Decimal("0.30")
    assert won["avg:amount"] == Decimal("0.15") and won["min:amount"] == Decimal("0.10")
    assert won["max:qty"] == 2 and won["sum:qty"] == 3 and isinstance(won["sum:qty"], int)
    assert won["avg:qty"] == Decimal("1.5") and won["sum:double"] == Decimal("0.61")
    assert out[0]["sum:amount"] == Decimal("1000000000.01")
    (total,) = Q.aggregate(db.conn, db.schema, "deal", measures=["count", "sum:amount"],
                           filter={"field": "stage", "op": "eq", "value": "won"})
    assert total == {"count": 3, "sum:amount": Decimal("0.30")}
    (empty,) = Q.aggregate(db.conn, db.schema, "deal", measures=["count", "sum:amount",
                                                                 "avg:amount"],
                           filter={"field": "stage", "op": "eq", "value": "lost"})
    assert empty == {"count": 0, "sum:amount": Decimal("0.00"), "avg:amount": None}


def _bucket(v, unit):
    d = v.astimezone(F.zone(TZ)).date() if isinstance(v, datetime) else v
    return {"day": d, "week": d - timedelta(days=d.weekday()), "month": d.replace(day=1),
            "year": d.replace(month=1, day=1)}[unit]


@pytest.mark.parametrize("unit", ["day", "week", "month", "year"])
def test_date_buckets_are_local_days(db, unit):
    # Around both DST changes of 2024 in New York, and around local midnight.
    instants = [datetime(2024, m, d, h, 30, tzinfo=UTC)
                for m, d in ((3, 9), (3, 10), (3, 11), (11, 2), (11, 3), (11, 4), (12, 31))
                for h in (3, 4, 5, 6)] + [datetime(2025, 1, 1, 4, 59, tzinfo=UTC)]
    db.insert("deal", [{"at": at, "due": at.date(), "amount": Decimal("1.25")}
                       for at in instants] + [{"at": None}])
    for name in ("at", "due"):
        out = Q.aggregate(db.conn, db.schema, "deal", group_by=[f"{name}:{unit}"],
                          measures=["count", "sum:amount"])
        want: dict = {}
        for at in instants:
            key = _bucket(at if name == "at" else at.date(), unit)
            want[key] = want.get(key, 0) + 1
        got = {r[f"{name}:{unit}"]: r["count"] for r in out}
        assert got == {**dict(sorted(want.items())), None: 1}
        assert [r[f"{name}:{unit}"] for r in out] == [*sorted(want), None]


def test_date_buckets_of_a_date_field_add_up_every_measure(db):
    """A date field's weeks, months and years are added up from its days: counts and sums
    add, minima and maxima keep the extreme, averages divide the totals; with a filter and
    a second grouping too."""
    rows = []
    for i in range(60):
        day = date(2024, 1, 1) + timedelta(days=i * 5 % 97)
        rows.append({"due": day, "qty": i % 7 - 2 if i % 5 else None,
                     "amount": Decimal(i) / 4, "stage": ["lead", "won", None][i % 3],
                     "at": T0 + timedelta(hours=i)})
    rows.append({"due": None, "qty": 3, "amount": Decimal("1.00"), "stage": "won", "at": T0})
    db.insert("deal", rows)
    measures = ["count", "sum:qty", "avg:qty", "min:qty", "max:amount", "min:at"]
    flt = {"field": "stage", "op": "ne", "value": "lost"}
    for unit in ("week", "month", "year"):
        out = Q.aggregate(db.conn, db.schema, "deal", group_by=[f"due:{unit}", "stage"],
                          measures=measures, filter=flt)
        want: dict = {}
        for r in rows:
            key = (_bucket(r["due"], unit) if r["due"] else None, r["stage"])
            want.setdefault(key, []).append(r)
        assert len(out) == len(want)
        for got in out:
            group = want[(got[f"due:{unit}"], got["stage"])]
            qty = [r["qty"] for r in group if r["qty"] is not None]
            assert got["count"] == len(group)
            assert got["sum:qty"] == sum(qty)
            assert got["avg:qty"] == (Decimal(sum(qty)) / len(qty) if qty else None)
            assert got["min:qty"] == (min(qty) if qty else None)
            assert got["max:amount"] == max(r["amount"] for r in group)
            assert got["min:at"] == min(r["at"] for r in group)


def test_aggregate_refuses_what_does_not_add_up(db):
    with pytest.raises(FilterError, match="not a number"):
        Q.aggregate(db.conn, db.schema, "deal", measures=["sum:name"])
    with pytest.raises(FilterError, match="is not a date"):
        Q.aggregate(db.conn, db.schema, "deal", group_by=["name:month"])
    with pytest.raises(FilterError, match="unknown measure"):
        Q.aggregate(db.conn, db.schema, "deal", measures=["median:amount"])
    with pytest.raises(FilterError, match="do not group"):
        Q.aggregate(db.conn, db.schema, "deal", group_by=["tags"])


# -- link chips and reverse links ------------------------------------------------------------

def test_get_many_is_one_query(db):
    clients = db.insert("client", [{"name": "Ann"}, {"name": "Bo"}, {"name": "Cy"}])
    seen = _statements(db.conn)
    got = Q.get_many(db.conn, db.schema, "client", [clients[0]["id"], clients[2]["id"], 999,
                                                    None, clients[0]["id"]], fields=["name"])
    assert len(seen) == 1
    assert got == {clients[0]["id"]: {"id": clients[0]["id"], "name": "Ann"},
                   clients[2]["id"]: {"id": clients[2]["id"], "name": "Cy"}}
    assert Q.get_many(db.conn, db.schema, "client", []) == {}


def test_related_lists_the_records_that_link_here(db, ws):
    ann, bo = db.insert("client", [{"name": "Ann"}, {"name": "Bo"}])
    db.insert("deal", [{"name": "d1", "client": ann["id"]}, {"name": "d2", "client": ann["id"]},
                       {"name": "d3", "client": bo["id"]}])
    (rel,) = Q.related(db.conn, db.schema, ws, "client", ann["id"], sort=["name"])
    assert (rel.record_type, rel.field, rel.label) == ("deal", "client", "Deals")
    assert [r["name"] for r in rel.page.rows] == ["d1", "d2"]
    staff = Q.related(db.conn, db.schema, ws, "staff", 1)
    assert [(r.record_type, r.field) for r in staff] == [("deal", "owner")]


def test_resolver_feeds_paths_in_evaluate(db, ws):
    (ann,) = db.insert("client", [{"name": "Ann", "source": "referral"}])
    (deal,) = db.insert("deal", [{"client": ann["id"]}])
    node = F.parse({"field": "client.source", "op": "eq", "value": "referral"}, "deal", ws)
    ctx = F.FilterContext(resolver=Q.record_resolver(db.conn, db.schema))
    assert F.evaluate(node, deal, ctx)
    assert Q.count(db.conn, db.schema, "deal", node) == 1


def test_aggregate_bare_count_and_date_extremes(engine):
    from lowrise.storage import query as q
    from lowrise.storage.records import Records
    from lowrise.storage.tables import build_schema
    from lowrise.workspace import load_workspace_from_texts

    ws = load_workspace_from_texts({
        "workspace.yaml": "label: t\n",
        "schemas/deal.yaml": "fields:\n  on: {type: date}\n  amount: {type: currency}\n"})
    schema = build_schema(ws)
    with engine.begin() as conn:
        schema.metadata.create_all(conn)
    records = Records(engine, schema)
    from lowrise.actor import Actor

    system = Actor(name="t", system=True)
    for day, amount in ((1, "10"), (5, None), (9, "2.5")):
        records.create("deal", {"on": date(2026, 1, day), "amount": amount}, system)
    with engine.connect() as conn:
        assert q.aggregate(conn, schema, "deal", measures=["count"]) == [{"count": 3}]
        row, = q.aggregate(conn, schema, "deal",
                           measures=["min:on", "max:on", "sum:amount", "avg:amount"])
    assert row["min:on"] == date(2026, 1, 1) and row["max:on"] == date(2026, 1, 9)
    assert str(row["sum:amount"]) == "12.50" and row["avg:amount"] == Decimal("6.25")
