"""Changing the schema from code (what the browser's settings page will call): the YAML keeps
its comments, order and layout, the change is checked like `lowrise check`, the migration
plan is previewed, data loss is refused, and the change is logged with its diff."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from lowrise.actor import Actor
from lowrise.storage.migrate import MigrationFailed, apply, plan
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.templates import clone
from lowrise.workspace import load_workspace
from lowrise.workspace.edit import (
    AddField,
    AddOption,
    AddView,
    EditConflict,
    EditError,
    EditField,
    EditOption,
    EditRefused,
    EditView,
    RemoveField,
    RemoveOption,
    RenameField,
    ReorderFields,
    ReorderOptions,
    commit,
    preview,
)
from lowrise.workspace.yamledit import Document, comments_to_following_keys

ROOT = Path(__file__).resolve().parents[1]
ADMIN = Actor(name="test")

WORKSPACE = """\
# The shop: a tiny workspace for schema edits.
label: {en: Shop, zh: 小店}
locales: [en, zh]
default_locale: en
"""
CLIENT = """\
# yaml-language-server: $schema=../record_type.schema.json
#
# A client of the shop. Keep this comment!
label: {en: Client, zh: 客户}
title: name
search: [name, phone]
fields:
  name:
    type: text
    label: {en: Name, zh: 姓名}   # what the client is called
    required: true
  phone:
    type: phone
    sample: phone_number
  # Grades are given by the manager each quarter.
  grade:
    type: select
    options:
      - {value: a, label: {en: A, zh: A 类}, color: green}
      - {value: b, label: {en: B, zh: B 类}, color: blue}
      - {value: c, label: {en: C, zh: C 类}, color: gray}
  note:
    type: text
"""
CLIENTS_VIEW = """\
# Every client, by grade.
type: table
record_type: client
label: {en: Clients, zh: 客户}
columns: [name, phone, grade, note]
group_by: grade
sort: [grade, -name]
filter:
  all:
    - {field: grade, op: ne, value: c}   # C clients are handled elsewhere
