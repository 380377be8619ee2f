"""The one filter language: data → typed tree → SQL, Python evaluation and words.

A filter is data, as written in YAML or JSON (see "The filter language" in
docs/workspace-format.md). `parse` checks it against a record type and returns a tree of
All / Any / Not / Condition whose values are already parsed by the field types. `to_sql`
compiles a tree to one SQLAlchemy expression with bound values only; `evaluate` decides the
same question in Python for one record; `describe` says it in words (en, zh).

Empty values follow one rule everywhere. A positive condition (eq, lt, lte, gt, gte,
between, in, contains, starts_with, within, is_not_empty) never matches an empty value; its
negation (ne, not_in, not_contains, is_empty, and `not:`) always does: "stage is not lost"
includes the records with no stage. In SQL a negated condition reads
`NOT (positive) OR column IS NULL` and `not:` is pushed down to the conditions, so the
database's three-valued logic never shows and SQL agrees with `evaluate` on every record.
A path through a link (`client.source`) is empty when the link is.

contains and starts_with ignore the case of the letters A-Z, and of those only, on SQLite,
PostgreSQL and in Python alike (SQLite's LIKE folds no other letters); eq is exact.

A select field is ordered by its options, not alphabetically: `stage lt negotiation` is
the stages before negotiation (an `in` of those options, so an index serves it), and a sort
by the field follows the same order (lowrise.storage.query). A value that is no longer an
option is neither before nor after any option here; a sort puts it after them.
"""

from __future__ import annotations

import difflib
import re
import string
import typing as t
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

from lowrise.actor import Actor, utcnow
from lowrise.errors import FieldError, FilterError
from lowrise.fields import registry
from lowrise.workspace.model import Field, RecordType, Workspace

MAX_LINK_DEPTH = 3
#: how deeply all / any / not may nest: deeper filters are refused, never a RecursionError
MAX_NESTING = 32
#: whole numbers a filter compares with: the databases' 64-bit integers
MAX_INT = 2**63 - 1
PERIODS = ("today", "yesterday", "this_week", "last_week", "this_month", "last_month",
           "this_year", "last_7_days", "last_30_days", "next_7_days", "next_30_days", "overdue")
_RELATIVE = re.compile(r"^(?:(today|yesterday|tomorrow|now)|([+-])(\d{1,5})([dhw]))$")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


# -- the tree ------------------------------------------------------------------------------

@dataclass(frozen=True)
class All:
    """Every item holds (an empty All matches every record)."""

    items: tuple[Node, ...] = ()
    kind: t.Literal["all"] = "all"


@dataclass(frozen=True)
class Any:
    """At least one item holds (an empty Any matches nothing)."""

    items: tuple[Node, ...] = ()
    kind: t.Literal["any"] = "any"


@dataclass(frozen=True)
class Not:
    item: Node
    kind: t.Literal["not"] = "not"


@dataclass(frozen=True)
class Condition:
    """`path op value`; `fields[i]` is the field named by `path[i]`, on record type `types[i]`."""

    path: tuple[str, ...]
    op: str
    value: t.Any = None
    fields: tuple[Field, ...] = dc_field(default=(), compare=False, repr=False)
    types: tuple[str, ...] = dc_field(default=(), compare=False, repr=False)
    tz: str = "UTC"
    kind: t.Literal["condition"] = "condition"

    @property
    def field(self) -> Field:
        return self.fields[-1]


class Extension:
    """A node that compiles itself, for conditions the filter data cannot say: the access
    layer's row scopes ("my team's records", "clients my contracts link to"). Its SQL must
    be true or false, never NULL. Only code builds these; `parse` never makes one."""

    kind: t.ClassVar[str] = "extension"

    def to_sql(self, schema, ctx: FilterContext) -> ColumnElement:  # pragma: no cover
        raise NotImplementedError

    def evaluate(self, record: Mapping[str, t.Any], ctx: FilterContext) -> bool:
        raise FilterError(f"{type(self).__name__} is decided by the database only")

    def describe(self, workspace: Workspace, locale: str) -> str:
        return type(self).__name__


Node = All | Any | Not | Condition | Extension


@dataclass(frozen=True)
class Me:
    """`me`: the current user, resolved when the filter runs."""


ME = Me()


@dataclass(frozen=True)
class Relative:
    """A date relative to the clock: today, yesterday, tomorrow, now, -7d, +24h, +2w."""

    text: str


@dataclass(frozen=True)
class Day:
    """A whole calendar day given to a datetime field: it means the day in the time zone."""

    day: date


@dataclass(frozen=True)
class Period:
    """A `within` period; days are counted in the workspace's time zone."""

    name: str


