"""Reading records: keyset pages, counts, aggregates, link chips and reverse links.

Every value is bound and every identifier comes from the workspace model. Pages are keyset
pages over (sort columns..., id): a deep page costs what the first one does, never an
OFFSET. Empty values sort as if larger than any value (last ascending, first descending),
on SQLite as on PostgreSQL, which is PostgreSQL's own order, so its b-tree indexes serve
both directions; SQLite's planner serves them too.
"""

from __future__ import annotations

import base64
import binascii
import json
import typing as t
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from lowrise import access, filters
from lowrise.actor import Actor
from lowrise.errors import FilterError
from lowrise.fields.types import ExactDecimal
from lowrise.workspace.model import Field, Label, RecordType, Workspace

from .tables import Schema

#: system columns the engine always fills: no NULL ordering to care about
NEVER_EMPTY = ("id", "created_at", "updated_at", "version")
DEFAULT_SORT = ("-updated_at",)
MAX_LIMIT = 1000
ESTIMATE_FROM = 100_000
BUCKETS = ("day", "week", "month", "year")
MEASURES = ("count", "sum", "avg", "min", "max")

Ctx = filters.FilterContext | Actor | None
FilterArg = filters.Node | Mapping | list | None


@dataclass(frozen=True)
class Page:
    """One page of records (dicts of Python values) and the cursor of the next, if any."""

    rows: list[dict[str, t.Any]]
    next_cursor: str | None


@dataclass(frozen=True)
class Related:
    """The records of `record_type` whose `field` links to one record (a reverse link)."""

    record_type: str
    field: str
    label: str
    page: Page


@dataclass(frozen=True)
class _Key:
    name: str
    column: sa.ColumnElement
    desc: bool
    nullable: bool
    #: a select field sorts by its options' order: {option: rank}, the column is the rank
    ranks: Mapping[str, int] | None = None
    raw: t.Any = None  # (the stored column of a select field sorted by rank)
    #: its options in the database's own text order (see _collated)
    collated: tuple[str, ...] = ()

    def value(self, stored: t.Any) -> t.Any:
        """The key's value for a row's stored value (a select option's rank)."""
        if self.ranks is None or stored is None:
            return stored
        return self.ranks.get(stored, len(self.ranks))

    def order(self):
        col = self.column.desc() if self.desc else self.column.asc()
        if not self.nullable:
            return col
        return sa.nulls_first(col) if self.desc else sa.nulls_last(col)

    @property
    def nulls_after(self) -> bool:
        """Whether empty values come after the others in this key's direction."""
        return not self.desc


# -- helpers ---------------------------------------------------------------------------------

def _type(schema: Schema, type_name: str) -> RecordType:
    ws = schema.workspace
    if type_name not in ws.record_types:
        close = filters.did_you_mean(type_name, ws.record_types)
        raise FilterError(f"no record type '{type_name}'{close}")
    return ws.type(type_name)


def _field(rt: RecordType, name: str, purpose: str) -> Field:
    if name not in rt.fields:
        raise FilterError(f"cannot {purpose} '{name}': {rt.label} has no such field"
                          f"{filters.did_you_mean(name, rt.fields)}")
    return rt.fields[name]


def where_clause(schema: Schema, type_name: str, filter: FilterArg = None, ctx: Ctx = None,
                 q: str | None = None) -> sa.ColumnElement:
    """The WHERE of a read: the actor's row scope, the filter (a tree or filter data) and the
    quick search `q`. When `ctx` is an Actor its access policy applies (lowrise.access): a
    type it may not read is Forbidden, conditions on fields it sees masked match only the
    rows where it sees them."""
    parts = []
    node = None
    if filter is not None:
        node = filter if isinstance(filter, filters.Node) else \
            filters.parse(filter, type_name, schema.workspace)
    pol = access.policy(schema.workspace, ctx)
    if pol is not None:
        pol.require("read", type_name)
        node = pol.guard_filter(type_name, node)
        scope = pol.scope_sql(schema, type_name)
        if scope is not None:
            parts.append(scope)
        ctx = pol.context()
    if node is not None:
        parts.append(filters.to_sql(node, schema, ctx))
    if q and q.strip():
        from .search import search_condition

        parts.append(search_condition(schema, type_name, q, policy=pol))
    return sa.and_(*parts) if parts else sa.true()


