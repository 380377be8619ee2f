"""Durations (`24h`, `3d`, `1h30m`, `90m`), working-hours arithmetic and cron schedules."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from lowrise.errors import LowriseError

from .model import WorkingHours

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class TimingError(LowriseError):
    """A duration, working-hours setting or cron expression does not parse."""


def parse_duration(raw: object) -> float:
    """Seconds in `24h`, `3d`, `1h30m`, `-2h`, `0`; a bare number is hours."""
    if isinstance(raw, bool):
        raise TimingError(f"{raw!r} is not a duration (like 24h, 3d, 1h30m)")
    if isinstance(raw, (int, float)):
        return float(raw) * 3600
    text = str(raw).strip().lower().replace(" ", "")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    if text in ("0", ""):
        if text == "":
            raise TimingError("a duration is empty (write one like 24h, 3d, 1h30m)")
        return 0.0
    pos, total = 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise TimingError(f"'{raw}' is not a duration (like 24h, 3d, 1h30m, 45m)")
    return sign * total


def add_working(start: datetime, seconds: float, wh: WorkingHours, tz: str) -> datetime:
    """`start` plus `seconds` of working time (only the working hours of working days count)."""
    zone = ZoneInfo(tz or "UTC")
    t = start.astimezone(zone)
    left = timedelta(seconds=seconds)
    if left <= timedelta(0):
        return start
    for _ in range(3660):  # ten years of days: a bound, never a hang
        day_start = t.replace(hour=wh.start.hour, minute=wh.start.minute, second=0,
                              microsecond=0)
        day_end = t.replace(hour=wh.end.hour, minute=wh.end.minute, second=0, microsecond=0)
        if t.weekday() in wh.days and t < day_end:
            begin = max(t, day_start)
            if begin + left <= day_end:
                return (begin + left).astimezone(UTC)
            left -= day_end - begin
        nxt = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        t = nxt.replace(tzinfo=zone)
    raise TimingError("working hours never come (check working_hours.days)")


def check_cron(expr: str) -> None:
    if not isinstance(expr, str) or not croniter.is_valid(expr):
        raise TimingError(f"'{expr}' is not a cron schedule (like '0 9 * * 1-5': 09:00 on "
                          "weekdays; minute hour day month weekday)")


def next_run(expr: str, after: datetime, tz: str) -> datetime:
    """The first time the cron schedule fires strictly after `after` (read in `tz`)."""
    local = after.astimezone(ZoneInfo(tz or "UTC"))
    return croniter(expr, local).get_next(datetime).astimezone(UTC)
