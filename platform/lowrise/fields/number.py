"""Number family: integer, decimal, currency, percent, rating. Money stays exact (Decimal)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from babel import Locale
from babel.numbers import format_compact_currency, format_currency, parse_pattern
from markupsafe import Markup, escape

from lowrise.errors import FieldError
from lowrise.i18n import msg

from .base import ORDER_OPS, FieldType, Input, registry
from .html import number
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


_IN_UNITS = re.compile(r"(?P<n>-?[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>万|亿)")
#: full-width digits and marks as Chinese input methods type them
_WIDE = str.maketrans("０１２３４５６７８９，．￥－＄", "0123456789,.¥-$")
_CHINESE_UNITS = {"万": Decimal(10_000), "亿": Decimal(100_000_000)}
#: what may stand around an amount: currency words and signs
_MONEY_MARKS = ("人民币", "RMB", "CNY", "元", "¥", "$", "€", "£")


def as_typed(raw: Any) -> str:
    """A number as people type, paste or write it in a sheet (`3,250,000`, `￥3,250,000.00`,
    `325万`, `1.2亿元`, `RMB 1,000`, full-width digits) as plain decimal text; anything else
    comes back as it was, for the parser to refuse in its own words. The one reading of typed
    numbers: forms, inline edits, the API and imports go through it."""
    text = str(raw).translate(_WIDE).strip()
    for mark in _MONEY_MARKS:
        text = text.replace(mark, "")
    text = text.replace(",", "").replace("_", "").strip()
    m = _IN_UNITS.fullmatch(text)
    if m:
        return format(Decimal(m["n"]) * _CHINESE_UNITS[m["unit"]], "f")
    return text


def _babel_locale(locale: str) -> str:
    return {"zh": "zh_CN", "en": "en_US"}.get(locale, locale or "en_US")


@lru_cache(maxsize=16)
def babel_locale(locale: str) -> Locale:
    """Babel's Locale for one of ours, parsed once (a table shows thousands of numbers)."""
    return Locale.parse(_babel_locale(locale))


@lru_cache(maxsize=64)
def number_pattern(fmt: str):
    """A number pattern (#,##0.00), parsed once."""
    return parse_pattern(fmt)


#: the sign an XLSX export writes before an amount in each currency
CURRENCY_SIGNS = {"CNY": "¥", "JPY": "¥", "USD": "$", "HKD": "HK$", "EUR": "€", "GBP": "£"}


class Number(FieldType):
    """What the number types share: aligned as numbers in HTML."""

    def html(self, field, value, page):
        return number(self.display(field, value, page.locale))

    #: the keyboard a phone shows for it
    input_mode = "decimal"

    def form_input(self, field):
        # a text input: a number input refuses 3,250,000, ￥3,250,000.00 and 325万 as people
        # type them, which `as_typed` reads
        return Input("text", {"inputmode": self.input_mode, "autocomplete": "off"})

    def form_value(self, field, value):
        """The value as a form shows it: grouped as it is typed (3,250,000.00), read back."""
        return self.plain(field, value)

    def plain(self, field, value) -> str:
        return str(value)


@registry.register
class Integer(Number):
    name = "integer"
    family = "number"
    flavor = "number"
    numeric = True
    sums = True
    operators = ORDER_OPS
    widget = "number"
    options_schema = _BOUNDS

    def excel_format(self, field):
        return "#,##0"

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
            d = Decimal(as_typed(raw))
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
        if value is None:
            return ""
        loc = babel_locale(locale)
        return loc.decimal_formats[None].apply(value, loc)

    input_mode = "numeric"

    def plain(self, field, value) -> str:
        return Integer.display(self, field, value)

    def sample(self, field, sampler):
        return self.sample_number(field, sampler.rng, field.config.get("min", 0),
                                  field.config.get("max", 100))

    def from_cell(self, field, value):
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # Excel keeps every number as a float
        return super().from_cell(field, value)


