"""Rule conditions: the shared filter language plus tests on the change itself.

A condition is written like a view's filter; a leaf may instead test the change:
`{field: stage, changed: true}`, `{field: stage, from: negotiation}`,
`{field: stage, to: [deposit, contracted]}` (from / to take one value or a list). Pure
filter sub-trees are parsed by `lowrise.filters` and evaluated by it, on the record after
the change; change tests look at the before and after values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lowrise import filters
from lowrise.errors import FieldError, FilterError
from lowrise.workspace.model import RecordType, Workspace

CHANGE_KEYS = ("changed", "from", "to")


@dataclass(frozen=True)
class FilterTest:
    node: filters.Node


@dataclass(frozen=True)
class ChangeTest:
    field: str
    changed: bool | None = None
    from_: tuple[Any, ...] | None = None
    to: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class NotOf:
    item: Condition


Condition = FilterTest | ChangeTest | AllOf | AnyOf | NotOf


@dataclass(frozen=True)
class Facts:
    """What a condition is decided on: the record before and after, the changed fields."""

    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    changed: frozenset[str]
    ctx: filters.FilterContext


def _has_change_test(data: Any) -> bool:
    if isinstance(data, Mapping):
        if "field" in data and any(k in data for k in CHANGE_KEYS):
            return True
        return any(_has_change_test(v) for k, v in data.items() if k in ("all", "any", "not"))
    if isinstance(data, list):
        return any(_has_change_test(x) for x in data)
    return False


def parse_values(rt: RecordType, field: str, raw: Any) -> tuple[Any, ...]:
    """from / to values parsed by the field's type (one value or a list)."""
    f = rt.fields[field]
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for x in items:
        if x is None:
            out.append(None)
            continue
        try:
            out.append(f.kind.parse(f, x))
        except FieldError as exc:
            raise FilterError(f"{field}: {exc}") from None
    return tuple(out)


def parse(data: Any, rt: RecordType, ws: Workspace) -> Condition:
    """Parse condition data; raises FilterError naming every problem."""
    if not _has_change_test(data):
        return FilterTest(filters.parse(data, rt, ws))
    if isinstance(data, list):
        return AllOf(tuple(parse(x, rt, ws) for x in data))
    if "field" in data:
        name = data["field"]
        if name not in rt.fields:
            raise FilterError(f"{rt.label} has no field '{name}'"
                              f"{filters.did_you_mean(str(name), rt.fields)}")
        extra = set(data) - {"field", *CHANGE_KEYS}
        if extra:
            raise FilterError(f"{name}: a change test takes changed, from and to, not "
                              f"{', '.join(sorted(extra))}")
        changed = data.get("changed")
        return ChangeTest(
            name, None if changed is None else bool(changed),
            parse_values(rt, name, data["from"]) if "from" in data else None,
            parse_values(rt, name, data["to"]) if "to" in data else None)
    (key,) = [k for k in ("all", "any", "not") if k in data]
    if key == "not":
        return NotOf(parse(data["not"], rt, ws))
    items = tuple(parse(x, rt, ws) for x in data[key])
    return AllOf(items) if key == "all" else AnyOf(items)


def fields_of(cond: Condition | None) -> set[str]:
    """The record's own fields a condition reads (the first step of each path)."""
    if cond is None:
        return set()
    match cond:
        case ChangeTest(field=f):
            return {f}
        case FilterTest(node=n):
            return filter_fields(n)
        case AllOf(items=items) | AnyOf(items=items):
            return set().union(*(fields_of(x) for x in items)) if items else set()
        case NotOf(item=x):
            return fields_of(x)
    return set()


def filter_fields(node: filters.Node | None) -> set[str]:
    if node is None:
        return set()
    if isinstance(node, filters.Condition):
        return {node.path[0]}
    if isinstance(node, filters.Not):
        return filter_fields(node.item)
    return set().union(*(filter_fields(x) for x in node.items)) if node.items else set()


def has_change_tests(cond: Condition | None) -> bool:
    match cond:
        case ChangeTest():
            return True
        case AllOf(items=items) | AnyOf(items=items):
            return any(has_change_tests(x) for x in items)
        case NotOf(item=x):
            return has_change_tests(x)
    return False


def holds(cond: Condition | None, facts: Facts) -> bool:
    """Whether the condition holds for this change (no condition: it holds)."""
    if cond is None:
        return True
    match cond:
        case FilterTest(node=n):
            return facts.after is not None and filters.evaluate(n, facts.after, facts.ctx)
        case ChangeTest():
            return _change_holds(cond, facts)
        case AllOf(items=items):
            return all(holds(x, facts) for x in items)
        case AnyOf(items=items):
            return any(holds(x, facts) for x in items)
        case NotOf(item=x):
            return not holds(x, facts)
    raise AssertionError(cond)  # pragma: no cover


def _change_holds(t: ChangeTest, facts: Facts) -> bool:
    changed = t.field in facts.changed
    if t.changed is not None and changed != t.changed:
        return False
    if t.from_ is None and t.to is None:
        return True
    if not changed:
        return False
    old = (facts.before or {}).get(t.field)
    new = (facts.after or {}).get(t.field)
    if t.from_ is not None and old not in t.from_:
        return False
    return t.to is None or new in t.to