def row_to_dict(rt: RecordType, row: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A database row as a dict of Python values (FieldType.from_db)."""
    return {name: rt.fields[name].kind.from_db(rt.fields[name], value)
            for name, value in row.items() if name in rt.fields}


def _columns(rt: RecordType, table: sa.Table, fields: Iterable[str] | None, extra=()) -> list:
    names = list(rt.fields) if fields is None else ["id", *fields]
    for name in names:
        _field(rt, name, "show")
    names += [n for n in extra if n not in names]
    return [table.c[n] for n in dict.fromkeys(names)]


# -- keyset pages ----------------------------------------------------------------------------

def _keys(rt: RecordType, table: sa.Table, sort: Sequence[str]) -> list[_Key]:
    keys: list[_Key] = []
    for raw in sort:
        name = raw.lstrip("-+")
        f = _field(rt, name, "sort by")
        if not f.kind.sortable:
            raise FilterError(f"cannot sort by '{name}': {f.type} fields are not sortable")
        if name not in (k.name for k in keys):
            col, ranks = table.c[name], None
            if filters.flavor(f) == "select" and f.options:
                col, ranks = option_rank(f, col)
            keys.append(_Key(name, col, raw.startswith("-"), name not in NEVER_EMPTY, ranks,
                             table.c[name]))
    if "id" not in (k.name for k in keys):
        # The tie-breaker runs the same way as the last key, so one index serves the page.
        keys.append(_Key("id", table.c.id, bool(keys) and keys[-1].desc, False))
    return keys


def option_rank(f: Field, col: sa.ColumnElement) -> tuple[sa.ColumnElement, dict[str, int]]:
    """A select field in its options' order (low, normal, high, urgent; the stages in their
    order), not its stored values' alphabetical one: the option's position, values that are
    no longer options after the others, empty values empty. First in a sort, the field is
    read one option after the other (`_walk_options`), each from an index; later in a sort,
    this CASE orders the rows."""
    ranks = {o.value: i for i, o in enumerate(f.options)}
    whens = [(col == value, sa.literal_column(str(i))) for value, i in ranks.items()]
    expr = sa.case(*whens, (col.is_not(None), sa.literal_column(str(len(ranks)))),
                   else_=sa.null())
    return sa.type_coerce(expr, sa.Integer()), ranks


def _cmp(col, op: str, value: t.Any) -> sa.ColumnElement:
    """col op value; booleans (which SQLAlchemy only compares with =) as false < true."""
    if not isinstance(value, bool):
        return {"<": col < value, ">": col > value, "<=": col <= value, ">=": col >= value}[op]
    keep = [b for b in (False, True) if {"<": b < value, ">": b > value, "<=": b <= value,
                                         ">=": b >= value}[op]]
    if not keep:
        return sa.false()
    return col.is_not(None) if len(keep) == 2 else col == keep[0]


def _beyond(key: _Key, value: t.Any) -> sa.ColumnElement:
    """Rows strictly after `value` in this key's order."""
    if value is None:
        return sa.false() if key.nulls_after else key.column.is_not(None)
    cmp = _cmp(key.column, "<" if key.desc else ">", value)
    return sa.or_(cmp, key.column.is_(None)) if key.nullable and key.nulls_after else cmp


def _after(keys: list[_Key], values: list[t.Any]) -> sa.ColumnElement:
    """Rows after the cursor: (k1 > v1) OR (k1 = v1 AND k2 > v2) OR ..."""
    ors, ties = [], []
    for key, value in zip(keys, values, strict=True):
        ors.append(sa.and_(*ties, _beyond(key, value)))
        ties.append(key.column.is_(None) if value is None else key.column == value)
    return sa.or_(*ors)


def _lead_bound(key: _Key, value: t.Any) -> sa.ColumnElement | None:
    """A range on the first key that an index can start from (None: no such range)."""
    if value is None:
        return key.column.is_(None) if key.nulls_after else None
    # ascending, the empties after the value are read by a second query
    return _cmp(key.column, "<=" if key.desc else ">=", value)


