"""Schema sync on a real database (SQLite and PostgreSQL): plan, then apply, losing no data."""

from __future__ import annotations

import json
import sys
import types
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from lowrise.storage.migrate import (
    AddColumn,
    ChangeColumnType,
    CreateIndex,
    CreateSystemTable,
    CreateTable,
    DropIndex,
    EnsureSearch,
    MigrationFailed,
    MigrationRefused,
    Plan,
    RenameColumn,
    UnusedColumn,
    UnusedTable,
    apply,
    plan,
)
from lowrise.storage.tables import Schema, build_schema
from lowrise.workspace.model import Field, Label, Option, RecordType, View, Workspace

SYSTEM = {"id": "id", "created_at": "datetime", "updated_at": "datetime",
          "created_by": "user", "updated_by": "user", "version": "integer"}
COMMON = ("unique", "indexed", "required", "read_only", "default")


def make_field(name: str, spec: dict[str, Any]) -> Field:
    spec = dict(spec)
    ftype = spec.pop("type")
    flags = {k: spec.pop(k) for k in COMMON if k in spec}
    renamed = spec.pop("renamed_from", ())
    options = tuple(Option(o, Label.of(None, o)) for o in spec.pop("options", ()))
    return Field(name, ftype, Label.of(None, name), renamed_from=(
        (renamed,) if isinstance(renamed, str) else tuple(renamed)), options=options,
        config=spec, **flags)


def make_workspace(types: str, views: str = "") -> Workspace:
    """A workspace from YAML: `{type: {field: {type: ...}, search: [...]}}` and
    `{view: {type:, ...}}`."""
    record_types = {}
    for tname, fields in yaml.safe_load(types).items():
        search = fields.pop("search", None)
        fs = {n: make_field(n, spec) for n, spec in fields.items()}
        for sname, stype in SYSTEM.items():
            fs[sname] = Field(sname, stype, Label.of(None, sname), system=True,
                              config={"target": "staff"} if stype == "user" else {})
        if search is None:  # as the loader does: the text fields
            search = [n for n, f in fs.items() if not f.system and f.kind.searchable]
        record_types[tname] = RecordType(tname, Label.of(None, tname), Label.of(None, tname),
                                         fs, next(iter(fs)), search_fields=tuple(search))
    view_map = {}
    for vname, cfg in (yaml.safe_load(views) or {}).items():
        cfg = dict(cfg)
        view_map[vname] = View(vname, cfg.pop("type"), Label.of(None, vname),
                               cfg.pop("record_type"), cfg)
    return Workspace("test", Label.of(None, "test"), "en", ("en",), record_types, view_map,
                     {}, {})


CLIENT = """
client:
  search: [name]
  name: {type: text}
  mobile: {type: phone, unique: true}
  age: {type: text, indexed: true}
  fax: {type: text}
"""


def schema_of(types: str, views: str = "") -> Schema:
    return build_schema(make_workspace(types, views))


def make_plan(engine, schema: Schema) -> Plan:
    with engine.connect() as conn:
        return plan(conn, schema)


def migrate(engine, schema: Schema, *, prune: bool = False) -> Plan:
    """Plan and apply; the plan must have no refusals."""
    p = make_plan(engine, schema)
    assert not p.refusals, p.text()
    apply(engine, p, prune=prune)
    return p


def insert(engine, schema: Schema, type_name: str, *rows: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(schema.table(type_name).insert(), list(rows))


def live_columns(engine, table: str) -> dict[str, sa.types.TypeEngine]:
    with engine.connect() as conn:
        return {c["name"]: c["type"] for c in sa.inspect(conn).get_columns(table)}


def live_indexes(engine, table: str) -> dict[str, tuple[tuple[str, ...], bool]]:
    with engine.connect() as conn:
        return {i["name"]: (tuple(i["column_names"]), bool(i["unique"]))
                for i in sa.inspect(conn).get_indexes(table)}


def raw_rows(engine, table: str, *columns: str) -> list[tuple]:
    t = sa.table(table, sa.column("id"), *(sa.column(c) for c in columns))
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(*(t.c[c] for c in columns)).order_by(t.c.id))]


def values(engine, schema: Schema, table: str, *columns: str) -> list[tuple]:
    """Values read through the workspace's column types (Decimal, datetime...)."""
    t = schema.table(table)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(*(t.c[c] for c in columns)).order_by(t.c.id))]


