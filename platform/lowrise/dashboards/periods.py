"""A dashboard's date range and the period before it; date buckets (day, week, month, year).

Ranges are whole local days, first and last included, so that they read as a person says
them ("1 March to 31 March") and go into the filter language as `between [first, last]`,
which covers whole days in the workspace's time zone on date and datetime fields alike.
Ranges that run "to date" (this month, this year) are compared with the same stretch of
the period before (1-15 March with 1-15 February), so that a half month is not measured
against a whole one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from lowrise.storage.query import bucket_start  # the engine's buckets are the dashboards'

#: the ranges a dashboard offers, in menu order
PRESETS = ("last_7_days", "last_30_days", "last_90_days", "this_month", "last_month",
           "this_quarter", "this_year", "last_365_days", "all")
BUCKETS = ("day", "week", "month", "year")


@dataclass(frozen=True)
class Range:
    """Days from `start` to `end` (both included); None for all time. `previous` is the
    period a change is measured against."""

    key: str
    start: date | None = None
    end: date | None = None
    previous: Range | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1 if self.start and self.end else 0


def _month_start(d: date, back: int = 0) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 - back, 12)
    return date(y, m + 1, 1)


def _same_day(first: date, day: int) -> date:
    """`first`'s month on day `day`, or its last day when the month is shorter."""
    nxt = _month_start(first, -1)
    return min(first.replace(day=1) + timedelta(days=day - 1), nxt - timedelta(days=1))


def _shift_year(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _span(key: str, start: date, end: date) -> Range:
    n = (end - start).days + 1
    before = Range(key, start - timedelta(days=n), start - timedelta(days=1))
    return Range(key, start, end, before)


def resolve_range(key: str | None, today: date, start: str | date | None = None,
                  end: str | date | None = None) -> Range:
    """A preset (see PRESETS) relative to `today`, or `custom` days from `start` to `end`."""
    if key in (None, "", "custom") and (start or end):
        a, b = _day(start) if start else None, _day(end) if end else None
        a, b = a or b, b or a
        assert a is not None and b is not None
        if a > b:
            a, b = b, a
        return _span("custom", a, b)
    key = key or "all"
    if key == "all":
        return Range("all")
    if key.startswith("last_") and key.endswith("_days"):
        n = key.removeprefix("last_").removesuffix("_days")
        if n.isdigit() and 0 < int(n) <= 3660:
            return _span(key, today - timedelta(days=int(n) - 1), today)
    if key == "this_month":
        first = today.replace(day=1)
        prev = _month_start(today, 1)
        return Range(key, first, today, Range(key, prev, _same_day(prev, today.day)))
    if key == "last_month":
        first = _month_start(today, 1)
        prev = _month_start(today, 2)
        return Range(key, first, today.replace(day=1) - timedelta(days=1),
                     Range(key, prev, first - timedelta(days=1)))
    if key == "this_quarter":
        first = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
        prev = _month_start(first, 3)
        offset = (today - first).days
        return Range(key, first, today,
                     Range(key, prev, min(prev + timedelta(days=offset),
                                          first - timedelta(days=1))))
    if key == "this_year":
        first = date(today.year, 1, 1)
        return Range(key, first, today,
                     Range(key, date(today.year - 1, 1, 1), _shift_year(today, -1)))
    raise ValueError(f"'{key}' is not a date range; use one of {', '.join(PRESETS)}, "
                     "or from= and to= dates")


def _day(value: str | date) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ValueError(f"'{value}' is not a date: write it as 2026-03-31") from None


def bucket_days(start: date, bucket: str) -> tuple[date, date]:
    """The first and last day of the bucket that starts on `start`."""
    if bucket == "week":
        return start, start + timedelta(days=6)
    if bucket == "month":
        return start, _month_start(start, -1) - timedelta(days=1)
    if bucket == "year":
        return start, date(start.year, 12, 31)
    return start, start


def buckets_between(first: date, last: date, bucket: str, most: int = 400) -> list[date]:
    """The starts of every bucket from the one holding `first` to the one holding `last`."""
    out, d = [], bucket_start(first, bucket)
    while d <= last and len(out) < most:
        out.append(d)
        d = bucket_days(d, bucket)[1] + timedelta(days=1)
    return out