_TAGS: dict[str, tuple[type, Callable, Callable]] = {
    "d": (Decimal, str, Decimal),
    "D": (date, date.isoformat, date.fromisoformat),
    "T": (datetime, datetime.isoformat, datetime.fromisoformat),
}


def encode_cursor(sort: Sequence[str], values: Sequence[t.Any]) -> str:
    """An opaque cursor: the sort and the last row's key values."""
    out = []
    for v in values:
        tag = next((k for k, (cls, _, _) in _TAGS.items()
                    if isinstance(v, cls) and not (cls is date and isinstance(v, datetime))), None)
        out.append({tag: _TAGS[tag][1](v)} if tag else v)
    raw = json.dumps({"s": list(sort), "v": out}, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: Sequence[str], keys: list[_Key]) -> list[t.Any]:
    """The key values of a cursor made by encode_cursor for the same sort."""
    bad = FilterError("this page link is out of date or damaged; start again from the first page")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["s"] != list(sort) or len(data["v"]) != len(keys):
            raise bad
        values = []
        for v in data["v"]:
            if isinstance(v, dict):
                ((tag, text),) = v.items()
                v = _TAGS[tag][2](text)
            values.append(v)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise bad from None
    for key, v in zip(keys, values, strict=True):
        if v is not None and not isinstance(v, _python_types(key)):
            raise bad
    return values


def _python_types(key: _Key) -> tuple[type, ...]:
    try:
        py = key.column.type.python_type
    except NotImplementedError:
        return (object,)
    if py is Decimal or py is float:
        return (Decimal, int)
    if py is int:
        return (int,)
    return (py,)