def log_rows(engine) -> list[tuple[str, list[dict]]]:
    """(summary, steps) of each lr_schema_log row."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT summary, steps FROM lr_schema_log ORDER BY id"))
        return [(s, json.loads(steps) if isinstance(steps, str) else steps) for s, steps in rows]


@pytest.fixture
def client(engine) -> Schema:
    """The client table, migrated, with three rows."""
    schema = schema_of(CLIENT)
    migrate(engine, schema)
    insert(engine, schema, "client",
           {"name": "Wang Fang", "mobile": "13800000001", "age": "42", "fax": "010-1"},
           {"name": "Li Lei", "mobile": "13800000002", "age": " 7 ", "fax": None},
           {"name": "Zhao Min", "mobile": None, "age": None, "fax": "010-3"})
    return schema


# -- creating ---------------------------------------------------------------------------------


def test_create_from_empty(engine):
    schema = schema_of(CLIENT, """
board: {type: kanban, record_type: client, group_by: age}
""")
    p = make_plan(engine, schema)
    system = [s for s in p.steps if isinstance(s, CreateSystemTable)]
    # the engine's own tables come first (other engine parts, like the rules, add theirs)
    assert p.steps[: len(system)] == system
    assert {"lr_audit", "lr_trash", "lr_counters", "lr_schema_log", "lr_meta"} <= {
        s.table for s in system}
    assert CreateTable("client", 4) in p.steps
    wanted = {spec.name for spec in schema.indexes["client"]}
    assert {s.name for s in p.steps if isinstance(s, CreateIndex)} == wanted
    assert not p.unused and not p.refusals and not p.is_empty

    done = apply(engine, p)

    assert done == [s.describe() for s in p.changes]
    assert set(live_columns(engine, "client")) == {
        "id", "name", "mobile", "age", "fax", *SYSTEM}
    assert set(live_indexes(engine, "client")) >= wanted
    assert live_indexes(engine, "client")["uq_client_mobile"] == (("mobile",), True)
    [(summary, steps)] = log_rows(engine)
    assert "create table ×1" in summary
    assert [s["kind"] for s in steps][:5] == ["create_system_table"] * 5
    insert(engine, schema, "client", {"name": "Wang Fang"})
    assert raw_rows(engine, "client", "name", "version") == [("Wang Fang", 1)]


EVERY_TYPE = """
staff:
  name: {type: text}
client:
  name: {type: text, max_length: 40}
  notes: {type: long_text}
  email: {type: email, unique: true}
  phone: {type: phone}
  site: {type: url}
  age: {type: integer, indexed: true}
  budget: {type: currency}
  ratio: {type: decimal, precision: 10, scale: 4}
  share: {type: percent}
  stars: {type: rating}
  active: {type: boolean}
  since: {type: date}
  met_at: {type: datetime}
  wait: {type: duration}
  grade: {type: select, options: [a, b]}
  tags: {type: multi_select, options: [vip, local]}
  owner: {type: user}
  code: {type: autonumber, pattern: "CL-{0000}"}
  double: {type: formula, expression: "budget * 2", result: decimal}
  files: {type: attachment}
deal:
  client: {type: link, target: client}
  amount: {type: currency}
