"""User accounts: who may sign in, with an argon2 password hash, linked to a staff record.

No Flask here, so that the CLI (`lowrise user add`) and tests use the same calls as the web
sign-in. The table is the engine's own (`lr_users`), created on first use.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lowrise import passwords
from lowrise.errors import LowriseError
from lowrise.fields.types import UTCDateTime
from lowrise.i18n import msg
from lowrise.sessions import Sessions
from lowrise.storage.db import write_transaction

# argon2id with RFC 9106's low-memory parameters (64 MiB, 3 passes) unless
# LOWRISE_PASSWORD_HASHING names another profile. `test-only-cheapest` exists for test runs,
# which create and sign in hundreds of accounts: never set it on a real instance.
_PROFILES = {
    "": profiles.RFC_9106_LOW_MEMORY,
    "rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY,
    "rfc9106-high-memory": profiles.RFC_9106_HIGH_MEMORY,
    "test-only-cheapest": profiles.CHEAPEST,
}


def _password_hasher() -> PasswordHasher:
    name = os.environ.get("LOWRISE_PASSWORD_HASHING", "").strip().lower()
    if name not in _PROFILES:
        choices = ", ".join(sorted(k for k in _PROFILES if k))
        raise LowriseError(f"LOWRISE_PASSWORD_HASHING={name!r} is not a password hashing "
                           f"profile; use one of: {choices} (or leave it unset)")
    return PasswordHasher.from_parameters(_PROFILES[name])


log = logging.getLogger(__name__)
_hasher = _password_hasher()
# Verified against when the e-mail is unknown, so that a wrong address costs as much time as
# a wrong password and does not reveal which addresses have accounts.
_DUMMY_HASH = _hasher.hash("lowrise-no-such-user")

MIN_PASSWORD = passwords.MIN_LENGTH


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
        # added later (ensure_table adds it to an older table): the language the person
        # chose (notifications and e-mails are written in it); None: the workspace's
        sa.Column("locale", sa.String(16)),
    )


def tokens_table(metadata: sa.MetaData) -> sa.Table:
    """The `lr_api_tokens` table: one row per API token, holding its SHA-256, never the token."""
    return sa.Table(
        "lr_api_tokens", metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("user_id", sa.BigInteger, nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False, server_default=""),
        # The first characters, shown in lists so that a person can tell their tokens apart.
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime()),
        sa.Column("revoked_at", UTCDateTime()),
        # added later (ensure_table adds them to an older table): nullable, no defaults
        sa.Column("expires_at", UTCDateTime()),  # None: never
        # None: everything the account may do; {"read_only": bool, "types": [names] | None}
        sa.Column("scopes", sa.JSON(none_as_null=True)),
    )


def login_attempts_table(metadata: sa.MetaData) -> sa.Table:
    """The `lr_login_attempts` table: one row per failed sign-in (or password check), kept
    for the rate limit's window, so that every web process on the database counts them."""
    return sa.Table(
        "lr_login_attempts", metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        # seconds since the epoch (UTC): the window is arithmetic on it on both databases
        sa.Column("at", sa.Float(precision=53), nullable=False, index=True),
        sa.Index("ix_lr_login_attempts_client", "client", "at"),
        sa.Index("ix_lr_login_attempts_email", "email", "at"),
    )


TOKEN_PREFIX = "lr_"  # the visible prefix of every token, not a secret  # nosec B105


def _token_hash(token: str) -> str:
    # Tokens are 256 random bits: a plain SHA-256 is enough (no salt or slow hash needed).
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ApiToken:
    """An API token as lists show it (the token itself is shown once, at creation)."""

    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None = None
    scopes: dict | None = None

    @property
    def read_only(self) -> bool:
        return bool((self.scopes or {}).get("read_only"))

    @property
    def types(self) -> list[str] | None:
        """The record types the token reaches (None: every type the account may use)."""
        return (self.scopes or {}).get("types") or None

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC))

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class User:
    """A signed-in person as the web layer sees them (never the password hash)."""

    id: int
    email: str
    name: str
    staff_id: int | None
    roles: tuple[str, ...]
    active: bool
    #: changes with the password: a session carries it, so a new password ends the others
    session_stamp: str = ""
    #: the language the person chose (None: the workspace's)
    locale: str | None = None