@registry.register
class DecimalField(Number):
    name = "decimal"
    family = "number"
    flavor = "number"
    numeric = True
    sums = True
    operators = ORDER_OPS
    widget = "number"
    options_schema = {
        **_BOUNDS,
        "precision": {"type": "integer", "minimum": 1, "maximum": 38},
        "scale": {"type": "integer", "minimum": 0, "maximum": 12},
    }
    default_scale = 2
    #: demo amounts over a wide range are round thousands
    round_samples = False

    def excel_format(self, field):
        scale = int(field.config.get("scale", 2))
        return "#,##" + ("0." + "0" * scale if scale else "0")

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
                                "keep it exact (1,200.50, ¥1,200.50 and 325万 are read too)")

    def parse(self, field, raw):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if isinstance(raw, bool):
            raise FieldError(msg("must be a number, not true/false"))
        try:
            d = Decimal(as_typed(str(raw).replace("%", "")))
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

    def sample(self, field, sampler):
        return self.sample_number(field, sampler.rng, field.config.get("min", 0),
                                  field.config.get("max", 10000))

    def sample_number(self, field, rng, lo, hi):
        raw = rng.uniform(float(lo), float(hi))
        if self.round_samples and float(hi) - float(lo) > 10000:
            raw = round(raw, -3)  # amounts in round thousands, as prices are
        return Decimal(str(round(raw, self.scale(field))))

    def display(self, field, value, locale="en"):
        if value is None:
            return ""
        scale = self.scale(field)
        return number_pattern("#,##0." + "0" * scale if scale else "#,##0").apply(
            value, babel_locale(locale))

    def plain(self, field, value) -> str:
        return DecimalField.display(self, field, value)  # no currency sign, no percent


@registry.register
class Currency(DecimalField):
    name = "currency"
    round_samples = True
    options_schema = {**DecimalField.options_schema,
                      "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}}

    def excel_format(self, field):
        places = super().excel_format(field).removeprefix("#,##")
        code = str(field.config.get("currency") or "CNY")
        sign = CURRENCY_SIGNS.get(code)
        return f'"{sign}"#,##{places}' if sign else f'#,##{places} "{code}"'

    def display(self, field, value, locale="en"):
        if value is None:
            return ""
        loc = babel_locale(locale)
        return loc.currency_formats["standard"].apply(
            value, loc, currency=field.config.get("currency", "CNY"), currency_digits=True)

    def amount_text(self, field, value, scale, babel_locale):
        return format_currency(value, field.config.get("currency", "CNY"), locale=babel_locale)

    def compact_amount(self, field, value, babel_locale):
        return format_compact_currency(value, field.config.get("currency", "CNY"),
                                       locale=babel_locale, fraction_digits=1)


@registry.register
class Percent(DecimalField):
    name = "percent"

    def display(self, field, value, locale="en"):
        return "" if value is None else f"{super().display(field, value, locale)}%"

    def excel_format(self, field):
        # 12.5 shows 12.50%: the cell keeps 12.5, as imports read it back
        return super().excel_format(field).removeprefix("#,##") + '"%"'

    def amount_text(self, field, value, scale, babel_locale):
        return super().amount_text(field, value, scale, babel_locale) + "%"


@registry.register
class Rating(Integer):
    name = "rating"
    sums = False
    widget = "rating"
    options_schema = {"max": {"type": "integer", "minimum": 1, "maximum": 10}}

    def excel_format(self, field):
        return None  # stars, not an amount

    def column_type(self, field):
        return sa.SmallInteger()

    def json_schema(self, field, writing):
        number = {"type": "integer", "minimum": 0, "maximum": int(field.config.get("max", 5))}
        return _or_text(number, "the number of stars, as text") if writing else number

    def sample(self, field, sampler):
        return sampler.rng.randint(1, int(field.config.get("max", 5)))

    def form_input(self, field):
        return Input("stars", {"max": int(field.config.get("max", 5))})

    def check(self, field, value: Any) -> None:
        top = int(field.config.get("max", 5))
        if not 0 <= value <= top:
            raise FieldError(msg("must be between 0 and %(max)s", max=top))

    def display(self, field, value, locale="en"):
        if value is None:
            return ""
        return "★" * value + "☆" * (int(field.config.get("max", 5)) - value)

    def html(self, field, value, page):
        top = int(field.config.get("max", 5))
        return Markup(f'<span class="rating" aria-label="{escape(value)} / {top}">'  # nosec B704 - every value in it is escaped
                      f'{escape(self.display(field, value, page.locale))}</span>')
