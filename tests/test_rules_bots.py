"""Group-chat robots (the `chat` action, lowrise.rules.bots): WeCom, DingTalk and Feishu,
delivered by the worker to a local receiver that checks each robot's signature as the robot
does and answers as it does; the text in the workspace's language, masked; a refused
message retried; bad declarations refused with their place. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lowrise.rules.bots import send_chat
from lowrise.rules.outbox import DeliveryError
from lowrise.workspace.loader import WorkspaceError
from test_rules_support import BASE, make_env, workspace

SECRET = "SEC0123456789abcdef-bot"
KEY = "wecom-key-42"


@pytest.fixture(autouse=True)
def _local_receivers(monkeypatch):
    monkeypatch.setenv("LOWRISE_WEBHOOK_ALLOW", "127.0.0.1")
    monkeypatch.setenv("LOWRISE_TEST_BOT_SECRET", SECRET)


class Robots:
    """One local server playing the three robots, at /wecom, /dingtalk and /feishu: each
    checks what its real robot checks and answers like it."""

    def __init__(self):
        self.got: list[dict] = []
        robots = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = robots.check(url.path.strip("/"), query, body)
                robots.got.append({"robot": url.path.strip("/"), "query": query,
                                   "body": body, "answer": answer})
                data = json.dumps(answer).encode()
                self.send_response(200)  # robots say no in the JSON, with 200
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def check(robot: str, query: dict, body: dict) -> dict:
        now = time.time()
        if robot == "wecom":
            ok = query.get("key") == KEY and body.get("msgtype") == "text"
            return {"errcode": 0, "errmsg": "ok"} if ok else \
                {"errcode": 93000, "errmsg": "invalid webhook url"}
        if robot == "dingtalk":
            stamp = query.get("timestamp", "0")
            text = f"{stamp}\n{SECRET}".encode()
            want = base64.b64encode(hmac.new(SECRET.encode(), text, hashlib.sha256).digest())
            fresh = abs(now * 1000 - int(stamp)) < 3_600_000
            ok = fresh and hmac.compare_digest(query.get("sign", "").encode(), want)
            return {"errcode": 0, "errmsg": "ok"} if ok and body.get("msgtype") == "text" \
                else {"errcode": 310000, "errmsg": "sign not match"}
        if robot == "feishu":
            stamp = str(body.get("timestamp", "0"))
            key = f"{stamp}\n{SECRET}".encode()
            want = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest())
            fresh = abs(now - int(stamp)) < 3600
            ok = fresh and hmac.compare_digest(str(body.get("sign", "")).encode(), want)
            return {"code": 0, "msg": "success"} if ok and body.get("msg_type") == "text" \
                else {"code": 19021, "msg": "sign match fail or timestamp is not within one "
                                            "hour from current time"}
        return {"errcode": 404, "errmsg": "no such robot"}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def robots():
    r = Robots()
    yield r
    r.close()


ZH = {"workspace.yaml": BASE["workspace.yaml"].replace(
    "default_locale: en\nlocales: [en]", "default_locale: zh\nlocales: [zh, en]")}
EN = {"workspace.yaml": BASE["workspace.yaml"].replace(
    "default_locale: en\nlocales: [en]", "default_locale: en\nlocales: [en, zh]")}


def chat_rules(base: str) -> dict[str, str]:
    def rule(bot, where):
        return f"""
record_type: ticket
trigger: {{kind: field_changed, field: status, to: done}}
actions:
  - chat:
      bot: {bot}
      {where}
      text:
        zh: "工单「{{{{ record.title }}}}」已完成"
        en: "Ticket {{{{ record.title }}}} is done"
      timeout: 5
      retries: 2
