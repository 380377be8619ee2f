"""/api/v1/<type>: list, get, create, update (If-Match), delete, bulk.

Request bodies are checked for their shape (an object of known fields) against the schemas
the OpenAPI document publishes, then handed to the engine, whose field types judge every value
as they do a form's and an import's.
"""

from __future__ import annotations

import json as jsonlib
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from flask import Response, g, json, request, url_for

from lowrise import filters
from lowrise.access import Policy
from lowrise.actor import Actor
from lowrise.errors import FilterError, NotFound
from lowrise.openapi import DEFAULT_LIMIT, MAX_LIMIT, check_body
from lowrise.storage import query
from lowrise.storage.upsert import bulk_write
from lowrise.storage.values import to_json_values
from lowrise.workspace.model import RecordType

from ..runtime import rt
from . import bp, field_errors, problem


def _actor() -> Actor:
    return g.actor


def _type(type_name: str) -> RecordType:
    rtype = rt().workspace.record_types.get(type_name)
    if rtype is None:
        raise NotFound(f"there is no record type '{type_name}'")
    return rtype


def _json(data: Any, status: int = 200, **headers: str) -> Response:
    resp = Response(json.dumps(data, ensure_ascii=False), status=status,
                    mimetype="application/json")
    resp.headers.update(headers)
    return resp


def _etag(record: Mapping[str, Any]) -> str:
    return f'"{record["version"]}"'


LIST_PARAMS = ("filter", "sort", "fields", "limit", "after", "q", "count", "expand", "offset")
MAX_OFFSET = query.MAX_OFFSET


def _only(*allowed: str) -> None:
    """Refuse query parameters the operation does not take (a typo is never ignored)."""
    unknown = [k for k in request.args if k not in allowed]
    if unknown:
        takes = f"it takes {', '.join(allowed)}" if allowed else "it takes none"
        raise FilterError(f"unknown query parameter '{unknown[0]}' ({takes})")


def _names(param: str) -> list[str]:
    """A comma-separated list of names, each once (empty: not given)."""
    raw = request.args.get(param) or ""
    if not raw:
        return []
    parts = raw.split(",")
    if any(not p or p != p.strip() for p in parts):
        raise FilterError(f"{param} takes field names separated by commas, like a,b,-c")
    return list(dict.fromkeys(parts))


def _expected_version() -> int | None:
    """The version in If-Match (`"3"`, `W/"3"` or `3`); None when absent or `*`."""
    raw = (request.headers.get("If-Match") or "").strip()
    if not raw or raw == "*":
        return None
    text = raw.removeprefix("W/").strip().strip('"')
    if not text.isdigit() or len(text) > 18:
        return -1  # matches no version: refused with 412
    return int(text)


def _body(kind: str, type_name: str) -> Any:
    """The JSON body, checked against the operation's schema (422 with every problem)."""
    if not request.is_json:
        raise _Abort(problem(415 if request.mimetype else 400, "bad-request", "JSON expected",
                             "send the body as application/json"))
    data = _parse_json(request.get_data(cache=True))
    if data is None:
        raise _Abort(problem(400, "bad-request", "Bad JSON", "the body is not valid JSON"))
    found = check_body(rt().workspace, type_name, data, kind)
    if found:
        raise _Abort(problem(422, "validation", "Values refused",
                             f"{len(found)} value(s) do not fit",
                             errors=[_pointer_error(p, m) for p, m in sorted(found.items())]))
    return data


def _number(text: str) -> float | Decimal:
    """A JSON number with a fraction or an exponent: a float, or, when a float cannot hold it
    (1e-400 would be 0, 1e400 infinite), the exact number, which the field type then refuses
    as it refuses the same number written as text."""
    value = float(text)
    if math.isinf(value) or (value == 0 and Decimal(text) != 0):
        return Decimal(text)
    return value


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (send a number in digits, or as text)")


def loads(raw: str | bytes, what: str = "the body") -> Any:
    """JSON as RFC 8259 has it (NaN and Infinity are not numbers, text is Unicode: an
    escaped lone surrogate such as \\ud800 is refused), or ValueError saying why; nesting
    too deep for the parser is a ValueError too, never a crash."""
    try:
        data = jsonlib.loads(raw, parse_constant=_not_json, parse_float=_number)
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{what} is not valid JSON: {exc}") from None
    try:
        # text that cannot be written as UTF-8 would fail at the database instead
        jsonlib.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} has text that is not valid Unicode (an escaped lone "
                         "surrogate such as \\ud800)") from None
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply") from None
    return data


