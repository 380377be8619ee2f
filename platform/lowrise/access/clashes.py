"""Unique values and the records an actor may not read in full.

A write's unique check would otherwise answer "is this number registered, and to whom?" for
numbers the actor sees masked, or that belong to records outside their rows. So a clash with
such a record is refused with one message that tells nothing else (no value, no record, no
row), and a batch is refused as a whole at the first one. Every such clash is written to the
audit log on the record it hit (action `clash`, the field in `note`), like a reveal, and
counted per person in `lr_value_clashes`; past `limit` of them in `window` seconds, writes of
such values by that person are refused outright until the oldest leaves the window.

The records service (`lowrise.storage.records`) asks `check_paused` before it looks and
calls `record` once the refused write's transaction is rolled back. No Flask here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sqlalchemy as sa

from lowrise.actor import Actor
from lowrise.errors import Undisclosed
from lowrise.i18n import msg, msg_n

#: the refusal, a fragment that follows the field's name ("Mobile is already registered...")
REGISTERED = msg("is already registered; ask your manager")


@dataclass(frozen=True)
class ClashLimit:
    """At most `limit` clashes a person in `window` seconds (settings LOWRISE_CLASH_LIMIT and
    LOWRISE_CLASH_WINDOW of the web app)."""

    limit: int = 5
    window: float = 600.0


@dataclass(frozen=True)
class Clash:
    """A unique value of `field` met on `record_type` #`record_id` by `actor`."""

    record_type: str
    record_id: int
    field: str
    actor: Actor


def who(actor: Actor) -> str:
    """The key clashes are counted under: the person's record, else their name."""
    return f"user:{actor.user}" if actor.user is not None else f"name:{actor.name}"[:255]


def refusal(clash: Clash) -> Undisclosed:
    """The generic refusal of one clash (the field named, nothing else)."""
    return Undisclosed({clash.field: REGISTERED}, clash=clash)


def check_paused(conn: sa.Connection, schema, actor: Actor, limits: ClashLimit) -> None:
    """Undisclosed (whole write) while `actor` has `limits.limit` clashes in the window."""
    if limits.limit <= 0:
        return
    t = schema.system["lr_value_clashes"]
    now = actor.now().timestamp()
    since = now - limits.window
    recent = conn.execute(sa.select(t.c.at).where(t.c.who == who(actor), t.c.at > since)
                          .order_by(t.c.at.desc()).limit(limits.limit)).scalars().all()
    if len(recent) < limits.limit:
        return
    wait = recent[-1] + limits.window - now  # when the oldest of the last `limit` leaves
    raise Undisclosed({"": msg_n(
        "Too many of the values you entered are already registered on records you cannot "
        "see in full, so such checks are paused for %(n)s minute. Ask your manager.",
        "Too many of the values you entered are already registered on records you cannot "
        "see in full, so such checks are paused for %(n)s minutes. Ask your manager.",
        max(1, math.ceil(wait / 60)))})


def record(conn: sa.Connection, schema, clash: Clash, limits: ClashLimit) -> None:
    """Audit one clash on the record it hit and count it for its actor (in `conn`'s write
    transaction, after the refused write's own was rolled back)."""
    actor = clash.actor
    at = actor.now()
    conn.execute(schema.audit.insert().values(
        record_type=clash.record_type, record_id=clash.record_id, action="clash",
        actor=actor.user, actor_name=actor.name, at=at, version=None, changes=None,
        note=clash.field))
    t = schema.system["lr_value_clashes"]
    now = at.timestamp()
    conn.execute(t.delete().where(t.c.at <= now - limits.window))
    conn.execute(t.insert().values(who=who(actor), at=now, record_type=clash.record_type,
                                   field=clash.field))