Resolver = Callable[[str, int], Mapping[str, t.Any] | None]


@dataclass(frozen=True)
class FilterContext:
    """What a filter needs when it runs: the clock, the current user, linked records."""

    user: int | None = None
    clock: Callable[[], datetime] = utcnow
    #: fetches a linked record (type name, id) as a dict of Python values, for paths
    resolver: Resolver | None = None
    #: the rows of a type a path may go through (the actor's row scope; None: any row), so
    #: that `client.source` never tells anything about a client out of the actor's sight
    scope: Callable[[str], Node | None] | None = None

    def now(self) -> datetime:
        return self.clock()

    @classmethod
    def of(cls, ctx: FilterContext | Actor | None, resolver: Resolver | None = None
           ) -> FilterContext:
        """A context from an Actor, a context, or nothing (no user, the real clock)."""
        if ctx is None:
            return cls(resolver=resolver)
        if isinstance(ctx, FilterContext):
            return ctx if resolver is None else replace(ctx, resolver=resolver)
        return cls(user=ctx.user, clock=ctx.clock, resolver=resolver)


# -- fields --------------------------------------------------------------------------------

_STRINGY = ("text", "multi", "file")
_SPANNED = ("number", "date", "datetime")


def flavor(f: Field) -> str:
    """How a field's values compare: text multi select bool number date datetime link file
    (the flavor of the type whose values it holds: a formula's result's)."""
    return _value_kind(f).flavor


def _value_kind(f: Field):
    """The field type that parses filter values (formulas by their result; autonumbers as text)."""
    return f.kind.value_type(f)


def operators_for(f: Field) -> tuple[str, ...]:
    """The operators a field supports (those of its type its values' type has too)."""
    ops = tuple(f.kind.operators)
    if f.kind.value_type(f) is not f.kind:
        ops = tuple(o for o in ops if o in _value_kind(f).operators)
    return ops


def link_target(f: Field, ws: Workspace) -> str | None:
    """The record type a link or user field points at."""
    if f.kind.person:
        return f.target or ws.users_type
    return f.target if f.kind.links else None


def fold(text: str) -> str:
    """Lower-case A-Z only: the case rule of contains and starts_with everywhere."""
    return text.translate(_FOLD)


