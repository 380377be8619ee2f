"""Choice family: boolean, select, multi_select (options with colours)."""

from __future__ import annotations

import re

import sqlalchemy as sa
from markupsafe import Markup, escape

from lowrise.errors import FieldError
from lowrise.i18n import msg

from .base import FieldType, Input, registry
from .html import chip

COLORS = ["gray", "red", "orange", "yellow", "green", "teal", "blue", "indigo", "purple", "pink",
          "brown"]

#: what separates options written as one text: commas, and the marks spreadsheets use
_SEPARATORS = re.compile(r"[,，、;；|\n]")
_TRUE = {"true", "yes", "y", "1", "on", "是", "checked", "x"}
_FALSE = {"false", "no", "n", "0", "off", "否", ""}

OPTIONS_SCHEMA = {
    "options": {
        "type": "array",
        "minItems": 1,
        "items": {
            "oneOf": [
                {"type": "string", "pattern": "^[a-z0-9][a-z0-9_]{0,62}$"},
                {
                    "type": "object",
                    "required": ["value"],
                    "additionalProperties": False,
                    "properties": {
                        "value": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_]{0,62}$"},
                        "label": {"$ref": "#/$defs/label"},
                        "color": {"enum": COLORS},
                        "renamed_from": {
                            "description": "values this option used to be, or that it takes "
                                           "over: `lowrise migrate` rewrites them to it",
                            "oneOf": [{"type": "string"},
                                      {"type": "array", "items": {"type": "string"}}]},
                    },
                },
            ]
        },
    }
}


@registry.register
class Boolean(FieldType):
    name = "boolean"
    family = "choice"
    groupable = True
    few_values = True
    flavor = "bool"
    operators = ("eq", "ne", "is_empty", "is_not_empty")
    widget = "checkbox"

    def column_type(self, field):
        return sa.Boolean()

    def json_schema(self, field, writing):
        if not writing:
            return {"type": "boolean"}
        return {"anyOf": [{"type": "boolean"}, {"enum": [0, 1]},
                          {"type": "string", "description": "true/false, yes/no, 1/0, 是/否"}]}

    def parse(self, field, raw):
        if raw is None or isinstance(raw, bool):
            return raw
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise FieldError(msg("'%(value)s' is not yes or no (write true or false)", value=raw))

    def sample(self, field, sampler):
        return sampler.rng.random() < 0.5

    def form_input(self, field):
        return Input("checkbox")

    def form_value(self, field, value):
        return value

    def display(self, field, value, locale="en"):
        if value is None:
            return ""
        if locale.startswith("zh"):
            return "是" if value else "否"
        return "Yes" if value else "No"

    def html(self, field, value, page):
        mark = "✓" if value else "✗"
        return Markup(f'<span class="bool bool-{"yes" if value else "no"}" '  # nosec B704 - every value in it is escaped
                      f'title="{escape(self.display(field, value, page.locale))}">{mark}</span>')


def option_schema(field, writing: bool) -> dict:
    """One option: its value (as the API returns it); when writing, an option's label in any
    language is read as that option, so any text is taken to the parser."""
    values = {"enum": [o.value for o in field.options],
              "description": ", ".join(f"{o.value}: {o.label}" for o in field.options)}
    if not writing:
        return values
    return {"anyOf": [values, {"type": "string",
                               "description": "an option's label, in any language"}]}


def option_chip(field, value: str, locale: str) -> Markup:
    """An option as a chip of its colour (a value no longer an option: grey, as stored)."""
    opt = field.option(value)
    return chip(opt.label.get(locale) if opt else value, opt.color if opt else "gray")


def _match_option(field, raw: str) -> str:
    text = raw.strip()
    for o in field.options:
        if text == o.value:
            return o.value
    low = text.lower()
    for o in field.options:
        if any(low == t.lower() for t in o.label.texts.values()):
            return o.value
    allowed = ", ".join(o.value for o in field.options)
    raise FieldError(msg("'%(value)s' is not one of the options (%(options)s)", value=raw, options=allowed))


@registry.register
class Select(FieldType):
    name = "select"
    family = "choice"
    has_options = True
    groupable = True
    stages = True
    few_values = True
    flavor = "select"
    operators = ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "is_empty", "is_not_empty")
    widget = "select"
    options_schema = OPTIONS_SCHEMA
    required_options = ("options",)

    def column_type(self, field):
        return sa.String(64)

    def json_schema(self, field, writing):
        return option_schema(field, writing)

    def parse(self, field, raw):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if not isinstance(raw, str):
            raise FieldError(msg("expected one option, got %(value)s", value=repr(raw)))
        return _match_option(field, raw)

    def sample(self, field, sampler):
        return sampler.rng.choice(field.options).value

    def form_input(self, field):
        return Input("select")

    def rank(self, field, value) -> int:
        """The option's position: a stage's order through its select field."""
        return next((i for i, o in enumerate(field.options) if o.value == value), -1)

    def display(self, field, value, locale="en"):
        if value is None:
            return ""
        opt = field.option(value)
        return opt.label.get(locale) if opt else value

    def html(self, field, value, page):
        return option_chip(field, value, page.locale)


@registry.register
class MultiSelect(FieldType):
    """Stored as `|a|b|` so that "has option a" is a plain, portable LIKE '%|a|%'."""

    name = "multi_select"
    family = "choice"
    has_options = True
    multiple = True
    indexable = False
    flavor = "multi"
    operators = ("contains", "not_contains", "in", "is_empty", "is_not_empty")
    widget = "multi_select"
    options_schema = OPTIONS_SCHEMA
    required_options = ("options",)
    sortable = False

    def json_schema(self, field, writing):
        items = {"type": "array", "uniqueItems": not writing,
                 "items": option_schema(field, writing)}
        if not writing:
            return items
        return {"anyOf": [items, {"type": "string", "description": "options separated by "
                                  "commas (，、; too)"}]}

    def parse(self, field, raw):
        if raw is None:
            return None
        if isinstance(raw, str):
            raw = [p.strip() for p in _SEPARATORS.split(raw) if p.strip()]
        if not isinstance(raw, (list, tuple)):
            raise FieldError(msg("expected a list of options, got %(value)s", value=repr(raw)))
        values = []
        for item in raw:
            v = _match_option(field, str(item))
            if v not in values:
                values.append(v)
        order = [o.value for o in field.options]
        return sorted(values, key=order.index) or None

    def form_input(self, field):
        return Input("checkboxes")

    def form_value(self, field, value):
        return value

    def sample(self, field, sampler):
        values = [o.value for o in field.options]
        return sampler.rng.sample(values, k=sampler.rng.randint(1, min(3, len(values))))

    def to_db(self, field, value):
        return None if not value else "|" + "|".join(value) + "|"

    def from_db(self, field, value):
        return None if not value else value.strip("|").split("|")

    def display(self, field, value, locale="en"):
        if not value:
            return ""
        return ", ".join(Select.display(self, field, v, locale) for v in value)

    def html(self, field, value, page):
        return Markup(" ").join(option_chip(field, v, page.locale) for v in value)
