"""Safe expressions for formulas and rule values: a small language parsed with `ast`, never `eval`.

Allowed: literals, field names, fields of a linked record (`client.budget`: the link
field, a dot, a field of the record it points at; empty when the link is), arithmetic
(+ - * / // %), comparisons, `and`/`or`/`not`, `a if cond else b`, and calls to the
functions in FUNCTIONS. Nothing else parses: no other attribute access, no subscripts, no
lambdas, no comprehensions, no `**`. Values are the record's field values; text results
are capped in length.
"""

from __future__ import annotations

import ast
import hashlib
import operator
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lowrise.errors import LowriseError
from lowrise.i18n import msg

MAX_TEXT = 10_000
MAX_SOURCE = 2_000


class ExpressionError(LowriseError):
    """An expression does not parse, uses something not allowed, or fails on a record."""


def _num(x: Any) -> Any:
    if isinstance(x, float):
        return Decimal(str(x))
    return x


def _add(a, b):
    if a is None or b is None:
        return None
    if isinstance(a, str) or isinstance(b, str):
        out = f"{a}{b}"
        if len(out) > MAX_TEXT:
            raise ExpressionError("text result too long")
        return out
    if isinstance(a, (date, datetime)) and isinstance(b, (int, Decimal)):
        return a + timedelta(days=float(b))
    return _num(a) + _num(b)


def _sub(a, b):
    if a is None or b is None:
        return None
    if isinstance(a, (date, datetime)) and isinstance(b, (int, Decimal)):
        return a - timedelta(days=float(b))
    if isinstance(a, datetime) and isinstance(b, datetime):
        return Decimal(str((a - b).total_seconds() / 86400))
    if isinstance(a, date) and isinstance(b, date):
        return (a - b).days
    return _num(a) - _num(b)


def _mul(a, b):
    if a is None or b is None:
        return None
    if isinstance(a, str) or isinstance(b, str):
        raise ExpressionError("text cannot be multiplied")
    return _num(a) * _num(b)


def _div(a, b):
    if a is None or b is None or b == 0:
        return None
    return Decimal(_num(a)) / Decimal(_num(b))


def _null_safe(fn):
    def wrapped(a, b):
        if a is None or b is None:
            return None
        return fn(_num(a), _num(b))

    return wrapped


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: _add,
    ast.Sub: _sub,
    ast.Mult: _mul,
    ast.Div: _div,
    ast.FloorDiv: _null_safe(lambda a, b: None if b == 0 else a // b),
    ast.Mod: _null_safe(lambda a, b: None if b == 0 else a % b),
}

_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def _to_date(x):
    if isinstance(x, datetime):
        return x.date()
    return x


def _round(x, digits=0):
    if x is None:
        return None
    return Decimal(_num(x)).quantize(Decimal(1).scaleb(-int(digits)), rounding=ROUND_HALF_UP)


def _days_between(a, b):
    if a is None or b is None:
        return None
    if isinstance(a, datetime) and isinstance(b, datetime):
        return Decimal(str(round((b - a).total_seconds() / 86400, 4)))
    return (_to_date(b) - _to_date(a)).days


def _concat(*parts):
    out = "".join("" if p is None else str(p) for p in parts)
    if len(out) > MAX_TEXT:
        raise ExpressionError("text result too long")
    return out


def _mask(s, keep_start=3, keep_end=4):
    """What a masked field shows (access.Mask): 13812345678 → 138****5678; a value too short
    to keep anything is hidden whole. Negative counts keep nothing."""
    from lowrise.access.model import Mask  # the one masking rule; access imports much more

    if s is None:
        return None
    text = str(s)
    if len(text) > MAX_TEXT:
        raise ExpressionError(msg("text result too long (at most %(n)s characters)", n=MAX_TEXT))
    return Mask(max(0, min(int(keep_start), MAX_TEXT)), max(0, min(int(keep_end), MAX_TEXT))
                ).apply(text)


