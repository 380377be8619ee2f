"""Relational family: lookup, rollup and count, values the engine derives from linked records.

A `lookup` shows a field of the record a link points at (a case's `client.budget`); a
`rollup` aggregates a field of the records that link here (a client's cases: count, sum,
avg, min, max, with an optional filter); `count` counts them. All three are stored in a
column of their own, kept up to date by lowrise.storage.derived in the transaction of every
write, so they filter, sort, group and index like any field.

A derived field behaves like its value's type: a lookup of a select is a select with the
same options, a rollup sum of a currency is that currency. The loader resolves each
definition once the workspace's types are known (`resolve`), copying the source field's
options into the derived field's config under `value_type`; `Field.kind` then binds the
field to a `Derived` kind that answers as that value type, and refuses values from people.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from lowrise.errors import FieldError
from lowrise.i18n import msg

from .base import FieldType, registry

AGGREGATES = ("count", "sum", "avg", "min", "max")
#: the aggregates each family of the aggregated field takes
AGGREGATES_OF = {"number": AGGREGATES, "time": ("count", "min", "max")}
#: durations add up (hours logged, time spent), though dates do not
AGGREGATES_OF_TYPE = {"duration": ("count", "sum", "min", "max")}
#: engine-kept keys a resolved derived field carries in its config
VALUE_TYPE = "value_type"
SOURCE = "source"

#: capabilities a derived field takes from its value type (the rest stay False)
SHAPE = ("has_options", "multiple", "calendar", "instant", "indexable", "few_values",
         "groupable", "plain_text", "flavor", "email_address", "sums", "numeric", "maskable")

_NAME = {"$ref": "#/$defs/name"}
_FILTER = {"description": "Which linked records count, in the filter language (like a "
                          "view's filter); relative periods such as this_month are "
                          "recomputed each day."}


class DerivedType(FieldType):
    """What lookup, rollup and count share: computed, stored, never set by a person."""

    family = "relational"
    widget = "readonly"
    generated = True
    derived: ClassVar[bool] = True

    def bind(self, field) -> FieldType:
        return Derived(self, registry.get(field.config.get(VALUE_TYPE) or "text"))

    def parse(self, field, raw):
        raise FieldError(msg("is computed from linked records and cannot be set"))

    def source(self, ws_types: dict, rt_name: str, field) -> tuple[str, str] | None:
        """(record type, field) whose value this one derives from, for access and order."""
        return None


class Derived(FieldType):
    """The kind of one derived field: its value type's column, display, JSON, operators and
    filters; set only by the engine."""

    generated = True
    derived = True
    widget = "readonly"
    searchable = False

    def __init__(self, outer: DerivedType, base: FieldType):
        self.outer, self.base = outer, base
        self.name = outer.name
        self.family = base.family
        self.operators = base.operators
        self.sortable = base.sortable
        self.options_schema = outer.options_schema
        self.required_options = outer.required_options
        # what the value is, as its value type says (a lookup of a select has options and
        # groups a board; of a currency, sums); never what only a person's own field of
        # that type does (a link's on_delete and reverse links, a file's storage, a number)
        for flag in SHAPE:
            setattr(self, flag, getattr(base, flag))

    def value_type(self, field) -> FieldType:
        return self.base

    def parse(self, field, raw):
        return self.outer.parse(field, raw)

    def parse_value(self, field, raw):
        """A value as its value type reads it (filters compare with these)."""
        return self.base.parse(field, raw)

    def coerce(self, field, value):
        """A value as stored (a migration converting an old column): the value type's."""
        if value is None:
            return None
        return self.base.parse(field, value)

    def json_schema(self, field, writing):
        return {**self.base.json_schema(field, False), "readOnly": True}

    def check(self, field, value):
        return None

    def column_type(self, field):
        return self.base.column_type(field)

    def to_db(self, field, value):
        return self.base.to_db(field, value)

    def from_db(self, field, value):
        return self.base.from_db(field, value)

    def to_json(self, field, value):
        return self.base.to_json(field, value)

    def display(self, field, value, locale="en"):
        return self.base.display(field, value, locale)

    def __getattr__(self, name: str):
        # what else the value type offers (a decimal's scale, a formula's result)
        return getattr(self.base, name)

    def __repr__(self) -> str:
        return f"<FieldType {self.name} as {self.base.name}>"


@registry.register
class Lookup(DerivedType):
    """A field of the linked record: `through` (a link field here), `field` (of its target)."""

    name = "lookup"
    options_schema = {"through": _NAME, "field": _NAME}
    required_options = ("through", "field")


@registry.register
class Rollup(DerivedType):
    """An aggregate of the records of `from` whose link `via` points here."""

    name = "rollup"
    options_schema = {"from": _NAME, "via": _NAME, "aggregate": {"enum": list(AGGREGATES)},
                      "field": _NAME, "filter": _FILTER,
                      "scale": {"type": "integer", "minimum": 0, "maximum": 12}}
    required_options = ("from", "via", "aggregate")


