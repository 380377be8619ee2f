"""Values as HTML on the web's pages: each field type writes its own (`FieldType.html`,
lowrise.fields.html); this module gives it what it needs from the request (the locale,
the URLs of record pages and files, the titles of linked records)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Flask, g, url_for
from markupsafe import Markup, escape

from lowrise.access import Masked
from lowrise.fields.html import Page
from lowrise.workspace.model import Field

from .i18n import current_locale

Titles = Mapping[tuple[str, int], str]



def text(field: Field, value: Any, locale: str | None = None) -> str:
    """The value as plain text in the current locale."""
    if value is None or value == "" or value == []:
        return ""
    return field.kind.display(field, value, locale or current_locale())


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


def _page(locale: str, titles: Titles | None, full: bool) -> Page:
    """What a value's HTML needs from this request: URLs of records and files, titles."""
    return Page(locale=locale, full=full, titles=titles or {}, record_url=record_url,
                file_url=_file_url)


def _file_url(key: str, name: str) -> str:
    return url_for("records.download", key=key, name=name)


def value_html(field: Field, value: Any, *, titles: Titles | None = None,
               full: bool = False, locale: str | None = None) -> Markup:
    """One value as HTML, as its field type writes it; `full` shows long text whole (record
    page) instead of cut (tables). A masked value is the mask, never a link (tel:, mailto:)."""
    if value is None or value == "" or value == []:
        return Markup("")
    if isinstance(value, Masked):
        return Markup(f'<span class="masked">{escape(value)}</span>')  # nosec B704 - every value in it is escaped
    return field.kind.html(field, value, _page(locale or current_locale(), titles, full))


def from_json(field: Field, raw: Any) -> Any:
    """A value as the audit log or the trash keep it (JSON), back as a Python value."""
    if raw is None:
        return None
    if field.kind.numbered or not field.kind.declarable:
        return raw
    try:
        return field.kind.value_type(field).parse(field, raw)
    except Exception:  # an option since removed, a changed type: show what was stored
        return raw


@functools.lru_cache(maxsize=64)
def _babel_locale(code: str):
    """Babel's Locale of a locale code, parsed once (parsing it costs more than formatting)."""
    from babel import Locale

    return Locale.parse({"zh": "zh_CN", "en": "en_US"}.get(code, code))


def when(at: datetime | None, fmt: str = "medium") -> str:
    """A moment in the workspace's time zone, in the current locale."""
    if at is None:
        return ""
    from zoneinfo import ZoneInfo

    from babel.dates import format_datetime

    from .runtime import rt

    zone = ZoneInfo(rt().workspace.config.get("timezone") or "UTC")
    return format_datetime(at.astimezone(zone), fmt, locale=_babel_locale(current_locale()))


def deadlines(type_name: str, record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The record's time limits (a rule's `deadline:`) as the page and the board's cards
    show them: due, or overdue, with the moment in the reader's locale and time zone."""
    from flask_babel import gettext as _

    from lowrise.i18n import tr
    from lowrise.rules.engine import rule_set

    from .auth import actor
    from .runtime import rt

    out = []
    for d in rule_set(rt().workspace).deadlines(type_name, record, actor()):
        name, at = tr(d.label, current_locale()), when(d.due, "short")
        out.append({"overdue": d.overdue, "due": d.due,
                    "text": _("%(limit)s: overdue since %(when)s", limit=name, when=at)
                    if d.overdue else _("%(limit)s: due %(when)s", limit=name, when=at)})
    return out


def lock_note(rtype, record: Mapping[str, Any]) -> str:
    """What the record page says of a locked record (its `locked:`), or ""."""
    from lowrise.i18n import tr
    from lowrise.storage import locks

    from .auth import actor
    from .runtime import rt

    if rtype.locked is None:
        return ""
    return tr(locks.note(rt().workspace, rtype, record, actor()), current_locale())


def init_app(app: Flask) -> None:
    from .history import action_label

    app.jinja_env.globals.update(value_html=value_html, value_text=text, format_when=when,
                                 action_label=action_label, deadlines=deadlines,
                                 lock_note=lock_note)