def _date_of(fn: str, d: Any) -> date:
    """`d` when it is a date (or a date and time); a clear refusal for anything else."""
    if not isinstance(d, date):
        raise ExpressionError(msg("%(fn)s() needs a date, not %(value)s", fn=fn,
                                  value=repr(d)[:40]))
    return d


def _sha256(x):
    """The SHA-256 (hex) of a text, or of the files of an attachment field: the key each file
    is stored under is the SHA-256 of its bytes (several files: their hashes, comma-joined)."""
    if x is None or x == "" or x == []:
        return None
    if isinstance(x, (list, tuple)):
        keys = [f.get("key") for f in x if isinstance(f, dict)]
        if not keys or not all(isinstance(k, str) for k in keys):
            raise ExpressionError(msg("sha256() needs a text or stored files"))
        return ", ".join(keys)
    return hashlib.sha256(str(x).encode("utf-8")).hexdigest()


def _coalesce(*xs):
    return next((x for x in xs if x is not None and x != ""), None)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "add_days": lambda d, n: None if d is None or n is None else d + timedelta(days=float(n)),
    "add_hours": lambda d, n: None if d is None or n is None else d + timedelta(hours=float(n)),
    "days_between": _days_between,
    "round": _round,
    "abs": lambda x: None if x is None else abs(_num(x)),
    "min": lambda *xs: min((x for x in xs if x is not None), default=None),
    "max": lambda *xs: max((x for x in xs if x is not None), default=None),
    "coalesce": _coalesce,
    "concat": _concat,
    "upper": lambda s: None if s is None else str(s).upper(),
    "lower": lambda s: None if s is None else str(s).lower(),
    "trim": lambda s: None if s is None else str(s).strip(),
    "left": lambda s, n: None if s is None else str(s)[: int(n)],
    "right": lambda s, n: None if s is None else str(s)[-int(n):] if int(n) else "",
    "len": lambda s: None if s is None else len(s),
    "mask": _mask,
    "if_empty": lambda x, alt: alt if x is None or x == "" else x,
    "year": lambda d: None if d is None else _date_of("year", d).year,
    "month": lambda d: None if d is None else _date_of("month", d).month,
    "date": lambda d: None if d is None else _to_date(d),
    "is_empty": lambda x: x is None or x == "" or x == [],
    "sha256": _sha256,
}

# Functions that read the clock get it from the evaluation context, so tests can fix time.
CLOCK_FUNCTIONS = ("now", "today")


