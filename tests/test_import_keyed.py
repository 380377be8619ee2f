"""Importing onto existing records: update or upsert by a key field (id or a unique field),
the check saying per row what changes, all or nothing or only the valid rows, the same
access rules as an edit, and the `lowrise import --update-by/--upsert-by` command."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from lowrise import importer
from lowrise.sheets import ImportFileError
from lowrise.storage import migrate
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from test_import import ACTOR, _all, csv_bytes
from test_web_support import SMALL, make_workspace


def load(records, rows, *, key, op):
    sheet = importer.read_csv(csv_bytes(rows))
    rt = records.schema.workspace.type("client")
    mapping = importer.check_mapping(rt, importer.guess_mapping(rt, sheet.headers, key=key),
                                     key=key, op=op)
    return importer.prepare(records, "client", sheet, mapping, ACTOR)


@pytest.fixture
def two(engine):
    schema = build_schema(make_workspace())
    with engine.connect() as conn:
        migrate.apply(engine, migrate.plan(conn, schema))
    records = Records(engine, schema)
    a = records.create("client", {"name": "张三", "phone": "13800000001", "source": "referral"},
                       ACTOR)
    b = records.create("client", {"name": "李四", "phone": "13800000002"}, ACTOR)
    return records, a, b


def test_update_by_a_unique_field_changes_only_those_records(two):
    records, a, b = two
    rows = [["手机", "来源"], ["13800000001", "Walk-in"], ["13800000002", ""],
            ["13800000009", "转介绍"]]
    prepared = load(records, rows, key="phone", op="update")
    checked = importer.check(records, "client", prepared, ACTOR, key="phone", op="update")
    assert checked.actions == ["update", "same", None]
    assert checked.changes[0] == {"source": ("referral", "walk_in")}
    assert "13800000009" in str(checked.errors[2]["phone"])
    assert _all(records, "client")[0]["source"] == "referral"  # the check wrote nothing
    nothing = importer.run(records, "client", prepared, ACTOR, key="phone", op="update")
    assert not nothing.written and set(nothing.errors) == {2}
    result = importer.run(records, "client", prepared, ACTOR, key="phone", op="update",
                          mode="valid")
    assert result.written and (result.updated, result.created) == (1, 0)  # one was the same
    stored = _all(records, "client")
    assert [r["source"] for r in stored] == ["walk_in", None] and len(stored) == 2
    assert stored[0]["name"] == "张三" and stored[0]["version"] == a["version"] + 1


def test_upsert_creates_the_rows_that_find_no_record(two):
    records, _a, _b = two
    rows = [["姓名", "手机"], ["张三丰", "13800000001"], ["王五", "13800000003"]]
    prepared = load(records, rows, key="phone", op="upsert")
    checked = importer.check(records, "client", prepared, ACTOR, key="phone", op="upsert")
    assert checked.actions == ["update", "create"] and not checked.errors
    assert checked.changes[0] == {"name": ("张三", "张三丰")}
    result = importer.run(records, "client", prepared, ACTOR, key="phone", op="upsert")
    assert (result.updated, result.created) == (1, 1)
    assert [r["name"] for r in _all(records, "client")] == ["张三丰", "李四", "王五"]


def test_update_by_id_reads_the_exported_id_column(two):
    records, a, b = two
    rows = [["ID", "姓名"], [str(b["id"]), "李四四"]]
    prepared = load(records, rows, key="id", op="update")
    result = importer.run(records, "client", prepared, ACTOR, key="id", op="update")
    assert result.updated == 1
    assert [r["name"] for r in _all(records, "client")] == ["张三", "李四四"]


def test_an_update_needs_the_key_column_and_a_key_that_finds_records(two):
    records, _a, _b = two
    rt = records.schema.workspace.type("client")
    with pytest.raises(ImportFileError, match="Mobile"):
        importer.check_mapping(rt, ["name", None], key="phone", op="update")
    # an update needs no column for the required fields it leaves alone
    assert importer.check_mapping(rt, [None, "phone", "source"], key="phone", op="update")
    from lowrise import import_keyed

    with pytest.raises(ImportFileError, match="unique"):
        import_keyed.check_key(records, rt, "source", "update")


def test_an_invalid_row_refuses_the_whole_update_and_nothing_changes(two):
    records, _a, _b = two
    rows = [["手机", "来源"], ["13800000001", "Walk-in"], ["13800000002", "nope"]]
    prepared = load(records, rows, key="phone", op="update")
    result = importer.run(records, "client", prepared, ACTOR, key="phone", op="update")
    assert not result.written and set(result.errors) == {1}
    assert [r["source"] for r in _all(records, "client")] == ["referral", None]


def _desk_check(world, actor, rows, key):
    sheet = importer.read_csv(csv_bytes(rows))
    rt = world.schema.workspace.type("customer")
    mapping = importer.check_mapping(rt, importer.guess_mapping(rt, sheet.headers, key=key),
                                     key=key, op="update")
    prepared = importer.prepare(world.records, "customer", sheet, mapping, actor)
    return prepared, importer.check(world.records, "customer", prepared, actor, key=key,
                                    op="update")


def test_a_key_masked_or_out_of_sight_finds_nothing_and_says_the_same(engine):
    """Amy reads the shared customer with its phone masked and Bob's not at all: updating
    by phone finds only her own, and the two others get the same answer (no oracle)."""
    from lowrise.workspace import load_workspace_from_texts
    from test_access_writes import FILES, World

    w = World(engine, load_workspace_from_texts(FILES))
    amy = w.actor(w.amy, "agent")
    rows = [["phone", "name"], ["13811110001", "A2"], ["13733330003", "S2"],
            ["13922220002", "B2"]]
    prepared, checked = _desk_check(w, amy, rows, "phone")
    assert checked.actions == ["update", None, None]
    assert checked.changes == {0: {"name": ("Amy's", "A2")}}
    said = [str(checked.errors[i]["phone"]).replace(rows[i + 1][0], "X") for i in (1, 2)]
    assert said[0] == said[1]
    result = importer.run(w.records, "customer", prepared, amy, key="phone", op="update",
                          mode="valid")
    assert result.updated == 1
    names = {r["name"] for r in _all(w.records, "customer")}
    assert names == {"A2", "Bob's", "Shared"}


def test_a_masked_field_is_not_changed_through_an_import(engine):
    from lowrise.workspace import load_workspace_from_texts
    from test_access_writes import FILES, World

    w = World(engine, load_workspace_from_texts(FILES))
    support = w.actor(w.boss, "support")  # reads every customer, phones masked
    rows = [["badge", "name", "phone"], ["B-1", "A2", "13800000000"]]
    prepared, checked = _desk_check(w, support, rows, "badge")
    assert checked.actions == [None] and "masked" in str(checked.errors[0]["phone"])
    assert "13811110001" not in repr(checked)
    result = importer.run(w.records, "customer", prepared, support, key="badge", op="update")
    assert not result.written
    assert {r["phone"] for r in _all(w.records, "customer")} == {
        "13811110001", "13922220002", "13733330003"}


def test_cli_update_and_upsert_by(tmp_path, db_url):
    root = tmp_path / "ws"
    for name, text in SMALL.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    from lowrise.cli import main

    runner = CliRunner()
    base = ["-w", str(root), "--database", db_url, "--instance", str(tmp_path / "inst")]
    assert runner.invoke(main, [*base, "migrate", "--yes"]).exit_code == 0
    first = tmp_path / "first.csv"
    first.write_bytes(csv_bytes([["姓名", "手机"], ["张三", "13800000001"]]))
    assert runner.invoke(main, [*base, "import", "client", str(first)]).exit_code == 0
    edit = tmp_path / "edit.csv"
    edit.write_bytes(csv_bytes([["姓名", "手机"], ["张三丰", "13800000001"],
                                ["王五", "13800000003"]]))
    dry = runner.invoke(main, [*base, "import", "client", str(edit), "--update-by", "phone",
                               "--dry-run"])
    assert "row 2: Name: 张三 → 张三丰" in dry.output, dry.output
    assert "1 records would change, 0 would be created" in dry.output
    assert "row 3" in dry.output  # no client has that phone: refused
    refused = runner.invoke(main, [*base, "import", "client", str(edit), "--update-by", "phone"])
    assert refused.exit_code == 1
    up = runner.invoke(main, [*base, "import", "client", str(edit), "--upsert-by", "phone"])
    assert up.exit_code == 0, up.output
    assert "Updated 1 and created 1 Clients" in up.output
    bad = runner.invoke(main, [*base, "import", "client", str(edit), "--update-by", "name"])
    assert bad.exit_code == 1 and "cannot find the records" in bad.output
