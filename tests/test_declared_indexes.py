"""Indexes a record type declares (`indexes: [[stage, -amount]]`): made by migrate with their
sort directions, on SQLite and PostgreSQL; changed or dropped when the declaration changes;
a query of the declared filter and sort uses it; `lowrise check` refuses unknown or
unorderable fields and repeats."""

from __future__ import annotations

import sqlalchemy as sa

from lowrise.storage import migrate
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts
from test_cli import run, write

WS = {
    "workspace.yaml": "label: Shop\ndefault_locale: en\nlocales: [en]\n",
    "schemas/deal.yaml": """
title: title
fields:
  title: {type: text}
  stage: {type: select, options: [lead, won, lost]}
  amount: {type: currency}
  tags: {type: multi_select, options: [a, b]}
indexes:
  - [stage, -amount]
  - [-amount, title]
""",
}


def _indexes(engine, table):
    with engine.connect() as conn:
        return {ix["name"]: ix for ix in sa.inspect(conn).get_indexes(table)}


def test_migrate_makes_declared_indexes_with_their_directions(engine):
    ws = load_workspace_from_texts(WS)
    schema = build_schema(ws)
    with engine.connect() as conn:
        plan = migrate.plan(conn, schema)
    made = [s.describe() for s in plan.steps if s.kind == "create_index"]
    assert any("(stage, amount descending)" in d and "declared" in d for d in made), made
    migrate.apply(engine, plan)
    ixs = _indexes(engine, "deal")
    assert ixs["ix_deal_stage_amount_desc"]["column_names"] == ["stage", "amount"]
    assert ixs["ix_deal_amount_desc_title"]["column_names"] == ["amount", "title"]
    sorting = ixs["ix_deal_stage_amount_desc"].get("column_sorting")
    if sorting is not None:  # reflected where the dialect reports it
        assert sorting.get("amount") == ("desc",)
    with engine.connect() as conn:
        assert migrate.plan(conn, schema).steps == [] or all(
            s.kind != "create_index" for s in migrate.plan(conn, schema).steps)
        if engine.dialect.name == "sqlite":
            detail = " ".join(str(r) for r in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM deal WHERE stage = 'won' "
                "ORDER BY amount DESC LIMIT 25"))
            assert "ix_deal_stage_amount_desc" in detail and "TEMP B-TREE" not in detail
        else:
            ddl = conn.exec_driver_sql("SELECT indexdef FROM pg_indexes WHERE indexname = "
                                       "'ix_deal_stage_amount_desc'").scalar_one()
            assert "amount DESC" in ddl
    # the declaration changes: the old index goes, the new one comes
    changed = {**WS, "schemas/deal.yaml": WS["schemas/deal.yaml"].replace(
        "  - [-amount, title]\n", "")}
    schema2 = build_schema(load_workspace_from_texts(changed))
    with engine.connect() as conn:
        plan2 = migrate.plan(conn, schema2)
    assert [s.name for s in plan2.steps if s.kind == "drop_index"] == [
        "ix_deal_amount_desc_title"]
    migrate.apply(engine, plan2)
    assert "ix_deal_amount_desc_title" not in _indexes(engine, "deal")


def test_check_refuses_unknown_and_unorderable_fields(tmp_path, db_url):
    bad = {**WS, "schemas/deal.yaml": WS["schemas/deal.yaml"].replace(
        "  - [-amount, title]\n", "  - [-amout, title]\n  - [tags]\n  - [stage, -amount]\n"
        "  - [title, title]\n")}
    ws = write(tmp_path / "ws", bad)
    out = run(ws, db_url, "check")
    assert out.exit_code == 1
    assert "schemas/deal.yaml:10:6: indexes[1][0]: 'amout' is not a field of deal; did you mean 'amount'?" in out.output
    assert "indexes[2][0]: tags is a multi_select field, which an index cannot order" in out.output
    assert "indexes[3]: is declared twice" in out.output
    assert "indexes[4]: names a field twice" in out.output
    good = write(tmp_path / "ok", WS)
    assert run(good, db_url, "check").exit_code == 0