class Expression:
    """A parsed, checked expression. `names` are the field names it reads."""

    def __init__(self, source: str, *, allowed_names: set[str] | None = None):
        if not isinstance(source, str) or not source.strip():
            raise ExpressionError("an expression is empty")
        if len(source) > MAX_SOURCE:
            raise ExpressionError(f"an expression is limited to {MAX_SOURCE} characters")
        self.source = source
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError as exc:
            raise ExpressionError(f"'{source}' does not parse: {exc.msg}") from None
        except (RecursionError, MemoryError):
            raise ExpressionError(f"'{source[:40]}...' is nested too deeply") from None
        self.names: set[str] = set()
        try:
            self._check(tree.body)
        except RecursionError:  # thousands of nested operators: refused, never a crash
            raise ExpressionError(f"'{source[:40]}...' is nested too deeply") from None
        if allowed_names is not None:
            unknown = sorted(self.names - allowed_names)
            if unknown:
                raise ExpressionError(f"unknown field(s) {', '.join(unknown)} in '{source}'")
        self._tree = tree.body
        self._fn: Callable[[Mapping[str, Any], datetime], Any] | None = None

    def _check(self, node: ast.AST) -> None:
        match node:
            case ast.Constant(value=v) if v is None or isinstance(v, (bool, int, float, str)):
                if isinstance(v, str) and len(v) > MAX_TEXT:
                    raise ExpressionError("a text literal is too long")
                if isinstance(v, float) and v in (float("inf"), float("-inf")):
                    raise ExpressionError(f"{ast.get_source_segment(self.source.strip(), node)}"
                                          " is too large a number (at most 1e308)")
            case ast.Name(id=name):
                if name.startswith("_"):
                    raise ExpressionError(f"'{name}' is not allowed")
                if name not in ("true", "false", "null", "True", "False", "None"):
                    self.names.add(name)
            case ast.Attribute(value=ast.Name(id=link), attr=name):
                # a field of the linked record: `client.budget` (one link deep)
                if link.startswith("_") or name.startswith("_"):
                    raise ExpressionError(f"'{link}.{name}' is not allowed")
                self.names.add(f"{link}.{name}")
            case ast.BinOp(op=op, left=l, right=r) if type(op) in _BINOPS:
                self._check(l)
                self._check(r)
            case ast.UnaryOp(op=ast.USub() | ast.UAdd() | ast.Not(), operand=x):
                self._check(x)
            case ast.BoolOp(values=vs):
                for v in vs:
                    self._check(v)
            case ast.Compare(left=l, ops=ops, comparators=cs) if all(
                type(o) in _CMPOPS for o in ops
            ):
                self._check(l)
                for c in cs:
                    self._check(c)
            case ast.IfExp(test=t, body=b, orelse=o):
                for x in (t, b, o):
                    self._check(x)
            case ast.Call(func=ast.Name(id=fname), args=args, keywords=[]):
                if fname not in FUNCTIONS and fname not in CLOCK_FUNCTIONS:
                    known = ", ".join(sorted([*FUNCTIONS, *CLOCK_FUNCTIONS]))
                    raise ExpressionError(f"'{fname}' is not a function here (known: {known})")
                for a in args:
                    self._check(a)
            case _:
                raise ExpressionError(
                    f"'{ast.unparse(node)}' is not allowed in an expression "
                    "(fields, numbers, text, arithmetic, comparisons and functions only)"
                )

    def evaluate(self, values: Mapping[str, Any], *, now: datetime | None = None,
                 tz: str | None = None) -> Any:
        """Evaluate on one record's values; `now` fixes the clock. `today()` is the date in
        the time zone `tz` (the workspace's: in Beijing a new day starts at 16:00 UTC), as
        the filter language's relative dates count days; without `tz`, `now()` and
        `today()` are in the clock's own zone."""
        clock = now or datetime.now(UTC)
        if tz and clock.tzinfo is not None:
            clock = clock.astimezone(_zone(tz))
        return self._run(values, clock)

    def bind(self, *, now: datetime | None = None, tz: str | None = None
             ) -> Callable[[Mapping[str, Any]], Any]:
        """`evaluate` with its clock fixed: a function of the values alone, for evaluating
        the same expression on many records at one `now` (a bulk insert's formulas)."""
        clock = now or datetime.now(UTC)
        if tz and clock.tzinfo is not None:
            clock = clock.astimezone(_zone(tz))
        run = self._run
        return lambda values: run(values, clock)

    def _run(self, values: Mapping[str, Any], clock: datetime) -> Any:
        try:
            fn = self._fn
            if fn is None:
                fn = self._fn = self._function()
            return fn(values, clock)
        except ExpressionError:
            raise
        except (TypeError, ValueError, ArithmeticError, OverflowError, AttributeError) as exc:
            # a function given the wrong kind of value: refused, never a crash of the write
            raise ExpressionError(f"'{self.source}' failed: {exc}") from None
        except RecursionError:
            raise ExpressionError(f"'{self.source[:40]}...' is nested too deeply") from None

    def _function(self) -> Callable[[Mapping[str, Any], datetime], Any]:
        """The tree as nested Python closures, made once: each node's case is decided when
        compiling instead of matched again on every evaluation (formulas run on every
        record a bulk insert writes)."""
        return _compile(self._tree)


