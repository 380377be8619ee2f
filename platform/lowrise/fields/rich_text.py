"""Rich text (`rich_text`): formatted notes (bold, lists, links), kept as sanitised HTML.

Whatever comes in (a form, the API, an import, a rule) is cleaned by nh3 (ammonia) to an
allow-list of tags and attributes before it is stored, and again when it is shown: a
script, an event handler or a javascript: link never survives. Text without any tag is
taken as plain text, one paragraph per blank-line-separated block."""

from __future__ import annotations

import html as htmllib
import re

import nh3
from markupsafe import Markup, escape

from .base import FieldType, Input, registry
from .html import clipped
from .text import Written

TAGS = {"p", "br", "strong", "b", "em", "i", "u", "s", "ul", "ol", "li", "a", "h3", "h4",
        "blockquote", "code", "pre", "span"}
ATTRIBUTES = {"a": {"href", "title"}}
_TAG = re.compile(r"<[a-zA-Z/!]")


def clean(value: str) -> str:
    """The HTML with nothing but the allowed tags and attributes (links open safely)."""
    return nh3.clean(value, tags=TAGS, attributes=ATTRIBUTES, link_rel="noopener noreferrer",
                     url_schemes={"http", "https", "mailto", "tel"}, strip_comments=True)


def plain(value: str) -> str:
    """The text of the HTML, as a person reads it: blocks on their own lines."""
    spaced = re.sub(r"(?i)<br\s*/?>|</(p|li|h3|h4|blockquote|pre)>", "\n", value)
    text = htmllib.unescape(nh3.clean(spaced, tags=set()))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


@registry.register
class RichText(Written):
    """Formatted text (paragraphs, bold, lists, links), sanitised."""

    name = "rich_text"
    widget = "rich_text"
    operators = ("contains", "not_contains", "is_empty", "is_not_empty")
    searchable = True
    sortable = False
    indexable = False
    default_max_length = 100_000
    options_schema = {"max_length": {"type": "integer", "minimum": 1}}

    def json_schema(self, field, writing):
        # no maxLength: the limit counts the text, not its markup (parse judges it)
        return {"type": "string",
                "description": "HTML (p, br, strong, em, u, s, ul, ol, li, a, h3, h4, "
                               "blockquote, code, pre); anything else is removed. Text "
                               "without tags is taken as plain text"}

    def parse(self, field, raw):
        value = super().parse(field, raw)  # text, NUL refused, stripped
        if value is None:
            return None
        if not _TAG.search(value):
            blocks = [b for b in re.split(r"\r?\n\s*\r?\n", value) if b.strip()]
            value = "".join("<p>" + str(escape(b.strip())).replace("\r\n", "<br>")
                            .replace("\n", "<br>") + "</p>" for b in blocks)
        value = clean(value).strip()
        return value if plain(value) else None

    def check(self, field, value):
        # the limit counts what a person wrote, not the markup around it
        super().check(field, plain(value))

    def display(self, field, value, locale="en"):
        return "" if value is None else plain(value)

    def html(self, field, value, page):
        if not page.full:
            return clipped(plain(value), page)
        return Markup(f'<div class="rich">{clean(value)}</div>')  # nosec B704 - sanitised by nh3 (allow-list)

    def form_input(self, field):
        return Input("textarea", {"rows": 6, "data-rich": "1"})

    def from_cell(self, field, value):
        return FieldType.from_cell(self, field, value if not isinstance(value, int | float)
                                   else str(value))

    def sample(self, field, sampler):
        words = sampler.fake.paragraph()
        return f"<p><strong>{escape(sampler.fake.word())}</strong> {escape(words)}</p>"