def like_escape(text: str) -> str:
    """Escape LIKE's wildcards so that the text matches literally (escape character `\\`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- time ----------------------------------------------------------------------------------

@lru_cache(maxsize=64)
def zone(name: str | None) -> ZoneInfo:
    return ZoneInfo(name or "UTC")


def day_start(d: date, tz: str) -> datetime:
    """The UTC instant a local calendar day starts."""
    return datetime.combine(d, time(), tzinfo=zone(tz)).astimezone(UTC)


def period_days(name: str, today: date) -> tuple[date, date]:
    """A period as [first day, day after the last); weeks start on Monday."""
    monday = today - timedelta(days=today.weekday())
    first = today.replace(day=1)
    next_first = (first + timedelta(days=32)).replace(day=1)
    spans = {
        "today": (today, today + timedelta(days=1)),
        "yesterday": (today - timedelta(days=1), today),
        "this_week": (monday, monday + timedelta(days=7)),
        "last_week": (monday - timedelta(days=7), monday),
        "this_month": (first, next_first),
        "last_month": ((first - timedelta(days=1)).replace(day=1), first),
        "this_year": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "last_7_days": (today - timedelta(days=6), today + timedelta(days=1)),
        "last_30_days": (today - timedelta(days=29), today + timedelta(days=1)),
        "next_7_days": (today, today + timedelta(days=7)),
        "next_30_days": (today, today + timedelta(days=30)),
    }
    return spans[name]


@dataclass(frozen=True)
class _Span:
    """Values from `lo` (None: unbounded) up to `hi`, which `open` excludes."""

    lo: t.Any
    hi: t.Any
    open: bool = False


class _Run:
    """One compile or evaluation: the clock is read once so every condition sees one `now`."""

    def __init__(self, ctx: FilterContext):
        self.ctx = ctx
        self.now = ctx.now()
        self.user = ctx.user

    def today(self, tz: str) -> date:
        return self.now.astimezone(zone(tz)).date()

    def relative(self, text: str, fl: str, tz: str) -> t.Any:
        m = _RELATIVE.match(text)
        assert m is not None
        word, sign, n, unit = m.groups()
        if word == "now":
            return self.now if fl == "datetime" else Day(self.today(tz))
        if word:
            shift = {"today": 0, "yesterday": -1, "tomorrow": 1}[word]
            return Day(self.today(tz) + timedelta(days=shift))
        amount = int(n) * (-1 if sign == "-" else 1)
        delta = {"d": timedelta(days=amount), "w": timedelta(weeks=amount),
                 "h": timedelta(hours=amount)}[unit]
        if fl == "datetime":
            return self.now + delta
        if unit == "h":
            return Day((self.now + delta).astimezone(zone(tz)).date())
        return Day(self.today(tz) + delta)

    def span(self, cond: Condition, v: t.Any) -> _Span:
        fl = flavor(cond.field)
        if isinstance(v, Relative):
            v = self.relative(v.text, fl, cond.tz)
        if isinstance(v, Day):
            if fl == "date":
                return _Span(v.day, v.day)
            return _Span(day_start(v.day, cond.tz),
                         day_start(v.day + timedelta(days=1), cond.tz), True)
        return _Span(v, v)

    def period(self, cond: Condition, name: str) -> _Span:
        fl, tz = flavor(cond.field), cond.tz
        if name == "overdue":
            return _Span(None, self.today(tz) if fl == "date" else self.now, True)
        a, b = period_days(name, self.today(tz))
        if fl == "date":
            return _Span(a, b, True)
        return _Span(day_start(a, tz), day_start(b, tz), True)

    def resolve(self, cond: Condition) -> t.Any:
        """The condition's value as the comparisons need it (spans, sets, the user's id)."""
        op = OPERATORS[cond.op]
        base, fl, v = op.negates or op.name, flavor(cond.field), cond.value
        if base == "within":
            return self.period(cond, v.name)
        if base == "between":
            return (self.span(cond, v[0]), self.span(cond, v[1]))
        if base == "in":
            return tuple(x for x in (self.user if isinstance(x, Me) else x for x in v)
                         if x is not None)
        if base in ("lt", "lte", "gt", "gte") and fl == "select":
            return _ranked(cond.field, base, v)
        if isinstance(v, Me):
            return self.user
        if base in ("eq", "lt", "lte", "gt", "gte") and fl in _SPANNED:
            return self.span(cond, v)
        return v


_CMP = {"lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
        "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b}


def _ranked(f: Field, op: str, value: str) -> frozenset[str]:
    """The options before / after `value` in the field's option order (the stage order)."""
    order = [o.value for o in f.options]
    r = order.index(value)
    return frozenset(o for i, o in enumerate(order) if _CMP[op](i, r))


# -- operators: one table; each knows its SQL, its Python test and its words --------------

def _sql_span(col, s: _Span, part: str = "in"):
    lower = None if s.lo is None else col >= s.lo
    upper = col < s.hi if s.open else col <= s.hi
    if part == "lo":
        return lower
    if part == "hi":
        return upper
    if s.lo is not None and s.lo == s.hi and not s.open:
        return col == s.lo
    return upper if lower is None else sa.and_(lower, upper)


def _py_span(v, s: _Span, part: str = "in") -> bool:
    lower = s.lo is None or v >= s.lo
    upper = v < s.hi if s.open else v <= s.hi
    return {"lo": lower, "hi": upper}.get(part, lower and upper)


def _sql_eq(col, cond, rv):
    if flavor(cond.field) in _SPANNED:
        return _sql_span(col, rv)
    return sa.false() if rv is None else col == rv


def _py_eq(v, cond, rv):
    if flavor(cond.field) in _SPANNED:
        return _py_span(v, rv)
    return rv is not None and v == rv


def _order(op: str):
    # lt: below the low end; lte: up to the high end; gt: above the high end; gte: from low end
    def sql(col, cond, rv):
        if isinstance(rv, frozenset):
            return col.in_(sorted(rv)) if rv else sa.false()
        if op == "lt":
            return col < rv.lo
        if op == "lte":
            return _sql_span(col, rv, "hi")
        if op == "gt":
            return col >= rv.hi if rv.open else col > rv.hi
        return col >= rv.lo

    def test(v, cond, rv):
        if isinstance(rv, frozenset):
            return v in rv
        if op == "lt":
            return v < rv.lo
        if op == "lte":
            return _py_span(v, rv, "hi")
        if op == "gt":
            return v >= rv.hi if rv.open else v > rv.hi
        return v >= rv.lo

    return sql, test


def _multi(v) -> list[str]:
    if isinstance(v, str):
        return registry.get("multi_select").from_db(None, v) or []
    return list(v or [])


def _sql_in(col, cond, rv):
    if not rv:
        return sa.false()
    if flavor(cond.field) == "multi":
        return sa.or_(*(col.like(f"%|{like_escape(o)}|%", escape="\\") for o in rv))
    return col.in_(list(rv))


