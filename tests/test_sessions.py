"""Sessions kept in the database: signing out ends one, idle and absolute timeouts end the
rest, the cookie is only a random token (Secure over HTTPS), and a person can end their other
sessions. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import sqlalchemy as sa

from test_web_support import AuthActions, build_app, make_workspace

pytest_plugins = ["test_web_support"]

NEW = "violet tram at dusk 9"


def _cookie(client) -> str:
    return client.get_cookie("session").value


def _replay(app, token: str):
    """Another browser holding a copy of a cookie."""
    other = app.test_client()
    other.set_cookie("session", token)
    return other


def _rows(run):
    t = run.accounts.sessions.table
    with run.engine.connect() as conn:
        return conn.execute(sa.select(t)).mappings().all()


def test_sign_out_ends_the_session_a_saved_cookie_opens_nothing(app, client, auth, run):
    assert auth.login().status_code == 302
    saved = _cookie(client)
    assert _replay(app, saved).get("/r/deal/").status_code == 200
    assert _replay(app, saved).get("/api/v1/deal").status_code == 200
    assert auth.logout().status_code == 302
    copy = _replay(app, saved)
    resp = copy.get("/r/deal/")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/auth/login")
    assert copy.get("/api/v1/deal").status_code == 401
    assert "session=;" in resp.headers.get("Set-Cookie", "")  # the dead cookie is cleared
    assert not any(r["user_id"] for r in _rows(run))  # no signed-in row is left


def test_the_cookie_is_a_random_token_and_sign_in_gives_a_new_one(app, client, auth, run):
    client.get("/auth/login")
    before = _cookie(client)  # the sign-in page's session (its CSRF token)
    assert auth.login().status_code == 302
    token = _cookie(client)
    assert token != before and re.fullmatch(r"[A-Za-z0-9_-]{40,}", token)
    assert _replay(app, before).get("/r/deal/").status_code == 302  # fixation: worth nothing
    rows = [r for r in _rows(run) if r["user_id"]]
    assert len(rows) == 1 and token not in str(dict(rows[0]))  # stored by its SHA-256 only
    assert rows[0]["user_agent"] and rows[0]["address"] == "127.0.0.1"


def test_flashes_and_the_locale_live_in_the_session(client, auth):
    client.get("/locale/zh?next=/")
    assert auth.login().status_code == 302
    page = client.get("/r/deal/")
    assert 'lang="zh"' in page.text
    auth.logout()
    page = client.get("/auth/login")
    assert 'lang="zh"' in page.text and "您已退出登录" in page.text  # the flash, in zh


def _clock(app, start):
    now = [start]
    app.session_interface.store.clock = lambda: now[0]
    return now


def test_idle_timeout_ends_an_unused_session(tmp_path, db_url):
    app = build_app(tmp_path, db_url, make_workspace(), LOWRISE_SESSION_IDLE_TIMEOUT=600)
    try:
        now = _clock(app, datetime.now(UTC))
        client = app.test_client()
        assert AuthActions(client).login().status_code == 302
        for _ in range(5):  # used every 9 minutes: it goes on past the 10 minutes
            now[0] += timedelta(minutes=9)
            assert client.get("/r/deal/").status_code == 200
        now[0] += timedelta(seconds=601)
        assert client.get("/r/deal/").status_code == 302
    finally:
        app.extensions["lowrise"].engine.dispose()


def test_default_timeouts_and_the_absolute_lifetime(tmp_path, db_url):
    app = build_app(tmp_path, db_url, make_workspace(), LOWRISE_SESSION_LIFETIME=3600)
    try:
        assert app.session_interface.store.idle == 8 * 3600
        now = _clock(app, datetime.now(UTC))
        client = app.test_client()
        resp = AuthActions(client).login()
        expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)",
                                                  resp.headers["Set-Cookie"]).group(1))
        assert abs((expires - now[0]).total_seconds() - 3600) < 5  # the cookie ends with it
        for _ in range(3):  # however busy, the session ends an hour after signing in
            now[0] += timedelta(minutes=19)
            assert client.get("/r/deal/").status_code == 200
        now[0] += timedelta(minutes=4)
        assert client.get("/r/deal/").status_code == 302
    finally:
        app.extensions["lowrise"].engine.dispose()


def test_cookie_flags_secure_over_https_or_when_set(app):
    page = app.test_client().get("/auth/login")
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    https = app.test_client().get("/auth/login", base_url="https://localhost")
    assert "Secure" in https.headers["Set-Cookie"]
    app.config["SESSION_COOKIE_SECURE"] = True  # behind a proxy that ends TLS, say
    assert "Secure" in app.test_client().get("/auth/login").headers["Set-Cookie"]


def test_sign_out_everywhere_else(app, client, signed_in, run):
    phone = app.test_client()
    phone.environ_base["HTTP_USER_AGENT"] = "Phone browser 1.0"
    assert AuthActions(phone).login().status_code == 302
    page = client.get("/account/password")
    assert "Phone browser 1.0" in page.text and "(this session)" in page.text
    resp = signed_in.post("/account/sessions/end")
    assert resp.status_code == 302
    assert "Signed out of 1 other session(s)." in client.get("/account/password").text
    assert client.get("/r/deal/").status_code == 200  # this one goes on
    assert phone.get("/r/deal/").status_code == 302
    assert "Phone browser" not in client.get("/account/password").text
    client.get("/locale/zh?next=/")
    signed_in.post("/account/sessions/end")
    assert "已退出其他 0 个会话" in client.get("/account/password").text


def test_password_change_and_deactivation_delete_the_sessions(app, client, signed_in, run):
    other = app.test_client()
    assert AuthActions(other).login().status_code == 302
    me = run.accounts.by_email("ada@example.com")
    assert len([r for r in _rows(run) if r["user_id"] == me.id]) == 2
    ok = signed_in.post("/account/password", data={"current": "correct horse battery",
                                                   "new": NEW, "again": NEW})
    assert ok.status_code == 302
    assert len([r for r in _rows(run) if r["user_id"] == me.id]) == 1  # this one only
    assert other.get("/r/deal/").status_code == 302
    # the command line's `lowrise user password` ends them too (the engine's call)
    run.accounts.set_password(me.id, "another violet tram 10")
    assert not [r for r in _rows(run) if r["user_id"] == me.id]
    assert client.get("/r/deal/").status_code == 302
    bob = run.accounts.add("bob@example.com", NEW, roles=["admin"])
    bobs = app.test_client()
    assert AuthActions(bobs).login(email=bob.email, password=NEW).status_code == 302
    run.accounts.set_active(bob.id, False)
    assert not [r for r in _rows(run) if r["user_id"] == bob.id]
    assert bobs.get("/r/deal/").status_code == 302
