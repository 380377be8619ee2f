"""The REST API's contract, generated from the workspace: an OpenAPI 3.1 document.

No Flask here. The same JSON Schemas serve the document at `/api/v1/openapi.json`, the docs
page, and the check of every request body the API receives (`check_body`). Each field type
describes its own JSON values (`FieldType.json_schema`), only as strictly as its parser reads
them; the check of a body holds it to its shape (an object, known fields, a bulk call's
parts), and every field's value is judged by the field type's parser, as a form's and an
import's are, so the three accept and refuse the same values in the same words.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from lowrise.actor import SYSTEM
from lowrise.fields.file import DEFAULT_MAX_SIZE
from lowrise.i18n import msg
from lowrise.storage.values import parse_values
from lowrise.workspace.model import Field, RecordType, Workspace

API_PREFIX = "/api/v1"
MAX_BULK = 1000
MAX_LIMIT = 1000
DEFAULT_LIMIT = 50
PROBLEM = "application/problem+json"

#: problem types: the `type` of every problem document is API_PREFIX + "/problems#" + key
PROBLEM_TYPES = {  # messages: the reference page shows them in the reader's language
    "bad-request": msg("The request is malformed (a query parameter, the JSON body)."),
    "unauthorized": msg("No valid API token (`Authorization: Bearer ...`) and no signed-in "
                        "session."),
    "forbidden": msg("The token's user may not do this."),
    "not-found": msg("No such record type or record (it may be in the trash)."),
    "validation": msg("Some values were refused; `errors` lists each field with the reason."),
    "bulk-validation": msg("Some records of a bulk call were refused; nothing was written; "
                           "`errors` lists each record (`index`) and field."),
    "conflict": msg("The record changed since it was read (`If-Match` did not match its "
                    "version); `current_version` is the version now stored."),
    "too-large": msg("The request is larger than the server accepts (an upload over its "
                     "limit)."),
    "unavailable": msg("The database is unavailable or busy right now; try again after the "
                       "seconds in `Retry-After`."),
    "server-error": msg("The server failed to answer (the error is in its log)."),
}

_NULL = {"type": "null"}


def component_name(type_name: str) -> str:
    """`follow_up` → `FollowUp`: the schema name of a record type."""
    return "".join(p.capitalize() for p in type_name.split("_"))


#: names a generated client (openapi-python-client) gives its own classes: a record schema
#: of that name would shadow them in the generated code
RESERVED = {"Client", "AuthenticatedClient", "Response", "Errors", "Types", "Unset", "File"}


def record_name(type_name: str) -> str:
    """The schema name of a record as returned: the type's (`Case`), or with `Record` after
    it where that name is a generated client's own class (`client` → `ClientRecord`)."""
    comp = component_name(type_name)
    return comp + "Record" if comp in RESERVED else comp


def enum_name(rt_name: str, f: Field) -> str:
    """`client`, `source` → `ClientSource`: the shared schema of a select field's options."""
    return component_name(rt_name) + component_name(f.name)


