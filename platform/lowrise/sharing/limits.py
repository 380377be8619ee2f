"""The rate limit of public forms, counted in the database (`lr_form_posts`) so that it holds
across every web process: at most `per_client` posts from one address and `per_form` posts
from everyone to one form, in a sliding window of `window` seconds (the form's `limits:`).

A post is counted before it is looked at, so that posts racing in parallel never get more
than the limit between them; its outcome (created, merged, refused, bot) is written once it
is known, for the form's figures. Rows older than 30 days are deleted as new posts come.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from lowrise.storage.db import write_transaction

from .spec import PublicForm

KEEP = 30 * 86400  # seconds a post is kept for the figures


@dataclass(frozen=True)
class Reservation:
    """A counted post (`post_id`), or the seconds to wait before posting again (`wait`)."""

    post_id: int | None
    wait: int = 0


class FormLimit:
    """Count posts to public forms and say when one is over the limit."""

    def __init__(self, engine: sa.Engine, table: sa.Table,
                 clock: Callable[[], float] = time.time):
        self.engine, self.table, self.clock = engine, table, clock

    def reserve(self, form: PublicForm, client: str) -> Reservation:
        """Count a post from `client` to `form`: a Reservation to go ahead with, or the
        seconds to wait (the post is then not counted)."""
        t, now, client = self.table, self.clock(), (client or "")[:64]
        with write_transaction(self.engine) as conn:
            pid = conn.execute(t.insert().values(view=form.name, client=client, at=now)
                               .returning(t.c.id)).scalar_one()
        with write_transaction(self.engine) as conn:
            wait = self._wait(conn, form, client, now)
            if wait:
                conn.execute(t.delete().where(t.c.id == pid))
                return Reservation(None, wait)
            conn.execute(t.delete().where(t.c.at <= now - KEEP))
        return Reservation(pid)

    def _wait(self, conn: sa.Connection, form: PublicForm, client: str, now: float) -> int:
        t, since = self.table, now - form.window
        wait = 0.0
        for cond, limit in ((sa.and_(t.c.view == form.name, t.c.client == client),
                             form.per_client), (t.c.view == form.name, form.per_form)):
            n = conn.execute(sa.select(sa.func.count()).select_from(t).where(
                cond, t.c.at > since)).scalar_one()
            if n > limit:  # this post is one of the n
                oldest = conn.execute(sa.select(t.c.at).where(cond, t.c.at > since)
                                      .order_by(t.c.at).offset(n - 1 - limit).limit(1)).scalar()
                wait = max(wait, (oldest or now) + form.window - now)
        return max(1, int(wait) + 1) if wait else 0

    def settle(self, post_id: int | None, outcome: str, record_id: int | None = None) -> None:
        """Write what became of a counted post."""
        if post_id is None:
            return
        t = self.table
        with write_transaction(self.engine) as conn:
            conn.execute(t.update().where(t.c.id == post_id).values(outcome=outcome,
                                                                    record_id=record_id))

    def figures(self, view: str, days: int = 30) -> dict[str, int]:
        """{outcome: posts} of a form over the last `days` days."""
        t = self.table
        since = self.clock() - days * 86400
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.outcome, sa.func.count()).where(
                t.c.view == view, t.c.at > since).group_by(t.c.outcome))
            return {outcome: n for outcome, n in rows}
