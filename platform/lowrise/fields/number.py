"""Number family: integer, decimal, currency, percent, rating. Money stays exact (Decimal)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from babel.numbers import format_currency, format_decimal

from lowrise.errors import FieldError
from lowrise.i18n import msg

from .base import ORDER_OPS, FieldType, registry
from .types import ExactDecimal

_BOUNDS = {"min": {"type": "number"}, "max": {"type": "number"}}


_MAX_INT = 2**63 - 1


def _bounded(field, out: dict) -> dict:
    """`minimum` and `maximum` from the field's `min` and `max` (numbers only)."""
    for key, kw in (("min", "minimum"), ("max", "maximum")):
        value = field.config.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[kw] = value
    return out


def _or_text(number: dict, words: str) -> dict:
    """A number, or the same as text (the parser reads '1,200' and '¥1,200.50' too)."""
    return {"anyOf": [number, {"type": "string", "description": words}]}


_CHINESE_AMOUNT = re.compile(r"[¥$]?\s*(?P<n>-?[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>万|亿)?")
#: full-width digits and marks as Chinese input methods type them
_WIDE = str.maketrans("０１２３４５６７８９，．￥－", "0123456789,.¥-")
_CHINESE_UNITS = {"万": Decimal(10_000), "亿": Decimal(100_000_000)}


def _babel_locale(locale: str) -> str:
    return {"zh": "zh_CN", "en": "en_US"}.get(locale, locale or "en_US")


@registry.register
class Integer(FieldType):
    name = "integer"
    family = "number"
    operators = ORDER_OPS
    widget = "number"
    options_schema = _BOUNDS

    def column_type(self, field):
        return sa.BigInteger()

    def json_schema(self, field, writing):
        number = _bounded(field, {"type": "integer", "minimum": -_MAX_INT,
                                  "maximum": _MAX_INT})
        return _or_text(number, "a whole number as text, like 1,200") if writing else number

    def parse(self, field, raw):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if isinstance(raw, bool):
            raise FieldError(msg("must be a whole number, not true/false"))
        if isinstance(raw, int):
            if abs(raw) >= 2**63:
                raise FieldError(msg("'%(value)s' is too large", value=raw))
            return raw
        try:
            d = Decimal(str(raw).strip().replace(",", "").replace("_", ""))
        except InvalidOperation:
            raise FieldError(msg("'%(value)s' is not a whole number", value=raw)) from None
        if not d.is_finite():
            raise FieldError(msg("'%(value)s' is not a whole number", value=raw))
        # The exponent first: arithmetic on '1e99999999' overflows the decimal context, and
        # int() of it would build a huge number.
        if d.adjusted() > 18:
            raise FieldError(msg("'%(value)s' is too large", value=raw))
        if d != d.to_integral_value():
            raise FieldError(msg("'%(value)s' is not a whole number", value=raw))
        value = int(d)
        if abs(value) >= 2**63:
            raise FieldError(msg("'%(value)s' is too large", value=raw))
        return value

    def display(self, field, value, locale="en"):
        return "" if value is None else format_decimal(value, locale=_babel_locale(locale))


