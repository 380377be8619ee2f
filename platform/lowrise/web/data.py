"""Reads the pages need, each one call into the engine's query layer (no SQL in the web layer).

Linked records' titles are fetched in one query per target type for a whole page of rows,
never one per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lowrise import filters
from lowrise.actor import Actor
from lowrise.storage import query
from lowrise.workspace.model import Field, Label, RecordType

from .guard import may, policy, shown_fields
from .i18n import label
from .runtime import rt

MAX_OFFSET = query.MAX_OFFSET  # the furthest a table jumps by page number


def title_of(rtype: RecordType, record: Mapping[str, Any], locale: str = "en") -> str:
    """A record's name: its title field as text, else its type and id."""
    f = rtype.fields.get(rtype.title_field)
    value = record.get(rtype.title_field) if f is not None else None
    if value not in (None, "", []):
        if f.kind.links:
            return f"#{value}"
        return f.kind.display(f, value, locale)
    return f"#{record.get('id')}"


def link_fields(fields: Iterable[Field]) -> list[Field]:
    return [f for f in fields if f.kind.links and f.target]


class Trashed(str):
    """The title of a linked record that is in the trash (a link kept by `on_delete: keep`):
    shown as such, never as a link to a page that is not there."""

    __slots__ = ()
    in_trash = True


def titles(refs: Mapping[str, set[int]], locale: str = "en") -> dict[tuple[str, int], str]:
    """{(type, id): title} for every referenced record the person may read (the others
    show as #id): one query per target type. A record in the trash gets a Trashed title,
    "Name (in the trash)", for whoever may read its type (its name only if nothing
    restricts them: the trash does not know whose rows it was in)."""
    from flask_babel import gettext

    from lowrise.storage.ondelete import in_trash

    run = rt()
    out: dict[tuple[str, int], str] = {}
    with run.engine.connect() as conn:
        for target, ids in refs.items():
            ids = {i for i in ids if isinstance(i, int) and 0 < i < 2**63}  # ids are 64-bit
            if not ids or target not in run.workspace.record_types:
                continue
            trt = run.workspace.type(target)
            wanted = [trt.title_field] if trt.title_field in trt.fields else []
            for rid, rec in query.get_many(conn, run.schema, target, ids, fields=wanted,
                                           ctx=g_actor()).items():
                out[(target, rid)] = title_of(trt, rec, locale)
            missing = {i for i in ids if (target, i) not in out}
            if not missing or not may("read", target):
                continue
            for rid, title in in_trash(conn, run.schema, target, missing).items():
                name = title if title and policy().bypass else f"#{rid}"
                out[(target, rid)] = Trashed(gettext("%(title)s (in the trash)", title=name))
    return out


def file_readable(key: str) -> bool:
    """Whether the person may download a stored file (it is attached to a record they see)."""
    from .guard import policy

    run = rt()
    with run.engine.connect() as conn:
        return policy().can_read_file(conn, run.schema, key)


def titles_for(fields: Iterable[Field], rows: Iterable[Mapping[str, Any]],
               locale: str = "en") -> dict[tuple[str, int], str]:
    """The titles of every record the given link fields of the given rows point at."""
    refs: dict[str, set[int]] = {}
    rows = list(rows)
    for f in link_fields(fields):
        refs.setdefault(f.target, set()).update(r.get(f.name) for r in rows
                                                if r.get(f.name) is not None)
    return titles(refs, locale)


def parse_filter(rtype: RecordType, raw: Any) -> filters.Node | None:
    """Filter data (from YAML or the URL) as a checked tree; None when there is none."""
    if not raw:
        return None
    return filters.parse(raw, rtype, rt().workspace)


def combined(rtype: RecordType, *raws: Any) -> filters.Node | None:
    """The conjunction of some filters: the view's AND the person's own."""
    nodes = [parse_filter(rtype, r) for r in raws]
    nodes = [n for n in nodes if n is not None]
    return filters.all_of(*nodes) if nodes else None


@dataclass
class TableData:
    """What a table page shows: one page of rows, the count, and per-group subtotals."""

    rows: list[dict[str, Any]]
    next_cursor: str | None
    total: int | None
    groups: dict[Any, dict[str, Any]] = field(default_factory=dict)


def numeric(fields: Iterable[Field]) -> list[Field]:
    """Fields whose values add up (the subtotals and column sums)."""
    return [f for f in fields if f.kind.value_type(f).sums and not f.system]


