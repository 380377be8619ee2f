"""Every setting of an instance, in one list: its environment variable, its default, what it
does, and who reads it.

`create_app` loads the web app's settings from here (defaults, then `instance/config.py`,
then the environment, then a test's own); `lowrise serve --production` reads the server's
from here too. The worker reads its e-mail and webhook settings from the environment where it
sends (rules/outbox.py); they are listed here so that docs/deploy.md has them all in one
table, which a test compares with this list.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lowrise.errors import LowriseError

APP, SERVER, WORKER = "app", "server", "worker"


class SettingError(LowriseError):
    """A setting in the environment has a value it cannot take; the message says which."""


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("is not a yes/no value (use 1 or 0, true or false)")


def _whole(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("is not a whole number") from None
    if value < 0:
        raise ValueError("is negative")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError("is not a number of seconds") from None
    if not value >= 0:  # also refuses nan
        raise ValueError("is negative")
    return value


def _text(text: str) -> str:
    return text


def _choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in options:
            raise ValueError(f"is not one of: {', '.join(options)}")
        return value
    return parse


@dataclass(frozen=True)
class Setting:
    """One setting: `env` is its environment variable, `key` its name in the app's config."""

    env: str
    default: Any
    doc: str
    parse: Callable[[str], Any] = _text
    scope: str = APP
    key: str = ""
    #: the default as docs/deploy.md shows it, when `default` alone does not say it
    shown: str = ""

    @property
    def config_key(self) -> str:
        return self.key or self.env

    def read(self, text: str) -> Any:
        try:
            return self.parse(text)
        except ValueError as exc:
            raise SettingError(f"{self.env}={text!r} {exc}") from None


