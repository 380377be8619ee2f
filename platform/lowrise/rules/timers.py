"""Durable time triggers: which timer a record should have for a time rule, and setting or
cancelling it inside the write's transaction. A timer fires once: a record that already had
a timer for the same moment does not get another."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa

from lowrise import filters

from . import conditions as conds
from .model import Rule, TimeTrigger
from .tables import RuleTables
from .timing import add_working

KEEP = object()  # the timer that is there (if any) stays as it is
#: conn.info key: {(rule, record type, record id): Last} known to a worker's batch, so that
#: syncing the timers of a record whose timer is firing needs no query
LAST = "lowrise_rule_last_timers"


class Last(NamedTuple):
    """A record's latest timer for a rule."""

    id: int
    due_at: datetime
    status: str
    since: datetime | None


def watched(rule: Rule) -> frozenset[str]:
    """The fields whose change can move or cancel the rule's timer."""
    trig = rule.trigger
    assert isinstance(trig, TimeTrigger)
    names = conds.fields_of(rule.conditions) | conds.filter_fields(trig.unless)
    names |= {n for n in (trig.from_field, trig.after.by) if n}
    return frozenset(names)


def _as_instant(value: Any, tz: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return filters.day_start(value, tz)
    return None


def _holds(rule: Rule, record: Mapping[str, Any] | None, ctx: filters.FilterContext) -> bool:
    if record is None:
        return False
    facts = conds.Facts(record, record, frozenset(), ctx)
    trig = rule.trigger
    if not conds.holds(rule.conditions, facts):
        return False
    return not (trig.unless is not None and filters.evaluate(trig.unless, record, ctx))


@dataclass(frozen=True)
class Want:
    """The timer a record should have: `seconds` after `since` (None: since the conditions
    started to hold, as remembered by the timer set then)."""

    since: datetime | None
    seconds: float


def desired(rule: Rule, before: Mapping[str, Any] | None, after: Mapping[str, Any],
            ctx: filters.FilterContext, tz: str) -> Want | None | object:
    """The timer the record should have for this rule: a Want, None (no timer) or KEEP."""
    trig: TimeTrigger = rule.trigger  # type: ignore[assignment]
    if not _holds(rule, after, ctx):
        return None
    seconds = trig.after.for_record(after)
    if seconds is None:
        return None
    if trig.from_field:
        start = _as_instant(after.get(trig.from_field), tz)
        return None if start is None else Want(start, seconds)
    if _holds(rule, before, ctx):
        return Want(None, seconds)
    return Want(ctx.now(), seconds)


def due_at(rule: Rule, since: datetime, seconds: float, tz: str) -> datetime:
    trig: TimeTrigger = rule.trigger  # type: ignore[assignment]
    if trig.working_hours:
        return add_working(since, seconds, trig.working_hours, tz)
    return since + timedelta(seconds=seconds)


@dataclass(frozen=True)
class Deadline:
    """A rule's time limit on one record: its name, when it is due, whether that is past."""

    label: Any
    due: datetime
    overdue: bool


def own_marks(rule: Rule) -> frozenset[str]:
    """The fields the rule's own actions set (a stale flag): what it does when the limit
    passes must not hide the limit."""
    return frozenset(name for a in rule.actions if a.kind == "set_fields"
                     for name in a.spec.values)


def deadline(rule: Rule, rt, record: Mapping[str, Any], ctx: filters.FilterContext,
             tz: str) -> Deadline | None:
    """The time limit a `deadline:` rule sets on `record` (None: none runs): its timer as
    the record's values give it, read as if the rule had not acted on it yet."""
    if rule.deadline is None:
        return None
    as_before = {**record, **{n: rt.fields[n].default for n in own_marks(rule)
                              if n in rt.fields}}
    want = desired(rule, None, as_before, ctx, tz)
    if not isinstance(want, Want) or want.since is None:
        return None
    due = due_at(rule, want.since, want.seconds, tz)
    return Deadline(rule.deadline, due, ctx.now() >= due)


def sync(conn: sa.Connection, tables: RuleTables, rule: Rule, record_id: int,
         want: Want | None | object, now: datetime, tz: str, *, new: bool = False,
         skip_past: bool = False) -> str | None:
    """Make the stored timer match `want`; returns what changed ("set ...", "cancelled").
    `new`: the record was just created, so it has no timer yet (nothing to read).
    `skip_past`: a moment at or before `now` gets no timer (demo data's past)."""
    if want is KEEP or (new and want is None):
        return None
    t = tables.timers
    known = conn.info.get(LAST)
    key = (rule.name, rule.record_type, record_id)
    if new:
        last = None
    elif known is not None and key in known:
        last = known[key]
    else:
        last = conn.execute(
            sa.select(t.c.id, t.c.due_at, t.c.status, t.c.since)
            .where(t.c.record_type == rule.record_type, t.c.record_id == record_id,
                   t.c.rule == rule.name)
            .order_by(t.c.id.desc()).limit(1)).first()
    due = since = None
    if isinstance(want, Want):
        since = want.since
        if since is None:  # still holding: count from when it started, if we know
            if last is None or last.status != "pending" or last.since is None:
                return None
            since = last.since
        due = due_at(rule, since, want.seconds, tz)
        if skip_past and due <= now:
            due = None
    if last is not None and due is not None and last.due_at == due and \
            last.status in ("pending", "fired", "failed"):
        return None  # this moment has its timer already: it fires once
    said = None
    if known is not None:
        known.pop(key, None)  # changed below: read again next time
    if last is not None and last.status == "pending":
        conn.execute(t.update().where(t.c.id == last.id)
                     .values(status="cancelled", done_at=now))
        said = "cancelled"
    if due is not None:
        conn.execute(t.insert(), dict(rule=rule.name, record_type=rule.record_type,
                                      record_id=record_id, due_at=due, since=since,
                                      status="pending", created_at=now, attempts=0))
        said = f"set for {due.isoformat()}"
    return said


def cancel_all(conn: sa.Connection, tables: RuleTables, record_type: str, record_id: int,
               now: datetime) -> None:
    t = tables.timers
    conn.execute(t.update().where(t.c.record_type == record_type, t.c.record_id == record_id,
                                  t.c.status == "pending")
                 .values(status="cancelled", done_at=now))