def table_page(rtype: RecordType, flt: filters.Node | None, *, sort: list[str], limit: int,
               after: str | None, q: str | None, actor: Actor, show: list[Field],
               group: str | None = None, with_total: bool = True,
               offset: int = 0) -> TableData:
    """One keyset page of a table view, with its group subtotals (unless `with_total` is
    false) and its total count when it comes free: a first page that holds every match.
    Otherwise `total` is None and the page asks for it afterwards (`count_rows`), so that
    counting hundreds of thousands of matches never holds up the rows. `offset`: the page
    starts after that many matches (a jump by page number, up to query.MAX_OFFSET)."""
    run = rt()
    if group:
        sort = [group, *[s for s in sort if s.lstrip("-") != group]]
    wanted = list(dict.fromkeys([*(f.name for f in show), "version", rtype.title_field]))
    wanted = [n for n in wanted if n in rtype.fields and n != "id"]
    with run.engine.connect() as conn:
        if offset and not after:
            after = query.skip(conn, run.schema, rtype.name, offset, filter=flt, sort=sort,
                               ctx=actor, q=q)
            if after == query.PAST_END:
                return TableData([], None, None, {})
        page = query.list_records(conn, run.schema, rtype.name, filter=flt, sort=sort,
                                  limit=limit, after=after, fields=wanted, ctx=actor, q=q)
        total = len(page.rows) if with_total and not after and not page.next_cursor else None
        groups = {}
        if group and with_total:
            sums = [f"sum:{f.name}" for f in numeric(show)]
            for row in query.aggregate(conn, run.schema, rtype.name, group_by=[group],
                                       measures=["count", *sums], filter=flt, ctx=actor, q=q):
                groups[row[group]] = row
    return TableData(page.rows, page.next_cursor, total, groups)


def count_rows(rtype: RecordType, flt: filters.Node | None, *, q: str | None,
               actor: Actor) -> int:
    """The exact number of records a table shows (asked for after the page)."""
    run = rt()
    with run.engine.connect() as conn:
        return query.count(conn, run.schema, rtype.name, flt, actor, q=q)


@dataclass
class RelatedList:
    type: RecordType
    field: Field
    title: str
    columns: list[Field]
    rows: list[dict[str, Any]]
    total: int
    titles: dict[tuple[str, int], str]
    new_url: str
    all_url: str


def related_lists(rtype: RecordType, record_id: int, locale: str, *, limit: int = 5,
                  record: Mapping[str, Any] | None = None) -> list[RelatedList]:
    """For each link on another type pointing here, the first records pointing at this one.
    Its "new" link fills the link, and the fields declared `same_as` it (a contract made from
    a case takes the case's client and unit) from `record` as the reader sees it."""
    from flask import url_for

    from .viewdefs import columns, table_views

    run = rt()
    ws = run.workspace
    out = []
    with run.engine.connect() as conn:
        for other, f in ws.links_to(rtype.name):
            if f.system or not may("read", other.name) or \
                    policy().field_access(other.name, f.name) == "hidden":
                continue
            flt = filters.parse({"field": f.name, "op": "eq", "value": record_id}, other, ws)
            view = table_views(ws, other.name)[0]
            cols = [c for c in columns(other, view) if c.name != f.name][:4]
            if other.title_field in other.fields and other.fields[other.title_field] not in cols:
                cols = [other.fields[other.title_field], *cols[:3]]
            cols = shown_fields(other, cols)
            page = query.list_records(conn, run.schema, other.name, filter=flt,
                                      sort=view.sort or ["-updated_at"], limit=limit,
                                      fields=[c.name for c in cols], ctx=g_actor())
            total = (len(page.rows) if page.next_cursor is None
                     else query.count(conn, run.schema, other.name, flt, g_actor()))
            rel = f.config.get("related_label")
            title = (label(Label.of(rel, other.name), locale) if rel
                     else label(other.label_plural, locale))
            out.append(RelatedList(
                other, f, title, cols, page.rows, total, {},
                url_for("records.new", type_name=other.name,
                        **_same_as(other, f.name, record), **{f.name: record_id}),
                url_for("pages.table", type_name=other.name, f0=f.name, o0="eq", v0=record_id)))
    for item in out:
        item.titles = titles_for(item.columns, item.rows, locale)
    return out


def _same_as(other: RecordType, link: str, record: Mapping[str, Any] | None) -> dict:
    """{field: value} of `other`'s fields declared `same_as: <link>.<field>`, from `record`."""
    out = {}
    for f in other.user_fields:
        spec = f.config.get("same_as") if f.kind.links else None
        if isinstance(spec, str) and record is not None:
            via, _, name = spec.partition(".")
            if via == link and isinstance(record.get(name), int):
                out[f.name] = record[name]
    return out


def g_actor() -> Actor:
    from flask import g

    return g.actor
