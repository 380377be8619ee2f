"""The database checks of values about to be written: links name records the writer may read,
and unique values are not used yet, told only as far as the writer may know.

A unique value that a record the writer may read in full already holds is refused with that
record's title; one held by a record outside their rows, or where they see the field masked or
hidden, is refused without the value, the record or the row, the whole write with it
(`lowrise.access.clashes`): the check must never answer a question about a value the writer
cannot read. The records service calls these inside the write's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from lowrise.access import clashes
from lowrise.actor import Actor
from lowrise.i18n import Lazy, msg
from lowrise.workspace.model import Field, RecordType

#: field types whose stored value can stand as a record's title in a message
_TITLE_TYPES = ("link", "user", "attachment", "multi_select")


def check_links(records, conn: sa.Connection, rt: RecordType,
                rows: Sequence[Mapping[str, Any]], errors: dict[int, dict[str, str]], *,
                actor: Actor | None = None) -> None:
    """Every link value must name an existing record of its target type (one query a
    field); with a restricted `actor`, one it may read (others read as missing)."""
    pol = records.policy(actor)
    for f in rt.user_fields:
        if not f.kind.links or not f.target:
            continue
        wanted = {r[f.name] for r in rows if r.get(f.name) is not None}
        if not wanted:
            continue
        target = records.schema.table(f.target)
        found = set()
        ids = list(wanted)
        for i in range(0, len(ids), 900):
            found.update(conn.execute(sa.select(target.c.id).where(
                target.c.id.in_(ids[i:i + 900]))).scalars().all())
        if pol is not None:
            found = pol.ids_in_scope(conn, records.schema, f.target, found)
        if len(found) == len(wanted):  # every one is there
            continue
        target_label = records.schema.workspace.record_types[f.target].label
        for i, r in enumerate(rows):
            v = r.get(f.name)
            if v is not None and v not in found:
                errors.setdefault(i, {})[f.name] = msg("there is no %(type)s #%(id)s",
                                                       type=target_label, id=v)


def _same_as_fields(rt: RecordType):
    for f in rt.user_fields:
        spec = f.config.get("same_as") if f.kind.links else None
        if isinstance(spec, str):
            link, _, other = spec.partition(".")
            yield f, rt.fields[link], other


def _named(conn: sa.Connection, schema, via, other: str, ids) -> dict[int, Any]:
    """{id: its `other`} of the records of `via`'s target among `ids`."""
    t, ids, out = schema.table(via.target), sorted(set(ids)), {}
    for j in range(0, len(ids), 900):
        out.update(conn.execute(sa.select(t.c.id, t.c[other]).where(
            t.c.id.in_(ids[j:j + 900]))).all())
    return out


def fill_same_as(conn: sa.Connection, schema, rt: RecordType, rows: list[dict[str, Any]],
                 errors: dict[int, dict[str, str]],
                 given: Sequence[Mapping[str, Any]]) -> None:
    """New rows that do not give a `same_as` field take it from their link's record (a
    contract made with its case takes the case's client): its "is required" is answered."""
    for f, via, other in _same_as_fields(rt):
        wanted = {i: r[via.name] for i, r in enumerate(rows)
                  if r.get(f.name) is None and r.get(via.name) is not None
                  and given[i].get(f.name) in (None, "", [])
                  and via.name not in errors.get(i, {})}
        if not wanted:
            continue
        named = _named(conn, schema, via, other, wanted.values())
        for i, rid in wanted.items():
            if named.get(rid) is not None:
                rows[i][f.name] = named[rid]
                if i in errors:
                    errors[i].pop(f.name, None)
                    if not errors[i]:
                        del errors[i]


