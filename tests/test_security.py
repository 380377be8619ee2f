"""Hardening: CSRF on every state-changing route, markup stored in text fields rendered
inert on every page, security headers, uploads, sign-in rate limit, sessions, password change,
account administration, webhooks to private addresses, and the expression evaluator and
message templates kept away from Python internals and the file system."""

from __future__ import annotations

import io
import re
import threading
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from lowrise.actor import SYSTEM
from lowrise.expr import Expression, ExpressionError
from lowrise.rules.outbox import DeliveryError, WebhookRefused, check_address, send_webhook
from lowrise.rules.templates import Template, TemplateProblem
from test_web_support import PASSWORD, AuthActions, csrf_of, make_record

pytest_plugins = ["test_web_support"]

SCRIPT = '<script>alert("xss")</script>'
IMG = "<img src=x onerror=alert(1)>"
PAYLOAD = f'{SCRIPT}{IMG}"\'><svg onload=alert(2)>'


class _Markup(HTMLParser):
    """The elements a browser would run: scripts without src, on* handlers, javascript: URLs,
    and any svg."""

    def __init__(self):
        super().__init__()
        self.active: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and "src" not in names or tag == "svg":
            self.active.append(tag)
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.active.append(f"{tag} {name}")


def _active(html: str) -> list[str]:
    p = _Markup()
    p.feed(html)
    return p.active


# -- CSRF ------------------------------------------------------------------------------------

def _fill(rule, run, ids):
    values = {"type_name": "deal", "record_id": ids["deal"], "view_name": "board",
              "field": "title", "name": "x", "token_id": 1, "job_id": 1, "user_id": 1,
              "key": "lead", "token": "A" * 43, "link_id": 1, "feed_id": 1, "task_id": 1}
    return rule.build({k: values[k] for k in rule.arguments}, append_unknown=False)[1]


