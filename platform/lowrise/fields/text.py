"""Text family: text, long_text, email, phone, url."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from lowrise.errors import FieldError
from lowrise.i18n import msg

from .base import TEXT_OPS, FieldType, registry


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


_LENGTHS = {
    "min_length": {"type": "integer", "minimum": 0},
    "max_length": {"type": "integer", "minimum": 1},
    "pattern": {"type": "string", "format": "regex"},
    "pattern_hint": {"type": "string"},
}


@registry.register
class Text(FieldType):
    name = "text"
    options_schema = _LENGTHS
    searchable = True
    default_max_length = 255

    def json_schema(self, field, writing):
        return text_schema(field, self.default_max_length, writing)


@registry.register
class LongText(FieldType):
    name = "long_text"
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


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@registry.register
class Email(FieldType):
    name = "email"
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


_PHONE_JUNK = re.compile(r"[\s\-().]")


@registry.register
class Phone(FieldType):
    name = "phone"
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


@registry.register
class Url(FieldType):
    name = "url"
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


__all__ = ["Text", "LongText", "Email", "Phone", "Url", "TEXT_OPS"]