"""

EVERY_VIEW = """
open: {type: table, record_type: client, sort: [-updated_at], filter: {all: [{field: grade, op: eq, value: a}]}}
board: {type: kanban, record_type: client, group_by: grade, sort: [name]}
cal: {type: calendar, record_type: client, date_field: since}
"""


def test_replan_after_apply_is_empty(engine):
    schema = schema_of(EVERY_TYPE, EVERY_VIEW)
    migrate(engine, schema)
    again = make_plan(engine, schema)
    assert again.steps == []
    assert again.is_empty
    assert again.text() == "nothing to change"
    # A fresh Schema object (as the next process would build) plans nothing either.
    assert make_plan(engine, schema_of(EVERY_TYPE, EVERY_VIEW)).steps == []
    assert apply(engine, again) == []
    assert len(log_rows(engine)) == 1


def test_tables_made_without_migrate_need_only_bookkeeping_and_search(engine):
    """A database made by metadata.create_all (as other tests do): no column or index step."""
    schema = schema_of(EVERY_TYPE, EVERY_VIEW)
    with engine.begin() as conn:
        schema.metadata.create_all(conn)
    p = make_plan(engine, schema)
    assert p.steps == [CreateSystemTable("lr_meta"),
                       EnsureSearch("staff", ("name",), "install"),
                       EnsureSearch("client", ("name", "notes", "email", "phone", "code"),
                                    "install")]
    apply(engine, p)
    assert make_plan(engine, schema).steps == []


# -- adding, renaming -------------------------------------------------------------------------


def test_add_field_keeps_data_and_does_not_touch_rows(engine, client):
    schema = schema_of(CLIENT + "  wechat: {type: text}\n  score: {type: integer, default: 5}\n")
    p = make_plan(engine, schema)
    assert p.changes == [AddColumn("client", "wechat", "text"),
                         AddColumn("client", "score", "integer")]
    assert p.text().splitlines()[0] == "add column client.wechat (text)"

    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, stmt, *a: statements.append(stmt))
    apply(engine, p)

    ddl = [s for s in statements if "client" in s and not s.lstrip().upper().startswith(
        ("SELECT", "PRAGMA", "INSERT INTO LR_", "DELETE FROM LR_"))]
    # O(1) in the table's size: two ALTER TABLE ADD COLUMN, no rewrite, no backfill.
    assert len(ddl) == 2 and all(s.upper().startswith("ALTER TABLE") for s in ddl), ddl
    cols = {c["name"]: c for c in sa.inspect(engine).get_columns("client")}
    assert cols["score"]["default"] is None and cols["score"]["nullable"]
    assert raw_rows(engine, "client", "name", "mobile", "wechat", "score") == [
        ("Wang Fang", "13800000001", None, None),
        ("Li Lei", "13800000002", None, None),
        ("Zhao Min", None, None, None)]
    assert make_plan(engine, schema).is_empty


def test_rename_keeps_data(engine, client):
    schema = schema_of(CLIENT.replace(
        "mobile: {type: phone, unique: true}",
        "phone: {type: phone, unique: true, renamed_from: [cell, mobile]}"))
    p = make_plan(engine, schema)
    assert RenameColumn("client", "mobile", "phone", 2) in p.changes
    assert "rename column client.mobile → client.phone (keeps 2 values)" in p.text()
    assert DropIndex("client", "uq_client_mobile", ("mobile",)) in p.changes
    assert not p.unused

    apply(engine, p)

    assert "mobile" not in live_columns(engine, "client")
    assert raw_rows(engine, "client", "phone") == [("13800000001",), ("13800000002",), (None,)]
    indexes = live_indexes(engine, "client")
    assert indexes["uq_client_phone"] == (("phone",), True)
    assert "uq_client_mobile" not in indexes
    assert make_plan(engine, schema).is_empty
    with pytest.raises(sa.exc.IntegrityError):  # still unique
        insert(engine, schema, "client", {"name": "Copy", "phone": "13800000001"})


# -- type changes -----------------------------------------------------------------------------


def test_type_change_that_converts_keeps_values(engine, client):
    insert(engine, client, "client", {"name": "Big", "age": "1,204"})
    schema = schema_of(CLIENT.replace("age: {type: text, indexed: true}",
                                      "age: {type: integer, indexed: true}"))
    p = make_plan(engine, schema)
    [change] = p.changes
    assert change == ChangeColumnType("client", "age", "text", "integer", "text", "integer(8)", 3)
    assert change.describe() == "change column client.age from text to integer (converts 3 values)"

    apply(engine, p)

    assert isinstance(live_columns(engine, "client")["age"], sa.Integer)
    assert raw_rows(engine, "client", "name", "age") == [
        ("Wang Fang", 42), ("Li Lei", 7), ("Zhao Min", None), ("Big", 1204)]
    assert live_indexes(engine, "client")["ix_client_age"] == (("age",), False)
    assert make_plan(engine, schema).is_empty
    with engine.connect() as conn:  # numbers now sort as numbers
        assert conn.execute(sa.text(
            "SELECT name FROM client WHERE age IS NOT NULL ORDER BY age DESC LIMIT 1")
                            ).scalar_one() == "Big"


def test_type_change_that_does_not_convert_is_refused(engine, client):
    insert(engine, client, "client", {"name": "Odd", "age": "about 30"},
           {"name": "Half", "age": "12.5"})
    schema = schema_of(CLIENT.replace("age: {type: text, indexed: true}",
                                      "age: {type: integer, indexed: true}")
                       + "  wechat: {type: text}\n")
    p = make_plan(engine, schema)
    [refusal] = p.refusals
    assert [(rid, value) for rid, value, _ in refusal.rows] == [(4, "about 30"), (5, "12.5")]
    assert refusal.count == 2
    text = p.text()
    assert "cannot change column client.age from text to integer: 2 of 4 values do not " \
           "convert; fix or clear them first" in text
    assert "  row 4: 'about 30': 'about 30' is not a whole number" in text
    assert not p.is_empty

    with pytest.raises(MigrationRefused) as info:
        apply(engine, p)

    assert info.value.refusals == [refusal]
    assert "wechat" not in live_columns(engine, "client")  # nothing else ran either
    assert isinstance(live_columns(engine, "client")["age"], sa.String)
    assert raw_rows(engine, "client", "age") == [("42",), (" 7 ",), (None,), ("about 30",),
                                                  ("12.5",)]
    assert len(log_rows(engine)) == 1


def test_refusal_lists_the_first_twenty_rows_and_the_count(engine, client):
    insert(engine, client, "client", *({"name": f"n{i}", "age": f"x{i}"} for i in range(25)))
    p = make_plan(engine, schema_of(CLIENT.replace("age: {type: text, indexed: true}",
                                                   "age: {type: integer}")))
    [refusal] = p.refusals
    assert refusal.count == 25 and len(refusal.rows) == 20
    assert refusal.rows[0][:2] == (4, "x0")
    assert refusal.describe().splitlines()[-1] == "  ... and 5 more rows"


def test_values_that_changed_after_planning_are_refused_at_apply(engine, client):
    schema = schema_of(CLIENT.replace("age: {type: text, indexed: true}", "age: {type: integer}"))
    p = make_plan(engine, schema)
    assert not p.refusals
    insert(engine, client, "client", {"name": "Late", "age": "forty"})
    with pytest.raises(MigrationRefused, match="forty"):
        apply(engine, p)
    assert raw_rows(engine, "client", "age")[-1] == ("forty",)


def test_integer_to_decimal_and_back_keeps_exact_values(engine):
    # On SQLite both are BIGINT (decimals scaled), so only what migrate remembers tells them apart.
    schema = schema_of("deal:\n  amount: {type: integer}\n")
    migrate(engine, schema)
    insert(engine, schema, "deal", {"amount": 5}, {"amount": 1200}, {"amount": None})

    as_money = schema_of("deal:\n  amount: {type: currency}\n")
    p = make_plan(engine, as_money)
    assert [s.kind for s in p.changes] == ["change_column_type"]
    assert "from integer to currency" in p.text()
    apply(engine, p)
    assert values(engine, as_money, "deal", "amount") == [
        (Decimal("5.00"),), (Decimal("1200.00"),), (None,)]
    assert make_plan(engine, as_money).is_empty

    insert(engine, as_money, "deal", {"amount": Decimal("12.50")})
    back = make_plan(engine, schema)
    [refusal] = back.refusals
    assert refusal.rows == ((4, "12.50", "'12.50' is not a whole number"),)
    with engine.begin() as conn:
        conn.execute(as_money.table("deal").delete().where(as_money.table("deal").c.id == 4))
    apply(engine, make_plan(engine, schema))
    assert values(engine, schema, "deal", "amount") == [(5,), (1200,), (None,)]


def test_changing_scale_rewrites_values(engine):
    schema = schema_of("deal:\n  rate: {type: decimal, scale: 2}\n")
    migrate(engine, schema)
    insert(engine, schema, "deal", {"rate": Decimal("1.25")})
    finer = schema_of("deal:\n  rate: {type: decimal, scale: 4}\n")
    migrate(engine, finer)
    assert values(engine, finer, "deal", "rate") == [(Decimal("1.2500"),)]
    assert make_plan(engine, finer).is_empty


def test_select_to_text_widens_the_column(engine):
    schema = schema_of("client:\n  grade: {type: select, options: [a, b]}\n")
    migrate(engine, schema)
    insert(engine, schema, "client", {"grade": "a"})
    as_text = schema_of("client:\n  grade: {type: long_text}\n")
    p = make_plan(engine, as_text)
    assert [s.kind for s in p.changes] == ["change_column_type", "ensure_search"]
    apply(engine, p)
    insert(engine, as_text, "client", {"grade": "x" * 300})
    assert [len(v) for (v,) in raw_rows(engine, "client", "grade")] == [1, 300]
    # long_text back to select: the column is wide enough already, but a value that is no
    # option would be left behind: refused, with the record that holds it
    refused = make_plan(engine, schema)
    assert [s.kind for s in refused.refusals] == ["refusal"]
    assert "1 record holds a value that is not an option" in refused.text()
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM client WHERE length(grade) > 1"))
    assert make_plan(engine, schema).is_empty


# -- unused columns and tables ----------------------------------------------------------------


WITHOUT_FAX = CLIENT.replace("  fax: {type: text}\n", "")


def test_removed_field_keeps_its_column_and_reports_it(engine, client):
    p = make_plan(engine, schema_of(WITHOUT_FAX))
    assert p.unused == [UnusedColumn("client", "fax", 2)]
    assert p.is_empty  # nothing to change; the column is only reported
    assert p.text() == ("keep column client.fax: no field declares it any more (2 values); "
                        "`lowrise migrate --prune` drops it")
    assert apply(engine, p) == []
    assert raw_rows(engine, "client", "fax") == [("010-1",), (None,), ("010-3",)]

    # Declaring the field again picks the kept data back up.
    assert make_plan(engine, client).steps == []


def test_prune_drops_unused_columns_and_tables(engine, client):
    schema = schema_of(WITHOUT_FAX.replace("age: {type: text, indexed: true}",
                                           "age: {type: text}")
                       + "deal:\n  amount: {type: currency}\n")
    migrate(engine, schema)  # without prune: still there
    assert "fax" in live_columns(engine, "client")
    with engine.begin() as conn:  # an index someone made by hand on the unused column
        conn.exec_driver_sql("CREATE INDEX by_hand_fax ON client (fax)")

    gone = schema_of(WITHOUT_FAX.replace("  age: {type: text, indexed: true}\n", ""))
    p = make_plan(engine, gone)
    assert p.unused == [UnusedColumn("client", "age", 2), UnusedColumn("client", "fax", 2),
                        UnusedTable("deal", 0)]
    assert "keep table deal: no record type declares it any more (0 rows)" in p.text()

    done = apply(engine, p, prune=True)

    assert "drop column client.fax (2 values)" in done and "drop table deal (0 rows)" in done
    assert set(live_columns(engine, "client")) == {"id", "name", "mobile", *SYSTEM}
    assert not sa.inspect(engine).has_table("deal")
    assert raw_rows(engine, "client", "name") == [("Wang Fang",), ("Li Lei",), ("Zhao Min",)]
    assert make_plan(engine, gone).steps == []
    summary, steps = log_rows(engine)[-1]
    assert "drop column client.fax (2 values)" in summary


def test_missing_columns_of_the_engine_tables_are_added(engine, client):
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE lr_audit DROP COLUMN note")
    p = make_plan(engine, client)
    assert p.steps == [AddColumn("lr_audit", "note", "text")]
    apply(engine, p)
    assert "note" in live_columns(engine, "lr_audit")
    assert make_plan(engine, client).is_empty


def test_unknown_tables_are_reported_not_touched(engine, client):
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE legacy (id INTEGER PRIMARY KEY, note TEXT)")
        conn.exec_driver_sql("INSERT INTO legacy (id, note) VALUES (1, 'keep me')")
    p = make_plan(engine, client)
    assert p.steps == [UnusedTable("legacy", 1)]
    apply(engine, p)
    assert raw_rows(engine, "legacy", "note") == [("keep me",)]


# -- indexes ----------------------------------------------------------------------------------


def test_index_added_for_a_new_view_and_a_unique_field(engine, client):
    schema = schema_of(CLIENT.replace("name: {type: text}", "name: {type: text, unique: true}"),
                       "by_age: {type: table, record_type: client, sort: [age, name]}\n")
    p = make_plan(engine, schema)
    assert p.changes == [
        # ix_client_age is a prefix of the view's index, which serves it: dropped.
        DropIndex("client", "ix_client_age", ("age",)),
        CreateIndex("client", "uq_client_name", ("name",), True, "name is unique"),
        CreateIndex("client", "ix_client_age_name_id", ("age", "name", "id"), False,
                    "view by_age"),
    ]
    p2 = make_plan(engine, schema_of(CLIENT.replace("age: {type: text, indexed: true}",
                                                    "age: {type: text}")))
    assert p2.changes == [DropIndex("client", "ix_client_age", ("age",))]
    assert p2.changes[0].describe() == (
        "drop index ix_client_age on client (age): no field or view needs it any more")

    apply(engine, p)
    indexes = live_indexes(engine, "client")
    assert indexes["uq_client_name"] == (("name",), True)
    assert indexes["ix_client_age_name_id"] == (("age", "name", "id"), False)
    assert make_plan(engine, schema).is_empty


def test_a_new_index_comes_with_statistics_for_the_planner(engine, client):
    # SQLite picks among indexes by `sqlite_stat1`; an index made after the data arrived is
    # otherwise unknown to it (PostgreSQL's autovacuum gathers its statistics itself).
    with engine.begin() as conn:
        for i in range(50):
            conn.execute(sa.text("INSERT INTO client (name, age) VALUES (:n, :a)"),
                         {"n": f"c{i}", "a": str(i % 5)})
    schema = schema_of(CLIENT, "by_age: {type: table, record_type: client, sort: [age, name]}\n")
    apply(engine, make_plan(engine, schema))
    if engine.dialect.name != "sqlite":
        assert make_plan(engine, schema).is_empty
        return
    with engine.connect() as conn:
        stats = dict(conn.exec_driver_sql(
            "SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'client'").all())
        rows = conn.exec_driver_sql("SELECT count(*) FROM client").scalar()
    assert rows >= 50
    assert stats["ix_client_age_name_id"].split()[0] == str(rows)


def test_statistics_of_a_new_index_count_every_row(engine, client):
    """The statistics are read off whole indexes, not a sample: the planner is told how many
    clients there are and how many share an age on average (a sample of 1,000 entries told
    it 334 an age for 501)."""
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO client (name, age) VALUES (:n, :a)"),
                     [{"n": f"c{i:04}", "a": str(i % 3)} for i in range(3000)])
    schema = schema_of(CLIENT, "by_age: {type: table, record_type: client, sort: [age, name]}\n")
    apply(engine, make_plan(engine, schema))
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        stats = dict(conn.exec_driver_sql(
            "SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'client'").all())
        rows = conn.exec_driver_sql("SELECT count(*) FROM client").scalar()
        # (an empty age is one more value to an index)
        ages = conn.exec_driver_sql("SELECT count(*) FROM (SELECT DISTINCT age FROM client)"
                                    ).scalar()
    assert rows > 3000 and ages >= 3
    assert stats["ix_client_age_name_id"] == f"{rows} {-(-rows // ages)} 1 1"


def test_indexes_we_do_not_own_are_left_alone(engine, client):
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE INDEX client_by_name ON client (name)")
    assert make_plan(engine, client).steps == []


def test_unique_field_with_duplicates_is_refused(engine, client):
    insert(engine, client, "client", {"name": "Wang Fang"})
    schema = schema_of(CLIENT.replace("name: {type: text}", "name: {type: text, unique: true}"))
    p = make_plan(engine, schema)
    [refusal] = p.refusals
    assert refusal.describe() == (
        "cannot make client.name unique: 1 value appears more than once; make them distinct "
        "first\n  row 1: 'Wang Fang': shared by 2 records")
    with pytest.raises(MigrationRefused):
        apply(engine, p)


# -- one transaction --------------------------------------------------------------------------


def test_a_failing_step_rolls_back_everything(engine, client):
    schema = schema_of(CLIENT.replace("name: {type: text}", "name: {type: text, unique: true}")
                       + "  wechat: {type: text}\n"
                       + "deal:\n  amount: {type: currency}\n")
    p = make_plan(engine, schema)
    assert not p.refusals
    # After planning, someone writes a duplicate: the unique index (a late step) fails.
    insert(engine, client, "client", {"name": "Wang Fang"})

    with pytest.raises(MigrationFailed) as info:
        apply(engine, p)

    assert info.value.step == CreateIndex("client", "uq_client_name", ("name",), True,
                                          "name is unique")
    assert "nothing was changed" in str(info.value)
    assert "wechat" not in live_columns(engine, "client")
    assert not sa.inspect(engine).has_table("deal")
    assert len(log_rows(engine)) == 1
    assert make_plan(engine, schema).refusals  # and the next plan says why


def test_a_failing_type_change_rolls_back_the_rename_before_it(engine, client, monkeypatch):
    from lowrise.storage import migrate_apply

    schema = schema_of(CLIENT.replace("age: {type: text, indexed: true}",
                                      "years: {type: integer, renamed_from: age}"))
    p = make_plan(engine, schema)
    assert [s.kind for s in p.changes][:3] == ["drop_index", "rename_column",
                                               "change_column_type"]

    def boom(run, step):
        raise sa.exc.OperationalError("ALTER", {}, Exception("disk full"))

    monkeypatch.setitem(migrate_apply.HANDLERS, ChangeColumnType, boom)
    with pytest.raises(MigrationFailed, match="disk full"):
        apply(engine, p)
    assert "years" not in live_columns(engine, "client")
    assert "ix_client_age" in live_indexes(engine, "client")
    assert raw_rows(engine, "client", "age") == [("42",), (" 7 ",), (None,)]


# -- the plan as text -------------------------------------------------------------------------


def test_plan_text(engine, client):
    insert(engine, client, "client", {"name": "X", "age": "old"})
    schema = schema_of("""
