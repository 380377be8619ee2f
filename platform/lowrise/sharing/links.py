"""Share links: a read-only link to a table, board or calendar view, until an expiry.

A link shows what its sharer may see, read at the time of each visit: the sharer's account
and roles are looked up then, so a sharer who loses a role, or whose account is
deactivated, narrows (or ends) their links. A sharer may narrow a link to one of their roles
(an admin to any role): it then shows what that role of theirs sees, and nothing once they no
longer have it. Exports only when the sharer allowed it and may export the type themselves.
Every visit is logged (`lr_share_visits`: when, from which address, page or export) for the
sharer and admins to see. Only the token's SHA-256 is stored: the URL is shown once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from lowrise import access
from lowrise.accounts import Accounts, User
from lowrise.actor import Actor, utcnow
from lowrise.errors import LowriseError
from lowrise.i18n import msg
from lowrise.storage.db import write_transaction
from lowrise.workspace.model import View, Workspace

from .spec import shareable
from .tokens import new_token, plausible, token_hash

MAX_DAYS = 366  # the longest a link may live
EXPIRIES = (1, 7, 30, 90, 365)  # the choices the sharing page offers, in days


class ShareError(LowriseError):
    """A link could not be made or changed; the message says why."""


@dataclass(frozen=True)
class ShareLink:
    """A share link as lists show it (never its token)."""

    id: int
    account_id: int
    view: str
    role: str | None
    note: str
    allow_export: bool
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    visits: int = 0
    last_visit_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


@dataclass(frozen=True)
class Visit:
    at: datetime
    address: str
    what: str


@dataclass(frozen=True)
class Opened:
    """A link being visited: the link, its view, and the Actor every read goes through."""

    link: ShareLink
    view: View
    actor: Actor

    def may_export(self, ws: Workspace) -> bool:
        return self.link.allow_export and access.Policy.for_actor(self.actor, ws).may(
            "export", self.view.record_type)


def roles_to_narrow(ws: Workspace, user: User) -> list[str]:
    """The roles a person may narrow a link to: their own, any role for an admin."""
    actor = Actor(user=user.staff_id, roles=frozenset(user.roles))
    if access.Policy.for_actor(actor, ws).is_admin:
        return list(ws.roles)
    return [r for r in ws.roles if r in user.roles]


def sharer_actor(ws: Workspace, user: User | None, role: str | None, locale: str,
                 clock: Callable[[], datetime] = utcnow) -> Actor | None:
    """Who a link reads as now: the sharer with their current roles, or with the one role the
    link is narrowed to while they still have it (or are an admin); None when the link shows
    nothing any more (account gone or inactive, role lost)."""
    if user is None or not user.active:
        return None
    roles = frozenset(user.roles)
    if role is not None:
        if role not in ws.roles or role not in roles_to_narrow(ws, user):
            return None
        roles = frozenset({role})
    return Actor(user=user.staff_id, name=user.name, roles=roles, locale=locale, clock=clock)


class ShareLinks:
    """Make, list, revoke and open share links; log and list their visits."""

    def __init__(self, engine: sa.Engine, links: sa.Table, visits: sa.Table,
                 accounts: Accounts):
        self.engine, self.table, self.visits_table, self.accounts = \
            engine, links, visits, accounts

    def create(self, ws: Workspace, user: User, view: View, *, days: int,
               role: str | None = None, allow_export: bool = False, note: str = ""
               ) -> tuple[str, ShareLink]:
        """A new link to `view` for `user` to hand out: (the token, shown only now; the link).
        ShareError when the view may not be shared, or the person may not read it."""
        if not shareable(view) or view.name not in ws.views:
            raise ShareError(msg("this view cannot be shared by link"))
        if not 1 <= days <= MAX_DAYS:
            raise ShareError(msg("a link lasts from 1 to %(n)s days", n=MAX_DAYS))
        if role and role not in roles_to_narrow(ws, user):
            raise ShareError(msg("you may only narrow a link to one of your own roles"))
        actor = sharer_actor(ws, user, role or None, ws.default_locale)
        if actor is None or not access.Policy.for_actor(actor, ws).may("read",
                                                                      view.record_type):
            raise ShareError(msg("you may not read this view, so you cannot share it"))
        token, now = new_token(), utcnow()
        t = self.table
        with write_transaction(self.engine) as conn:
            lid = conn.execute(t.insert().values(
                account_id=user.id, view=view.name, role=role or None, note=note.strip()[:200],
                allow_export=bool(allow_export), token_hash=token_hash(token), created_at=now,
                expires_at=now + timedelta(days=days)).returning(t.c.id)).scalar_one()
        return token, self.get(lid)

    def get(self, link_id: int) -> ShareLink | None:
        found = self._list(self.table.c.id == link_id)
        return found[0] if found else None

    def list(self, account_id: int | None = None) -> list[ShareLink]:
        """A sharer's links (everyone's when None), newest first, with their visit counts."""
        cond = self.table.c.account_id == account_id if account_id is not None else sa.true()
        return self._list(cond)

    def _list(self, cond) -> list[ShareLink]:
        t, v = self.table, self.visits_table
        counts = (sa.select(v.c.link_id, sa.func.count().label("n"),
                            sa.func.max(v.c.at).label("last")).group_by(v.c.link_id).subquery())
        stmt = (sa.select(t, counts.c.n, counts.c.last).outerjoin(counts, counts.c.link_id
                                                                  == t.c.id)
                .where(cond).order_by(t.c.id.desc()))
        with self.engine.connect() as conn:
            return [ShareLink(r["id"], r["account_id"], r["view"], r["role"], r["note"],
                              bool(r["allow_export"]), r["created_at"], r["expires_at"],
                              r["revoked_at"], r["n"] or 0, r["last"])
                    for r in conn.execute(stmt).mappings()]

    def revoke(self, link_id: int, by: int, *, any_sharer: bool = False) -> bool:
        """Revoke a link (one's own; any with `any_sharer`, for admins); False if none."""
        t = self.table
        cond = [t.c.id == link_id, t.c.revoked_at.is_(None)]
        if not any_sharer:
            cond.append(t.c.account_id == by)
        with write_transaction(self.engine) as conn:
            return conn.execute(t.update().where(*cond).values(
                revoked_at=utcnow(), revoked_by=by)).rowcount == 1

    def open(self, ws: Workspace, token: str, locale: str) -> Opened | None:
        """The link a token opens, as of now; None when unknown, revoked, expired, of a view
        no longer shareable, or when its sharer may no longer read the view."""
        if not plausible(token):
            return None
        t = self.table
        with self.engine.connect() as conn:
            lid = conn.execute(sa.select(t.c.id).where(
                t.c.token_hash == token_hash(token))).scalar()
        link = self.get(lid) if lid is not None else None
        if link is None or not link.active(utcnow()):
            return None
        view = ws.views.get(link.view)
        if not shareable(view):
            return None
        actor = sharer_actor(ws, self.accounts.get(link.account_id), link.role, locale)
        if actor is None or not access.Policy.for_actor(actor, ws).may("read",
                                                                      view.record_type):
            return None
        return Opened(link, view, actor)

    def log(self, link_id: int, address: str, what: str) -> None:
        """Write one visit of a link."""
        v = self.visits_table
        with write_transaction(self.engine) as conn:
            conn.execute(v.insert().values(link_id=link_id, at=utcnow(),
                                           address=(address or "")[:64], what=what))

    def visits(self, link_id: int, limit: int = 200) -> list[Visit]:
        """A link's visits, newest first."""
        v = self.visits_table
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(v).where(v.c.link_id == link_id)
                                .order_by(v.c.id.desc()).limit(limit)).mappings()
            return [Visit(r["at"], r["address"], r["what"]) for r in rows]
