"""The outbox: written in the write's transaction, delivered by the worker with an HMAC
signature and an idempotency key, retried with backoff, failed after its attempts, retried
by hand; several workers on PostgreSQL deliver each message once."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lowrise.rules import history
from lowrise.rules.outbox import backoff, send_webhook
from lowrise.rules.signing import sign, verify
from test_rules_support import make_env, reopen

SECRET = "s3cret-for-tests"



@pytest.fixture(autouse=True)
def _local_receivers(monkeypatch):
    """The receivers here run on 127.0.0.1, which webhooks may only call when allowed."""
    monkeypatch.setenv("LOWRISE_WEBHOOK_ALLOW", "127.0.0.1")

class Receiver:
    """A local HTTP server on 127.0.0.1 that records each request; `fail_first` answers 500."""

    def __init__(self, fail_first: int = 0):
        self.requests: list[dict] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append({"body": body, "headers": dict(self.headers)})
                    failing = len(receiver.requests) <= receiver.fail_first
                self.send_response(500 if failing else 200)
                self.end_headers()
                self.wfile.write(b"no" if failing else b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def hook_rule(url: str, retries: int = 3) -> dict[str, str]:
    return {"send": f"""
record_type: ticket
trigger: {{kind: field_changed, field: status, to: done}}
actions:
  - webhook:
      url: {url}
      secret_env: LOWRISE_TEST_HOOK_SECRET
      timeout: 5
      retries: {retries}
"""}


def test_signature_helpers():
    body = b'{"a": 1}'
    header = sign(SECRET, body, 1767225600)
    assert header == "sha256=" + hmac.new(SECRET.encode(), b'1767225600.{"a": 1}',
                                          hashlib.sha256).hexdigest()
    assert verify(SECRET, body, header, "1767225600")
    assert not verify(SECRET, body + b" ", header, "1767225600")
    assert not verify(SECRET, body, header, "1767225601")  # the time is signed too
    assert not verify(SECRET, body, None, "1767225600") and not verify(SECRET, body, header, None)
    assert not verify(SECRET, body, header, "-1") and not verify(SECRET, body, header, "soon")
    assert backoff(1, 30) == timedelta(seconds=30) and backoff(3, 30) == timedelta(seconds=120)
    assert backoff(30, 30) == timedelta(hours=6)


def test_webhook_is_signed_retried_with_backoff_and_delivered_once(engine, receiver,
                                                                    monkeypatch):
    monkeypatch.setenv("LOWRISE_TEST_HOOK_SECRET", SECRET)
    receiver.fail_first = 1
    env = make_env(engine, hook_rule(receiver.url))
    t = env.create("ticket", title="Pipe")
    env.update("ticket", t["id"], status="done")
    (msg,) = env.rows("lr_outbox")
    assert msg["status"] == "pending" and msg["max_attempts"] == 4
    assert receiver.requests == []  # nothing leaves inside the write's transaction
    w = env.worker(senders={"webhook": send_webhook}, backoff_base=60)
    assert w.deliver_outbox() == 0  # the receiver says 500
    (msg,) = env.rows("lr_outbox")
    assert (msg["status"], msg["attempts"]) == ("pending", 1) and "HTTP 500" in msg["last_error"]
    assert msg["next_attempt_at"] == env.now + timedelta(seconds=60)
    assert w.deliver_outbox() == 0  # not yet due
    env.advance(seconds=61)
    assert w.deliver_outbox() == 1
    assert w.deliver_outbox() == 0
    (msg,) = env.rows("lr_outbox")
    assert (msg["status"], msg["attempts"]) == ("delivered", 2)
    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first["body"] == second["body"]
    assert first["headers"]["Idempotency-Key"] == second["headers"]["Idempotency-Key"] == msg["key"]
    assert verify(SECRET, second["body"], second["headers"]["X-Lowrise-Signature"],
                  second["headers"]["X-Lowrise-Timestamp"])
    assert abs(int(second["headers"]["X-Lowrise-Timestamp"]) - time.time()) < 60
    payload = json.loads(second["body"])
    assert payload["rule"] == "send" and payload["record"]["status"] == "done"


def test_a_message_fails_after_its_attempts_and_can_be_retried(engine, receiver, monkeypatch):
    monkeypatch.setenv("LOWRISE_TEST_HOOK_SECRET", SECRET)
    receiver.fail_first = 100
    env = make_env(engine, hook_rule(receiver.url, retries=1))
    t = env.create("ticket", title="Pipe")
    env.update("ticket", t["id"], status="done")
    w = env.worker(senders={"webhook": send_webhook}, backoff_base=1)
    w.deliver_outbox()
    env.advance(seconds=5)
    w.deliver_outbox()
    env.advance(seconds=5)
    assert w.deliver_outbox() == 0
    (msg,) = env.rows("lr_outbox")
    assert (msg["status"], msg["attempts"]) == ("failed", 2)
    assert len(receiver.requests) == 2
    assert history.messages(engine, env.tables, status="failed")[0]["id"] == msg["id"]
    receiver.fail_first = 0
    assert history.retry(engine, env.tables, rule="send", now=env.now) == 1
    assert w.deliver_outbox() == 1
    assert env.rows("lr_outbox")[0]["status"] == "delivered"


def test_unreachable_receiver_and_missing_secret(engine, monkeypatch):
    monkeypatch.delenv("LOWRISE_TEST_HOOK_SECRET", raising=False)
    env = make_env(engine, hook_rule("http://127.0.0.1:9/closed"))
    t = env.create("ticket", title="Pipe")
    env.update("ticket", t["id"], status="done")
    w = env.worker(senders={"webhook": send_webhook})
    assert w.deliver_outbox() == 0
    assert "LOWRISE_TEST_HOOK_SECRET" in env.rows("lr_outbox")[0]["last_error"]
    monkeypatch.setenv("LOWRISE_TEST_HOOK_SECRET", SECRET)
    env.advance(minutes=5)
    assert w.deliver_outbox() == 0
    assert "127.0.0.1:9" in env.rows("lr_outbox")[0]["last_error"]


def test_email_goes_through_the_outbox(engine):
    env = make_env(engine, {"mail": """
