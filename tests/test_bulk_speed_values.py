"""The bulk insert's quick paths give what the row-by-row ones give: expressions compiled to
closures, column-wise parsing, formulas computed formula by formula, column conversion."""

from __future__ import annotations

import ast
import itertools
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lowrise.actor import Actor
from lowrise.expr import _BINOPS, _CMPOPS, FUNCTIONS, Expression, ExpressionError, _num
from lowrise.storage import values as V
from lowrise.storage.records import _convert
from lowrise.workspace import load_workspace_from_texts

WS = {
    "workspace.yaml": "label: Test\ndefault_locale: en\nlocales: [en]\nusers: staff\n"
                      "timezone: Asia/Shanghai\n",
    "schemas/staff.yaml": "fields:\n  name: {type: text, required: true}\n",
    "schemas/thing.yaml": """
fields:
  name: {type: text, required: true, max_length: 8}
  budget: {type: currency, min: 0}
  grade:
    type: select
    default: b
    options: [a, b, c]
  tags: {type: multi_select, options: [vip, local]}
  owner: {type: user, default: me}
  since: {type: date}
  met_at: {type: datetime, default: now}
  active: {type: boolean, default: true}
  double_budget: {type: formula, expression: "budget * 2", result: decimal}
  quadruple: {type: formula, expression: "double_budget * 2", result: decimal}
  age_days: {type: formula, expression: "days_between(since, today())", result: integer}
  label: {type: formula, expression: "concat(name, ' ', grade) if active else null", result: text}
  broken: {type: formula, expression: "budget / 0 + len(name)", result: decimal}
""",
}

NOW = datetime(2026, 3, 9, 17, 30, tzinfo=UTC)  # already 10 March in Shanghai


@pytest.fixture(scope="module")
def rt():
    return load_workspace_from_texts(WS).type("thing")


def actor(start=NOW):
    return Actor(user=7, name="t", clock=lambda: start)


EXPRESSIONS = [
    "1 + 2 * 3", "x + y", "x - y", "x * 2.5", "x / y", "x // y", "x % y", "-x", "+x", "not x",
    "x and y", "x or y", "x and y and z", "x or y or z", "x < y", "x <= y < z", "x == y",
    "x != y", "x > y", "x >= 3", "x if y else z", "round(x, 2)", "abs(x)", "min(x, y, z)",
    "max(x, y)", "coalesce(x, y, z)", "concat(x, '-', y)", "upper(s)", "lower(s)", "trim(s)",
    "left(s, 2)", "right(s, 2)", "len(s)", "mask(s)", "mask(s, 1, 1)", "if_empty(x, 'none')",
    "year(d)", "month(d)", "date(t)", "is_empty(x)", "days_between(d, today())",
    "days_between(t, now())", "add_days(d, x)", "add_hours(t, 1.5)", "null", "true",
    "False", "None", "x + s", "s * 2", "d + 1", "t - t", "d - d", "x == null",
    "(x > 1) and (s == 'ab')", "today()", "now()", "3.25", "'text'",
]
VALUES = [
    {},
    {"x": 3, "y": 4, "z": 0, "s": " ab ", "d": date(2026, 1, 2), "t": NOW},
    {"x": Decimal("2.50"), "y": Decimal("0"), "z": None, "s": "abcdefgh",
     "d": date(2025, 12, 31), "t": NOW - timedelta(hours=30)},
    {"x": None, "y": 1, "z": 2, "s": "", "d": None, "t": None},
    {"x": 1.5, "y": -2, "z": True, "s": "x", "d": date(2026, 3, 10), "t": NOW},
    {"x": "7", "y": "a", "z": "", "s": None, "d": NOW, "t": NOW.replace(tzinfo=None)},
]


def outcome(fn):
    try:
        return ("value", fn())
    except ExpressionError as exc:
        return ("error", str(exc))
    except (TypeError, ValueError, ArithmeticError) as exc:  # the tree walker's, unwrapped
        return ("failed", type(exc).__name__)


