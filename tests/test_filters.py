"""The filter language: SQL and Python agree on every record, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lowrise import filters as F
from lowrise.actor import Actor
from lowrise.errors import FilterError
from lowrise.storage.query import row_to_dict
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts

# 01:30 in New York on the day its clocks go forward: periods must still be local days.
CLOCK = datetime(2024, 3, 10, 6, 30, tzinfo=UTC)
TZ = "America/New_York"

WS = {
    "workspace.yaml": f"label: Test\ndefault_locale: en\nlocales: [en, zh]\nusers: staff\n"
                      f"timezone: {TZ}\n",
    "schemas/staff.yaml": """
fields:
  name: {type: text}
  role: {type: select, options: [consultant, manager]}
""",
    "schemas/org.yaml": """
label: {en: Organisation, zh: 机构}
fields:
  name: {type: text, label: {en: Name, zh: 名称}}
  kind: {type: select, options: [agency, bank]}
  size: {type: integer}
""",
    "schemas/thing.yaml": """
label: {en: Thing, zh: 事项}
fields:
  name: {type: text, label: {en: Name, zh: 名称}}
  notes: {type: long_text}
  email: {type: email}
  phone: {type: phone}
  site: {type: url}
  qty: {type: integer}
  amount: {type: currency, label: {en: Amount, zh: 金额}}
  ratio: {type: decimal, scale: 3}
  share: {type: percent}
  stars: {type: rating}
  flag: {type: boolean}
  day: {type: date, label: {en: Day, zh: 日期}}
  at: {type: datetime}
  wait: {type: duration}
  stage:
    type: select
    label: {en: Stage, zh: 阶段}
    options:
      - {value: lead, label: {en: Lead, zh: 线索}}
      - {value: negotiation, label: {en: Negotiation, zh: 洽谈}}
      - {value: won, label: {en: Won, zh: 成交}}
      - lost
  tags: {type: multi_select, options: [red, blue_x, bluezx, green]}
  owner: {type: user, label: {en: Owner, zh: 负责人}}
  other: {type: link, target: org, label: {en: Org, zh: 机构}}
  parent: {type: link, target: thing}
  code: {type: autonumber, pattern: "T-{0000}"}
  calc: {type: formula, expression: "qty * 2", result: decimal}
  label_text: {type: formula, expression: "name", result: text}
  files: {type: attachment, multiple: true}
