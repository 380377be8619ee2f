"""JSON Schemas of one workspace for editors (`lowrise schema`, and `lowrise new`).

The shipped schemas (lowrise.workspace.metaschema) know the keys of every file but not the
workspace's own names. These add them: in a view, `columns`, `sort`, `group_by`,
`card_fields` and `date_field` offer the fields of the view's record type, and a dashboard
widget's groupings, measures and date field those of the widget's type; an automation's
`record_type` offers the types; a rule fixture (automations/fixtures/*.yaml) gets a schema
of its own, with the types and their fields under `given`. They are written into the
workspace, in `json-schemas/`, and each YAML file's first line names its schema by a
relative path (`# yaml-language-server: $schema=../json-schemas/view.schema.json`), so the
hints work wherever the workspace is cloned. No Flask here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lowrise.filters import flavor as _flavor
from lowrise.workspace.checks import _numeric
from lowrise.workspace.metaschema import KINDS, schema_for
from lowrise.workspace.model import Workspace

FOLDER = "json-schemas"
HINT = "# yaml-language-server: $schema="
#: which schema a workspace file takes, by its folder
KIND_OF_FOLDER = {"schemas": "record_type", "views": "view", "automations": "automation",
                  "documents": "document"}


def _sorts(names: list[str]) -> list[str]:
    return [*names, *(f"-{n}" for n in names)]


def view_schema(ws: Workspace) -> dict[str, Any]:
    """The view schema with the fields of each record type where a view names fields."""
    base = schema_for("view")
    arms = []
    for rt in ws.record_types.values():
        names = list(rt.fields)
        sortable = [n for n, f in rt.fields.items() if f.kind.sortable]
        field = {"enum": names}
        arms.append({
            "if": {"properties": {"record_type": {"const": rt.name}},
                   "required": ["record_type"]},
            "then": {"properties": {
                "columns": {"items": field}, "card_fields": {"items": field},
                "sort": {"items": {"enum": _sorts(sortable)}},
                "group_by": field, "date_field": field, "card_title": field}},
        })
    base.setdefault("allOf", []).extend(arms)
    base["properties"]["record_type"] = {**base["properties"].get("record_type", {}),
                                         "enum": list(ws.record_types)}
    widget = base.get("$defs", {}).get("widget")
    if isinstance(widget, dict):
        widget["properties"]["record_type"] = {**widget["properties"]["record_type"],
                                               "enum": list(ws.record_types)}
        widget.setdefault("allOf", []).extend(widget_arms(ws))
    return base


def _groups(rt, ws: Workspace) -> list[str]:
    """What a dashboard widget of `rt` may group by: its groupable fields, a date field by
    day, week, month or year, and a groupable field of a linked record (`client.source`)."""
    out = []
    for name, f in rt.fields.items():
        if f.kind.groupable:
            out.append(name)
        if _flavor(f) in ("date", "datetime"):
            out += [f"{name}:{b}" for b in ("day", "week", "month", "year")]
        target = ws.record_types.get(f.target) if f.kind.links else None
        if target is not None:
            out += [f"{name}.{n}" for n, g in target.fields.items() if g.kind.groupable]
    return out


def _measures(rt) -> list[str]:
    out = ["count"]
    for name, f in rt.fields.items():
        if _numeric(f):
            out += [f"{fn}:{name}" for fn in ("sum", "avg", "min", "max")]
        elif _flavor(f) in ("date", "datetime"):
            out += [f"{fn}:{name}" for fn in ("min", "max")]
    return out


def widget_arms(ws: Workspace) -> list[dict[str, Any]]:
    """A dashboard widget's names from its record type: the date field its range applies to,
    what it groups by (group_by, series, a pivot's rows and columns) and what it measures."""
    arms = []
    for rt in ws.record_types.values():
        group = {"enum": _groups(rt, ws)}
        measure = {"anyOf": [{"enum": _measures(rt)}, {"type": "object"}]}
        dates = [n for n, f in rt.fields.items() if _flavor(f) in ("date", "datetime")]
        arms.append({
            "if": {"properties": {"record_type": {"const": rt.name}},
                   "required": ["record_type"]},
            "then": {"properties": {
                "date_field": {"enum": dates}, "group_by": group, "series": group,
                "rows": group,
                "columns": {"anyOf": [group, {"type": "array",
                                              "items": {"enum": list(rt.fields)}}]},
                "measure": measure, "measures": {"items": measure}}},
        })
    return arms


def automation_schema(ws: Workspace) -> dict[str, Any]:
    base = schema_for("automation")
    if isinstance(base.get("properties"), dict) and "record_type" in base["properties"]:
        base["properties"]["record_type"] = {**base["properties"]["record_type"],
                                             "enum": list(ws.record_types)}
    return base


def fixture_schema(ws: Workspace) -> dict[str, Any]:
    """A rule fixture: the rule, the clock, the records given (by type, with their fields),
    the events and what is expected."""
    given = {}
    for rt in ws.record_types.values():
        props = {n: {"description": str(f.label)} for n, f in rt.fields.items()
                 if not f.system}
        props["ref"] = {"type": "string", "description": "a name later values use as @ref"}
        given[rt.name] = {"type": "array", "items": {"type": "object", "properties": props,
                                                     "additionalProperties": False}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Lowrise rule fixture (automations/fixtures/<name>.yaml)",
        "type": "object", "required": ["rule"],
        "properties": {
            "rule": ({"enum": list(ws.rules), "description": "The rule under test."}
                     if ws.rules else {"type": "string", "description": "The rule under test."}),
            "now": {"type": "string", "description": "The clock at the start (ISO 8601)."},
            "given": {"type": "object", "properties": given, "additionalProperties": False,
                      "description": "Records made before the events, by record type."},
            "events": {"type": "array", "description": "create, update, advance..."},
            "expect": {"type": "object", "description": "What the rules did at the end."},
        },
    }


def build(ws: Workspace) -> dict[str, dict[str, Any]]:
    """Every schema of the workspace: kind → JSON Schema."""
    out = {kind: schema_for(kind) for kind in KINDS}
    out["view"] = view_schema(ws)
    out["automation"] = automation_schema(ws)
    out["fixture"] = fixture_schema(ws)
    return out


def kind_of(rel: str) -> str | None:
    """The schema kind of a workspace file (by its path), None for other files."""
    parts = rel.split("/")
    if rel == "workspace.yaml":
        return "workspace"
    if len(parts) >= 3 and parts[0] == "automations" and parts[1] == "fixtures":
        return "fixture"
    return KIND_OF_FOLDER.get(parts[0]) if len(parts) == 2 else None


def hint(rel: str, kind: str) -> str:
    """The first line naming `kind`'s schema, relative to the file at `rel`."""
    up = "../" * rel.count("/")
    return f"{HINT}{up}{FOLDER}/{kind}.schema.json"


def write(root: str | Path, ws: Workspace) -> list[Path]:
    """Write the schemas into `root/json-schemas/` and point every YAML file's first line at
    its schema (replacing a hint that named another place); the files written or changed."""
    root = Path(root)
    folder = root / FOLDER
    folder.mkdir(exist_ok=True)
    changed = []
    for kind, schema in build(ws).items():
        path = folder / f"{kind}.schema.json"
        text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    for path in sorted(root.rglob("*.yaml")):
        rel = path.relative_to(root).as_posix()
        kind = kind_of(rel)
        if kind is None or rel.startswith((FOLDER, "instance/")):
            continue
        text = path.read_text(encoding="utf-8")
        line = hint(rel, kind)
        first, nl, rest = text.partition("\n")
        if first.startswith(HINT):
            new = line + nl + rest if first != line else text
        else:
            new = line + "\n" + text
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def stale_hints(root: str | Path) -> list[str]:
    """Files whose `$schema=` hint names a place outside the workspace (an absolute path,
    or one that is not there): what `lowrise schema` would fix."""
    root = Path(root)
    out = []
    for path in sorted(root.rglob("*.yaml")):
        rel = path.relative_to(root).as_posix()
        if kind_of(rel) is None:
            continue
        first = path.read_text(encoding="utf-8").partition("\n")[0]
        m = re.match(re.escape(HINT) + r"(.+)$", first)
        if m and (Path(m[1]).is_absolute() or not (path.parent / m[1]).exists()):
            out.append(rel)
    return out
