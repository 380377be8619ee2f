"""Public forms: the page a visitor fills in without signing in (/f/<token>), and the page
where the people who manage a form publish, renew or withdraw its link (/forms/<view>).

The visitor's page shows only the form's own fields, in the language of `?lang=` (the
workspace's default otherwise), with a CSRF token, a field only bots fill in and the time
the form was opened (signed): a post sooner than the form's `min_seconds` is not taken, one
with the bait field filled is thanked and dropped. Posts are rate-limited per address and
per form (lowrise.sharing.limits). Whatever became of a submission (a new record, or a known
one told), the visitor sees the same thanks. The visit needs no session beyond the CSRF
token's.
"""

from __future__ import annotations

import dataclasses
import time

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import refresh
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeTimedSerializer

from lowrise.sharing.forms import may_manage
from lowrise.sharing.spec import PublicForm, public_form, public_forms
from lowrise.sharing.submit import Refused, submit

from .forms import make_field
from .i18n import current_locale, label, say, say_about
from .runtime import rt

bp = Blueprint("public_forms", __name__)

BAIT = "website"  # the field only bots fill in (hidden from people and screen readers)
OPENED = "opened"  # when the page was served, signed
SALT = "lowrise-public-form"
MAX_AGE = 86400  # a form opened more than a day ago is served again
MAX_POST = 64 * 1024  # bytes a visitor may send (the app's limit is for uploads)


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


@bp.before_request
def visitor_locale() -> None:
    """`?lang=zh|en` chooses the page's language without a session; a visitor's post is
    read only up to MAX_POST bytes."""
    lang = request.args.get("lang")
    if lang in rt().workspace.locales:
        g.locale = lang
        refresh()
    if request.endpoint == "public_forms.fill":
        request.max_content_length = MAX_POST


@bp.errorhandler(413)
def too_long(_exc):
    return make_response(render_template(
        "sharing/gone.html", title=_("The form is too long"),
        message=_("The answers are too long to send. Please shorten them and try again.")), 413)


def _form_or_404(token: str) -> PublicForm:
    form = current_app.extensions["lowrise_sharing"].forms.form_of(rt().workspace, token)
    if form is None:
        abort(make_response(render_template("sharing/gone.html", title=_("Link not found")),
                            404))
    return form


def _wtform(form: PublicForm, locale: str) -> FlaskForm:
    """The WTForms form of a public form: each field as the form words it."""
    attrs = {}
    shown = {}
    for ff in form.fields:
        f = dataclasses.replace(ff.field, label=ff.shown_label(), help=ff.shown_help(),
                                required=ff.must)
        attrs[ff.input_name] = make_field(f, locale)
        shown[ff.input_name] = f
    wtf = type("PublicForm", (FlaskForm,), attrs)()
    for name, f in shown.items():
        wtf[name].lr_field = f
    return wtf


def _raw(form: PublicForm, wtf: FlaskForm) -> dict:
    return {ff.path: wtf[ff.input_name].data for ff in form.fields}


def _page(form: PublicForm, wtf: FlaskForm, token: str, status: int = 200, **extra):
    resp = make_response(render_template(
        "sharing/public_form.html", form=form, wtf=wtf, token=token, bait=BAIT,
        opened=_signer().dumps(form.name), title=label(form.heading()), **extra), status)
    resp.headers["X-Robots-Tag"] = "noindex, nofollow"
    return resp


@bp.route("/f/<token>", methods=["GET", "POST"])
def fill(token: str):
    form = _form_or_404(token)
    locale = current_locale()
    wtf = _wtform(form, locale)
    if request.method == "GET":
        return _page(form, wtf, token)
    s = current_app.extensions["lowrise_sharing"]
    held = s.limit.reserve(form, request.remote_addr or "")
    if held.wait:
        resp = _page(form, wtf, token, 429, notice=_(
            "Too many forms were sent from here. Please try again in %(n)s minute(s).",
            n=max(1, round(held.wait / 60))))
        resp.headers["Retry-After"] = str(held.wait)
        return resp
    if not wtf.validate():  # the CSRF token: the page was open too long, or cookies are off
        s.limit.settle(held.post_id, "refused")
        return _page(form, wtf, token, 400, notice=_(
            "The form expired. Please check your answers and send it again."))
    if request.form.get(BAIT):
        s.limit.settle(held.post_id, "bot")
        return _thanked(token)
    try:
        opened = _signer().loads(request.form.get(OPENED, ""), max_age=MAX_AGE,
                                 return_timestamp=True)[1].timestamp()
    except BadSignature:
        opened = None
    if opened is None or time.time() - opened < form.min_seconds:
        s.limit.settle(held.post_id, "refused")
        return _page(form, wtf, token, 422, notice=_(
            "Please check your answers and send the form again."))
    try:
        done = submit(rt().records, form, _raw(form, wtf), locale=locale)
    except Refused as exc:
        s.limit.settle(held.post_id, "refused")
        problems = []
        for ff in form.fields:
            if ff.path in exc.errors:
                wtf[ff.input_name].errors = [say(exc.errors[ff.path])]
        if "" in exc.errors:
            problems.append(say(exc.errors[""]))
        return _page(form, wtf, token, 422, problems=problems)
    s.limit.settle(held.post_id, done.outcome, done.record_id)
    return _thanked(token)


def _thanked(token: str):
    args = {"lang": g.locale} if request.args.get("lang") else {}
    return redirect(url_for(".thanks", token=token, **args), 303)


@bp.get("/f/<token>/thanks")
def thanks(token: str):
    form = _form_or_404(token)
    resp = make_response(render_template("sharing/public_thanks.html", form=form,
                                         token=token, title=label(form.heading())))
    resp.headers["X-Robots-Tag"] = "noindex, nofollow"
    return resp


# -- the people who manage a form ----------------------------------------------------------

def _managed_or_404(view_name: str) -> PublicForm:
    ws = rt().workspace
    form = public_form(ws, ws.views.get(view_name))
    if form is None:
        abort(404)
    if not may_manage(ws, g.actor, form):
        abort(403)
    return form


@bp.get("/forms")
def index():
    ws = rt().workspace
    forms = [f for f in public_forms(ws) if may_manage(ws, g.actor, f)]
    if not forms:
        abort(403)
    s = current_app.extensions["lowrise_sharing"]
    return render_template("sharing/forms.html", forms=forms,
                           published={f.name: s.forms.current(f.name) for f in forms},
                           title=_("Public forms"))


@bp.route("/forms/<view_name>", methods=["GET", "POST"])
def manage(view_name: str):
    form = _managed_or_404(view_name)
    s = current_app.extensions["lowrise_sharing"]
    action = request.form.get("action") if request.method == "POST" else None
    if action == "publish":
        s.forms.publish(form.name, g.user.id)
    elif action == "renew":
        s.forms.renew(form.name, g.user.id)
    elif action == "revoke":
        s.forms.revoke(form.name, g.user.id)
    elif action is not None:
        abort(400)
    if action:
        return redirect(url_for(".manage", view_name=form.name), 303)
    current = s.forms.current(form.name)
    url = url_for(".fill", token=current.token, _external=True) if current else None
    return render_template("sharing/manage.html", form=form, current=current, url=url,
                           figures=s.limit.figures(form.name), rtype=rt().workspace.type(
                               form.record_type), about=say_about, title=label(form.heading()))
