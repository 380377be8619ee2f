"""Reading a view for someone outside the app (a share link's visitor, a calendar feed):
its rows as one actor sees them, with linked records' titles, and values as plain text.

Every read goes through the query layer with the actor, so rows, hidden fields and masks are
the actor's; a view's sort on a field the actor may not sort by falls back to the newest
first rather than failing. Nothing here links into the app.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from lowrise import access, filters
from lowrise.actor import Actor
from lowrise.errors import FilterError
from lowrise.storage import query
from lowrise.storage.tables import Schema
from lowrise.workspace.model import Field, Option, RecordType, View

Titles = Mapping[tuple[str, int], str]
TABLE_COLUMNS = 8  # a view that names no columns shows its type's first fields


def display(f: Field, value: Any, titles: Titles, locale: str) -> str:
    """A value as plain text in `locale`: a masked one as its mask, a link as its title."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, access.Masked):
        return str(value)
    if f.kind.links and f.target:
        return titles.get((f.target, value)) or f"#{value}"
    if f.kind.stores_files:
        return ", ".join(str(v.get("name", "")) for v in value if isinstance(v, dict))
    return f.kind.display(f, value, locale)


def title_text(rt: RecordType, record: Mapping[str, Any], locale: str) -> str:
    """A record's name: its title field as text, else `#id`."""
    f = rt.fields.get(rt.title_field)
    value = record.get(rt.title_field) if f is not None else None
    if value in (None, "", []) or f.kind.links:
        return f"#{record.get('id')}"
    return display(f, value, {}, locale)


def titles_of(conn: sa.Connection, schema: Schema, fields: Iterable[Field],
              rows: Sequence[Mapping[str, Any]], actor: Actor) -> dict[tuple[str, int], str]:
    """The titles of the records the rows' link fields point at, as the actor sees them
    (one query a target type; a record the actor may not read stays `#id`)."""
    refs: dict[str, set[int]] = {}
    for f in fields:
        if f.kind.links and f.target:
            refs.setdefault(f.target, set()).update(
                r[f.name] for r in rows if isinstance(r.get(f.name), int))
    out: dict[tuple[str, int], str] = {}
    for target, ids in refs.items():
        trt = schema.workspace.type(target)
        wanted = [trt.title_field] if trt.title_field in trt.fields else []
        for rid, rec in query.get_many(conn, schema, target, ids, fields=wanted,
                                       ctx=actor).items():
            out[(target, rid)] = title_text(trt, rec, actor.locale)
    return out


def view_filter(schema: Schema, view: View, *extra: Any) -> filters.Node | None:
    """The view's own filter AND the given ones."""
    rt = schema.workspace.type(view.record_type)
    nodes = [filters.parse(f, rt, schema.workspace) for f in (view.filter, *extra) if f]
    return filters.all_of(*nodes) if nodes else None


def _shown(schema: Schema, rt: RecordType, names: Iterable[str], actor: Actor) -> list[Field]:
    pol = access.policy(schema.workspace, actor)
    hidden = pol.hidden_fields(rt.name) if pol is not None else set()
    return [rt.fields[n] for n in names if n in rt.fields and n not in hidden]


def _rows(conn, schema: Schema, rt: RecordType, flt, sort: Sequence[str], actor: Actor,
          fields: list[str], *, limit: int, after: str | None = None) -> query.Page:
    try:
        return query.list_records(conn, schema, rt.name, filter=flt, sort=sort, limit=limit,
                                  after=after, fields=fields, ctx=actor)
    except FilterError:  # a sort by a field this actor may not sort by, or a stale cursor
        return query.list_records(conn, schema, rt.name, filter=flt, sort=["-updated_at"],
                                  limit=limit, fields=fields, ctx=actor)


@dataclass
class TablePage:
    """One page of a shared table: its columns, rows and the linked records' titles."""

    columns: list[Field]
    rows: list[dict[str, Any]]
    titles: Titles
    next_cursor: str | None
    total: int


