"""Values as HTML: coloured chips for options, link chips, money, dates, stars.

Each field type's own `display()` gives the text; this module only adds the markup around
it. Everything goes through `escape`, so a value can never become markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from flask import Flask, url_for
from markupsafe import Markup, escape

from lowrise.access import Masked
from lowrise.fields import registry
from lowrise.workspace.model import Field

from .i18n import current_locale

Titles = Mapping[tuple[str, int], str]

NUMERIC = {"integer", "decimal", "currency", "percent", "duration"}
TRUNCATE = 80


def text(field: Field, value: Any, locale: str | None = None) -> str:
    """The value as plain text in the current locale."""
    if value is None or value == "" or value == []:
        return ""
    return field.kind.display(field, value, locale or current_locale())


def chip(label: str, color: str | None, *, href: str | None = None) -> Markup:
    cls = f"chip c-{escape(color or 'gray')}"
    if href:
        return Markup('<a class="{} chip-link" href="{}">{}</a>').format(cls, href, label)
    return Markup('<span class="{}">{}</span>').format(cls, label)


def link_title(target: str, rid: int, titles: Titles | None) -> str:
    title = (titles or {}).get((target, rid))
    return title if title else f"#{rid}"


def value_html(field: Field, value: Any, *, titles: Titles | None = None,
               full: bool = False, locale: str | None = None) -> Markup:
    """One value as HTML; `full` shows long text whole (record page) instead of cut (tables)."""
    locale = locale or current_locale()
    if value is None or value == "" or value == []:
        return Markup("")
    if isinstance(value, Masked):  # never a link (tel:, mailto:): the mask is all there is
        return Markup('<span class="masked">{}</span>').format(value)
    kind = field.type
    if field.type == "formula":
        kind = field.config.get("result", "decimal")
    if kind == "select":
        opt = field.option(value)
        return chip(text(field, value, locale), opt.color if opt else "gray")
    if kind == "multi_select":
        return Markup(" ").join(
            chip(opt.label.get(locale) if (opt := field.option(v)) else v,
                 opt.color if opt else "gray") for v in value)
    if kind in ("link", "user") and field.target:
        href = url_for("records.show", type_name=field.target, record_id=value)
        return chip(link_title(field.target, value, titles), "link", href=href)
    if kind == "boolean":
        mark = "✓" if value else "✗"
        return Markup('<span class="bool bool-{}" title="{}">{}</span>').format(
            "yes" if value else "no", text(field, value, locale), mark)
    if kind == "rating":
        top = int(field.config.get("max", 5))
        return Markup('<span class="rating" aria-label="{} / {}">{}</span>').format(
            value, top, text(field, value, locale))
    if kind in NUMERIC:
        return Markup('<span class="num">{}</span>').format(text(field, value, locale))
    if kind == "url":
        return Markup('<a href="{}" rel="noopener noreferrer nofollow" target="_blank">{}</a>'
                      ).format(value, value)
    if kind == "email":
        return Markup('<a href="mailto:{}">{}</a>').format(value, value)
    if kind == "phone":
        return Markup('<a href="tel:{}">{}</a>').format(value, value)
    if kind == "attachment":
        return Markup(", ").join(
            Markup('<a class="file" href="{}">{}</a>').format(
                url_for("records.download", key=f["key"], name=f["name"]), f["name"])
            for f in value if isinstance(f, dict) and "key" in f)
    shown = text(field, value, locale)
    if kind == "long_text":
        if not full and len(shown) > TRUNCATE:
            return Markup('<span class="clip" title="{}">{}…</span>').format(
                shown, shown[:TRUNCATE])
        return Markup('<span class="prose">{}</span>').format(shown)
    if isinstance(value, (date, datetime)):
        return Markup('<time datetime="{}">{}</time>').format(value.isoformat(), shown)
    return Markup("{}").format(shown)


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
