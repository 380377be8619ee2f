"""How a field type writes its values as HTML: the markup around `display()`'s text.

The engine never imports Flask, so what a value's HTML needs from the web (the URL of a
record page or a file, the titles of linked records) comes in a `Page`, which the web's
display module makes. Every piece of text goes through `escape`: a value never becomes
markup (rich text is the one exception, and it is sanitised when stored and again here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

#: how much of a long text a table cell shows
TRUNCATE = 80


@dataclass(frozen=True)
class Page:
    """What a value's HTML may use from the page it is on."""

    locale: str
    #: the whole value (a record page) rather than a table cell's cut
    full: bool = False
    #: the titles of linked records, by (type, id); a missing one shows as #id
    titles: Mapping[tuple[str, int], str] = field(default_factory=dict)
    #: the URL of a record's page: record_url(type, id)
    record_url: Callable[[str, Any], str] = lambda type_name, rid: "#"
    #: the URL of a stored file: file_url(key, name)
    file_url: Callable[[str, str], str] = lambda key, name: "#"


def chip(label: str, color: str | None, *, href: str | None = None) -> Markup:
    """A coloured chip (an option), or a link chip when it has an `href`."""
    cls = f"chip c-{escape(color or 'gray')}"
    if href:
        return Markup(f'<a class="{cls} chip-link" href="{escape(href)}">{escape(label)}</a>')  # nosec B704 - every value in it is escaped
    return Markup(f'<span class="{cls}">{escape(label)}</span>')  # nosec B704 - every value in it is escaped


def number(shown: str) -> Markup:
    """A number's text, aligned as numbers are."""
    return Markup(f'<span class="num">{escape(shown)}</span>')  # nosec B704 - every value in it is escaped


def moment(value: Any, shown: str) -> Markup:
    """A date or a date and time, machine-readable in its `datetime` attribute."""
    return Markup(f'<time datetime="{escape(value.isoformat())}">{escape(shown)}</time>')  # nosec B704 - every value in it is escaped


def clipped(shown: str, page: Page) -> Markup:
    """A long text: whole on a record page, cut in a table (the whole in its title)."""
    if not page.full and len(shown) > TRUNCATE:
        return Markup(f'<span class="clip" title="{escape(shown)}">'  # nosec B704 - every value in it is escaped
                      f'{escape(shown[:TRUNCATE])}…</span>')
    return Markup(f'<span class="prose">{escape(shown)}</span>')  # nosec B704 - every value in it is escaped


def anchor(href: str, shown: str, *, outside: bool = False) -> Markup:
    """A link; `outside`: to another site (a new tab, no referrer)."""
    extra = ' rel="noopener noreferrer nofollow" target="_blank"' if outside else ""
    return Markup(f'<a href="{escape(href)}"{extra}>{escape(shown)}</a>')  # nosec B704 - every value in it is escaped