def cpu_count() -> int:
    """The processors this process may run on (what the web process count defaults to)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


S = Setting
SETTINGS: tuple[Setting, ...] = (
    # -- where things are -------------------------------------------------------------------
    S("LOWRISE_WORKSPACE", None, "the workspace folder (workspace.yaml, schemas/, views/, "
      "automations/)", shown="the current folder"),
    S("LOWRISE_INSTANCE", "instance", "the folder of the SQLite database, uploads and the "
      "generated secret key"),
    S("DATABASE_URL", None, "any SQLAlchemy URL; `postgresql://user@host/db` uses psycopg 3",
      shown="SQLite file `<instance>/lowrise.db`"),
    S("SECRET_KEY", None, "signs sessions and forms; every web process of an instance needs "
      "the same one", shown="generated into `<instance>/secret_key`"),
    # -- the app ----------------------------------------------------------------------------
    S("LOWRISE_AUTO_MIGRATE", True, "create missing tables and columns when the app starts "
      "(as `lowrise migrate --yes` would, never dropping anything)", _bool),
    S("LOWRISE_WATCH", None, "pick up edits of the workspace's YAML without a restart",
      _bool, shown="on (off in tests)"),
    S("LOWRISE_WATCH_INTERVAL", 1.0, "seconds between two looks at the YAML files", _seconds),
    S("LOWRISE_RULES", True, "run the automation rules on every write made through the web",
      _bool),
    S("LOWRISE_PAGE_SIZE", 50, "rows per page of a table view that does not say", _whole),
    S("LOWRISE_KANBAN_PAGE", 20, "cards per kanban column before \"load more\"", _whole),
    S("LOWRISE_KANBAN_INLINE", 5000, "up to this many records a board comes with its cards; "
      "above, each column loads its own", _whole),
    S("LOWRISE_DASHBOARD_CACHE_SECONDS", 60.0, "how long a dashboard widget's figures are "
      "kept (0: not kept)", _seconds),
    S("LOWRISE_DASHBOARD_WORKERS", 1, "threads that compute one dashboard's widgets", _whole),
    S("LOWRISE_MAX_UPLOAD", 64 * 1024 * 1024, "largest request body in bytes (uploads, "
      "imports); a field's own max_size is checked too", _whole, key="MAX_CONTENT_LENGTH",
      shown="67108864 (64 MiB)"),
    S("LOWRISE_WORKSPACES_DIR", None, "where the template gallery makes new workspaces",
      shown="`<instance>/workspaces`"),
    S("LOWRISE_WORKSPACES_ABSOLUTE", False, "the gallery may make a workspace at any "
      "absolute path", _bool),
    # -- sign-in ----------------------------------------------------------------------------
    S("LOWRISE_LOGIN_ATTEMPTS", 5, "failed sign-ins for one address from one client in the "
      "window before it waits", _whole),
    S("LOWRISE_LOGIN_PER_CLIENT", 30, "failed sign-ins from one client (any address) in the "
      "window", _whole),
    S("LOWRISE_LOGIN_PER_EMAIL", 100, "failed sign-ins for one address (any client) in the "
      "window", _whole),
    S("LOWRISE_LOGIN_WINDOW", 900.0, "the sign-in limits' window, in seconds", _seconds),
    S("LOWRISE_SESSION_IDLE_TIMEOUT", 8 * 3600, "seconds a session may stay unused before "
      "it ends (the person signs in again)", _whole, shown="28800 (8 hours)"),
    S("LOWRISE_SESSION_LIFETIME", 7 * 24 * 3600, "seconds a session lasts after signing in, "
      "used or not", _whole, shown="604800 (7 days)"),
    S("LOWRISE_CLASH_LIMIT", 5, "values already registered to records a person may not read "
      "in full that one person may try in the window before such writes pause", _whole),
    S("LOWRISE_CLASH_WINDOW", 600, "that window, in seconds", _whole),
    S("LOWRISE_BUSY_TIMEOUT", None, "SQLite: seconds a request waits for another's write "
      "lock before the database answers as unavailable (503)", _seconds, shown="10"),
    S("LOWRISE_PASSWORD_HASHING", "rfc9106-low-memory", "argon2id parameters of password "
      "hashes: `rfc9106-low-memory` (64 MiB, 3 passes) or `rfc9106-high-memory` (2 GiB, "
      "1 pass); `test-only-cheapest` is for the test suite only", scope=WORKER),
    # -- behind a proxy, logs, health ------------------------------------------------------
    S("LOWRISE_TRUSTED_PROXIES", 0, "how many reverse proxies stand in front of the app: the "
      "client's address, the scheme (https) and the host are then taken from that many "
      "X-Forwarded-For / -Proto / -Host entries; 0 ignores those headers", _whole),
    S("LOWRISE_SECURE_COOKIES", False, "mark the session cookie Secure, so that browsers send "
      "it over HTTPS only: set it when the site is served over HTTPS", _bool,
      key="SESSION_COOKIE_SECURE"),
    S("LOWRISE_LOG_FORMAT", "text", "`json`: one JSON line per request (method, path, status, "
      "duration, request id, user id) and for every other log line; `text`: the server's "
      "usual lines", _choice("text", "json")),
    S("LOWRISE_WORKER_STALE", 60.0, "/readyz reports the rules worker missing when none has "
      "written its heartbeat for this many seconds", _seconds),
    # -- live updates (docs/deploy.md#live-updates) -------------------------------------------
    S("LOWRISE_LIVE", True, "pages update when someone else changes a record (server-sent "
      "events at /live/events)", _bool),
    S("LOWRISE_LIVE_STREAMS", 32, "live pages one web process follows at once; each holds "
      "one of its threads (`lowrise serve --production` adds them to LOWRISE_WEB_THREADS)",
      _whole),
    S("LOWRISE_LIVE_PER_USER", 6, "live pages one person may have open on one web process "
      "(more are refused with 429 and updated on reload)", _whole),
    S("LOWRISE_LIVE_HEARTBEAT", 15.0, "seconds between two keep-alive lines of a quiet live "
      "stream (the session is looked at again then)", _seconds),
    S("LOWRISE_LIVE_STREAM_SECONDS", 300.0, "seconds a live stream lasts before the browser "
      "reconnects (with Last-Event-ID: nothing is missed)", _seconds),
    S("LOWRISE_LIVE_POLL", 0.25, "seconds between two looks at the change log (SQLite; on "
      "PostgreSQL LISTEN/NOTIFY wakes the process at once)", _seconds),
    S("LOWRISE_LIVE_KEEP", 3600.0, "seconds the change log keeps a change (a page away longer "
      "reloads whole)", _seconds),
    S("LOWRISE_NULL_POOL", False, "open a database connection per use instead of keeping a "
      "pool (tests)", _bool),
    # -- `lowrise serve --production` -------------------------------------------------------
    S("LOWRISE_HOST", "127.0.0.1", "the address `lowrise serve` listens on (`0.0.0.0`: every "
      "interface)", scope=SERVER),
    S("LOWRISE_PORT", 5000, "the port the server listens on",
      _whole, scope=SERVER),
    S("LOWRISE_WEB_PROCESSES", None, "web processes of `lowrise serve --production`", _whole,
      scope=SERVER, shown="the number of CPUs"),
    S("LOWRISE_WEB_THREADS", 4, "threads of each web process (each holds one request)", _whole,
      scope=SERVER),
    S("LOWRISE_KEEPALIVE", 5, "seconds an idle HTTP connection stays open for its next "
      "request", _whole, scope=SERVER),
    # -- the worker (read where it sends) ----------------------------------------------------
    S("LOWRISE_SMTP_HOST", None, "the SMTP server for e-mail actions (without it e-mails wait "
      "in the outbox)", scope=WORKER),
    S("LOWRISE_SMTP_PORT", "587", "its port", scope=WORKER),
    S("LOWRISE_SMTP_USER", None, "its user name", scope=WORKER),
    S("LOWRISE_SMTP_PASSWORD", None, "its password", scope=WORKER),
    S("LOWRISE_SMTP_FROM", "lowrise@localhost", "the sender address", scope=WORKER),
    S("LOWRISE_SMTP_STARTTLS", "1", "0: no STARTTLS", scope=WORKER),
    S("LOWRISE_BASE_URL", None, "the address people open the app at "
      "(`https://crm.example.com`): an e-mail about a record ends with a link to it there "
      "(without it, no link)", scope=WORKER),
    S("LOWRISE_WEBHOOK_ALLOW", None, "private hosts or networks webhooks may call "
      "(comma-separated, `*` for any); public addresses always", scope=WORKER),
)
del S

BY_ENV = {s.env: s for s in SETTINGS}


def defaults(scope: str = APP) -> dict[str, Any]:
    """The config keys of `scope` with their defaults."""
    return {s.config_key: s.default for s in SETTINGS if s.scope == scope}


def from_environment(environ: Mapping[str, str] | None = None, scope: str = APP
                     ) -> dict[str, Any]:
    """The settings of `scope` the environment gives (config key -> parsed value); a value a
    setting cannot take raises SettingError naming the variable."""
    environ = os.environ if environ is None else environ
    out = {}
    for s in SETTINGS:
        if s.scope == scope and environ.get(s.env, "") != "":
            out[s.config_key] = s.read(environ[s.env])
    return out


def server_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The server's settings: defaults, then the environment (config key -> value)."""
    out = {**defaults(SERVER), **defaults(APP), **from_environment(environ, SERVER),
           **from_environment(environ, APP)}
    if not out.get("LOWRISE_WEB_PROCESSES"):
        out["LOWRISE_WEB_PROCESSES"] = cpu_count()
    return out