def list_records(conn: sa.Connection, schema: Schema, type_name: str, *,
                 filter: FilterArg = None, sort: Sequence[str] = DEFAULT_SORT,
                 limit: int = 25, after: str | None = None,
                 fields: Sequence[str] | None = None, ctx: Ctx = None,
                 q: str | None = None, matches_first: bool = False) -> Page:
    """One keyset page of records matching `filter` (and quick search `q`), sorted by `sort`.

    `matches_first`: read every matching record, then sort those, instead of letting the
    database walk an index of the sort and test each record against the filter. For a
    caller that knows the matches are few (it counted them): a planner that expects them
    spread evenly along the sort walks far when they all sit at its other end (PostgreSQL
    read 400,000 rows of a sort index for the 8 late viewings of this month)."""
    rt, table = _type(schema, type_name), schema.table(type_name)
    sort = list(sort or DEFAULT_SORT)
    keys = _keys(rt, table, sort)
    limit = max(1, min(int(limit), MAX_LIMIT))
    base = where_clause(schema, type_name, filter, ctx, q)
    pol = access.policy(schema.workspace, ctx)
    if pol is not None:
        pol.check_names(type_name, [k.name for k in keys], "sort by")
        if fields is not None:
            fields = pol.visible_names(type_name, fields)
    cols = _columns(rt, table, fields, [k.name for k in keys])
    if pol is not None:
        cols += pol.flag_columns(schema, type_name)

    def fetch(where: sa.ColumnElement, n: int, by: Sequence[_Key]) -> list:
        stmt = sa.select(*cols).where(base, where)
        if not matches_first:
            return list(conn.execute(stmt.order_by(*(k.order() for k in by)).limit(n))
                        .mappings())
        # A MATERIALIZED common table expression is read whole before the outer query
        # sorts it, on PostgreSQL and on SQLite alike: the planner cannot walk the sort. It
        # holds the matches' ids and sort keys only (on SQLite, straight off the index that
        # found them), sorted and cut to `n` before the records are read.
        matches = sa.select(table.c.id.label("lr_id"),
                            *(k.column.label(f"lr_k{i}") for i, k in enumerate(by))
                            ).where(base, where).cte("lr_matches").prefix_with("MATERIALIZED")

        def order(rows):
            return [replace(k, column=rows.c[f"lr_k{i}"]).order() for i, k in enumerate(by)]
        top = sa.select(matches).order_by(*order(matches)).limit(n).subquery("lr_top")
        outer = (sa.select(*cols).join_from(table, top, table.c.id == top.c.lr_id)
                 .order_by(*order(top)))
        return list(conn.execute(outer).mappings())

    values = None if after is None else decode_cursor(after, sort, keys)
    if keys[0].ranks is not None:
        keys[0] = _collated(conn, keys[0])
    rows = _walk(fetch, sa.true(), keys, values, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(sort, [k.value(rows[-1][k.name]) for k in keys]) if more else None
    wanted = None if fields is None else {"id", *fields}
    out = [row_to_dict(rt, {k: v for k, v in r.items() if wanted is None or k in wanted})
           for r in rows]
    if pol is not None:
        out = [pol.finish(type_name, {**d, **_flags(r)}) for d, r in zip(out, rows, strict=True)]
    return Page(out, cursor)


#: the furthest an offset jumps (a small jump where people expect one); further: cursors
MAX_OFFSET = 10_000
#: `skip`'s answer when fewer records match than it was asked to pass
PAST_END = "past-end"


def skip(conn: sa.Connection, schema: Schema, type_name: str, offset: int, *,
         filter: FilterArg = None, sort: Sequence[str] = DEFAULT_SORT, ctx: Ctx = None,
         q: str | None = None) -> str | None:
    """The cursor after the first `offset` matching records (their sort keys read a
    thousand at a time, at most MAX_OFFSET), None for none, or PAST_END when fewer match."""
    if not 0 <= offset <= MAX_OFFSET:
        raise ValueError(f"offset {offset} is beyond 0..{MAX_OFFSET}")
    after, left = None, offset
    while left > 0:
        page = list_records(conn, schema, type_name, filter=filter, sort=sort,
                            limit=min(left, MAX_LIMIT), after=after, fields=["id"], ctx=ctx,
                            q=q)
        left -= len(page.rows)
        after = page.next_cursor
        if after is None:  # no record after these: the page is empty
            return PAST_END
    return after


Fetch = Callable[[sa.ColumnElement, int, Sequence[_Key]], list]


def _walk(fetch: Fetch, where: sa.ColumnElement, keys: list[_Key], values: list | None,
          n: int) -> list:
    """Up to n rows matching `where`, in the order of `keys`, after the cursor's `values`
    (None: from the first), each read as an index range where an index serves the keys."""
    lead = keys[0]
    if lead.ranks is not None:
        return _walk_options(fetch, where, keys, values, n)
    if values is None:
        return fetch(where, n, keys)
    v0 = values[0]
    bound = _lead_bound(lead, v0)
    if v0 is not None and lead.nullable and lead.nulls_after:
        # Non-empty values after the cursor, then the empty ones: two index range reads.
        first = _Key(lead.name, lead.column, lead.desc, False)
        rows = fetch(sa.and_(where, bound, _after([first, *keys[1:]], values)), n, keys)
        if len(rows) < n:
            rows += fetch(sa.and_(where, lead.column.is_(None)), n - len(rows), keys)
        return rows
    cond = _after(keys, values)
    return fetch(sa.and_(where, cond if bound is None else sa.and_(bound, cond)), n, keys)


def _walk_options(fetch: Fetch, where: sa.ColumnElement, keys: list[_Key],
                  values: list | None, n: int) -> list:
    """A select field first in the sort: its options in their order, one after the other
    (`priority = 'urgent'`, then `'high'`...), each read in the order of the other keys, so
    that an index on (the filter's columns, the field, the other keys) serves each without a
    sort (the board's columns: stage, then -priority, stage_entered_at); then the values that
    are no longer options, then the empty ones."""
    lead, rest = keys[0], keys[1:]
    col, ranks = lead.raw, lead.ranks or {}
    groups: list[tuple[int | None, sa.ColumnElement]] = [
        (rank, col == option) for option, rank in ranks.items()]
    # values that are no longer options: the ranges between the options, in the database's
    # order, so that an index finds them (none, mostly) without reading every row
    ordered = lead.collated or tuple(sorted(ranks))
    others = [col < ordered[0], *(sa.and_(col > a, col < b) for a, b in zip(
        ordered, ordered[1:], strict=False)), col > ordered[-1]]
    groups.append((len(ranks), sa.or_(*others)))
    groups.append((None, col.is_(None)))
    if lead.desc:
        groups.reverse()
    start = 0 if values is None else next(
        (i for i, (rank, _) in enumerate(groups) if rank == values[0]), len(groups))
    rows: list = []
    for i, (_, cond) in enumerate(groups[start:]):
        within = values[1:] if values is not None and i == 0 else None
        rows += _walk(fetch, sa.and_(where, cond), rest, within, n - len(rows))
        if len(rows) >= n:
            break
    return rows


def _collated(conn: sa.Connection, key: _Key) -> _Key:
    """The key with its options in the order the database compares text in (PostgreSQL's
    collation may not be Python's; SQLite's BINARY is code point order, as Python's)."""
    options = list(key.ranks or {})
    if conn.dialect.name == "sqlite" or not options:
        return replace(key, collated=tuple(sorted(options)))
    listed = sa.values(sa.column("v", sa.String), name="options").data([(o,) for o in options])
    ordered = conn.execute(sa.select(listed.c.v).order_by(listed.c.v)).scalars()
    return replace(key, collated=tuple(ordered))


def _flags(row: Mapping[str, t.Any]) -> dict[str, t.Any]:
    return {k: v for k, v in row.items() if k.startswith(access.FLAG)}


# -- counts ----------------------------------------------------------------------------------

def count(conn: sa.Connection, schema: Schema, type_name: str, filter: FilterArg = None,
          ctx: Ctx = None, *, q: str | None = None) -> int:
    """The exact number of records matching the filter."""
    _type(schema, type_name)
    table = schema.table(type_name)
    stmt = sa.select(sa.func.count()).select_from(table)
    cond = where_clause(schema, type_name, filter, ctx, q)
    if not isinstance(cond, sa.sql.elements.True_):
        # (a bare count(*) keeps SQLite's fast path; WHERE 1 = 1 would lose it)
        stmt = stmt.where(cond)
    return int(conn.execute(stmt).scalar_one())


def estimate_count(conn: sa.Connection, schema: Schema, type_name: str) -> int:
    """All records of a type, fast: PostgreSQL's planner estimate once a table is large."""
    table = schema.table(type_name)
    if conn.dialect.name == "postgresql":
        quoted = conn.dialect.identifier_preparer.quote(table.name)
        est = conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"),
                           {"t": quoted}).scalar()
        if est is not None and est >= ESTIMATE_FROM:
            return int(est)
    # SQLite counts over its smallest index by itself.
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# -- aggregates ------------------------------------------------------------------------------

