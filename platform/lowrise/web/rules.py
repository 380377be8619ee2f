"""Automations in the web app: the rules engine on every write, rule pages (recent runs,
failures, failed messages to retry), manual buttons, the in-app inbox, and incoming webhooks
(`POST /hooks/<rule>`, signed, no session). The runs that touched a record are on the record
page (its Automations card, web/comments.py: action results for admins only).

`init_app(app)` installs it all; `web/__init__.py` calls it once.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Flask, abort, flash, g, jsonify, redirect, request, url_for
from flask_babel import gettext as _

from lowrise.errors import NotFound, ValidationError
from lowrise.i18n import from_text
from lowrise.rules import history
from lowrise.rules.engine import RuleEngine, install
from lowrise.rules.inbox import Inbox
from lowrise.rules.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from lowrise.rules.tables import RuleTables
from lowrise.rules.tester import (
    WebhookRefused,
    WebhookUnknown,
    manual_rule,
    receive_webhook,
    run_manual,
)

from .auth import PUBLIC, actor
from .data import titles
from .guard import can_change, policy, require_admin
from .i18n import current_locale, safe_next, say, say_all
from .render import render
from .runtime import rt
from .viewdefs import record_type_or_404

bp = Blueprint("rules", __name__)


@dataclass
class RulesRuntime:
    engine: RuleEngine
    tables: RuleTables
    inbox: Inbox


def rules_rt() -> RulesRuntime:
    from flask import current_app

    return current_app.extensions["lowrise_rules"]


def init_app(app: Flask) -> None:
    """Run rules on every write of the app's Records; register the pages."""
    run = app.extensions["lowrise"]
    tables = RuleTables(run.schema.system)
    if app.config.get("LOWRISE_RULES", True):
        engine = install(run.records)  # the one runtime.py installed, if it did
    else:  # rules off: the pages still show them, nothing runs
        engine = RuleEngine(run.workspace)
    app.extensions["lowrise_rules"] = RulesRuntime(engine, tables, Inbox(run.engine, tables))
    app.register_blueprint(bp)
    PUBLIC.add("rules.incoming")
    if "csrf" in app.extensions:
        app.extensions["csrf"].exempt(incoming)

    @app.context_processor
    def unread():
        user = g.get("actor").user if g.get("actor") is not None else None
        return {"unread_notifications": lambda: rules_rt().inbox.unread_count(user)}


def _flush() -> None:
    r = rules_rt()
    r.engine.flush_failed_runs(rt().engine, r.tables)


@bp.route("/rules")
def index():
    require_admin()  # run logs and failed messages carry record values: admins only
    _flush()
    r = rules_rt()
    failures = {}
    for run in history.runs(rt().engine, r.tables, failed_only=True, limit=500):
        failures[run["rule"]] = failures.get(run["rule"], 0) + 1
    return render("rules/index.html", rules=list(r.engine.rules.rules.values()),
                  failures=failures)


@bp.route("/rules/<name>")
def show(name: str):
    require_admin()
    _flush()
    r = rules_rt()
    try:
        rule = r.engine.rules.get(name)
    except NotFound:
        abort(404)
    engine = rt().engine
    return render("rules/rule.html", "runs", rule=rule,
                  runs=history.runs(engine, r.tables, rule=name, limit=50),
                  failed=history.runs(engine, r.tables, rule=name, failed_only=True, limit=20),
                  messages=history.messages(engine, r.tables, rule=name, limit=50))


@bp.route("/rules/<name>/retry", methods=["POST"])
def retry(name: str):
    require_admin()
    ids = [int(i) for i in request.form.getlist("id")] or None
    n = history.retry(rt().engine, rules_rt().tables, ids, rule=name)
    flash(_("%(n)s message(s) will be sent again.", n=n), "success")
    return redirect(url_for(".show", name=name))


@bp.route("/rules/<name>/run/<type_name>/<int:record_id>", methods=["POST"])
def press(name: str, type_name: str, record_id: int):
    rtype = record_type_or_404(rt().workspace, type_name)
    try:  # an enabled manual rule of this very type, or no button at all
        manual_rule(rules_rt().engine, name, type_name)
        rt().records.get(type_name, record_id, actor=actor())
    except NotFound:
        abort(404)
    if not can_change(rtype, record_id, "update"):  # a button changes the record
        abort(403)
    try:
        run_manual(rt().records, name, type_name, record_id, actor())
        flash(_("Done."), "success")
    except NotFound:
        abort(404)
    except ValidationError as exc:
        flash("; ".join(say_all(list(exc.errors.values()))), "error")
    target = url_for("records.show", type_name=type_name, record_id=record_id)
    return redirect(safe_next(request.form.get("next"), target))


@bp.route("/inbox")
def inbox():
    user = actor().user
    box = rules_rt().inbox
    locale = current_locale()
    seen = box.as_seen(box.list(user, limit=100), rt().schema, policy())
    items = [{**n, "title": from_text(n["title"], locale),  # a message: in the reader's words
              "body": from_text(n["body"], locale)} for n in seen]
    refs: dict[str, set[int]] = {}
    for n in items:
        if n["record_id"] is not None:
            refs.setdefault(n["record_type"], set()).add(n["record_id"])
    return render("rules/inbox.html", "inbox", items=items, unread=box.unread_count(user),
                  names=titles(refs, locale))  # the records by their names


@bp.route("/inbox/count")
def inbox_count():
    return jsonify(unread=rules_rt().inbox.unread_count(actor().user))


@bp.route("/inbox/read", methods=["POST"])
def inbox_read():
    user = actor().user
    if user is not None:
        ids = [int(i) for i in request.form.getlist("id")] or None
        rules_rt().inbox.mark_read(user, ids)
    return redirect(url_for(".inbox"))


@bp.route("/hooks/<name>", methods=["POST"])
def incoming(name: str):
    """An incoming webhook: the body is JSON naming the record, signed with a timestamp
    (X-Lowrise-Timestamp, X-Lowrise-Signature); a delivery is run once."""
    headers = request.headers
    try:
        run = receive_webhook(rt().records, name, request.get_data(),
                              headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER),
                              key=headers.get("Idempotency-Key")
                              or headers.get("X-Lowrise-Delivery"))
    except WebhookUnknown as exc:
        return jsonify(error=say(exc)), 404
    except WebhookRefused as exc:
        return jsonify(error=say(exc)), 403
    except NotFound as exc:
        return jsonify(error=say(exc)), 404
    except ValidationError as exc:
        return jsonify(error=say(exc), errors=say_all(exc.errors)), 422
    if run is None:  # accepted before: a retry or a replay, not run again
        return jsonify(ok=True, duplicate=True, ran=False)
    return jsonify(ok=True, ran=bool(run.conditions), actions=run.results)
