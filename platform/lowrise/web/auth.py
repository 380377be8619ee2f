"""Sign-in and sign-out; every other page needs a signed-in, active user.

Each request builds its Actor from the signed-in account: the engine receives it explicitly.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired

from lowrise.actor import Actor

from .i18n import current_locale, safe_next
from .render import htmx_redirect
from .runtime import rt
from .security import limiter
from .sessions import renew

bp = Blueprint("auth", __name__, url_prefix="/auth")

#: endpoints reachable without signing in
PUBLIC = {"auth.login", "static", "locale", "login_alias"}


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired()],
                       render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField(_l("Password"), validators=[DataRequired()],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    error = None
    status = 200
    if form.validate_on_submit():
        client, email = request.remote_addr or "", form.email.data or ""
        wait = limiter().reserve(client, email)  # counted as failed unless it succeeds
        if wait:
            minutes = max(1, round(wait / 60))
            error = _l("Too many failed sign-ins. Try again in %(n)s minute(s).", n=minutes)
            resp = make_response(render_template("login.html", form=form, error=error), 429)
            resp.headers["Retry-After"] = str(wait)
            return resp
        user = rt().accounts.authenticate(email, form.password.data)
        if user is not None:
            limiter().succeeded(client, email)
            locale = session.get("locale")
            session.clear()
            if locale and locale != user.locale:  # chosen on this page: theirs from now on
                rt().accounts.set_locale(user.id, locale)
            locale = locale or user.locale
            if locale:
                session["locale"] = locale
            session["uid"] = user.id
            session["stamp"] = user.session_stamp
            session.permanent = True
            renew()  # a new token: one planted before signing in opens nothing
            g.pop("csrf_token", None)  # the forms' token now, not in a later, racing request
            generate_csrf()
            return redirect(safe_next(form.next.data, url_for("pages.home")))
        error = _l("The e-mail or the password is wrong, or the account is not active.")
    elif request.method == "POST":
        error = _l("Enter your e-mail and password.")
    status = 401 if error else status
    return render_template("login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
def logout():
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    renew()  # the signed-in session's row is deleted: a saved copy of the cookie is nothing
    flash(_l("You are signed out."), "info")
    return redirect(url_for("auth.login"))


def load_user():
    """Before every request: find the signed-in user and build the request's Actor."""
    g.user = None
    uid = session.get("uid")
    if uid is not None:
        user = rt().accounts.get(uid)
        if user is not None and user.active and session.get("stamp") == user.session_stamp:
            g.user = user
            g.actor = Actor(user=user.staff_id, name=user.name, roles=frozenset(user.roles),
                            locale=current_locale())
        else:
            session.pop("uid", None)
            session.pop("stamp", None)
    if g.user is None and request.endpoint not in PUBLIC:
        target = url_for("auth.login", next=request.full_path.rstrip("?"))
        return htmx_redirect(target)
    return None


def actor() -> Actor:
    """The Actor of the current request."""
    return g.actor


def _login_alias():
    """`/login` (the address people type or bookmark) is the sign-in page."""
    return redirect(url_for("auth.login", next=safe_next(request.args.get("next"), "") or None))


def init_app(app: Flask) -> None:
    app.before_request(load_user)
    app.add_url_rule("/login", "login_alias", _login_alias)
