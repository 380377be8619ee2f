"""Flask sessions kept in the database (`lowrise.sessions`): the cookie is a random token.

Why our own SessionInterface and not Flask-Session: its SQL backend is built on
Flask-SQLAlchemy's models and session, a second way to reach the database next to the
engine's SQLAlchemy Core (and its SQLite write transactions), for what is one table and a
few statements here. Keeping it on `lowrise.sessions` also lets the engine (a new password,
a deactivated account, `lowrise user password`) end sessions without Flask.

What it does:
- the cookie carries only the token; what the session holds (the account, the locale,
  flashed messages, the CSRF token) is stored in `lr_sessions` as Flask's tagged JSON;
- a row is made only when a session first holds something, and written only when it
  changed, or to note that it is still used (at most once a minute);
- signing in gives a new token (`renew()`: a token planted before sign-in is worth
  nothing), signing out deletes the row (`renew()` again: the saved cookie opens nothing);
- a session ends after LOWRISE_SESSION_IDLE_TIMEOUT seconds unused (8 hours) and at the
  latest LOWRISE_SESSION_LIFETIME seconds after it began (7 days); the cookie expires then;
- the cookie is `Secure` when the request came over HTTPS, always with
  SESSION_COOKIE_SECURE; it is `HttpOnly` and `SameSite=Lax` as before.

When the database cannot be reached, the session is marked with the error and the request
is answered by the database error pages (`web/dberrors.py`), never half signed in.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import Flask, Request, Response, request, session
from flask.sessions import SecureCookieSession, SessionInterface, session_json_serializer

from lowrise.sessions import IDLE, LIFETIME, Session, Sessions

log = logging.getLogger(__name__)


class ServerSession(SecureCookieSession):
    """A session whose data lives in `lr_sessions`; the cookie holds `token` only."""

    def __init__(self, initial: dict[str, Any] | None = None, *, token: str | None = None,
                 row: Session | None = None, stale_cookie: bool = False):
        super().__init__(initial)
        self.token, self.row, self.stale_cookie = token, row, stale_cookie
        #: set by renew(): end this session's row and carry the data over to a new token
        self.renew = False
        #: the database error met while loading: the request is answered with it
        self.error: Exception | None = None
        #: whether saving makes, renews or ends the row (the answer relies on that)
        self.vital = False


class DatabaseSessionInterface(SessionInterface):
    """Sessions in `lr_sessions` through `lowrise.sessions.Sessions`."""

    serializer = session_json_serializer

    def __init__(self, store: Sessions):
        self.store = store

    def open_session(self, app: Flask, req: Request) -> ServerSession:
        token = req.cookies.get(self.get_cookie_name(app))
        if not token or req.path.startswith((app.static_url_path or "/static") + "/"):
            return ServerSession()
        try:
            row = self.store.load(token)
        except sa.exc.DBAPIError as exc:
            broken = ServerSession()
            broken.error = exc
            return broken
        if row is None:
            return ServerSession(stale_cookie=True)
        try:
            data = self.serializer.loads(row.data) if row.data else {}
        except ValueError:
            data = {}
        return ServerSession(data, token=token, row=row)

    def save_session(self, app: Flask, s: ServerSession, response: Response) -> None:  # type: ignore[override]
        if s.error is not None:
            return
        if s.accessed:
            response.vary.add("Cookie")
        try:
            self._save(app, s, response)
        except sa.exc.DBAPIError as exc:
            if not s.vital:
                # a change to a session that goes on (a message read, "last used"): not worth
                # failing the answer for; the next request meets the trouble itself
                log.warning("could not save the session (database unavailable)", exc_info=True)
                return
            # a session that could not be made, renewed or ended: the answer relies on it
            # (a form's CSRF token, signing in or out), so it is the database's error instead
            from .failures import unavailable

            _replace(response, unavailable(exc))

    def _save(self, app: Flask, s: ServerSession, response: Response) -> None:
        s.vital = s.token is None or s.renew or (not s and s.modified)
        if s.token and (s.renew or (not s and s.modified)):
            self.store.end(s.token)
            s.token = None
        if not s:
            if s.modified or s.stale_cookie or s.renew:
                self._delete_cookie(app, response)
            return
        data, uid = self.serializer.dumps(dict(s)), _user_id(s)
        if s.token is None:
            if not (s.modified or s.renew):
                return
            token, row = self.store.create(
                data, user_id=uid, user_agent=request.user_agent.string or "",
                address=request.remote_addr or "")
            self._set_cookie(app, response, token, row)
        elif s.modified:
            self.store.save(s.token, data, user_id=uid)
        elif s.row is not None and self.store.stale(s.row):
            self.store.touch(s.token)

    def _cookie_args(self, app: Flask) -> dict[str, Any]:
        return {"domain": self.get_cookie_domain(app), "path": self.get_cookie_path(app),
                "secure": bool(self.get_cookie_secure(app) or request.is_secure),
                "samesite": self.get_cookie_samesite(app),
                "httponly": self.get_cookie_httponly(app)}

    def _set_cookie(self, app: Flask, response: Response, token: str, row: Session) -> None:
        response.set_cookie(self.get_cookie_name(app), token,
                            expires=row.created_at + _seconds(self.store.lifetime),
                            **self._cookie_args(app))
        response.vary.add("Cookie")

    def _delete_cookie(self, app: Flask, response: Response) -> None:
        response.delete_cookie(self.get_cookie_name(app), **self._cookie_args(app))
        response.vary.add("Cookie")


def _replace(response: Response, other: Response) -> None:
    """Make `response` (already built by the view) say what `other` says."""
    response.status_code = other.status_code
    response.set_data(other.get_data())
    for name in ("Location", "Set-Cookie", "HX-Trigger", "HX-Redirect"):
        response.headers.pop(name, None)
    for name, value in other.headers.items():
        if name.lower() != "content-length":
            response.headers[name] = value


def _seconds(n: float):
    from datetime import timedelta

    return timedelta(seconds=n)


def _user_id(s: ServerSession) -> int | None:
    uid = s.get("uid")
    return uid if isinstance(uid, int) else None


def renew() -> None:
    """Give this session a new token when the response is sent, ending the old one (call on
    signing in and out: the data carries over, a copy of the old cookie opens nothing)."""
    session.renew = True  # type: ignore[attr-defined]
    session.modified = True


def current_token() -> str | None:
    """This request's session token (None before the session is stored)."""
    return getattr(session, "token", None)


def store() -> Sessions:
    """The app's session store."""
    from flask import current_app

    return current_app.session_interface.store  # type: ignore[attr-defined]


def _raise_load_error() -> None:
    # the first thing each request does: a session that could not be read is a database
    # error, answered by the database error handlers (a 503), not a signed-out page
    error = getattr(session, "error", None)
    if error is not None:
        raise error


def init_app(app: Flask, engine: sa.Engine) -> None:
    cfg = app.config
    sessions = Sessions(engine, idle=float(cfg.get("LOWRISE_SESSION_IDLE_TIMEOUT") or IDLE),
                        lifetime=float(cfg.get("LOWRISE_SESSION_LIFETIME") or LIFETIME))
    sessions.ensure_table()
    app.session_interface = DatabaseSessionInterface(sessions)
    app.before_request_funcs.setdefault(None, []).insert(0, _raise_load_error)