""",
}

TEXTS = ["", "a", "A", "ab", "Ab", "aB c", "a%", "_b", "b\\", "É", "é", "中文", " a", "x_y"]
CONTAINS = ["a", "A", "b", "%", "_", "\\", "é", "É", "中", "ab", "b\\", "B C", "x_y", "zz"]
MONEY = ["-1.50", "0.00", "0.01", "2.50", "1000.00"]
DAYS = [-40, -9, -8, -7, -6, -1, 0, 1, 6, 7, 8, 29, 30, 40]
TODAY = CLOCK.astimezone(F.zone(TZ)).date()
INSTANTS = [CLOCK + d for d in (
    timedelta(days=-30), timedelta(days=-7), timedelta(days=-1), timedelta(hours=-6, minutes=-30),
    timedelta(hours=-1), timedelta(microseconds=-1), timedelta(0), timedelta(microseconds=1),
    timedelta(hours=1), timedelta(hours=5), timedelta(hours=24), timedelta(days=7),
    timedelta(days=30))] + [F.day_start(TODAY + timedelta(days=d), TZ) for d in (-1, 0, 1, 2)]

# Stored values per field (None everywhere): the small domains make equal values likely.
DOMAIN = {
    "name": TEXTS, "notes": TEXTS, "label_text": TEXTS,
    "email": ["ann@x.io", "bob@y.io"], "phone": ["13800000000", "+8613911112222"],
    "site": ["https://a.io", "https://b.io/x_y"], "code": ["T-0001", "T-0002", "t-0003"],
    "qty": [-2, 0, 1, 3], "stars": [0, 1, 5], "wait": [0, 60, 3600, 5400],
    "amount": [Decimal(m) for m in MONEY], "calc": [Decimal(m) for m in MONEY],
    "share": [Decimal("12.50"), Decimal("0.00"), Decimal("100.00")],
    "ratio": [Decimal("0.125"), Decimal("1.000"), Decimal("-0.500")],
    "flag": [True, False],
    "day": [TODAY + timedelta(days=d) for d in DAYS], "at": INSTANTS,
    "created_at": INSTANTS, "updated_at": INSTANTS,
    "stage": ["lead", "negotiation", "won", "lost", "gone"],
    "tags": [["red"], ["blue_x"], ["bluezx"], ["red", "green"], ["blue_x", "green"]],
    "owner": [1, 2, 3], "created_by": [1, 2], "updated_by": [3],
    "other": [1, 2, 3, 99], "parent": [1, 2, 3, 4, 99],
    "files": [[{"name": "a.pdf", "key": "k1", "size": 3}]],
    "version": [1, 2],
}
ORG_DOMAIN = {"name": TEXTS, "kind": ["agency", "bank"], "size": [1, 10, 100]}
STAFF = [{"id": 1, "name": "Ann", "role": "consultant"}, {"id": 2, "name": "bob", "role": None},
         {"id": 3, "name": "Chen", "role": "manager"}]

RELATIVE = ["today", "yesterday", "tomorrow", "now", "-7d", "+7d", "-24h", "+30h", "+1w"]
# Raw filter values, as a person or an API client would write them.
RAW = {
    "name": [t for t in TEXTS if t.strip()], "label_text": [t for t in TEXTS if t.strip()],
    "email": ["ann@x.io", "BOB@y.io"], "phone": ["138 0000 0000", "+8613911112222"],
    "site": ["a.io", "https://b.io/x_y"], "code": ["T-0001", "t-0003"],
    "qty": [-2, "0", 1, "1,000", 3], "stars": [0, 1, "5"], "wait": ["0", "1m", "1h", "1h30m"],
    "amount": MONEY + ["1,000"], "calc": MONEY, "share": ["12.5%", "0", "100"],
    "ratio": ["0.125", "1", "-0.5"], "flag": [True, False, "yes", "no"],
    "day": [(TODAY + timedelta(days=d)).isoformat() for d in DAYS] + RELATIVE,
    "at": [i.isoformat() for i in INSTANTS] + ["2024-03-10", "2024-03-09", "2024-03-10 01:30"]
          + RELATIVE,
    "created_at": [i.isoformat() for i in INSTANTS[:5]] + ["2024-03-10"] + RELATIVE,
    "updated_at": [i.isoformat() for i in INSTANTS[5:]] + RELATIVE,
    "stage": ["lead", "Negotiation", "won", "lost"], "tags": ["red", "blue_x", "bluezx", "Green"],
    "owner": [1, 2, "3", "me"], "created_by": [1, "me"], "updated_by": [3, "me"],
    "other": [1, 2, 99], "parent": [1, 3, 99], "id": [1, 2, 5], "version": [1, 2],
    "files": [],
    "other.name": [t for t in TEXTS if t.strip()], "other.kind": ["agency", "bank"],
    "other.size": [1, "10", 100],
}
PATHS = [*(k for k in DOMAIN), "id", "other.name", "other.kind", "other.size", "owner.name",
         "owner.role", "parent.stage", "parent.other.kind", "parent.parent.flag",
         "created_by.role", "parent.amount", "parent.at"]


@pytest.fixture(scope="module")
def ws():
    return load_workspace_from_texts(WS)


def field_at(ws, path):
    node = F.parse({"field": path, "op": "is_empty"}, "thing", ws)
    return node.field


def raw_domain(ws, path):
    if path in RAW:
        return RAW[path]
    last = path.rsplit(".", 1)[-1]
    if path.startswith(("owner.", "created_by.")):
        return {"name": ["Ann", "bob", "ann"], "role": ["consultant", "manager"]}[last]
    if last in ORG_DOMAIN and path.startswith("parent.other"):
        return {"kind": ["agency", "bank"]}[last]
    return RAW[last]


def value_strategy(ws, path, op):
    f = field_at(ws, path)
    shape = F.OPERATORS[op].shape
    if shape == "none":
        return st.just(None)
    if shape == "period":
        return st.sampled_from(F.PERIODS)
    if op in ("contains", "not_contains", "starts_with") and F.flavor(f) == "text":
        one = st.sampled_from(CONTAINS)
    else:
        one = st.sampled_from(raw_domain(ws, path))
    if shape == "many":
        return st.lists(one, min_size=1, max_size=3)
    if shape == "pair":
        return st.lists(one, min_size=2, max_size=2)
    return one


def condition_strategy(ws):
    """A condition on any path with any operator it supports (all pairs built once)."""
    pairs = [(path, op) for path in PATHS for op in F.operators_for(field_at(ws, path))]
    return st.one_of(*(value_strategy(ws, path, op).map(
        lambda v, path=path, op=op: {"field": path, "op": op, "value": v})
        for path, op in pairs))


def filter_strategy(ws):
    """Conditions nested in all / any / not, a few levels deep."""
    return st.recursive(condition_strategy(ws), lambda sub: st.one_of(
        st.lists(sub, max_size=3).map(lambda xs: {"all": xs}),
        st.lists(sub, max_size=3).map(lambda xs: {"any": xs}),
        sub.map(lambda x: {"not": x}),
    ), max_leaves=10)


def records_strategy(ws):
    rt = ws.type("thing")
    cols = {name: st.sampled_from(DOMAIN[name]) if name == "version"
            else st.one_of(st.none(), st.sampled_from(DOMAIN[name]))
            for name in rt.fields if name in DOMAIN}
    return st.lists(st.fixed_dictionaries(cols), max_size=10).map(
        lambda rows: [{**r, "id": i} for i, r in enumerate(rows, 1)])


def orgs_strategy():
    cols = {k: st.one_of(st.none(), st.sampled_from(v)) for k, v in ORG_DOMAIN.items()}
    return st.lists(st.fixed_dictionaries(cols), min_size=3, max_size=3).map(
        lambda rows: [{**r, "id": i} for i, r in enumerate(rows, 1)])


class Store:
    """Records in a real table, read back as the engine sees them."""

    def __init__(self, conn, schema):
        self.conn, self.schema = conn, schema
        self.ws = schema.workspace

    def replace(self, things, orgs):
        for name in ("thing", "org", "staff"):
            self.conn.execute(sa.delete(self.schema.table(name)))
        self.insert("staff", STAFF)
        self.insert("org", orgs)
        self.insert("thing", things)
        self.rows = {}
        for name in ("thing", "org", "staff"):
            rt = self.ws.type(name)
            result = self.conn.execute(sa.select(self.schema.table(name))).mappings()
            self.rows[name] = {r["id"]: row_to_dict(rt, r) for r in result}

    def insert(self, type_name, records):
        if not records:
            return
        rt = self.ws.type(type_name)
        rows = [{k: rt.fields[k].kind.to_db(rt.fields[k], v) for k, v in r.items()}
                for r in records]
        full = [{name: row.get(name) for name in rows[0]} for row in rows]
        self.conn.execute(sa.insert(self.schema.table(type_name)), full)

    def check(self, filters, ctx):
        """Each filter selects in SQL exactly the records evaluate() accepts."""
        table = self.schema.table("thing")
        nodes = [F.parse(data, "thing", self.ws) for data in filters]
        py_ctx = F.FilterContext.of(ctx, resolver=lambda t, i: self.rows[t].get(i))
        for start in range(0, len(nodes), 50):
            chunk = nodes[start:start + 50]
            # CASE WHEN reads a condition exactly as WHERE does (NULL counts as false).
            cols = [sa.case((F.to_sql(n, self.schema, ctx), 1), else_=0) for n in chunk]
            rows = self.conn.execute(sa.select(table.c.id, *cols)).all()
            for j, node in enumerate(chunk, 1):
                got = {r[0] for r in rows if r[j]}
                want = {i for i, r in self.rows["thing"].items()
                        if F.evaluate(node, r, py_ctx)}
                assert got == want, (filters[start + j - 1], F.describe(node, self.ws))


@pytest.fixture
def store(engine, ws):
    schema = build_schema(ws)
    with engine.begin() as conn:
        schema.metadata.create_all(conn)
    with engine.connect() as conn:
        yield Store(conn, schema)


def test_sql_and_python_agree_on_random_records_and_filters(store, ws):
    """Property: to_sql selects exactly the records evaluate() accepts, NULLs included."""

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(things=records_strategy(ws), orgs=orgs_strategy(),
           flts=st.lists(filter_strategy(ws), min_size=1, max_size=6),
           user=st.sampled_from([2, None]))
    def run(things, orgs, flts, user):
        with store.conn.begin():
            store.replace(things, orgs)
            store.check(flts, F.FilterContext(user=user, clock=lambda: CLOCK))

    run()


def test_every_operator_of_every_field_agrees(store, ws):
    """Each (field, operator) pair at least a few times, on one seeded data set."""
    rng = random.Random(7)
    things = [{"id": i, **{k: rng.choice([None, *v]) for k, v in DOMAIN.items()},
               "version": 1} for i in range(1, 41)]
    orgs = [{"id": i, **{k: rng.choice([None, *v]) for k, v in ORG_DOMAIN.items()}}
            for i in (1, 2, 3)]
    ctx = F.FilterContext(user=2, clock=lambda: CLOCK)
    with store.conn.begin():
        store.replace(things, orgs)
        checks = []
        for path in PATHS:
            for op in F.operators_for(field_at(ws, path)):
                for value in _values(rng, ws, path, op):
                    cond = {"field": path, "op": op, "value": value}
                    checks += [cond, {"not": cond}]
        store.check(checks, ctx)
    assert len(checks) > 2000


def _values(rng, ws, path, op):
    """Every value of the domain for one-value operators; a few random lists otherwise."""
    shape = F.OPERATORS[op].shape
    if shape == "none":
        return [None]
    if shape == "period":
        return list(F.PERIODS)
    f = field_at(ws, path)
    pool = CONTAINS if op in ("contains", "not_contains", "starts_with") and \
        F.flavor(f) == "text" else raw_domain(ws, path)
    if shape == "many":
        return [rng.sample(pool, min(len(pool), rng.randint(1, 3))) for _ in range(3)]
    if shape == "pair":
        return [[rng.choice(pool), rng.choice(pool)] for _ in range(4)]
    return pool


# -- examples ------------------------------------------------------------------------------

@pytest.fixture
def rec():
    def make(**values):
        base = {name: None for name in DOMAIN}
        return {**base, "id": 1, **values}

    return make


def ev(ws, data, record, user=2, clock=CLOCK, resolver=None):
    node = F.parse(data, "thing", ws)
    return F.evaluate(node, record, F.FilterContext(user=user, clock=lambda: clock,
                                                    resolver=resolver))


def test_values_are_parsed_by_the_field_type(ws):
    node = F.parse({"field": "amount", "op": "gte", "value": "1,000"}, "thing", ws)
    assert node.value == Decimal("1000.00")
    node = F.parse({"field": "stage", "op": "eq", "value": "Negotiation"}, "thing", ws)
    assert node.value == "negotiation"
    node = F.parse({"field": "stage", "op": "in", "value": ["线索", "won"]}, "thing", ws)
    assert node.value == ("lead", "won")
    node = F.parse({"field": "owner", "op": "eq", "value": "me"}, "thing", ws)
    assert node.value is F.ME
    node = F.parse({"field": "email", "op": "eq", "value": "ANN@X.IO"}, "thing", ws)
    assert node.value == "ann@x.io"


def test_eq_ne_and_empty_values(ws, rec):
    assert ev(ws, {"field": "stage", "op": "eq", "value": "lead"}, rec(stage="lead"))
    assert not ev(ws, {"field": "stage", "op": "eq", "value": "lead"}, rec(stage=None))
    # ne / not_in / not_contains / is_empty match empty values; their positives never do
    assert ev(ws, {"field": "stage", "op": "ne", "value": "lead"}, rec(stage=None))
    assert ev(ws, {"field": "stage", "op": "not_in", "value": ["lead"]}, rec(stage=None))
    assert ev(ws, {"field": "name", "op": "not_contains", "value": "a"}, rec(name=None))
    assert ev(ws, {"field": "name", "op": "is_empty"}, rec(name=""))
    assert ev(ws, {"not": {"field": "qty", "op": "gt", "value": 1}}, rec(qty=None))
    assert not ev(ws, {"field": "qty", "op": "lte", "value": 1}, rec(qty=None))


def test_contains_ignores_ascii_case_and_wildcards(ws, rec):
    assert ev(ws, {"field": "name", "op": "contains", "value": "AB"}, rec(name="xaby"))
    assert ev(ws, {"field": "name", "op": "starts_with", "value": "Xa"}, rec(name="xaby"))
    assert not ev(ws, {"field": "name", "op": "starts_with", "value": "a"}, rec(name="xaby"))
    assert not ev(ws, {"field": "name", "op": "contains", "value": "a_c"}, rec(name="abc"))
    assert ev(ws, {"field": "name", "op": "contains", "value": "50%"}, rec(name="up 50% off"))
    assert not ev(ws, {"field": "name", "op": "contains", "value": "é"}, rec(name="É"))
    assert ev(ws, {"field": "name", "op": "contains", "value": "三丰"}, rec(name="张三丰"))


def test_multi_select_contains_and_in(ws, rec):
    assert ev(ws, {"field": "tags", "op": "contains", "value": "blue_x"}, rec(tags=["blue_x"]))
    assert not ev(ws, {"field": "tags", "op": "contains", "value": "blue_x"},
                  rec(tags=["bluezx"]))
    assert ev(ws, {"field": "tags", "op": "in", "value": ["red", "green"]}, rec(tags=["green"]))
    assert ev(ws, {"field": "tags", "op": "not_contains", "value": "red"}, rec(tags=None))
    assert ev(ws, {"field": "tags", "op": "is_empty"}, rec(tags=[]))


def test_select_order_follows_the_options(ws, rec):
    later = {"field": "stage", "op": "gte", "value": "negotiation"}
    assert ev(ws, later, rec(stage="won"))
    assert ev(ws, later, rec(stage="lost"))
    assert not ev(ws, later, rec(stage="lead"))
    assert not ev(ws, later, rec(stage="gone"))  # a value no longer among the options


def test_me_is_the_current_user(ws, rec):
    mine = {"field": "owner", "op": "eq", "value": "me"}
    assert ev(ws, mine, rec(owner=2), user=2)
    assert not ev(ws, mine, rec(owner=3), user=2)
    assert not ev(ws, mine, rec(owner=None), user=None)
    assert ev(ws, {"field": "owner", "op": "ne", "value": "me"}, rec(owner=2), user=None)
    node = F.parse(mine, "thing", ws)
    assert F.evaluate(node, rec(owner=5), Actor(user=5))


def test_relative_dates_use_the_workspace_time_zone(ws, rec):
    # CLOCK is 2024-03-10 06:30 UTC, which is 01:30 on 10 March in New York.
    assert TODAY == date(2024, 3, 10)
    today = {"field": "day", "op": "eq", "value": "today"}
    assert ev(ws, today, rec(day=date(2024, 3, 10)))
    assert not ev(ws, today, rec(day=date(2024, 3, 11)))
    assert ev(ws, {"field": "day", "op": "eq", "value": "-7d"}, rec(day=date(2024, 3, 3)))
    # a day given to a datetime field means that local day (the 10th has 23 hours here)
    on_10th = {"field": "at", "op": "eq", "value": "today"}
    assert ev(ws, on_10th, rec(at=datetime(2024, 3, 10, 5, 0, tzinfo=UTC)))
    assert not ev(ws, on_10th, rec(at=datetime(2024, 3, 10, 4, 59, tzinfo=UTC)))
    assert ev(ws, on_10th, rec(at=datetime(2024, 3, 11, 3, 59, tzinfo=UTC)))
    assert not ev(ws, on_10th, rec(at=datetime(2024, 3, 11, 4, 0, tzinfo=UTC)))
    before = {"field": "at", "op": "lte", "value": "2024-03-09"}
    assert ev(ws, before, rec(at=datetime(2024, 3, 10, 4, 59, tzinfo=UTC)))
    assert ev(ws, {"field": "at", "op": "gt", "value": "-24h"},
              rec(at=CLOCK - timedelta(hours=23)))


def test_formulas_count_today_in_the_workspace_time_zone(ws, rec):
    """today() in a formula is the day relative dates call today: New York's, not UTC's."""
    from lowrise.expr import Expression, ExpressionError
    from lowrise.storage.values import compute_formulas

    late = datetime(2024, 3, 11, 2, 0, tzinfo=UTC)  # 22:00 on the 10th in New York
    expr = Expression("today()")
    assert expr.evaluate({}, now=late) == date(2024, 3, 11)  # no zone: the clock's (UTC)
    assert expr.evaluate({}, now=late, tz=TZ) == date(2024, 3, 10)
    assert Expression("date(now())").evaluate({}, now=late, tz=TZ) == date(2024, 3, 10)
    assert Expression("now()").evaluate({}, now=late, tz=TZ) == late  # the same instant
    with pytest.raises(ExpressionError, match="not a time zone"):
        expr.evaluate({}, now=late, tz="Mars/Olympus")
    texts = {**WS, "schemas/thing.yaml": WS["schemas/thing.yaml"].replace(
        "  calc: {type: formula", "  seen: {type: formula, expression: \"today()\", "
        "result: date}\n  calc: {type: formula")}
    local = load_workspace_from_texts(texts)
    record = rec()
    compute_formulas(local.type("thing"), record, late)
    assert record["seen"] == date(2024, 3, 10)
    today = {"field": "day", "op": "eq", "value": "today"}
    node = F.parse(today, "thing", local)
    assert F.evaluate(node, {**record, "day": record["seen"]},
                      F.FilterContext(clock=lambda: late))


def test_within_periods(ws, rec):
    def within(period, **values):
        return ev(ws, {"field": "day", "op": "within", "value": period}, rec(**values))

    assert within("this_week", day=date(2024, 3, 4))  # the Monday
    assert not within("this_week", day=date(2024, 3, 11))
    assert within("last_week", day=date(2024, 3, 3))
    assert within("last_month", day=date(2024, 2, 29))
    assert within("last_7_days", day=date(2024, 3, 4))
    assert not within("last_7_days", day=date(2024, 3, 3))
    assert within("next_7_days", day=date(2024, 3, 16))
    assert not within("next_7_days", day=date(2024, 3, 17))
    assert within("overdue", day=date(2024, 3, 9))
    assert not within("overdue", day=date(2024, 3, 10))
    assert not within("overdue", day=None)
    overdue = {"field": "at", "op": "within", "value": "overdue"}
    assert ev(ws, overdue, rec(at=CLOCK - timedelta(microseconds=1)))
    assert not ev(ws, overdue, rec(at=CLOCK))


def test_paths_follow_links(ws, rec):
    orgs = {1: {"id": 1, "kind": "bank", "name": "Acme"}}
    resolver = lambda t, i: orgs.get(i) if t == "org" else None  # noqa: E731
    bank = {"field": "other.kind", "op": "eq", "value": "bank"}
    assert ev(ws, bank, rec(other=1), resolver=resolver)
    assert not ev(ws, bank, rec(other=99), resolver=resolver)
    assert ev(ws, {"field": "other.kind", "op": "ne", "value": "bank"}, rec(other=None),
              resolver=resolver)
    with pytest.raises(FilterError, match="resolver"):
        ev(ws, bank, rec(other=1))


def test_path_compiles_to_a_subquery(ws):
    schema = build_schema(ws)
    node = F.parse({"field": "other.kind", "op": "eq", "value": "bank"}, "thing", ws)
    sql = str(sa.select(schema.table("thing").c.id).where(F.to_sql(node, schema)))
    assert "thing.other IN (SELECT org_1.id" in sql
    assert "bank" not in sql  # bound, never inlined


@pytest.mark.parametrize("data, message", [
    ({"field": "stgae", "op": "eq", "value": "lead"},
     "has no field 'stgae' (did you mean 'stage'?)"),
    ({"field": "stage", "op": "contains", "value": "x"},
     "does not support 'contains'; use one of eq"),
    # (a value shaped like an option's is taken: records may hold an option since removed)
    ({"field": "stage", "op": "eq", "value": "No pe"}, "'No pe' is not one of the options"),
    ({"field": "stage", "op": "eqq", "value": "lead"},
     "unknown operator 'eqq' (did you mean 'eq'?)"),
    ({"field": "amount", "op": "in", "value": 5}, "'in' takes a list of values"),
    ({"field": "amount", "op": "between", "value": [1]}, "a list of two values"),
    ({"field": "amount", "op": "eq", "value": None}, "use is_empty"),
    ({"field": "amount", "op": "eq", "value": "lots"}, "'lots' is not a number"),
    ({"field": "day", "op": "within", "value": "this_decade"}, "is not a period"),
    ({"field": "other", "op": "eq", "value": "me"},
     "'me' only works on fields that point at staff"),
    ({"field": "name.x", "op": "eq", "value": 1}, "'name' is not a link"),
    ({"field": "other.nam", "op": "eq", "value": 1}, "Organisation has no field 'nam'"),
    ({"field": "a.b.c.d.e", "op": "eq", "value": 1}, "at most 3 links"),
    ({"all": {"field": "stage"}}, "all: expected a list of conditions"),
    ({"al": []}, "expected exactly one of all, any, not"),
    ({"field": "name", "op": "is_empty", "value": "x"}, "'is_empty' takes no value"),
    ({"field": "name", "op": "eq", "value": "a", "vale": 1}, "unknown key vale"),
    ({"field": "name", "op": "eq", "value": ["a"]}, "'eq' takes one value"),
])
def test_error_messages(ws, data, message):
    with pytest.raises(FilterError) as info:
        F.parse(data, "thing", ws)
    assert message in str(info.value)


def test_check_lists_every_problem_with_where_it_is(ws):
    problems = F.check({"all": [{"field": "stage", "op": "eq", "value": "lead"},
                                {"any": [{"field": "nope", "op": "eq", "value": 1},
                                         {"field": "qty", "op": "eq", "value": "x"}]}]},
                       "thing", ws)
    assert len(problems) == 2
    assert problems[0].startswith("all[1].any[0]: ")
    assert problems[1].startswith("all[1].any[1]: qty: ")
    assert F.check({"all": []}, "thing", ws) == []


def test_describe_in_english_and_chinese(ws):
    node = F.parse({"field": "stage", "op": "eq", "value": "negotiation"}, "thing", ws)
    assert F.describe(node, ws, "en") == "Stage is Negotiation"
    assert F.describe(node, ws, "zh") == "阶段 等于 洽谈"
    node = F.parse({"all": [{"field": "amount", "op": "between", "value": [1, 2]},
                            {"any": [{"field": "owner", "op": "eq", "value": "me"},
                                     {"field": "day", "op": "within", "value": "overdue"}]},
                            {"not": {"field": "other.name", "op": "contains", "value": "x"}}]},
                   "thing", ws)
    en = F.describe(node, ws, "en")
    assert "(Owner is me or Day is overdue)" in en
    assert "not (Org › Name contains “x”)" in en
    zh = F.describe(node, ws, "zh")
    assert "负责人 等于 我 或 日期 已逾期" in zh and "机构 › 名称 包含 “x”" in zh
    rel = F.parse({"field": "day", "op": "gte", "value": "-7d"}, "thing", ws)
    assert F.describe(rel, ws, "en") == "Day is on or after 7 days ago"
    assert F.describe(rel, ws, "zh") == "日期 不早于 7天前"


def test_all_of_combines_filters(ws):
    a = F.parse({"field": "qty", "op": "gt", "value": 1}, "thing", ws)
    b = F.parse({"all": [{"field": "flag", "op": "eq", "value": True}]}, "thing", ws)
    combined = F.all_of(a, None, b)
    assert isinstance(combined, F.All) and len(combined.items) == 2
    assert F.all_of(a) is a


def test_numbers_past_64_bits_and_deep_nesting_are_refused(ws):
    """A filter naming an id, a link or a whole number past 64 bits is refused with a
    message (the database would overflow), and so is one nested past MAX_NESTING (the parser
    would run out of stack)."""
    huge = 2**70
    for field in ("id", "owner", "other", "parent", "qty"):
        with pytest.raises(FilterError) as info:
            F.parse({"field": field, "op": "eq", "value": huge}, "thing", ws)
        assert str(huge) in str(info.value), field
    with pytest.raises(FilterError):
        F.parse({"field": "id", "op": "in", "value": [1, -huge]}, "thing", ws)
    assert F.parse({"field": "id", "op": "lt", "value": 2**63 - 1}, "thing", ws)
    deep = {"field": "name", "op": "eq", "value": "x"}
    for _ in range(F.MAX_NESTING + 1):
        deep = {"not": deep}
    with pytest.raises(FilterError, match="nests"):
        F.parse(deep, "thing", ws)
    deep = {"field": "name", "op": "eq", "value": "x"}
    for _ in range(5000):
        deep = {"any": [deep]}
    with pytest.raises(FilterError, match="nests"):
        F.parse(deep, "thing", ws)
