"""Turning raw input into stored values for one record type: parse, default, require, compute.

Pure functions over the model; the records service calls them and does the I/O.
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from lowrise.actor import Actor
from lowrise.errors import FieldError
from lowrise.expr import ExpressionError, compiled
from lowrise.fields.base import FieldType
from lowrise.fields.time import zone_info
from lowrise.i18n import msg
from lowrise.workspace.model import Field, RecordType

REQUIRED = msg("is required")
SYSTEM_SET = {"id", "created_at", "updated_at", "created_by", "updated_by", "version"}


def parse_values(rt: RecordType, raw: Mapping[str, Any], *, creating: bool,
                 actor: Actor, memo: dict[str, dict[Any, Any]] | None = None
                 ) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse and check the given values. Returns (values, errors by field name).

    With a `memo` (a dict the caller keeps over many records of this type, as a bulk
    insert's), a value met again in a field is not parsed again: its result or its error is
    remembered, up to MEMO values a field, where the result is an immutable value.
    """
    plan = parse_plan(rt)
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, value in raw.items():
        step = plan.steps.get(name)
        if step is None:
            errors[name] = (msg("is not a field of %(type)s", type=rt.label)
                            if name not in rt.fields else
                            msg("is set by the system and cannot be changed"))
            continue
        f, parse, check, special = step
        seen = key = None
        if memo is not None and not (special and isinstance(value, str)):
            seen = memo.get(name)
            if seen is None:
                seen = memo[name] = {}
            key = (type(value), value)
            try:
                hit = seen.get(key, _MISS)
            except TypeError:  # an unhashable value (a list): parse it
                hit, seen = _MISS, None
            if hit is not _MISS:
                if type(hit) is FieldError:
                    errors[name] = hit.message
                else:
                    values[name] = hit
                continue
        parsed = _parse_one(f, parse, check, special, value, actor)
        if isinstance(parsed, FieldError):
            errors[name] = parsed.message
        else:
            values[name] = parsed
        if seen is not None and len(seen) < MEMO and type(parsed) in _IMMUTABLE:
            seen[key] = parsed
    if creating:
        for f, fixed in plan.defaults:
            if f.name not in raw:
                value = _default(f, fixed, actor, plan.zone)
                if isinstance(value, FieldError):
                    errors[f.name] = msg("default: %(problem)s", problem=value.message)
                else:
                    values[f.name] = value
    for f in plan.required:
        if f.name in errors:
            continue
        missing = values.get(f.name) is None if (creating or f.name in values) else False
        if missing:
            errors[f.name] = REQUIRED
    return values, errors


def parse_many(rt: RecordType, rows: Sequence[Mapping[str, Any]], *, actor: Actor
               ) -> tuple[list[dict[str, Any]], dict[int, dict[str, str]]]:
    """parse_values(creating=True) of many new records: (values per row, errors by row
    index), the same values and the same errors, in the same order, as parse_values gives
    row by row with one memo.

    When every row names the same fields in the same order (an import's columns, an API
    batch), it goes field by field instead: each distinct value of a column is parsed and
    checked once, and the rows are assembled at the end."""
    if not rows:
        return [], {}
    names = tuple(rows[0])
    if any(tuple(r) != names for r in rows):
        memo: dict[str, dict[Any, Any]] = {}
        parsed, errors = [], {}
        for i, raw in enumerate(rows):
            values, errs = parse_values(rt, raw, creating=True, actor=actor, memo=memo)
            parsed.append(values)
            if errs:
                errors[i] = errs
        return parsed, errors
    plan = parse_plan(rt)
    errors = {}
    kept: list[str] = []  # the fields given, in the rows' order
    columns: list[list[Any]] = []
    failed: list[tuple[str, dict[int, str]]] = []  # per field: its errors by row
    for name in names:
        step = plan.steps.get(name)
        if step is None:
            refusal = (msg("is not a field of %(type)s", type=rt.label)
                       if name not in rt.fields else
                       msg("is set by the system and cannot be changed"))
            failed.append((name, dict.fromkeys(range(len(rows)), refusal)))
            continue
        column, bad = _parse_column(step, [r[name] for r in rows], actor)
        kept.append(name)
        columns.append(column)
        if bad:
            failed.append((name, bad))
    # Errors of each row in the order parse_values finds them: the given fields in order.
    for name, bad in sorted(failed, key=lambda x: names.index(x[0])):
        for i, problem in bad.items():
            errors.setdefault(i, {})[name] = problem
    parsed = [dict(zip(kept, values, strict=True)) for values in zip(*columns, strict=True)] \
        if kept else [{} for _ in rows]
    for name, bad in failed:
        if name in plan.steps:  # a field given with a bad value in some rows: not a value
            for i in bad:
                del parsed[i][name]
    given = set(names)
    for f, fixed in plan.defaults:
        if f.name in given:
            continue
        for i, values in enumerate(parsed):
            value = _default(f, fixed, actor, plan.zone)
            if isinstance(value, FieldError):
                errors.setdefault(i, {})[f.name] = msg("default: %(problem)s",
                                                        problem=value.message)
            else:
                values[f.name] = value
    for f in plan.required:
        name = f.name
        for i, values in enumerate(parsed):
            if values.get(name) is None:
                errs = errors.get(i)
                if errs is None:
                    errors[i] = {name: REQUIRED}
                elif name not in errs:
                    errs[name] = REQUIRED
    return parsed, {i: errors[i] for i in sorted(errors)}


