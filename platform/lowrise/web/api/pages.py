"""Pages for people about the API: the reference (/api/v1/docs) and one's API tokens.

Both are ordinary signed-in pages (a browser without a session goes to the sign-in page).
A new token is shown once, on the page that made it; only its SHA-256 is stored.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from lowrise.accounts import AccountError
from lowrise.openapi import (
    API_PREFIX,
    MAX_BULK,
    MAX_LIMIT,
    PROBLEM_TYPES,
    component_name,
    document,
    writable,
)

from ..i18n import current_locale
from ..runtime import rt

bp = Blueprint("api_pages", __name__)


@bp.get(f"{API_PREFIX}/docs")
def docs():
    ws = rt().workspace
    doc = document(ws)
    return render_template("api/docs.html", doc=doc, types=list(ws.record_types.values()),
                           prefix=API_PREFIX, problems=PROBLEM_TYPES, max_bulk=MAX_BULK,
                           max_limit=MAX_LIMIT, component_name=component_name,
                           writable=writable, locale=current_locale(),
                           title=_("API reference"))


@bp.route("/account/tokens", methods=["GET", "POST"])
def tokens():
    accounts = rt().accounts
    new_token = None
    if request.method == "POST":
        try:
            new_token, _info = accounts.create_token(g.user.id, request.form.get("name", ""))
        except AccountError as exc:
            flash(str(exc), "error")
    return render_template("api/tokens.html", tokens=accounts.list_tokens(g.user.id),
                           new_token=new_token, title=_("API tokens"))


@bp.post("/account/tokens/<int:token_id>/revoke")
def revoke(token_id: int):
    try:
        rt().accounts.revoke_token(token_id, user_id=g.user.id)
        flash(_("The token is revoked: programs using it are refused from now on."), "info")
    except AccountError as exc:
        flash(str(exc), "error")
    return redirect(url_for(".tokens"))
