"""Response hardening in one place: security headers on every response (one after_request),
the sign-in rate limit (`lowrise.accounts.LoginLimit`, counted in the database so that it
holds across every web process). Sessions are kept in the database (`web/sessions.py`).

The Content-Security-Policy allows scripts and styles from this site only: the templates
have no inline script, no inline event handler and no style attribute (htmx is configured
not to add its indicator styles), so none is needed.
"""

from __future__ import annotations

from flask import Flask, Response, g, request

from lowrise.accounts import LoginLimit

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


def limiter() -> LoginLimit:
    """The app's sign-in rate limit (kept in the database: shared by every process)."""
    from flask import current_app

    return current_app.extensions["lowrise_login_limit"]


def init_app(app: Flask) -> None:
    cfg = app.config
    app.extensions["lowrise_login_limit"] = LoginLimit(
        app.extensions["lowrise"].accounts,
        attempts=int(cfg.get("LOWRISE_LOGIN_ATTEMPTS", 5)),
        per_client=int(cfg.get("LOWRISE_LOGIN_PER_CLIENT", 30)),
        per_email=int(cfg.get("LOWRISE_LOGIN_PER_EMAIL", 100)),
        window=float(cfg.get("LOWRISE_LOGIN_WINDOW", 900)))
    app.after_request(secure_headers)
