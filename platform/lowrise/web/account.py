"""Accounts in the browser: everyone changes their own password and sees (and ends) where
they are signed in; admins invite people, set their roles and the person record they are, and
deactivate them.

An invitation makes the account with a one-time password shown to the admin once (to hand
over); the person changes it at /account/password after signing in.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from lowrise.accounts import AccountError
from lowrise.sessions import Sessions

from .guard import require_account_admin
from .i18n import say
from .runtime import rt
from .security import limiter
from .sessions import current_token, store

bp = Blueprint("account", __name__)


@bp.route("/account/password", methods=["GET", "POST"])
def password():
    error = None
    status = 200
    if request.method == "POST":
        accounts = rt().accounts
        current = request.form.get("current", "")
        new, again = request.form.get("new", ""), request.form.get("again", "")
        client = request.remote_addr or ""
        if limiter().retry_after(client, g.user.email):
            error, status = _("Too many failed attempts. Try again later."), 429
        elif accounts.authenticate(g.user.email, current) is None:
            limiter().failed(client, g.user.email)
            error, status = _("The current password is wrong."), 422
        elif new != again:
            error, status = _("The two new passwords differ."), 422
        else:
            try:
                accounts.set_password(g.user.id, new, keep_session=current_token())
            except AccountError as exc:
                error, status = say(exc), 422
            else:
                # this session goes on; every other session of the account ends
                session["stamp"] = accounts.get(g.user.id).session_stamp
                flash(_("Your password is changed. Other sessions are signed out."), "success")
                return redirect(url_for(".password"))
    return render_template("account/password.html", error=error,
                           title=_("Change your password"),
                           sessions=store().for_user(g.user.id),
                           this_session=Sessions.key_of(current_token())), status


@bp.route("/account/sessions/end", methods=["POST"])
def end_other_sessions():
    """Sign out everywhere else: every other session of this account ends now."""
    n = store().end_for_user(g.user.id, keep=current_token())
    flash(_("Signed out of %(n)s other session(s).", n=n), "success")
    return redirect(url_for(".password"))


def _roles_from_form() -> list[str]:
    known = rt().workspace.roles
    return [r for r in request.form.getlist("roles") if r in known]


def _staff_from_form() -> int | None:
    raw = (request.form.get("staff_id") or "").strip()
    return int(raw) if raw.isdigit() else None


@bp.route("/admin/users", methods=["GET", "POST"])
def users():
    require_account_admin()
    accounts = rt().accounts
    invited = None
    if request.method == "POST":
        temporary = secrets.token_urlsafe(12)
        try:
            account = accounts.add(request.form.get("email", ""), temporary,
                                   name=request.form.get("name", "").strip(),
                                   roles=_roles_from_form(), staff_id=_staff_from_form())
        except AccountError as exc:
            flash(say(exc), "error")
        else:
            invited = (account, temporary)
    ws = rt().workspace
    return render_template("account/users.html", accounts=accounts.list(), invited=invited,
                           roles=ws.roles, title=_("Users"))


@bp.route("/admin/users/<int:user_id>", methods=["POST"])
def update_user(user_id: int):
    require_account_admin()
    accounts = rt().accounts
    account = accounts.get(user_id)
    if account is None:
        flash(_("There is no such account."), "error")
        return redirect(url_for(".users"))
    action = request.form.get("action")
    try:
        if action in ("deactivate", "activate"):
            if account.id == g.user.id:
                raise AccountError(_("You cannot deactivate your own account."))
            accounts.set_active(user_id, action == "activate")
        elif action == "save":
            roles = _roles_from_form()
            flagged = [n for n, r in rt().workspace.roles.items()
                       if r.config.get("admin") is True] or ["admin"]
            if account.id == g.user.id and not set(roles) & set(flagged):
                raise AccountError(_("You cannot take the admin role from yourself."))
            accounts.set_roles(user_id, roles)
            accounts.link_staff(user_id, _staff_from_form())
        else:
            raise AccountError(_("Unknown action."))
    except AccountError as exc:
        flash(say(exc), "error")
    else:
        flash(_("%(email)s updated.", email=account.email), "success")
    return redirect(url_for(".users"))
