"""Incoming webhooks (`POST /hooks/<rule>`), through a real server: one answer for every rule
that cannot be called (so callers cannot probe for rules), a signature over the timestamp and
the body, old timestamps refused, and a delivery (its Idempotency-Key, or its signature) run
once. Outgoing webhooks are signed alike, and the receiver in docs/automations.md verifies
them."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from lowrise.actor import SYSTEM
from lowrise.errors import NotFound
from lowrise.i18n import tr
from lowrise.rules.outbox import send_webhook
from lowrise.rules.signing import sign, signed_headers
from lowrise.rules.tester import WebhookRefused, WebhookUnknown, receive_webhook
from lowrise.workspace import load_workspace_from_texts
from test_browser_flows import serving  # the app on 127.0.0.1, from a thread
from test_rules_support import BASE, T0, make_env
from test_web_support import build_app

SECRET = "hook-secret"
HOOK = """
record_type: ticket
trigger: {kind: webhook, secret: hook-secret}
actions:
  - set_fields: {count: {expr: "coalesce(count, 0) + 1"}}
"""
RULES = {
    "automations/from_outside.yaml": HOOK,
    "automations/switched_off.yaml": HOOK.replace("record_type: ticket",
                                                  "record_type: ticket\nenabled: false"),
    "automations/no_secret.yaml": HOOK.replace("secret: hook-secret",
                                               "secret_env: LOWRISE_TEST_UNSET_SECRET"),
    "automations/stamp.yaml": """
record_type: ticket
trigger: {kind: created}
actions:
  - set_fields: {note: stamped}