def test_every_state_changing_route_refuses_a_request_without_the_csrf_token(app, client,
                                                                           signed_in, run):
    deal = make_record(run, "deal", title="Keep me", client=make_record(
        run, "client", name="C")["id"])
    ids = {"deal": deal["id"]}
    exempt = {"rules.incoming",  # signed by HMAC, no session: its own check (test_rules_web)
              "public_forms.fill"}  # checks its token itself, to answer in the visitor's words
    #                                 (test_sharing_forms)
    checked = []
    for rule in app.url_map.iter_rules():
        methods = rule.methods - {"GET", "HEAD", "OPTIONS"}
        if not methods or rule.endpoint in exempt:
            continue
        url = _fill(rule, run, ids)
        for method in methods:
            resp = client.open(url, method=method, data={"title": "changed", "id": deal["id"],
                                                          "to": "won", "action": "delete",
                                                          "ids": deal["id"]})
            assert resp.status_code == 400, (method, url, resp.status_code)
            assert "CSRF" in resp.get_data(as_text=True), (method, url)
            checked.append((method, rule.rule))
    assert len(checked) >= 20
    assert run.records.get("deal", deal["id"])["title"] == "Keep me"
    # a program with an API token needs no CSRF token (no browser adds that header)
    user = run.accounts.by_email("ada@example.com")
    token, _ = run.accounts.create_token(user.id)
    fresh = app.test_client()
    resp = fresh.post("/api/v1/client", json={"name": "By token"},
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 201


# -- markup stays text -----------------------------------------------------------------------

def test_markup_in_every_text_field_renders_inert_on_every_page(app, client, signed_in, run):
    c = make_record(run, "client", name=IMG[:40], notes=PAYLOAD)
    deal = make_record(run, "deal", title=PAYLOAD, client=c["id"], stage="lead",
                       closes_on="2026-03-10")
    run.records.update("client", c["id"], {"notes": PAYLOAD + " again"}, SYSTEM)
    urls = ["/r/client/", "/r/deal/", f"/r/client/{c['id']}", f"/r/client/{c['id']}/edit",
            "/r/deal/table/open_deals", "/r/deal/kanban/board",
            "/r/deal/calendar/closing?month=2026-03", "/search?q=img", "/search?q=alert",
            "/r/deal/pick?q=script", "/r/client/pick?q=img", f"/r/client/{c['id']}/row",
            "/r/deal/?q=" + SCRIPT, "/r/deal/?f0=title&o0=contains&v0=" + SCRIPT,
            "/r/deal/filter-row?i=0&f0=title&o0=contains&v0=" + SCRIPT,
            f"/r/deal/{deal['id']}/cell/title", f"/r/deal/{deal['id']}", "/api/v1/docs",
            "/trash"]
    seen = 0
    for url in urls:
        resp = client.get(url, headers={"HX-Request": "true"} if "pick" in url else {})
        assert resp.status_code < 500, url
        body = resp.get_data(as_text=True)
        for raw in (SCRIPT, IMG, "<svg onload"):
            assert raw not in body, (url, raw)
        assert _active(body) == [], url  # the text may show, escaped, never as markup
        seen += "&lt;script&gt;" in body or "&lt;img" in body
    assert seen >= 8
    client.post(f"/r/deal/{deal['id']}/delete", data={"csrf_token": signed_in.token})
    assert SCRIPT not in client.get("/trash").text


def test_reflected_values_in_urls_are_escaped(client, signed_in):
    page = client.get("/auth/login?next=" + SCRIPT)
    assert SCRIPT not in page.text
    assert SCRIPT not in client.get("/search?q=" + SCRIPT).text
    resp = client.get("/api/v1/deal?filter=" + SCRIPT)
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


# -- headers, cookies, sessions ----------------------------------------------------------------

def test_security_headers_on_every_kind_of_response(client, signed_in):
    for url in ("/r/deal/", "/auth/login", "/api/v1/deal", "/static/lowrise.css"):
        resp = client.get(url)
        h = resp.headers
        csp = h["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert h["X-Content-Type-Options"] == "nosniff"
        assert h["Referrer-Policy"] == "same-origin"
        assert h["X-Frame-Options"] == "DENY"
    assert client.get("/r/deal/").headers["Cache-Control"] == "no-store"


def test_pages_have_no_inline_script_or_handler(client, signed_in):
    """What the CSP forbids: inline scripts, on* attributes, style attributes."""
    for url in ("/r/deal/", "/r/deal/kanban/board", "/r/deal/new", "/trash", "/api/v1/docs",
                "/account/password", "/admin/users", "/account/tokens"):
        html = client.get(url).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"<[a-z][^>]*\son[a-z]+=", html), url
        assert not re.search(r"<[a-z][^>]*\sstyle=", html), url


def test_session_cookie_is_signed_httponly_samesite(app, client):
    page = client.get("/auth/login")
    resp = client.post("/auth/login", data={"email": "ada@example.com", "password": PASSWORD,
                                            "csrf_token": csrf_of(page.text)})
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # a cookie changed by hand is not a session
    name = app.config.get("SESSION_COOKIE_NAME", "session")
    value = re.search(rf"{name}=([^;]+)", cookie).group(1)
    other = app.test_client()
    other.set_cookie(name, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert other.get("/r/deal/").status_code == 302


def test_sign_in_is_rate_limited(app, client):
    auth = AuthActions(client)
    for _ in range(5):
        assert auth.login(password="wrong password").status_code == 401
    blocked = auth.login()  # even the right password, for a while
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    other = app.extensions["lowrise"].accounts.add("bo@example.com", PASSWORD, roles=["admin"])
    assert auth.login(email=other.email).status_code == 302  # another address is not blocked


def _same_database_app(app, tmp_path):
    """A second web process: another app on the same database (its own instance folder)."""
    from lowrise.web import create_app

    keys = ("TESTING", "SECRET_KEY", "LOWRISE_WORKSPACE", "DATABASE_URL", "LOWRISE_NULL_POOL")
    return create_app({**{k: app.config[k] for k in keys},
                       "LOWRISE_INSTANCE": str(tmp_path / "instance-2")})


def _from(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return AuthActions(client)


def test_sign_in_limit_holds_across_processes_on_one_database(app, tmp_path):
    other_app = _same_database_app(app, tmp_path)
    try:
        one, two = _from(app, "10.0.0.7"), _from(other_app, "10.0.0.7")
        for auth in (one, two, one, two, one):  # five failures, split between the processes
            assert auth.login(password="wrong password").status_code == 401
        for auth in (one, two):
            blocked = auth.login()
            assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
        # another client may still try that address; the blocked one may try another
        assert _from(other_app, "10.0.0.8").login().status_code == 302
        other_app.extensions["lowrise"].accounts.add("bo@example.com", PASSWORD)
        assert two.login(email="bo@example.com").status_code == 302
        # a success forgets the failures of that client for that address
        assert _from(app, "10.0.0.9").login(password="wrong password").status_code == 401
        assert _from(other_app, "10.0.0.9").login().status_code == 302
        run = app.extensions["lowrise"]
        t = run.accounts.attempts
        with run.engine.connect() as conn:
            left = conn.execute(sa.select(t.c.client, t.c.email)).all()
        assert sorted(set(left)) == [("10.0.0.7", "ada@example.com")]
    finally:
        other_app.extensions["lowrise"].engine.dispose()


def test_sign_in_limits_per_client_and_per_address_slide(app, tmp_path):
    from lowrise.accounts import LoginLimit

    now = [1_000_000.0]
    run = app.extensions["lowrise"]
    limit = LoginLimit(run.accounts, attempts=3, per_client=5, per_email=4, window=600,
                       clock=lambda: now[0])
    for _ in range(3):
        assert limit.reserve("1.1.1.1", "A@example.com ") == 0
        now[0] += 10
    wait = limit.reserve("1.1.1.1", "a@example.com")
    assert wait == 600 - 30 + 1  # until the first failure leaves the window
    assert limit.retry_after("1.1.1.1", "a@example.com") == wait
    # the per-client limit: five failures over any addresses
    assert limit.reserve("1.1.1.1", "b@example.com") == 0
    assert limit.reserve("1.1.1.1", "c@example.com") == 0
    assert limit.reserve("1.1.1.1", "d@example.com") > 0
    # the per-address limit: four failures from any clients
    assert limit.reserve("2.2.2.2", "a@example.com") == 0
    assert limit.reserve("3.3.3.3", "a@example.com") > 0
    # the window slides: once the first failures are older than it, room comes back
    now[0] += 600 - 30 + 1
    assert limit.retry_after("1.1.1.1", "a@example.com") == 0
    assert limit.reserve("1.1.1.1", "a@example.com") == 0
    # old rows are deleted as new attempts come; a very long address is cut, never an error
    limit.failed("4.4.4.4" * 20, "x" * 400 + "@example.com")
    t = run.accounts.attempts
    with run.engine.connect() as conn:
        ats = conn.execute(sa.select(t.c.at)).scalars().all()
    assert min(ats) > now[0] - 600


def test_password_change_ends_the_other_sessions(app, client, signed_in):
    other = app.test_client()
    assert AuthActions(other).login().status_code == 302
    bad = signed_in.post("/account/password", data={"current": "nope nope", "new": "a" * 12,
                                                    "again": "a" * 12})
    assert bad.status_code == 422
    short = signed_in.post("/account/password", data={"current": PASSWORD, "new": "short",
                                                      "again": "short"})
    assert short.status_code == 422 and "8 characters" in short.text
    new = "violet tram at dusk 9"
    ok = signed_in.post("/account/password", data={"current": PASSWORD, "new": new,
                                                   "again": new})
    assert ok.status_code == 302
    assert client.get("/r/deal/").status_code == 200  # this session goes on
    assert other.get("/r/deal/").status_code == 302  # the other one is signed out
    assert AuthActions(app.test_client()).login(password=new).status_code == 302


def test_admins_invite_set_roles_and_deactivate(app, client, signed_in, run):
    resp = signed_in.post("/admin/users", data={"email": "new@example.com", "name": "New",
                                                "roles": ["admin"]})
    assert resp.status_code == 200
    temporary = re.search(r'<code class="token">([^<]+)</code>', resp.text).group(1)
    new = run.accounts.by_email("new@example.com")
    assert new.roles == ("admin",)
    newcomer = app.test_client()
    assert AuthActions(newcomer).login(email="new@example.com",
                                       password=temporary).status_code == 302
    signed_in.post(f"/admin/users/{new.id}", data={"action": "save", "roles": [],
                                                   "staff_id": "1"})
    assert run.accounts.get(new.id).roles == () and run.accounts.get(new.id).staff_id == 1
    assert newcomer.get("/admin/users").status_code == 403  # no longer an admin
    signed_in.post(f"/admin/users/{new.id}", data={"action": "deactivate"})
    assert newcomer.get("/r/deal/").status_code == 302  # signed out at once
    me = run.accounts.by_email("ada@example.com")
    resp = signed_in.post(f"/admin/users/{me.id}", data={"action": "deactivate"})
    assert run.accounts.get(me.id).active  # nobody locks themselves out
    resp = signed_in.post(f"/admin/users/{me.id}", data={"action": "save", "roles": []})
    assert run.accounts.get(me.id).roles == ("admin",)


# -- uploads ---------------------------------------------------------------------------------

def test_uploads_are_checked_and_served_as_downloads(client, signed_in, run):
    resp = signed_in.post("/r/client/new", data={
        "name": "Up", "photo": (io.BytesIO(b"<html><script>alert(1)</script>"), "page.html")},
        content_type="multipart/form-data")
    assert resp.status_code == 422  # .html is not accepted by the field
    resp = signed_in.post("/r/client/new", data={
        "name": "Up", "photo": (io.BytesIO(b"<html><script>alert(1)</script>"), "x.png")},
        content_type="multipart/form-data")
    assert resp.status_code == 302
    from lowrise.storage import query

    with run.engine.connect() as conn:
        (row,) = query.list_records(conn, run.schema, "client", limit=5).rows
    key = row["photo"][0]["key"]
    dl = client.get(f"/files/{key}?name=x.png")
    assert dl.headers["Content-Disposition"].startswith("attachment")
    assert dl.mimetype == "application/octet-stream"
    assert dl.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in dl.headers["Content-Security-Policy"]
    assert client.get("/files/../../secret_key").status_code == 404
    assert client.get("/files/" + "0" * 64).status_code == 404


# -- webhooks --------------------------------------------------------------------------------

@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1",
                                     "169.254.169.254", "0.0.0.0", "::1", "fd00::1",
                                     "::ffff:127.0.0.1", "224.0.0.1", "100.64.0.1"])
def test_webhooks_refuse_private_addresses(address, monkeypatch):
    monkeypatch.delenv("LOWRISE_WEBHOOK_ALLOW", raising=False)
    with pytest.raises(WebhookRefused):
        check_address("hooks.example.com", address)


def test_webhooks_reach_public_or_allowed_addresses(monkeypatch):
    monkeypatch.delenv("LOWRISE_WEBHOOK_ALLOW", raising=False)
    check_address("example.com", "93.184.216.34")
    check_address("x", "2606:2800:220:1:248:1893:25c8:1946")
    env = {"LOWRISE_WEBHOOK_ALLOW": "10.0.0.0/8, hooks.internal"}
    check_address("any", "10.9.8.7", env)
    check_address("hooks.internal", "192.168.5.5", env)
    with pytest.raises(WebhookRefused):
        check_address("other.internal", "192.168.5.5", env)
    check_address("x", "127.0.0.1", {"LOWRISE_WEBHOOK_ALLOW": "*"})


class _Server:
    """127.0.0.1: answers 302 to an internal address, or 200; counts requests."""

    def __init__(self, status=200):
        server = self
        self.hits = 0

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                server.hits += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _message(url):
    return {"key": "k1", "target": url, "payload": {"body": "{}", "timeout": 5}}


def test_send_webhook_refuses_before_connecting_and_never_follows_redirects(monkeypatch):
    server = _Server(status=302)
    try:
        monkeypatch.delenv("LOWRISE_WEBHOOK_ALLOW", raising=False)
        with pytest.raises(WebhookRefused, match="private, loopback"):
            send_webhook(_message(server.url))
        assert server.hits == 0
        with pytest.raises(WebhookRefused):  # a name that resolves to loopback
            send_webhook(_message(server.url.replace("127.0.0.1", "localhost")))
        with pytest.raises(WebhookRefused, match="only http"):
            send_webhook(_message("file:///etc/passwd"))
        monkeypatch.setenv("LOWRISE_WEBHOOK_ALLOW", "127.0.0.1")
        with pytest.raises(DeliveryError, match="HTTP 302"):
            send_webhook(_message(server.url))  # answered 302: not followed
        assert server.hits == 1
    finally:
        server.close()


# -- expressions and templates cannot reach Python -----------------------------------------------

ESCAPES = [
    "().__class__.__bases__[0].__subclasses__()", "x.__class__", "__import__('os')",
    "open('/etc/passwd')", "eval('1')", "exec('1')", "getattr(x, '__class__')", "globals()",
    "[c for c in ()]", "lambda: 1", "x[0]", "f'{x}'", "9 ** 9 ** 9", "'a' * 100000000",
    "_secret", "__builtins__", "breakpoint()", "compile('1', 'f', 'eval')", "vars()",
    "(yield)", "'a'.upper", "(1).real", "{1: 2}", "[1, 2]", "-" * 1990 + "1",
]


def test_a_dotted_name_reads_a_linked_records_field_and_nothing_of_python():
    # `client.budget` reads a linked record's field (filled in by the engine); on any
    # other value a dotted name reads nothing
    for source in ("x.y", "x.upper", "x.startswith"):
        assert Expression(source).evaluate({"x": "text"}) is None


@pytest.mark.parametrize("source", ESCAPES)
def test_expressions_refuse_escape_attempts(source):
    with pytest.raises(ExpressionError):
        Expression(source).evaluate({"x": "text"})


TEMPLATE_ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}", "{{ cycler.__init__.__globals__.os }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}", "{{ self.__init__ }}",
    "{{ joiner.__init__.__globals__ }}", "{{ namespace.__init__.__globals__ }}",
    "{{ record.__class__ }}", "{{ '{0.__class__}'.format(record) }}",
    "{% include '/etc/passwd' %}", "{% extends '/etc/passwd' %}", "{% import 'os' as os %}",
    "{{ config }}", "{{ request.environ }}", "{{ range(10**9)|list }}",
    "{{ 'a' * 100000000 }}", "{{ 9 ** 999999999 }}", "{{ '%0999999999d' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}", "{{ 'a'|center(999999999) }}",
    "{{ '%099999999d'|format(1) }}", "{% set x = record.update({'id': 1}) %}",
]


@pytest.mark.parametrize("source", TEMPLATE_ESCAPES)
def test_message_templates_refuse_escape_attempts(source):
    with pytest.raises(TemplateProblem):
        Template.compile(source).render({"record": {"id": 1}, "title": "t"})


def test_message_templates_still_work():
    t = Template.compile("{{ title|upper }}: {{ '%05d' % record.id }} {{ 'ab' * 2 }} "
                         "{{ '{:>3}'.format(record.id) }}")
    assert t.render({"record": {"id": 7}, "title": "case"}) == "CASE: 00007 abab   7"
