"""Behind a reverse proxy (LOWRISE_TRUSTED_PROXIES), through a real HTTP server: the sign-in
limit counts each client by the address the proxy forwarded, HTTPS at the proxy is HTTPS to
the app (HSTS, the CSRF check of the page's own https origin); without the setting, forged
X-Forwarded-* headers change nothing."""

from __future__ import annotations

import re
import threading

import pytest
import requests
from werkzeug.serving import make_server

from test_web_support import PASSWORD, build_app, make_workspace

ATTACKER, OFFICE = "203.0.113.7", "198.51.100.9"


@pytest.fixture
def serve(tmp_path, db_url):
    """A function: (settings) -> the base URL of a real server of a small app."""
    servers = []

    def start(**config):
        app = build_app(tmp_path / f"app{len(servers)}", db_url, make_workspace(), **config)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((server, app))
        return f"http://127.0.0.1:{server.server_port}"
    yield start
    for server, app in servers:
        server.shutdown()
        app.extensions["lowrise"].engine.dispose()


def sign_in(base: str, email: str, password: str, **headers) -> requests.Response:
    """Sign in through the page as a browser behind the proxy would (its headers added)."""
    s = requests.Session()
    s.headers.update(headers)
    page = s.get(f"{base}/auth/login")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    # behind TLS the session cookie is Secure, which requests keeps from plain http: the
    # browser has it from the proxy's https, so it is sent here as the browser would
    cookie = "; ".join(f"{c.name}={c.value}" for c in s.cookies)
    return s.post(f"{base}/auth/login", allow_redirects=False, headers={"Cookie": cookie},
                  data={"email": email, "password": password, "csrf_token": token})


def thirty_failures(base: str, forwarded_for: str) -> None:
    for n in range(30):  # thirty different addresses: the per-client limit, not per-address
        r = sign_in(base, f"guess{n}@example.com", "wrong password",
                    **{"X-Forwarded-For": forwarded_for})
        assert r.status_code == 401, n
    locked = sign_in(base, "ada@example.com", PASSWORD, **{"X-Forwarded-For": forwarded_for})
    assert locked.status_code == 429


def test_behind_a_proxy_one_client_failing_does_not_lock_out_another(serve):
    base = serve(LOWRISE_TRUSTED_PROXIES=1)
    thirty_failures(base, ATTACKER)
    office = sign_in(base, "ada@example.com", PASSWORD, **{"X-Forwarded-For": OFFICE})
    assert office.status_code == 302  # the administrator still signs in from the office
    # a client cannot pose as another by adding its own entries: the proxy appends the
    # address it saw, and only that last one counts
    spoofed = sign_in(base, "ada@example.com", PASSWORD,
                      **{"X-Forwarded-For": f"{OFFICE}, {ATTACKER}"})
    assert spoofed.status_code == 429


def test_without_the_setting_forwarded_headers_change_nothing(serve):
    base = serve()
    thirty_failures(base, ATTACKER)
    # everyone is 127.0.0.1 here, whatever X-Forwarded-For says: still locked
    forged = sign_in(base, "ada@example.com", PASSWORD, **{"X-Forwarded-For": OFFICE})
    assert forged.status_code == 429
    https = requests.get(f"{base}/auth/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in https.headers
    assert "Secure" not in https.headers["Set-Cookie"]


def test_https_at_the_proxy_is_https_to_the_app(serve):
    base = serve(LOWRISE_TRUSTED_PROXIES=1)
    behind_tls = {"X-Forwarded-For": OFFICE, "X-Forwarded-Proto": "https",
                  "X-Forwarded-Host": "office.example.com"}
    page = requests.get(f"{base}/auth/login", headers=behind_tls)
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in requests.get(f"{base}/auth/login").headers
    assert "; Secure" in page.headers["Set-Cookie"]  # the session cookie travels over TLS only
    # over HTTPS a form must come from the site's own https origin, which the app now knows
    # from the proxy: the browser's Referer is accepted, another site's is refused
    ok = sign_in(base, "ada@example.com", PASSWORD, Referer="https://office.example.com/",
                 **behind_tls)
    assert ok.status_code == 302
    elsewhere = sign_in(base, "ada@example.com", PASSWORD, Referer="https://evil.example/",
                        **behind_tls)
    assert elsewhere.status_code == 400


def test_secure_cookies_setting(serve):
    base = serve(SESSION_COOKIE_SECURE=True)  # what LOWRISE_SECURE_COOKIES=1 sets
    page = requests.get(f"{base}/auth/login")  # the form's CSRF token starts a session
    assert "; Secure" in page.headers["Set-Cookie"]

