"""Response hardening in one place: security headers on every response (one after_request),
and the sign-in rate limit.

The Content-Security-Policy allows scripts and styles from this site only: the templates
have no inline script, no inline event handler and no style attribute (htmx is configured
not to add its indicator styles), so none is needed.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from flask import Flask, Response, g, request

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def secure_headers(response: Response) -> Response:
    """Set the security headers; pages for a signed-in person are not kept in caches."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security",
                                    "max-age=31536000; includeSubDomains")
    if g.get("user") is not None and not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


class RateLimit:
    """At most `attempts` failed sign-ins per `window` seconds for one address from one
    client, and `per_client` for one client whatever the address. In memory, per process:
    enough to make guessing slow; a proxy in front can add a shared limit."""

    def __init__(self, attempts: int = 5, per_client: int = 30, window: float = 900.0,
                 clock=time.monotonic):
        self.attempts, self.per_client, self.window, self.clock = \
            attempts, per_client, window, clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        now = self.clock()
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def retry_after(self, client: str, email: str) -> int:
        """Seconds to wait before trying again (0: go ahead)."""
        with self._lock:
            for key, limit in (((client, email.lower()), self.attempts),
                               ((client, ""), self.per_client)):
                q = self._recent(key)
                if len(q) >= limit:
                    return max(1, int(self.window - (self.clock() - q[0])) + 1)
        return 0

    def failed(self, client: str, email: str) -> None:
        now = self.clock()
        with self._lock:
            for key in ((client, email.lower()), (client, "")):
                self._recent(key).append(now)
            if len(self._failures) > 10_000:  # forget quiet clients
                for key in [k for k, q in self._failures.items() if not q]:
                    del self._failures[key]

    def succeeded(self, client: str, email: str) -> None:
        with self._lock:
            self._failures.pop((client, email.lower()), None)


def limiter() -> RateLimit:
    from flask import current_app

    return current_app.extensions["lowrise_login_limit"]


def init_app(app: Flask) -> None:
    app.extensions["lowrise_login_limit"] = RateLimit(
        attempts=int(app.config.get("LOWRISE_LOGIN_ATTEMPTS", 5)),
        window=float(app.config.get("LOWRISE_LOGIN_WINDOW", 900)))
    app.after_request(secure_headers)