def _parse_json(raw: bytes) -> Any:
    """The body as JSON (see `loads`), or a 400 problem that says why."""
    try:
        return loads(raw)
    except ValueError as exc:
        raise _Abort(problem(400, "bad-request", "Bad JSON", str(exc))) from None


def _pointer_error(pointer: str, msg: str) -> dict[str, Any]:
    parts = pointer.strip("/").split("/")
    item: dict[str, Any] = {"pointer": pointer, "detail": msg}
    if len(parts) >= 2 and parts[0] == "records" and parts[1].isdigit():
        item["index"] = int(parts[1])
        item["field"] = parts[2] if len(parts) > 2 else ""
    else:
        item["field"] = parts[0] if parts != [""] else ""
    return item


class _Abort(Exception):
    def __init__(self, response: Response):
        self.response = response


@bp.errorhandler(_Abort)
def _abort(exc: _Abort):
    return exc.response


def _engine_values(rtype: RecordType, body: Mapping[str, Any]) -> dict[str, Any]:
    """JSON values as the engine's parsers read them: API durations are whole seconds."""
    out = dict(body)
    for name, value in body.items():
        f = rtype.fields.get(name)
        if f is not None:
            out[name] = f.kind.from_json(f, value)
    return out


def _expand(conn, rtype: RecordType, rows: list[dict[str, Any]], names: list[str]) -> None:
    """Replace the ids of the given link fields by the linked records: one query a field
    for the whole page, through the same read as lists (what the actor may not see of the
    target type stays an id)."""
    run = rt()
    for name in names:
        f = rtype.fields[name]
        target = run.workspace.type(f.target)
        ids = sorted({r[name] for r in rows if isinstance(r.get(name), int)})
        found: dict[int, dict[str, Any]] = {}
        if ids and Policy.for_actor(_actor(), run.workspace).may("read", f.target):
            page = query.list_records(conn, run.schema, f.target, sort=["id"],
                                      filter={"field": "id", "op": "in", "value": ids},
                                      limit=query.MAX_LIMIT, ctx=_actor())
            found = {rec["id"]: rec for rec in page.rows}
        for r in rows:
            rec = found.get(r.get(name))
            if rec is not None:
                r[name] = to_json_values(target, rec)


def _expand_names(rtype: RecordType) -> list[str]:
    names = _names("expand")
    for name in names:
        f = rtype.fields.get(name)
        if f is None or not f.kind.links or not f.target:
            raise FilterError(f"cannot expand '{name}': it is not a link field of {rtype.label}"
                              f"{filters.did_you_mean(name, rtype.fields)}")
    return names


MAX_ID = 2**63 - 1


def _read_one(conn, rtype: RecordType, record_id: int,
              fields: list[str] | None = None) -> dict[str, Any]:
    """One record as the actor may see it (the same read path as lists); only `fields`
    (with id and version) when given."""
    if record_id > MAX_ID:
        raise NotFound(f"{rtype.label} #{record_id} does not exist")
    page = query.list_records(conn, rt().schema, rtype.name,
                              filter={"field": "id", "op": "eq", "value": record_id},
                              sort=["id"], limit=1, ctx=_actor(), fields=fields)
    if not page.rows:
        raise NotFound(f"{rtype.label} #{record_id} does not exist (or is in the trash)")
    return page.rows[0]