def table_page(engine: sa.Engine, schema: Schema, view: View, actor: Actor, *,
               after: str | None = None, limit: int = 50) -> TablePage:
    """A page of a table view as `actor` sees it."""
    rt = schema.workspace.type(view.record_type)
    names = view.config.get("columns") or [f.name for f in rt.user_fields][:TABLE_COLUMNS]
    cols = _shown(schema, rt, names, actor)
    flt = view_filter(schema, view)
    wanted = [f.name for f in cols if f.name != "id"]
    with engine.connect() as conn:
        page = _rows(conn, schema, rt, flt, view.sort or ["-updated_at"], actor, wanted,
                     limit=limit, after=after)
        total = query.count(conn, schema, rt.name, flt, actor)
        titles = titles_of(conn, schema, cols, page.rows, actor)
    return TablePage(cols, page.rows, titles, page.next_cursor, total)


@dataclass
class Column:
    """One column of a shared board: an option (None: no value), its count and first cards."""

    option: Option | None
    count: int
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Board:
    group: Field
    card_fields: list[Field]
    columns: list[Column]
    titles: Titles


def board(engine: sa.Engine, schema: Schema, view: View, actor: Actor, *,
          per_column: int = 50) -> Board:
    """A kanban view as `actor` sees it: each option's count and first cards."""
    rt = schema.workspace.type(view.record_type)
    group = rt.fields[view.config["group_by"]]
    cards = _shown(schema, rt, [n for n in dict.fromkeys(  # the card's title field first
        [view.config.get("card_title") or "", *(view.config.get("card_fields") or [])])
        if n and n != rt.title_field], actor)
    wanted = [n for n in dict.fromkeys([rt.title_field, *(f.name for f in cards)]) if n != "id"]
    base = view_filter(schema, view)
    columns = []
    rows: list[dict[str, Any]] = []
    with engine.connect() as conn:
        counts = {r[group.name]: r["count"] for r in query.aggregate(
            conn, schema, rt.name, group_by=[group.name], filter=base, ctx=actor)}
        for opt in [*group.options, None]:
            value = opt.value if opt else None
            if opt is None and not counts.get(None):
                continue
            cond = ({"field": group.name, "op": "eq", "value": value} if opt else
                    {"field": group.name, "op": "is_empty"})
            page = _rows(conn, schema, rt, view_filter(schema, view, cond),
                         view.sort or ["-updated_at"], actor, wanted, limit=per_column)
            columns.append(Column(opt, counts.get(value, 0), page.rows))
            rows += page.rows
        titles = titles_of(conn, schema, cards, rows, actor)
    return Board(group, cards, columns, titles)


@dataclass
class Month:
    first: date
    weeks: list[list[date]]
    days: dict[date, list[tuple[str, str]]]  # day -> [(time, title)]
    truncated: bool


def month(engine: sa.Engine, schema: Schema, view: View, actor: Actor, first: date, *,
          limit: int = 1000) -> Month:
    """A calendar view's month as `actor` sees it, in the workspace's time zone."""
    ws = schema.workspace
    rt = ws.type(view.record_type)
    df = rt.fields[view.config["date_field"]]
    tf = rt.fields.get(view.config.get("title_field") or rt.title_field)
    zone = ZoneInfo(df.config.get("timezone") or ws.config.get("timezone") or "UTC")
    start = first - timedelta(days=first.weekday())
    n = first.year * 12 + first.month  # the first of the next month
    end = date(n // 12, n % 12 + 1, 1)
    end += timedelta(days=(7 - end.weekday()) % 7)
    span = {"field": df.name, "op": "between",
            "value": [start.isoformat(), (end - timedelta(days=1)).isoformat()]}
    wanted = [n for n in dict.fromkeys([df.name, rt.title_field, tf.name if tf else ""])
              if n and n != "id"]
    with engine.connect() as conn:
        page = _rows(conn, schema, rt, view_filter(schema, view, span), [df.name], actor,
                     wanted, limit=limit)
        titles = titles_of(conn, schema, [tf] if tf else [], page.rows, actor)
    days: dict[date, list[tuple[str, str]]] = {}
    for rec in page.rows:
        v = rec.get(df.name)
        if v is None:
            continue
        at = v.astimezone(zone) if isinstance(v, datetime) else v
        day = at.date() if isinstance(at, datetime) else at
        time = f"{at.hour:02d}:{at.minute:02d}" if isinstance(at, datetime) else ""
        name = display(tf, rec.get(tf.name), titles, actor.locale) if tf else ""
        days.setdefault(day, []).append((time, name or title_text(rt, rec, actor.locale)))
    weeks = [[start + timedelta(days=w * 7 + i) for i in range(7)]
             for w in range((end - start).days // 7)]
    return Month(first, weeks, days, page.next_cursor is not None)
