"""Delivering the outbox: webhooks over HTTP(S), signed with a timestamp (signing.py), e-mail
over SMTP.

A message is claimed with a lease (status `sending`, `lease_until`) in a short transaction;
right before it is sent the lease is renewed in one statement that also checks the message
is still this worker's (see worker.py), then it is delivered outside any transaction, then
marked delivered, or rescheduled with exponential backoff, or failed once its attempts are
used up. A worker that dies mid-delivery leaves a lease that expires; another worker then
retries, and the receiver can tell the repeat by the idempotency key (`Idempotency-Key`
header, `Message-ID` for e-mail): delivery is at least once.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import smtplib
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from lowrise.i18n import msg, tr

from .signing import signed_headers

BACKOFF_BASE_SECONDS = 30.0
BACKOFF_MAX_SECONDS = 6 * 3600.0
#: seconds an SMTP conversation may wait on the server; a webhook's unless it says
SMTP_TIMEOUT = 30.0
DEFAULT_TIMEOUT = 10.0


class DeliveryError(Exception):
    """One attempt failed; the message is retried later (or failed after its last attempt)."""


def backoff(attempts: int, base: float = BACKOFF_BASE_SECONDS) -> timedelta:
    """Wait before the next attempt: base, 2×base, 4×base... capped at six hours."""
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


@dataclass
class SmtpSettings:
    host: str
    port: int = 587
    user: str | None = None
    password: str | None = None
    sender: str = "lowrise@localhost"
    starttls: bool = True
    #: the address people open the app at: an e-mail about a record links to it there
    base_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings | None:
        """LOWRISE_SMTP_HOST (and _PORT, _USER, _PASSWORD, _FROM, _STARTTLS=0, and
        LOWRISE_BASE_URL for links), or None."""
        env = os.environ if env is None else env
        host = env.get("LOWRISE_SMTP_HOST")
        if not host:
            return None
        return cls(host, int(env.get("LOWRISE_SMTP_PORT", "587")), env.get("LOWRISE_SMTP_USER"),
                   env.get("LOWRISE_SMTP_PASSWORD"), env.get("LOWRISE_SMTP_FROM",
                                                             "lowrise@localhost"),
                   env.get("LOWRISE_SMTP_STARTTLS", "1") not in ("0", "false", "no"),
                   (env.get("LOWRISE_BASE_URL") or "").rstrip("/") or None)


# -- where webhooks may go --------------------------------------------------------------------
#
# A webhook URL is written in YAML by whoever edits the automations; the worker that calls it
# sits inside the network. So it may only reach public addresses: loopback, private, link-local
# (cloud metadata at 169.254.169.254), multicast and reserved ones are refused unless the
# administrator of the instance allows them in LOWRISE_WEBHOOK_ALLOW (comma-separated hosts,
# addresses or networks, like "127.0.0.1, 10.0.0.0/8, hooks.internal", or "*" for any).
# The address is checked on the connection actually made (after DNS), so a name that
# resolves to a private address, or changes its answer, is refused too; redirects are not
# followed and proxies from the environment are not used.

ALLOW_ENV = "LOWRISE_WEBHOOK_ALLOW"


class WebhookRefused(DeliveryError):
    """The webhook's address is not one the worker may call."""


def _allowed(env: Mapping[str, str] | None = None) -> tuple[bool, set[str], list]:
    raw = (os.environ if env is None else env).get(ALLOW_ENV, "")
    names, nets, every = set(), [], False
    for item in (p.strip() for p in raw.split(",")):
        if not item:
            continue
        if item == "*":
            every = True
            continue
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            names.add(item.lower().rstrip("."))
    return every, names, nets


def check_address(host: str, address: str, env: Mapping[str, str] | None = None) -> None:
    """WebhookRefused unless `address` (what `host` resolved to) is public or allowed."""
    every, names, nets = _allowed(env)
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if getattr(ip, "ipv4_mapped", None) is not None:
        ip = ip.ipv4_mapped
    if ip.is_global and not ip.is_multicast:
        return
    if every or host.lower().rstrip(".") in names or any(ip in n for n in nets):
        return
    raise WebhookRefused(f"{host} is {address}, a private, loopback or reserved address; "
                         f"webhooks may not call it unless {ALLOW_ENV} allows it")