client:
  name: {type: text}
  phone: {type: phone, unique: true, renamed_from: mobile}
  age: {type: integer, indexed: true}
  wechat: {type: text}
deal:
  amount: {type: currency}
""")
    assert make_plan(engine, schema).text().splitlines() == [
        "drop index uq_client_mobile on client (mobile): no field or view needs it any more",
        "rename column client.mobile → client.phone (keeps 2 values)",
        "create table deal (1 field)",
        "add column client.wechat (text)",
        "add unique index uq_client_phone on client (phone): phone is unique",
        "add index ix_deal_created_by on deal (created_by): created_by links to staff",
        "add index ix_deal_updated_by on deal (updated_by): updated_by links to staff",
        "add index ix_deal_updated_at_id on deal (updated_at, id): recently changed records",
        "rebuild quick search on client (name, phone, wechat)",
        "keep column client.fax: no field declares it any more (2 values); "
        "`lowrise migrate --prune` drops it",
        "cannot change column client.age from text to integer: 1 of 3 values does not convert; "
        "fix or clear them first",
        "  row 4: 'old': 'old' is not a whole number",
    ]


def test_dates_times_and_yes_no_convert(engine):
    schema = schema_of("""
client:
  met_at: {type: datetime}
  since: {type: text}
  vip: {type: text}
