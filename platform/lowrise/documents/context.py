"""What a document template sees: the record as the generating person reads it, its linked
records (followed on demand, each read with the same Actor), lists of related records, the
document's constants, and the helpers; all inside Jinja's sandbox.

A field's value is a `Value`: it prints as the record page shows it, in the document's
locale (an option's label, a date as 2026年12月7日, an amount as ¥3,250,000.00), and compares
and computes as its plain value (`{% if payment_method == "mortgage" %}`, `amount -
down_payment`). A link is a `RecordData`, whose fields are reached by name
(`client.name`); a linked record the person may not read is empty, like a blank link. Masked
fields come masked and hidden ones empty, since every read carries the person's Actor.
Nothing else of these objects is reachable: the sandbox's attribute lookups on them are
field lookups and nothing more.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from jinja2 import StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lowrise import filters
from lowrise.actor import Actor
from lowrise.storage import query
from lowrise.storage.tables import Schema
from lowrise.workspace.model import Document, Field, Label, RecordType, Workspace

from .helpers import FILTERS, plain

TODAY = Field("today", "date", Label.of(None, "today"))
#: names every document has besides the record's fields, its related lists and constants
GIVEN = ("today", "generated_by")


def _pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Two operands that combine: an amount (Decimal) and a float written in the template
    (amount * 0.3) meet as Decimals."""
    a, b = plain(a), plain(b)
    if isinstance(a, Decimal) and isinstance(b, float):
        b = Decimal(str(b))
    elif isinstance(b, Decimal) and isinstance(a, float):
        a = Decimal(str(a))
    return a, b


def _op(fn: Callable[[Any, Any], Any], swap: bool = False):
    if swap:
        return lambda self, other: fn(*_pair(other, self))
    return lambda self, other: fn(*_pair(self, other))


class Value:
    """One field's value: printed as shown to people, compared and computed as itself."""

    __slots__ = ("field", "plain_value", "locale")

    def __init__(self, field: Field, value: Any, locale: str):
        self.field, self.plain_value, self.locale = field, value, locale

    def __str__(self) -> str:
        v = self.plain_value
        if v is None or v == "" or v == []:
            return ""
        if isinstance(v, str) and self.field.kind.family != "choice":
            return v  # text as typed, and masked values as masked
        try:
            return self.field.kind.display(self.field, v, self.locale)
        except (TypeError, ValueError, AttributeError):
            return str(v)

    def __bool__(self) -> bool:
        return bool(self.plain_value)

    def __hash__(self) -> int:
        return hash(self.plain_value)

    def __iter__(self):
        v = self.plain_value
        return iter(v if isinstance(v, (list, tuple)) else [] if v is None else [v])

    def __len__(self) -> int:
        return len(str(self))

    __eq__ = _op(operator.eq)
    __ne__ = _op(operator.ne)
    __lt__ = _op(operator.lt)
    __le__ = _op(operator.le)
    __gt__ = _op(operator.gt)
    __ge__ = _op(operator.ge)
    __add__, __radd__ = _op(operator.add), _op(operator.add, swap=True)
    __sub__, __rsub__ = _op(operator.sub), _op(operator.sub, swap=True)
    __mul__, __rmul__ = _op(operator.mul), _op(operator.mul, swap=True)
    __truediv__, __rtruediv__ = _op(operator.truediv), _op(operator.truediv, swap=True)

    def __float__(self) -> float:
        return float(self.plain_value or 0)

    def __int__(self) -> int:
        return int(self.plain_value or 0)

    def __neg__(self):
        return -self.plain_value