record_type: ticket
trigger: {kind: created}
actions:
  - notify: {to: [owner], title: "New {{ title }}", body: "Hello", email: true}
"""})
    boss = env.create("person", name="Boss", email="boss@example.com")
    env.create("ticket", title="Tap", owner=boss["id"])
    sent = []
    w = env.worker(senders={"email": lambda m: sent.append(m) or "ok"})
    assert w.run_once()["messages"] == 1
    assert [(m["target"], m["payload"]["subject"]) for m in sent] == [
        ("boss@example.com", "New Tap")]
    assert env.worker(senders={}).deliver_outbox() == 0  # no SMTP configured: left pending


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_concurrent_workers_deliver_each_message_once(engine, receiver, monkeypatch):
    monkeypatch.setenv("LOWRISE_TEST_HOOK_SECRET", SECRET)
    env = make_env(engine, hook_rule(receiver.url))
    n = 120
    made = env.records.bulk_create("ticket", [{"title": f"t{i}"} for i in range(n)],
                                   env.actor())
    env.records.bulk_update("ticket", [(r["id"], {"status": "done"}) for r in made],
                            env.actor())
    assert len(env.rows("lr_outbox")) == n
    workers = [reopen(env).worker(senders={"webhook": send_webhook}, batch=8, name=f"w{i}")
               for i in range(4)]
    counts = [0] * len(workers)
    start = threading.Barrier(len(workers))

    def go(i):
        start.wait()
        counts[i] = workers[i].deliver_outbox()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    keys = Counter(r["headers"]["Idempotency-Key"] for r in receiver.requests)
    assert len(keys) == n and set(keys.values()) == {1}
    assert sum(counts) == n
    assert {m["status"] for m in env.rows("lr_outbox")} == {"delivered"}


class FakeSmtp:
    """Just enough SMTP on 127.0.0.1 to receive one message at a time (no TLS)."""

    def __init__(self):
        import socketserver

        self.mails: list[dict] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                def say(line):
                    self.wfile.write(line.encode() + b"\r\n")

                say("220 fake ESMTP")
                mail = {"rcpt": [], "data": b""}
                while line := self.rfile.readline():
                    cmd = line.decode().strip()
                    upper = cmd.upper()
                    if upper.startswith(("EHLO", "HELO")):
                        say("250 fake")
                    elif upper.startswith("MAIL FROM"):
                        mail["from"] = cmd[10:]
                        say("250 ok")
                    elif upper.startswith("RCPT TO"):
                        mail["rcpt"].append(cmd[8:])
                        say("250 ok")
                    elif upper == "DATA":
                        say("354 go on")
                        body = b""
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            body += chunk
                        mail["data"] = body
                        outer.mails.append(dict(mail))
                        say("250 queued")
                    elif upper == "QUIT":
                        say("221 bye")
                        return
                    else:
                        say("250 ok")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_email_is_sent_over_smtp_with_date_id_and_link(engine):
    from email import message_from_bytes
    from email.utils import parsedate_to_datetime

    from lowrise.rules.outbox import default_senders

    smtp = FakeSmtp()
    try:
        env = make_env(engine, {"mail": """
