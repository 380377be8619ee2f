"""The request's access policy (lowrise.access) as pages use it: what to show, what to offer.

The engine enforces permissions on every read and write given the request's Actor; this
module only keeps pages from offering what the engine would refuse (a hidden column, an
Edit button on a record one may not change) and answers Forbidden with a 403 page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, abort, g, render_template, request

from lowrise.access import Policy
from lowrise.errors import Forbidden
from lowrise.workspace.model import Field, RecordType

from .i18n import say
from .runtime import rt


def policy() -> Policy:
    """The signed-in person's Policy (built once a request)."""
    if "policy" not in g:
        g.policy = Policy.for_actor(g.actor, rt().workspace)
    return g.policy


def may(action: str, type_name: str) -> bool:
    return g.get("actor") is not None and policy().may(action, type_name)


def require(action: str, type_name: str) -> None:
    """403 unless the person may `action` records of this type."""
    if not may(action, type_name):
        abort(403)


def is_admin() -> bool:
    return g.get("actor") is not None and policy().is_admin


def require_admin() -> None:
    """403 unless the person sees and does everything (rule pages, failed messages)."""
    if not is_admin():
        abort(403)


def is_account_admin() -> bool:
    """Whether the person manages accounts: a role flagged `admin: true`, or, where no role
    is flagged, a role named admin."""
    user = g.get("user")
    if user is None:
        return False
    ws = rt().workspace
    flagged = {n for n, r in ws.roles.items() if r.config.get("admin") is True}
    return bool(set(user.roles) & flagged) if flagged else "admin" in user.roles


def require_account_admin() -> None:
    if not is_account_admin():
        abort(403)


def shown_fields(rtype: RecordType, fields: Iterable[Field],
                 record: Mapping[str, Any] | None = None) -> list[Field]:
    """The fields the person sees (on `record` when given; hidden fields left out)."""
    pol = policy()
    return [f for f in fields if pol.field_access(rtype.name, f.name, record) != "hidden"]


def writable_fields(rtype: RecordType, fields: Iterable[Field],
                    record: Mapping[str, Any] | None = None) -> list[Field]:
    """The fields the person may set: on `record`, or on a new record when None. A locked
    record's closed fields are not among them (the form shows them as values)."""
    from lowrise.storage import locks

    from .auth import actor

    pol = policy()
    closed: set[str] = set()
    if record is not None and rtype.locked is not None:
        who = actor()
        closed = {f.name for f in fields if f.name in rtype.fields and
                  locks.refused(rt().workspace, rtype, record, [f.name], who)}
    return [f for f in fields if f.name not in closed and
            pol.may_write_field(rtype.name, f.name, record, creating=record is None)]


def can_change(rtype: RecordType, record_id: int, action: str = "update") -> bool:
    """Whether the person may update (or delete) this record: the action and the row."""
    pol = policy()
    if not pol.may(action, rtype.name):
        return False
    run = rt()
    with run.engine.connect() as conn:
        return record_id in pol.ids_in_scope(conn, run.schema, rtype.name, [record_id],
                                             action)


def masked_fields(rtype: RecordType, record: Mapping[str, Any]) -> list[str]:
    access = getattr(record, "access", {}) or {}
    return [n for n, how in access.items() if how == "masked"]


def _forbidden(exc):
    if request.path.startswith("/api/"):
        from .api import _http_problem, problem

        if isinstance(exc, Forbidden):  # raised outside the API's own handlers
            return problem(403, "forbidden", "Not allowed", str(exc))
        return _http_problem(exc)  # a problem document, like every API error
    return render_template("error.html", code=403, message=say(exc) if isinstance(
        exc, Forbidden) else None), 403


def init_app(app: Flask) -> None:
    app.register_error_handler(Forbidden, _forbidden)
    app.register_error_handler(403, _forbidden)
    app.jinja_env.globals.update(may=may, is_admin=is_admin, is_account_admin=is_account_admin,
                                 field_access=lambda t, n, r=None:
                                 policy().field_access(t, n, r))
