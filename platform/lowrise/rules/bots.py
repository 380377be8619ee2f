"""Group-chat bots: a rule's `chat` action posts a text to a WeCom (企业微信), DingTalk (钉钉)
or Feishu (飞书) group through the group's incoming-webhook robot.

The text is rendered when the rule runs (in the workspace's language, masking what some role
sees masked: a group chat is outside the access rules) and queued in the outbox; the worker
signs it at each attempt, since the robots refuse an old timestamp:

- WeCom: no signature; the URL's `key` is the secret.
- DingTalk (加签): `timestamp` (milliseconds) and `sign` = Base64(HMAC-SHA256(secret,
  "<timestamp>\\n<secret>")) as query parameters of the URL.
- Feishu (签名校验): `timestamp` (seconds) and `sign` = Base64(HMAC-SHA256(key =
  "<timestamp>\\n<secret>", message = "")) in the JSON body.

A robot answers HTTP 200 with an error code in its JSON when it refuses a message (a wrong
signature, a keyword missing, too many messages): that is a failed attempt, retried like a
webhook's. No Flask here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from .outbox import DEFAULT_TIMEOUT, DeliveryError, WebhookRefused, _opener

BOTS = ("wecom", "dingtalk", "feishu")


def dingtalk_sign(secret: str, timestamp_ms: int | str) -> str:
    """DingTalk's `sign`: Base64 of HMAC-SHA256 keyed by the secret over
    "<timestamp>\\n<secret>" (not yet URL-encoded)."""
    text = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), text, hashlib.sha256).digest()).decode()


def feishu_sign(secret: str, timestamp_s: int | str) -> str:
    """Feishu's `sign`: Base64 of HMAC-SHA256 keyed by "<timestamp>\\n<secret>" over
    nothing."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def request_of(bot: str, url: str, text: str, secret: str | None,
               now: float | None = None) -> tuple[str, bytes]:
    """The URL and JSON body a robot takes for this text, signed with `secret` if given."""
    now = time.time() if now is None else now
    if bot == "feishu":
        body: dict[str, Any] = {"msg_type": "text", "content": {"text": text}}
        if secret:
            stamp = str(int(now))
            body = {"timestamp": stamp, "sign": feishu_sign(secret, stamp), **body}
    else:
        body = {"msgtype": "text", "text": {"content": text}}
        if bot == "dingtalk" and secret:
            stamp = str(int(now * 1000))
            query = urllib.parse.urlencode({"timestamp": stamp,
                                            "sign": dingtalk_sign(secret, stamp)})
            url = f"{url}{'&' if '?' in url else '?'}{query}"
    return url, json.dumps(body, ensure_ascii=False).encode()


def _env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise DeliveryError(f"the environment variable {name} ({what}) is not set")
    return value


def send_chat(message: Mapping[str, Any]) -> str:
    """Deliver one queued chat message; a robot's refusal is an error (retried)."""
    payload = message["payload"]
    bot = payload["bot"]
    url = _env(payload["url_env"], "the robot's address") if payload.get("url_env") \
        else message["target"]
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise WebhookRefused(f"{bot}: only http and https URLs are called")
    secret = _env(payload["secret_env"], "the robot's signing secret") \
        if payload.get("secret_env") else None
    url, body = request_of(bot, url, payload["text"], secret)
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": "lowrise-bot/1"})
    where = message["target"]
    try:
        with _opener.open(req, timeout=float(payload.get("timeout", DEFAULT_TIMEOUT))) as resp:
            answer = resp.read(65536)
    except WebhookRefused as exc:
        raise WebhookRefused(f"{where}: {exc}") from None
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} from the {bot} robot") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, WebhookRefused):
            raise WebhookRefused(f"{where}: {reason}") from None
        raise DeliveryError(f"the {bot} robot: {reason}") from None
    try:
        data = json.loads(answer or b"{}")
    except ValueError:
        data = {}
    code = data.get("errcode", data.get("code", data.get("StatusCode", 0))) \
        if isinstance(data, dict) else 0
    if code not in (0, None):
        said = data.get("errmsg") or data.get("msg") or data.get("StatusMessage") or ""
        raise DeliveryError(f"the {bot} robot refused the message: {code} {said}".strip())
    return f"posted to the {bot} robot"
