"""API tokens with scopes and an expiry: `lowrise token add/list/revoke`, and the API's
enforcement (a read-only token cannot write, a token for some types reaches only those, an
expired or revoked token is refused)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from test_api import deals  # noqa: F401 - fixture
from test_web_support import PASSWORD, SMALL

pytest_plugins = ["test_web_support"]


def _call(client, token, method, url, **kw):
    return getattr(client, method)(url, headers={"Authorization": f"Bearer {token}"}, **kw)


@pytest.fixture
def ada(run):
    return run.accounts.by_email("ada@example.com")


def test_a_read_only_token_reads_and_cannot_write(client, run, ada, deals):  # noqa: F811
    token, info = run.accounts.create_token(ada.id, "reports", read_only=True)
    assert info.read_only and info.types is None
    assert _call(client, token, "get", "/api/v1/deal").status_code == 200
    assert _call(client, token, "get", "/api/v1/deal/aggregate").status_code == 200
    resp = _call(client, token, "post", "/api/v1/deal", json={"title": "x"})
    assert resp.status_code == 403 and "may only read" in resp.get_json()["detail"]
    rid = deals[0]["id"]
    assert _call(client, token, "patch", f"/api/v1/deal/{rid}",
                 json={"title": "y"}).status_code == 403
    assert _call(client, token, "delete", f"/api/v1/deal/{rid}").status_code == 403
    assert run.records.get("deal", rid)["title"] == deals[0]["title"]


def test_a_token_for_some_types_reaches_only_those(client, run, ada, deals):  # noqa: F811
    token, _ = run.accounts.create_token(ada.id, "crm sync", types=["client"])
    assert _call(client, token, "get", "/api/v1/client").status_code == 200
    assert _call(client, token, "post", "/api/v1/client",
                 json={"name": "New"}).status_code == 201
    refused = _call(client, token, "get", "/api/v1/deal")
    assert refused.status_code == 403 and "client only" in refused.get_json()["detail"]
    assert _call(client, token, "get", f"/api/v1/deal/{deals[0]['id']}").status_code == 403
    assert _call(client, token, "get", "/api/v1/deal/aggregate").status_code == 403


def test_an_expired_token_is_refused(client, run, ada):
    soon = datetime.now(UTC) + timedelta(hours=1)
    live, _ = run.accounts.create_token(ada.id, "live", expires_at=soon)
    dead, info = run.accounts.create_token(ada.id, "old",
                                           expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert info.expired()
    assert _call(client, live, "get", "/api/v1/client").status_code == 200
    resp = _call(client, dead, "get", "/api/v1/client")
    assert resp.status_code == 401 and "expired" in resp.get_json()["detail"]


def test_cli_token_add_list_revoke(tmp_path, db_url):
    root = tmp_path / "ws"
    for name, text in SMALL.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    from lowrise.accounts import Accounts
    from lowrise.cli import main

    runner = CliRunner()
    base = ["-w", str(root), "--database", db_url, "--instance", str(tmp_path / "inst")]
    assert runner.invoke(main, [*base, "migrate", "--yes"]).exit_code == 0
    made = runner.invoke(main, [*base, "user", "add", "bo@example.com", "--name", "Bo",
                                "--role", "admin", "--password", PASSWORD])
    assert made.exit_code == 0, made.output
    added = runner.invoke(main, [*base, "token", "add", "bo@example.com", "--name", "bi",
                                 "--read-only", "--type", "deal", "--expires", "30d"])
    assert added.exit_code == 0, added.output
    secret = added.stdout.strip().splitlines()[0]
    assert secret.startswith("lr_")
    assert "read-only, deal" in added.output and "expires 20" in added.output
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    try:
        user, info = Accounts(engine).token_login(secret)
        assert user.email == "bo@example.com" and info.read_only and info.types == ["deal"]
        left = info.expires_at - datetime.now(UTC)
        assert timedelta(days=29) < left <= timedelta(days=30)
        listed = runner.invoke(main, [*base, "token", "list", "bo@example.com"])
        assert f"{info.id:>4}  {info.prefix}" in listed.output and "bi" in listed.output
        bad = runner.invoke(main, [*base, "token", "add", "bo@example.com", "--type", "nope"])
        assert bad.exit_code == 2 and "not a record type" in bad.output
        past = runner.invoke(main, [*base, "token", "add", "bo@example.com", "--expires",
                                    "2020-01-01"])
        assert past.exit_code == 2 and "has passed" in past.output
        revoked = runner.invoke(main, [*base, "token", "revoke", str(info.id)])
        assert revoked.exit_code == 0 and Accounts(engine).token_login(secret) is None
        assert "revoked" in runner.invoke(main, [*base, "token", "list",
                                                 "bo@example.com"]).output
        again = runner.invoke(main, [*base, "token", "revoke", str(info.id)])
        assert again.exit_code == 1
    finally:
        engine.dispose()