def _guarded_connection(address: tuple[str, int], timeout=socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
                        source_address=None):
    """socket.create_connection that connects only to checked addresses (no second lookup
    between the check and the connection)."""
    host, port = address
    error: OSError | None = None
    for family, kind, proto, _name, sockaddr in socket.getaddrinfo(host, port, 0,
                                                                  socket.SOCK_STREAM):
        check_address(host, sockaddr[0])
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"no address for {host}")


class _GuardedHTTP(http.client.HTTPConnection):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._create_connection = _guarded_connection


class _GuardedHTTPS(http.client.HTTPSConnection):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._create_connection = _guarded_connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_GuardedHTTP, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_GuardedHTTPS, req, context=self._context)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx answer is an error, never followed


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _HTTPHandler,
                                      _HTTPSHandler, _NoRedirect)


def send_webhook(message: Mapping[str, Any]) -> str:
    """POST the message's JSON body; a 2xx answer is delivered, anything else is an error.
    Only http(s) to public addresses (see LOWRISE_WEBHOOK_ALLOW)."""
    payload = message["payload"]
    body = payload["body"].encode()
    headers = {"Content-Type": "application/json", "User-Agent": "lowrise-webhook/1",
               "Idempotency-Key": message["key"], "X-Lowrise-Delivery": message["key"]}
    if payload.get("secret_env"):
        secret = os.environ.get(payload["secret_env"])
        if not secret:
            raise DeliveryError(f"the environment variable {payload['secret_env']} (the "
                                "webhook's secret) is not set")
        headers.update(signed_headers(secret, body))  # signed at each attempt: a fresh time
    if urllib.parse.urlsplit(message["target"]).scheme not in ("http", "https"):
        raise WebhookRefused(f"{message['target']}: only http and https URLs are called")
    req = urllib.request.Request(message["target"], data=body, headers=headers, method="POST")
    try:
        with _opener.open(req, timeout=float(payload.get("timeout", DEFAULT_TIMEOUT))) as resp:
            return f"HTTP {resp.status}"
    except WebhookRefused as exc:
        raise WebhookRefused(f"{message['target']}: {exc}") from None
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} from {message['target']}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, WebhookRefused):
            raise WebhookRefused(f"{message['target']}: {reason}") from None
        raise DeliveryError(f"{message['target']}: {reason}") from None


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip("<> ") or "lowrise"


def email_text(payload: Mapping[str, Any], base_url: str | None) -> str:
    """An e-mail's text: its body (or subject), then, with a base URL, the address of its
    record, introduced in the recipient's language."""
    text = payload.get("body") or payload.get("subject", "")
    path = payload.get("path")
    if base_url and path:
        text += "\n\n" + tr(msg("Open it: %(url)s", url=base_url + path),
                             payload.get("locale"))
    return text


def smtp_sender(settings: SmtpSettings) -> Callable[[Mapping[str, Any]], str]:
    def send(message: Mapping[str, Any]) -> str:
        payload = message["payload"]
        mail = EmailMessage()
        mail["From"] = settings.sender
        mail["To"] = message["target"]
        mail["Subject"] = payload.get("subject", "")
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        # the same id on every attempt: a receiver can tell a message sent twice
        mail["Message-ID"] = f"<{message['key']}@{_domain(settings.sender)}>"
        mail.set_content(email_text(payload, settings.base_url))
        try:
            with smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT) as smtp:
                if settings.starttls:
                    smtp.starttls()
                if settings.user:
                    smtp.login(settings.user, settings.password or "")
                smtp.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {settings.host}: {exc}") from None
        return f"sent to {message['target']}"

    return send


def default_senders(env: Mapping[str, str] | None = None
                    ) -> dict[str, Callable[[Mapping[str, Any]], str]]:
    """How each kind of message is delivered here: webhooks always, e-mail when SMTP is set."""
    from .bots import send_chat

    senders: dict[str, Callable[[Mapping[str, Any]], str]] = {"webhook": send_webhook,
                                                              "chat": send_chat}
    smtp = SmtpSettings.from_env(env)
    if smtp:
        senders["email"] = smtp_sender(smtp)
    return senders


def next_attempt(now: datetime, attempts: int, base: float) -> datetime:
    return now + backoff(attempts, base)
