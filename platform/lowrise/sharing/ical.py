"""iCalendar text (RFC 5545) for calendar feeds: events with stable UIDs, times in UTC, the
workspace's time zone declared for the clients that show it (X-WR-TIMEZONE).

Text values are escaped (backslash, comma, semicolon, new lines) and lines folded at 75
octets without splitting a UTF-8 character, as Google Calendar, Outlook and Apple Calendar
expect. No third-party package: the tests parse the result with `icalendar`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

PRODID = "-//Lowrise//Calendar feed//EN"


@dataclass(frozen=True)
class Event:
    """One calendar entry: a whole day (`start` a date) or a moment (a datetime)."""

    uid: str
    start: date | datetime
    summary: str
    end: date | datetime | None = None
    description: str = ""
    url: str = ""
    stamp: datetime | None = None  # when the record last changed
    sequence: int = 0


def escape(text: str) -> str:
    """A TEXT value as RFC 5545 writes it."""
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def fold(line: str) -> str:
    """A content line folded at 75 octets (continuations start with a space)."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    parts, cut, limit = [], 0, 75
    while cut < len(raw):
        end = min(cut + limit, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # inside a UTF-8 character
            end -= 1
        parts.append(raw[cut:end].decode("utf-8"))
        cut, limit = end, 74  # a continuation line's leading space counts
    return "\r\n ".join(parts)


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _when(name: str, value: date | datetime) -> str:
    if isinstance(value, datetime):
        return f"{name}:{_utc(value)}"
    return f"{name};VALUE=DATE:{value.strftime('%Y%m%d')}"


def _end(e: Event) -> date | datetime:
    """The event's end: its own when it is after the start, else an hour (or a day) on."""
    if isinstance(e.start, datetime):
        if isinstance(e.end, datetime) and e.end > e.start:
            return e.end
        return e.start + timedelta(hours=1)
    end = e.end.date() if isinstance(e.end, datetime) else e.end
    if isinstance(end, date) and end >= e.start:
        return end + timedelta(days=1)  # DTEND of a whole day is exclusive
    return e.start + timedelta(days=1)


def calendar(events: Iterable[Event], *, name: str, timezone: str, now: datetime,
             description: str = "") -> str:
    """A VCALENDAR with the events, as the text a feed serves (CRLF line ends)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH", f"X-WR-CALNAME:{escape(name)}", f"X-WR-TIMEZONE:{timezone}",
             "REFRESH-INTERVAL;VALUE=DURATION:PT1H", "X-PUBLISHED-TTL:PT1H"]
    if description:
        lines.append(f"X-WR-CALDESC:{escape(description)}")
    for e in events:
        lines += ["BEGIN:VEVENT", f"UID:{e.uid}", f"DTSTAMP:{_utc(e.stamp or now)}",
                  _when("DTSTART", e.start), _when("DTEND", _end(e)),
                  f"SUMMARY:{escape(e.summary)}", f"SEQUENCE:{e.sequence}"]
        if e.stamp is not None:
            lines.append(f"LAST-MODIFIED:{_utc(e.stamp)}")
        if e.description:
            lines.append(f"DESCRIPTION:{escape(e.description)}")
        if e.url:
            lines.append(f"URL:{e.url}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(fold(line) for line in lines) + "\r\n"