def walk(node: ast.AST, values: Mapping[str, Any], clock: datetime) -> Any:
    """The reference: the expression language's tree walker, node by node, as the engine
    evaluated expressions before they were compiled to closures."""
    ev = walk
    match node:
        case ast.Constant(value=v):
            return _num(v)
        case ast.Name(id="true" | "True"):
            return True
        case ast.Name(id="false" | "False"):
            return False
        case ast.Name(id="null" | "None"):
            return None
        case ast.Name(id=name):
            return values.get(name)
        case ast.BinOp(op=op, left=l, right=r):
            return _BINOPS[type(op)](ev(l, values, clock), ev(r, values, clock))
        case ast.UnaryOp(op=ast.Not(), operand=x):
            return not ev(x, values, clock)
        case ast.UnaryOp(op=op, operand=x):
            v = ev(x, values, clock)
            return None if v is None else (-_num(v) if isinstance(op, ast.USub) else v)
        case ast.BoolOp(op=ast.And(), values=vs):
            result = True
            for v in vs:
                result = ev(v, values, clock)
                if not result:
                    return result
            return result
        case ast.BoolOp(values=vs):
            result = False
            for v in vs:
                result = ev(v, values, clock)
                if result:
                    return result
            return result
        case ast.Compare(left=l, ops=ops, comparators=cs):
            left = ev(l, values, clock)
            for o, c in zip(ops, cs, strict=True):
                right = ev(c, values, clock)
                if isinstance(o, (ast.Eq, ast.NotEq)):
                    ok = _CMPOPS[type(o)](left, right)
                elif left is None or right is None:
                    return False
                else:
                    ok = _CMPOPS[type(o)](_num(left), _num(right))
                if not ok:
                    return False
                left = right
            return True
        case ast.IfExp(test=t, body=b, orelse=o):
            return ev(b, values, clock) if ev(t, values, clock) else ev(o, values, clock)
        case ast.Call(func=ast.Name(id="now")):
            return clock
        case ast.Call(func=ast.Name(id="today")):
            return clock.date()
        case ast.Call(func=ast.Name(id=fname), args=args):
            return FUNCTIONS[fname](*(ev(a, values, clock) for a in args))
    raise ExpressionError(f"cannot evaluate {ast.unparse(node)}")


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_compiled_expressions_evaluate_as_the_tree_walker(source):
    expr = Expression(source)
    for values, tz in itertools.product(VALUES, (None, "Asia/Shanghai")):
        clock = NOW.astimezone(ZoneInfo(tz)) if tz else NOW
        walked = outcome(lambda: walk(expr._tree, values, clock))  # noqa: B023
        got = outcome(lambda: expr.evaluate(values, now=NOW, tz=tz))  # noqa: B023
        bound = outcome(lambda: expr.bind(now=NOW, tz=tz)(values))  # noqa: B023
        assert got == bound
        if walked[0] == "value":
            assert got == walked, (source, values, tz)
        else:  # evaluate says which expression failed, as before
            assert got[0] == "error"


def test_a_very_deep_expression_still_evaluates_or_refuses():
    deep = "+".join(["x"] * 400)
    assert Expression(deep).evaluate({"x": 1}) == 400
    nested = "(" * 90 + "x" + ")" * 90
    assert Expression(nested).evaluate({"x": 2}) == 2


def rows_of(*rows):
    return [dict(r) for r in rows]