def _option_ref(f: Field, schema: dict[str, Any], owner: str | None) -> dict[str, Any]:
    """A select field's options as a reference to the one shared enum of that field (the
    record, input, patch and bulk schemas all point at it, so that a generated client has
    one enum per field, named after the type and the field)."""
    if owner is None or not f.kind.has_options or f.kind.derived:
        return schema
    ref = {"$ref": f"#/components/schemas/{enum_name(owner, f)}"}

    def swap(node: Any) -> Any:
        if isinstance(node, dict):
            if "enum" in node and node.get("enum") == [o.value for o in f.options]:
                return ref
            return {k: swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        return node
    return swap(schema)


def writable(f: Field) -> bool:
    """Whether the API accepts a value for this field (not system, computed or a file). A
    `read_only` field is accepted only as sent back unchanged: it is `readOnly` in the
    schemas, and the engine refuses a change of it by anyone but the system."""
    return not (f.system or f.kind.generated or f.kind.stores_files)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    if "type" in schema:
        t = schema["type"]
        return {**schema, "type": [*(t if isinstance(t, list) else [t]), "null"]}
    return {"anyOf": [schema, _NULL]}


def value_schema(f: Field, *, writing: bool) -> dict[str, Any]:
    """The JSON Schema of one field's value (without null) as the API reads or writes it: the
    field type's own (`FieldType.json_schema`), never stricter than its parser."""
    return f.kind.json_schema(f, writing)


def field_schema(f: Field, *, writing: bool, expandable: bool = False,
                 owner: str | None = None) -> dict[str, Any]:
    """A field's property schema: its value or null, with its label in the description (a
    title would name a generated client's classes after a label, which changes with the
    language); the options of a select field of `owner` (a record type) as a reference."""
    schema = _option_ref(f, value_schema(f, writing=writing), owner)
    if expandable and f.kind.links and f.target:
        schema = {"anyOf": [schema, {"$ref": f"#/components/schemas/{record_name(f.target)}"}],
                  "description": f"the id of a {f.target} record, or the record itself when "
                                 f"expanded (?expand={f.name})"}
    if not (writing and f.required):
        schema = {"anyOf": [schema, _NULL]} if "$ref" in schema else _nullable(schema)
    label = str(f.label)
    schema = {**schema, "description": (label + (": " + schema["description"]
                                                  if schema.get("description") else ""))}
    if f.help:
        schema["description"] = (schema.get("description", "") + " " + str(f.help)).strip()
    if f.read_only or (not writing and (f.system or f.kind.generated)):
        schema["readOnly"] = True
    return schema


def record_schema(rt: RecordType) -> dict[str, Any]:
    """A record as the API returns it."""
    return {
        "type": "object", "title": record_name(rt.name), "description": str(rt.label),
        "properties": {f.name: field_schema(f, writing=False, expandable=True, owner=rt.name)
                       for f in rt.fields.values()},
        "required": ["id", "version"],
        "additionalProperties": False,
    }


def input_schema(rt: RecordType, *, patch: bool) -> dict[str, Any]:
    """A request body creating (patch=False) or changing (patch=True) a record."""
    fields = [f for f in rt.user_fields if writable(f)]
    out: dict[str, Any] = {
        "type": "object",
        "properties": {f.name: field_schema(f, writing=True, owner=rt.name) for f in fields},
        "additionalProperties": False,
    }
    required = [f.name for f in fields if f.required and f.default is None and not f.read_only]
    if required and not patch:
        out["required"] = required
    return out


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object", "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"},
            "status": {"type": "integer"}, "detail": {"type": "string"},
            "instance": {"type": "string"},
            "current_version": {"type": ["integer", "null"]},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldProblem"}},
        },
    }


def _field_problem_schema() -> dict[str, Any]:
    return {
        "type": "object", "required": ["detail"],
        "properties": {
            "field": {"type": "string", "description": "the field; empty for the whole record"},
            "index": {"type": "integer", "description": "the record's position in a bulk call"},
            "pointer": {"type": "string", "description": "a JSON Pointer into the request body"},
            "detail": {"type": "string"},
        },
    }


def _problems(*codes: int) -> dict[str, Any]:
    words = {400: "Bad request", 401: "Not authenticated", 403: "Not allowed",
             404: "Not found", 412: "The record changed (If-Match did not match)",
             413: "The request is too large", 415: "The body is not of the expected type",
             422: "Values refused"}
    ref = {"$ref": "#/components/schemas/Problem"}
    return {str(c): {"description": words[c], "content": {PROBLEM: {"schema": ref}}}
            for c in codes}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _param(name: str, where: str, schema: dict[str, Any], text: str,
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "description": text,
            "schema": schema}


ETAG = {"ETag": {"description": "the record's version, quoted: send it back as If-Match",
                 "schema": {"type": "string"}}}