@registry.register
class DecimalField(FieldType):
    name = "decimal"
    family = "number"
    operators = ORDER_OPS
    widget = "number"
    options_schema = {
        **_BOUNDS,
        "precision": {"type": "integer", "minimum": 1, "maximum": 38},
        "scale": {"type": "integer", "minimum": 0, "maximum": 12},
    }
    default_scale = 2

    def scale(self, field) -> int:
        return int(field.config.get("scale", self.default_scale))

    def precision(self, field) -> int:
        return int(field.config.get("precision", 18))

    def column_type(self, field):
        return ExactDecimal(self.precision(field), self.scale(field))

    def json_schema(self, field, writing):
        scale = self.scale(field)
        if not writing:
            return {"type": "string", "description": f"an exact decimal with {scale} decimal "
                                                     "places, as text"}
        top = 10 ** (self.precision(field) - scale)
        number = _bounded(field, {"type": "number", "exclusiveMinimum": -top,
                                  "exclusiveMaximum": top})
        return _or_text(number, f"a number with at most {scale} decimal places, as text to "
                                "keep it exact (1,200.50 and ¥1,200.50 are read too)")

    def parse(self, field, raw):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if isinstance(raw, bool):
            raise FieldError(msg("must be a number, not true/false"))
        text = str(raw).strip().replace(",", "").replace("_", "")
        for sym in ("¥", "￥", "$", "€", "£", "%"):
            text = text.replace(sym, "")
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise FieldError(msg("'%(value)s' is not a number", value=raw)) from None
        if not d.is_finite():
            raise FieldError(msg("'%(value)s' is not a number", value=raw))
        quantum = Decimal(1).scaleb(-self.scale(field))
        try:
            q = d.quantize(quantum, rounding=ROUND_HALF_UP)
        except InvalidOperation:  # more digits than the decimal context holds (1e26)
            raise FieldError(msg("'%(value)s' has more than %(n)s digits", value=raw, n=self.precision(field))) from None
        if q != d:
            raise FieldError(msg("'%(value)s' has more than %(n)s decimal places", value=raw, n=self.scale(field)))
        digits = len(q.as_tuple().digits)
        if digits > self.precision(field):
            raise FieldError(msg("'%(value)s' has more than %(n)s digits", value=raw, n=self.precision(field)))
        return q

    def to_json(self, field, value):
        return None if value is None else str(value)

    def import_cell(self, field, value):
        """Amounts as Chinese sheets write them: 300万, 1.2亿, 3,250,000元, RMB 3,250,000,
        full-width digits (a number cell, or any other text, as it is: `parse` judges)."""
        if not isinstance(value, str):
            return value
        text = value.translate(_WIDE).strip()
        for word in ("人民币", "RMB", "CNY", "元"):
            text = text.replace(word, "")
        m = _CHINESE_AMOUNT.fullmatch(text.replace(",", "").strip())
        if not m or (m["unit"] is None and text == value.strip()):
            return value
        number = Decimal(m["n"]) * _CHINESE_UNITS.get(m["unit"], Decimal(1))
        return format(number.normalize() if number == number.to_integral() else number, "f")

    def display(self, field, value, locale="en"):
        if value is None:
            return ""
        fmt = "#,##0." + "0" * self.scale(field) if self.scale(field) else "#,##0"
        return format_decimal(value, format=fmt, locale=_babel_locale(locale))


@registry.register
class Currency(DecimalField):
    name = "currency"
    options_schema = {**DecimalField.options_schema,
                      "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}}

    def display(self, field, value, locale="en"):
        if value is None:
            return ""
        return format_currency(value, field.config.get("currency", "CNY"),
                               locale=_babel_locale(locale))


@registry.register
class Percent(DecimalField):
    name = "percent"

    def display(self, field, value, locale="en"):
        return "" if value is None else f"{super().display(field, value, locale)}%"


@registry.register
class Rating(Integer):
    name = "rating"
    widget = "rating"
    options_schema = {"max": {"type": "integer", "minimum": 1, "maximum": 10}}

    def column_type(self, field):
        return sa.SmallInteger()

    def json_schema(self, field, writing):
        number = {"type": "integer", "minimum": 0, "maximum": int(field.config.get("max", 5))}
        return _or_text(number, "the number of stars, as text") if writing else number

    def check(self, field, value: Any) -> None:
        top = int(field.config.get("max", 5))
        if not 0 <= value <= top:
            raise FieldError(msg("must be between 0 and %(max)s", max=top))

    def display(self, field, value, locale="en"):
        if value is None:
            return ""
        return "★" * value + "☆" * (int(field.config.get("max", 5)) - value)