def _py_in(v, cond, rv):
    if flavor(cond.field) == "multi":
        return any(o in _multi(v) for o in rv)
    return v in rv


def _sql_contains(col, cond, rv):
    if flavor(cond.field) == "multi":
        return col.like(f"%|{like_escape(rv)}|%", escape="\\")
    return FoldedLike(col, "%" + like_escape(fold(rv)) + "%")


def _py_contains(v, cond, rv):
    if flavor(cond.field) == "multi":
        return rv in _multi(v)
    return fold(rv) in fold(str(v))


def _sql_not_empty(col, cond, rv):
    if flavor(cond.field) in _STRINGY:
        return sa.and_(col.is_not(None), col != "")
    return col.is_not(None)


@dataclass(frozen=True)
class Operator:
    """One operator. A negating operator (`negates`) is NOT of a positive one, so it matches
    empty values; only positive operators carry `to_sql(column, condition, value)` (false or
    NULL on an empty column) and `evaluate(value, condition, value)` (never given an empty
    value). Values reach both already resolved (spans, option sets, the user's id)."""

    name: str
    shape: t.Literal["one", "many", "pair", "none", "period"]
    en: str
    zh: str
    negates: str | None = None
    to_sql: Callable[..., t.Any] | None = None
    evaluate: Callable[..., bool] | None = None
    en_time: str | None = None
    zh_time: str | None = None

    def describe(self, locale: str, timed: bool = False) -> str:
        """The operator's words: "is" / "等于"; "is before" / "早于" for dates."""
        if timed and self.en_time:
            return self.zh_time if _zh(locale) else self.en_time
        return self.zh if _zh(locale) else self.en


OPERATORS: dict[str, Operator] = {op.name: op for op in (
    Operator("eq", "one", "is", "等于", to_sql=_sql_eq, evaluate=_py_eq),
    Operator("ne", "one", "is not", "不等于", negates="eq"),
    Operator("lt", "one", "is less than", "小于", None, *_order("lt"), "is before", "早于"),
    Operator("lte", "one", "is at most", "小于等于", None, *_order("lte"),
             "is on or before", "不晚于"),
    Operator("gt", "one", "is greater than", "大于", None, *_order("gt"), "is after", "晚于"),
    Operator("gte", "one", "is at least", "大于等于", None, *_order("gte"),
             "is on or after", "不早于"),
    Operator("between", "pair", "is between", "介于",
             to_sql=lambda col, c, rv: sa.and_(_sql_span(col, rv[0], "lo"),
                                            _sql_span(col, rv[1], "hi")),
             evaluate=lambda v, c, rv: _py_span(v, rv[0], "lo") and _py_span(v, rv[1], "hi")),
    Operator("in", "many", "is any of", "属于", to_sql=_sql_in, evaluate=_py_in),
    Operator("not_in", "many", "is none of", "不属于", negates="in"),
    Operator("contains", "one", "contains", "包含", to_sql=_sql_contains,
             evaluate=_py_contains),
    Operator("not_contains", "one", "does not contain", "不包含", negates="contains"),
    Operator("starts_with", "one", "starts with", "开头是",
             to_sql=lambda col, c, rv: FoldedLike(col, like_escape(fold(rv)) + "%"),
             evaluate=lambda v, c, rv: fold(str(v)).startswith(fold(rv))),
    Operator("is_not_empty", "none", "is not empty", "不为空", to_sql=_sql_not_empty,
             evaluate=lambda v, c, rv: v not in ("", [])),
    Operator("is_empty", "none", "is empty", "为空", negates="is_not_empty"),
    Operator("within", "period", "is within", "在",
             to_sql=lambda col, c, rv: _sql_span(col, rv),
             evaluate=lambda v, c, rv: _py_span(v, rv)),
)}


# -- ASCII-case-insensitive LIKE, compiled per database ---------------------------------

class FoldedLike(ColumnElement):
    """`column LIKE pattern` ignoring the case of A-Z only; `pattern` is already folded."""

    type = sa.Boolean()
    inherit_cache = False

    def __init__(self, column, pattern: str):
        self.column = column
        self.pattern = pattern


@compiles(FoldedLike)
def _folded_like(el: FoldedLike, compiler, **kw) -> str:
    # SQLite's LIKE ignores the case of A-Z and of nothing else: the rule itself.
    return "(" + compiler.process(el.column.like(el.pattern, escape="\\"), **kw) + ")"


