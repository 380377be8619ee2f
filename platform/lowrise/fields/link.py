"""Link family: link (many-to-one to another record type) and user (a reference to a person)."""

from __future__ import annotations

import sqlalchemy as sa
from markupsafe import Markup, escape

from lowrise.errors import FieldError
from lowrise.i18n import msg

from .base import FieldType, Input, registry
from .html import chip

ON_DELETE = {
    "enum": ["keep", "clear", "refuse"],
    "description": "What deleting the linked record does to this field: refuse the delete, "
                   "clear the field (the default; a required field refuses), or keep the link "
                   "to the record in the trash.",
}


@registry.register
class Link(FieldType):
    name = "link"
    family = "link"
    links = True
    groupable = True
    flavor = "link"
    operators = ("eq", "ne", "in", "not_in", "is_empty", "is_not_empty")
    widget = "link"
    options_schema = {
        "target": {"$ref": "#/$defs/name"},
        "related_label": {"$ref": "#/$defs/label"},
        "on_delete": ON_DELETE,
        "same_as": {"type": "string", "pattern": "^[a-z][a-z0-9_]*\\.[a-z][a-z0-9_]*$",
                    "description": "link.field: the record another link of this type points "
                                   "at names the same record here (a contract's buyer is "
                                   "its case's client), on every write"},
    }
    required_options = ("target",)

    def column_type(self, field):
        return sa.BigInteger()

    def json_schema(self, field, writing):
        what = f"the id of a {field.target} record" if field.target else "a record id"
        the_id = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1, "description": what}
        if not writing:
            return the_id
        return {"anyOf": [the_id, {"type": "string", "description": f"{what}, as text "
                                   "(12 or #12)"},
                          {"type": "object", "required": ["id"],
                           "description": "the record as read (its id is taken)"}]}

    def parse(self, field, raw):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if isinstance(raw, dict) and "id" in raw:
            raw = raw["id"]
        if isinstance(raw, bool):
            raise FieldError(msg("must be a record id"))
        try:
            # "#12", as pages write a record's id, is 12
            value = int(str(raw).strip().removeprefix("#"))
        except ValueError:
            raise FieldError(msg("'%(value)s' is not a record id", value=raw)) from None
        if not 0 < value < 2**63:  # ids are positive 64-bit integers
            raise FieldError(msg("'%(value)s' is not a record id", value=raw))
        return value

    def form_input(self, field):
        return Input("picker")

    def sample(self, field, sampler):
        pool = sampler.ids.get(field.target or "", [])
        return sampler.rng.choice(pool) if pool else None

    def display(self, field, value, locale="en"):
        return "" if value is None else f"#{value}"

    def html(self, field, value, page):
        if not field.target:
            return escape(self.display(field, value, page.locale))
        title = page.titles.get((field.target, value)) or f"#{value}"
        if getattr(title, "in_trash", False):  # its page is gone: a chip that links nowhere
            return Markup(f'<span class="chip c-link chip-trashed">{escape(title)}</span>')  # nosec B704 - every value in it is escaped
        return chip(title, "link", href=page.record_url(field.target, value))


@registry.register
class User(Link):
    """A person: a record of the workspace's users type (the staff). `me` is the current user."""

    name = "user"
    widget = "user"
    person = True
    options_schema = {"related_label": {"$ref": "#/$defs/label"},
                      "role": {"type": "string"},
                      "on_delete": ON_DELETE}
    required_options = ()
