"""User accounts: who may sign in, with an argon2 password hash, linked to a staff record.

No Flask here, so that the CLI (`lowrise user add`) and tests use the same calls as the web
sign-in. The table is the engine's own (`lr_users`), created on first use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lowrise.errors import LowriseError
from lowrise.fields.types import UTCDateTime

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so that a wrong address costs as much time as
# a wrong password and does not reveal which addresses have accounts.
_DUMMY_HASH = _hasher.hash("lowrise-no-such-user")

MIN_PASSWORD = 8


class AccountError(LowriseError):
    """An account could not be created or changed; the message says why."""


class DuplicateEmail(AccountError):
    """Another account already uses this e-mail address."""


def users_table(metadata: sa.MetaData) -> sa.Table:
    """The `lr_users` table on the given metadata."""
    return sa.Table(
        "lr_users", metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False, server_default=""),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("staff_id", sa.BigInteger),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_login_at", UTCDateTime()),
    )


@dataclass(frozen=True)
class User:
    """A signed-in person as the web layer sees them (never the password hash)."""

    id: int
    email: str
    name: str
    staff_id: int | None
    roles: tuple[str, ...]
    active: bool


def _user(row) -> User:
    return User(id=row["id"], email=row["email"], name=row["name"] or row["email"],
                staff_id=row["staff_id"], roles=tuple(row["roles"] or ()),
                active=bool(row["active"]))


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 254 or " " in email:
        raise AccountError(f"'{email}' is not an e-mail address (like name@example.com)")
    return email


class Accounts:
    """Create, find and check user accounts stored in `lr_users`."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.table = users_table(sa.MetaData())
        self._ready = False

    def ensure_table(self) -> None:
        """Create `lr_users` when it does not exist yet."""
        if not self._ready:
            self.table.create(self.engine, checkfirst=True)
            self._ready = True

    def add(self, email: str, password: str, *, name: str = "", staff_id: int | None = None,
            roles: Iterable[str] = (), active: bool = True) -> User:
        """Create an account; DuplicateEmail when the address is taken."""
        self.ensure_table()
        email = normalise_email(email)
        _check_password(password)
        t = self.table
        with self.engine.begin() as conn:
            if conn.execute(sa.select(t.c.id).where(t.c.email == email)).first():
                raise DuplicateEmail(f"an account for {email} already exists")
            rid = conn.execute(t.insert().values(
                email=email, name=name or email.split("@")[0], staff_id=staff_id,
                password_hash=_hasher.hash(password), roles=sorted(set(roles)), active=active,
                created_at=datetime.now(UTC)).returning(t.c.id)).scalar_one()
        return self.get(rid)

    def get(self, user_id: int) -> User | None:
        """The account with this id, or None."""
        self.ensure_table()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(self.table).where(self.table.c.id == user_id)
                               ).mappings().first()
        return _user(row) if row else None

    def by_email(self, email: str) -> User | None:
        self.ensure_table()
        t = self.table
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.email == (email or "").strip().lower())
                               ).mappings().first()
        return _user(row) if row else None

    def list(self) -> list[User]:
        self.ensure_table()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(self.table).order_by(self.table.c.email)).mappings()
            return [_user(r) for r in rows]

    def authenticate(self, email: str, password: str) -> User | None:
        """The active account whose password this is, or None (never says which part was wrong)."""
        self.ensure_table()
        t = self.table
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.email == (email or "").strip().lower())
                               ).mappings().first()
        stored = row["password_hash"] if row else _DUMMY_HASH
        try:
            _hasher.verify(stored, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None or not row["active"]:
            return None
        values = {"last_login_at": datetime.now(UTC)}
        if _hasher.check_needs_rehash(stored):
            values["password_hash"] = _hasher.hash(password)
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.id == row["id"]).values(**values))
        return _user(row)

    def set_password(self, user_id: int, password: str) -> None:
        _check_password(password)
        self._set(user_id, password_hash=_hasher.hash(password))

    def set_active(self, user_id: int, active: bool) -> None:
        self._set(user_id, active=active)

    def set_roles(self, user_id: int, roles: Iterable[str]) -> None:
        self._set(user_id, roles=sorted(set(roles)))

    def link_staff(self, user_id: int, staff_id: int | None) -> None:
        self._set(user_id, staff_id=staff_id)

    def _set(self, user_id: int, **values) -> None:
        self.ensure_table()
        t = self.table
        with self.engine.begin() as conn:
            if conn.execute(t.update().where(t.c.id == user_id).values(**values)).rowcount != 1:
                raise AccountError(f"there is no account #{user_id}")


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