def _parse_column(step: tuple[Field, Any, Any, bool], raw: list[Any], actor: Actor
                  ) -> tuple[list[Any], dict[int, str]]:
    """One field's values over many rows, parsed and checked: (values, errors by row); a
    row with an error has None in values. Each distinct value is parsed once where its
    result is immutable; `me`, `now` and `today` and mutable results (a list) are parsed
    for each row, as parse_values does."""
    f, parse, check, special = step
    keys = list(zip(map(type, raw), raw, strict=True))
    try:
        results = dict.fromkeys(keys, _MISS)
    except TypeError:  # an unhashable value (a list): row by row
        results = None
    per_row = False
    if results is not None:
        for key in results:
            value = key[1]
            if special and isinstance(value, str) and \
                    resolve_special(f, value, actor, special) is not value:
                results[key], per_row = _PER_ROW, True
                continue
            parsed = _parse_one(f, parse, check, special, value, actor)
            if isinstance(parsed, FieldError):
                results[key], per_row = parsed, True
            elif type(parsed) not in _IMMUTABLE:
                results[key], per_row = _PER_ROW, True
            else:
                results[key] = parsed
        out = [results[k] for k in keys]
        if not per_row:
            return out, {}
    else:
        out = [_PER_ROW] * len(raw)
    bad: dict[int, str] = {}
    for i, parsed in enumerate(out):
        if parsed is _PER_ROW:
            parsed = _parse_one(f, parse, check, special, raw[i], actor)
        if isinstance(parsed, FieldError):
            bad[i] = parsed.message
            parsed = None
        out[i] = parsed
    return out, bad


def _default(f: Field, fixed: Any, actor: Actor, zone: str) -> Any:
    """A new record's default for `f`: `fixed` when the plan worked it out once, else parsed
    now (`me`, `now`, `today`), or the FieldError it raised (the loader checks defaults;
    this is a backstop)."""
    if fixed is not _MISS:
        return fixed
    try:
        return f.kind.parse(f, resolve_special(f, f.default, actor,
                                               f.config.get("timezone") or zone))
    except FieldError as exc:
        return exc


def _parse_one(f: Field, parse, check, special: str, value: Any, actor: Actor) -> Any:
    """A value parsed and checked as parse_values does, or the FieldError it raised.
    `special`: where `me`/`now`/`today` may stand for a value, the time zone of its today."""
    try:
        if special and isinstance(value, str):
            value = resolve_special(f, value, actor, special)
        parsed = parse(f, value)
        if check is not None and parsed is not None and not (
                type(parsed) is list and _is_upload_list(parsed)):
            check(f, parsed)
        return parsed
    except FieldError as exc:
        return exc