@registry.register
class Count(Rollup):
    """How many records of `from` link here through `via` (optionally: those that match
    `filter`)."""

    name = "count"
    options_schema = {"from": _NAME, "via": _NAME, "filter": _FILTER}
    required_options = ("from", "via")


def is_derived(field) -> bool:
    return getattr(field.kind, "derived", False)


def is_lookup(field) -> bool:
    """A lookup (the rest of the derived fields are rollups and counts)."""
    return isinstance(getattr(field.kind, "outer", None), Lookup)


def expression_of(field) -> str | None:
    """A formula's expression (None for every other field)."""
    from .computed import Formula

    return field.config.get("expression") if isinstance(field.kind, Formula) else None


def aggregate_of(field) -> str:
    """count, sum, avg, min or max."""
    if isinstance(getattr(field.kind, "outer", None), Count):
        return "count"
    return str(field.config.get("aggregate", "count"))


def aggregates_of(f) -> tuple[str, ...]:
    """The aggregates a rollup of field `f` may take, by the type of its values (a formula's
    result, a rollup's or a lookup's value type)."""
    plain = _plain_type(f)
    if plain in AGGREGATES_OF_TYPE:
        return AGGREGATES_OF_TYPE[plain]
    kind = registry.get(plain) if plain in registry else None
    return AGGREGATES_OF.get(getattr(kind, "family", None), ("count",))


def _plain_type(f) -> str:
    """The registry type a field's values are, as a derived field of it stores them."""
    if is_derived(f):
        return f.config.get(VALUE_TYPE) or "text"
    result = getattr(f.kind, "result", None)
    if callable(result):  # a formula: its result type
        return result(f)
    if f.kind.family == "computed":  # an autonumber: text
        return "text"
    return f.type


def _own(f) -> dict[str, Any]:
    return {k: v for k, v in f.config.items() if k not in (VALUE_TYPE, SOURCE)}


def resolve(record_types: dict[str, Any]) -> dict[str, Any]:
    """The record types with each derived field given its value type and the source field's
    options (config, choices); an unresolvable one keeps none (the checks say why) and
    stores text. Lookups of lookups resolve in order, each at most once."""
    types = dict(record_types)
    pending = [(t, n) for t, rt in types.items() for n, f in rt.fields.items()
               if f.type in registry and getattr(registry.get(f.type), "derived", False)]
    for _ in range(len(pending) + 1):
        left = []
        for t, n in pending:
            src = source_field(types, t, types[t].fields[n])
            if src is not None and not _settled(src, pending, types):
                left.append((t, n))
                continue
            f = types[t].fields[n]
            types[t] = replace(types[t], fields={**types[t].fields, n: _resolved(f, src)})
        if len(left) == len(pending):
            break
        pending = left
    for t, n in pending:  # a cycle: `lowrise check` refuses it; store text meanwhile
        f = types[t].fields[n]
        types[t] = replace(types[t], fields={**types[t].fields, n: _resolved(f, None)})
    return types


def _settled(src, pending, types) -> bool:
    return not any(types[t].fields.get(n) is src for t, n in pending)


def _resolved(f, src):
    own = _own(f)
    agg = aggregate_of(f) if f.type != "lookup" else None
    if src is None and agg != "count":
        return _fresh(f, own)
    if agg == "count":
        return _fresh(f, {**own, VALUE_TYPE: "integer"})
    plain = _plain_type(src)
    base = {k: v for k, v in src.config.items() if k not in (VALUE_TYPE, SOURCE)}
    if plain not in ("link", "user"):
        base.pop("target", None)
    config = {**base, **own, VALUE_TYPE: plain}
    if agg == "avg":  # the average of whole numbers (or of star ratings) has decimals
        whole = plain in registry and isinstance(registry.get(plain),
                                                 type(registry.get("integer")))
        config[VALUE_TYPE] = "decimal" if whole else plain
        config.setdefault("scale", own.get("scale", src.config.get("scale", 2)))
    if f.type == "lookup":
        for key in ("min", "max", "default"):
            config.pop(key, None)
        return _fresh(f, config, options=src.options)
    return _fresh(f, config)


def _fresh(f, config, options=()):
    """A copy of the field with a new config (a new object: `kind` is computed anew)."""
    return replace(f, config=config, options=tuple(options))


def source_field(types: dict[str, Any], type_name: str, f) -> Any:
    """The field a derived field reads (the looked-up or aggregated one), or None."""
    cfg = f.config
    if f.type == "lookup":
        link = types[type_name].fields.get(cfg.get("through")) if type_name in types else None
        target = getattr(link, "target", None) if link is not None else None
        rt = types.get(target) if target else None
        return rt.fields.get(cfg.get("field")) if rt is not None else None
    rt = types.get(cfg.get("from"))
    if rt is None or aggregate_of(f) == "count":
        return None
    return rt.fields.get(cfg.get("field"))
