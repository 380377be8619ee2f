"""Time of day (`time`): a clock time without a date (opening hours, a viewing's usual slot)."""

from __future__ import annotations

import re
from datetime import datetime, time

import sqlalchemy as sa

from lowrise.errors import FieldError
from lowrise.i18n import msg

from .base import ORDER_OPS, FieldType, Input, registry
from .html import moment

# 14:30, 14:30:15, 9:05, 2:30 pm, 下午2:30, 14点30分, 14点, 14：30 (a full-width colon)
_CLOCK = re.compile(
    r"^(?P<half>上午|早上|凌晨|中午|下午|晚上)?\s*(?P<h>\d{1,2})\s*(?:[:：点時时]\s*(?P<m>\d{1,2})?\s*分?"
    r"(?:\s*[:：]\s*(?P<s>\d{1,2})\s*秒?)?)\s*(?P<ampm>[ap]\.?m\.?)?$", re.I)
_AFTERNOON = ("中午", "下午", "晚上")


def _refuse(raw) -> FieldError:
    return FieldError(msg("'%(value)s' is not a time of day (write it as HH:MM, like 14:30)",
                          value=raw))


@registry.register
class TimeOfDay(FieldType):
    """A clock time without a date: 14:30."""

    name = "time"
    family = "time"
    flavor = "number"  # compared and ordered as it is
    operators = ORDER_OPS
    widget = "time"
    options_schema = {"min": {"type": "string", "description": "the earliest time, like 09:00"},
                      "max": {"type": "string", "description": "the latest time, like 18:00"}}

    def column_type(self, field):
        return sa.Time()

    def json_schema(self, field, writing):
        if not writing:
            return {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2})?$",
                    "description": "HH:MM, or HH:MM:SS when it has seconds"}
        return {"type": "string", "description": "a time of day: 14:30, 9:05, 2:30 pm, "
                                                 "下午2:30, 14点30分"}

    def parse(self, field, raw):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if isinstance(raw, datetime):
            return raw.time().replace(microsecond=0, tzinfo=None)
        if isinstance(raw, time):
            return raw.replace(microsecond=0, tzinfo=None)
        if not isinstance(raw, str):
            raise _refuse(raw)
        m = _CLOCK.match(raw.strip())
        if not m:
            raise _refuse(raw)
        h, mi, s = int(m["h"]), int(m["m"] or 0), int(m["s"] or 0)
        half, ampm = m["half"], (m["ampm"] or "").lower().replace(".", "")
        if half or ampm:
            if not 1 <= h <= 12 and not (half and h <= 23):
                raise _refuse(raw)
            if (ampm == "pm" or half in _AFTERNOON) and h < 12:
                h += 12
            elif (ampm == "am" or half in ("凌晨", "早上", "上午")) and h == 12:
                h = 0
        if not (0 <= h <= 23 and 0 <= mi <= 59 and 0 <= s <= 59):
            raise _refuse(raw)
        return time(h, mi, s)

    def check(self, field, value):
        lo, hi = field.bounds
        if lo is not None and value < lo:
            raise FieldError(msg("must be at least %(min)s", min=self.shown(field, lo)))
        if hi is not None and value > hi:
            raise FieldError(msg("must be at most %(max)s", max=self.shown(field, hi)))

    def to_json(self, field, value):
        return None if value is None else self._text(value)

    @staticmethod
    def _text(value: time) -> str:
        return value.strftime("%H:%M:%S" if value.second else "%H:%M")

    def display(self, field, value, locale="en"):
        return "" if value is None else self._text(value)

    def html(self, field, value, page):
        return moment(value, self.display(field, value, page.locale))

    def form_input(self, field):
        return Input("text", {"type": "time"})

    def form_value(self, field, value):
        return self._text(value)

    def from_cell(self, field, value):
        # Excel keeps a time as a fraction of a day: 0.5 is 12:00 (a cell not formatted as
        # a time arrives as that number)
        if isinstance(value, float) and 0 <= value < 1:
            seconds = round(value * 86400)
            value = time(seconds // 3600 % 24, seconds // 60 % 60, seconds % 60)
        return super().from_cell(field, value)

    def export_cell(self, field, value, locale, zone):
        return value  # a time cell, as Excel has them

    def sample(self, field, sampler):
        return time(sampler.rng.randint(9, 17), sampler.rng.choice([0, 15, 30, 45]))

    def moment(self, field, when):
        return when.time().replace(microsecond=0, tzinfo=None)

    def fit_sample(self, field, value, rng):
        return value.time() if isinstance(value, datetime) else value
