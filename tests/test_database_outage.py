"""The database unavailable while serving: pages answer the app's own error page (503,
Retry-After, in the person's language), the API a problem document; reads that only note
something (a token's "last used") still answer; a read-only SQLite file that is made
writable again is used again without a restart; and service comes back by itself.

Read-only files: the tests run as root, which ignores file modes, so a read-only database is
made the two ways SQLite itself offers: a `?mode=ro` URI (a server started on a read-only
file) and `PRAGMA query_only` on new connections (a file that becomes writable again later:
turning the pragma off for new connections is "permissions fixed"). Both fail writes with
the same error a read-only file gives: "attempt to write a readonly database".
"""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from conftest import _pg_admin_engine, drop_pg_database, make_pg_database
from test_web_support import AuthActions, build_app, make_record, make_workspace

pytest_plugins = ["test_web_support"]

PROBLEM = "application/problem+json"


def _shop(tmp_path, url, **config):
    app = build_app(tmp_path, url, make_workspace(), **config)
    run = app.extensions["lowrise"]
    c = make_record(run, "client", name="Locked Ltd")
    deal = make_record(run, "deal", title="Before", client=c["id"])
    client = app.test_client()
    auth = AuthActions(client)
    assert auth.login().status_code == 302
    client.get("/locale/zh?next=/")
    token, _ = run.accounts.create_token(run.accounts.by_email("ada@example.com").id)
    return app, run, client, auth, deal, {"Authorization": f"Bearer {token}"}


def _edit(auth, deal, title):
    return auth.post(f"/r/deal/{deal['id']}/edit", data={
        "title": title, "client": deal["client"], "stage": "lead", "_version": deal["version"]})


def _is_503_page(resp, words="数据库暂时不可用"):
    return (resp.status_code == 503 and resp.headers["Retry-After"].isdigit()
            and resp.mimetype == "text/html" and words in resp.text
            and "lowrise.css" in resp.text)  # the app's own page, styled


def _is_503_problem(resp):
    return (resp.status_code == 503 and resp.mimetype == PROBLEM
            and resp.headers["Retry-After"].isdigit()
            and resp.get_json()["type"].endswith("#problem-unavailable"))


def test_sqlite_locked_past_the_busy_timeout(tmp_path):
    app, run, client, auth, deal, api = _shop(
        tmp_path, f"sqlite:///{tmp_path / 'shop.db'}", LOWRISE_BUSY_TIMEOUT=0.2)
    holder = sqlite3.connect(tmp_path / "shop.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        assert _is_503_page(_edit(auth, deal, "During"))
        patch = client.patch(f"/api/v1/deal/{deal['id']}", json={"title": "During"},
                             headers=api)
        assert _is_503_problem(patch)
        # reading with a token notes its use if it can: the read itself never fails
        read = client.get(f"/api/v1/deal/{deal['id']}", headers=api)
        assert read.status_code == 200 and read.get_json()["title"] == "Before"
        assert client.get("/r/deal/").status_code == 200  # pages that only read work
        # signing in writes (the attempt is counted); a new visitor's session cannot even be
        # made, so the sign-in page itself says so (in the workspace's language)
        assert _is_503_page(auth.post("/auth/logout"))
        assert _is_503_page(app.test_client().get("/auth/login"), "The database is not")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert _edit(auth, deal, "After").status_code == 302  # back by itself
    assert run.records.get("deal", deal["id"])["title"] == "After"
    run.engine.dispose()


def test_the_busy_timeout_setting(tmp_path, monkeypatch):
    from lowrise.storage.db import create_engine

    def timeout(engine):
        with engine.connect() as conn:
            return conn.exec_driver_sql("PRAGMA busy_timeout").scalar()

    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert timeout(create_engine(url)) == 10000
    monkeypatch.setenv("LOWRISE_BUSY_TIMEOUT", "0.25")
    assert timeout(create_engine(url)) == 250
    assert timeout(create_engine(url, busy_timeout=2)) == 2000


def test_a_read_only_file_made_writable_again_is_used_without_a_restart(tmp_path):
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    app, run, client, auth, deal, api = _shop(tmp_path, url, LOWRISE_NULL_POOL=False)
    read_only = {"on": False}

    @sa.event.listens_for(run.engine, "connect")
    def _maybe_read_only(dbapi_conn, _record):
        if read_only["on"]:
            dbapi_conn.execute("PRAGMA query_only=1")

    read_only["on"] = True
    run.engine.dispose()  # the server's connections now open a read-only file
    assert client.get("/r/deal/").status_code == 200
    assert _is_503_page(_edit(auth, deal, "During"))
    assert _is_503_problem(client.patch(f"/api/v1/deal/{deal['id']}", json={"title": "x"},
                                        headers=api))
    read_only["on"] = False  # the permissions are fixed; nobody restarts the server
    assert _edit(auth, deal, "After").status_code == 302
    assert run.records.get("deal", deal["id"])["title"] == "After"
    run.engine.dispose()


def test_a_server_started_on_a_read_only_file(tmp_path):
    from lowrise.web import create_app

    path = tmp_path / "shop.db"
    first = build_app(tmp_path, f"sqlite:///{path}", make_workspace())
    first.extensions["lowrise"].engine.dispose()
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret",
                      "LOWRISE_WORKSPACE": make_workspace(), "LOWRISE_AUTO_MIGRATE": False,
                      "DATABASE_URL": f"sqlite:///file:{path}?mode=ro&uri=true",
                      "LOWRISE_INSTANCE": str(tmp_path / "instance"), "LOWRISE_NULL_POOL": True})
    client = app.test_client()
    # nothing can be written, not even the sign-in page's session: the page says why
    assert _is_503_page(client.get("/auth/login"), "The database is not available")
    assert client.get("/static/lowrise.css").status_code == 200
    app.extensions["lowrise"].engine.dispose()


@pytest.fixture
def pg_url():
    url = make_pg_database()
    yield url
    drop_pg_database(url)


def _rename(admin, old, new):
    with admin.connect() as conn:
        conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             f"WHERE datname = '{old}' AND pid <> pg_backend_pid()")
        conn.exec_driver_sql(f'ALTER DATABASE "{old}" RENAME TO "{new}"')


def test_postgresql_database_gone_and_back(tmp_path, pg_url):
    app, run, client, auth, deal, api = _shop(tmp_path, pg_url)
    name = pg_url.rsplit("/", 1)[1]
    admin = _pg_admin_engine()
    _rename(admin, name, name + "_away")  # the database the server uses does not exist now
    try:
        # the person's locale is in the session, which cannot be read: the workspace's
        assert _is_503_page(client.get("/r/deal/"), "The database is not available")
        assert _is_503_page(_edit(auth, deal, "During"), "The database is not available")
        assert _is_503_problem(client.get("/api/v1/deal", headers=api))
        assert _is_503_problem(client.patch(f"/api/v1/deal/{deal['id']}",
                                            json={"title": "x"}, headers=api))
    finally:
        _rename(admin, name + "_away", name)
        admin.dispose()
    assert client.get("/r/deal/").status_code == 200  # back by itself
    assert _edit(auth, deal, "After").status_code == 302
    run.engine.dispose()