"""
    return {
        "to_wecom": rule("wecom", f"url: {base}/wecom?key={KEY}"),
        "to_dingtalk": rule("dingtalk", f"url: {base}/dingtalk?access_token=t0k\n"
                                        "      secret_env: LOWRISE_TEST_BOT_SECRET"),
        "to_feishu": rule("feishu", "url_env: LOWRISE_TEST_FEISHU_URL\n"
                                    "      secret_env: LOWRISE_TEST_BOT_SECRET"),
    }


def test_each_robot_gets_a_signed_message_in_the_workspace_language(engine, robots,
                                                                     monkeypatch):
    monkeypatch.setenv("LOWRISE_TEST_FEISHU_URL", f"{robots.base}/feishu")
    env = make_env(engine, chat_rules(robots.base), extra=ZH)
    t = env.create("ticket", title="漏水")
    env.update("ticket", t["id"], status="done")
    queued = env.rows("lr_outbox")
    assert {m["kind"] for m in queued} == {"chat"} and len(queued) == 3
    assert robots.got == []  # nothing leaves inside the write's transaction
    # the robot's address from the environment is not written down
    assert all("feishu" not in m["target"] for m in queued if m["rule"] == "to_feishu")
    w = env.worker(senders={"chat": send_chat})
    assert w.deliver_outbox() == 3
    assert {m["status"] for m in env.rows("lr_outbox")} == {"delivered"}
    by = {g["robot"]: g for g in robots.got}
    assert set(by) == {"wecom", "dingtalk", "feishu"}
    assert all(g["answer"].get("errcode", g["answer"].get("code")) == 0 for g in robots.got)
    assert by["wecom"]["body"]["text"]["content"] == "工单「漏水」已完成"
    assert by["dingtalk"]["body"]["text"]["content"] == "工单「漏水」已完成"
    assert by["dingtalk"]["query"]["access_token"] == "t0k"  # the robot's own query kept
    assert by["feishu"]["body"]["content"]["text"] == "工单「漏水」已完成"


def test_english_workspace_and_a_refused_signature_is_retried(engine, robots, monkeypatch):
    monkeypatch.setenv("LOWRISE_TEST_FEISHU_URL", f"{robots.base}/feishu")
    env = make_env(engine, chat_rules(robots.base), extra=EN)
    monkeypatch.setenv("LOWRISE_TEST_BOT_SECRET", "not-the-robots-secret")
    t = env.create("ticket", title="Leak")
    env.update("ticket", t["id"], status="done")
    w = env.worker(senders={"chat": send_chat}, backoff_base=60)
    assert w.deliver_outbox() == 1  # WeCom signs nothing; the other two are refused
    failed = {m["rule"]: m for m in env.rows("lr_outbox") if m["status"] == "pending"}
    assert set(failed) == {"to_dingtalk", "to_feishu"}
    assert "310000 sign not match" in failed["to_dingtalk"]["last_error"]
    assert "19021" in failed["to_feishu"]["last_error"]
    assert robots.got[0]["body"]["text"]["content"] == "Ticket Leak is done"
    monkeypatch.setenv("LOWRISE_TEST_BOT_SECRET", SECRET)  # the administrator fixes it
    env.advance(seconds=61)
    assert w.deliver_outbox() == 2
    assert {m["status"] for m in env.rows("lr_outbox")} == {"delivered"}


def test_a_missing_secret_or_address_is_a_clear_failure(robots, monkeypatch):
    monkeypatch.delenv("LOWRISE_TEST_BOT_SECRET")
    monkeypatch.delenv("LOWRISE_TEST_FEISHU_URL", raising=False)
    base = {"key": "k1", "target": f"{robots.base}/dingtalk"}
    with pytest.raises(DeliveryError, match="LOWRISE_TEST_BOT_SECRET"):
        send_chat({**base, "payload": {"bot": "dingtalk", "text": "x",
                                       "secret_env": "LOWRISE_TEST_BOT_SECRET"}})
    with pytest.raises(DeliveryError, match="LOWRISE_TEST_FEISHU_URL"):
        send_chat({**base, "target": "$LOWRISE_TEST_FEISHU_URL", "payload": {
            "bot": "feishu", "text": "x", "url_env": "LOWRISE_TEST_FEISHU_URL"}})
    monkeypatch.delenv("LOWRISE_WEBHOOK_ALLOW")  # a robot inside the network: refused
    with pytest.raises(DeliveryError, match="private, loopback or reserved"):
        send_chat({"key": "k2", "target": f"{robots.base}/wecom?key={KEY}",
                   "payload": {"bot": "wecom", "text": "x"}})
    assert robots.got == []


@pytest.mark.parametrize("bad, says", [
    ("bot: dingtalkk\n      url: https://oapi.dingtalk.com/robot/send",
     "did you mean 'dingtalk'?"),
    ("bot: wecom", "url: (the robot's address) or url_env:"),
    ("bot: wecom\n      url: https://qyapi.weixin.qq.com/x\n      secret_env: S",
     "a WeCom robot signs nothing"),
    ("bot: feishu\n      url: https://open.feishu.cn/x\n      secrt_env: S", "secrt_env"),
])
def test_bad_chat_actions_are_refused_with_their_place(bad, says):
    rule = f"""
record_type: ticket
trigger: {{kind: created}}
actions:
  - chat:
      {bad}
      text: hello
"""
    with pytest.raises(WorkspaceError) as exc:
        workspace({"bad": rule})
    text = str(exc.value)
    assert says in text and "automations/bad.yaml:" in text
