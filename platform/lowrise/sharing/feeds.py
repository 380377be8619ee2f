"""Calendar feeds: each person's secret iCalendar URL for a calendar view (`lr_feeds`).

A feed reads as its owner, now: their account's current roles make the Actor every read
goes through, so it holds their rows with their masks, and an account deactivated (or a
token revoked, or a view since removed or given `feed: false`) answers nothing. Only the
token's SHA-256 is stored: the URL is shown once, when it is made; making another for the
same view revokes the old one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lowrise import filters
from lowrise.accounts import Accounts
from lowrise.actor import Actor, utcnow
from lowrise.i18n import msg, tr
from lowrise.storage import query
from lowrise.storage.db import write_transaction
from lowrise.storage.tables import Schema
from lowrise.workspace.model import Workspace

from . import ical
from .reading import display, titles_of
from .spec import FeedSpec, feed_spec
from .tokens import new_token, plausible, token_hash

MAX_EVENTS = 5000


@dataclass(frozen=True)
class Feed:
    """One person's feed of one calendar view (the token is never kept)."""

    id: int
    account_id: int
    view: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def account_actor(accounts: Accounts, account_id: int, locale: str,
                  clock: Callable[[], datetime] = utcnow) -> Actor | None:
    """The Actor of an account as it is now (None when it is gone or deactivated)."""
    user = accounts.get(account_id)
    if user is None or not user.active:
        return None
    return Actor(user=user.staff_id, name=user.name, roles=frozenset(user.roles),
                 locale=locale, clock=clock)


class Feeds:
    """Make, list, revoke and open calendar feeds."""

    def __init__(self, engine: sa.Engine, table: sa.Table, accounts: Accounts):
        self.engine, self.table, self.accounts = engine, table, accounts

    def create(self, account_id: int, view: str) -> tuple[str, Feed]:
        """A new feed URL token for one person's calendar view; theirs before is revoked."""
        t, now = self.table, utcnow()
        token = new_token()
        with write_transaction(self.engine) as conn:
            conn.execute(t.update().where(t.c.account_id == account_id, t.c.view == view,
                                          t.c.revoked_at.is_(None)).values(revoked_at=now))
            fid = conn.execute(t.insert().values(
                account_id=account_id, view=view, token_hash=token_hash(token),
                created_at=now).returning(t.c.id)).scalar_one()
            row = conn.execute(sa.select(t).where(t.c.id == fid)).mappings().one()
        return token, _feed(row)

    def list(self, account_id: int) -> list[Feed]:
        """A person's feeds, newest first (revoked ones included, marked)."""
        t = self.table
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.account_id == account_id)
                                .order_by(t.c.id.desc())).mappings()
            return [_feed(r) for r in rows]

    def revoke(self, feed_id: int, account_id: int) -> bool:
        """Revoke one of the person's own feeds; False when there is no such active one."""
        t = self.table
        with write_transaction(self.engine) as conn:
            return conn.execute(t.update().where(
                t.c.id == feed_id, t.c.account_id == account_id, t.c.revoked_at.is_(None)
            ).values(revoked_at=utcnow())).rowcount == 1

    def open(self, ws: Workspace, token: str, locale: str
             ) -> tuple[Feed, FeedSpec, Actor] | None:
        """The feed a token opens, its view's feed settings and its owner's Actor now; None
        for a token that is unknown, revoked, of a removed view or of an inactive account."""
        if not plausible(token):
            return None
        t = self.table
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.token_hash == token_hash(token),
                                                  t.c.revoked_at.is_(None))).mappings().first()
        if row is None:
            return None
        spec = feed_spec(ws.views.get(row["view"]))
        actor = account_actor(self.accounts, row["account_id"], locale)
        if spec is None or actor is None:
            return None
        now = utcnow()
        if row["last_used_at"] is None or (now - row["last_used_at"]).total_seconds() > 60:
            with write_transaction(self.engine) as conn:  # at most a write a minute a feed
                conn.execute(t.update().where(t.c.id == row["id"]).values(last_used_at=now))
        return _feed(row), spec, actor


def events(engine: sa.Engine, schema: Schema, spec: FeedSpec, actor: Actor, *,
           link: Callable[[str, int], str] = lambda t, i: "") -> list[ical.Event]:
    """The view's records in the feed's window, as `actor` sees them, as events."""
    ws = schema.workspace
    view = spec.view
    rt = ws.type(view.record_type)
    df = rt.fields[view.config["date_field"]]
    ef = rt.fields.get(view.config.get("end_field") or "")
    tf = rt.fields.get(view.config.get("title_field") or rt.title_field)
    details = [rt.fields[n] for n in spec.details if n in rt.fields]
    today = actor.now().date()
    span = {"field": df.name, "op": "between",
            "value": [(today - timedelta(days=spec.past_days)).isoformat(),
                      (today + timedelta(days=spec.future_days)).isoformat()]}
    flt = filters.all_of(*(filters.parse(f, rt, ws) for f in (view.filter, span) if f))
    wanted = [f.name for f in (df, ef, tf, *details) if f is not None and f.name != "id"]
    wanted = list(dict.fromkeys([*wanted, "updated_at", "version", rt.title_field]))
    rows: list[dict[str, Any]] = []
    after = None
    with engine.connect() as conn:
        while len(rows) < MAX_EVENTS:
            page = query.list_records(conn, schema, rt.name, filter=flt, sort=[df.name],
                                      limit=query.MAX_LIMIT, after=after, fields=wanted,
                                      ctx=actor)
            rows += page.rows
            after = page.next_cursor
            if after is None:
                break
        titles = titles_of(conn, schema, [f for f in (tf, *details) if f], rows, actor)
    locale = actor.locale
    out = []
    for rec in rows[:MAX_EVENTS]:
        start = rec.get(df.name)
        if start is None:
            continue
        summary = display(tf, rec.get(tf.name), titles, locale) if tf else ""
        lines = [tr(msg("%(field)s: %(value)s", field=f.label, value=shown), locale)
                 for f in details if (shown := display(f, rec.get(f.name), titles, locale))]
        url = link(rt.name, rec["id"])
        out.append(ical.Event(
            uid=f"{rt.name}-{rec['id']}.{view.name}.{ws.name}@lowrise", start=start,
            end=rec.get(ef.name) if ef else None, summary=summary or f"#{rec['id']}",
            description="\n".join([*lines, url] if url else lines), url=url,
            stamp=rec.get("updated_at"), sequence=int(rec.get("version") or 0)))
    return out


def _feed(row) -> Feed:
    return Feed(row["id"], row["account_id"], row["view"], row["created_at"],
                row["last_used_at"], row["revoked_at"])
