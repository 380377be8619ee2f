"""Browser sessions kept in the database (`lr_sessions`), so that signing out ends one.

The browser's cookie holds only a random token; the row holds what the session carries (the
signed-in account, the locale, messages for the next page) as text the web layer writes,
when it started and when it was last used, and the browser and address it came from (for
the person's list of their sessions). The row's key is the token's SHA-256, so that a copy
of the table opens no session. A session ends when it is deleted (sign-out, "sign out
everywhere", a new password, a deactivated account), when it has not been used for `idle`
seconds, or `lifetime` seconds after it started, whatever the activity.

No Flask here: the CLI's password change ends sessions through the same calls.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from lowrise.fields.types import UTCDateTime
from lowrise.storage.db import write_transaction

#: defaults of LOWRISE_SESSION_IDLE_TIMEOUT and LOWRISE_SESSION_LIFETIME, in seconds
IDLE = 8 * 3600
LIFETIME = 7 * 24 * 3600
#: a session's "last used" is written at most this often (a busy page must not turn every
#: read into a write); the idle timeout is therefore exact to within this many seconds
TOUCH_EVERY = 60


def sessions_table(metadata: sa.MetaData) -> sa.Table:
    """The `lr_sessions` table on the given metadata."""
    return sa.Table(
        "lr_sessions", metadata,
        sa.Column("id", sa.String(64), primary_key=True),  # SHA-256 of the cookie's token
        sa.Column("user_id", sa.BigInteger, index=True),
        sa.Column("data", sa.Text, nullable=False, server_default=""),
        # both indexed: expired rows are deleted by either, each time a session is made
        sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False, index=True),
        sa.Column("user_agent", sa.String(255), nullable=False, server_default=""),
        sa.Column("address", sa.String(64), nullable=False, server_default=""),
    )


def _key(token: str) -> str:
    # 256 random bits: a plain SHA-256 is enough (no salt or slow hash needed)
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """One stored session (never its token)."""

    key: str
    user_id: int | None
    data: str
    created_at: datetime
    last_seen_at: datetime
    user_agent: str
    address: str


class Sessions:
    """Create, find, keep alive and end sessions in `lr_sessions`."""

    def __init__(self, engine: sa.Engine, *, idle: float = IDLE, lifetime: float = LIFETIME,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.engine, self.idle, self.lifetime, self.clock = engine, idle, lifetime, clock
        self.table = sessions_table(sa.MetaData())
        self._ready = False

    def ensure_table(self) -> None:
        if not self._ready:
            self.table.create(self.engine, checkfirst=True)
            self._ready = True

    def expires(self, s: Session) -> datetime:
        """When the session ends unless used again (idle) or at the latest (lifetime)."""
        return min(s.last_seen_at + timedelta(seconds=self.idle),
                   s.created_at + timedelta(seconds=self.lifetime))

    def load(self, token: str) -> Session | None:
        """The live session of this cookie token, or None (unknown, ended or expired)."""
        if not token or len(token) > 128:
            return None
        self.ensure_table()
        t = self.table
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == _key(token))).mappings().first()
        if row is None:
            return None
        found = Session(key=row["id"], user_id=row["user_id"], data=row["data"] or "",
                        created_at=row["created_at"], last_seen_at=row["last_seen_at"],
                        user_agent=row["user_agent"] or "", address=row["address"] or "")
        return found if self.clock() < self.expires(found) else None

    def create(self, data: str, *, user_id: int | None, user_agent: str = "",
               address: str = "") -> tuple[str, Session]:
        """A new session: (its cookie token, shown only now; its row). Expired rows go."""
        self.ensure_table()
        token, now, t = secrets.token_urlsafe(32), self.clock(), self.table
        row = {"id": _key(token), "user_id": user_id, "data": data, "created_at": now,
               "last_seen_at": now, "user_agent": (user_agent or "")[:255],
               "address": (address or "")[:64]}
        with write_transaction(self.engine) as conn:
            conn.execute(t.delete().where(self._expired(now)))
            conn.execute(t.insert().values(**row))
        return token, Session(key=row["id"], user_id=user_id, data=data, created_at=now,
                              last_seen_at=now, user_agent=row["user_agent"],
                              address=row["address"])

    def _expired(self, now: datetime):
        t = self.table
        return sa.or_(t.c.last_seen_at < now - timedelta(seconds=self.idle),
                      t.c.created_at < now - timedelta(seconds=self.lifetime))

    def save(self, token: str, data: str, *, user_id: int | None) -> None:
        """Store what the session carries now; it counts as used."""
        self.ensure_table()
        t = self.table
        with write_transaction(self.engine) as conn:
            conn.execute(t.update().where(t.c.id == _key(token)).values(
                data=data, user_id=user_id, last_seen_at=self.clock()))

    def touch(self, token: str) -> None:
        """The session was used now (keeps it from the idle timeout)."""
        self.ensure_table()
        t = self.table
        with write_transaction(self.engine) as conn:
            conn.execute(t.update().where(t.c.id == _key(token)).values(
                last_seen_at=self.clock()))

    def stale(self, s: Session) -> bool:
        """Whether the session's "last used" is old enough to be written again."""
        return (self.clock() - s.last_seen_at).total_seconds() >= TOUCH_EVERY

    def end(self, token: str) -> None:
        """End one session (sign-out)."""
        self.ensure_table()
        with write_transaction(self.engine) as conn:
            conn.execute(self.table.delete().where(self.table.c.id == _key(token)))

    def end_for_user(self, user_id: int, *, keep: str | None = None) -> int:
        """End every session of an account, except the one of the token `keep`; how many."""
        self.ensure_table()
        t = self.table
        cond = [t.c.user_id == user_id]
        if keep:
            cond.append(t.c.id != _key(keep))
        with write_transaction(self.engine) as conn:
            return conn.execute(t.delete().where(*cond)).rowcount

    def for_user(self, user_id: int) -> list[Session]:
        """An account's live sessions, the most recently used first."""
        self.ensure_table()
        t, now = self.table, self.clock()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.user_id == user_id, ~self._expired(now))
                                .order_by(t.c.last_seen_at.desc())).mappings().all()
        return [Session(key=r["id"], user_id=r["user_id"], data="", created_at=r["created_at"],
                        last_seen_at=r["last_seen_at"], user_agent=r["user_agent"] or "",
                        address=r["address"] or "") for r in rows]

    @staticmethod
    def key_of(token: str | None) -> str | None:
        """The stored key of a cookie token (to tell "this session" in a list)."""
        return _key(token) if token else None