@bp.get("/<type_name>")
def list_(type_name: str):
    rtype = _type(type_name)
    _only(*LIST_PARAMS)
    run = rt()
    args = request.args
    flt = None
    if args.get("filter"):
        try:
            data = loads(args["filter"], "the filter")
        except ValueError as exc:
            raise FilterError(str(exc)) from None
        flt = filters.parse(data, rtype, run.workspace)
    limit = args.get("limit", DEFAULT_LIMIT)
    try:
        limit = int(limit)
    except ValueError:
        raise FilterError(f"limit must be a whole number from 1 to {MAX_LIMIT}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise FilterError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    count = (args.get("count") or "true").lower()
    if count not in ("true", "false", "1", "0"):
        raise FilterError("count must be true or false")
    fields = _names("fields") or None
    expand = _expand_names(rtype)
    if fields is not None:
        fields = list(dict.fromkeys([*fields, "version", *expand]))
    sort = _names("sort") or ["id"]
    offset = _offset(args)
    with run.engine.connect() as conn:
        after = args.get("after") or None
        if offset:
            after = query.skip(conn, run.schema, type_name, offset, filter=flt, sort=sort,
                               ctx=_actor(), q=args.get("q") or None)
        page = query.Page([], None) if after == query.PAST_END else query.list_records(
            conn, run.schema, type_name, filter=flt, sort=sort, limit=limit, after=after,
            fields=fields, ctx=_actor(), q=args.get("q") or None)
        rows = [to_json_values(rtype, r) for r in page.rows]
        _expand(conn, rtype, rows, expand)
        body: dict[str, Any] = {"data": rows, "next": page.next_cursor}
        if count in ("true", "1"):
            body["total"] = query.count(conn, run.schema, type_name, flt, _actor(),
                                        q=args.get("q") or None)
    return _json(body)


def _offset(args) -> int:
    raw = args.get("offset")
    if raw is None:
        return 0
    if args.get("after"):
        raise FilterError("give offset or after, not both")
    if not raw.isdigit() or int(raw) > MAX_OFFSET:
        raise FilterError(f"offset must be a whole number from 0 to {MAX_OFFSET:,}; further, "
                          "follow the `next` cursors")
    return int(raw)


@bp.get("/<type_name>/<int:record_id>")
def get(type_name: str, record_id: int):
    rtype = _type(type_name)
    _only("expand", "fields")
    run = rt()
    expand = _expand_names(rtype)
    fields = _names("fields") or None
    if fields is not None:
        fields = list(dict.fromkeys([*fields, "version", *expand]))
    with run.engine.connect() as conn:
        record = _read_one(conn, rtype, record_id, fields)
        row = to_json_values(rtype, record)
        _expand(conn, rtype, [row], expand)
    return _json(row, ETag=_etag(record))


@bp.post("/<type_name>")
def create(type_name: str):
    rtype = _type(type_name)
    _only()
    body = _body("create", type_name)
    record = rt().records.create(type_name, _engine_values(rtype, body), _actor())
    location = url_for("api.get", type_name=type_name, record_id=record["id"])
    return _json(to_json_values(rtype, record), 201, ETag=_etag(record), Location=location)


@bp.patch("/<type_name>/<int:record_id>")
def update(type_name: str, record_id: int):
    rtype = _type(type_name)
    _only()
    expected = _expected_version()
    with rt().engine.connect() as conn:
        _read_one(conn, rtype, record_id)  # 404 for what the actor cannot see
    body = _body("patch", type_name)
    record = rt().records.update(type_name, record_id, _engine_values(rtype, body), _actor(),
                                 expected_version=expected)
    return _json(to_json_values(rtype, record), ETag=_etag(record))


@bp.delete("/<type_name>/<int:record_id>")
def delete(type_name: str, record_id: int):
    rtype = _type(type_name)
    _only()
    expected = _expected_version()
    with rt().engine.connect() as conn:
        _read_one(conn, rtype, record_id)
    rt().records.delete(type_name, record_id, _actor(), expected_version=expected)
    return Response(status=204)


@bp.post("/<type_name>/bulk")
def bulk(type_name: str):
    rtype = _type(type_name)
    _only()
    body = _body("bulk", type_name)  # more than MAX_BULK records: 422 from the schema
    op, key = body.get("op", "create"), body.get("key", "id")
    if op == "create" and any("id" in r or "version" in r for r in body["records"]):
        bad = [i for i, r in enumerate(body["records"]) if "id" in r or "version" in r]
        return problem(422, "bulk-validation", "Records refused; nothing was written",
                       "id and version are given by the system when creating",
                       errors=[e for i in bad for e in field_errors(
                           {"id": "is set by the system"}, index=i, prefix=f"/records/{i}")])
    rows = [_engine_values(rtype, r) for r in body["records"]]
    result = bulk_write(rt().records, type_name, rows, _actor(), op=op, key=key,
                        run_hooks=bool(body.get("run_automations", True)))
    return _json({"data": [to_json_values(rtype, r) for r in result.records],
                  "created": result.created, "updated": result.updated})


@bp.get("/")
def index():
    ws = rt().workspace
    return _json({"openapi": url_for("api.openapi"), "docs": url_for("api_pages.docs"),
                  "types": {name: url_for("api.list_", type_name=name)
                            for name in ws.record_types}})