"""


@pytest.fixture
def shop(tmp_path, engine):
    root = tmp_path / "shop"
    (root / "schemas").mkdir(parents=True)
    (root / "views").mkdir()
    (root / "workspace.yaml").write_text(WORKSPACE)
    (root / "schemas" / "client.yaml").write_text(CLIENT)
    (root / "views" / "clients.yaml").write_text(CLIENTS_VIEW)
    schema = build_schema(load_workspace(root))
    with engine.connect() as conn:
        apply(engine, plan(conn, schema))
    records = Records(engine, schema)
    records.bulk_create("client", [
        {"name": "Ann", "phone": "13800138001", "grade": "a", "note": "12"},
        {"name": "Bob", "phone": "13800138002", "grade": "a", "note": "hello"},
        {"name": "Cy", "phone": "13800138003", "grade": "b"}], ADMIN)
    return root


def read(root: Path, rel: str) -> str:
    return (root / rel).read_text(encoding="utf-8")


def change(root, engine, *changes, actor="ada"):
    with engine.connect() as conn:
        proposal = preview(root, list(changes), conn=conn)
    return proposal, commit(proposal, engine, actor=actor)


def column_values(engine, table, column):
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text(f"SELECT {column} FROM {table} ORDER BY id"))]


# ----- the text: comments, order, layout -----

def gallery_yaml() -> list[str]:
    files = []
    for pattern in ("workspace.yaml", "schemas/*.yaml", "views/*.yaml", "automations/*.yaml",
                    "templates/*/workspace.yaml", "templates/*/*/*.yaml"):
        files += glob.glob(str(ROOT / pattern))
    return sorted(files)


def test_every_gallery_file_comes_back_unchanged_when_nothing_changes():
    files = gallery_yaml()
    assert len(files) > 50
    for path in files:
        text = Path(path).read_text(encoding="utf-8")
        doc = Document(text)
        if isinstance(doc.data.get("fields"), dict):
            comments_to_following_keys(doc.data["fields"])
        assert doc.text() == text, path


def test_adding_a_field_keeps_every_comment_and_the_order(shop, engine):
    proposal, steps = change(shop, engine, AddField(
        "client", "vip", {"type": "boolean", "label": {"en": "VIP", "zh": "贵宾"},
                          "default": False}, after="phone"))
    text = read(shop, "schemas/client.yaml")
    assert proposal.after["schemas/client.yaml"] == text
    for comment in ("# A client of the shop. Keep this comment!", "# what the client is called",
                    "# Grades are given by the manager each quarter."):
        assert comment in text
    assert text.index("  phone:") < text.index("  vip:") < \
        text.index("  # Grades are given") < text.index("  grade:")
    assert "    label: {en: VIP, zh: 贵宾}\n" in text
    assert text.replace("  vip:\n    type: boolean\n    label: {en: VIP, zh: 贵宾}\n"
                        "    default: false\n", "") == CLIENT
    assert steps == ["add column client.vip (boolean)"]
    assert "vip" in load_workspace(shop).record_types["client"].fields


def test_a_comment_survives_reordering_and_travels_with_its_field(shop, engine):
    change(shop, engine, ReorderFields("client", ["grade", "name", "note", "phone"]))
    text = read(shop, "schemas/client.yaml")
    assert text.index("  # Grades are given") < text.index("  grade:") < text.index("  name:")
    assert "# what the client is called" in text and "Keep this comment!" in text
    assert list(load_workspace(shop).record_types["client"].fields)[:4] == \
        ["grade", "name", "note", "phone"]


def test_renaming_a_field_keeps_its_data_and_its_views_follow(shop, engine):
    proposal, steps = change(shop, engine, RenameField("client", "grade", "tier"))
    assert any(s.startswith("rename column client.grade → client.tier") for s in steps)
    assert column_values(engine, "client", "tier") == ["a", "a", "b"]
    text = read(shop, "schemas/client.yaml")
    assert "  # Grades are given by the manager each quarter.\n  tier:\n" in text
    assert "renamed_from: grade" in text
    view = read(shop, "views/clients.yaml")
    assert "columns: [name, phone, tier, note]" in view and "group_by: tier" in view
    assert "sort: [tier, -name]" in view
    # (the comment keeps its column, so it stays aligned with its neighbours)
    assert "- {field: tier, op: ne, value: c}    # C clients are handled elsewhere" in view


def test_options_are_added_edited_and_reordered(shop, engine):
    change(shop, engine,
           AddOption("client", "grade", {"value": "d", "label": {"en": "D", "zh": "D 类"},
                                         "color": "red"}, after="c"),
           EditOption("client", "grade", "a", {"label": {"en": "A (best)", "zh": "A 类（最好）"},
                                               "color": "teal"}),
           ReorderOptions("client", "grade", ["d", "c", "b", "a"]))
    text = read(shop, "schemas/client.yaml")
    assert ("      - {value: d, label: {en: D, zh: D 类}, color: red}\n"
            "      - {value: c, label: {en: C, zh: C 类}, color: gray}\n") in text
    assert "{value: a, label: {en: A (best), zh: A 类（最好）}, color: teal}" in text
    grade = load_workspace(shop).record_types["client"].fields["grade"]
    assert [o.value for o in grade.options] == ["d", "c", "b", "a"]


def test_removing_an_option_records_use_is_refused(shop, engine):
    with engine.connect() as conn:
        proposal = preview(shop, [RemoveOption("client", "grade", "b")], conn=conn)
    (refusal,) = proposal.refusals
    assert refusal.startswith(
        "cannot keep the values of client.grade: 1 record holds a value that is not an "
        "option (b ×1); give the option that should take it renamed_from: <that value>, or "
        "change the record first\n  row 3: 'b': 'b' is not one of the options (a, c)")
    with pytest.raises(EditRefused, match="not an option"):
        commit(proposal, engine, actor="ada")
    assert read(shop, "schemas/client.yaml") == CLIENT
    change(shop, engine, RemoveOption("client", "grade", "c"),
           EditView("clients", {"filter": None}))  # c is in no record: it may go
    assert "value: c" not in read(shop, "schemas/client.yaml")


def test_renaming_an_option_moves_the_records_that_hold_it(shop, engine):
    _proposal, steps = change(shop, engine, EditOption("client", "grade", "a", {"value": "top"}))
    assert steps == ["map the values of client.grade to options: a → top (2 records)"]
    assert column_values(engine, "client", "grade") == ["top", "top", "b"]
    assert "{value: top, label: {en: A, zh: A 类}, color: green, renamed_from: a}" in \
        read(shop, "schemas/client.yaml")


def test_a_type_change_that_would_lose_data_is_refused_with_the_reason(shop, engine):
    with pytest.raises(EditRefused) as exc:
        change(shop, engine, EditField("client", "note", {"type": "integer"}))
    assert "hello" in str(exc.value) or "convert" in str(exc.value)
    assert read(shop, "schemas/client.yaml") == CLIENT
    assert column_values(engine, "client", "note") == ["12", "hello", None]


def test_a_change_that_breaks_the_workspace_names_file_and_line(shop, engine):
    with pytest.raises(EditRefused) as exc:
        change(shop, engine, AddField("client", "age", {"type": "integr"}))
    assert any(p.startswith("schemas/client.yaml:") and "'integr'" in p
               for p in exc.value.problems)
    with pytest.raises(EditRefused) as exc:
        change(shop, engine, RemoveField("client", "grade"))  # the view groups by it
    assert any(p.startswith("views/clients.yaml:") and "grade" in p for p in exc.value.problems)
    assert read(shop, "schemas/client.yaml") == CLIENT


def test_changes_that_name_nothing_are_errors(shop, engine):
    for bad in (AddField("client", "name", {"type": "text"}), EditField("client", "nope", {}),
                RenameField("client", "name", "phone"), ReorderFields("client", ["name"]),
                AddOption("client", "name", {"value": "x"}), EditView("nope", {"label": "x"}),
                AddField("nope", "x", {"type": "text"})):
        with pytest.raises(EditError):
            preview(shop, [bad])


def test_a_lock_follows_its_fields_renamed_and_removed(shop, engine):
    path = shop / "schemas" / "client.yaml"
    path.write_text(read(shop, "schemas/client.yaml") + "locked:\n  field: grade\n  stages:\n"
                    "    a: {open: [note, phone]}\n", encoding="utf-8")
    change(shop, engine, RenameField("client", "grade", "tier"))
    change(shop, engine, RenameField("client", "note", "remark"))
    text = read(shop, "schemas/client.yaml")
    assert "  field: tier\n" in text and "a: {open: [remark, phone]}" in text
    change(shop, engine, RemoveField("client", "phone"))
    assert "a: {open: [remark]}" in read(shop, "schemas/client.yaml")
    assert load_workspace(shop).type("client").locked.stages["a"].open == {"remark"}


def test_removing_a_field_keeps_its_column_and_data(shop, engine):
    proposal, steps = change(shop, engine, RemoveField("client", "note"))
    assert steps == []
    assert proposal.notes and "note" in proposal.notes[0]
    assert "columns: [name, phone, grade]" in read(shop, "views/clients.yaml")
    assert column_values(engine, "client", "note") == ["12", "hello", None]


def test_a_view_can_be_added_and_edited(shop, engine):
    change(shop, engine,
           AddView("clients_board", {"type": "kanban", "record_type": "client",
                                     "label": {"en": "Board", "zh": "看板"},
                                     "group_by": "grade", "card_fields": ["phone"]}),
           EditView("clients", {"columns": ["name", "grade"], "page_size": 10}))
    ws = load_workspace(shop)
    assert ws.views["clients_board"].type == "kanban"
    view = read(shop, "views/clients.yaml")
    assert "columns: [name, grade]\n" in view and "page_size: 10\n" in view
    assert "# C clients are handled elsewhere" in view
    board = read(shop, "views/clients_board.yaml")
    assert board.startswith("# yaml-language-server: $schema=/")


def test_every_change_is_logged_with_who_and_the_diff(shop, engine):
    change(shop, engine, EditField("client", "phone", {"label": {"en": "Mobile", "zh": "手机"}}),
           actor="ada@example.com")  # no migration step, still logged
    change(shop, engine, AddField("client", "city", {"type": "text"}), actor="bo@example.com")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT actor, summary, diff, steps FROM lr_schema_log "
                                    "WHERE diff IS NOT NULL ORDER BY id")).all()
    assert [r[0] for r in rows] == ["ada@example.com", "bo@example.com"]
    steps = json.loads(rows[0][3]) if isinstance(rows[0][3], str) else rows[0][3]
    assert rows[0][1] == "change label of client.phone" and steps == []
    assert "+    label: {en: Mobile, zh: 手机}" in rows[0][2]
    assert "+  city:" in rows[1][2] and rows[1][2].startswith("--- a/schemas/client.yaml")


def test_a_file_changed_since_the_preview_is_a_conflict(shop, engine):
    with engine.connect() as conn:
        proposal = preview(shop, [AddField("client", "city", {"type": "text"})], conn=conn)
    (shop / "schemas" / "client.yaml").write_text(CLIENT + "  fax:\n    type: phone\n")
    with pytest.raises(EditConflict):
        commit(proposal, engine, actor="ada")
    assert "city" not in read(shop, "schemas/client.yaml")


def test_a_failed_migration_puts_the_files_back(shop, engine, monkeypatch):
    import lowrise.storage.migrate as migrate

    def fail(*args, **kwargs):
        raise MigrationFailed(migrate.AddColumn("client", "city", "text"), RuntimeError("disk"))

    monkeypatch.setattr(migrate, "apply", fail)
    with pytest.raises(MigrationFailed):
        change(shop, engine, AddField("client", "city", {"type": "text"}),
               AddView("more", {"type": "table", "record_type": "client"}))
    assert read(shop, "schemas/client.yaml") == CLIENT
    assert not (shop / "views" / "more.yaml").exists()


def test_editing_the_flagship_keeps_its_comments(tmp_path):
    root = clone("real_estate", tmp_path / "sales")
    before = read(root, "schemas/staff.yaml")
    proposal = preview(root, [AddField("staff", "wechat", {"type": "text"}, after="phone"),
                              RenameField("staff", "license_no", "licence_no")])
    after = proposal.after["schemas/staff.yaml"]
    comments = [line.strip() for line in before.splitlines() if line.strip().startswith("#")]
    assert all(c in after for c in comments)
    assert after.index("  wechat:") < after.index("  # The role decides") < after.index("  role:")