def _group_spec(rt: RecordType, spec: str) -> tuple[Field, str | None]:
    name, _, bucket = spec.partition(":")
    f = _field(rt, name, "group by")
    fl = filters.flavor(f)
    if bucket:
        if bucket not in BUCKETS:
            raise FilterError(f"cannot group by '{spec}': use {name}:{' or :'.join(BUCKETS)}")
        if fl not in ("date", "datetime"):
            raise FilterError(f"cannot group by '{spec}': {name} is not a date")
    elif fl in ("multi", "file") or not f.kind.sortable:
        raise FilterError(f"cannot group by '{name}': {f.type} fields do not group")
    return f, bucket or None


def _measure_spec(rt: RecordType, spec: str) -> tuple[str, Field | None]:
    fn, _, name = spec.partition(":")
    if fn not in MEASURES or (fn == "count") != (not name):
        raise FilterError(f"unknown measure '{spec}': use count, sum:field, avg:field, "
                          "min:field or max:field")
    if fn == "count":
        return fn, None
    f = _field(rt, name, fn)
    fl = filters.flavor(f)
    if fn in ("sum", "avg") and fl != "number":
        raise FilterError(f"cannot {fn} '{name}': it is not a number")
    if fn in ("min", "max") and fl not in ("number", "date", "datetime"):
        raise FilterError(f"cannot take the {fn} of '{name}': it has no order")
    return fn, f


