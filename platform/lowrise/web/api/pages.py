"""Pages for people about the API: the reference (/api/v1/docs) and one's API tokens.

Both are ordinary signed-in pages (a browser without a session goes to the sign-in page).
A new token is shown once, on the page that made it; only its SHA-256 is stored.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from lowrise.accounts import AccountError
from lowrise.i18n import msg
from lowrise.openapi import (
    API_PREFIX,
    MAX_BULK,
    MAX_LIMIT,
    PROBLEM_TYPES,
    component_name,
    document,
    writable,
)

from ..i18n import current_locale, say
from ..runtime import rt

bp = Blueprint("api_pages", __name__)


@bp.get(f"{API_PREFIX}/docs")
def docs():
    ws = rt().workspace
    doc = document(ws)
    return render_template("api/docs.html", doc=doc, types=list(ws.record_types.values()),
                           prefix=API_PREFIX, problems=PROBLEM_TYPES, max_bulk=MAX_BULK,
                           max_limit=MAX_LIMIT, component_name=component_name,
                           writable=writable, locale=current_locale(), op_summary=op_summary,
                           title=_("API reference"))


#: what each operation of a record type does, by the start of its operationId
OPERATIONS = {
    "list": msg("List %(types)s"), "create": msg("Create a %(type)s"),
    "get": msg("A %(type)s"), "update": msg("Change some fields of a %(type)s"),
    "delete": msg("Move a %(type)s to the trash"),
    "bulk": msg("Create, update or upsert up to %(n)s %(types)s at once, all or nothing"),
    "add": msg("Upload a file to a %(type)s (added to the field's files; a field of one "
               "file: in place of it)"),
    "replace": msg("Replace the files of a %(type)s's field by the upload"),
    "download": msg("Download a file of a %(type)s"),
    "remove": msg("Remove a file from a %(type)s"),
    "aggregate": msg("Count, sum, average, minimum and maximum of %(types)s per group"),
    "export": msg("Export %(types)s as CSV or Excel (needs the export permission; "
                  "confidential fields as the role may export them; every export is logged)"),
}


def op_summary(op: dict, rtype) -> str:
    """An operation's summary in the reader's language (the OpenAPI document's is English)."""
    said = OPERATIONS.get((op.get("operationId") or "").split("_", 1)[0])
    if said is None:
        return op.get("summary") or ""
    return say(msg(said.id, type=rtype.label, types=rtype.label_plural, n=MAX_BULK))


@bp.route("/account/tokens", methods=["GET", "POST"])
def tokens():
    accounts = rt().accounts
    new_token = None
    if request.method == "POST":
        try:
            new_token, _info = accounts.create_token(g.user.id, request.form.get("name", ""))
        except AccountError as exc:
            flash(say(exc), "error")
    return render_template("api/tokens.html", tokens=accounts.list_tokens(g.user.id),
                           new_token=new_token, title=_("API tokens"))


@bp.post("/account/tokens/<int:token_id>/revoke")
def revoke(token_id: int):
    try:
        rt().accounts.revoke_token(token_id, user_id=g.user.id)
        flash(_("The token is revoked: programs using it are refused from now on."), "info")
    except AccountError as exc:
        flash(say(exc), "error")
    return redirect(url_for(".tokens"))
