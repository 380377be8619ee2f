"""The JSON Schemas (draft 2020-12) of the workspace files, built from the field registry.

One schema per kind of file: workspace.yaml, a record type (schemas/*.yaml), a view
(views/*.yaml) and an automation rule (automations/*.yaml). The loader validates with them;
the same schemas are shipped as JSON in `schemas/` so that editors with the YAML language
server check a file as it is typed. `python -m lowrise.workspace.metaschema` regenerates
the shipped files after a field type changes; a test keeps them from drifting.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from lowrise.fields import registry
from lowrise.fields.base import COMMON_OPTIONS

from .sharing_schema import FEED, FORM_PATH, PUBLIC_FORM, SHARE

DIALECT = "https://json-schema.org/draft/2020-12/schema"
KINDS = ("workspace", "record_type", "view", "automation", "document", "approval")
SCHEMA_DIR = Path(__file__).parent / "schemas"

NAME_PATTERN = "^[a-z][a-z0-9_]{0,62}$"
_NAME = "[a-z][a-z0-9_]{0,62}"
PATH_PATTERN = f"^{_NAME}(\\.{_NAME})*$"
SORT_PATTERN = f"^-?{_NAME}$"
LOCALE_PATTERN = "^[a-z]{2,3}([_-][A-Za-z0-9]{2,8})*$"

#: every operator of the filter language, as listed in docs/workspace-format.md
OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "not_contains",
             "starts_with", "is_empty", "is_not_empty", "between", "within")
VIEW_TYPES = ("table", "form", "kanban", "calendar", "dashboard")

REF_NAME = {"$ref": "#/$defs/name"}
REF_LABEL = {"$ref": "#/$defs/label"}
REF_FILTER = {"$ref": "#/$defs/filter"}

TYPE_DOCS = {
    "text": "one line of text (255 characters unless max_length)",
    "long_text": "paragraphs of text",
    "integer": "a whole number",
    "decimal": "an exact decimal number",
    "currency": "an amount of money (exact)",
    "percent": "a percentage: 12.5 means 12.5%",
    "boolean": "yes or no",
    "date": "a date",
    "datetime": "a date and time (stored in UTC, shown in the time zone)",
    "duration": "a length of time, like 1h30m",
    "select": "one of a list of options (also a stage)",
    "multi_select": "any of a list of options",
    "email": "an e-mail address",
    "phone": "a phone number",
    "url": "a web address",
    "rating": "stars, 0 to max",
    "user": "a person: a record of the workspace's users type",
    "link": "a record of another record type (target)",
    "autonumber": "a number given automatically, like CT-{YYYY}-{0000}",
    "formula": "computed from other fields by an expression",
    "attachment": "uploaded files",
    "lookup": "a field of the linked record (through a link field), kept up to date",
    "rollup": "count, sum, avg, min or max of the records that link here, kept up to date",
    "count": "how many records link here (optionally: those matching a filter)",
}

OPTION_DOCS = {
    "type": "The field type.",
    "label": "The field's label: text, or a map of locale to text ({en: Name, zh: 姓名}).",
    "help": "Help text shown under the field.",
    "required": "A value must be given.",
    "unique": "No two records share a value (a unique index).",
    "indexed": "Add an index, for fields you filter or sort on a lot.",
    "read_only": "Set only by the system (rules, migrations, imports run as the system): "
                 "shown, never changed by people, in forms, the API or imports.",
    "default": "The value a new record gets.",
    "renamed_from": "The field's old name (or a list): `lowrise migrate` renames the column, "
                    "keeping the data.",
    "min_length": "The fewest characters allowed.",
    "max_length": "The most characters allowed.",
    "pattern": "A regular expression the whole value must match.",
    "pattern_hint": "What the pattern asks for, in words people understand.",
    "min": "The smallest value allowed.",
    "max": "The largest value allowed.",
    "precision": "Digits in all (default 18).",
    "scale": "Digits after the decimal point (default 2).",
    "currency": "ISO currency code (default CNY).",
    "timezone": "Time zone the value is read and shown in (default: the workspace's).",
    "unit": "What a bare number means (default minutes).",
    "options": "The choices, in order (for a stage: the stage order): a value, or "
               "{value, label, color}.",
    "target": "The record type this field points at.",
    "related_label": "The name of the reverse list on the target record type.",
    "on_delete": "What happens to this field when the linked record is deleted.",
    "role": "Only people with this role can be chosen.",
    "expression": "The formula: field names, arithmetic and functions, like `amount * 0.03`.",
    "result": "The type of the formula's value (default decimal).",
    "through": "The link field of this record type whose record the value is read from.",
    "field": "The field read: of the linked record (lookup) or of the records that link "
             "here (rollup).",
    "from": "The record type whose records link here.",
    "via": "The link field of `from` that points at this record type.",
    "aggregate": "count, sum, avg, min or max.",
    "filter": "Only the linked records that match this filter (the filter language).",
    "max_size": "The largest file allowed, in bytes.",
    "accept": "Allowed extensions (.pdf) or MIME types (image/*).",
    "multiple": "More than one file may be attached.",
}


def _doc(schema: dict[str, Any], text: str) -> dict[str, Any]:
    """The schema with a description, unless it already has one."""
    return schema if "description" in schema else {**schema, "description": text}


def _defs() -> dict[str, Any]:
    name = {"type": "string", "pattern": NAME_PATTERN,
            "description": "A name: lower case letters, digits and _, starting with a letter."}
    label = {
        "description": "Text, or a map of locale to text: `Client` or `{en: Client, zh: 客户}`.",
        "anyOf": [
            {"type": "string"},
            {"type": "object", "minProperties": 1,
             "propertyNames": {"pattern": LOCALE_PATTERN},
             "additionalProperties": {"type": "string"}},
        ],
    }
    condition = {
        "all": {"type": "array", "items": REF_FILTER, "description": "Every condition holds."},
        "any": {"type": "array", "items": REF_FILTER, "description": "At least one holds."},
        "not": _doc(dict(REF_FILTER), "The condition does not hold."),
        "field": {"type": "string", "pattern": PATH_PATTERN,
                  "description": "A field, or a path through a link like client.source."},
        "op": {"enum": list(OPERATORS), "description": "The operator; each field type lists "
               "the operators it supports."},
        "value": {"description": "What to compare with; dates may be relative (today, -7d), "
                  "`within` takes a period (this_week), a user field takes `me`."},
    }
    filter_ = {
        "type": "object",
        "description": "A filter: all:, any: or not: of filters, or {field, op, value}.",
        "properties": condition,
        "additionalProperties": False,
        "oneOf": [{"required": ["all"]}, {"required": ["any"]}, {"required": ["not"]},
                  {"required": ["field"]}],
        "dependentRequired": {"field": ["op"], "op": ["field"], "value": ["field"]},
    }
    return {"name": name, "label": label, "filter": filter_}


def _schema(kind: str, title: str, description: str, body: dict[str, Any],
            defs: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": DIALECT, "$id": f"urn:lowrise:schema:{kind}", "title": title,
            "description": description, **body, "$defs": defs}


PERMISSION_ACTIONS = ("read", "create", "update", "delete", "export", "manage", "reveal")


def _permissions_schema() -> dict[str, Any]:
    """`permissions` of a role (see docs/permissions.md); lowrise.access checks the rest."""
    scope = {
        "description": "Which rows: all, own, team, department, department_and_below, "
                       "none, {own: [user fields]}, {team: [user fields]}, {department: "
                       "[fields]}, {department_and_below: [fields]}, {filter: <filter>}, "
                       "{linked_from: [type.field]}, or a list of these (rows in any of them).",
        "anyOf": [
            {"enum": ["all", "own", "team", "department", "department_and_below", "none"]},
            {"type": "object", "minProperties": 1, "maxProperties": 1,
             "additionalProperties": False, "properties": {
                 "own": {"type": "array", "items": REF_NAME, "minItems": 1,
                         "description": "A row is mine when one of these user fields is me."},
                 "team": {"type": "array", "items": REF_NAME, "minItems": 1,
                          "description": "A row is my team's when one of these user fields "
                                         "is a member of my team."},
                 "department": {"type": "array", "items": REF_NAME, "minItems": 1,
                                "description": "A row is my department's when one of these "
                                               "user fields is a person of my departments, "
                                               "or one of these links names one of them."},
                 "department_and_below": {
                     "type": "array", "items": REF_NAME, "minItems": 1,
                     "description": "The same, with every department under mine."},
                 "filter": _doc(dict(REF_FILTER), "The rows matching a filter (`me` is the "
                                "person signed in)."),
                 "linked_from": {"type": "array", "minItems": 1,
                                 "items": {"type": "string", "pattern": f"^{_NAME}\\.{_NAME}$"},
                                 "description": "The rows that records of type.field, as "
                                                "this role sees them, link to."}}},
            {"type": "array", "items": {"$ref": "#/$defs/row_scope"}},
        ],
    }
    field_rule = {
        "description": "How the field shows: visible, read_only, masked or hidden; or "
                       "{access, mask: {keep_start, keep_end, char}, unless: <rows>, export, "
                       "reveal_reason}. visible, written out, also makes a field that decides "
                       "who sees which records (a teams: field, a field a filter scope reads "
                       "through a link) writable for this role.",
        "anyOf": [
            {"enum": ["visible", "read_only", "masked", "hidden"]},
            {"type": "object", "minProperties": 1, "additionalProperties": False,
             "properties": {
                 "export": {"enum": ["full", "masked", "none"],
                            "description": "How this confidential field goes into the "
                                           "role's exports: as the role reads it (full), "
                                           "masked, or left out (none). Default: masked "
                                           "for text, else left out."},
                 "reveal_reason": {"type": "boolean",
                                   "description": "Revealing this field needs a reason, "
                                                  "kept in the audit log."},
                 "access": {"enum": ["visible", "read_only", "masked", "hidden"]},
                 "mask": {"type": "object", "additionalProperties": False,
                          "description": "What a masked value keeps (default: the first 3 and "
                                         "the last 4 characters).",
                          "properties": {"keep_start": {"type": "integer", "minimum": 0},
                                         "keep_end": {"type": "integer", "minimum": 0},
                                         "char": {"type": "string", "minLength": 1,
                                                  "maxLength": 1}}},
                 "unless": {"$ref": "#/$defs/row_scope",
                            "description": "On these rows the field is plainly visible."}}},
        ],
    }
    grant = {
        "type": "object", "additionalProperties": False,
        "description": "What the role may do with one record type.",
        "properties": {
            "can": {"type": "array", "uniqueItems": True,
                    "items": {"enum": list(PERMISSION_ACTIONS)},
                    "description": "What the role may do: " + ", ".join(PERMISSION_ACTIONS)
                                   + "."},
            "rows": {"$ref": "#/$defs/row_scope",
                     "description": "The rows it reads (default all)."},
            "write_rows": {"$ref": "#/$defs/row_scope",
                           "description": "The rows it updates and deletes (default: the "
                                          "rows it reads)."},
            "fields": {"type": "object", "propertyNames": REF_NAME,
                       "additionalProperties": {"$ref": "#/$defs/field_rule"},
                       "description": "Fields that do not show plainly to this role."}},
    }
    return {"row_scope": scope, "field_rule": field_rule, "grant": grant}


def workspace_schema() -> dict[str, Any]:
    """The schema of workspace.yaml."""
    role = {
        "type": "object",
        "description": "A role people can have.",
        "properties": {
            "label": _doc(dict(REF_LABEL), "The role's label."),
            "description": _doc(dict(REF_LABEL), "What the role is for."),
            "admin": {"type": "boolean", "description": "Sees and does everything (and "
                      "manages accounts)."},
            "audit": {"type": "boolean", "description": "Reads the log of reveals and "
                      "exports across records (/audit)."},
            "permissions": {"type": "object", "description": "What the role may see and do, "
                            "per record type (`*`: every type not listed); see "
                            "docs/permissions.md.",
                            "propertyNames": {"anyOf": [REF_NAME, {"const": "*"}]},
                            "additionalProperties": {"$ref": "#/$defs/grant"}},
        },
        "additionalProperties": False,
    }
    return _schema("workspace", "Lowrise workspace (workspace.yaml)",
                   "The workspace's name, locales, time zone, users type and roles.", {
        "type": "object",
        "properties": {
            "name": _doc(dict(REF_NAME), "The workspace's name (default: the folder's)."),
            "label": _doc(dict(REF_LABEL), "The workspace's title."),
            "description": _doc(dict(REF_LABEL), "What the workspace is for."),
            "default_locale": {"type": "string", "pattern": LOCALE_PATTERN,
                               "description": "The locale pages open in (one of locales)."},
            "locales": {"type": "array", "minItems": 1, "uniqueItems": True,
                        "items": {"type": "string", "pattern": LOCALE_PATTERN},
                        "description": "The locales labels are written in, like [zh, en]."},
            "timezone": {"type": "string", "description": "How dates and times are read and "
                         "shown, like Asia/Shanghai (default UTC)."},
            "users": _doc(dict(REF_NAME), "The record type whose records are the people; "
                          "user fields point here."),
            "roles": {"type": "object", "propertyNames": REF_NAME,
                      "additionalProperties": role,
                      "description": "The roles, by name."},
            "teams": {"type": "object", "additionalProperties": False,
                      "description": "How a person's team is found in the users type, for "
                                     "`team` row scopes.",
                      "properties": {
                          "manager": _doc(dict(REF_NAME), "The link to a person's manager: "
                                          "everyone below me is in my team."),
                          "field": _doc(dict(REF_NAME), "A field naming a team: everyone "
                                        "sharing my value is in my team.")}},
            "org": {"type": "object", "additionalProperties": False,
                    "description": "The org chart: departments as a tree of records, for "
                                   "`department` row scopes and approvers (docs/org.md).",
                    "properties": {
                        "departments": _doc(dict(REF_NAME), "The record type of the "
                                            "departments."),
                        "parent": _doc(dict(REF_NAME), "Its link to the department above."),
                        "head": _doc(dict(REF_NAME), "Its user field: who leads the "
                                     "department."),
                        "members": {"type": "array", "items": REF_NAME, "minItems": 1,
                                    "description": "The users type's link fields that name "
                                                   "a person's departments."}}},
            "automations": {"type": "object", "additionalProperties": False,
                            "description": "How automation rules run.", "properties": {
                                "max_depth": {"type": "integer", "minimum": 1, "maximum": 20,
                                              "description": "How many rules may trigger each "
                                              "other in a chain (default 5)."},
                                "webhook_max_age": {
                                    "type": "integer", "minimum": 30, "maximum": 86400,
                                    "description": "Seconds an incoming webhook's signed "
                                    "timestamp may be from the server's clock (default 300)."}}},
            "template": {
                "type": "object", "additionalProperties": False, "required": ["title"],
                "description": "How the template gallery shows this workspace "
                               "(see docs/templates.md).",
                "properties": {
                    "title": _doc(dict(REF_LABEL), "The template's name in the gallery."),
                    "summary": _doc(dict(REF_LABEL), "One or two sentences: what it is for."),
                    "tags": {"type": "array", "items": REF_LABEL,
                             "description": "Short labels to find it by, like Tickets."},
                },
            },
            "demo": {
                "type": "object", "additionalProperties": False,
                "description": "Demo data for `lowrise seed`.",
                "properties": {"counts": {
                    "type": "object", "propertyNames": REF_NAME,
                    "additionalProperties": {"type": "integer", "minimum": 0},
                    "description": "How many records of each type at --scale 1 (default 50).",
                }, "timers_within": {
                    "type": "string", "pattern": "^([0-9]+[dhm])+$",
                    "description": "Set the timers of time rules on demo records only when "
                    "due at most this long ago (like 1d): the older past of the demo data has "
                    "happened, and would otherwise all fire at the first start. Default: "
                    "every timer, however long ago it was due.",
                }, "org": {
                    "type": "array", "description": "The demo's departments (with `org:`; "
                    "see docs/org.md): each made by name, its people chosen by their "
                    "field values, its head among them.",
                    "items": {"type": "object", "additionalProperties": False,
                              "required": ["name"], "properties": {
                                  "name": {"type": "string", "minLength": 1},
                                  "parent": {"type": "string", "minLength": 1},
                                  "people": {"$ref": "#/$defs/demo_match"},
                                  "head": {"$ref": "#/$defs/demo_match"}}}}},
            },
        },
        "additionalProperties": False,
    }, {**_defs(), **_permissions_schema(), "demo_match": {
        "type": "object", "minProperties": 1, "description": "People whose fields hold "
        "these values (a value or a list of values per field).",
        "additionalProperties": {"anyOf": [{"type": ["string", "number", "boolean"]},
                                           {"type": "array"}]}}})


def _field_defs() -> dict[str, Any]:
    """`field` (any field) and one `field_<type>` per field type, from the registry."""
    types = [t for t in registry.names() if registry.get(t).declarable]
    defs: dict[str, Any] = {}
    branches = []
    for t in types:
        kind = registry.get(t)
        props: dict[str, Any] = {}
        for key, sub in {**COMMON_OPTIONS, **kind.options_schema}.items():
            props[key] = _doc(copy.deepcopy(sub), OPTION_DOCS.get(key, key.replace("_", " ")))
        props["type"] = {"const": t, "description": OPTION_DOCS["type"]}
        doc = TYPE_DOCS.get(t) or (type(kind).__doc__ or t).strip().splitlines()[0]
        defs[f"field_{t}"] = {"description": f"A {t} field: {doc}.", "type": "object",
                              "properties": props, "additionalProperties": False,
                              **({"required": list(kind.required_options)}
                                 if kind.required_options else {})}
        branches.append({"if": {"properties": {"type": {"const": t}}, "required": ["type"]},
                         "then": {"$ref": f"#/$defs/field_{t}"}})
    defs["field"] = {
        "type": "object",
        "description": "A field: its type, then the options every field takes and the "
                       "type's own options.",
        "required": ["type"],
        "properties": {"type": {"enum": types, "description": OPTION_DOCS["type"],
                                "enumDescriptions": [TYPE_DOCS.get(t, t) for t in types]}},
        "allOf": branches,
    }
    return defs


def record_type_schema() -> dict[str, Any]:
    """The schema of a record type file (schemas/<type>.yaml), built from the field registry."""
    return _schema("record_type", "Lowrise record type (schemas/<type>.yaml)",
                   "One record type: its labels and fields. The file name is the type's name.", {
        "type": "object",
        "required": ["fields"],
        "properties": {
            "label": _doc(dict(REF_LABEL), "The record type's label, like Client."),
            "label_plural": _doc(dict(REF_LABEL), "The label of a list, like Clients."),
            "description": _doc(dict(REF_LABEL), "What these records are."),
            "icon": {"type": "string", "description": "An icon name, like user."},
            "title": _doc(dict(REF_NAME), "The field that names a record "
                          "(default: the first text field)."),
            "search": {"type": "array", "items": REF_NAME, "uniqueItems": True,
                       "description": "Fields the quick search looks in (default: text fields)."},
            "indexes": {
                "type": "array",
                "description": "Indexes over several fields, for filters and sorts no view "
                               "names (migrate makes them): each a list of field names, "
                               "`-name` for descending, like [stage, -amount].",
                "items": {"type": "array", "minItems": 1, "maxItems": 8, "uniqueItems": True,
                          "items": {"type": "string",
                                    "pattern": "^-?[a-z][a-z0-9_]*$"}}},
            "fields": {"type": "object", "minProperties": 1, "propertyNames": REF_NAME,
                       "additionalProperties": {"$ref": "#/$defs/field"},
                       "description": "Field name to definition; the order is the form's order."},
            "locked": {
                "type": "object",
                "description": "Records that become immutable at some values of a select "
                               "field (a signed contract): no update on any write path and "
                               "no delete, but for each value's open fields; the roles in "
                               "`by` may still change them (not the sealed fields), and "
                               "their changes are in the history.",
                "required": ["field", "stages"],
                "properties": {
                    "field": _doc(dict(REF_NAME), "The select field whose value locks."),
                    "stages": {
                        "type": "object", "minProperties": 1,
                        "description": "Value of the field to what stays writable there.",
                        "additionalProperties": {
                            "type": ["object", "null"],
                            "properties": {
                                "open": _names("Fields anyone allowed may still change "
                                               "(the way on, like archiving)."),
                                "sealed": _names("Fields nobody changes, not even the roles "
                                                 "in `by`."),
                            },
                            "additionalProperties": False}},
                    "by": {"type": "array", "items": REF_NAME, "minItems": 1,
                           "description": "Roles that may still change a locked record."},
                },
                "additionalProperties": False},
        },
        "additionalProperties": False,
    }, {**_defs(), **_field_defs()})


def _names(text: str) -> dict[str, Any]:
    return {"type": "array", "items": REF_NAME, "minItems": 1, "description": text}


WIDGET_KINDS = ("kpi", "bar", "line", "pie", "donut", "funnel", "leaderboard", "pivot", "list")
DATE_RANGES = ("last_7_days", "last_30_days", "last_90_days", "this_month", "last_month",
               "this_quarter", "this_year", "last_365_days", "all")
GROUP_PATTERN = f"^{_NAME}(\\.{_NAME})?(:(day|week|month|year))?$"
MEASURE_PATTERN = f"^(count|(sum|avg|min|max):{_NAME})$"

VIEW_OPTIONS: dict[str, dict[str, Any]] = {
    "table": {
        "columns": _names("The fields shown, in order."),
        "sort": {"type": "array", "items": {"type": "string", "pattern": SORT_PATTERN},
                 "description": "Sort keys: field, or -field for descending."},
        "filter": _doc(dict(REF_FILTER), "Which records the view shows."),
        "group_by": _doc(dict(REF_NAME), "A select, link or user field to group rows by."),
        "page_size": {"type": "integer", "minimum": 1, "maximum": 500,
                      "description": "Rows a page."},
        "share": SHARE,
    },
    "form": {
        "sections": {"type": "array", "minItems": 1, "description": "The form's sections.",
                     "items": {"type": "object", "required": ["fields"],
                               "additionalProperties": False, "properties": {
                                   "label": _doc(dict(REF_LABEL), "The section's title."),
                                   "columns": {"enum": [1, 2], "description": "1 or 2."},
                                   "fields": _names("The fields of the section.")}}},
        "public": PUBLIC_FORM,
    },
    "kanban": {
        "group_by": _doc(dict(REF_NAME), "The select field whose options are the columns."),
        "card_fields": _names("The fields shown on a card."),
        "card_title": _doc(dict(REF_NAME), "The field a card is titled by (a link field: the "
                           "linked record's title); the record's title by default."),
        "sum": _doc(dict(REF_NAME), "A number field summed under each column."),
        "sort": {"type": "array", "items": {"type": "string", "pattern": SORT_PATTERN},
                 "description": "Sort keys: field, or -field for descending."},
        "filter": _doc(dict(REF_FILTER), "Which records the board shows."),
        "share": SHARE,
    },
    "calendar": {
        "date_field": _doc(dict(REF_NAME), "The date or datetime field placing a record."),
        "end_field": _doc(dict(REF_NAME), "A date or datetime field where an entry ends."),
        "title_field": _doc(dict(REF_NAME), "The field shown on an entry."),
        "filter": _doc(dict(REF_FILTER), "Which records the calendar shows."),
        "share": SHARE,
        "feed": FEED,
    },
    "dashboard": {
        "widgets": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/widget"},
                    "description": "The dashboard's figures, charts and tables, in order "
                                   "(see docs/dashboards.md)."},
        "date_range": {"type": "object", "additionalProperties": False,
                       "description": "The date range every widget with a date_field follows.",
                       "properties": {"default": {"enum": list(DATE_RANGES),
                                                  "description": "The range a page opens with "
                                                                 "(default all)."}}},
        "filters": {"type": "array", "description": "Dashboard-wide filters, each a value that "
                    "narrows every widget whose record type it maps to a field.",
                    "items": {"type": "object", "required": ["name", "fields"],
                              "additionalProperties": False, "properties": {
                                  "name": _doc(dict(REF_NAME), "The filter's name (in the URL)."),
                                  "label": _doc(dict(REF_LABEL), "The filter's label."),
                                  "fields": {"type": "object", "minProperties": 1,
                                             "propertyNames": REF_NAME,
                                             "additionalProperties": REF_NAME,
                                             "description": "record type: the field of that "
                                                            "type the value applies to."}}}},
    },
}


def _widget_defs() -> dict[str, Any]:
    """`widget`: one dashboard widget, its options depending on its type."""
    group = {"type": "string", "pattern": GROUP_PATTERN,
             "description": "A select, link, user or boolean field, a field of a linked record "
                            "(client.source), or a date bucket (opened_on:month)."}
    measure = {"description": "count, sum:field, avg:field, min:field or max:field; or "
                              "{name, label, measure, filter}, or {name, label, ratio: [a, b]}.",
               "anyOf": [{"type": "string", "pattern": MEASURE_PATTERN},
                         {"type": "object", "additionalProperties": False, "properties": {
                             "name": REF_NAME, "label": REF_LABEL,
                             "measure": {"type": "string", "pattern": MEASURE_PATTERN},
                             "filter": REF_FILTER,
                             "ratio": {"type": "array", "items": REF_NAME, "minItems": 2,
                                       "maxItems": 2}}}]}
    defs = {"widget_group": group, "widget_measure": measure}
    group, measure = {"$ref": "#/$defs/widget_group"}, {"$ref": "#/$defs/widget_measure"}
    measures = {"measure": measure,
                "measures": {"type": "array", "minItems": 1, "items": measure,
                             "description": "Several measures (columns, or bars side by side)."}}
    sort = {"type": "string", "pattern": SORT_PATTERN,
            "description": "A measure's name or the group (-name: descending)."}
    limit = {"type": "integer", "minimum": 1, "maximum": 200, "description": "Most groups shown."}
    common = {
        "name": _doc(dict(REF_NAME), "The widget's name (default w1, w2...)."),
        "type": {"enum": list(WIDGET_KINDS), "description": "kpi, bar, line, pie, donut, "
                 "funnel, leaderboard, pivot or list."},
        "title": _doc(dict(REF_LABEL), "The widget's title."),
        "description": _doc(dict(REF_LABEL), "A line under the title."),
        "record_type": _doc(dict(REF_NAME), "The record type it counts."),
        "filter": _doc(dict(REF_FILTER), "Which records it counts."),
        "date_field": _doc(dict(REF_NAME), "The date or datetime field the dashboard's date "
                           "range applies to (none: the widget ignores the range)."),
        "view": _doc(dict(REF_NAME), "The table view clicks open (its filter applies here too; "
                     "default: the type's default table view)."),
        "size": {"enum": ["small", "narrow", "medium", "large", "full"],
                 "description": "How wide it is: small (a sixth of the page), narrow (a third), "
                                "medium (a half), large (two thirds) or full."},
    }
    own: dict[str, dict[str, Any]] = {
        "kpi": {**measures, "value": _doc(dict(REF_NAME), "The measure shown (default: the "
                                         "last)."),
                "compare": {"type": "boolean", "description": "Show the change against the "
                            "period before (default true)."},
                "good": {"enum": ["up", "down"], "description": "Which way is good news."}},
        "bar": {"group_by": group, "series": group, **measures, "sort": sort, "limit": limit,
                "stacked": {"type": "boolean", "description": "Stack the series."},
                "horizontal": {"type": "boolean", "description": "Bars across."}},
        "line": {"group_by": group, "series": group, **measures, "sort": sort, "limit": limit},
        "pie": {"group_by": group, **measures, "sort": sort, "limit": limit},
        "funnel": {"group_by": _doc(dict(group), "The select field whose options are the "
                                    "steps."), "measure": measure,
                   "steps": {"type": "array", "minItems": 2, "items": {"type": "string"},
                             "description": "The options that are steps, in order (default "
                                            "all)."},
                   "cumulative": {"type": "boolean", "description": "A step counts every "
                                  "record at it or further on (default true)."}},
        "leaderboard": {"group_by": group, **measures, "sort": sort, "limit": limit,
                        "show": {"type": "array", "items": REF_NAME, "description": "Fields "
                                 "of the grouped records shown too (a consultant's rating)."}},
        "pivot": {"rows": _doc(dict(group), "The rows' grouping."),
                  "columns": _doc(dict(group), "The columns' grouping."), "measure": measure},
        "list": {"columns": _names("The fields shown."),
                 "sort": {"type": "array", "items": {"type": "string", "pattern": SORT_PATTERN},
                          "description": "Sort keys: field, or -field for descending."},
                 "limit": limit},
    }
    own["donut"] = own["pie"]
    required = {"funnel": ["group_by"], "bar": ["group_by"], "line": ["group_by"],
                "pie": ["group_by"], "donut": ["group_by"], "leaderboard": ["group_by"],
                "pivot": ["rows", "columns"]}
    branches = [{"if": {"properties": {"type": {"const": k}}, "required": ["type"]},
                 "then": {"properties": {**common, **own[k]}, "additionalProperties": False,
                          "required": required.get(k, [])}} for k in WIDGET_KINDS]
    return {**defs, "widget": {"type": "object", "required": ["type", "record_type"],
                               "description": "One widget of a dashboard.",
                               "properties": common, "allOf": branches}}


def view_schema() -> dict[str, Any]:
    """The schema of a view file (views/<view>.yaml)."""
    common = {
        "type": {"enum": list(VIEW_TYPES), "description": "The kind of view."},
        "record_type": _doc(dict(REF_NAME), "The record type the view shows."),
        "label": _doc(dict(REF_LABEL), "The view's label."),
        "description": _doc(dict(REF_LABEL), "What the view is for."),
        "default": {"type": "boolean", "description": "The type's default view of this kind."},
    }
    branches = [
        {"if": {"properties": {"type": {"const": t}}, "required": ["type"]},
         "then": {"properties": {**common, **VIEW_OPTIONS[t]}, "additionalProperties": False,
                  **({} if t == "dashboard" else {"required": ["record_type"]})}}
        for t in VIEW_TYPES
    ]
    return _schema("view", "Lowrise view (views/<view>.yaml)",
                   "A table, form, kanban board, calendar or dashboard. The file name is the "
                   "view's name.",
                   {"type": "object", "required": ["type"], "properties": common,
                    "allOf": branches}, {**_defs(), **_widget_defs()})


def automation_schema() -> dict[str, Any]:
    """The schema of an automation rule (automations/<rule>.yaml): see automation_schema.py."""
    from .automation_schema import automation_schema as build

    return build()


DOCUMENT_FORMATS = ("docx", "pdf", "html")
TEMPLATE_PATTERN = r"^[^/\\].*\.(docx|html?)$"


def document_schema() -> dict[str, Any]:
    """The schema of a document template (documents/<name>.yaml); see docs/documents.md."""
    related = {
        "type": "object", "required": ["record_type", "link"], "additionalProperties": False,
        "description": "Records of another type whose link points at the document's record.",
        "properties": {
            "record_type": _doc(dict(REF_NAME), "The type of the related records."),
            "link": _doc(dict(REF_NAME), "Its link field that points at the record."),
            "sort": {"type": "array", "items": {"type": "string", "pattern": SORT_PATTERN},
                     "description": "Their order: field names, -name for descending."},
            "filter": _doc(dict(REF_FILTER), "Only the related records that match."),
            "limit": {"type": "integer", "minimum": 1, "maximum": 1000,
                      "description": "At most this many (default 200)."},
        },
    }
    return _schema("document", "Lowrise document template (documents/<name>.yaml)",
                   "A DOCX or HTML template filled from one record into a file stored on it. "
                   "The file name is the document's name.", {
        "type": "object",
        "required": ["record_type", "template", "attach_to"],
        "properties": {
            "label": _doc(dict(REF_LABEL), "The document's label, like Sale contract."),
            "description": _doc(dict(REF_LABEL), "What the document is for."),
            "record_type": _doc(dict(REF_NAME), "The record type it is filled from."),
            "template": {"type": "string", "pattern": TEMPLATE_PATTERN,
                         "description": "The template file, relative to documents/: a .docx "
                         "(Jinja placeholders inside Word) or an .html page (made a PDF)."},
            "formats": {"type": "array", "items": {"enum": list(DOCUMENT_FORMATS)},
                        "minItems": 1, "uniqueItems": True,
                        "description": "What to make: docx from a .docx; pdf and/or html from "
                        "an .html (default: docx, or pdf)."},
            "attach_to": _doc(dict(REF_NAME), "The attachment field the files are stored in."),
            "file_name": {"type": "string", "minLength": 1,
                          "description": "The file's name without extension; placeholders "
                          "allowed, like {{ contract_no }} 买卖合同."},
            "roles": {"type": "array", "items": REF_NAME, "uniqueItems": True,
                      "description": "Roles that may generate it (default: whoever may "
                      "update the record)."},
            "when": _doc(dict(REF_FILTER), "Offered only for records that match."),
            "locked_when": _doc(dict(REF_FILTER), "Records that match may not have it "
                                "generated (again), like approved contracts."),
            "locale": {"type": "string", "pattern": LOCALE_PATTERN,
                       "description": "The language of labels and dates in it (default: the "
                       "workspace's default locale)."},
            "related": {"type": "object", "propertyNames": REF_NAME,
                        "additionalProperties": related,
                        "description": "Lists of related records the template loops over, "
                        "by the name it uses."},
            "constants": {"type": "object", "propertyNames": REF_NAME,
                          "description": "Fixed values the template uses by name (the "
                          "seller's name, an address)."},
        },
        "additionalProperties": False,
    }, _defs())


BUILDERS = {"workspace": workspace_schema, "record_type": record_type_schema,
            "view": view_schema, "automation": automation_schema, "document": document_schema,
            "approval": lambda: approval_schema()}


def approval_schema() -> dict[str, Any]:
    """The schema of an approval chain (approvals/<name>.yaml): see approval_schema.py."""
    from .approval_schema import approval_schema as build

    return build()


def schema_for(kind: str) -> dict[str, Any]:
    """The schema of one kind of file: workspace, record_type, view, automation or document."""
    return BUILDERS[kind]()


def schema_text(kind: str) -> str:
    """The shipped JSON text of one schema (stable, two-space indent, trailing newline)."""
    return json.dumps(schema_for(kind), indent=2, ensure_ascii=False) + "\n"


def write_schemas(folder: str | Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema as <kind>.schema.json into `folder`; returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in KINDS:
        target = folder / f"{kind}.schema.json"
        target.write_text(schema_text(kind), encoding="utf-8")
        written.append(target)
    return written


# ----- the words the loader uses for what a schema refuses -----

TYPE_WORDS = {"boolean": "true or false", "array": "a list", "string": "text",
              "integer": "a whole number", "number": "a number", "null": "empty",
              "object": "a mapping (name: value lines)"}
PATTERN_WORDS = {
    NAME_PATTERN: "is not a valid name: use lower case letters, digits and _ , starting with "
                  "a letter",
    "^[a-z0-9][a-z0-9_]{0,62}$": "is not a valid option value: use lower case letters, "
                                 "digits and _",
    LOCALE_PATTERN: "is not a locale code, like en, zh or zh_CN",
    PATH_PATTERN: "is not a field name, or a path through a link like client.source",
    FORM_PATH: "is not a field name, or a field of a linked record like client.phone",
    SORT_PATTERN: "is not a sort key: write a field name, or -name for descending",
    GROUP_PATTERN: "is not a grouping: write a field, link.field, or a date field with a "
                   "bucket like opened_on:month",
    MEASURE_PATTERN: "is not a measure: write count, or sum:, avg:, min: or max: and a field, "
                     "like sum:amount",
    "^[A-Z]{3}$": "is not a currency code: use three capital letters, like CNY",
    TEMPLATE_PATTERN: "is not a template file: name a .docx or .html file in documents/",
    r".*\{0+\}.*": "has no counter: add one like {0000}, as in CT-{YYYY}-{0000}",
}
ENUM_NOUNS = {"op": "an operator", "color": "a colour", "result": "a formula result type",
              "on_delete": "a choice of on_delete", "unit": "a unit"}
REQUIRED_HINTS = {
    "target": "the record type it points at",
    "options": "the list of choices",
    "expression": "what it computes, like amount * 0.03",
    "trigger": "what starts the rule",
    "actions": "what the rule does",
    "value": "the option's value, a name",
    "op": "the operator, like eq",
    "field": "the field it tests",
}


if __name__ == "__main__":
    for path in write_schemas(sys.argv[1] if len(sys.argv) > 1 else SCHEMA_DIR):
        print(path)
