"""The JSON Schemas of the workspace files: shipped as generated, valid, and true to the registry."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from lowrise.fields import registry
from lowrise.fields.base import COMMON_OPTIONS
from lowrise.workspace import metaschema

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "workspace-format.md"


@pytest.mark.parametrize("kind", metaschema.KINDS)
def test_shipped_schema_equals_the_generated_one(kind):
    shipped = metaschema.SCHEMA_DIR / f"{kind}.schema.json"
    assert shipped.read_text(encoding="utf-8") == metaschema.schema_text(kind), (
        f"{shipped.name} is out of date: run python -m lowrise.workspace.metaschema")


@pytest.mark.parametrize("kind", metaschema.KINDS)
def test_schema_is_a_valid_draft_2020_12_schema(kind):
    schema = json.loads((metaschema.SCHEMA_DIR / f"{kind}.schema.json").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:lowrise:schema:{kind}"
    assert schema["title"] and schema["description"]
    for prop in schema.get("properties", {}).values():
        assert prop.get("description"), "every top-level setting has hover text"


def test_docs_name_the_shipped_files():
    text = DOC.read_text(encoding="utf-8")
    for kind in metaschema.KINDS:
        assert f"`{kind}.schema.json`" in text


def test_write_schemas_and_the_module_entry_point(tmp_path):
    written = metaschema.write_schemas(tmp_path / "a")
    assert [p.name for p in written] == [f"{k}.schema.json" for k in metaschema.KINDS]
    for path in written:
        assert path.read_text(encoding="utf-8").endswith("}\n")
        assert path.read_text(encoding="utf-8") == metaschema.schema_text(path.name.split(".")[0])
    run = subprocess.run([sys.executable, "-W", "error", "-m", "lowrise.workspace.metaschema",
                          str(tmp_path / "b")], capture_output=True, text=True, check=True)
    assert run.stderr == ""
    for kind in metaschema.KINDS:
        name = f"{kind}.schema.json"
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()


def test_operators_are_the_documented_ones_and_cover_every_field_type():
    line = re.search(r"Operators: (.*?)\. Each field type", DOC.read_text("utf-8"), re.S)[1]
    assert tuple(line.replace("`", "").split()) == metaschema.OPERATORS
    for name, kind in registry.items().items():
        assert set(kind.operators) <= set(metaschema.OPERATORS), name


def test_field_types_come_from_the_registry():
    schema = metaschema.record_type_schema()
    types = schema["$defs"]["field"]["properties"]["type"]["enum"]
    assert types == [n for n in registry.names() if registry.get(n).declarable]
    for name in types:
        kind = registry.get(name)
        field = schema["$defs"][f"field_{name}"]
        assert set(field["properties"]) == set(COMMON_OPTIONS) | set(kind.options_schema)
        assert field["additionalProperties"] is False
        assert field.get("required", []) == list(kind.required_options)


def _errors(kind: str, data) -> list[str]:
    validator = Draft202012Validator(metaschema.schema_for(kind))
    return sorted(f"{'.'.join(map(str, e.absolute_path))}:{e.validator}"
                  for e in validator.iter_errors(data))


def test_record_type_schema_accepts_and_refuses():
    good = {"label": {"en": "Client", "zh": "客户"}, "title": "name", "search": ["name"],
            "fields": {"name": {"type": "text", "required": True, "max_length": 80},
                       "owner": {"type": "link", "target": "staff", "on_delete": "clear"},
                       "stage": {"type": "select", "options": ["a", {"value": "b",
                                                                      "color": "green"}]}}}
    assert _errors("record_type", good) == []
    assert _errors("record_type", {"fields": {"x": {"type": "link"}}}) == ["fields.x:required"]
    assert _errors("record_type", {"fields": {"x": {"type": "text", "target": "a"}}}) == [
        "fields.x:additionalProperties"]
    assert _errors("record_type", {"fields": {"x": {"type": "id"}}}) == ["fields.x.type:enum"]
    assert _errors("record_type", {"fields": {"X": {"type": "text"}}}) == ["fields:pattern"]


def test_view_and_filter_schema():
    view = {"type": "table", "record_type": "case", "columns": ["a"], "sort": ["-a"],
            "filter": {"all": [{"field": "a", "op": "eq", "value": 1},
                               {"any": [{"not": {"field": "client.source", "op": "is_empty"}}]}]}}
    assert _errors("view", view) == []
    assert _errors("view", {"type": "dashboard", "widgets": [
        {"type": "funnel", "record_type": "case", "group_by": "stage"}]}) == []
    assert _errors("view", {"type": "dashboard", "widgets": [{"kind": "funnel"}]}) == [
        "widgets.0:required", "widgets.0:required"]  # type and record_type
    assert _errors("view", {"type": "form", "record_type": "a", "columns": ["a"]}) == [
        ":additionalProperties"]
    bad = {"type": "table", "record_type": "a", "filter": {"all": [{"field": "a", "op": "like"}]}}
    assert _errors("view", bad) == ["filter.all.0.op:enum"]
    assert _errors("view", {"type": "table", "record_type": "a", "filter": {"op": "eq"}}) == [
        "filter:dependentRequired", "filter:oneOf"]


def test_automation_and_workspace_schema():
    rule = {"record_type": "case", "trigger": {"kind": "created"},
            "actions": [{"set_fields": {"stage": "lead"}}],
            "conditions": {"all": [{"field": "stage", "op": "eq", "value": "lead"},
                                   {"field": "stage", "from": "lead", "to": "reception"}]},
            "enabled": True}
    assert _errors("automation", rule) == []
    assert _errors("automation", {"record_type": "case"}) == [":oneOf"]
    assert _errors("automation", {**rule, "later": 1}) == [":additionalProperties"]
    assert _errors("automation", {**rule, "actions": [{"set": {}}]}) == [
        "actions.0:additionalProperties", "actions.0:oneOf"]
    stages = {"record_type": "contract", "stages": {"field": "status",
                                                    "transitions": {"draft": ["in_review"]}}}
    assert _errors("automation", stages) == []
    ws = {"label": "Sales", "default_locale": "zh", "locales": ["zh", "en"],
          "timezone": "Asia/Shanghai", "users": "staff",
          "teams": {"manager": "manager"},
          "roles": {"consultant": {"label": "C", "permissions": {
              "client": {"can": ["read"], "rows": ["own", {"linked_from": ["case.client"]}],
                         "fields": {"phone": {"access": "masked", "unless": "own"}}},
              "*": {"can": ["read"]}}},
                    "admin": {"admin": True}}}
    assert _errors("workspace", ws) == []
    ws["roles"]["consultant"]["permissions"]["client"]["can"] = ["fly"]
    assert _errors("workspace", ws) == ["roles.consultant.permissions.client.can.0:enum"]
    assert _errors("workspace", {"locale": "zh"}) == [":additionalProperties"]
