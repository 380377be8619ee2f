"""Text family: text, long_text, email, phone, url."""

from __future__ import annotations

import re
from datetime import date
from typing import ClassVar
from urllib.parse import urlsplit

from lowrise.errors import FieldError
from lowrise.i18n import msg

from .base import TEXT_OPS, FieldType, Input, registry
from .html import anchor, clipped


def text_schema(field, default_max: int | None, writing: bool, **extra) -> dict:
    """A text field's schema: a string of at most its maximum length (when it has one)."""
    out: dict = {"type": "string", **extra}
    top = field.config.get("max_length") or default_max
    if top:
        out["maxLength"] = int(top)
    if writing and field.config.get("min_length"):
        out["minLength"] = int(field.config["min_length"])
    if writing and field.config.get("pattern_hint"):
        out["description"] = f"like {field.config['pattern_hint']}"
    return out


class Written(FieldType):
    """Text a person writes: a cell Excel typed as a number or a date is read as its text
    (12 not 12.0 where `whole_cells`: a phone number, a code)."""

    whole_cells: ClassVar[bool] = False

    def from_cell(self, field, value):
        if isinstance(value, float) and value.is_integer() and self.whole_cells:
            value = int(value)
        if isinstance(value, int | float | date) and not isinstance(value, bool):
            value = str(value)
        return super().from_cell(field, value)


_LENGTHS = {
    "min_length": {"type": "integer", "minimum": 0},
    "max_length": {"type": "integer", "minimum": 1},
    "pattern": {"type": "string", "format": "regex"},
    "pattern_hint": {"type": "string"},
}


@registry.register
class Text(Written):
    name = "text"
    whole_cells = True
    maskable = True
    titles = True
    plain_text = True
    options_schema = _LENGTHS
    searchable = True
    default_max_length = 255

    def json_schema(self, field, writing):
        return text_schema(field, self.default_max_length, writing)

    def sample(self, field, sampler):
        return sampler.fake.sentence(nb_words=3).rstrip(".")[:60]

    def fit_sample(self, field, value, rng):
        if isinstance(value, str):
            return value[: int(field.config.get("max_length", 255))]
        return value


@registry.register
class LongText(Written):
    name = "long_text"
    maskable = True
    widget = "textarea"
    indexable = False
    operators = ("contains", "not_contains", "starts_with", "is_empty", "is_not_empty")
    options_schema = _LENGTHS
    searchable = True
    sortable = False
    # a page or two of notes; a field's max_length may raise or lower it
    default_max_length = 100_000

    def json_schema(self, field, writing):
        return text_schema(field, self.default_max_length, writing)

    def parse(self, field, raw):
        value = super().parse(field, raw)
        return value.replace("\r\n", "\n") if value else value

    def sample(self, field, sampler):
        return sampler.fake.paragraph()

    def form_input(self, field):
        return Input("textarea", {**super().form_input(field).attrs, "rows": 4})

    def html(self, field, value, page):
        return clipped(self.display(field, value, page.locale), page)


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@registry.register
class Email(Written):
    name = "email"
    email_address = True
    maskable = True
    widget = "email"
    searchable = True

    def json_schema(self, field, writing):
        return text_schema(field, 254, writing, description="an e-mail address, like "
                           "name@example.com")

    def parse(self, field, raw):
        value = super().parse(field, raw)
        if value is None:
            return None
        if not _EMAIL.fullmatch(value) or len(value) > 254:
            raise FieldError(msg("'%(value)s' is not an e-mail address (like name@example.com)", value=value))
        return value.lower()

    def sample(self, field, sampler):
        return sampler.fake.unique.email()

    def form_input(self, field):
        return Input("text", {"type": "email", "autocomplete": "email"})

    def html(self, field, value, page):
        return anchor(f"mailto:{value}", value)


_PHONE_JUNK = re.compile(r"[\s\-().]")


@registry.register
class Phone(Written):
    name = "phone"
    whole_cells = True
    maskable = True
    widget = "tel"
    searchable = True
    options_schema = {"pattern": {"type": "string", "format": "regex"},
                      "pattern_hint": {"type": "string"}}

    def json_schema(self, field, writing):
        if not writing:
            return {"type": "string", "description": "digits, optionally starting with +"}
        return {"type": ["string", "integer"],
                "description": "a phone number: 3 to 20 digits, optionally starting with +; "
                               "spaces, dashes, dots and brackets are dropped"}

    def parse(self, field, raw):
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)
        value = super().parse(field, raw)
        if value is None:
            return None
        compact = _PHONE_JUNK.sub("", value)
        if not re.fullmatch(r"\+?\d{3,20}", compact):
            raise FieldError(msg("'%(value)s' is not a phone number (digits, optionally starting with +)", value=value))
        return compact

    def sample(self, field, sampler):
        return sampler.fake.unique.msisdn()  # digits only: valid in every locale

    def form_input(self, field):
        return Input("text", {"type": "tel", "autocomplete": "tel"})

    def html(self, field, value, page):
        return anchor(f"tel:{value}", value)


@registry.register
class Url(Written):
    name = "url"
    maskable = True
    widget = "url"

    def json_schema(self, field, writing):
        return {"type": "string", "maxLength": 2048,
                "description": "a web address (http or https; https:// is added when "
                               "missing)"}

    def parse(self, field, raw):
        value = super().parse(field, raw)
        if value is None:
            return None
        if "://" not in value:
            value = "https://" + value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 2048:
            raise FieldError(msg("'%(value)s' is not a web address (like https://example.com)", value=value))
        return value

    def sample(self, field, sampler):
        return sampler.fake.url()

    def form_input(self, field):
        return Input("text", {"type": "url", "placeholder": "https://"})

    def html(self, field, value, page):
        return anchor(value, value, outside=True)


__all__ = ["Written", "Text", "LongText", "Email", "Phone", "Url", "TEXT_OPS"]