""",
}


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_incoming_webhooks_through_a_server(tmp_path, db_url, monkeypatch):
    monkeypatch.delenv("LOWRISE_TEST_UNSET_SECRET", raising=False)
    app = build_app(tmp_path, db_url, load_workspace_from_texts({**BASE, **RULES}))
    run = app.extensions["lowrise"]
    try:
        tid = run.records.create("ticket", {"title": "Door"}, SYSTEM)["id"]
        body = json.dumps({"id": tid}).encode()
        with serving(app) as base:
            # every rule that cannot be called answers alike: which ones exist stays unsaid
            answers = {json.dumps(post(f"{base}/hooks/{name}", body, headers))
                       for name, headers in [
                ("nope", signed_headers(SECRET, body)),
                ("stamp", signed_headers(SECRET, body)),
                ("switched_off", signed_headers(SECRET, body)),
                ("no_secret", signed_headers(SECRET, body)),
                ("from_outside", signed_headers("wrong secret", body)),
                ("from_outside", {"X-Lowrise-Signature": "sha256=" + "0" * 64}),
                # the body alone signed, as before: the timestamp is part of what is signed
                ("from_outside", {"X-Lowrise-Timestamp": str(int(time.time())),
                                  "X-Lowrise-Signature": "sha256=" + hmac.new(
                                      SECRET.encode(), body, hashlib.sha256).hexdigest()}),
            ]}
            assert len(answers) == 1, answers
            ((status, answer),) = [json.loads(a) for a in answers]
            assert status == 404 and answer == {"error": "there is no such webhook"}

            fresh = {**signed_headers(SECRET, body), "Idempotency-Key": "delivery-1"}
            status, answer = post(f"{base}/hooks/from_outside", body, fresh)
            assert status == 200 and answer["ran"] is True, answer
            assert run.records.get("ticket", tid)["count"] == 1
            # the same delivery again, as captured: not run again
            assert post(f"{base}/hooks/from_outside", body, fresh) == (
                200, {"ok": True, "duplicate": True, "ran": False})
            # ... nor with another key: its signature was seen
            assert post(f"{base}/hooks/from_outside", body,
                        {**fresh, "Idempotency-Key": "another"})[1]["duplicate"] is True
            # the sender's retry: signed again later, the same key
            retry = {**signed_headers(SECRET, body, time.time() + 2),
                     "Idempotency-Key": "delivery-1"}
            assert post(f"{base}/hooks/from_outside", body, retry)[1]["duplicate"] is True
            assert run.records.get("ticket", tid)["count"] == 1
            # a new delivery runs
            new = {**signed_headers(SECRET, body, time.time() + 3), "Idempotency-Key": "d-2"}
            assert post(f"{base}/hooks/from_outside", body, new)[1]["ran"] is True
            assert run.records.get("ticket", tid)["count"] == 2
            # signed six minutes ago, or six minutes ahead: refused, whatever the key
            for moved in (-360, 360):
                old = {**signed_headers(SECRET, body, time.time() + moved),
                       "Idempotency-Key": f"late {moved}"}
                status, answer = post(f"{base}/hooks/from_outside", body, old)
                assert status == 403 and "more than 300 seconds" in answer["error"], answer
            assert run.records.get("ticket", tid)["count"] == 2
    finally:
        run.engine.dispose()


def seen(env) -> list[dict]:
    t = env.records.schema.system["lr_webhook_seen"]
    with env.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(t)).mappings()]


def _receive(env, body: bytes, at, *, key=None, signed_at=None):
    stamp = int((signed_at or at).timestamp())
    return receive_webhook(env.records, "from_outside", body, sign(SECRET, body, stamp),
                           str(stamp), key=key, now=at)


def test_a_delivery_runs_once_and_its_keys_are_forgotten_after_a_day(engine):
    env = make_env(engine, {"from_outside": HOOK})
    tid = env.create("ticket", title="Door")["id"]
    body = json.dumps({"id": tid}).encode()
    assert _receive(env, body, T0, key="k1").conditions is True
    assert _receive(env, body, T0 + timedelta(seconds=30), key="k1") is None
    assert env.get("ticket", tid)["count"] == 1
    assert len(seen(env)) == 2  # the key and the signature
    later = T0 + timedelta(days=1, minutes=1)
    assert _receive(env, body, later, key="k1").conditions is True  # forgotten by now
    assert env.get("ticket", tid)["count"] == 2
    assert len(seen(env)) == 2  # the old ones were dropped


def test_a_delivery_whose_run_fails_is_not_remembered(engine):
    env = make_env(engine, {"from_outside": HOOK})
    body = json.dumps({"id": 999}).encode()
    with pytest.raises(NotFound):
        _receive(env, body, T0, key="k1")
    assert seen(env) == []


def test_the_max_age_is_a_workspace_setting(engine):
    ws_yaml = BASE["workspace.yaml"] + "automations: {webhook_max_age: 60}\n"
    env = make_env(engine, {"from_outside": HOOK}, extra={"workspace.yaml": ws_yaml})
    tid = env.create("ticket", title="Door")["id"]
    body = json.dumps({"id": tid}).encode()
    with pytest.raises(WebhookRefused) as info:
        _receive(env, body, T0, signed_at=T0 - timedelta(seconds=90))
    assert not isinstance(info.value, WebhookUnknown)
    assert "more than 60 seconds" in tr(info.value.message, "en")
    assert "60 秒" in tr(info.value.message, "zh")
    assert _receive(env, body, T0, signed_at=T0 - timedelta(seconds=50)).conditions is True
    default = make_env(engine, {"from_outside": HOOK})
    assert _receive(default, body, T0, signed_at=T0 - timedelta(seconds=90)) is not None


class Receiver:
    """A local HTTP server running the receiver of docs/automations.md on every request."""

    def __init__(self, handle):
        self.answers: list[tuple[int, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, text = handle(dict(self.headers), body)
                outer.answers.append((status, text))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _docs_receiver() -> dict:
    """The receiver example of docs/automations.md, run as it is written."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "automations.md").read_text()
    code = re.search(r"```python\n(# a receiver.*?)```", text, re.S)
    assert code, "docs/automations.md has no receiver example"
    scope: dict = {}
    exec(compile(code.group(1), "docs/automations.md", "exec"), scope)  # noqa: S102
    return scope


def test_outgoing_webhooks_are_signed_so_the_documented_receiver_verifies_them(monkeypatch):
    monkeypatch.setenv("LOWRISE_WEBHOOK_ALLOW", "127.0.0.1")
    monkeypatch.setenv("ERP_HOOK_SECRET", SECRET)
    scope = _docs_receiver()
    receiver = Receiver(lambda headers, body: scope["receive"](headers, body, SECRET))
    try:
        message = {"key": "0f" * 16, "target": receiver.url,
                   "payload": {"body": json.dumps({"id": 7}), "secret_env": "ERP_HOOK_SECRET"}}
        send_webhook(message)
        send_webhook(message)  # a retry after a lost answer: the same key, a new signature
        assert receiver.answers == [(200, "ok"), (200, "duplicate")]
        # a forged and a stale delivery are refused by the example
        body = b'{"id": 7}'
        assert scope["receive"]({**signed_headers("not the secret", body),
                                 "Idempotency-Key": "x"}, body, SECRET)[0] == 401
        assert scope["receive"]({**signed_headers(SECRET, body, time.time() - 600),
                                 "Idempotency-Key": "y"}, body, SECRET)[0] == 401
    finally:
        receiver.close()