def _paths_for(rt: RecordType) -> dict[str, Any]:
    name, comp = rt.name, component_name(rt.name)
    ref = {"$ref": f"#/components/schemas/{record_name(rt.name)}"}
    links = [f.name for f in rt.fields.values() if f.kind.links and f.target]
    fields_list = ", ".join(rt.fields)
    sortable = [n for n, f in rt.fields.items() if f.kind.sortable]
    def names_pattern(names: list[str], desc: bool = False) -> dict[str, Any]:
        one = ("-?" if desc else "") + "(?:" + "|".join(names) + ")"
        return {"type": "string", "pattern": f"^(?:{one}(?:,{one})*)?$"} if names else \
            {"type": "string", "maxLength": 0}

    list_params = [
        _param("filter", "query", {"type": "string"},
               "a filter in the filter language, as JSON, e.g. "
               '{"all": [{"field": "...", "op": "eq", "value": "..."}]}'),
        _param("sort", "query", names_pattern(sortable, desc=True),
               f"comma-separated fields, `-` for descending; sortable: {', '.join(sortable)}"),
        _param("fields", "query", names_pattern(list(rt.fields)),
               f"comma-separated fields to return (id and version always come): {fields_list}"),
        _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                  "default": DEFAULT_LIMIT}, "records per page"),
        _param("after", "query", {"type": "string"}, "the `next` cursor of the previous page"),
        _param("offset", "query", {"type": "integer", "minimum": 0, "maximum": 10_000},
               "skip this many matching records (a small jump; not with `after`)"),
        _param("q", "query", {"type": "string"}, "quick search in the type's search fields"),
        _param("count", "query", {"type": "boolean", "default": True},
               "include `total`, the number of matching records"),
    ]
    expand = _param("expand", "query", names_pattern(links),
                    f"comma-separated link fields to return as records: {', '.join(links)}"
                    if links else "no link fields to expand")
    id_param = _param("id", "path", {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                      "the record's id", required=True)
    if_match = _param("If-Match", "header", {"type": "string"},
                      "the version the change is based on (the ETag of a read); a stale one "
                      "is refused with 412 and nothing changes")
    page = {"$ref": f"#/components/schemas/{comp}Page"}
    tag = [name]
    return {
        f"{API_PREFIX}/{name}": {
            "get": {"operationId": f"list_{name}", "tags": tag,
                    "summary": f"List {rt.label_plural}",
                    "parameters": [*list_params, expand],
                    "responses": {"200": {"description": "one page", "content": _json(page)},
                                  **_problems(400, 401, 403)}},
            "post": {"operationId": f"create_{name}", "tags": tag,
                     "summary": f"Create a {rt.label}",
                     "requestBody": {"required": True, "content": _json(
                         {"$ref": f"#/components/schemas/{comp}Input"})},
                     "responses": {"201": {"description": "created", "content": _json(ref),
                                           "headers": {**ETAG, "Location": {
                                               "description": "the new record's URL",
                                               "schema": {"type": "string"}}}},
                                   **_problems(400, 401, 403, 415, 422)}},
        },
        f"{API_PREFIX}/{name}/{{id}}": {
            "parameters": [id_param],
            "get": {"operationId": f"get_{name}", "tags": tag, "summary": f"A {rt.label}",
                    "parameters": [expand, list_params[2]],
                    "responses": {"200": {"description": "the record", "content": _json(ref),
                                          "headers": ETAG},
                                  **_problems(400, 401, 403, 404)}},
            "patch": {"operationId": f"update_{name}", "tags": tag,
                      "summary": f"Change some fields of a {rt.label}",
                      "parameters": [if_match],
                      "requestBody": {"required": True, "content": _json(
                          {"$ref": f"#/components/schemas/{comp}Patch"})},
                      "responses": {"200": {"description": "the record as stored",
                                            "content": _json(ref), "headers": ETAG},
                                    **_problems(400, 401, 403, 404, 412, 415, 422)}},
            "delete": {"operationId": f"delete_{name}", "tags": tag,
                       "summary": f"Move a {rt.label} to the trash",
                       "parameters": [if_match],
                       "responses": {"204": {"description": "deleted (restorable from the trash)"},
                                     **_problems(400, 401, 403, 404, 412, 422)}},
        },
        f"{API_PREFIX}/{name}/aggregate": {
            "get": {"operationId": f"aggregate_{name}", "tags": tag,
                    "summary": f"Count, sum, average, minimum and maximum of {rt.label_plural} "
                               "per group",
                    "parameters": [
                        _param("group_by", "query", {"type": "string"},
                               "comma-separated groups: fields, date buckets (field:day, "
                               ":week, :month, :year) or a linked record's field (link.field)"),
                        _param("measures", "query", {"type": "string", "default": "count"},
                               "comma-separated: count, sum:field, avg:field, min:field, "
                               "max:field"),
                        list_params[0], list_params[6]],
                    "responses": {"200": {"description": "one row per group", "content": _json(
                        {"$ref": "#/components/schemas/AggregateResult"})},
                                  **_problems(400, 401, 403)}},
        },
        f"{API_PREFIX}/{name}/export": {
            "get": {"operationId": f"export_{name}", "tags": tag,
                    "summary": f"Export {rt.label_plural} as CSV or Excel (needs the export "
                               "permission; confidential fields as the role may export "
                               "them; every export is logged)",
                    "parameters": [
                        _param("format", "query", {"enum": ["csv", "xlsx"], "default": "csv"},
                               "csv (UTF-8 with a BOM) or xlsx"),
                        list_params[0], list_params[1], list_params[2], list_params[6]],
                    "responses": {"200": {"description": "the file", "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                            {"schema": {"type": "string", "format": "binary"}}}},
                                  **_problems(400, 401, 403)}},
        },
        f"{API_PREFIX}/{name}/bulk": {
            "post": {"operationId": f"bulk_{name}", "tags": tag,
                     "summary": f"Create, update or upsert up to {MAX_BULK} {rt.label_plural} "
                                "at once, all or nothing",
                     "requestBody": {"required": True, "content": _json(
                         {"$ref": f"#/components/schemas/{comp}Bulk"})},
                     "responses": {"200": {"description": "every record as stored, in order",
                                           "content": _json({"$ref": "#/components/schemas/"
                                                             f"{comp}BulkResult"})},
                                   **_problems(400, 401, 403, 415, 422)}},
        },
    }


def file_fields(rt: RecordType) -> list[str]:
    """The attachment fields of a type: their files have operations of their own."""
    return [f.name for f in rt.user_fields if f.kind.stores_files]


def _file_paths_for(rt: RecordType) -> dict[str, Any]:
    """Upload (add, replace), download and remove the files of an attachment field."""
    names = file_fields(rt)
    if not names:
        return {}
    name = rt.name
    ref = {"$ref": f"#/components/schemas/{record_name(rt.name)}"}
    limits = "; ".join(
        f"{n}: {'several files' if rt.fields[n].config.get('multiple') else 'one file'}, "
        f"at most {int(rt.fields[n].config.get('max_size', DEFAULT_MAX_SIZE))} bytes each"
        + (f", {', '.join(rt.fields[n].config['accept'])}" if rt.fields[n].config.get("accept")
           else "") for n in names)
    params = [
        _param("id", "path", {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
               "the record's id", required=True),
        _param("field", "path", {"enum": names}, f"the attachment field ({limits})",
               required=True),
    ]
    if_match = _param("If-Match", "header", {"type": "string"},
                      "the version the change is based on (the ETag of a read)")
    upload = {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["file"],
                   "properties": {"file": {"type": "string", "format": "binary",
                                           "description": "the file (repeat the part to "
                                                          "send several)"}}},
        "encoding": {"file": {"contentType": "application/octet-stream"}}}}}
    stored = {"200": {"description": "the record as stored, with the field's files",
                      "content": _json(ref), "headers": ETAG},
              **_problems(400, 401, 403, 404, 412, 413, 415, 422)}
    tag = [name]
    return {
        f"{API_PREFIX}/{name}/{{id}}/files/{{field}}": {
            "parameters": params,
            "post": {"operationId": f"add_{name}_files", "tags": tag,
                     "summary": f"Upload a file to a {rt.label} (added to the field's files; "
                                "a field of one file: in place of it)",
                     "parameters": [if_match], "requestBody": upload, "responses": stored},
            "put": {"operationId": f"replace_{name}_files", "tags": tag,
                    "summary": f"Replace the files of a {rt.label}'s field by the upload",
                    "parameters": [if_match], "requestBody": upload, "responses": stored},
        },
        f"{API_PREFIX}/{name}/{{id}}/files/{{field}}/{{key}}": {
            "parameters": [*params, _param("key", "path", {"type": "string"},
                                           "the file's key (from the record)", required=True)],
            "get": {"operationId": f"download_{name}_file", "tags": tag,
                    "summary": f"Download a file of a {rt.label}",
                    "responses": {"200": {"description": "the file, as an attachment",
                                          "content": {"application/octet-stream": {"schema": {
                                              "type": "string", "format": "binary"}}}},
                                  **_problems(400, 401, 403, 404)}},
            "delete": {"operationId": f"remove_{name}_file", "tags": tag,
                       "summary": f"Remove a file from a {rt.label}",
                       "parameters": [if_match],
                       "responses": {k: v for k, v in stored.items()
                                     if k not in ("413", "415")}},
        },
    }