record_type: ticket
trigger: {kind: created}
actions:
  - notify: {to: [owner], title: "New {{ title }}", body: "Hello {{ record.title }}", email: true}
"""})
        boss = env.create("person", name="Boss", email="boss@example.com")
        tap = env.create("ticket", title="Tap", owner=boss["id"])
        settings = {"LOWRISE_SMTP_HOST": "127.0.0.1", "LOWRISE_SMTP_PORT": str(smtp.port),
                    "LOWRISE_SMTP_STARTTLS": "0", "LOWRISE_SMTP_FROM": "desk@example.com"}
        senders = default_senders({**settings, "LOWRISE_BASE_URL": "https://crm.example.com/"})
        assert env.worker(senders=senders).deliver_outbox() == 1
        (mail,) = smtp.mails
        assert "boss@example.com" in mail["rcpt"][0]
        got = message_from_bytes(mail["data"])
        key = env.rows("lr_outbox")[0]["key"]
        assert got["Subject"] == "New Tap" and got["Message-ID"] == f"<{key}@example.com>"
        assert parsedate_to_datetime(got["Date"]).tzinfo is not None  # RFC 5322 requires it
        text = got.get_payload(decode=True).decode()
        assert text.startswith("Hello Tap")
        assert f"Open it: https://crm.example.com/r/ticket/{tap['id']}" in text
        # without a base URL the e-mail has no link
        env.create("ticket", title="Sink", owner=boss["id"])
        assert env.worker(senders=default_senders(settings)).deliver_outbox() == 1
        text = message_from_bytes(smtp.mails[1]["data"]).get_payload(decode=True).decode()
        assert text.strip() == "Hello Sink" and "http" not in text
    finally:
        smtp.close()


def _fifty_messages(engine, timeout: int = 10):
    env = make_env(engine, {"send": hook_rule("https://erp.example.com/hook")["send"]
                            .replace("timeout: 5", f"timeout: {timeout}")})
    made = env.records.bulk_create("ticket", [{"title": f"t{i}"} for i in range(50)],
                                   env.actor())
    env.records.bulk_update("ticket", [(r["id"], {"status": "done"}) for r in made],
                            env.actor())
    assert len(env.rows("lr_outbox")) == 50
    return env


def test_a_slow_receiver_gets_each_message_once_from_two_workers(engine):
    """3 s a call, 50 messages, two workers, no crash: the first used to claim all 50 under a
    120 s lease, the second took over the ones still waiting once it ran out, and 11 were sent
    twice. A claim now takes what fits in the lease at the webhook's timeout (120 / 10 = 12),
    and every send renews its message's lease first."""
    env = _fifty_messages(engine)
    sent: Counter = Counter()

    def slow(message):  # a fake transport: the clock moves 3 s per call
        sent[message["key"]] += 1
        env.advance(seconds=3)
        if sum(sent.values()) % 5 == 0:
            second.deliver_outbox(limit=1)  # the other worker's round comes between two calls
        return "HTTP 200"

    def alongside(message):  # the second worker's calls, at the same time as the first's
        sent[message["key"]] += 1
        return "HTTP 200"

    first = env.worker(senders={"webhook": slow}, name="first", lease_seconds=120, batch=200)
    second = env.worker(senders={"webhook": alongside}, name="second", lease_seconds=120,
                        batch=200)
    assert first.claim_size == 12
    while first.deliver_outbox() or second.deliver_outbox():
        pass
    assert len(sent) == 50 and set(sent.values()) == {1}, sent.most_common(3)
    assert {(m["status"], m["attempts"]) for m in env.rows("lr_outbox")} == {("delivered", 1)}


