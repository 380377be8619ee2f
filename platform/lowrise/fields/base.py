"""What every field type declares: column type, parsing, validation, display, operators."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

import sqlalchemy as sa
from markupsafe import Markup, escape

from lowrise.errors import FieldError
from lowrise.i18n import Lazy, msg

TEXT_OPS = ("eq", "ne", "in", "not_in", "contains", "not_contains", "starts_with",
            "is_empty", "is_not_empty")
ORDER_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "between", "in", "not_in",
             "is_empty", "is_not_empty")
EMPTY_OPS = ("is_empty", "is_not_empty")

# Options every field may carry, as JSON Schema properties.
COMMON_OPTIONS: dict[str, Any] = {
    "type": {"type": "string"},
    "label": {"$ref": "#/$defs/label"},
    "help": {"$ref": "#/$defs/label"},
    "required": {"type": "boolean"},
    "unique": {"type": "boolean"},
    "indexed": {"type": "boolean"},
    "read_only": {"type": "boolean"},
    "default": {},
    "renamed_from": {
        "oneOf": [{"$ref": "#/$defs/name"}, {"type": "array", "items": {"$ref": "#/$defs/name"}}]
    },
    "sample": {"description": "How demo data fills this field (a Faker provider or a list)."},
}


@dataclass(frozen=True)
class Input:
    """How a form asks for a field's value: a `control` the web draws, and its HTML
    attributes (`type`, `step`, `placeholder`, `accept`...).

    Controls: text (an <input>, of `attrs["type"]`, text by default), textarea, checkbox,
    select (one option), checkboxes (several options), stars (`attrs["max"]`), file
    (`attrs["multiple"]`), picker (a record, searched by its title)."""

    control: str = "text"
    attrs: Mapping[str, Any] = field(default_factory=dict)


class FieldType:
    """One field type. Subclasses override what differs; instances are stateless singletons."""

    name: ClassVar[str]
    family: ClassVar[str] = "text"
    operators: ClassVar[tuple[str, ...]] = TEXT_OPS
    widget: ClassVar[str] = "text"
    #: extra YAML options this type accepts, as JSON Schema properties
    options_schema: ClassVar[dict[str, Any]] = {}
    #: options that must be present
    required_options: ClassVar[tuple[str, ...]] = ()
    searchable: ClassVar[bool] = False
    #: computed by the engine; a value given by a user is refused
    generated: ClassVar[bool] = False
    sortable: ClassVar[bool] = True
    #: the longest text a value may be unless the field's `max_length` says otherwise
    default_max_length: ClassVar[int | None] = None
    #: derived from linked records (lookup, rollup, count: lowrise.fields.relational)
    derived: ClassVar[bool] = False

    def bind(self, field) -> FieldType:
        """The kind that implements this one field: the type itself, except where a field's
        values take another type's shape (a lookup of a select behaves as that select)."""
        return self

    # What a type is, asked by the rest of the engine instead of comparing type names (a
    # new type sets these and nothing outside fields/ changes).
    #: the value is the id of a record of another type (`field.target`): link chips,
    #: reverse links, `on_delete`, link checks, grouping by the linked record's title
    links: ClassVar[bool] = False
    #: the value is a person (a record of the workspace's users type); `me` means the actor
    person: ClassVar[bool] = False
    #: the value is one of the field's `options` (or several, when `multiple`)
    has_options: ClassVar[bool] = False
    #: the value is one of options in a set order: a stage's, a funnel's steps, a kanban's
    stages: ClassVar[bool] = False
    #: the value is a list (multi_select's options, an attachment's files)
    multiple: ClassVar[bool] = False
    #: the value is a list of stored files, written through the file operations
    stores_files: ClassVar[bool] = False
    #: computed from an `expression` over the record's fields, recomputed on every write
    has_expression: ClassVar[bool] = False
    #: numbered by the engine when a record is created (a counter per period)
    numbered: ClassVar[bool] = False
    #: the value is a day on the calendar (date, datetime): `today`, `within`, calendars
    calendar: ClassVar[bool] = False
    #: the value is an instant (a date and time): `now`, time zones
    instant: ClassVar[bool] = False
    #: an index on the column helps (long texts and lists are never looked up by equality)
    indexable: ClassVar[bool] = True
    #: the field holds a handful of distinct values (a select's options, yes and no)
    few_values: ClassVar[bool] = False
    #: the value may group a table, a kanban board or a chart (few distinct values)
    groupable: ClassVar[bool] = False
    #: the value is text a person writes on one line (a filter's `contains`, import matching)
    plain_text: ClassVar[bool] = False
    #: how values compare in filters: text multi select bool number date datetime link file
    flavor: ClassVar[str] = "text"
    #: only the engine's own system fields have this type: a workspace may not declare it
    declarable: ClassVar[bool] = True
    #: the value is an e-mail address (where messages to a person go)
    email_address: ClassVar[bool] = False
    #: values add up (a table's subtotals and column sums; not ratings or ids)
    sums: ClassVar[bool] = False
    #: the value is a number (exported as one; its own formatting is never a formula)
    numeric: ClassVar[bool] = False
    #: the value is text that can be shown masked (a phone number as 138****5678)
    maskable: ClassVar[bool] = False
    #: set by the engine on every write (updated_by): never a record's owner
    restamped: ClassVar[bool] = False
    #: a record's title when its type names none (the first declared field that titles)
    titles: ClassVar[bool] = False

    def zoned(self, config: Mapping[str, Any]) -> bool:
        """Whether a field of this type with these options holds instants, and so is given
        the workspace's time zone unless it names its own."""
        return self.instant

    def value_type(self, field) -> FieldType:
        """The type whose values this field holds: itself, or what it computes (a formula's
        result); filters parse and compare values as that type does."""
        return self

    def column_type(self, field) -> sa.types.TypeEngine:
        return sa.Text()

    def parse(self, field, raw: Any) -> Any:
        """Turn user input (form string or JSON value) into the stored Python value, or raise."""
        if raw is None:
            return None
        if isinstance(raw, str):
            if "\x00" in raw:
                # PostgreSQL cannot store it in text; refuse on every database alike.
                raise FieldError(msg("contains a NUL character (\\0), which text cannot hold"))
            raw = raw.strip()
            return raw or None
        raise FieldError(msg("expected text, got %(kind)s", kind=type(raw).__name__))

    def import_cell(self, field, value: Any) -> Any:
        """A spreadsheet cell (text as written, or a number or date the file typed) as
        `parse` reads it: what Excel and WPS write that a form would not (`300万`,
        `2026年12月11日 下午3点`). The cell as it is by default; `parse` stays the judge."""
        return value


    def from_json(self, field, value: Any) -> Any:
        """A JSON value of the REST API as `parse` reads it (the API may mean something
        else by a bare number than a form does: seconds for a duration)."""
        return value

    def from_cell(self, field, value: Any) -> Any:
        """A spreadsheet cell (text, or a number, date, time or boolean as Excel typed it) as
        `parse` reads it: text stripped (empty is None), typed cells as the values they
        stand for. An import calls this, then `parse`."""
        if isinstance(value, str):
            return value.strip() or None
        return value

    def form_input(self, field) -> Input:
        """The control a form shows for the field (see Input)."""
        top = field.config.get("max_length") or self.default_max_length
        return Input("text", {"maxlength": top} if top else {})

    def form_value(self, field, value: Any) -> Any:
        """A stored, non-empty value as its form control shows it (what `parse` reads back)."""
        return value.isoformat() if hasattr(value, "isoformat") else str(value)

    def json_schema(self, field, writing: bool) -> dict[str, Any]:
        """The JSON Schema of the field's values in the REST API, without null: as the API
        returns them (`writing=False`, what `to_json` gives) or as it accepts them. Never
        stricter than `parse`, which stays the judge of every value: JSON types, options and
        lengths, no pattern the parser does not have (the OpenAPI document publishes it)."""
        return {"type": "string"}

    def check(self, field, value: Any) -> None:
        """Check a parsed, non-empty value against the field's options (min, max, pattern...)."""
        cfg = field.config
        if isinstance(value, str):
            max_len = cfg.get("max_length") or self.default_max_length
            if max_len and len(value) > max_len:
                raise FieldError(msg("must be at most %(max)s characters (is %(n)s)", max=max_len, n=len(value)))
            min_len = cfg.get("min_length")
            if min_len and len(value) < min_len:
                raise FieldError(msg("must be at least %(min)s characters", min=min_len))
            pattern = cfg.get("pattern")
            if pattern and not re.fullmatch(pattern, value):
                hint = cfg.get("pattern_hint")
                raise FieldError(msg("does not match %(hint)s", hint=hint) if hint else
                                 msg("does not match the pattern %(pattern)s", pattern=pattern))
        if isinstance(value, (int, float)) or hasattr(value, "as_tuple") or hasattr(value, "year"):
            if isinstance(value, bool):
                return
            lo, hi = field.bounds
            if lo is not None and value < lo:
                raise FieldError(msg("must be at least %(min)s", min=self.shown(field, lo)))
            if hi is not None and value > hi:
                raise FieldError(msg("must be at most %(max)s", max=self.shown(field, hi)))

    def shown(self, field, value: Any) -> Lazy:
        """`value` as `display` shows it, in whichever locale the message is read."""
        return Lazy(lambda locale: self.display(field, value, locale))

    def bound(self, field, key: str) -> Any:
        raw = field.config.get(key)
        return None if raw is None else self.parse(field, raw)

    def to_db(self, field, value: Any) -> Any:
        return value

    def from_db(self, field, value: Any) -> Any:
        return value

    def to_json(self, field, value: Any) -> Any:
        return value

    def display(self, field, value: Any, locale: str = "en") -> str:
        """The value as a person reads it (no markup)."""
        return "" if value is None else str(value)

    def html(self, field, value: Any, page) -> Markup:
        """A non-empty value as HTML on a page (`fields.html.Page`): the text `display`
        gives, escaped, unless the type adds markup (chips, links, stars)."""
        return escape(self.display(field, value, page.locale))

    # Demo data (lowrise.seed): `sampler` has `rng` (random.Random), `fake` (Faker in the
    # workspace's language), `now`, `ids` (record ids made so far, by type) and `moment`.

    def sample(self, field, sampler) -> Any:
        """A made-up value for demo data, or None to leave the field empty."""
        return None

    def sample_number(self, field, rng, lo, hi) -> Any:
        """A value between `lo` and `hi` (a `sample: {min, max}` hint)."""
        return rng.randint(int(lo), int(hi))

    def moment(self, field, when) -> Any:
        """A moment (an aware datetime) as this type's value: its day for a date."""
        return when

    def fit_sample(self, field, value: Any, rng) -> Any:
        """A Faker provider's value fitted to the type (a date for a date field, say)."""
        return value

    def excel_format(self, field) -> str | None:
        """The Excel number format of the field's cells in an XLSX export (None: general)."""
        return None

    def export_cell(self, field, value: Any, locale: str, zone: str) -> Any:
        """A non-empty value as a typed spreadsheet cell (XLSX): a number or a date where it
        is one, else the text `display` gives. `zone`: the workspace's time zone."""
        if self.numeric and isinstance(value, int | Decimal) and not isinstance(value, bool):
            return value
        return self.display(field, value, locale)

    def amount_text(self, field, value: Any, scale: int, babel_locale: str) -> str:
        """A sum, an average or another amount of this field's values, with `scale` digits
        after the point, in a Babel locale (zh_CN): a dashboard's number."""
        from babel.numbers import format_decimal

        pattern = "#,##0." + "0" * scale if scale else "#,##0"
        return format_decimal(value, format=pattern, locale=babel_locale)

    def compact_amount(self, field, value: Any, babel_locale: str) -> str | None:
        """The amount in short (¥1.2亿) when the type has a short form of its own."""
        return None

    def __repr__(self) -> str:
        return f"<FieldType {self.name}>"


class Registry:
    """Field types by name. Built-in types register through the same call a plugin would use."""

    def __init__(self) -> None:
        self._types: dict[str, FieldType] = {}

    def register(self, cls: type[FieldType]) -> type[FieldType]:
        self._types[cls.name] = cls()
        return cls

    def get(self, name: str) -> FieldType:
        return self._types[name]

    def __contains__(self, name: str) -> bool:
        return name in self._types

    def names(self) -> list[str]:
        return list(self._types)

    def having(self, capability: str) -> list[str]:
        """The names of the declarable types that have a capability (`maskable`...), for
        messages that list them."""
        return [n for n, t in self._types.items() if t.declarable and getattr(t, capability)]

    def items(self) -> Mapping[str, FieldType]:
        return dict(self._types)


registry = Registry()
