"""Settings from the environment (read in one place, each checked), the health endpoints
without signing in, and what /readyz says about the development server's worker thread and
about a database it cannot reach."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from lowrise.cli import main
from lowrise.serving import settings
from test_web_support import build_app, make_workspace

ROOT = Path(__file__).resolve().parents[1]


def test_settings_come_from_the_environment(monkeypatch, tmp_path, db_url):
    monkeypatch.setenv("LOWRISE_PAGE_SIZE", "7")
    monkeypatch.setenv("LOWRISE_TRUSTED_PROXIES", "2")
    monkeypatch.setenv("LOWRISE_MAX_UPLOAD", "1000")
    monkeypatch.setenv("LOWRISE_SECURE_COOKIES", "yes")
    monkeypatch.setenv("LOWRISE_WATCH", "0")
    app = build_app(tmp_path, db_url, make_workspace())
    try:
        cfg = app.config
        assert (cfg["LOWRISE_PAGE_SIZE"], cfg["LOWRISE_TRUSTED_PROXIES"],
                cfg["MAX_CONTENT_LENGTH"], cfg["SESSION_COOKIE_SECURE"],
                cfg["LOWRISE_WATCH"]) == (7, 2, 1000, True, False)
        assert cfg["LOWRISE_LOG_FORMAT"] == "text"  # a default
        assert app.test_client().post("/auth/login", data="x" * 2000).status_code == 413
    finally:
        app.extensions["lowrise"].engine.dispose()


@pytest.mark.parametrize("env, value, says", [
    ("LOWRISE_TRUSTED_PROXIES", "two", "is not a whole number"),
    ("LOWRISE_LOGIN_WINDOW", "-5", "is negative"),
    ("LOWRISE_LOG_FORMAT", "xml", "is not one of: text, json"),
    ("LOWRISE_AUTO_MIGRATE", "maybe", "is not a yes/no value"),
])
def test_a_bad_value_is_refused_by_name(monkeypatch, tmp_path, env, value, says):
    monkeypatch.setenv(env, value)
    with pytest.raises(settings.SettingError, match=re.escape(f"{env}={value!r} {says}")):
        settings.from_environment()
    for args in (["serve"], ["serve", "--production"], ["worker"]):
        result = CliRunner().invoke(main, ["-w", str(ROOT), "--instance",
                                           str(tmp_path / "i"), *args])
        assert result.exit_code == 1, (args, result.output)
        assert f"Error: {env}={value!r} {says}" in result.output


def test_every_setting_is_in_the_table_of_deploy_md():
    text = (ROOT / "docs" / "deploy.md").read_text()
    table = text[text.index("## Settings"):]
    table = table[:table.index("\n## ", 1)]
    documented = re.findall(r"^\| `([A-Z_]+)` \|", table, re.M)
    assert sorted(documented) == sorted(settings.BY_ENV)
    # and every LOWRISE_ key the app has is one of them
    app_keys = {k for k in settings.defaults() if k.startswith("LOWRISE_")}
    assert app_keys <= set(settings.BY_ENV)


def test_healthz_needs_no_sign_in_and_readyz_tells_no_secrets(tmp_path, db_url):
    app = build_app(tmp_path, db_url, make_workspace())
    client = app.test_client()
    try:
        assert client.get("/healthz").json == {"status": "ok"}
        r = client.get("/readyz")  # no worker runs: not ready, and it says why
        assert r.status_code == 503 and r.json["checks"]["worker"]["ok"] is False
        assert r.json["checks"]["database"] == {"ok": True}
        # a database that cannot be reached: not ready, nothing about where it is
        run = app.extensions["lowrise"]
        from lowrise.storage.db import create_engine

        gone = create_engine("postgresql://lowrise:s3cret@127.0.0.1:1/office",
                             connect_args={"connect_timeout": 2})
        app.extensions["lowrise"] = dataclasses.replace(run, engine=gone)
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json["checks"] == {"database": {"ok": False, "detail": "cannot be reached"}}
        assert not re.search(r"127\.0\.0\.1|s3cret|office|lowrise:", r.text)
        assert client.get("/healthz").status_code == 200  # the process itself is fine
        app.extensions["lowrise"] = run
    finally:
        app.extensions["lowrise"].engine.dispose()


def test_readyz_with_the_development_servers_worker_thread(tmp_path, db_url):
    from lowrise.rules import start_background_worker

    app = build_app(tmp_path, db_url, make_workspace())
    worker = app.extensions["lowrise_worker"] = start_background_worker(
        app, interval=0.2, heartbeat_every=0.2)
    client = app.test_client()
    try:
        import time

        deadline = time.monotonic() + 30
        while (r := client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, r.json
            time.sleep(0.1)
        assert r.json["checks"]["worker"] | {"last_seen_seconds": 0} == {
            "ok": True, "alive": 1, "in_process": True, "last_seen_seconds": 0}
        worker.stop()  # a clean stop takes its heartbeat away at once
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json["checks"]["worker"]["alive"] == 0
    finally:
        worker.stop()
        app.extensions["lowrise"].engine.dispose()