def _offsets(tz: str, lo: datetime, hi: datetime) -> list[tuple[datetime, int]]:
    """(UTC instant, UTC offset in seconds from then on) for a zone between two instants."""
    zone = filters.zone(tz)

    def offset(at: datetime) -> int:
        return int(at.astimezone(zone).utcoffset().total_seconds())

    out = [(lo, offset(lo))]
    at = lo
    while at < hi:
        nxt = min(at + timedelta(days=1), hi)
        if offset(nxt) != out[-1][1]:
            a, b = at, nxt  # the change lies in (a, b]: narrow it to the second
            while (b - a) > timedelta(seconds=1):
                mid = a + (b - a) / 2
                a, b = (mid, b) if offset(mid) == out[-1][1] else (a, mid)
            out.append((b.replace(microsecond=0), offset(b)))
        at = nxt
    return out


def _local_sqlite(conn, col, tz: str, where) -> sa.ColumnElement:
    """A UTC datetime column as local time on SQLite, which knows no zones: one CASE arm for
    each UTC offset the zone has between the smallest and the largest value."""
    lo, hi = conn.execute(sa.select(sa.func.min(col, type_=col.type),
                                    sa.func.max(col, type_=col.type)).where(where)).one()
    if lo is None:
        return col
    spans = _offsets(tz, lo, hi)
    mods = [f"{off:+d} seconds" for _, off in spans]
    if len(spans) == 1:
        return sa.func.datetime(col, mods[0])
    whens = [(col < start, mod) for (start, _), mod in zip(spans[1:], mods, strict=False)]
    return sa.func.datetime(col, sa.case(*whens, else_=mods[-1]))


def _bucket(conn, f: Field, col, bucket: str, tz: str, where) -> sa.ColumnElement:
    timed = filters.flavor(f) == "datetime"
    if conn.dialect.name == "postgresql":
        local = sa.func.timezone(tz, sa.func.timezone("UTC", col)) if timed else \
            sa.cast(col, sa.DateTime())
        if bucket == "day":
            return sa.cast(local, sa.Date())
        return sa.cast(sa.func.date_trunc(bucket, local), sa.Date())
    local = _local_sqlite(conn, col, tz, where) if timed else col
    mods = {"day": (), "week": ("-6 days", "weekday 1"), "month": ("start of month",),
            "year": ("start of year",)}[bucket]
    return sa.func.date(local, *mods)


def _sqlite_filtered_link(conn, f: Field, where) -> bool:
    return (conn.dialect.name == "sqlite" and f.kind.links
            and not isinstance(where, sa.sql.elements.True_))


def _group_order(f: Field, value: t.Any) -> tuple:
    if value is None:
        return (1, 0)
    if filters.flavor(f) == "select":
        rank = next((i for i, o in enumerate(f.options) if o.value == value), len(f.options))
        return (0, rank, value)
    return (0, value)


