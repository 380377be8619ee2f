"""Sign-in, sign-out, CSRF, the locale switch and the app factory's configuration."""

from __future__ import annotations

import pytest

from lowrise.accounts import AccountError, Accounts, DuplicateEmail
from test_web_support import PASSWORD, csrf_of, make_workspace

pytest_plugins = ["test_web_support"]


def test_every_page_needs_sign_in(client):
    for url in ("/", "/r/deal/", "/r/deal/new", "/r/deal/kanban/board", "/search?q=x", "/trash"):
        resp = client.get(url)
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith("/auth/login?next=")


def test_htmx_request_without_session_gets_hx_redirect(client):
    resp = client.get("/r/deal/", headers={"HX-Request": "true"})
    assert resp.status_code == 200
    assert resp.headers["HX-Redirect"].startswith("/auth/login")


def test_login_logout(client, auth):
    resp = auth.login()
    assert resp.status_code == 302
    page = client.get("/r/deal/")
    assert page.status_code == 200
    assert "Ada Admin" in page.text
    assert auth.logout().status_code == 302
    assert client.get("/r/deal/").status_code == 302


def test_wrong_password_and_unknown_user_are_refused_alike(client, auth):
    bad = auth.login(password="wrong password")
    unknown = auth.login(email="nobody@example.com")
    assert bad.status_code == unknown.status_code == 401
    assert "wrong" in bad.text
    assert client.get("/r/deal/").status_code == 302


def test_inactive_account_cannot_sign_in_and_is_signed_out(client, auth, run):
    assert auth.login().status_code == 302
    user = run.accounts.by_email("ada@example.com")
    run.accounts.set_active(user.id, False)
    assert client.get("/r/deal/").status_code == 302
    assert auth.login().status_code == 401


def test_login_follows_local_next_only(client, auth):
    page = client.get("/auth/login")
    token = csrf_of(page.text)
    resp = client.post("/auth/login", data={"email": "ada@example.com", "password": PASSWORD,
                                            "csrf_token": token, "next": "/r/deal/"})
    assert resp.headers["Location"] == "/r/deal/"
    client.post("/auth/logout", data={"csrf_token": csrf_of(client.get("/trash").text)})
    token = csrf_of(client.get("/auth/login").text)
    resp = client.post("/auth/login", data={"email": "ada@example.com", "password": PASSWORD,
                                            "csrf_token": token, "next": "//evil.example/x"})
    assert resp.headers["Location"] == "/"


def test_post_without_csrf_token_is_refused(client, auth, run):
    auth.login()
    resp = client.post("/r/deal/new", data={"title": "No token"})
    assert resp.status_code == 400
    resp = client.post("/auth/login", data={"email": "ada@example.com", "password": PASSWORD})
    assert resp.status_code in (400, 401)
    from lowrise.storage import query
    with run.engine.connect() as conn:
        assert query.count(conn, run.schema, "deal") == 0


def test_locale_switch_changes_interface_and_labels(client, signed_in):
    page = client.get("/r/deal/")
    assert "All deals" in page.text and 'lang="en"' in page.text
    resp = client.get("/locale/zh?next=/r/deal/")
    assert resp.headers["Location"] == "/r/deal/"
    page = client.get("/r/deal/")
    assert "全部交易" in page.text and 'lang="zh"' in page.text
    assert "新建" in page.text  # the interface's own words come from the zh catalogue
    client.get("/locale/xx?next=/")
    assert 'lang="zh"' in client.get("/r/deal/").text


def test_secret_key_is_generated_once_and_kept(tmp_path, db_url, monkeypatch):
    from lowrise.web import create_app

    monkeypatch.delenv("SECRET_KEY", raising=False)
    ws = make_workspace()
    inst = tmp_path / "inst"
    cfg = {"LOWRISE_WORKSPACE": ws, "DATABASE_URL": db_url, "LOWRISE_INSTANCE": str(inst),
           "LOWRISE_NULL_POOL": True}
    one = create_app(cfg)
    two = create_app(cfg)
    assert one.config["SECRET_KEY"] == two.config["SECRET_KEY"]
    assert (inst / "secret_key").read_text().strip() == one.config["SECRET_KEY"]
    assert one.config["SIGN_IN_HELP"]  # no accounts yet: serve says how to make one
    for a in (one, two):
        a.extensions["lowrise"].engine.dispose()


