"""Dashboard figures in words: measures (money stays money), compact numbers for tiles,
percentages, changes, date buckets, and the titles of grouped records."""

from __future__ import annotations

import typing as t
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from babel.dates import format_skeleton
from babel.numbers import format_compact_decimal, format_decimal

from lowrise import filters
from lowrise.actor import Actor
from lowrise.i18n import msg, tr
from lowrise.storage import query
from lowrise.storage.tables import Schema
from lowrise.workspace.model import Label, RecordType

if t.TYPE_CHECKING:
    from lowrise.dashboards.model import Measure

#: how a measure's default label reads, per function (a sum reads as the field's label)
MEASURE_WORDS = {
    "avg": msg("Average %(field)s"),
    "min": msg("Lowest %(field)s"),
    "max": msg("Highest %(field)s"),
}
WORDS = {
    "empty": msg("(empty)"),
    "not_filtered": msg("Not narrowed by %(field)s"),
}
BUCKET_SKELETONS = {"day": "MMMd", "week": "MMMd", "month": "yMMM", "year": "y"}


def babel_locale(locale: str) -> str:
    return {"zh": "zh_CN", "en": "en_US"}.get(locale[:2], locale or "en_US")


def text(label: Label | str | None, locale: str = "en") -> str:
    if label is None:
        return ""
    return label if isinstance(label, str) else label.get(locale)


def word(key: str, locale: str, **params: t.Any) -> str:
    """One of WORDS in `locale`, with its parameters."""
    return tr(msg(WORDS[key].id, **params), locale)


def _field(rt: RecordType, m: Measure):
    name = m.field_name
    return rt.fields.get(name) if name else None


def measure_text(rt: RecordType, m: Measure, value: t.Any, locale: str) -> str:
    """A measure's value as a person reads it: counts grouped, money as money, ratios in %."""
    if value is None:
        return "–"
    if m.ratio:
        return percent(value, locale)
    fn = (m.spec or "count").partition(":")[0]
    if fn == "count":
        return format_decimal(value, locale=babel_locale(locale))
    f = _field(rt, m)
    if f is None:
        return str(value)
    if filters.flavor(f) in ("date", "datetime"):
        return f.kind.display(f, value, locale)
    scale = _scale(f)
    if fn == "avg" or isinstance(value, Decimal):
        value = Decimal(value).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    return f.kind.value_type(f).amount_text(f, value, scale, babel_locale(locale))


def _scale(f) -> int:
    """Digits after the point: the field's scale, one for averages of whole numbers."""
    scale = getattr(f.kind.value_type(f), "scale", None)
    return scale(f) if callable(scale) else 1


def short(rt: RecordType, m: Measure, value: t.Any, locale: str) -> str:
    """A compact form for a tile (¥1.2亿, CN¥123.5M, 12K); the full form otherwise."""
    full = measure_text(rt, m, value, locale)
    if value is None or m.ratio or abs(Decimal(value)) < 10_000:
        return full
    fn = (m.spec or "count").partition(":")[0]
    f = _field(rt, m)
    compact = f.kind.value_type(f).compact_amount(f, value, babel_locale(locale)) \
        if f is not None and fn in ("sum", "avg", "min", "max") else None
    if compact is not None:
        return compact
    if fn == "count" or (f is not None and filters.flavor(f) == "number"):
        return format_compact_decimal(value, locale=babel_locale(locale), fraction_digits=1)
    return full


def percent(value: Decimal | None, locale: str) -> str:
    if value is None:
        return "–"
    pct = (Decimal(value) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return format_decimal(pct, format="#,##0.0", locale=babel_locale(locale)) + "%"


def change(value: Decimal, locale: str) -> str:
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    return sign + percent(abs(value), locale)


def bucket_label(day: date | None, bucket: str, locale: str) -> str:
    if day is None:
        return word("empty", locale)
    return format_skeleton(BUCKET_SKELETONS[bucket], day, locale=babel_locale(locale))


def records_by_id(conn: sa.Connection, schema: Schema, type_name: str, ids: Iterable[int],
                  fields: Sequence[str], ctx: Actor | None) -> dict[int, dict[str, t.Any]]:
    """{id: record} of the records the actor may see among `ids`, a page of ids at a time
    (through list_records, so the actor's row scope and field rules apply)."""
    wanted = sorted({int(i) for i in ids if i is not None})
    out: dict[int, dict[str, t.Any]] = {}
    step = query.MAX_LIMIT
    for i in range(0, len(wanted), step):
        chunk = wanted[i:i + step]
        page = query.list_records(conn, schema, type_name, limit=len(chunk), sort=["id"],
                                  filter={"field": "id", "op": "in", "value": chunk},
                                  fields=list(fields), ctx=ctx)
        out.update({r["id"]: r for r in page.rows})
    return out


def titles(conn: sa.Connection, schema: Schema, target: str | None, ids: Iterable[int],
           locale: str, ctx: Actor | None = None) -> dict[int, str]:
    """{id: title} of the records of `target` the actor may see, in one query."""
    ids = [i for i in ids if isinstance(i, int)]
    if not target or not ids or target not in schema.workspace.record_types:
        return {}
    rt = schema.workspace.type(target)
    wanted = [rt.title_field] if rt.title_field in rt.fields else []
    out = {}
    for rid, rec in records_by_id(conn, schema, target, ids, wanted, ctx).items():
        f = rt.fields.get(rt.title_field)
        value = rec.get(rt.title_field)
        if f is None or value in (None, ""):
            out[rid] = f"#{rid}"
        elif f.kind.links:
            out[rid] = f"#{value}"
        else:
            out[rid] = f.kind.display(f, value, locale)
    return out


def display_rows(conn: sa.Connection, schema: Schema, rt: RecordType, names: Sequence[str],
                 rows: Sequence[dict[str, t.Any]], locale: str,
                 ctx: Actor | None = None) -> list[dict[str, t.Any]]:
    """Rows of a list widget as {id, cells: [(text, (type, id) of a linked record or None)]};
    linked records' titles come in one query per target type."""
    ws = schema.workspace
    found: dict[str, dict[int, str]] = {}
    for n in names:
        f = rt.fields[n]
        target = filters.link_target(f, ws)
        if target:
            ids = {r.get(n) for r in rows if r.get(n) is not None}
            found.setdefault(target, {}).update(titles(conn, schema, target, ids, locale, ctx))
    out = []
    for r in rows:
        cells = []
        for n in names:
            f, v = rt.fields[n], r.get(n)
            target = filters.link_target(f, ws)
            if target and v is not None:
                cells.append((found.get(target, {}).get(v, f"#{v}"), (target, v)))
            else:
                cells.append(("" if v is None else f.kind.display(f, v, locale), None))
        out.append({"id": r.get("id"), "cells": cells})
    return out
