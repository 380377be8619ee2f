"""Computed family: autonumber (a pattern like CT-{YYYY}-{0000}) and formula (stored, recomputed)."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa

from lowrise.errors import FieldError
from lowrise.i18n import msg

from .base import ORDER_OPS, TEXT_OPS, FieldType, registry
from .types import ExactDecimal, UTCDateTime

_TOKEN = re.compile(r"\{(YYYY|YY|MM|DD|0+)\}")


def autonumber_period(pattern: str, when: datetime) -> str:
    """The counter's period: numbering restarts when the date parts of the pattern change."""
    parts = []
    for tok in _TOKEN.findall(pattern):
        if tok == "YYYY":
            parts.append(f"{when.year:04d}")
        elif tok == "YY":
            parts.append(f"{when.year % 100:02d}")
        elif tok == "MM":
            parts.append(f"{when.month:02d}")
        elif tok == "DD":
            parts.append(f"{when.day:02d}")
    return "-".join(parts)


def autonumber_format(pattern: str, when: datetime, n: int) -> str:
    def sub(m: re.Match) -> str:
        tok = m[1]
        if tok == "YYYY":
            return f"{when.year:04d}"
        if tok == "YY":
            return f"{when.year % 100:02d}"
        if tok == "MM":
            return f"{when.month:02d}"
        if tok == "DD":
            return f"{when.day:02d}"
        return str(n).zfill(len(tok))

    return _TOKEN.sub(sub, pattern)


@registry.register
class Autonumber(FieldType):
    name = "autonumber"
    family = "computed"
    numbered = True
    maskable = True
    operators = TEXT_OPS
    widget = "readonly"
    generated = True
    searchable = True
    options_schema = {"pattern": {"type": "string", "pattern": r".*\{0+\}.*",
                                  "description": "like CT-{YYYY}-{0000}"}}

    def column_type(self, field):
        return sa.String(64)

    def parse(self, field, raw):
        raise FieldError(msg("is numbered automatically and cannot be set"))

    def value_type(self, field):
        return registry.get("text")  # filtered and compared as the text it is


def _finite(value: Decimal | float) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


FORMULA_RESULTS = ("text", "integer", "decimal", "date", "datetime", "boolean")


@registry.register
class Formula(FieldType):
    name = "formula"
    family = "computed"
    has_expression = True
    widget = "readonly"
    generated = True
    options_schema = {
        "expression": {"type": "string"},
        "result": {"enum": list(FORMULA_RESULTS)},
        "scale": {"type": "integer", "minimum": 0, "maximum": 12},
    }
    required_options = ("expression",)

    @property
    def operators(self):  # type: ignore[override]
        return ORDER_OPS + ("contains", "starts_with")

    def result(self, field) -> str:
        return field.config.get("result", "decimal")

    def value_type(self, field):
        return registry.get(self.result(field))

    def zoned(self, config):
        return registry.get(config.get("result", "decimal")).instant

    def json_schema(self, field, writing):
        kind = self.result(field)
        return {"type": "string"} if kind == "text" else \
            registry.get(kind).json_schema(field, False)

    def column_type(self, field):
        return {
            "text": sa.Text(),
            "integer": sa.BigInteger(),
            "decimal": ExactDecimal(18, int(field.config.get("scale", 2))),
            "date": sa.Date(),
            "datetime": UTCDateTime(),
            "boolean": sa.Boolean(),
        }[self.result(field)]

    def parse(self, field, raw):
        raise FieldError(msg("is computed from other fields and cannot be set"))

    def coerce(self, field, value):
        """Fit an evaluated value to the declared result type.

        ArithmeticError or TypeError when it cannot: the caller stores the formula as
        undefined (empty), like a division by zero. A number that is not finite (Infinity,
        NaN) is never a result, whatever the result type: it would be stored as the text
        'Infinity' or fail the whole write on the database."""
        if value is None:
            return None
        if isinstance(value, (Decimal, float)) and not _finite(value):
            raise ArithmeticError("the result is not a finite number")
        kind = self.result(field)
        if kind == "date" and not isinstance(value, date) \
                or kind == "datetime" and not isinstance(value, datetime):
            raise TypeError(f"the result is not a {kind}")
        if kind == "text":
            return str(value)
        if kind == "integer":
            value = int(value)
            if abs(value) >= 2**63:
                raise ArithmeticError("the result does not fit a 64-bit integer")
            return value
        if kind == "decimal":
            scale = int(field.config.get("scale", 2))
            value = Decimal(str(value)).quantize(Decimal(1).scaleb(-scale))
            # The column is NUMERIC(18, scale): a larger result would fail the whole write on
            # PostgreSQL, so it is undefined (empty), like a division by zero.
            if abs(value) >= Decimal(10) ** (18 - scale):
                raise ArithmeticError("the result has more than 18 digits")
            return value
        if kind == "boolean":
            return bool(value)
        if kind == "date" and isinstance(value, datetime):
            return value.date()
        return value

    def to_json(self, field, value):
        if isinstance(value, Decimal):
            return str(value)
        if hasattr(value, "isoformat"):
            return value.isoformat()
        return value

    def html(self, field, value, page):
        return self.value_type(field).html(field, value, page)

    def display(self, field, value, locale="en"):
        kind = self.result(field)
        if kind in ("decimal", "integer", "date", "datetime", "boolean"):
            proxy = {"decimal": "decimal", "integer": "integer", "date": "date",
                     "datetime": "datetime", "boolean": "boolean"}[kind]
            return registry.get(proxy).display(field, value, locale)
        return super().display(field, value, locale)