def aggregate(conn: sa.Connection, schema: Schema, type_name: str, *,
              group_by: Sequence[str] = (), measures: Sequence[str] = ("count",),
              filter: FilterArg = None, ctx: Ctx = None, q: str | None = None
              ) -> list[dict[str, t.Any]]:
    """Counts, sums, averages, minima and maxima per group; money stays exact (Decimal).

    Groups are fields or date buckets (`created_at:month`, days counted in the workspace's
    time zone, weeks from Monday); a row has each group spec and each measure spec as keys.
    """
    rt, table = _type(schema, type_name), schema.table(type_name)
    where = where_clause(schema, type_name, filter, ctx, q)
    tz = schema.workspace.config.get("timezone") or "UTC"
    groups = [(spec, *_group_spec(rt, spec)) for spec in group_by]
    wanted = [(spec, *_measure_spec(rt, spec)) for spec in measures]
    pol = access.policy(schema.workspace, ctx)
    if pol is not None:
        pol.check_names(type_name, [f.name for _, f, _ in groups], "group by")
        pol.check_names(type_name, [f.name for _, _, f in wanted if f is not None], "add up")
    group_cols = []
    folded = False  # date buckets of a date field: grouped by day here, weeks made below
    for i, (_, f, bucket) in enumerate(groups):
        col = table.c[f.name]
        zone = f.config.get("timezone") or tz
        if bucket and filters.flavor(f) == "date":
            # The day itself: no expression on every row, the rows come in the order of an
            # index on the field, and a few thousand days are folded into weeks in Python.
            expr, folded = col, True
        elif bucket:
            expr = _bucket(conn, f, col, bucket, zone, where)
        elif _sqlite_filtered_link(conn, f, where):
            # `consultant + 0`: SQLite would otherwise walk the link's own index for its
            # order and read every row from the table for the filter and the measures; this
            # way it reads the rows the filter's best (covering) index finds, then sorts them.
            expr = col + 0
        else:
            expr = col
        # (named _g0...: never a field's name, which starts with a letter)
        group_cols.append(expr.label(f"_g{i}"))
    # Only what is asked is computed: a sum and an average need the sum and the count of
    # values, a minimum the min; a date field is never summed.
    needs: dict[str, set[str]] = {}
    for _, fn, f in wanted:
        if f is not None:
            needs.setdefault(f.name, set()).update(
                ("sum", "count") if fn in ("sum", "avg") else (fn,))
    make = {"sum": lambda c: sa.func.sum(c, type_=c.type), "count": sa.func.count,
            "min": lambda c: sa.func.min(c, type_=c.type),
            "max": lambda c: sa.func.max(c, type_=c.type)}
    cols = [*group_cols, sa.func.count().label("n")]
    for name in sorted(needs):
        cols += [make[fn](table.c[name]).label(f"{fn}_{name}") for fn in sorted(needs[name])]
    # One flat SELECT ... GROUP BY over the table (no subquery, no WHERE 1 = 1): with an
    # index holding the group and the measured columns (the board's (stage, amount)), SQLite
    # reads that index alone and PostgreSQL can too.
    # GROUP BY the output names: a date bucket's expression holds bound values, which
    # PostgreSQL would not match between the SELECT list and a repeated GROUP BY expression.
    stmt = sa.select(*cols).select_from(table).group_by(
        *(sa.literal_column(c.name) for c in group_cols))
    if not isinstance(where, sa.sql.elements.True_):
        stmt = stmt.where(where)
    rows: t.Iterable[Mapping[str, t.Any]] = conn.execute(stmt).mappings()
    if folded:
        rows = _fold(rows, groups)
    out = []
    for row in rows:
        item: dict[str, t.Any] = {}
        for i, (spec, f, bucket) in enumerate(groups):
            v = row[f"_g{i}"]
            if bucket and isinstance(v, str):
                v = date.fromisoformat(v[:10])
            elif bucket and isinstance(v, datetime):
                v = v.date()
            item[spec] = f.kind.from_db(f, v) if not bucket else v
        for spec, fn, f in wanted:
            item[spec] = _measure(fn, f, row)
        out.append(item)
    if not groups and not out:
        out = [{spec: _measure(fn, f, {}) for spec, fn, f in wanted}]
    out.sort(key=lambda r: tuple(_group_order(f, r[spec]) for spec, f, _ in groups))
    return out


def bucket_start(day: date, bucket: str) -> date:
    """The first day of the bucket (weeks start on Monday) a day falls in."""
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    if bucket == "year":
        return day.replace(month=1, day=1)
    return day


def _fold(rows: t.Iterable[Mapping[str, t.Any]], groups: list) -> list[dict[str, t.Any]]:
    """Rows grouped by day, added up per bucket: counts and sums add, minima and maxima
    keep the extreme (an average is a sum over a count, made afterwards)."""
    out: dict[tuple, dict[str, t.Any]] = {}
    for row in rows:
        keys = {}
        for i, (_, f, bucket) in enumerate(groups):
            v = row[f"_g{i}"]
            if bucket and v is not None:
                v = bucket_start(f.kind.from_db(f, v), bucket)
            keys[f"_g{i}"] = v
        slot = out.get(tuple(keys.values()))
        if slot is None:
            out[tuple(keys.values())] = {**row, **keys}
            continue
        for name, v in row.items():
            if name.startswith("_g") or v is None:
                continue
            have = slot.get(name)
            fn = "n" if name == "n" else name.partition("_")[0]
            slot[name] = v if have is None else (
                min(have, v) if fn == "min" else max(have, v) if fn == "max" else have + v)
    return list(out.values())


