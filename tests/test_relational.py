"""Lookups, rollups, counts and formulas across links, on SQLite and PostgreSQL: each kind
and option, kept correct by create, update, bulk update, import, delete to the trash,
restore and on_delete clear; filled by the migration that adds them; masked as their
source is; refused by `lowrise check` where they cannot work."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from lowrise.actor import Actor
from lowrise.errors import FilterError, ValidationError
from lowrise.i18n import tr
from lowrise.storage import derived, migrate
from lowrise.storage.query import list_records
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts
from lowrise.workspace.loader import WorkspaceError

NOW = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)

WORKSPACE = """
label: {en: Office, zh: 售楼处}
default_locale: zh
locales: [zh, en]
timezone: Asia/Shanghai
users: staff
roles:
  consultant:
    label: {en: Consultant, zh: 置业顾问}
    permissions:
      client:
        can: [read]
        fields: {budget: {access: hidden}, phone: {access: masked}}
      case: {can: [read, create, update]}
      staff: {can: [read]}
  outsider:
    label: {en: Outsider, zh: 外部}
    permissions:
      case: {can: [read]}
  admin: {admin: true}
"""

STAFF = """
label: {en: Person, zh: 员工}
title: name
fields:
  name: {type: text, required: true}
  target: {type: currency}
  deals_this_month:
    type: count
    from: case
    via: consultant
    filter: {all: [{field: stage, op: eq, value: won}, {field: won_on, op: within, value: this_month}]}
  amount_this_month:
    type: rollup
    from: case
    via: consultant
    aggregate: sum
    field: amount
    filter: {all: [{field: stage, op: eq, value: won}, {field: won_on, op: within, value: this_month}]}
  against_target: {type: formula, expression: "amount_this_month - target", result: decimal}
"""

CLIENT = """
label: {en: Client, zh: 客户}
title: name
fields:
  name: {type: text, required: true}
  phone: {type: phone}
  source:
    type: select
    options: [{value: web, label: {en: Web, zh: 网络}}, {value: walk_in, label: {en: Walk-in, zh: 到访}}]
  budget: {type: currency}
  open_cases: {type: count, from: case, via: client, filter: {field: stage, op: in, value: [open, viewing]}}
  cases: {type: count, from: case, via: client}
  won_amount: {type: rollup, from: case, via: client, aggregate: sum, field: amount, filter: {field: stage, op: eq, value: won}}
  avg_amount: {type: rollup, from: case, via: client, aggregate: avg, field: amount}
  smallest: {type: rollup, from: case, via: client, aggregate: min, field: amount}
  largest: {type: rollup, from: case, via: client, aggregate: max, field: amount}
  first_won: {type: rollup, from: case, via: client, aggregate: min, field: won_on}
"""

CASE = """
label: {en: Case, zh: 案件}
title: title
fields:
  title: {type: text, required: true}
  client: {type: link, target: client, on_delete: clear}
  consultant: {type: user}
  stage:
    type: select
    options: [open, viewing, won, lost]
  amount: {type: currency}
  won_on: {type: date}
  client_source: {type: lookup, through: client, field: source, label: {en: Source, zh: 来源}}
  client_budget: {type: lookup, through: client, field: budget}
  client_phone: {type: lookup, through: client, field: phone}
  client_cases: {type: lookup, through: client, field: cases}
  headroom: {type: formula, expression: "client.budget - amount", result: decimal}
  over_budget: {type: formula, expression: "client_budget < amount", result: boolean}
