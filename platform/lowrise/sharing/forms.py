"""Publishing public forms: a form view whose YAML has a `public:` block is published at
an unguessable URL (a random token, `lr_public_forms`) by someone who manages it; the link
can be revoked (it answers 404 from then on) and renewed (a new token, the old one revoked).

The token is not a secret from the people who manage the form (it is meant to be printed on
flyers), so it is stored as it is and shown on the form's page whenever they look.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from lowrise import access
from lowrise.actor import Actor, utcnow
from lowrise.storage.db import write_transaction
from lowrise.workspace.model import Workspace

from .spec import PublicForm, public_form
from .tokens import new_token, plausible


@dataclass(frozen=True)
class Publication:
    """A form's current link."""

    view: str
    token: str
    created_by: int | None
    created_at: datetime


def may_manage(ws: Workspace, actor: Actor | None, form: PublicForm) -> bool:
    """Whether the actor may publish, revoke and renew a form's link: an admin, someone who
    may manage the form's record type, or one of the form's `managed_by` roles."""
    if actor is None:
        return False
    pol = access.Policy.for_actor(actor, ws)
    return pol.is_admin or pol.may("manage", form.record_type) or \
        bool(set(actor.roles) & set(form.managed_by))


class PublicForms:
    """The publications of a workspace's public forms."""

    def __init__(self, engine: sa.Engine, table: sa.Table):
        self.engine, self.table = engine, table

    def current(self, view: str) -> Publication | None:
        """The form's link while it is published, else None."""
        t = self.table
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.view == view, t.c.revoked_at.is_(None))
                               .order_by(t.c.id.desc()).limit(1)).mappings().first()
        return _publication(row) if row else None

    def publish(self, view: str, account_id: int | None) -> Publication:
        """Publish the form (its current link when it already is)."""
        with write_transaction(self.engine) as conn:
            found = self._active(conn, view)
            if found is not None:
                return _publication(found)
            return self._insert(conn, view, account_id)

    def renew(self, view: str, account_id: int | None) -> Publication:
        """A new link for the form; the old one stops working."""
        with write_transaction(self.engine) as conn:
            self._revoke(conn, view, account_id)
            return self._insert(conn, view, account_id)

    def revoke(self, view: str, account_id: int | None) -> bool:
        """Stop publishing the form; False when it was not published."""
        with write_transaction(self.engine) as conn:
            return self._revoke(conn, view, account_id) > 0

    def form_of(self, ws: Workspace, token: str) -> PublicForm | None:
        """The public form a token opens: published, not revoked, and still declared public
        in the workspace (a view since removed or made private opens nothing)."""
        if not plausible(token):
            return None
        t = self.table
        with self.engine.connect() as conn:
            view = conn.execute(sa.select(t.c.view).where(
                t.c.token == token, t.c.revoked_at.is_(None))).scalar()
        return public_form(ws, ws.views.get(view)) if view else None

    def _active(self, conn: sa.Connection, view: str):
        t = self.table
        return conn.execute(sa.select(t).where(t.c.view == view, t.c.revoked_at.is_(None))
                            .with_for_update()).mappings().first()

    def _insert(self, conn: sa.Connection, view: str, account_id: int | None) -> Publication:
        t = self.table
        row = dict(view=view, token=new_token(), created_by=account_id, created_at=utcnow())
        conn.execute(t.insert().values(**row))
        return _publication(row)

    def _revoke(self, conn: sa.Connection, view: str, account_id: int | None) -> int:
        t = self.table
        return conn.execute(t.update().where(t.c.view == view, t.c.revoked_at.is_(None))
                            .values(revoked_at=utcnow(), revoked_by=account_id)).rowcount


def _publication(row) -> Publication:
    return Publication(row["view"], row["token"], row["created_by"], row["created_at"])