@compiles(FoldedLike, "postgresql")
def _folded_like_pg(el: FoldedLike, compiler, **kw) -> str:
    # ILIKE lets a trigram index narrow the rows; translate() then applies the exact rule.
    lowered = sa.func.translate(el.column, string.ascii_uppercase, string.ascii_lowercase)
    expr = sa.and_(el.column.ilike(el.pattern, escape="\\"),
                   lowered.like(el.pattern, escape="\\"))
    return "(" + compiler.process(expr, **kw) + ")"


# -- parse ---------------------------------------------------------------------------------

def did_you_mean(word: str, choices) -> str:
    """` (did you mean 'x'?)` when a close name exists, else nothing."""
    near = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{near[0]}'?)" if near else ""


#: what a select's stored value looks like (an option's value, as the YAML allows it)
_CHOICE_VALUE = re.compile(r"[a-z0-9][a-z0-9_]{0,62}")
#: the operators that find records by a choice's value as stored
_BY_VALUE = ("eq", "ne", "in", "not_in", "contains", "not_contains")


class _Parser:
    def __init__(self, rt: RecordType, ws: Workspace, strict_options: bool = False):
        self.rt, self.ws = rt, ws
        self.strict_options = strict_options
        self.tz = ws.config.get("timezone") or "UTC"
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}" if where else message)

    def node(self, data: t.Any, where: str, depth: int = 0) -> Node | None:
        if data is None or isinstance(data, (All, Any, Not, Condition, Extension)):
            return data if data is not None else All()
        if depth > MAX_NESTING:
            self.fail(where, f"the filter nests all / any / not more than {MAX_NESTING} deep")
            return None
        if isinstance(data, (list, tuple)):
            return All(self.items(data, where, depth))
        if not isinstance(data, Mapping):
            self.fail(where, f"expected a condition {{field, op, value}} or all / any / not, "
                             f"got {data!r}")
            return None
        if "field" in data:
            return self.condition(data, where)
        keys = set(data)
        if not keys:
            return All()
        groups = keys & {"all", "any", "not"}
        if len(groups) != 1 or keys - groups:
            self.fail(where, f"expected exactly one of all, any, not or a condition "
                             f"{{field, op, value}}; got {', '.join(sorted(map(str, keys)))}")
            return None
        (key,) = groups
        inner = data[key]
        here = f"{where}.{key}" if where else key
        if key == "not":
            item = self.node(inner, here, depth + 1)
            return None if item is None else Not(item)
        if not isinstance(inner, (list, tuple)):
            self.fail(here, "expected a list of conditions")
            return None
        items = self.items(inner, here, depth)
        return All(items) if key == "all" else Any(items)

    def items(self, data, where: str, depth: int = 0) -> tuple[Node, ...]:
        out = [self.node(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(data)]
        return tuple(x for x in out if x is not None)

    def condition(self, data: Mapping, where: str) -> Condition | None:
        extra = set(data) - {"field", "op", "value"}
        if extra:
            self.fail(where, f"unknown key {', '.join(sorted(map(str, extra)))}; a condition "
                             "has field, op and value")
        name, op = data.get("field"), data.get("op")
        if not isinstance(name, str) or not name:
            self.fail(where, "field must be a field name")
            return None
        resolved = self.path(name, where)
        if resolved is None:
            return None
        fields, types = resolved
        f = fields[-1]
        label = self.label(fields)
        allowed = operators_for(f)
        if not isinstance(op, str) or op not in OPERATORS:
            self.fail(where, f"{name}: unknown operator {op!r}{did_you_mean(str(op), OPERATORS)}; "
                             f"{label} takes {', '.join(allowed)}")
            return None
        if op not in allowed:
            self.fail(where, f"{name}: {label} ({f.type}) does not support '{op}'; "
                             f"use one of {', '.join(allowed)}")
            return None
        tz = self.tz
        if flavor(f) == "datetime":
            tz = f.config.get("timezone") or tz
        ok, value = self.value(f, op, data.get("value"), f"{where}: {name}" if where else name)
        if not ok:
            return None
        return Condition(tuple(name.split(".")), op, value, tuple(fields), tuple(types), tz)

    def path(self, name: str, where: str):
        segments = name.split(".")
        if len(segments) > MAX_LINK_DEPTH + 1:
            self.fail(where, f"{name}: a path goes through at most {MAX_LINK_DEPTH} links")
            return None
        rt, fields, types = self.rt, [], []
        for i, seg in enumerate(segments):
            f = rt.fields.get(seg)
            if f is None:
                self.fail(where, f"{rt.label} has no field '{seg}'{did_you_mean(seg, rt.fields)}")
                return None
            fields.append(f)
            types.append(rt.name)
            if i < len(segments) - 1:
                target = link_target(f, self.ws)
                if target is None:
                    self.fail(where, f"{name}: '{seg}' is not a link, so the path cannot go "
                                     "through it")
                    return None
                if target not in self.ws.record_types:
                    self.fail(where, f"{name}: '{seg}' points at '{target}', which is not a "
                                     "record type")
                    return None
                rt = self.ws.record_types[target]
        return fields, types

    def label(self, fields: list[Field]) -> str:
        return " › ".join(str(f.label) for f in fields)

    def value(self, f: Field, op: str, raw: t.Any, where: str) -> tuple[bool, t.Any]:
        shape = OPERATORS[op].shape
        if shape == "none":
            if raw not in (None, True):
                self.fail(where, f"'{op}' takes no value")
                return False, None
            return True, None
        if shape == "period":
            if raw not in PERIODS:
                self.fail(where, f"{raw!r} is not a period; use one of {', '.join(PERIODS)}")
                return False, None
            return True, Period(raw)
        if shape == "one":
            return self.scalar(f, op, raw, where)
        want = 2 if shape == "pair" else None
        if not isinstance(raw, (list, tuple)) or not raw or (want and len(raw) != want):
            shown = "a list of two values [from, to]" if want else "a list of values"
            self.fail(where, f"'{op}' takes {shown}, got {raw!r}")
            return False, None
        out = [self.scalar(f, op, x, where) for x in raw]
        if not all(ok for ok, _ in out):
            return False, None
        return True, tuple(v for _, v in out)

    def scalar(self, f: Field, op: str, raw: t.Any, where: str) -> tuple[bool, t.Any]:
        fl = flavor(f)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            self.fail(where, f"'{op}' needs a value; to find empty ones use is_empty")
            return False, None
        if isinstance(raw, (list, tuple, set)) or (isinstance(raw, Mapping) and fl != "link"):
            self.fail(where, f"'{op}' takes one value, got {raw!r}")
            return False, None
        text = raw.strip() if isinstance(raw, str) else None
        if fl == "link" and text is not None and text.lower() == "me":
            if link_target(f, self.ws) != self.ws.users_type:
                self.fail(where, f"'me' only works on fields that point at "
                                 f"{self.ws.users_type or 'people'}")
                return False, None
            return True, ME
        if fl in ("date", "datetime") and text is not None and _RELATIVE.match(text.lower()):
            return True, Relative(text.lower())
        if fl == "datetime" and ((isinstance(raw, date) and not isinstance(raw, datetime))
                                 or (text is not None and _ISO_DAY.match(text))):
            return self.parsed(registry.get("date"), f, raw, where, wrap=Day)
        if fl == "text" and (OPERATORS[op].negates or op) in ("contains", "starts_with"):
            if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
                self.fail(where, f"'{op}' takes text, got {raw!r}")
                return False, None
            return True, str(raw).strip()
        if fl in ("select", "multi") and self.no_longer_an_option(f, op, text):
            return True, text
        if fl == "multi":
            return self.parsed(registry.get("select"), f, raw if text is None else text, where)
        return self.parsed(_value_kind(f), f, raw, where)

    def no_longer_an_option(self, f: Field, op: str, text: str | None) -> bool:
        """Whether `text` is a value records may still hold though it is no option now (an
        option removed while records held it): such records can still be found by it. The
        workspace's own files are held to the options (`strict_options`)."""
        if self.strict_options or text is None or op not in _BY_VALUE or \
                not _CHOICE_VALUE.fullmatch(text):
            return False
        try:
            registry.get("select").parse(f, text)
        except FieldError:
            return True
        return False

    def parsed(self, kind, f: Field, raw, where: str, wrap=None) -> tuple[bool, t.Any]:
        try:
            value = kind.parse(f, raw)
        except FieldError as exc:
            self.fail(where, str(exc))
            return False, None
        except (TypeError, ValueError, AttributeError):
            self.fail(where, f"{raw!r} is not a value for {f.label}")
            return False, None
        if value is None:
            self.fail(where, "needs a value; to find empty ones use is_empty")
            return False, None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            self.fail(where, f"{raw!r} is too large for {f.label}")
            return False, None
        return True, wrap(value) if wrap else value


def _record_type(record_type: RecordType | str, ws: Workspace) -> RecordType:
    return ws.type(record_type) if isinstance(record_type, str) else record_type


def parse(data: t.Any, record_type: RecordType | str, workspace: Workspace, *,
          strict_options: bool = False) -> Node:
    """Check filter data against a record type; raise FilterError saying what is wrong.
    `strict_options`: a choice's value must be one of its options (the workspace's files);
    otherwise a value shaped like one is taken too (records may hold a removed option)."""
    p = _Parser(_record_type(record_type, workspace), workspace, strict_options)
    node = p.node(data, "")
    if p.problems:
        raise FilterError("; ".join(p.problems))
    assert node is not None
    return node


def check(data: t.Any, record_type: RecordType | str, workspace: Workspace) -> list[str]:
    """Every problem of a filter, as plain sentences (empty when it is fine)."""
    p = _Parser(_record_type(record_type, workspace), workspace)
    p.node(data, "")
    return p.problems


def resolve_path(name: str, record_type: RecordType | str, workspace: Workspace
                 ) -> tuple[Field, ...]:
    """The fields a field name or a path through links (`client.source`) goes through, the
    last one the field compared; FilterError saying what is wrong otherwise."""
    p = _Parser(_record_type(record_type, workspace), workspace)
    found = p.path(name, "")
    if found is None:
        raise FilterError("; ".join(p.problems))
    return tuple(found[0])


def all_of(*nodes: Node | None) -> Node:
    """The conjunction of some filters (view AND row scope AND the user's own), flattened."""
    items: list[Node] = []
    for n in nodes:
        if n is None:
            continue
        items.extend(n.items if isinstance(n, All) else (n,))
    return items[0] if len(items) == 1 else All(tuple(items))


# -- SQL -----------------------------------------------------------------------------------

def to_sql(node: Node, schema, ctx: FilterContext | Actor | None = None) -> ColumnElement:
    """One boolean SQL expression over the record type's table; every value bound."""
    return _sql(node, False, schema, _Run(FilterContext.of(ctx)))


def _sql(node: Node, neg: bool, schema, run: _Run) -> ColumnElement:
    if isinstance(node, Not):
        return _sql(node.item, not neg, schema, run)
    if isinstance(node, Extension):
        positive = node.to_sql(schema, run.ctx)
        return sa.not_(positive) if neg else positive
    if isinstance(node, (All, Any)):
        parts = [_sql(x, neg, schema, run) for x in node.items]
        conjunction = isinstance(node, All) != neg  # De Morgan under a negation
        if not parts:
            return sa.true() if conjunction else sa.false()
        return sa.and_(*parts) if conjunction else sa.or_(*parts)
    op = OPERATORS[node.op]
    base = OPERATORS[op.negates] if op.negates else op
    rv = run.resolve(node)
    tables = [schema.table(tn) for tn in node.types]
    inner = tables[-1] if len(tables) == 1 else tables[-1].alias()
    positive = base.to_sql(inner.c[node.path[-1]], node, rv)
    for i in range(len(node.path) - 2, -1, -1):
        outer = tables[i] if i == 0 else tables[i].alias()
        inside = [positive]
        guard = run.ctx.scope(node.types[i + 1]) if run.ctx.scope is not None else None
        if guard is not None:
            # scopes are trusted definitions: compiled without a scope of their own
            trusted = _Run(replace(run.ctx, scope=None))
            base = tables[i + 1]
            inside.append(inner.c.id.in_(sa.select(base.c.id).where(
                _sql(guard, False, schema, trusted))))
        positive = outer.c[node.path[i]].in_(sa.select(inner.c.id).where(*inside))
        inner = outer
    if neg == bool(op.negates):
        return positive
    return sa.or_(sa.not_(positive), tables[0].c[node.path[0]].is_(None))


# -- Python --------------------------------------------------------------------------------

def evaluate(node: Node, record: Mapping[str, t.Any],
             ctx: FilterContext | Actor | None = None) -> bool:
    """Whether one record (a dict of Python values) matches: exactly what to_sql selects."""
    return _eval(node, record, _Run(FilterContext.of(ctx)))


def _eval(node: Node, record: Mapping[str, t.Any], run: _Run) -> bool:
    if isinstance(node, Not):
        return not _eval(node.item, record, run)
    if isinstance(node, Extension):
        return node.evaluate(record, run.ctx)
    if isinstance(node, All):
        return all(_eval(x, record, run) for x in node.items)
    if isinstance(node, Any):
        return any(_eval(x, record, run) for x in node.items)
    op = OPERATORS[node.op]
    base = OPERATORS[op.negates] if op.negates else op
    value = _value_at(record, node, run.ctx)
    positive = value is not None and bool(base.evaluate(value, node, run.resolve(node)))
    return positive != bool(op.negates)


def _value_at(record: Mapping[str, t.Any], cond: Condition, ctx: FilterContext) -> t.Any:
    value = record.get(cond.path[0])
    for name, type_name in zip(cond.path[1:], cond.types[1:], strict=True):
        if value is None:
            return None
        if ctx.resolver is None:
            raise FilterError(f"'{'.'.join(cond.path)}' goes through a link; evaluating it "
                              "needs a resolver for linked records")
        linked = ctx.resolver(type_name, value)
        value = None if linked is None else linked.get(name)
    if flavor(cond.field) == "multi":
        value = _multi(value) or None
    return value


# -- words ---------------------------------------------------------------------------------

_PERIOD_WORDS = {
    "today": ("today", "今天"), "yesterday": ("yesterday", "昨天"),
    "this_week": ("this week", "本周"), "last_week": ("last week", "上周"),
    "this_month": ("this month", "本月"), "last_month": ("last month", "上月"),
    "this_year": ("this year", "今年"), "last_7_days": ("the last 7 days", "最近7天"),
    "last_30_days": ("the last 30 days", "最近30天"),
    "next_7_days": ("the next 7 days", "未来7天"), "next_30_days": ("the next 30 days", "未来30天"),
}
_WORDS = {"me": ("me", "我"), "today": ("today", "今天"), "yesterday": ("yesterday", "昨天"),
          "tomorrow": ("tomorrow", "明天"), "now": ("now", "现在"),
          "and": (" and ", " 且 "), "or": (" or ", " 或 "), "not": ("not ({})", "并非（{}）"),
          "list": (", ", "、"), "between": ("{} and {}", "{} 和 {} 之间"),
          "everything": ("every record", "全部记录"), "nothing": ("no record", "无记录"),
          "overdue": ("is overdue", "已逾期")}
_UNITS = {"d": ("day", "天"), "h": ("hour", "小时"), "w": ("week", "周")}


def _zh(locale: str | None) -> int:
    return 1 if (locale or "").startswith("zh") else 0


def describe(node: Node, workspace: Workspace, locale: str = "en") -> str:
    """The filter in words: "Stage is Negotiation" / "阶段 等于 洽谈"."""
    return _describe(node, workspace, locale, top=True)


def _describe(node: Node, ws: Workspace, locale: str, top: bool = False) -> str:
    z = _zh(locale)
    if isinstance(node, Extension):
        return node.describe(ws, locale)
    if isinstance(node, Not):
        return _WORDS["not"][z].format(_describe(node.item, ws, locale, top=True))
    if isinstance(node, (All, Any)):
        if not node.items:
            return _WORDS["everything" if isinstance(node, All) else "nothing"][z]
        joiner = _WORDS["and" if isinstance(node, All) else "or"][z]
        text = joiner.join(_describe(x, ws, locale) for x in node.items)
        return text if top or len(node.items) == 1 else f"({text})"
    label = " › ".join(f.label.get(locale, ws.default_locale) for f in node.fields)
    op = OPERATORS[node.op]
    if node.op == "within" and node.value.name == "overdue":
        return f"{label} {_WORDS['overdue'][z]}"
    words = op.describe(locale, timed=flavor(node.field) in ("date", "datetime"))
    if op.shape == "none":
        return f"{label} {words}"
    if op.shape == "period":
        return f"{label} {words} {_PERIOD_WORDS[node.value.name][z]}"
    if op.shape == "pair":
        a, b = (_show(v, node.field, locale) for v in node.value)
        return f"{label} {words} {_WORDS['between'][z].format(a, b)}"
    if op.shape == "many":
        shown = _WORDS["list"][z].join(_show(v, node.field, locale) for v in node.value)
        return f"{label} {words} {shown}"
    return f"{label} {words} {_show(node.value, node.field, locale)}"


def _show(value: t.Any, f: Field, locale: str) -> str:
    z = _zh(locale)
    if isinstance(value, Me):
        return _WORDS["me"][z]
    if isinstance(value, Relative):
        if value.text in _WORDS:
            return _WORDS[value.text][z]
        sign, n, unit = value.text[0], int(value.text[1:-1]), value.text[-1]
        name = _UNITS[unit][z]
        if z:
            return f"{n}{name}{'前' if sign == '-' else '后'}"
        name += "s" if n != 1 else ""
        return f"{n} {name} ago" if sign == "-" else f"in {n} {name}"
    if isinstance(value, Day):
        return registry.get("date").display(f, value.day, locale)
    if flavor(f) == "multi":
        return registry.get("select").display(f, value, locale)
    if flavor(f) == "text":
        return f"“{value}”"
    try:
        return _value_kind(f).display(f, value, locale)
    except (TypeError, ValueError, AttributeError):
        return str(value)
