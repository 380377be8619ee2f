"""Editor schemas of a workspace: `lowrise new` and `lowrise schema` write json-schemas/ into
the workspace and point each YAML file at its schema by a relative path (valid wherever the
workspace is cloned); views complete and check the field names of their record type, rule
fixtures have a schema with the types and fields they may give."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from lowrise.cli import main
from lowrise.workspace import load_workspace
from lowrise.workspace.editor_schemas import HINT, stale_hints


def _schema_of(path: Path) -> dict:
    first = path.read_text(encoding="utf-8").partition("\n")[0]
    assert first.startswith(HINT), path
    target = (path.parent / first[len(HINT):]).resolve()
    return json.loads(target.read_text(encoding="utf-8"))


def _load(text: str):
    """YAML 1.2, as editors and the workspace loader read it (`off` is text, not false)."""
    return YAML(typ="safe", pure=True).load(text)


def _errors(path: Path) -> list[str]:
    data = _load(path.read_text(encoding="utf-8"))
    return [e.message for e in Draft202012Validator(_schema_of(path)).iter_errors(data)]


def test_new_writes_relative_hints_that_survive_a_move(tmp_path):
    runner = CliRunner()
    made = runner.invoke(main, ["new", str(tmp_path / "desk"), "--template", "service_desk"])
    assert made.exit_code == 0, made.output
    moved = tmp_path / "elsewhere" / "clone"
    shutil.copytree(tmp_path / "desk", moved)
    shutil.rmtree(tmp_path / "desk")  # nothing may point back at the first place
    files = sorted(moved.glob("*.yaml")) + sorted(moved.glob("*/*.yaml")) + \
        sorted(moved.glob("automations/fixtures/*.yaml"))
    assert len(files) > 20
    for path in files:
        first = path.read_text(encoding="utf-8").partition("\n")[0]
        assert "json-schemas/" in first and not first[len(HINT):].startswith("/"), path
        assert _errors(path) == [], path
    assert stale_hints(moved) == []


def test_views_know_their_types_fields(tmp_path):
    runner = CliRunner()
    runner.invoke(main, ["new", str(tmp_path / "desk"), "--template", "service_desk"])
    root = tmp_path / "desk"
    view = next(p for p in sorted((root / "views").glob("*.yaml"))
                if "columns:" in p.read_text(encoding="utf-8"))
    text = view.read_text(encoding="utf-8")
    data = _load(text)
    rt = load_workspace(root).type(data["record_type"])
    schema = _schema_of(view)
    arm = next(a for a in schema["allOf"] if a.get("if", {}).get("properties", {})
               .get("record_type", {}).get("const") == rt.name)
    assert arm["then"]["properties"]["columns"]["items"]["enum"] == list(rt.fields)
    first = data["columns"][0]
    view.write_text(text.replace(f"- {first}\n", f"- {first}x\n", 1).replace(
        f"[{first},", f"[{first}x,", 1), encoding="utf-8")
    assert any(f"'{first}x'" in e for e in _errors(view))


def test_fixtures_list_the_types_and_their_fields(tmp_path):
    runner = CliRunner()
    runner.invoke(main, ["new", str(tmp_path / "desk"), "--template", "service_desk"])
    root = tmp_path / "desk"
    fixture = sorted((root / "automations" / "fixtures").glob("*.yaml"))[0]
    schema = _schema_of(fixture)
    ws = load_workspace(root)
    assert set(schema["properties"]["given"]["properties"]) == set(ws.record_types)
    assert schema["properties"]["rule"]["enum"] == list(ws.rules)
    text = fixture.read_text(encoding="utf-8")
    fixture.write_text(text.replace("given:\n", "given:\n  nosuchtype: []\n", 1),
                       encoding="utf-8")
    assert _errors(fixture)


def test_lowrise_schema_repoints_old_hints(tmp_path):
    runner = CliRunner()
    runner.invoke(main, ["new", str(tmp_path / "desk"), "--template", "service_desk"])
    root = tmp_path / "desk"
    view = sorted((root / "views").glob("*.yaml"))[0]
    body = view.read_text(encoding="utf-8").partition("\n")[2]
    view.write_text(f"{HINT}/opt/old/install/view.schema.json\n{body}", encoding="utf-8")
    assert stale_hints(root) == [f"views/{view.name}"]
    out = runner.invoke(main, ["-w", str(root), "schema"])
    assert out.exit_code == 0 and "1 file(s)" in out.output, out.output
    assert stale_hints(root) == [] and _errors(view) == []
    again = runner.invoke(main, ["-w", str(root), "schema"])
    assert "0 file(s)" in again.output


def test_dashboard_widgets_know_their_types_fields(tmp_path):
    """A widget completes and checks what it groups by, measures and dates by, from its own
    record type; every dashboard the templates ship passes its schema."""
    runner = CliRunner()
    made = runner.invoke(main, ["new", str(tmp_path / "office"), "--template", "real_estate"])
    assert made.exit_code == 0, made.output
    root = tmp_path / "office"
    board = root / "views" / "dashboard.yaml"
    assert _errors(board) == []
    widget = _schema_of(board)["$defs"]["widget"]
    case = next(a["then"]["properties"] for a in widget["allOf"]
                if a.get("if", {}).get("properties", {}).get("record_type", {})
                .get("const") == "case")
    assert {"stage", "opened_on:month", "client.source"} <= set(case["group_by"]["enum"])
    assert "sum:amount" in case["measure"]["anyOf"][0]["enum"]
    assert "sum:stage" not in case["measure"]["anyOf"][0]["enum"]
    assert "contracted_on" in case["date_field"]["enum"]
    text = board.read_text(encoding="utf-8")
    for good, bad in (("measure: sum:amount", "measure: sum:amont"),
                      ("date_field: opened_on", "date_field: opened_onn"),
                      ("record_type: case", "record_type: cases")):
        assert good in text, good
        board.write_text(text.replace(good, bad, 1), encoding="utf-8")
        assert _errors(board), bad
    board.write_text(text, encoding="utf-8")
    for template in ("service_desk", "project_tracker"):
        runner.invoke(main, ["new", str(tmp_path / template), "--template", template])
        assert _errors(tmp_path / template / "views" / "dashboard.yaml") == [], template