def _components_for(rt: RecordType) -> dict[str, Any]:
    comp = component_name(rt.name)
    ref = {"$ref": f"#/components/schemas/{record_name(rt.name)}"}
    keys = ["id", *(f.name for f in rt.user_fields if f.unique and writable(f))]
    update_item = {**input_schema(rt, patch=True)}
    update_item["properties"] = {
        **update_item["properties"],
        "id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        "version": {"type": "integer", "minimum": 1,
                    "description": "update: the version the change is based on (as If-Match)"}}
    enums = {enum_name(rt.name, f): {"type": "string", "enum": [o.value for o in f.options],
                                     "description": ", ".join(f"{o.value}: {o.label}"
                                                              for o in f.options)}
             for f in rt.fields.values()
             if f.kind.has_options and not f.kind.derived and f.options}
    return {
        **enums,
        record_name(rt.name): record_schema(rt),
        f"{comp}Input": input_schema(rt, patch=False),
        f"{comp}Patch": input_schema(rt, patch=True),
        f"{comp}Page": {
            "type": "object", "required": ["data", "next"],
            "properties": {"data": {"type": "array", "items": ref},
                           "next": {"type": ["string", "null"],
                                    "description": "pass as `after` for the next page"},
                           "total": {"type": "integer"}},
        },
        f"{comp}Bulk": {
            "type": "object", "required": ["records"], "additionalProperties": False,
            "properties": {
                "op": {"enum": ["create", "update", "upsert"], "default": "create"},
                "key": {"enum": keys, "default": "id",
                        "description": "update and upsert: the field that finds the record"},
                "run_automations": {"type": "boolean", "default": True},
                "records": {"type": "array", "maxItems": MAX_BULK, "items": update_item},
            },
        },
        f"{comp}BulkResult": {
            "type": "object", "required": ["data"],
            "properties": {"data": {"type": "array", "items": ref},
                           "created": {"type": "integer"}, "updated": {"type": "integer"}},
        },
    }