def test_config_from_environment(tmp_path, db_url, monkeypatch):
    from lowrise.web import create_app

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SECRET_KEY", "from-env")
    monkeypatch.setenv("LOWRISE_INSTANCE", str(tmp_path / "envinst"))
    app = create_app({"LOWRISE_WORKSPACE": make_workspace(), "LOWRISE_NULL_POOL": True})
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["DATABASE_URL"] == db_url
    assert app.instance_path == str(tmp_path / "envinst")
    app.extensions["lowrise"].engine.dispose()


def test_accounts_api(run):
    accounts: Accounts = run.accounts
    user = accounts.add("Bob@Example.com", "long enough", name="Bob", roles=["manager"])
    assert user.email == "bob@example.com" and user.roles == ("manager",)
    try:
        accounts.add("bob@example.com", "another one1")
    except DuplicateEmail:
        pass
    else:
        raise AssertionError("duplicate e-mail accepted")
    try:
        accounts.add("carol@example.com", "short")
    except AccountError as exc:
        assert "8 characters" in str(exc)
    assert accounts.authenticate("bob@example.com", "long enough").id == user.id
    assert accounts.authenticate("bob@example.com", "wrong") is None
    accounts.set_password(user.id, "new password")
    assert accounts.authenticate("BOB@example.com", "new password") is not None
    accounts.set_roles(user.id, ["admin", "manager"])
    assert accounts.get(user.id).roles == ("admin", "manager")
    with run.engine.connect() as conn:
        stored = conn.exec_driver_sql(
            "select password_hash from lr_users where email = 'bob@example.com'").scalar()
    assert stored.startswith("$argon2id$")


def test_a_late_partial_does_not_undo_the_locale_switch(app, client, auth):
    """A request that began before the locale switch (an htmx partial, the inbox count) and
    answers after it must not set the session back to what it read: only a response whose
    session changed writes it. Replayed with a second client holding the cookie
    from before the switch; whatever cookie its responses set is applied to the browser."""
    assert auth.login().status_code == 302
    assert client.get("/r/deal/").status_code == 200  # the first page after signing in
    before = client.get_cookie("session").value
    late = app.test_client()
    late.set_cookie("session", before)
    assert client.get("/locale/zh?next=/").status_code == 302
    # the session's data changed where it is kept (the database), its cookie did not
    assert client.get_cookie("session").value == before
    for url, headers in (("/inbox/count", {}), ("/r/deal/", {"HX-Request": "true"}),
                         ("/r/deal/", {}), ("/", {})):
        resp = late.get(url, headers=headers)
        assert resp.status_code in (200, 302), url
        assert "Set-Cookie" not in resp.headers, (url, resp.headers["Set-Cookie"])
        cookie = late.get_cookie("session")
        client.set_cookie("session", cookie.value if cookie else before)  # no change
        assert 'lang="zh"' in client.get("/r/deal/").text, url
    # pages, partials and the token of forms leave an unchanged session alone
    for url in ("/", "/r/deal/", "/inbox", "/trash"):
        assert "Set-Cookie" not in client.get(url).headers, url
    assert "Set-Cookie" not in auth.hx("GET", "/r/deal/").headers


def test_password_hashing_profiles(monkeypatch):
    """Unset, passwords are hashed with argon2id at RFC 9106's low-memory parameters (64 MiB,
    three passes); the test runs' cheap profile is chosen by name only; a wrong name stops
    the start with the names that would work."""
    from lowrise import accounts
    from lowrise.errors import LowriseError

    monkeypatch.delenv("LOWRISE_PASSWORD_HASHING", raising=False)
    stored = accounts._password_hasher().hash("long enough")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    monkeypatch.setenv("LOWRISE_PASSWORD_HASHING", "test-only-cheapest")
    assert accounts._password_hasher().hash("x").startswith("$argon2id$v=19$m=8,t=1,p=1$")
    monkeypatch.setenv("LOWRISE_PASSWORD_HASHING", "fast")
    with pytest.raises(LowriseError, match="'fast' is not a password hashing profile; use "
                                           "one of: rfc9106-high-memory, rfc9106-low-memory"):
        accounts._password_hasher()