class Reader:
    """Reads records for one document as one Actor sees them; each record once."""

    def __init__(self, conn: sa.Connection, schema: Schema, actor: Actor, locale: str):
        self.conn, self.schema, self.actor, self.locale = conn, schema, actor, locale
        self.ws: Workspace = schema.workspace
        self._cache: dict[tuple[str, int], dict | None] = {}

    def get(self, type_name: str, record_id: int) -> dict | None:
        key = (type_name, int(record_id))
        if key not in self._cache:
            found = query.get_many(self.conn, self.schema, type_name, [record_id],
                                   ctx=self.actor)
            self._cache[key] = found.get(key[1])
        return self._cache[key]

    def record(self, rt: RecordType, values: Mapping[str, Any] | None) -> RecordData:
        return RecordData(self, rt, values)

    def related(self, doc: Document, name: str, record_id: int) -> list[RecordData]:
        """The records of the document's related list `name` that point at `record_id`."""
        spec = doc.related[name]
        rt = self.ws.record_types[spec.record_type]
        cond = filters.parse({"field": spec.link, "op": "eq", "value": record_id}, rt, self.ws)
        if spec.filter:
            cond = filters.all_of(cond, filters.parse(spec.filter, rt, self.ws))
        page = query.list_records(self.conn, self.schema, rt.name, filter=cond,
                                  sort=[*spec.sort, "id"], limit=spec.limit, ctx=self.actor)
        return [self.record(rt, row) for row in page.rows]


class RecordData:
    """A record in a template: its fields by name, its title when printed."""

    __slots__ = ("_reader", "_rt", "_values")

    def __init__(self, reader: Reader, rt: RecordType, values: Mapping[str, Any] | None):
        self._reader, self._rt, self._values = reader, rt, values

    def lookup(self, name: str) -> Any:
        """The field `name`: a Value, or the linked record; Undefined for anything else."""
        f = self._rt.fields.get(name)
        if f is None:
            return StrictUndefined(obj=self, name=name)
        v = None if self._values is None else self._values.get(name)
        if f.kind.links and f.target in self._reader.ws.record_types:
            target = self._reader.ws.record_types[f.target]
            linked = self._reader.get(f.target, v) if isinstance(v, int) else None
            return self._reader.record(target, linked)
        if f.kind.instant and isinstance(v, datetime):
            zone = f.config.get("timezone") or self._reader.ws.config.get("timezone") or "UTC"
            v = v.astimezone(ZoneInfo(zone))
        return Value(f, v, self._reader.locale)

    def __str__(self) -> str:
        if not self._values:
            return ""
        return str(self.lookup(self._rt.title_field)) or f"#{self._values.get('id')}"

    def __bool__(self) -> bool:
        return bool(self._values)

    def __repr__(self) -> str:
        return f"<{self._rt.name} record>"


class DocumentEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, where a record's attributes are its fields and a value has none."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, RecordData):
            return obj.lookup(attribute)
        if isinstance(obj, Value):
            return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, RecordData):
            return obj.lookup(argument) if isinstance(argument, str) else self.undefined(
                obj=obj, name=argument)
        if isinstance(obj, Value):
            return self.undefined(obj=obj, name=argument)
        return super().getitem(obj, argument)


def environment(*, autoescape: bool = True, undefined: type[Undefined] = StrictUndefined
                ) -> DocumentEnvironment:
    """The Jinja environment every document renders in (and is checked against)."""
    env = DocumentEnvironment(autoescape=autoescape, undefined=undefined)
    env.filters.update(FILTERS)
    for name in ("lipsum", "cycler", "joiner"):  # what a document has no use for
        env.globals.pop(name, None)
    return env


def data(reader: Reader, doc: Document, record: Mapping[str, Any]) -> dict[str, Any]:
    """The names a template of `doc` renders with, for one record as read by `reader`."""
    ws = reader.ws
    rt = ws.record_types[doc.record_type]
    root = reader.record(rt, record)
    out: dict[str, Any] = {name: root.lookup(name) for name in rt.fields}
    out.update(doc.constants)
    for name in doc.related:
        out[name] = reader.related(doc, name, record["id"])
    zone = ZoneInfo(ws.config.get("timezone") or "UTC")
    today = reader.actor.now().astimezone(zone).date()
    out.update({rt.name: root, "today": Value(TODAY, today, reader.locale),
                "generated_by": reader.actor.name})
    return out


def top_names(ws: Workspace, doc: Document) -> dict[str, Any]:
    """Each top-level name a template of `doc` may use, with what it is (for the checks):
    a Field, a RecordType (the record itself), ("list", RecordType) or None (a plain value)."""
    rt = ws.record_types[doc.record_type]
    out: dict[str, Any] = dict(rt.fields)
    out.update({k: None for k in doc.constants})
    for name, spec in doc.related.items():
        out[name] = ("list", ws.record_types.get(spec.record_type))
    out.update({rt.name: rt, "today": TODAY, "generated_by": None})
    return out

