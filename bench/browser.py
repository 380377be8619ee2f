"""A browser as far as the server can tell: one keep-alive HTTP connection, the session
cookie, the page's CSRF token, htmx's headers; on the standard library only, so that the
load it makes costs the machine little."""

from __future__ import annotations

import html
import http.client
import re
from urllib.parse import urlencode

CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
LOADS = re.compile(r'hx-get="([^"]+)"[^>]*hx-trigger="load"')


class HttpError(Exception):
    """The connection failed (refused, reset, closed without an answer)."""


class Browser:
    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.host, self.port = host, port
        self.conn: http.client.HTTPConnection | None = None
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None

    def request(self, method: str, path: str, body: str | None = None,
                headers: dict | None = None) -> tuple[int, dict, str]:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: again
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read().decode("utf-8", "replace")
            except (OSError, http.client.HTTPException) as exc:
                self.conn.close()
                self.conn = None
                if attempt == 2 or not isinstance(exc, (http.client.RemoteDisconnected,
                                                        BrokenPipeError,
                                                        ConnectionResetError)):
                    raise HttpError(f"{type(exc).__name__}: {exc}") from None
                continue
            for cookie in r.headers.get_all("Set-Cookie") or []:
                name, _, rest = cookie.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            if r.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return r.status, dict(r.getheaders()), data
        raise AssertionError("unreachable")

    def get(self, path: str, *, hx: bool = False) -> tuple[int, dict, str]:
        return self.request("GET", path, headers={"HX-Request": "true"} if hx else {})

    def post(self, path: str, form: dict, *, hx: bool = False, json: bool = False):
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-CSRFToken": self.csrf or ""}
        if hx:
            headers["HX-Request"] = "true"
        if json:
            headers["Accept"] = "application/json"
        return self.request("POST", path, urlencode({**form, "csrf_token": self.csrf or ""}),
                            headers)

    def sign_in(self, email: str, password: str) -> None:
        _, _, page = self.get("/auth/login")
        self.csrf = CSRF.search(page).group(1)
        status, _, body = self.post("/auth/login", {"email": email, "password": password})
        if status != 302:
            raise RuntimeError(f"signing in {email} answered {status}: {body[:200]}")
        _, _, home = self.get("/r/case/")  # a page of the app: its CSRF token
        self.csrf = CSRF.search(home).group(1)

    @staticmethod
    def loads(page: str) -> list[str]:
        """What a page asks for by itself once shown (its hx-trigger="load" parts)."""
        return [html.unescape(u) for u in LOADS.findall(page)]

    @staticmethod
    def field(page: str, name: str) -> str | None:
        m = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
        return m.group(1) if m else None

    @staticmethod
    def attr(page: str, name: str) -> str | None:
        m = re.search(rf'{re.escape(name)}="([^"]*)"', page)
        return m.group(1) if m else None