""")
    migrate(engine, schema)
    insert(engine, schema, "client",
           {"met_at": datetime(2026, 3, 1, 23, 30, tzinfo=UTC), "since": "2024-02-29",
            "vip": "yes"},
           {"met_at": None, "since": None, "vip": "0"})
    changed = schema_of("""
client:
  met_at: {type: date}
  since: {type: date}
  vip: {type: boolean}
""")
    p = make_plan(engine, changed)
    assert [s.kind for s in p.changes] == ["change_column_type"] * 3 + ["ensure_search"]
    apply(engine, p)
    assert values(engine, changed, "client", "met_at", "since", "vip") == [
        (date(2026, 3, 1), date(2024, 2, 29), True), (None, None, False)]
    assert make_plan(engine, changed).is_empty
    # And back to text: every value has a text form.
    migrate(engine, schema)
    assert raw_rows(engine, "client", "since", "vip") == [("2024-02-29", "true"),
                                                        (None, "false")]


def test_progress_and_the_schema_log(engine, client):
    schema = schema_of(CLIENT + "  wechat: {type: text}\n  qq: {type: text}\n")
    p = make_plan(engine, schema)
    seen = []
    done = apply(engine, p, progress=seen.append, actor="admin")
    assert seen == p.changes
    assert done == ["add column client.wechat (text)", "add column client.qq (text)"]
    summary, steps = log_rows(engine)[-1]
    assert summary == "add column client.wechat (text); add column client.qq (text)"
    assert steps[0] == {"kind": "add_column", "table": "client", "column": "wechat",
                        "type": "text", "text": "add column client.wechat (text)"}


# -- search structures ------------------------------------------------------------------------


class FakeSearch(types.ModuleType):
    """Stands in for lowrise.storage.search: a side table and an ix_ index per record type."""

    def __init__(self):
        super().__init__("lowrise.storage.search")

    @staticmethod
    def search_ddl(schema, rt, dialect_name):
        cols = [f for f in rt.search_fields if f in rt.fields]
        if not cols:
            return []
        t = rt.name
        return [f"CREATE TABLE {t}_words (id BIGINT PRIMARY KEY, body TEXT)",
                f"INSERT INTO {t}_words (id, body) SELECT id, "
                + " || ' ' || ".join(f"COALESCE({c}, '')" for c in cols) + f" FROM {t}",
                f"CREATE INDEX ix_{t}_words_{'_'.join(cols)} ON {t} ({', '.join(cols)})"]

    @staticmethod
    def search_drop_ddl(schema, rt, dialect_name):
        cols = [f for f in rt.search_fields if f in rt.fields]
        return [f"DROP INDEX {'' if dialect_name == 'sqlite' else 'IF EXISTS '}"
                f"ix_{rt.name}_words_{'_'.join(cols)}",
                f"DROP TABLE IF EXISTS {rt.name}_words"]


@pytest.fixture
def fake_search(monkeypatch):
    monkeypatch.setitem(sys.modules, "lowrise.storage.search", FakeSearch())


def test_search_structures_are_installed_rebuilt_and_owned(engine, fake_search):
    schema = schema_of("client:\n  name: {type: text}\n  city: {type: integer}\n")
    p = make_plan(engine, schema)
    assert EnsureSearch("client", ("name",), "install") in p.changes
    assert "set up quick search on client (name)" in p.text()
    apply(engine, p)
    insert(engine, schema, "client", {"name": "Wang", "city": 1})
    # The side table and its index are the search module's: not unused, not dropped.
    assert make_plan(engine, schema).steps == []

    wider = schema_of("client:\n  name: {type: text}\n  city: {type: text}\n")
    p = make_plan(engine, wider)
    assert p.changes == [ChangeColumnType("client", "city", "integer", "text", "integer(8)",
                                          "text", 1),
                         EnsureSearch("client", ("name", "city"), "rebuild")]
    apply(engine, p)
    assert raw_rows(engine, "client_words", "body") == [("Wang 1",)]
    assert "ix_client_words_name" not in live_indexes(engine, "client")
    assert "ix_client_words_name_city" in live_indexes(engine, "client")
    assert make_plan(engine, wider).steps == []

    # Dropping a searched column with --prune takes the search structures down and back up.
    narrow = schema_of("client:\n  name: {type: text}\n")
    p = make_plan(engine, narrow)
    assert p.changes == [EnsureSearch("client", ("name",), "rebuild")]
    apply(engine, p, prune=True)
    assert "city" not in live_columns(engine, "client")
    assert make_plan(engine, narrow).steps == []

    # A record type that goes away: its search goes with the table, only when pruned.
    other = schema_of("deal:\n  amount: {type: integer}\n")
    p = make_plan(engine, other)
    assert p.unused == [UnusedTable("client", 1)]
    apply(engine, p, prune=True)
    assert not sa.inspect(engine).has_table("client_words")
    assert make_plan(engine, other).steps == []


def test_the_flagship_workspace_migrates_and_then_plans_nothing(engine):
    from lowrise.workspace import load_workspace

    ws = load_workspace(Path(__file__).resolve().parent.parent)
    p = make_plan(engine, build_schema(ws))
    assert not p.refusals and not p.unused
    assert {s.table for s in p.changes if isinstance(s, CreateTable)} == set(ws.record_types)
    apply(engine, p)
    assert make_plan(engine, build_schema(ws)).steps == []


def test_search_follows_a_renamed_and_retyped_field(engine):
    from lowrise.storage.search import search_condition

    schema = schema_of("client:\n  search: [name, note]\n  name: {type: text}\n"
                       "  note: {type: integer}\n")
    migrate(engine, schema)
    insert(engine, schema, "client", {"name": "张三丰", "note": 12345})
    renamed = schema_of("client:\n  search: [name, memo]\n  name: {type: text}\n"
                        "  memo: {type: long_text, renamed_from: note}\n")
    p = make_plan(engine, renamed)
    assert [s.kind for s in p.changes] == ["rename_column", "change_column_type",
                                           "ensure_search"]
    apply(engine, p)
    t = renamed.table("client")
    with engine.connect() as conn:
        for text in ("三丰", "2345", "张三丰 123"):
            found = conn.execute(sa.select(t.c.memo).where(
                search_condition(renamed, "client", text))).all()
            assert found == [("12345",)], text
    insert(engine, renamed, "client", {"name": "李四", "memo": "new words"})
    with engine.connect() as conn:
        assert conn.execute(sa.select(t.c.name).where(
            search_condition(renamed, "client", "words"))).all() == [("李四",)]
    assert make_plan(engine, renamed).steps == []