def _aggregate_schema() -> dict[str, Any]:
    return {
        "type": "object", "required": ["group_by", "measures", "data"],
        "properties": {
            "group_by": {"type": "array", "items": {"type": "string"}},
            "measures": {"type": "array", "items": {"type": "string"}},
            "data": {"type": "array", "description": "one object per group: each group spec "
                     "and each measure spec as a key (money and averages as exact text)",
                     "items": {"type": "object"}},
        },
    }


def api_title(ws: Workspace) -> str:
    """The document's title in ASCII letters, whatever the labels' language (a generated
    client's package is named after it): the workspace's English label, else a fixed one
    (never the folder's name, which differs from clone to clone)."""
    text = ws.label.texts.get("en") or ws.label.texts.get("")
    words = re.sub(r"[^A-Za-z0-9]+", " ", text or "").strip()
    return f"{words} API" if words and text.isascii() else "Lowrise workspace API"


def document(ws: Workspace, *, server: str = "/") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the workspace's REST API."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Problem": _problem_schema(),
                               "FieldProblem": _field_problem_schema(),
                               "AggregateResult": _aggregate_schema()}
    for rt in ws.record_types.values():
        paths.update(_paths_for(rt))
        paths.update(_file_paths_for(rt))
        schemas.update(_components_for(rt))
    return {
        "openapi": "3.1.0",
        "info": {"title": api_title(ws), "version": "1",
                 "description": f"{ws.label}. Generated from the workspace. Errors are "
                                "application/problem+json (RFC 9457)."},
        "servers": [{"url": server}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": rt.name, "description": str(rt.label_plural)}
                 for rt in ws.record_types.values()],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "an API token made on the API tokens page (shown once)"}},
        },
    }


# -- checking request bodies against the same schemas ----------------------------------------

_formats = FormatChecker(formats=())


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@_formats.checks("email")
def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(_EMAIL.fullmatch(value.strip()))


@_formats.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or bool(date.fromisoformat(value)) and len(value) == 10


@_formats.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", value):
        return False
    return bool(datetime.fromisoformat(value.replace("Z", "+00:00")))


_VALIDATORS: dict[tuple[int, str, str], tuple[Workspace, Draft202012Validator]] = {}


