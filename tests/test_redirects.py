"""Where `next` may send a person: only to a path of this site, whatever is smuggled into it.

Every payload below was tried on the three places that follow `next` (the locale switch,
signing in, a form's hidden `next`); each must land on the page's own default, never on
another site and never on a 500. One more run goes through a real server, where the
Location header is what a browser reads.
"""

from __future__ import annotations

import http.client
import threading
from urllib.parse import quote

from werkzeug.serving import make_server

from lowrise.web.i18n import safe_next
from test_web_support import PASSWORD, AuthActions, csrf_of, make_record

pytest_plugins = ["test_web_support"]

# 17 kinds: protocol-relative, backslash, tab / CR / LF / CRLF / other control characters and
# spaces that browsers drop, schemes, and the same in their percent-encoded or full-width forms
PAYLOADS = [
    "//evil.example",
    "/\\evil.example",
    "/\t/evil.example",
    "/\r\n/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "/\x00/evil.example",
    "/\x0b/evil.example",
    " //evil.example",
    "/ /evil.example",
    "/\u3000/evil.example",
    "\\\\evil.example",
    "https://evil.example/phish",
    "javascript:alert(1)",
    "///evil.example",
    "/\\/evil.example",
    "/%09/evil.example",  # encoded once more: decoded once by the server, still refused
]


def _bad_location(location: str) -> bool:
    """Whether a browser could read this Location as another site."""
    return (not location.startswith("/") or location.startswith("//")
            or any(ch == "\\" or ch.isspace() or not ch.isprintable() for ch in location))


def test_safe_next_keeps_local_paths_and_refuses_the_rest():
    for good in ("/r/deal/", "/r/deal/?q=张三&sort=-id", "/search?q=a+b", "/"):
        assert safe_next(good) == good
    for bad in PAYLOADS[:-1]:
        assert safe_next(bad, "/home") == "/home", repr(bad)
    # "%09" stays encoded in a path: it is a local page (that does not exist), not a host
    assert safe_next("/%09/evil.example") == "/%09/evil.example"


def test_locale_switch_next(client):
    for payload in PAYLOADS:
        resp = client.get(f"/locale/zh?next={quote(payload, safe='')}")
        assert resp.status_code == 302, repr(payload)
        location = resp.headers["Location"]
        assert not _bad_location(location), (payload, location)
        assert location == ("/" if payload != PAYLOADS[-1] else payload), (payload, location)


def test_sign_in_next(app):
    for payload in PAYLOADS:
        client = app.test_client()
        page = client.get(f"/auth/login?next={quote(payload, safe='')}")
        assert page.status_code == 200, repr(payload)
        resp = client.post("/auth/login", data={"email": "ada@example.com", "password": PASSWORD,
                                                "csrf_token": csrf_of(page.text),
                                                "next": payload})
        assert resp.status_code == 302, repr(payload)
        location = resp.headers["Location"]
        assert not _bad_location(location), (payload, location)


def test_form_next(client, signed_in, run):
    client_rec = make_record(run, "client", name="Next")
    for payload in PAYLOADS:
        deal = make_record(run, "deal", title="Gone", client=client_rec["id"])
        resp = signed_in.post(f"/r/deal/{deal['id']}/delete",
                              data={"_version": deal["version"], "next": payload})
        assert resp.status_code == 302, repr(payload)
        location = resp.headers["Location"]
        assert not _bad_location(location), (payload, location)
        assert location == "/r/deal/" or payload == PAYLOADS[-1], (payload, location)


def test_a_browser_is_never_sent_to_another_site(app):
    """Through a real server: the raw Location header, for the payloads a browser rewrites."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for payload in ("/%09/evil.example", "/%0D%0A/evil.example", "/%0A/x", "/%5Cevil.example",
                        "%2F%2Fevil.example", "/%E3%80%80/evil.example"):
            conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
            conn.request("GET", f"/locale/en?next={payload}")
            resp = conn.getresponse()
            location = resp.getheader("Location")
            conn.close()
            assert resp.status == 302, (payload, resp.status)
            assert location == "/", (payload, location)
        auth = AuthActions(app.test_client())
        assert auth.login().status_code == 302
    finally:
        server.shutdown()
        thread.join(5)