"""

FILES = {"workspace.yaml": WORKSPACE, "schemas/staff.yaml": STAFF,
         "schemas/client.yaml": CLIENT, "schemas/case.yaml": CASE}


def _records(engine, files=FILES) -> Records:
    schema = build_schema(load_workspace_from_texts(files))
    with engine.connect() as conn:
        plan = migrate.plan(conn, schema)
    migrate.apply(engine, plan)
    return Records(engine, schema)


ADMIN = Actor(user=None, name="Ada", roles=frozenset({"admin"}), clock=lambda: NOW)


@pytest.fixture
def office(engine):
    r = _records(engine)
    r.li = r.create("staff", {"name": "Li", "target": "100000"}, ADMIN)
    r.zhao = r.create("client", {"name": "Zhao", "source": "web", "budget": "2000000",
                                 "phone": "13812345678"}, ADMIN)
    r.qian = r.create("client", {"name": "Qian", "source": "walk_in", "budget": "900000"},
                      ADMIN)
    return r


def _case(r, **values):
    values.setdefault("title", "a case")
    return r.create("case", values, ADMIN)


def _get(r, t, rid):
    return r.get(t, rid)


# -- lookup -----------------------------------------------------------------------------------

def test_lookup_is_set_on_create_and_follows_the_link_and_the_linked_record(office):
    r = office
    c = _case(r, client=r.zhao["id"], amount="1500000")
    assert c["client_source"] == "web" and c["client_budget"] == Decimal("2000000.00")
    assert _get(r, "case", c["id"])["client_source"] == "web"
    r.update("client", r.zhao["id"], {"source": "walk_in", "budget": "2500000"}, ADMIN)
    got = _get(r, "case", c["id"])
    assert got["client_source"] == "walk_in" and got["client_budget"] == Decimal("2500000.00")
    # the propagation is computed, like a formula: the case's version is unchanged
    assert got["version"] == 1
    moved = r.update("case", c["id"], {"client": r.qian["id"]}, ADMIN)
    assert moved["client_budget"] == Decimal("900000.00")
    emptied = r.update("case", c["id"], {"client": None}, ADMIN)
    assert emptied["client_source"] is None and emptied["client_budget"] is None


def test_lookup_is_refused_as_input_in_both_languages(office):
    with pytest.raises(ValidationError) as err:
        _case(office, client=office.zhao["id"], client_source="web")
    assert tr(err.value.errors["client_source"], "en") == \
        "is computed from linked records and cannot be set"
    assert tr(err.value.errors["client_source"], "zh") == "由关联记录计算得出，不能填写"


def test_lookup_of_a_select_filters_sorts_and_shows_as_the_select(office):
    r = office
    _case(r, title="A", client=r.zhao["id"])
    _case(r, title="B", client=r.qian["id"])
    _case(r, title="C")
    rt = r.schema.workspace.record_types["case"]
    f = rt.fields["client_source"]
    assert f.kind.display(f, "walk_in", "zh") == "到访"
    assert [o.value for o in f.options] == ["web", "walk_in"]
    with r.engine.connect() as conn:
        page = list_records(conn, r.schema, "case",
                            filter={"field": "client_source", "op": "eq", "value": "walk_in"})
        assert [x["title"] for x in page.rows] == ["B"]
        page = list_records(conn, r.schema, "case", sort=["client_source", "title"])
    assert [x["title"] for x in page.rows][:2] == ["A", "B"]  # options' order: web first


def test_lookup_of_a_rollup_follows_two_steps(office):
    r = office
    a = _case(r, client=r.zhao["id"])
    assert _get(r, "case", a["id"])["client_cases"] == 1
    b = _case(r, client=r.zhao["id"])
    assert _get(r, "case", a["id"])["client_cases"] == 2
    assert _get(r, "case", b["id"])["client_cases"] == 2


# -- formulas across links --------------------------------------------------------------------

def test_formula_reads_a_field_of_the_linked_record_and_is_kept_up_to_date(office):
    r = office
    c = _case(r, client=r.zhao["id"], amount="1500000")
    other = _case(r, client=r.zhao["id"], amount="250000.50")
    assert c["headroom"] == Decimal("500000.00") and c["over_budget"] is False
    r.update("client", r.zhao["id"], {"budget": "1000000"}, ADMIN)
    got = _get(r, "case", c["id"])
    assert got["headroom"] == Decimal("-500000.00") and got["over_budget"] is True
    assert _get(r, "case", other["id"])["headroom"] == Decimal("749999.50")
    assert "client.budget" not in got
    got = r.update("case", c["id"], {"amount": "900000"}, ADMIN)
    assert got["headroom"] == Decimal("100000.00") and "client.budget" not in got
    assert r.update("case", c["id"], {"client": None}, ADMIN)["headroom"] is None


# -- rollup and count -------------------------------------------------------------------------

def test_count_and_rollups_follow_creates_updates_and_moves(office):
    r = office
    z = r.zhao["id"]
    assert _get(r, "client", z)["cases"] == 0 and _get(r, "client", z)["won_amount"] == 0
    a = _case(r, client=z, stage="open", amount="100", won_on=None)
    b = _case(r, client=z, stage="won", amount="300", won_on="2026-03-02")
    _case(r, client=z, stage="lost", amount="200")
    got = _get(r, "client", z)
    assert got["cases"] == 3 and got["open_cases"] == 1
    assert got["won_amount"] == Decimal("300.00")
    assert got["avg_amount"] == Decimal("200.00")
    assert got["smallest"] == Decimal("100.00") and got["largest"] == Decimal("300.00")
    assert got["first_won"] == date(2026, 3, 2)
    r.update("case", a["id"], {"stage": "won", "won_on": "2026-03-01"}, ADMIN)
    got = _get(r, "client", z)
    assert got["open_cases"] == 0 and got["won_amount"] == Decimal("400.00")
    assert got["first_won"] == date(2026, 3, 1)
    r.update("case", b["id"], {"client": r.qian["id"]}, ADMIN)  # moves: both sides
    assert _get(r, "client", z)["won_amount"] == Decimal("100.00")
    assert _get(r, "client", r.qian["id"])["won_amount"] == Decimal("300.00")
    assert _get(r, "client", z)["cases"] == 2 and _get(r, "client", r.qian["id"])["cases"] == 1


def test_avg_keeps_its_decimals_on_both_databases(office):
    r = office
    for amount in ("1.00", "2.00", "2.00"):
        _case(r, client=r.zhao["id"], amount=amount)
    assert _get(r, "client", r.zhao["id"])["avg_amount"] == Decimal("1.67")


def test_a_period_filter_counts_this_month_and_is_recomputed_when_the_month_turns(office):
    r = office
    li = r.li["id"]
    _case(r, consultant=li, stage="won", amount="60000", won_on="2026-03-05")
    _case(r, consultant=li, stage="won", amount="5000", won_on="2026-02-27")
    _case(r, consultant=li, stage="open", amount="7000", won_on="2026-03-06")
    got = _get(r, "staff", li)
    assert got["deals_this_month"] == 1 and got["amount_this_month"] == Decimal("60000.00")
    assert got["against_target"] == Decimal("-40000.00")
    april = datetime(2026, 4, 2, 1, 0, tzinfo=UTC)
    with r.engine.begin() as conn:
        assert derived.refresh_periods(conn, r.schema, april) == 2
    got = _get(r, "staff", li)
    assert got["deals_this_month"] == 0 and got["amount_this_month"] == 0
    assert got["against_target"] == Decimal("-100000.00")  # the formula follows


# -- every write ------------------------------------------------------------------------------

def test_bulk_create_and_import_fill_lookups_and_rollups(office, tmp_path):
    r = office
    rows = [{"title": f"c{i}", "client": r.zhao["id"] if i % 2 else r.qian["id"],
             "amount": "10", "stage": "won"} for i in range(10)]
    made = r.bulk_create("case", rows, ADMIN)
    assert {m["client_source"] for m in made} == {"web", "walk_in"}
    assert _get(r, "client", r.zhao["id"])["won_amount"] == Decimal("50.00")
    from lowrise import importer
    from lowrise.sheets import Sheet

    sheet = Sheet(["title", "client", "amount", "stage"],
                  [["imp", str(r.zhao["id"]), "5", "won"]])
    prepared = importer.prepare(r, "case", sheet, ["title", "client", "amount", "stage"],
                                ADMIN)
    assert importer.run(r, "case", prepared, ADMIN, mode="all").created == 1
    assert _get(r, "client", r.zhao["id"])["won_amount"] == Decimal("55.00")
    assert _get(r, "client", r.zhao["id"])["cases"] == 6


def test_update_many_changes_every_dependant(office):
    r = office
    cases = [_case(r, client=r.zhao["id"]) for _ in range(3)]
    r.update_many("client", [(r.zhao["id"], {"source": "walk_in"}),
                             (r.qian["id"], {"budget": "1"})], ADMIN)
    assert {_get(r, "case", c["id"])["client_source"] for c in cases} == {"walk_in"}
    r.update_many("case", [(c["id"], {"client": r.qian["id"]}) for c in cases], ADMIN)
    assert _get(r, "client", r.qian["id"])["cases"] == 3
    assert _get(r, "client", r.zhao["id"])["cases"] == 0


def test_delete_to_trash_clear_and_restore(office):
    r = office
    c = _case(r, client=r.zhao["id"], stage="won", amount="300")
    r.delete("case", c["id"], ADMIN)
    assert _get(r, "client", r.zhao["id"])["cases"] == 0
    assert _get(r, "client", r.zhao["id"])["won_amount"] == 0
    r.restore("case", c["id"], ADMIN)
    assert _get(r, "client", r.zhao["id"])["won_amount"] == Decimal("300.00")
    assert _get(r, "case", c["id"])["client_source"] == "web"
    # deleting the client clears the link (on_delete: clear), and with it the lookups
    r.delete("client", r.zhao["id"], ADMIN)
    got = _get(r, "case", c["id"])
    assert got["client"] is None and got["client_source"] is None
    # restoring the client links the case again, and its lookups and rollups come back
    back = r.restore("client", r.zhao["id"], ADMIN)
    assert _get(r, "case", c["id"])["client_source"] == "web"
    assert _get(r, "client", back["id"])["won_amount"] == Decimal("300.00")
    assert _get(r, "client", back["id"])["cases"] == 1


def test_the_whole_write_rolls_back_together(office):
    r = office
    c = _case(r, client=r.zhao["id"])
    with pytest.raises(RuntimeError), r.transaction() as conn:
        r.update("client", r.zhao["id"], {"source": "walk_in"}, ADMIN, conn=conn)
        assert r.get("case", c["id"], conn=conn)["client_source"] == "walk_in"
        raise RuntimeError("refused later in the same write")
    assert _get(r, "case", c["id"])["client_source"] == "web"


# -- masking ----------------------------------------------------------------------------------

def test_a_lookup_of_a_masked_or_hidden_field_is_masked_or_hidden_the_same_way(office):
    r = office
    c = _case(r, client=r.zhao["id"])
    consultant = Actor(user=r.li["id"], name="Li", roles=frozenset({"consultant"}),
                       clock=lambda: NOW)
    seen = r.get("case", c["id"], actor=consultant)
    assert seen["client_phone"] == "138****5678" and seen.access["client_phone"] == "masked"
    assert "client_budget" not in seen and "2000000" not in str(dict(seen))
    assert seen["client_source"] == "web"
    # a formula across the link reads the hidden budget: it is hidden too
    assert "headroom" not in seen
    with r.engine.connect() as conn:
        page = list_records(conn, r.schema, "case", ctx=consultant)
    assert "13812345678" not in str(page.rows) and "2000000" not in str(page.rows)
    # a role that may not read clients at all sees none of their fields through a case
    outsider = Actor(user=None, name="O", roles=frozenset({"outsider"}), clock=lambda: NOW)
    seen = r.get("case", c["id"], actor=outsider)
    assert "client_source" not in seen and "client_budget" not in seen
    # sorting by a masked lookup would tell its order: refused, as for the field itself
    with pytest.raises(FilterError, match="masked"), r.engine.connect() as conn:
        list_records(conn, r.schema, "case", ctx=consultant, sort=["client_phone"])


# -- the migration ----------------------------------------------------------------------------

def test_adding_derived_fields_fills_them_for_existing_rows(engine):
    plain = dict(FILES)
    plain["schemas/case.yaml"] = "\n".join(
        line for line in CASE.splitlines()
        if not any(w in line for w in ("lookup", "formula")))
    plain["schemas/client.yaml"] = "\n".join(
        line for line in CLIENT.splitlines() if "rollup" not in line and "count" not in line)
    plain["schemas/staff.yaml"] = STAFF.split("  deals_this_month")[0]
    r = _records(engine, plain)
    z = r.create("client", {"name": "Zhao", "source": "web", "budget": "10"}, ADMIN)
    c = r.create("case", {"title": "x", "client": z["id"], "amount": "4", "stage": "won"},
                 ADMIN)
    r = _records(engine)
    assert _get(r, "case", c["id"])["client_source"] == "web"
    assert _get(r, "case", c["id"])["headroom"] == Decimal("6.00")
    assert _get(r, "client", z["id"])["won_amount"] == Decimal("4.00")
    assert _get(r, "client", z["id"])["cases"] == 1
    assert _get(r, "case", c["id"])["client_cases"] == 1


# -- lowrise check ----------------------------------------------------------------------------

def _problems(files) -> str:
    try:
        load_workspace_from_texts(files)
    except WorkspaceError as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize(("change", "words"), [
    ("client_source: {type: lookup, through: title, field: source}",
     "'title' is not a link field"),
    ("client_source: {type: lookup, through: client, field: sorce}",
     "did you mean 'source'"),
])
def test_check_refuses_a_lookup_that_cannot_work(change, words):
    files = dict(FILES)
    files["schemas/case.yaml"] = CASE.replace(
        "client_source: {type: lookup, through: client, field: source, label: {en: Source, "
        "zh: 来源}}", change)
    assert words in _problems(files)


@pytest.mark.parametrize(("change", "words"), [
    ("cases: {type: count, from: case, via: consultant}", "'consultant' of case does not link"),
    ("cases: {type: rollup, from: case, via: client, aggregate: sum, field: title}",
     "'title' is text: sum takes a number"),
    ("cases: {type: rollup, from: case, via: client, aggregate: sum, field: won_on}",
     "'won_on' is date: sum takes a number"),
    ("cases: {type: rollup, from: case, via: client, aggregate: sum}", "needs 'field'"),
    ("cases: {type: count, from: case, via: client, filter: {field: consultant, op: eq, "
     "value: me}}", "'me' is whoever reads"),
    ("cases: {type: count, from: cse, via: client}", "'cse' is not a record type"),
])
def test_check_refuses_a_rollup_that_cannot_work(change, words):
    files = dict(FILES)
    files["schemas/client.yaml"] = CLIENT.replace(
        "cases: {type: count, from: case, via: client}", change)
    assert words in _problems(files)


def test_a_rollup_sums_durations_formulas_and_other_rollups_by_their_value_type():
    files = dict(FILES)
    files["schemas/case.yaml"] = CASE.replace(
        "amount: {type: currency}",
        "amount: {type: currency}\n  spent: {type: duration, unit: hours}\n"
        "  double: {type: formula, expression: amount * 2, result: decimal}")
    files["schemas/client.yaml"] = CLIENT.replace(
        "cases: {type: count, from: case, via: client}",
        "cases: {type: count, from: case, via: client}\n"
        "  hours: {type: rollup, from: case, via: client, aggregate: sum, field: spent}\n"
        "  doubled: {type: rollup, from: case, via: client, aggregate: max, field: double}")
    client = load_workspace_from_texts(files).record_types["client"].fields
    assert client["hours"].kind.value_type(client["hours"]).name == "duration"
    assert client["doubled"].kind.value_type(client["doubled"]).name == "decimal"


def test_check_refuses_a_cycle_across_types_with_the_loop_spelt_out():
    files = dict(FILES)
    files["schemas/case.yaml"] = CASE.replace(
        "amount: {type: currency}",
        "amount: {type: formula, expression: \"client.largest + 1\", result: decimal}")
    problems = _problems(files)
    assert "computed from each other in a loop" in problems
    assert "case.amount → client.largest → case.amount" in problems or \
        "client.largest → case.amount → client.largest" in problems


def test_check_accepts_the_workspace_and_the_shape_of_each_field():
    ws = load_workspace_from_texts(FILES)
    case = ws.record_types["case"].fields
    assert case["client_budget"].kind.family == "number"
    assert case["client_source"].kind.value_type(case["client_source"]).name == "select"
    client = ws.record_types["client"].fields
    assert client["cases"].kind.value_type(client["cases"]).name == "integer"
    assert client["avg_amount"].config["scale"] == 2
    assert client["first_won"].kind.value_type(client["first_won"]).name == "date"
    schema = case["client_budget"].kind.json_schema(case["client_budget"], False)
    assert schema["readOnly"] is True


def test_sqlite_and_postgres_store_the_same(engine):
    """The value of each kind round-trips through its column as the same Python value."""
    r = _records(engine)
    z = r.create("client", {"name": "Z", "budget": "12.5", "source": "web"}, ADMIN)
    c = r.create("case", {"title": "t", "client": z["id"], "amount": "2.25"}, ADMIN)
    with engine.connect() as conn:
        row = conn.execute(sa.select(r.schema.table("case")).where(
            r.schema.table("case").c.id == c["id"])).mappings().one()
    assert row["client_source"] == "web"
    assert _get(r, "case", c["id"])["client_budget"] == Decimal("12.50")


def test_the_worker_recomputes_period_rollups_when_the_day_turns(office):
    from lowrise.rules.worker import Worker

    r = office
    li = r.li["id"]
    _case(r, consultant=li, stage="won", amount="60000", won_on="2026-03-31")
    assert _get(r, "staff", li)["deals_this_month"] == 1
    clock = {"now": datetime(2026, 3, 31, 15, 0, tzinfo=UTC)}  # 23:00 in Shanghai
    worker = Worker(r, clock=lambda: clock["now"])
    assert worker.refresh_periods() == 2  # the first round: recomputed
    assert worker.refresh_periods() == 0  # the same day: nothing to do
    assert _get(r, "staff", li)["deals_this_month"] == 1
    clock["now"] = datetime(2026, 3, 31, 16, 5, tzinfo=UTC)  # 00:05 on 1 April there
    assert worker.run_once()["periods"] == 2
    got = _get(r, "staff", li)
    assert got["deals_this_month"] == 0 and got["amount_this_month"] == 0


def test_after_many_writes_every_value_equals_a_recomputation_from_scratch(office):
    """Counts and sums move by what each write adds or takes away; the result is what
    computing everything again gives."""
    import random

    r = office
    rng = random.Random(5)
    clients = [r.zhao["id"], r.qian["id"], None]
    stages = ["open", "viewing", "won", "lost"]
    made = r.bulk_create("case", [
        {"title": f"c{i}", "client": rng.choice(clients), "consultant": r.li["id"],
         "stage": rng.choice(stages), "amount": str(rng.randint(1, 900)),
         "won_on": rng.choice([None, "2026-03-03", "2026-02-03"])} for i in range(30)], ADMIN)
    ids = [m["id"] for m in made]
    for _ in range(25):
        rid = rng.choice(ids)
        r.update("case", rid, rng.choice([{"stage": rng.choice(stages)},
                                          {"amount": str(rng.randint(1, 900))},
                                          {"client": rng.choice(clients)},
                                          {"amount": None}]), ADMIN)
    r.update_many("case", [(rid, {"stage": "won"}) for rid in ids[:5]], ADMIN)
    for rid in ids[5:8]:
        r.delete("case", rid, ADMIN)
    r.restore("case", ids[6], ADMIN)

    def snapshot():
        out = {}
        for t in ("client", "staff", "case"):
            table = r.schema.table(t)
            with r.engine.connect() as conn:
                out[t] = [dict(x) for x in conn.execute(
                    sa.select(table).order_by(table.c.id)).mappings()]
        return out

    kept = snapshot()
    with r.engine.begin() as conn:
        derived.refill_all(conn, r.schema, NOW)
    assert snapshot() == kept


def test_notification_texts_mask_a_lookup_of_a_confidential_field():
    """Where nobody in particular reads (notifications, comments, webhooks), a lookup or a
    formula of a field some role sees masked or hidden is masked as that field is."""
    from lowrise.access import confidential_fields, mask_record

    ws = load_workspace_from_texts(FILES)
    hide = confidential_fields(ws, "case")
    assert {"client_phone", "client_budget", "headroom"} <= set(hide)
    assert "client_source" not in hide
    shown = mask_record(ws, "case", {"client_phone": "13812345678", "client_source": "web"})
    assert shown["client_phone"] != "13812345678" and shown["client_source"] == "web"


def test_lowrise_recompute_applies_a_changed_filter_to_every_record(tmp_path, db_url):
    """A rollup's filter changed in the YAML needs no migration (no column changes):
    `lowrise recompute` computes the values again."""
    from click.testing import CliRunner

    from lowrise.cli import main

    folder = tmp_path / "ws"
    for rel, text in FILES.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")

    def cli(*args):
        result = CliRunner().invoke(main, ["-w", str(folder), "--database", db_url,
                                           "--instance", str(tmp_path / "inst"), *args],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    cli("migrate", "--yes")
    r = _records(sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"),
                                  poolclass=sa.pool.NullPool))
    z = r.create("client", {"name": "Z"}, ADMIN)
    r.create("case", {"title": "a", "client": z["id"], "stage": "lost"}, ADMIN)
    assert _get(r, "client", z["id"])["open_cases"] == 0
    (folder / "schemas/client.yaml").write_text(CLIENT.replace("value: [open, viewing]",
                                                               "value: [open, lost]"))
    assert "client.open_cases" in cli("recompute")
    assert _get(_records(r.engine, {**FILES, "schemas/client.yaml": (
        folder / "schemas/client.yaml").read_text()}), "client", z["id"])["open_cases"] == 1
    r.engine.dispose()


def test_indexed_lookups_and_rollups_get_an_index_and_avg_takes_a_scale(engine):
    files = dict(FILES)
    files["schemas/case.yaml"] = CASE.replace(
        "client_budget: {type: lookup, through: client, field: budget}",
        "client_budget: {type: lookup, through: client, field: budget, indexed: true}")
    files["schemas/client.yaml"] = CLIENT.replace(
        "avg_amount: {type: rollup, from: case, via: client, aggregate: avg, field: amount}",
        "avg_amount: {type: rollup, from: case, via: client, aggregate: avg, field: amount, "
        "scale: 3, indexed: true}")
    r = _records(engine, files)
    indexed = {tuple(ix["column_names"]) for ix in sa.inspect(engine).get_indexes("case")}
    assert ("client_budget",) in indexed
    indexed = {tuple(ix["column_names"]) for ix in sa.inspect(engine).get_indexes("client")}
    assert ("avg_amount",) in indexed
    z = r.create("client", {"name": "Z"}, ADMIN)
    for amount in ("1.00", "2.00", "2.00"):
        r.create("case", {"title": "t", "client": z["id"], "amount": amount}, ADMIN)
    assert _get(r, "client", z["id"])["avg_amount"] == Decimal("1.667")


def test_a_derived_field_answers_what_its_values_are_and_not_what_a_field_of_that_type_does():
    """A lookup of a select has the select's options (dashboards label and order by them, a
    table's filters compare as options) but is no stage a board could move; a rollup of a
    currency sums and exports in the currency's Excel format; a count is a whole number."""
    from lowrise.exporter import number_format

    ws = load_workspace_from_texts(FILES)
    case = ws.record_types["case"].fields
    client = ws.record_types["client"].fields
    source = case["client_source"]
    assert source.kind.has_options and not source.kind.multiple and source.kind.groupable
    assert source.kind.flavor == "select"
    assert not (source.kind.stages or source.kind.links or source.kind.person)
    won = client["won_amount"]
    assert won.kind.sums and won.kind.numeric and not won.kind.has_options
    assert number_format(won) == number_format(case["amount"]) == '"¥"#,##0.00'
    assert number_format(client["cases"]) == "#,##0"
    assert number_format(client["first_won"]) == "yyyy-mm-dd"
    assert number_format(source) is None