def _validator(ws: Workspace, type_name: str, kind: str) -> Draft202012Validator:
    # Workspaces are immutable but not hashable: cache by identity, keeping the workspace
    # alive alongside so that its id cannot be reused by another.
    key = (id(ws), type_name, kind)
    hit = _VALIDATORS.get(key)
    if hit is not None and hit[0] is ws:
        return hit[1]
    if len(_VALIDATORS) > 512:
        _VALIDATORS.clear()
    rt = ws.type(type_name)
    if kind == "bulk":
        schema = _components_for(rt)[f"{component_name(type_name)}Bulk"]
        items = schema["properties"]["records"]["items"]
        schema = {**schema, "properties": {**schema["properties"],
                                           "records": {**schema["properties"]["records"],
                                                       "items": _shape(items, rt)}}}
    else:
        schema = _shape(input_schema(rt, patch=kind == "patch"), rt)
    validator = Draft202012Validator(schema, format_checker=_formats)
    _VALIDATORS[key] = (ws, validator)
    return validator


def _shape(schema: dict[str, Any], rt: RecordType) -> dict[str, Any]:
    """A record body's schema as the check holds it: known fields only, each field's value
    left to its type's parser (which also says what is required)."""
    props = {name: ({} if name in rt.fields and not rt.fields[name].system else sub)
             for name, sub in schema["properties"].items()}
    return {k: v for k, v in {**schema, "properties": props}.items() if k != "required"}


def check_body(ws: Workspace, type_name: str, body: Any, kind: str) -> dict[str, str]:
    """Problems of a request body (kind: create, patch or bulk) as {JSON pointer: message}."""
    out: dict[str, str] = {}
    rt = ws.type(type_name)
    for err in _validator(ws, type_name, kind).iter_errors(body):
        path = list(err.absolute_path)
        if err.validator == "required":
            missing = re.findall(r"'([^']+)' is a required property", err.message)
            path.append(missing[0] if missing else "")
            msg = "is required"
        elif err.validator == "additionalProperties":
            extra = re.findall(r"'([^']+)'", err.message)
            for name in extra:
                f = rt.fields.get(name)
                out["/" + "/".join(map(str, [*path, name]))] = (
                    f"is not a field of {rt.label}" if f is None
                    else f"holds files: upload them to {API_PREFIX}/{rt.name}/<id>/files/{name}"
                    if f.kind.stores_files
                    else "is set by the system and cannot be changed")
            continue
        else:
            msg = _message(err)
        out.setdefault("/" + "/".join(map(str, path)), msg)
    if out:  # refused for its shape: say at once what the field types think of its values
        for prefix, record, creating in _records_in(body, kind):
            given = {k: v for k, v in record.items() if k in rt.fields and writable(rt.fields[k])}
            _values, errors = parse_values(rt, given, creating=creating, actor=SYSTEM)
            for name, problem in errors.items():
                out.setdefault(f"{prefix}/{name}", problem)
    return out


def _records_in(body: Any, kind: str) -> list[tuple[str, dict[str, Any], bool]]:
    """(pointer prefix, record, whether it is created) of each record object in a body."""
    if kind != "bulk":
        return [("", body, kind == "create")] if isinstance(body, dict) else []
    records = body.get("records") if isinstance(body, dict) else None
    creating = isinstance(body, dict) and body.get("op", "create") == "create"
    return [(f"/records/{i}", r, creating) for i, r in enumerate(records or [])
            if isinstance(r, dict)] if isinstance(records, list) else []


_WORDS = {"string": "text", "integer": "a whole number", "number": "a number",
          "boolean": "true or false", "array": "a list", "object": "an object", "null": "null"}


def _message(err) -> str:
    v, val, inst = err.validator, err.validator_value, err.instance
    if v == "type":
        want = " or ".join(_WORDS.get(t, t) for t in (val if isinstance(val, list) else [val])
                           if t != "null")
        return f"expected {want}, got {_WORDS.get(_json_kind(inst), 'something else')}"
    if v == "anyOf":
        return f"{inst!r} does not fit: {err.schema.get('description') or 'see the schema'}"[:300]
    if v == "enum":
        allowed = ", ".join(str(x) for x in val if x is not None)
        return f"{inst!r} is not one of the options ({allowed})"[:300]
    if v == "format":
        return f"{inst!r} is not a valid {val}"[:200]
    if v == "pattern":
        return "must not be blank" if val == r"\S" else f"{inst!r} does not match {val}"[:300]
    if v == "maxLength":
        return f"must be at most {val} characters (is {len(inst)})"
    if v == "minLength":
        return "must not be empty" if val == 1 else f"must be at least {val} characters"
    if v in ("minimum", "maximum"):
        return f"must be at {'least' if v == 'minimum' else 'most'} {val}"
    if v == "maxItems":
        return f"at most {val} items in one call"
    return err.message[:300]


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