Compiled = Callable[[Mapping[str, Any], datetime], Any]


def _compile(node: ast.AST) -> Compiled:  # noqa: C901 - one case per kind of node
    """A function of (values, clock) that returns the value of the expression `node`: what
    each kind of node means (operators on empty values, comparisons, functions) is decided
    here once."""
    match node:
        case ast.Constant(value=v):
            const = _num(v)
            return lambda values, clock: const
        case ast.Name(id="true" | "True"):
            return lambda values, clock: True
        case ast.Name(id="false" | "False"):
            return lambda values, clock: False
        case ast.Name(id="null" | "None"):
            return lambda values, clock: None
        case ast.Name(id=name):
            return lambda values, clock: values.get(name)
        case ast.Attribute(value=ast.Name(id=link), attr=field):
            path = f"{link}.{field}"
            return lambda values, clock: values.get(path)
        case ast.BinOp(op=op, left=l, right=r):
            fn, left, right = _BINOPS[type(op)], _compile(l), _compile(r)
            return lambda values, clock: fn(left(values, clock), right(values, clock))
        case ast.UnaryOp(op=ast.Not(), operand=x):
            inner = _compile(x)
            return lambda values, clock: not inner(values, clock)
        case ast.UnaryOp(op=op, operand=x):
            inner, minus = _compile(x), isinstance(op, ast.USub)

            def unary(values, clock):
                v = inner(values, clock)
                return None if v is None else (-_num(v) if minus else v)
            return unary
        case ast.BoolOp(op=ast.And(), values=vs):
            parts = [_compile(v) for v in vs]

            def all_of(values, clock):
                result = True
                for part in parts:
                    result = part(values, clock)
                    if not result:
                        return result
                return result
            return all_of
        case ast.BoolOp(values=vs):
            parts = [_compile(v) for v in vs]

            def any_of(values, clock):
                result = False
                for part in parts:
                    result = part(values, clock)
                    if result:
                        return result
                return result
            return any_of
        case ast.Compare(left=l, ops=ops, comparators=cs):
            first = _compile(l)
            steps = [(isinstance(o, (ast.Eq, ast.NotEq)), _CMPOPS[type(o)], _compile(c))
                     for o, c in zip(ops, cs, strict=True)]

            def compare(values, clock):
                left = first(values, clock)
                for equality, cmp, comparator in steps:
                    right = comparator(values, clock)
                    if equality:
                        ok = cmp(left, right)
                    elif left is None or right is None:
                        return False
                    else:
                        ok = cmp(_num(left), _num(right))
                    if not ok:
                        return False
                    left = right
                return True
            return compare
        case ast.IfExp(test=t, body=b, orelse=o):
            test, body, orelse = _compile(t), _compile(b), _compile(o)
            return lambda values, clock: (body(values, clock) if test(values, clock)
                                          else orelse(values, clock))
        case ast.Call(func=ast.Name(id="now")):
            return lambda values, clock: clock
        case ast.Call(func=ast.Name(id="today")):
            return lambda values, clock: clock.date()
        case ast.Call(func=ast.Name(id=fname), args=args):
            parts = [_compile(a) for a in args]
            if len(parts) == 1:
                (one,) = parts
                return lambda values, clock: FUNCTIONS[fname](one(values, clock))
            if len(parts) == 2:
                a, b = parts
                return lambda values, clock: FUNCTIONS[fname](a(values, clock), b(values, clock))
            return lambda values, clock: FUNCTIONS[fname](*(p(values, clock) for p in parts))

    def fails(values, clock):  # pragma: no cover - Expression's check lets nothing else in
        raise ExpressionError(f"cannot evaluate {ast.unparse(node)}")
    return fails


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ExpressionError(f"'{name}' is not a time zone") from None


@lru_cache(maxsize=4096)
def compiled(source: str) -> Expression:
    """A parsed expression, parsed once per distinct source (formulas run on every write)."""
    return Expression(source)
