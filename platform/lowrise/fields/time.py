"""Time family: date, datetime (stored UTC), duration (stored in seconds)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from functools import lru_cache
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel.dates import get_date_format, get_datetime_format, get_time_format, parse_pattern

from lowrise.errors import FieldError
from lowrise.i18n import msg

from .base import ORDER_OPS, FieldType, Input, registry
from .html import moment, number
from .number import babel_locale
from .types import UTCDateTime


@lru_cache(maxsize=64)
def zone_info(name: str) -> ZoneInfo:
    """A time zone by name (made once)."""
    return ZoneInfo(name)


@lru_cache(maxsize=16)
def _patterns(locale: str):
    """Babel's patterns for dates (medium) and date-times (short) in a locale, parsed once
    (a table of date-times spent a fifth of its time looking them up)."""
    loc = babel_locale(locale)
    return (loc, parse_pattern(get_date_format("medium", loc)),
            get_datetime_format("short", loc).replace("'", ""),
            parse_pattern(get_date_format("short", loc)),
            parse_pattern(get_time_format("short", loc)))


def _zone(field) -> ZoneInfo:
    return zone_info(field.config.get("timezone") or "UTC")


DATE_OPS = ORDER_OPS[:-4] + ("within", "is_empty", "is_not_empty")

# 2026-3-5, 2026/03/05, 2026.3.5 and 2026年3月5日, with a time after it or not
_DAY_FIRST = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*(.*)$")


def _iso_day(text: str) -> str:
    """A date written the ways people write them, as YYYY-MM-DD (and what follows it)."""
    m = _DAY_FIRST.match(text)
    if not m:
        return text
    y, mo, d, rest = m.groups()
    rest = rest.strip()
    sep = "" if not rest or rest[0] in "Tt" else " "  # ISO's T stays as it is
    return f"{y}-{int(mo):02d}-{int(d):02d}{sep}{rest}"


# what follows the day in a spreadsheet's date and time: 9:00, 09:00:05, 下午3点, 下午3:30,
# 15时30分, 3:30 PM (the day's ISO `T…` form is left to `parse`)
_CELL_TIME = re.compile(
    r"^(?P<half>上午|中午|下午|晚上|凌晨|早上|AM|PM)?\s*(?P<h>\d{1,2})\s*(?:[:：时点]\s*"
    r"(?P<m>\d{1,2})?\s*分?(?:\s*[:：]?\s*(?P<s>\d{1,2})\s*秒?)?)?\s*(?P<half2>AM|PM)?$",
    re.I)
_AFTERNOON = {"下午", "晚上", "PM"}


def _cell_day(text: str) -> tuple[str, str] | None:
    """A spreadsheet's day (2026/12/11, 2026年12月11日...) as YYYY-MM-DD, and what follows."""
    m = _DAY_FIRST.match(text)
    if not m:
        return None
    y, mo, d, rest = m.groups()
    return f"{y}-{int(mo):02d}-{int(d):02d}", rest.strip()


def _cell_time(rest: str) -> str | None:
    """`rest` as HH:MM:SS when it is a time as spreadsheets write one, else None."""
    m = _CELL_TIME.match(rest)
    if not m:
        return None
    hour, minute, second = int(m["h"]), int(m["m"] or 0), int(m["s"] or 0)
    half = (m["half"] or m["half2"] or "").upper()
    if half in _AFTERNOON and hour < 12:
        hour += 12
    elif half in ("中午",) and hour < 11:
        hour += 12
    elif half in ("凌晨", "上午", "早上", "AM") and hour == 12:
        hour = 0
    return f"{hour:02d}:{minute:02d}:{second:02d}"


def _schema(writing: bool, fmt: str, words: str) -> dict:
    # as returned: ISO 8601; as accepted: what the parser reads (no format asserted: it is
    # wider than ISO)
    return {"type": "string", "description": words} if writing else \
        {"type": "string", "format": fmt}


