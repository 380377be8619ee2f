"""The web application: `create_app()` turns a workspace folder into a Flask app.

The web layer is thin: it parses requests, builds an Actor, calls the engine, and renders
templates. Everything it shows comes from the workspace; nothing here knows a template.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask

# Flask's own settings; Lowrise's (LOWRISE_*, DATABASE_URL...) are in lowrise.serving.settings.
DEFAULTS = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_TIME_LIMIT": None,
    "BABEL_DEFAULT_LOCALE": "en",
}


def _secret_key(instance: Path) -> str:
    """The instance's secret key: read from instance/secret_key, generated on first start."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    path.write_text(key)
    try:
        path.chmod(0o600)
    except OSError:  # pragma: no cover - file systems without modes
        pass
    return key


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: defaults, then instance/config.py, then the environment, then test_config
    (every setting: lowrise.serving.settings, docs/deploy.md)."""
    from lowrise.serving import settings

    test_config = dict(test_config or {})
    instance = Path(test_config.get("LOWRISE_INSTANCE")
                    or os.environ.get("LOWRISE_INSTANCE") or "instance").resolve()
    app = Flask(__name__, instance_path=str(instance), instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(settings.defaults())
    app.config["LOWRISE_INSTANCE"] = str(instance)
    instance.mkdir(parents=True, exist_ok=True)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(settings.from_environment(), LOWRISE_INSTANCE=str(instance))
    app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(instance)
    if not app.config.get("LOWRISE_WORKSPACE"):
        app.config["LOWRISE_WORKSPACE"] = os.getcwd()

    from . import headers, i18n, runtime, sessions

    headers.init_app(app)  # first: its check of every header runs after all the others
    runtime.init_app(app)
    sessions.init_app(app, app.extensions["lowrise"].engine)  # kept in lr_sessions
    i18n.init_app(app)
    from . import serving  # trusted proxies, request ids and log lines, /healthz, /readyz

    serving.init_app(app)

    from flask_htmx import HTMX
    from flask_wtf.csrf import CSRFProtect

    HTMX(app)
    CSRFProtect(app)

    from . import auth, calendar, cells, display, kanban, pages, records, search

    display.init_app(app)
    auth.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(records.bp)
    app.register_blueprint(cells.bp)
    app.register_blueprint(kanban.bp)
    app.register_blueprint(calendar.bp)
    app.register_blueprint(search.bp)
    from . import account, guard, security  # permissions in pages, accounts, hardening

    guard.init_app(app)
    security.init_app(app)
    app.register_blueprint(account.bp)
    from . import dashboards  # dashboard views: KPIs, charts and drill-down

    app.register_blueprint(dashboards.bp)
    from . import api

    api.init_app(app)  # the REST API, its reference page and API tokens
    from . import exports, imports

    exports.init_app(app)  # CSV and XLSX export of table views
    imports.init_app(app)  # import pages (upload, preview, progress)
    from . import rules as rules_pages  # automations: rule pages, inbox, manual buttons, hooks

    rules_pages.init_app(app)
    from . import settings  # a record type's settings: fields, options, views; schema log

    settings.init_app(app)
    from . import comments  # comments with @mentions on record pages

    comments.init_app(app)
    from . import gallery  # the template gallery: previews, use a template, export / import

    gallery.init_app(app)
    from . import documents  # documents generated from templates on record pages

    documents.init_app(app)
    from . import failures  # the database unavailable, bodies too large, API errors

    failures.init_app(app)
    from . import sharing  # public forms, calendar feeds, share links

    sharing.init_app(app)
    from . import live  # live updates: the stream of other people's changes

    live.init_app(app)
    from . import approvals  # approval queues, the record page's approval panel

    approvals.init_app(app)
    from . import trail  # the log of reveals and exports, for those who supervise them

    trail.init_app(app)
    app.config["SIGN_IN_HELP"] = _sign_in_help(app)
    return app


def _sign_in_help(app: Flask) -> list[str]:
    """What `lowrise serve` prints about signing in: how to make the first admin, or the
    demo accounts `lowrise seed` made (nothing once other accounts exist)."""
    if app.extensions["lowrise"].accounts.list():
        from lowrise.demo_accounts import saved_lines

        demo = saved_lines(Path(app.config["LOWRISE_INSTANCE"]))
        return ["Demo accounts (made by lowrise seed):", *demo] if demo else []
    return ["No user accounts yet. Create the first administrator with:",
            "  lowrise user add you@example.com --name 'Your Name' --role admin",
            "(or from Python: lowrise.accounts.Accounts(engine).add(email, password, roles=['admin']))"]