_PER_ROW = object()
MEMO = 2000
_MISS = object()
_IMMUTABLE = {type(None), str, int, bool, float, Decimal, date, datetime, time, timedelta,
              FieldError}


class ParsePlan:
    """What parse_values does for each field of a record type, worked out once: the parser,
    the check (None where the field's options leave nothing to check), where `me`/`now`/
    `today` may stand for a value the time zone of its today (else ""); the fields with
    defaults and the required ones."""

    def __init__(self, rt: RecordType):
        self.steps: dict[str, tuple[Field, Any, Any, str]] = {}
        #: the workspace's time zone (the system fields' datetimes carry it)
        self.zone = workspace_zone(rt)
        for f in rt.user_fields:
            kind = f.kind
            check = kind.check
            if type(kind).check is FieldType.check and not _base_check_needed(f):
                check = None
            special = (f.config.get("timezone") or self.zone) if f.type in _SPECIAL_TYPES \
                else ""
            self.steps[f.name] = (f, kind.parse, check, special)
        #: (field, its parsed default where that is one immutable value, else _MISS)
        self.defaults = [(f, _fixed_default(f)) for f in rt.user_fields
                         if f.default is not None and not f.kind.generated]
        self.required = [f for f in rt.user_fields if f.required and not f.kind.generated]


_SPECIAL_TYPES = ("user", "datetime", "date")


def _fixed_default(f: Field) -> Any:
    """The parsed default of a field when it is the same for every record: not `me`, `now`
    or `today`, and an immutable value (a list is made anew for each record)."""
    if f.type in _SPECIAL_TYPES and isinstance(f.default, str):
        return _MISS
    try:
        value = f.kind.parse(f, f.default)
    except FieldError:
        return _MISS  # parse_values reports it
    return value if type(value) in _IMMUTABLE else _MISS


def _base_check_needed(f: Field) -> bool:
    """Whether FieldType.check can refuse anything on this field (length, pattern, bounds)."""
    cfg = f.config
    if cfg.get("max_length") or cfg.get("min_length") or cfg.get("pattern") or \
            f.kind.default_max_length:
        return True
    try:
        return f.bounds != (None, None)
    except Exception:  # noqa: BLE001 - a bound that does not parse: let check() say so
        return True


_PLAN_CACHE: dict[int, tuple[RecordType, ParsePlan]] = {}


def parse_plan(rt: RecordType) -> ParsePlan:
    """The record type's ParsePlan, made once per (immutable) record type."""
    hit = _PLAN_CACHE.get(id(rt))
    if hit is not None and hit[0] is rt:
        return hit[1]
    plan = ParsePlan(rt)
    if len(_PLAN_CACHE) > 512:  # workspaces reloaded many times: start over
        _PLAN_CACHE.clear()
    _PLAN_CACHE[id(rt)] = (rt, plan)  # keeps rt alive, so its id is never reused
    return plan


def _is_upload_list(value: Any) -> bool:
    return isinstance(value, list) and value and not isinstance(value[0], str)


def workspace_zone(rt: RecordType) -> str:
    """The workspace's time zone, as the loader gives it to the type's system datetimes."""
    created = rt.fields.get("created_at")
    return (created.config.get("timezone") if created is not None else None) or "UTC"


def resolve_special(f: Field, value: Any, actor: Actor, zone: str) -> Any:
    """`me`, `now` and `today` as values (defaults, API, import, rules) mean what they say:
    today is the date on the calendar of `zone` (the field's, else the workspace's), not
    UTC's, and so is `now` given to a date field; `today` in a datetime field is its
    midnight there."""
    if isinstance(value, str):
        low = value.strip().lower()
        if low == "me" and f.kind.person:
            return actor.user
        if low in ("now", "today") and f.kind.calendar:
            now = actor.now()
            if low == "now" and f.kind.instant:
                return now
            return now.astimezone(zone_info(zone)).date()
    return value


_ORDER_CACHE: dict[int, tuple[RecordType, list[Field]]] = {}