CASES = {
    "clean": rows_of(*({"name": f"n{i % 3}", "budget": "10.5", "grade": "a",
                        "since": "2026-01-0" + str(1 + i % 3), "tags": ["vip"]}
                       for i in range(7))),
    "errors": rows_of(
        {"name": "ok", "budget": "-1", "grade": "z", "since": "nope"},
        {"name": "much too long", "budget": "3", "grade": "a", "since": None},
        {"name": None, "budget": "x", "grade": "b", "since": "2026-02-02"},
        {"name": "ok", "budget": "-1", "grade": "z", "since": "nope"},
    ),
    "unknown and system fields": rows_of(
        {"name": "a", "nope": 1, "id": 5, "double_budget": 3},
        {"name": "b", "nope": 2, "id": 6, "double_budget": 4},
    ),
    "specials": rows_of(
        {"name": "a", "owner": "me", "met_at": "now", "since": "today"},
        {"name": "b", "owner": "ME ", "met_at": "2026-01-01T10:00:00Z", "since": " Today"},
        {"name": "c", "owner": 3, "met_at": "now", "since": "2026-01-01"},
    ),
    "mixed keys": rows_of({"name": "a", "budget": "1"}, {"budget": "2", "name": "b"},
                          {"name": "c"}),
    "unhashable": rows_of({"name": "a", "tags": ["vip", "local"]}, {"name": "b", "tags": "x"},
                          {"name": "c", "tags": ["nope"]}, {"name": "d", "tags": ["vip"]}),
    "values met again": rows_of(*({"name": "x", "budget": v, "active": a}
                                  for v, a in [(1, True), (True, 1), (1.0, "yes"), ("1", 1),
                                               (Decimal("1.00"), True), (1, True)])),
    "empty": [],
}


@pytest.mark.parametrize("case", CASES)
def test_parse_many_gives_what_parse_values_gives_row_by_row(rt, case):
    rows = CASES[case]
    want_rows, want_errors = [], {}
    one = actor()
    for i, raw in enumerate(rows):
        values, errs = V.parse_values(rt, raw, creating=True, actor=one)
        want_rows.append(values)
        if errs:
            want_errors[i] = errs
    got_rows, got_errors = V.parse_many(rt, rows, actor=actor())
    assert got_rows == want_rows
    assert [list(r) for r in got_rows] == [list(r) for r in want_rows]  # keys in order too
    assert got_errors == want_errors
    assert [list(e) for e in got_errors.values()] == [list(e) for e in want_errors.values()]


def test_parse_many_gives_each_row_its_own_list(rt):
    rows, _ = V.parse_many(rt, [{"name": "a", "tags": ["vip"]}] * 3, actor=actor())
    rows[0]["tags"].append("local")
    assert rows[1]["tags"] == ["vip"]


def test_compute_formulas_many_as_compute_formulas(rt):
    parsed, _ = V.parse_many(rt, [
        {"name": "a", "budget": "10", "since": "2026-03-01", "grade": "a"},
        {"name": "b", "budget": None, "since": None, "active": False},
        {"name": "a", "budget": "10", "since": "2026-03-01", "grade": "a"},
        {"name": "c", "budget": "0.5", "since": "2026-03-10", "grade": "c"},
    ], actor=actor())
    one = [dict(r) for r in parsed]
    for r in one:
        V.compute_formulas(rt, r, NOW)
    many = [dict(r) for r in parsed]
    memo: dict = {}
    V.compute_formulas_many(rt, many[:2], NOW, memo=memo)
    V.compute_formulas_many(rt, many[2:], NOW, memo=memo)
    assert many == one
    assert one[0]["age_days"] == 9  # 10 March in Shanghai, where the workspace is
    assert one[0]["quadruple"] == Decimal("40")
    assert one[1]["label"] is None and one[0]["label"] == "a a"
    assert one[0]["broken"] is None


@pytest.mark.parametrize("values", [
    [], [None, None], [1, 2, 1, None, 2, 1], list(range(10)), [["a"], ["b"], None],
    [datetime(2026, 1, 1, tzinfo=UTC)] * 5 + [None],
])
def test_column_conversion_converts_each_value(values):
    calls = []

    def step(v):
        calls.append(v)
        return ("db", repr(v))

    got = _convert(values, step)
    assert got == [None if v is None else ("db", repr(v)) for v in values]
    assert None not in calls