@registry.register
class Date(FieldType):
    name = "date"
    family = "time"
    calendar = True
    flavor = "date"
    operators = DATE_OPS
    widget = "date"
    options_schema = {"min": {"type": "string"}, "max": {"type": "string"}}

    def excel_format(self, field):
        return "yyyy-mm-dd"

    def column_type(self, field):
        return sa.Date()

    def json_schema(self, field, writing):
        return _schema(writing, "date", "a date: YYYY-MM-DD (also 2026/3/5, 2026年3月5日), "
                                        "or today")

    def parse(self, field, raw):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if isinstance(raw, datetime):
            return raw.date()
        if isinstance(raw, date):
            return raw
        text = _iso_day(str(raw).strip())
        try:
            return date.fromisoformat(text[:10] if "T" in text else text)
        except ValueError:
            raise FieldError(msg("'%(value)s' is not a date (write it as YYYY-MM-DD)", value=raw)) from None

    def to_json(self, field, value):
        return None if value is None else value.isoformat()

    def import_cell(self, field, value):
        """A date cell with a time after it (2026/12/11 9:00) is that day."""
        if isinstance(value, str) and (day := _cell_day(value.strip())):
            ymd, rest = day
            if not rest or _cell_time(rest) is not None:
                return ymd
        return value

    def display(self, field, value, locale="en"):
        if value is None:
            return ""
        loc, medium, *_ = _patterns(locale)
        return medium.apply(value, loc)

    def html(self, field, value, page):
        if not isinstance(value, date):
            return super().html(field, value, page)
        return moment(value, self.display(field, value, page.locale))

    def export_cell(self, field, value, locale, zone):
        return value if isinstance(value, date) else self.display(field, value, locale)

    def sample(self, field, sampler):
        return self.moment(field, sampler.now - timedelta(days=sampler.rng.uniform(0, 365)))

    def form_input(self, field):
        return Input("text", {"type": "date"})

    def moment(self, field, when):
        return when.date() if isinstance(when, datetime) else when

    def fit_sample(self, field, value, rng):
        return value.date() if isinstance(value, datetime) else value

    def from_cell(self, field, value):
        if isinstance(value, datetime):  # Excel has no date without a time
            value = value.date()
        return super().from_cell(field, value)


@registry.register
class DateTime(FieldType):
    name = "datetime"
    family = "time"
    calendar = True
    instant = True
    flavor = "datetime"
    operators = DATE_OPS
    widget = "datetime"
    options_schema = {"min": {"type": "string"}, "max": {"type": "string"},
                      "timezone": {"type": "string"}}

    def excel_format(self, field):
        return "yyyy-mm-dd hh:mm"

    def column_type(self, field):
        return UTCDateTime()

    def json_schema(self, field, writing):
        return _schema(writing, "date-time", "a date and time: YYYY-MM-DD HH:MM, in the "
                       "field's time zone unless it carries an offset (…+08:00, …Z); or now")

    def parse(self, field, raw):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if isinstance(raw, datetime):
            value = raw
        elif isinstance(raw, date):
            value = datetime(raw.year, raw.month, raw.day)
        else:
            text = _iso_day(str(raw).strip()).replace("Z", "+00:00")
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                raise FieldError(msg("'%(value)s' is not a date and time (write it as "
                                     "YYYY-MM-DD HH:MM)", value=raw)) from None
        if value.tzinfo is None:
            # Naive input is read in the field's time zone (the workspace's unless set).
            value = value.replace(tzinfo=_zone(field))
        try:
            return value.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59-14:00 is in the year 10000 in UTC
            raise FieldError(msg("'%(value)s' is outside the dates that can be stored "
                                 "(years 1 to 9999, in UTC)", value=raw)) from None

    def to_json(self, field, value):
        return None if value is None else value.isoformat()

    def import_cell(self, field, value):
        """What Excel and WPS write in Chinese: 2026/12/11 9:00 (one-digit hour),
        2026年12月11日 下午3点, 15时30分; ISO 8601 with its `T` is `parse`'s already."""
        if isinstance(value, str) and (day := _cell_day(value.strip())):
            ymd, rest = day
            if rest and rest[0] not in "Tt" and (hms := _cell_time(rest)) is not None:
                return f"{ymd} {hms}"
        return value

    def display(self, field, value, locale="en"):
        if value is None:
            return ""
        loc, _, joined, short_date, short_time = _patterns(locale)
        at = value.astimezone(_zone(field))
        return joined.replace("{0}", short_time.apply(at, loc)).replace(
            "{1}", short_date.apply(at.date(), loc))

    def html(self, field, value, page):
        if not isinstance(value, datetime):
            return super().html(field, value, page)
        return moment(value, self.display(field, value, page.locale))

    def sample(self, field, sampler):
        return sampler.now - timedelta(days=sampler.rng.uniform(0, 90))

    def form_input(self, field):
        return Input("text", {"type": "datetime-local", "step": 60})

    def form_value(self, field, value):
        if isinstance(value, datetime):
            return value.astimezone(_zone(field)).strftime("%Y-%m-%dT%H:%M")
        return super().form_value(field, value)

    def fit_sample(self, field, value, rng):
        if isinstance(value, date) and not isinstance(value, datetime):
            value = datetime.combine(value, dtime(rng.randint(9, 18), rng.choice([0, 15, 30, 45])))
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def export_cell(self, field, value, locale, zone):
        if not isinstance(value, datetime):
            return self.display(field, value, locale)
        where = zone_info(field.config.get("timezone") or zone)
        return value.astimezone(where).replace(tzinfo=None)  # Excel has no time zones


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s|天|小时|分钟|分|秒)", re.I)
_UNIT_SECONDS = {"d": 86400, "天": 86400, "h": 3600, "小时": 3600, "m": 60, "分钟": 60, "分": 60,
                 "s": 1, "秒": 1}