def formula_order(rt: RecordType) -> list[Field]:
    """Formula fields in an order where each comes after the formulas it reads."""
    hit = _ORDER_CACHE.get(id(rt))
    if hit is not None and hit[0] is rt:
        return hit[1]
    formulas = {f.name: f for f in rt.fields.values() if f.kind.has_expression}
    graph = {}
    for name, f in formulas.items():
        deps = compiled(f.config["expression"]).names
        graph[name] = {d for d in deps if d in formulas}
    order = [formulas[n] for n in graphlib.TopologicalSorter(graph).static_order()]
    if len(_ORDER_CACHE) > 512:  # workspaces reloaded many times: start over
        _ORDER_CACHE.clear()
    _ORDER_CACHE[id(rt)] = (rt, order)  # keeps rt alive, so its id is never reused
    return order


def compute_formulas(rt: RecordType, record: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Recompute every formula on a record; returns the formula values (None where undefined)."""
    compute_formulas_many(rt, [record], now)
    return {f.name: record[f.name] for f in formula_order(rt)}


def compute_formulas_many(rt: RecordType, records: Sequence[dict[str, Any]], now: datetime,
                          *, memo: dict[Any, Any] | None = None) -> None:
    """compute_formulas on each of many records at one `now`, formula by formula (each
    after the formulas it reads, as there): the expression's clock is set once, and a
    formula met again with the same inputs is not evaluated again (`memo`, a dict the
    caller may keep over several calls at the same `now`)."""
    order = formula_order(rt)
    if not order or not records:
        return
    if memo is None:
        memo = {}
    tz = rt.fields["created_at"].config.get("timezone") if "created_at" in rt.fields else None
    for f in order:
        expr = compiled(f.config["expression"])
        run = expr.bind(now=now, tz=f.config.get("timezone") or tz)
        coerce, name, inputs = f.kind.coerce, f.name, _inputs(expr)
        seen = memo.get(name)
        if seen is None:
            seen = memo[name] = {}
        for record in records:
            key = tuple([record.get(n) for n in inputs])
            try:
                value = seen.get(key, _MISS)
            except TypeError:  # an unhashable value (a list): evaluate
                key, value = None, _MISS
            if value is _MISS:
                try:
                    value = coerce(f, run(record))
                except (ExpressionError, ValueError, ArithmeticError, TypeError):
                    value = None
                if key is not None and len(seen) < FORMULA_MEMO:
                    seen[key] = value
            record[name] = value


FORMULA_MEMO = 20_000
_INPUTS: dict[str, tuple[str, ...]] = {}


def _inputs(expr) -> tuple[str, ...]:
    """The names an expression reads, in a fixed order (a memo key)."""
    names = _INPUTS.get(expr.source)
    if names is None:
        if len(_INPUTS) > 4096:
            _INPUTS.clear()
        names = _INPUTS[expr.source] = tuple(sorted(expr.names))
    return names


def to_db_row(rt: RecordType, values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: rt.fields[k].kind.to_db(rt.fields[k], v) for k, v in values.items()}


def from_db_row(rt: RecordType, row: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        f = rt.fields.get(k)
        out[k] = f.kind.from_db(f, v) if f is not None else v
    return out


def to_json_values(rt: RecordType, values: Mapping[str, Any]) -> dict[str, Any]:
    """Values as JSON-safe data (Decimal and dates as strings), for the audit log and trash."""
    out = {}
    for k, v in values.items():
        f = rt.fields.get(k)
        if f is None:
            continue
        out[k] = f.kind.to_json(f, v)  # as the API gives it
    return out


def from_json_values(rt: RecordType, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The inverse of to_json_values through each type's parser (restoring from the trash).

    Returns (values, errors): a value that no longer fits its field (an option since
    removed, say) is reported rather than dropped. Formulas are left out: they are recomputed.
    """
    out: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for k, v in data.items():
        f = rt.fields.get(k)
        if f is None or f.kind.has_expression or f.kind.derived:  # recomputed
            continue
        if v is None or f.kind.numbered or not f.kind.declarable:
            out[k] = v
            continue
        try:
            out[k] = f.kind.parse(f, v)
        except FieldError as exc:
            errors[k] = exc.message
    return out, errors
