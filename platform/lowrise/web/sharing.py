"""Sharing in the app, for signed-in people: one's calendar feeds and share links on the
account's sharing page, a view's "Share" page, a calendar's "Subscribe" button, a link's
visits. The engine is lowrise.sharing; the anonymous side is in public_forms.py (the forms
visitors fill in) and shared.py (share links and feeds).

`init_app(app)` registers the three blueprints, the sharing services and the endpoints
reachable without signing in.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Flask, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from lowrise.sharing import links as share_links
from lowrise.sharing.feeds import Feeds
from lowrise.sharing.forms import PublicForms, may_manage
from lowrise.sharing.limits import FormLimit
from lowrise.sharing.links import EXPIRIES, ShareError, ShareLinks
from lowrise.sharing.spec import feed_spec, public_forms, shareable

from . import auth
from .guard import is_admin, may, require
from .i18n import say
from .runtime import rt
from .viewdefs import record_type_or_404

bp = Blueprint("sharing", __name__)


@dataclass
class Sharing:
    """The app's sharing services (their tables are the same whatever the workspace)."""

    forms: PublicForms
    limit: FormLimit
    feeds: Feeds
    links: ShareLinks


def services() -> Sharing:
    from flask import current_app

    return current_app.extensions["lowrise_sharing"]


def _view_or_404(type_name: str, view_name: str, kinds: tuple[str, ...]):
    ws = rt().workspace
    record_type_or_404(ws, type_name)
    view = ws.views.get(view_name)
    if view is None or view.record_type != type_name or view.type not in kinds:
        abort(404)
    require("read", type_name)
    return view


def _page(status: int = 200, **extra):
    """The account's sharing page: feeds, share links (everyone's for admins), forms."""
    ws, s, user = rt().workspace, services(), g.user
    calendars = [v for v in ws.views.values() if feed_spec(v) is not None
                 and may("read", v.record_type)]
    forms = [f for f in public_forms(ws) if may_manage(ws, g.actor, f)]
    names = {u.id: u.name for u in rt().accounts.list()} if is_admin() else {}
    return render_template(
        "sharing/account.html", feeds=s.feeds.list(user.id), calendars=calendars,
        links=s.links.list(user.id), all_links=s.links.list() if is_admin() else [],
        names=names, forms=forms, views=ws.views, now=g.actor.now(),
        title=_("Sharing and calendar feeds"), **extra), status


@bp.get("/account/sharing")
def account():
    return _page()


@bp.post("/r/<type_name>/calendar/<view_name>/feed")
def new_feed(type_name: str, view_name: str):
    view = _view_or_404(type_name, view_name, ("calendar",))
    if feed_spec(view) is None:
        abort(404)
    token, _feed = services().feeds.create(g.user.id, view.name)
    url = url_for("shared.feed", token=token, _external=True)
    return _page(new_feed_url=url, new_feed_view=view)


@bp.post("/account/feeds/<int:feed_id>/revoke")
def revoke_feed(feed_id: int):
    if services().feeds.revoke(feed_id, g.user.id):
        flash(_("The feed is revoked: calendars subscribed to it get nothing from now on."),
              "info")
    return redirect(url_for(".account"))


@bp.route("/r/<type_name>/share/<view_name>", methods=["GET", "POST"])
def share(type_name: str, view_name: str):
    view = _view_or_404(type_name, view_name, ("table", "kanban", "calendar"))
    if not shareable(view):
        abort(404)
    ws = rt().workspace
    roles = share_links.roles_to_narrow(ws, g.user)
    error, status = None, 200
    if request.method == "POST":
        try:
            days = int(request.form.get("days") or 0)
            token, link = services().links.create(
                ws, g.user, view, days=days, role=request.form.get("role") or None,
                allow_export=bool(request.form.get("export")) and may("export", type_name),
                note=request.form.get("note", ""))
        except ValueError:
            error, status = _("Choose how long the link lasts."), 422
        except ShareError as exc:
            error, status = say(exc), 422
        else:
            return render_template("sharing/share.html", view=view, link=link,
                                   url=url_for("shared.page", token=token, _external=True),
                                   title=_("Share a view")), 201
    return render_template("sharing/share.html", view=view, roles=roles, expiries=EXPIRIES,
                           error=error, may_export=may("export", type_name),
                           title=_("Share a view")), status


def _link_or_404(link_id: int):
    link = services().links.get(link_id)
    if link is None or (link.account_id != g.user.id and not is_admin()):
        abort(404)  # another person's link reads as no link at all
    return link


@bp.get("/shares/<int:link_id>")
def link_visits(link_id: int):
    link = _link_or_404(link_id)
    sharer = rt().accounts.get(link.account_id)
    return render_template("sharing/visits.html", link=link, view=rt().workspace.views.get(
        link.view), sharer=sharer, visits=services().links.visits(link.id),
        now=g.actor.now(), title=_("Visits of a share link"))


@bp.post("/shares/<int:link_id>/revoke")
def revoke_link(link_id: int):
    link = _link_or_404(link_id)
    if services().links.revoke(link.id, g.user.id, any_sharer=is_admin()):
        flash(_("The link is revoked: it opens nothing from now on."), "info")
    return redirect(url_for(".account"))


def init_app(app: Flask) -> None:
    """Register the sharing pages, the public ones, and the services."""
    from . import public_forms as forms_web
    from . import shared

    run = app.extensions["lowrise"]
    system, accounts = run.schema.system, run.accounts
    app.extensions["lowrise_sharing"] = Sharing(
        forms=PublicForms(run.engine, system["lr_public_forms"]),
        limit=FormLimit(run.engine, system["lr_form_posts"]),
        feeds=Feeds(run.engine, system["lr_feeds"], accounts),
        links=ShareLinks(run.engine, system["lr_share_links"], system["lr_share_visits"],
                         accounts))
    app.register_blueprint(bp)
    app.register_blueprint(forms_web.bp)
    app.register_blueprint(shared.bp)
    # reachable without signing in: each answers 404 unless its token opens something
    auth.PUBLIC.update({"public_forms.fill", "public_forms.thanks", "shared.page",
                        "shared.export", "shared.feed"})
    # the public form checks its CSRF token itself, to answer an expired one in the
    # visitor's language; nothing else is exempt
    app.extensions["csrf"].exempt(forms_web.fill)
    app.jinja_env.globals["share_url"] = lambda view: (
        url_for("sharing.share", type_name=view.record_type, view_name=view.name)
        if view.name and shareable(view) else None)