def _user(row) -> User:
    stamp = hashlib.sha256(("lowrise-session:" + row["password_hash"]).encode()).hexdigest()
    return User(id=row["id"], email=row["email"], name=row["name"] or row["email"],
                staff_id=row["staff_id"], roles=tuple(row["roles"] or ()),
                active=bool(row["active"]), session_stamp=stamp[:16],
                locale=row.get("locale"))


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 254 or " " in email:
        raise AccountError(msg("'%(email)s' is not an e-mail address (like name@example.com)",
                               email=email))
    return email


class Accounts:
    """Create, find and check user accounts stored in `lr_users`."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        meta = sa.MetaData()
        self.table = users_table(meta)
        self.tokens = tokens_table(meta)
        self.attempts = login_attempts_table(meta)
        #: the accounts' browser sessions: a new password or a deactivation ends them
        self.sessions = Sessions(engine)
        self._ready = False

    def ensure_table(self) -> None:
        """Create `lr_users`, `lr_api_tokens`, `lr_login_attempts` and `lr_sessions` when
        they do not exist."""
        if not self._ready:
            self.table.create(self.engine, checkfirst=True)
            _add_missing_columns(self.engine, self.table)
            self.tokens.create(self.engine, checkfirst=True)
            _add_missing_columns(self.engine, self.tokens)
            self.attempts.create(self.engine, checkfirst=True)
            self.sessions.ensure_table()
            self._ready = True

    def add(self, email: str, password: str, *, name: str = "", staff_id: int | None = None,
            roles: Iterable[str] = (), active: bool = True) -> User:
        """Create an account; DuplicateEmail when the address is taken."""
        self.ensure_table()
        email = normalise_email(email)
        _check_password(password, email=email, name=name)
        t = self.table
        with write_transaction(self.engine) as conn:
            if conn.execute(sa.select(t.c.id).where(t.c.email == email)).first():
                raise DuplicateEmail(msg("an account for %(email)s already exists",
                                         email=email))
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
        with write_transaction(self.engine) as conn:
            conn.execute(t.update().where(t.c.id == row["id"]).values(**values))
        return _user({**row, **values})

    def set_password(self, user_id: int, password: str, *, keep_session: str | None = None
                     ) -> None:
        """A new password (checked by `lowrise.passwords`); every session of the account
        ends, except the one whose cookie token is `keep_session` (the person's own)."""
        user = self.get(user_id)
        if user is None:
            raise AccountError(msg("there is no account #%(id)s", id=user_id))
        _check_password(password, email=user.email, name=user.name)
        self._set(user_id, password_hash=_hasher.hash(password))
        self.sessions.end_for_user(user_id, keep=keep_session)

    def set_active(self, user_id: int, active: bool) -> None:
        """Let the account sign in, or not (a deactivated account's sessions end)."""
        self._set(user_id, active=active)
        if not active:
            self.sessions.end_for_user(user_id)

    def set_roles(self, user_id: int, roles: Iterable[str]) -> None:
        self._set(user_id, roles=sorted(set(roles)))

    def set_locale(self, user_id: int, locale: str | None) -> None:
        """The language the person chose: their notifications and e-mails are in it."""
        self._set(user_id, locale=locale)

    def link_staff(self, user_id: int, staff_id: int | None) -> None:
        self._set(user_id, staff_id=staff_id)

    def _set(self, user_id: int, **values) -> None:
        self.ensure_table()
        t = self.table
        with write_transaction(self.engine) as conn:
            if conn.execute(t.update().where(t.c.id == user_id).values(**values)).rowcount != 1:
                raise AccountError(msg("there is no account #%(id)s", id=user_id))


    # -- API tokens ---------------------------------------------------------------------
    def create_token(self, user_id: int, name: str = "", *, expires_at: datetime | None = None,
                     read_only: bool = False, types: Iterable[str] | None = None
                     ) -> tuple[str, ApiToken]:
        """A new API token for an account: (the token, shown only now; its stored record).
        `read_only`: reads only; `types`: only these record types; `expires_at`: refused
        from then on. Within those, the token does what its account may."""
        self.ensure_table()
        if self.get(user_id) is None:
            raise AccountError(msg("there is no account #%(id)s", id=user_id))
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        t = self.tokens
        with write_transaction(self.engine) as conn:
            tid = conn.execute(t.insert().values(
                user_id=user_id, name=(name or "").strip()[:100], prefix=token[:10],
                token_hash=_token_hash(token), created_at=datetime.now(UTC),
                expires_at=expires_at,
                scopes=({"read_only": read_only, "types": sorted(types) if types else None}
                        if read_only or types else None)
            ).returning(t.c.id)).scalar_one()
            row = conn.execute(sa.select(t).where(t.c.id == tid)).mappings().one()
        return token, _token(row)

    def list_tokens(self, user_id: int) -> list[ApiToken]:
        """An account's tokens, newest first (revoked ones included, marked)."""
        self.ensure_table()
        t = self.tokens
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.user_id == user_id)
                                .order_by(t.c.id.desc())).mappings()
            return [_token(r) for r in rows]

    def revoke_token(self, token_id: int, *, user_id: int | None = None) -> None:
        """Revoke a token (of `user_id` when given: nobody revokes another person's token)."""
        self.ensure_table()
        t = self.tokens
        cond = [t.c.id == token_id, t.c.revoked_at.is_(None)]
        if user_id is not None:
            cond.append(t.c.user_id == user_id)
        with write_transaction(self.engine) as conn:
            if conn.execute(t.update().where(*cond).values(
                    revoked_at=datetime.now(UTC))).rowcount != 1:
                raise AccountError(msg("there is no active token #%(id)s", id=token_id))

    def authenticate_token(self, token: str) -> User | None:
        """The active account an unrevoked, unexpired token belongs to, or None."""
        found = self.token_login(token)
        return found[0] if found else None

    def token_login(self, token: str) -> tuple[User, ApiToken] | None:
        """(the account, the token's record) for an unrevoked, unexpired token of an active
        account, or None."""
        if not token or not token.startswith(TOKEN_PREFIX):
            return None
        self.ensure_table()
        t = self.tokens
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(
                t.c.token_hash == _token_hash(token), t.c.revoked_at.is_(None))).mappings().first()
        if row is None:
            return None
        info = _token(row)
        now = datetime.now(UTC)
        if info.expired(now):
            return None
        user = self.get(row["user_id"])
        if user is None or not user.active:
            return None
        # At most one write a minute per token: a busy client must not turn reads into writes.
        if row["last_used_at"] is None or (now - row["last_used_at"]).total_seconds() > 60:
            self._token_used(row["id"], now)
        return user, info

    def _token_used(self, token_id: int, now: datetime) -> None:
        """Note when a token was last used, if the database takes a write now: a database
        locked by a long import, or read-only, must not fail the read the token is for."""
        t = self.tokens
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(t.update().where(t.c.id == token_id).values(last_used_at=now))
        except sa.exc.OperationalError:
            log.warning("could not note the use of API token #%s (database busy or "
                        "read-only); the request goes on", token_id)


