"""Barcode (`barcode`): the code a scanner reads off a product, a key tag or a document.

`format: ean13` / `ean8` / `upc` check the length and the check digit (a mistyped digit
is refused); `any` (the default) takes any code without spaces, such as a QR code's text."""

from __future__ import annotations

from markupsafe import Markup, escape

from lowrise.errors import FieldError
from lowrise.i18n import msg

from .base import Input, registry
from .text import Written

#: the digits each format has
DIGITS = {"ean13": 13, "ean8": 8, "upc": 12}
MAX_CODE = 200


def check_digit_ok(code: str) -> bool:
    """The GS1 check digit (EAN-13, EAN-8, UPC-A): weights 3 and 1 from the right."""
    body, last = code[:-1], int(code[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == last


@registry.register
class Barcode(Written):
    """The code of a barcode or QR code."""

    name = "barcode"
    widget = "barcode"
    searchable = True
    plain_text = True
    whole_cells = True  # Excel shows an EAN as 6.9e12 but holds the digits
    maskable = True
    options_schema = {"format": {"enum": ["any", *DIGITS],
                                 "description": "ean13, ean8 or upc check length and check "
                                                "digit; any takes any code"}}

    def json_schema(self, field, writing):
        fmt = field.config.get("format", "any")
        out = {"type": "string", "maxLength": MAX_CODE}
        if fmt in DIGITS:
            out["description"] = f"{DIGITS[fmt]} digits ({fmt}), the last a check digit"
        if writing:
            return {"anyOf": [out, {"type": "integer", "minimum": 0}]}
        return out

    def parse(self, field, raw):
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)
        value = super().parse(field, raw)
        if value is None:
            return None
        fmt = field.config.get("format", "any")
        if fmt in DIGITS:
            value = value.replace(" ", "").replace("-", "")
            n = DIGITS[fmt]
            if not value.isascii() or not value.isdigit() or len(value) != n:
                raise FieldError(msg("'%(value)s' is not a %(format)s code (%(n)s digits)",
                                     value=raw, format=fmt.upper(), n=n))
            if not check_digit_ok(value):
                raise FieldError(msg("'%(value)s' has a wrong check digit (mistyped?)",
                                     value=raw))
        elif any(c.isspace() for c in value) or len(value) > MAX_CODE:
            raise FieldError(msg("'%(value)s' is not a code (no spaces, at most %(max)s "
                                 "characters)", value=raw, max=MAX_CODE))
        return value

    def html(self, field, value, page):
        return Markup(f'<code class="barcode">{escape(value)}</code>')  # nosec B704 - every value in it is escaped

    def form_input(self, field):
        fmt = field.config.get("format", "any")
        return Input("text", {"inputmode": "numeric"} if fmt in DIGITS else {})

    def sample(self, field, sampler):
        fmt = field.config.get("format", "any")
        if fmt == "ean8":
            return sampler.fake.ean8()
        if fmt == "upc":
            return sampler.fake.ean(length=13, prefixes=("0",))[1:]  # UPC-A: EAN-13 from 0
        return sampler.fake.ean13()