#: the longest duration a 64-bit column holds (about 292 billion years)
_MAX_SECONDS = 2**63 - 1


def _seconds(amount: float, raw) -> int:
    """A duration in whole seconds, or FieldError when none could be stored (negative, too
    long, not finite)."""
    if not (0 <= amount <= _MAX_SECONDS):  # also NaN and infinity
        raise FieldError(msg("'%(value)s' is not a duration (write it like 1h30m, 2d or 45m)",
                             value=raw))
    return int(amount)


@registry.register
class Duration(FieldType):
    name = "duration"
    family = "time"
    flavor = "number"
    sums = True
    operators = ORDER_OPS
    widget = "duration"
    options_schema = {"unit": {"enum": ["seconds", "minutes", "hours", "days"]},
                      "min": {"type": ["string", "number"]}, "max": {"type": ["string", "number"]}}

    def column_type(self, field):
        return sa.BigInteger()

    def json_schema(self, field, writing):
        if not writing:
            return {"type": "integer", "minimum": 0, "description": "seconds"}
        return {"anyOf": [{"type": "number", "minimum": 0, "maximum": _MAX_SECONDS,
                           "description": "seconds"},
                          {"type": "string", "description": "1h30m, 2d, 45m, 1:30, or a "
                                                            "number in the field's unit"}]}

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
            return _seconds(raw * unit, raw)
        text = str(raw).strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return _seconds(float(text) * unit, raw)
        if m := re.fullmatch(r"(\d+):(\d{2})(?::(\d{2}))?", text):
            h, mi, s = int(m[1]), int(m[2]), int(m[3] or 0)
            return _seconds(h * 3600 + mi * 60 + s, raw)
        parts = _DURATION_PART.findall(text)
        if not parts or _DURATION_PART.sub("", text).strip():
            raise FieldError(msg("'%(value)s' is not a duration (write it like 1h30m, 2d or 45m)", value=raw))
        return _seconds(sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts), raw)

    def sample(self, field, sampler):
        return timedelta(minutes=30 * sampler.rng.randint(1, 48))

    def form_input(self, field):
        return Input("text", {"placeholder": "1h30m"})

    def form_value(self, field, value):
        return self.display(field, value)

    def from_json(self, field, value):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"{value}s"  # the API's durations are seconds, whatever the field's unit
        return value

    def from_cell(self, field, value):
        if isinstance(value, dtime):  # a cell formatted [h]:mm
            value = f"{value.hour}:{value.minute:02d}:{value.second:02d}"
        return super().from_cell(field, value)

    def display(self, field, value, locale="en"):
        if value is None:
            return ""
        out, rest = [], int(value)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            n, rest = divmod(rest, size)
            if n:
                out.append(f"{n}{unit}")
        return " ".join(out) or "0m"

    def html(self, field, value, page):
        return number(self.display(field, value, page.locale))