def _zero(f: Field) -> t.Any:
    column_type = f.kind.column_type(f)
    if isinstance(column_type, ExactDecimal):
        return Decimal(0).scaleb(-column_type.scale)
    return 0


def _measure(fn: str, f: Field | None, row: Mapping[str, t.Any]) -> t.Any:
    if f is None:
        return int(row.get("n", 0))
    total, n = row.get(f"sum_{f.name}"), int(row.get(f"count_{f.name}") or 0)
    if total is not None and not isinstance(_zero(f), Decimal):
        total = int(total)  # PostgreSQL sums integers as numeric
    if fn == "sum":
        return _zero(f) if total is None else total
    if fn == "avg":
        return None if not n else Decimal(total) / n
    v = row.get(f"{fn}_{f.name}")
    if isinstance(v, datetime) and v.tzinfo is None:
        v = v.replace(tzinfo=UTC)
    return v


# -- link chips and reverse links ------------------------------------------------------------

def get_many(conn: sa.Connection, schema: Schema, type_name: str, ids: Iterable[int | None],
             fields: Sequence[str] | None = None, ctx: Ctx = None
             ) -> dict[int, dict[str, t.Any]]:
    """Records by id in one query (link chips: no query per link); missing ids are absent,
    and so are those the actor `ctx` may not see (an Actor: its access policy applies)."""
    wanted = sorted({int(i) for i in ids if i is not None})
    if not wanted:
        return {}
    rt, table = _type(schema, type_name), schema.table(type_name)
    pol = access.policy(schema.workspace, ctx)
    if pol is None:
        stmt = sa.select(*_columns(rt, table, fields)).where(table.c.id.in_(wanted))
        return {r["id"]: row_to_dict(rt, r) for r in conn.execute(stmt).mappings()}
    if not pol.may("read", type_name):
        return {}
    if fields is not None:
        fields = pol.visible_names(type_name, fields)
    cols = [*_columns(rt, table, fields), *pol.flag_columns(schema, type_name)]
    stmt = sa.select(*cols).where(table.c.id.in_(wanted),
                                  where_clause(schema, type_name, None, ctx))
    return {r["id"]: pol.finish(type_name, {**row_to_dict(rt, r), **_flags(r)})
            for r in conn.execute(stmt).mappings()}


def record_resolver(conn: sa.Connection, schema: Schema) -> filters.Resolver:
    """A resolver for filters.evaluate: linked records read on demand, each once."""
    cache: dict[tuple[str, int], dict[str, t.Any] | None] = {}

    def resolve(type_name: str, record_id: int) -> dict[str, t.Any] | None:
        key = (type_name, int(record_id))
        if key not in cache:
            cache[key] = get_many(conn, schema, type_name, [record_id]).get(key[1])
        return cache[key]

    return resolve


def related(conn: sa.Connection, schema: Schema, ws: Workspace, type_name: str,
            id: int, *, limit: int = 10, sort: Sequence[str] = DEFAULT_SORT,
            ctx: Ctx = None, locale: str = "en") -> list[Related]:
    """For each link of another type pointing at this type, a first page of the records that
    point at record `id` (system fields such as created_by are left out)."""
    out = []
    for rt in ws.record_types.values():
        for f in rt.fields.values():
            if f.system or filters.link_target(f, ws) != type_name:
                continue
            cond = filters.parse({"field": f.name, "op": "eq", "value": id}, rt, ws)
            page = list_records(conn, schema, rt.name, filter=cond, sort=sort, limit=limit,
                                ctx=ctx)
            label = f.config.get("related_label")
            text = (Label.of(label, rt.name).get(locale, ws.default_locale) if label
                    else rt.label_plural.get(locale, ws.default_locale))
            out.append(Related(rt.name, f.name, text, page))
    return out