def test_a_message_taken_over_by_another_worker_is_not_sent_again(engine):
    """The first worker stalls (its send took 100 s) past the lease of the messages it
    claimed; the second takes them over and sends them; the first, when it gets to them, finds
    they are no longer its own and skips them."""
    env = _fifty_messages(engine, timeout=5)
    sent: Counter = Counter()
    fast = lambda m: sent.update([m["key"]]) or "HTTP 200"  # noqa: E731
    second = env.worker(senders={"webhook": fast}, name="second", lease_seconds=120)
    calls = []

    def stalling(message):
        sent[message["key"]] += 1
        calls.append(message["id"])
        env.advance(seconds=100)
        if len(calls) == 2:
            second.deliver_outbox()  # its leases have run out: it takes over the rest
        return "HTTP 200"

    first = env.worker(senders={"webhook": stalling}, name="first", lease_seconds=120)
    assert first.claim_size == 24
    first.deliver_outbox(limit=24)
    assert len(calls) == 2  # the first sent two, then found the rest taken over
    assert len(sent) == 50 and set(sent.values()) == {1}, sent.most_common(3)
    by_worker = Counter(m["worker"] for m in env.rows("lr_outbox"))
    assert by_worker == {"first": 2, "second": 48}
    assert {m["status"] for m in env.rows("lr_outbox")} == {"delivered"}


def test_a_lease_outlasts_the_longest_send(engine):
    env = make_env(engine, {"send": hook_rule("https://erp.example.com/hook")["send"]
                            .replace("timeout: 5", "timeout: 200")})
    w = env.worker(senders={"webhook": send_webhook}, lease_seconds=120)
    assert w.lease >= timedelta(seconds=200) and w.claim_size == 1
    mail = env.worker(senders={"email": lambda m: "ok"}, lease_seconds=120)
    assert mail.lease == timedelta(seconds=120) and mail.claim_size == 4  # SMTP waits 30 s


def test_after_a_worker_dies_its_messages_wait_for_the_lease_and_keep_their_keys(engine):
    """At least once: the message in flight when a worker died is sent again, with the same
    Idempotency-Key; the others it had claimed are sent once, after its lease ran out."""
    env = make_env(engine, {"send": hook_rule("https://erp.example.com/hook")["send"]})
    made = env.records.bulk_create("ticket", [{"title": f"t{i}"} for i in range(5)],
                                   env.actor())
    env.records.bulk_update("ticket", [(r["id"], {"status": "done"}) for r in made],
                            env.actor())
    sent: list[str] = []

    class Died(BaseException):
        """kill -9, as far as the worker can tell: nothing after it runs."""

    def dies(message):
        sent.append(message["key"])
        raise Died

    dead = env.worker(senders={"webhook": dies}, name="dead")
    with pytest.raises(Died):
        dead.deliver_outbox()
    other = env.worker(senders={"webhook": lambda m: sent.append(m["key"]) or "ok"},
                       name="other")
    env.advance(seconds=dead.lease.total_seconds() - 1)
    assert other.deliver_outbox() == 0  # still leased to the dead worker
    env.advance(seconds=2)
    assert other.deliver_outbox() == 5
    keys = Counter(sent)
    assert sorted(keys.values()) == [1, 1, 1, 1, 2] and keys[sent[0]] == 2
    assert {m["status"] for m in env.rows("lr_outbox")} == {"delivered"}