def check_same_as(conn: sa.Connection, schema, rt: RecordType,
                  rows: Sequence[Mapping[str, Any]], errors: dict[int, dict[str, str]],
                  befores: Sequence[Mapping[str, Any] | None] | None = None) -> None:
    """Link fields declared `same_as: link.field` must name the record that `link`'s record
    names in `field` (a contract's buyer is its case's client); one query a field. `rows`
    are the values written (on an update, only the changes, `befores` the records as they
    were). A record whose `link` names no such record yet may name any. The refusal names
    the fields, never a record."""
    for f, via, other in _same_as_fields(rt):
        link = via.name
        pairs = {}
        for i, r in enumerate(rows):
            if f.name not in r and link not in r:
                continue
            was = (befores[i] if befores else None) or {}
            mine, theirs = r.get(f.name, was.get(f.name)), r.get(link, was.get(link))
            if mine is not None and theirs is not None:
                pairs[i] = (mine, theirs)
        if not pairs:
            continue
        named = _named(conn, schema, via, other, (p[1] for p in pairs.values()))
        target = schema.workspace.record_types[via.target]
        for i, (mine, theirs) in pairs.items():
            expected = named.get(theirs)
            if expected is not None and expected != mine:
                errors.setdefault(i, {}).setdefault(f.name, msg(
                    "%(field)s must be the %(other)s of the %(link)s it belongs to",
                    field=f.label, other=target.fields[other].label, link=via.label))


def check_unique(records, conn: sa.Connection, rt: RecordType,
                 rows: Sequence[Mapping[str, Any]], errors: dict[int, dict[str, str]], *,
                 exclude_ids: Sequence[int | None], actor: Actor | None = None) -> None:
    """Unique values given twice in `rows`, or already stored on another record (not the
    row's own, `exclude_ids`). Raises lowrise.errors.Undisclosed at the first value held by
    a record a restricted `actor` may not read with that field in full, and before looking
    at all while the actor's such checks are paused."""
    uniques = [f for f in rt.user_fields if f.unique]
    if not uniques:
        return
    pol = records.policy(actor)
    if pol is not None and any(not pol.sees_all_of(rt.name, f.name) and
                               any(r.get(f.name) is not None for r in rows) for f in uniques):
        clashes.check_paused(conn, records.schema, actor, records.clash_limit)
    t = records.schema.table(rt.name)
    title = rt.fields.get(rt.title_field)
    if title is None or title.system or title.type in _TITLE_TYPES:
        title = None
    for f in uniques:
        seen: dict[Any, int] = {}
        for i, r in enumerate(rows):
            v = r.get(f.name)
            if v is None:
                continue
            if v in seen:
                errors.setdefault(i, {})[f.name] = msg(
                    "'%(value)s' is also given to row %(row)s; it must be unique",
                    value=_shown(f, v), row=seen[v] + 1)
            seen.setdefault(v, i)
        if not seen:
            continue
        stored = list(seen)
        held: dict[Any, tuple[int, Any]] = {}
        cols = [t.c.id, t.c[f.name]] + ([t.c[title.name]] if title is not None else [])
        for i in range(0, len(stored), 900):
            chunk = [f.kind.to_db(f, v) for v in stored[i:i + 900]]
            for row in conn.execute(sa.select(*cols).where(t.c[f.name].in_(chunk))):
                held[f.kind.from_db(f, row[1])] = (row[0], row[2] if title is not None else None)
        hits = [(i, r[f.name], held[r[f.name]][0]) for i, r in enumerate(rows)
                if r.get(f.name) in held and held[r[f.name]][0] != exclude_ids[i]]
        if not hits:
            continue
        ids = {rid for _, _, rid in hits}
        if pol is not None:
            plain = pol.plain_ids(conn, records.schema, rt.name, f.name, ids)
            for _, _, rid in hits:  # in the rows' order: the first one refuses them all
                if rid not in plain:
                    raise clashes.refusal(clashes.Clash(rt.name, rid, f.name, actor))
        titled = ids if title is None or pol is None else \
            pol.plain_ids(conn, records.schema, rt.name, title.name, ids)
        for i, v, rid in hits:
            raw = held[v][1]
            if title is not None and rid in titled and raw not in (None, ""):
                problem = msg("'%(value)s' is already used by %(type)s '%(title)s'; it must be "
                              "unique", value=_shown(f, v), type=rt.label,
                              title=_shown(title, title.kind.from_db(title, raw)))
            else:
                problem = msg("'%(value)s' is already used by %(type)s #%(id)s; it must be "
                              "unique", value=_shown(f, v), type=rt.label, id=rid)
            errors.setdefault(i, {})[f.name] = problem


def _shown(f: Field, value: Any) -> Lazy:
    """A value as people read it, in the reader's locale."""
    return Lazy(lambda locale: f.kind.display(f, value, locale))
