"""Time family: date, datetime (stored UTC), duration (stored in seconds)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel.dates import format_date, format_datetime

from lowrise.errors import FieldError
from lowrise.i18n import msg

from .base import ORDER_OPS, FieldType, registry
from .number import _babel_locale
from .types import UTCDateTime


@lru_cache(maxsize=64)
def zone_info(name: str) -> ZoneInfo:
    """A time zone by name (made once)."""
    return ZoneInfo(name)


def _zone(field) -> ZoneInfo:
    return zone_info(field.config.get("timezone") or "UTC")


DATE_OPS = ORDER_OPS[:-4] + ("within", "is_empty", "is_not_empty")


@registry.register
class Date(FieldType):
    name = "date"
    family = "time"
    operators = DATE_OPS
    widget = "date"
    options_schema = {"min": {"type": "string"}, "max": {"type": "string"}}

    def column_type(self, field):
        return sa.Date()

    def parse(self, field, raw):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if isinstance(raw, datetime):
            return raw.date()
        if isinstance(raw, date):
            return raw
        text = str(raw).strip().replace("/", "-").replace(".", "-")
        try:
            return date.fromisoformat(text[:10] if "T" in text else text)
        except ValueError:
            raise FieldError(msg("'%(value)s' is not a date (write it as YYYY-MM-DD)", value=raw)) from None

    def to_json(self, field, value):
        return None if value is None else value.isoformat()

    def display(self, field, value, locale="en"):
        return "" if value is None else format_date(value, "medium", locale=_babel_locale(locale))


@registry.register
class DateTime(FieldType):
    name = "datetime"
    family = "time"
    operators = DATE_OPS
    widget = "datetime"
    options_schema = {"min": {"type": "string"}, "max": {"type": "string"},
                      "timezone": {"type": "string"}}

    def column_type(self, field):
        return UTCDateTime()

    def parse(self, field, raw):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if isinstance(raw, datetime):
            value = raw
        elif isinstance(raw, date):
            value = datetime(raw.year, raw.month, raw.day)
        else:
            text = str(raw).strip().replace("Z", "+00:00")
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                raise FieldError(msg("'%(value)s' is not a date and time (write it as "
                                     "YYYY-MM-DD HH:MM)", value=raw)) from None
        if value.tzinfo is None:
            # Naive input is read in the field's time zone (the workspace's unless set).
            value = value.replace(tzinfo=_zone(field))
        return value.astimezone(UTC)

    def to_json(self, field, value):
        return None if value is None else value.isoformat()

    def display(self, field, value, locale="en"):
        if value is None:
            return ""
        return format_datetime(value.astimezone(_zone(field)), "short",
                               locale=_babel_locale(locale))


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s|天|小时|分钟|分|秒)", re.I)
_UNIT_SECONDS = {"d": 86400, "天": 86400, "h": 3600, "小时": 3600, "m": 60, "分钟": 60, "分": 60,
                 "s": 1, "秒": 1}


@registry.register
class Duration(FieldType):
    name = "duration"
    family = "time"
    operators = ORDER_OPS
    widget = "duration"
    options_schema = {"unit": {"enum": ["seconds", "minutes", "hours", "days"]},
                      "min": {"type": ["string", "number"]}, "max": {"type": ["string", "number"]}}

    def column_type(self, field):
        return sa.BigInteger()

    def parse(self, field, raw):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if isinstance(raw, timedelta):
            return int(raw.total_seconds())
        if isinstance(raw, bool):
            raise FieldError(msg("must be a duration like 1h30m"))
        unit = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}[
            field.config.get("unit", "minutes")]
        if isinstance(raw, (int, float)):
            return int(raw * unit)
        text = str(raw).strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return int(float(text) * unit)
        if m := re.fullmatch(r"(\d+):(\d{2})(?::(\d{2}))?", text):
            h, mi, s = int(m[1]), int(m[2]), int(m[3] or 0)
            return h * 3600 + mi * 60 + s
        parts = _DURATION_PART.findall(text)
        if not parts or _DURATION_PART.sub("", text).strip():
            raise FieldError(msg("'%(value)s' is not a duration (write it like 1h30m, 2d or 45m)", value=raw))
        return int(sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts))

    def display(self, field, value, locale="en"):
        if value is None:
            return ""
        out, rest = [], int(value)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            n, rest = divmod(rest, size)
            if n:
                out.append(f"{n}{unit}")
        return " ".join(out) or "0m"
