"""Values as HTML: coloured chips for options, link chips, money, dates, stars.

Each field type's own `display()` gives the text; this module only adds the markup around
it. Everything goes through `escape`, so a value can never become markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from flask import Flask, g, url_for
from markupsafe import Markup, escape

from lowrise.access import Masked
from lowrise.fields import registry
from lowrise.workspace.model import Field

from .i18n import current_locale

Titles = Mapping[tuple[str, int], str]

NUMERIC = {"integer", "decimal", "currency", "percent", "duration"}
FAST_NUMBERS = {"integer", "decimal", "currency", "percent"}  # number_text writes these
TRUNCATE = 80


def text(field: Field, value: Any, locale: str | None = None) -> str:
    """The value as plain text in the current locale."""
    if value is None or value == "" or value == []:
        return ""
    return field.kind.display(field, value, locale or current_locale())


def chip(label: str, color: str | None, *, href: str | None = None) -> Markup:
    cls = f"chip c-{escape(color or 'gray')}"
    if href:
        return Markup(f'<a class="{cls} chip-link" href="{escape(href)}">{escape(label)}</a>')  # nosec B704 - every value in it is escaped
    return Markup(f'<span class="{cls}">{escape(label)}</span>')  # nosec B704 - every value in it is escaped


def link_title(target: str, rid: int, titles: Titles | None) -> str:
    title = (titles or {}).get((target, rid))
    return title if title else f"#{rid}"


_ID = 918_273_645  # stands for a record id while a URL pattern is built


def url_pattern(endpoint: str, **values: Any) -> str:
    """The URL of `endpoint` for any record id, as a `str.format` pattern with `{id}` (and the
    other `{name}` placeholders given as values, such as `v="{v}"`): one `url_for` for a whole
    page of rows instead of one per cell. Kept for the request."""
    cache = g.setdefault("lr_url_patterns", {})
    key = (endpoint, tuple(sorted((k, str(v)) for k, v in values.items())))
    found = cache.get(key)
    if found is None:
        url = url_for(endpoint, record_id=_ID, **values)
        url = url.replace("{", "{{").replace("}", "}}").replace(str(_ID), "{id}")
        for v in values.values():  # url_for escaped the braces of "{v}"
            if isinstance(v, str) and v.startswith("{") and v.endswith("}"):
                url = url.replace(f"%7B{v[1:-1]}%7D", v)
        found = cache[key] = url
    return found


def record_url(type_name: str, record_id: Any) -> str:
    """The record page of a record (its link chips on every row of a table)."""
    return url_pattern("records.show", type_name=type_name).format(id=record_id)


@lru_cache(maxsize=16)
def _time_patterns(locale: str):
    """Babel's patterns for the date and datetime fields' text in a locale, parsed once."""
    from babel import Locale
    from babel.dates import get_date_format, get_datetime_format, get_time_format, parse_pattern

    loc = Locale.parse({"zh": "zh_CN", "en": "en_US"}.get(locale, locale or "en_US"))
    return (loc, parse_pattern(get_date_format("medium", loc)),
            get_datetime_format("short", loc).replace("'", ""),
            parse_pattern(get_date_format("short", loc)), parse_pattern(get_time_format("short", loc)))


def time_text(field: Field, value: date | datetime, locale: str) -> str:
    """A date or datetime field's value as its type's `display()` writes it (medium dates,
    short date-times in the field's zone), without looking up and parsing Babel's patterns
    for every value (a table of date-times spent a fifth of its time there)."""
    loc, medium, joined, short_date, short_time = _time_patterns(locale)
    if field.type == "date":
        return medium.apply(value, loc)
    at = value.astimezone(_zone(field.config.get("timezone") or "UTC"))
    return joined.replace("{0}", short_time.apply(at, loc)).replace(
        "{1}", short_date.apply(at.date(), loc))


@lru_cache(maxsize=16)
def _babel_locale(locale: str):
    from babel import Locale

    return Locale.parse({"zh": "zh_CN", "en": "en_US"}.get(locale, locale or "en_US"))


@lru_cache(maxsize=64)
def _number_pattern(fmt: str):
    from babel.numbers import parse_pattern

    return parse_pattern(fmt)


def number_text(field: Field, value: Any, locale: str) -> str:
    """An integer, decimal, currency or percent field's value as its type's `display()`
    writes it, with the locale and the pattern looked up once rather than for every value."""
    loc, t = _babel_locale(locale), field.type
    if t == "integer":
        return loc.decimal_formats[None].apply(value, loc)
    if t == "currency":
        return loc.currency_formats["standard"].apply(
            value, loc, currency=field.config.get("currency", "CNY"), currency_digits=True)
    scale = field.kind.scale(field)
    shown = _number_pattern("#,##0." + "0" * scale if scale else "#,##0").apply(value, loc)
    return f"{shown}%" if t == "percent" else shown


@lru_cache(maxsize=64)
def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def value_html(field: Field, value: Any, *, titles: Titles | None = None,
               full: bool = False, locale: str | None = None) -> Markup:
    """One value as HTML; `full` shows long text whole (record page) instead of cut (tables).

    Every piece of text goes through `escape`; the markup is written with f-strings rather
    than `Markup.format` (a table page calls this for each of its hundreds of cells)."""
    locale = locale or current_locale()
    if value is None or value == "" or value == []:
        return Markup("")
    if isinstance(value, Masked):  # never a link (tel:, mailto:): the mask is all there is
        return Markup(f'<span class="masked">{escape(value)}</span>')  # nosec B704 - every value in it is escaped
    kind = field.type
    if field.type == "formula":
        kind = field.config.get("result", "decimal")
    if kind == "select":
        opt = field.option(value)
        return chip(opt.label.get(locale) if opt else value, opt.color if opt else "gray")
    if kind == "multi_select":
        return Markup(" ").join(
            chip(opt.label.get(locale) if (opt := field.option(v)) else v,
                 opt.color if opt else "gray") for v in value)
    if kind in ("link", "user") and field.target:
        title = link_title(field.target, value, titles)
        if getattr(title, "in_trash", False):  # its page is gone: a chip that links nowhere
            return Markup(f'<span class="chip c-link chip-trashed">{escape(title)}</span>')  # nosec B704 - every value in it is escaped
        return chip(title, "link", href=record_url(field.target, value))
    if kind == "boolean":
        mark = "✓" if value else "✗"
        return Markup(f'<span class="bool bool-{"yes" if value else "no"}" '  # nosec B704 - every value in it is escaped
                      f'title="{escape(text(field, value, locale))}">{mark}</span>')
    if kind == "rating":
        top = int(field.config.get("max", 5))
        return Markup(f'<span class="rating" aria-label="{escape(value)} / {top}">'  # nosec B704 - every value in it is escaped
                      f'{escape(text(field, value, locale))}</span>')
    if kind in NUMERIC:
        shown = (number_text(field, value, locale) if field.type in FAST_NUMBERS
                 else text(field, value, locale))
        return Markup(f'<span class="num">{escape(shown)}</span>')  # nosec B704 - every value in it is escaped
    if kind == "url":
        return Markup(f'<a href="{escape(value)}" rel="noopener noreferrer nofollow" '  # nosec B704 - every value in it is escaped
                      f'target="_blank">{escape(value)}</a>')
    if kind == "email":
        return Markup(f'<a href="mailto:{escape(value)}">{escape(value)}</a>')  # nosec B704 - every value in it is escaped
    if kind == "phone":
        return Markup(f'<a href="tel:{escape(value)}">{escape(value)}</a>')  # nosec B704 - every value in it is escaped
    if kind == "attachment":
        return Markup(", ").join(
            Markup('<a class="file" href="{}">{}</a>').format(
                url_for("records.download", key=f["key"], name=f["name"]), f["name"])
            for f in value if isinstance(f, dict) and "key" in f)
    if field.type in ("date", "datetime") and isinstance(value, (date, datetime)):
        return Markup(f'<time datetime="{value.isoformat()}">'  # nosec B704 - every value in it is escaped
                      f'{escape(time_text(field, value, locale))}</time>')
    shown = text(field, value, locale)
    if kind == "long_text":
        if not full and len(shown) > TRUNCATE:
            return Markup(f'<span class="clip" title="{escape(shown)}">'  # nosec B704 - every value in it is escaped
                          f'{escape(shown[:TRUNCATE])}…</span>')
        return Markup(f'<span class="prose">{escape(shown)}</span>')  # nosec B704 - every value in it is escaped
    if isinstance(value, (date, datetime)):
        return Markup(f'<time datetime="{value.isoformat()}">{escape(shown)}</time>')  # nosec B704 - every value in it is escaped
    return escape(shown)


def from_json(field: Field, raw: Any) -> Any:
    """A value as the audit log or the trash keep it (JSON), back as a Python value."""
    if raw is None:
        return None
    if field.type in ("autonumber", "id"):
        return raw
    try:
        if field.type == "formula":
            return registry.get(field.config.get("result", "decimal")).parse(field, raw)
        return field.kind.parse(field, raw)
    except Exception:  # an option since removed, a changed type: show what was stored
        return raw


def when(at: datetime | None, fmt: str = "medium") -> str:
    """A moment in the workspace's time zone, in the current locale."""
    if at is None:
        return ""
    from zoneinfo import ZoneInfo

    from babel.dates import format_datetime

    from .runtime import rt

    zone = ZoneInfo(rt().workspace.config.get("timezone") or "UTC")
    loc = {"zh": "zh_CN", "en": "en_US"}.get(current_locale(), current_locale())
    return format_datetime(at.astimezone(zone), fmt, locale=loc)


def init_app(app: Flask) -> None:
    from .history import action_label

    app.jinja_env.globals.update(value_html=value_html, value_text=text, format_when=when,
                                 action_label=action_label)