class LoginLimit:
    """The sign-in rate limit, shared by every process on the database (`lr_login_attempts`).

    A sliding window of `window` seconds: at most `attempts` failures for one address from
    one client, `per_client` from one client whatever the address, and `per_email` for one
    address whatever the client (0: no such limit). Rows older than the window are deleted
    as new ones come.
    """

    def __init__(self, accounts: Accounts, *, attempts: int = 5, per_client: int = 30,
                 per_email: int = 100, window: float = 900.0,
                 clock: Callable[[], float] = time.time):
        self.accounts, self.clock = accounts, clock
        self.attempts, self.per_client, self.per_email, self.window = \
            attempts, per_client, per_email, window

    @staticmethod
    def _key(client: str, email: str) -> tuple[str, str]:
        # cut to the columns' sizes: an overlong input is still counted, never an error
        return (client or "")[:64], (email or "").strip().lower()[:254]

    def _limits(self, client: str, email: str):
        t = self.accounts.attempts
        yield sa.and_(t.c.client == client, t.c.email == email), self.attempts
        if self.per_client:
            yield t.c.client == client, self.per_client
        if self.per_email and email:
            yield t.c.email == email, self.per_email

    def _wait(self, conn: sa.Connection, client: str, email: str, now: float,
              extra: int = 0) -> int:
        """Seconds until every limit has room for one more attempt (0: it has now)."""
        t, since = self.accounts.attempts, now - self.window
        wait = 0.0
        for cond, limit in self._limits(client, email):
            n = conn.execute(sa.select(sa.func.count()).select_from(t).where(
                cond, t.c.at > since)).scalar_one() - extra
            if n >= limit:
                # room comes when the (n - limit + 1)th oldest attempt leaves the window
                oldest = conn.execute(sa.select(t.c.at).where(cond, t.c.at > since)
                                      .order_by(t.c.at).offset(n - limit).limit(1)).scalar()
                wait = max(wait, (oldest or now) + self.window - now)
        return max(1, int(wait) + 1) if wait else 0

    def retry_after(self, client: str, email: str) -> int:
        """Seconds to wait before trying again (0: go ahead)."""
        self.accounts.ensure_table()
        client, email = self._key(client, email)
        with self.accounts.engine.connect() as conn:
            return self._wait(conn, client, email, self.clock())

    def reserve(self, client: str, email: str) -> int:
        """Count an attempt before checking the password, then see whether it was allowed:
        0 (go ahead; call `succeeded` if the password is right) or the seconds to wait (the
        attempt is not counted). Counting first means that requests racing in parallel, in
        one process or several, never get more than the limit between them."""
        self.accounts.ensure_table()
        client, email = self._key(client, email)
        t, now = self.accounts.attempts, self.clock()
        with write_transaction(self.accounts.engine) as conn:
            rid = conn.execute(t.insert().values(client=client, email=email, at=now)
                               .returning(t.c.id)).scalar_one()
        # reads, then deletes: a write transaction from the start, or SQLite could not turn
        # the read into a write once another sign-in wrote meanwhile ("database is locked")
        with write_transaction(self.accounts.engine) as conn:
            wait = self._wait(conn, client, email, now, extra=1)
            if wait:
                conn.execute(t.delete().where(t.c.id == rid))
            else:
                conn.execute(t.delete().where(t.c.at <= now - self.window))
        return wait

    def failed(self, client: str, email: str) -> None:
        """Count a failed attempt."""
        self.accounts.ensure_table()
        client, email = self._key(client, email)
        t, now = self.accounts.attempts, self.clock()
        with write_transaction(self.accounts.engine) as conn:
            conn.execute(t.delete().where(t.c.at <= now - self.window))
            conn.execute(t.insert().values(client=client, email=email, at=now))

    def succeeded(self, client: str, email: str) -> None:
        """The right password: this client's failures for this address are forgotten."""
        self.accounts.ensure_table()
        client, email = self._key(client, email)
        t = self.accounts.attempts
        with write_transaction(self.accounts.engine) as conn:
            conn.execute(t.delete().where(t.c.client == client, t.c.email == email))


def _token(row) -> ApiToken:
    return ApiToken(id=row["id"], user_id=row["user_id"], name=row["name"], prefix=row["prefix"],
                    created_at=row["created_at"], last_used_at=row["last_used_at"],
                    revoked_at=row["revoked_at"], expires_at=row.get("expires_at"),
                    scopes=row.get("scopes"))


def _add_missing_columns(engine: sa.Engine, table: sa.Table) -> None:
    """Add to an older table the (nullable) columns it lacks."""
    with engine.connect() as conn:
        have = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
    quote = engine.dialect.identifier_preparer.quote
    for col in table.columns:
        if col.name in have:
            continue
        kind = col.type.compile(dialect=engine.dialect)
        # another process may add it at the same moment: then it is there all the same
        with contextlib.suppress(sa.exc.ProgrammingError, sa.exc.OperationalError), \
                engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {quote(table.name)} ADD COLUMN "
                                 f"{quote(col.name)} {kind}")


def _check_password(password: str, *, email: str = "", name: str = "") -> None:
    if (problem := passwords.problem(password, email=email, name=name)) is not None:
        raise AccountError(problem)
