"""Comments on the record page: the list (people's and rules'), the form (htmx appends the new
comment; without JavaScript a POST and a redirect), deleting one's own comment, and the
@-mention autocomplete. Every route answers 404 for a record out of the person's rows and 403
for a type their role may not read, as the record page does (lowrise.comments checks it).

Also what the record page shows of automations: the runs that touched the record.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from jinja2_fragments.flask import render_block
from markupsafe import Markup

from lowrise.comments import Comment, CommentError, Comments, Posted, segments
from lowrise.errors import Forbidden, NotFound
from lowrise.i18n import Lazy, msg, to_text, tr
from lowrise.rules import history

from . import data
from .auth import actor
from .guard import can_change, may
from .i18n import label
from .render import hx, is_htmx
from .runtime import rt
from .viewdefs import record_type_or_404

bp = Blueprint("comments", __name__)
TEMPLATE = "comments.html"


def comments() -> Comments:
    from flask import current_app

    return current_app.extensions["lowrise_comments"]


def init_app(app: Flask) -> None:
    run = app.extensions["lowrise"]
    app.extensions["lowrise_comments"] = Comments(run.records, run.accounts)
    app.register_blueprint(bp)


def _messages() -> dict[str, str]:
    return {"empty": _("Write something before sending the comment."),
            "too_long": _("A comment has at most 5000 characters."),
            "not_text": _("The comment holds a character that is not text; remove it.")}


def _rules():
    from .rules import rules_rt

    return rules_rt()


def _rule_labels() -> dict[str, str]:
    return {name: label(r.label) for name, r in _rules().engine.rules.rules.items()}


def _record_or_404(type_name: str, record_id: int):
    rtype = record_type_or_404(rt().workspace, type_name)
    try:
        return rtype, rt().records.get(type_name, record_id, actor=actor())
    except NotFound:
        abort(404)


def _item_context(type_name: str, record_id: int) -> dict:
    users = rt().workspace.users_type
    box, me = comments(), actor()
    return dict(type_name=type_name, record_id=record_id, rule_labels=_rule_labels(),
                may_remove=lambda c: box.may_delete(c, me),
                may_edit=lambda c: box.may_edit(c, me),
                parts=lambda c: segments(c.body, c.mentions),
                staff_link=bool(users) and may("read", users), users_type=users)


def record_context(rtype, record_id: int, *, draft: str = "", error: str | None = None
                   ) -> dict:
    """What the record page shows of comments and automations."""
    r = _rules()
    engine = rt().engine
    buttons = [rule for rule in r.engine.rules.rules.values()
               if rule.record_type == rtype.name and rule.trigger_kind == "manual"
               and rule.enabled] if can_change(rtype, record_id, "update") else []
    return dict(comments=comments().list(rtype.name, record_id, actor()), draft=draft,
                comment_error=error, notes=[], oob=False,
                rule_runs=history.runs(engine, r.tables, record=(rtype.name, record_id),
                                       limit=20),
                rule_buttons=buttons, run_status=_run_status,
                **_item_context(rtype.name, record_id))


def _run_status(status: str) -> str:
    return {"ok": _("done"), "skipped": _("conditions not met"), "blocked": _("refused the change"),
            "failed": _("failed"), "depth_limit": _("stopped: too many nested runs")
            }.get(status, status)


@bp.route("/r/<type_name>/<int:record_id>/comments")
def section(type_name: str, record_id: int):
    """The comments of a record (an htmx partial; the record page otherwise)."""
    rtype, _record = _record_or_404(type_name, record_id)
    if not is_htmx():
        return redirect(url_for("records.show", type_name=type_name, record_id=record_id,
                                _anchor="comments"))
    return render_block(TEMPLATE, "comments", **record_context(rtype, record_id))


def _notice(rtype, record) -> Callable[[Comment], str]:
    """The inbox title of a mention, kept as a message: each person reads it in their own
    language (as a rule's notice)."""
    ws = rt().workspace

    def word(comment: Comment) -> str:
        title = msg("%(who)s mentioned you on %(type)s %(title)s", who=comment.author_name,
                    type=rtype.label, title=Lazy(lambda loc: data.title_of(rtype, record, loc)))
        kept = to_text(title, ws.locales)
        return kept if len(kept) <= 255 else tr(title, ws.default_locale)[:255]
    return word


def _notes(posted: Posted) -> list[tuple[str, str]]:
    """What the author is told about the people mentioned: (category, message)."""
    def names(ms) -> str:
        return ", ".join(m.name for m in ms)

    out = []
    if posted.notified:
        out.append(("success", _("Notified: %(names)s.", names=names(posted.notified))))
    if posted.no_access:
        out.append(("info", _("%(names)s may not see this record and were not notified.",
                              names=names(posted.no_access))))
    if posted.no_account:
        out.append(("info", _("%(names)s cannot sign in and were not notified.",
                              names=names(posted.no_account))))
    if posted.unknown:
        out.append(("info", _("Nobody you can see is called %(names)s; nobody was notified "
                              "for it.", names=", ".join("@" + u for u in posted.unknown))))
    return out


@bp.route("/r/<type_name>/<int:record_id>/comments", methods=["POST"])
def add(type_name: str, record_id: int):
    rtype, record = _record_or_404(type_name, record_id)
    body = request.form.get("body", "")
    try:
        posted = comments().add(type_name, record_id, body, actor(),
                                notice=_notice(rtype, record))
    except CommentError as exc:
        error = _messages().get(exc.code, str(exc))
        if is_htmx():
            ctx = dict(type_name=type_name, record_id=record_id, draft=body,
                       comment_error=error, notes=[], oob=False)
            return hx(_fragment("compose", 422, **ctx), retarget="#comment-compose",
                      reswap="outerHTML")
        from .records import show

        resp = show(type_name, record_id, compose=dict(draft=body, error=error))
        resp.status_code = 422
        return resp
    except (NotFound, Forbidden):
        abort(404)
    notes = _notes(posted)
    if is_htmx():
        ctx = _item_context(type_name, record_id)
        count = len(comments().list(type_name, record_id, actor()))
        html = "".join([render_block(TEMPLATE, "item", c=posted.comment, **ctx),
                        render_block(TEMPLATE, "compose", type_name=type_name,
                                     record_id=record_id, draft="", comment_error=None,
                                     notes=notes, oob=True),
                        str(_count(count))])
        return hx(_response(html), trigger={"lowrise:toast": {"message": _("Comment added.")}})
    flash(_("Comment added."), "success")
    for category, message in notes:
        flash(message, category)
    return redirect(url_for("records.show", type_name=type_name, record_id=record_id,
                            _anchor=f"comment-{posted.comment.id}"))


def _comment_of(type_name: str, record_id: int) -> Comment:
    """The comment the form names (`comment`), if it is on this record and readable."""
    comment_id = request.form.get("comment", type=int)
    if comment_id is None:
        abort(404)
    try:
        c = comments().get(comment_id, actor())
    except NotFound:
        abort(404)
    if (c.record_type, c.record_id) != (type_name, record_id):
        abort(404)
    return c


@bp.route("/r/<type_name>/<int:record_id>/comments/edit", methods=["POST"])
def edit(type_name: str, record_id: int):
    """Change the text of one's own comment (the form's `comment` and `body`)."""
    rtype, record = _record_or_404(type_name, record_id)
    c = _comment_of(type_name, record_id)
    try:
        posted = comments().edit(c.id, request.form.get("body", ""), actor(),
                                 notice=_notice(rtype, record))
    except Forbidden:
        abort(403)
    except CommentError as exc:
        error = _messages().get(exc.code, str(exc))
        if is_htmx():
            return hx(_response("", 422), trigger={"lowrise:toast": {"message": error,
                                                                      "error": True}},
                      reswap="none")
        flash(error, "error")
        return redirect(url_for("records.show", type_name=type_name, record_id=record_id,
                                _anchor=f"comment-{c.id}"))
    notes = [_("Comment saved.")] + [message for _cat, message in _notes(posted)]
    if is_htmx():
        html = render_block(TEMPLATE, "item", c=posted.comment,
                            **_item_context(type_name, record_id))
        return hx(_response(html), trigger={"lowrise:toast": {"message": " ".join(notes)}})
    for message in notes:
        flash(message, "success")
    return redirect(url_for("records.show", type_name=type_name, record_id=record_id,
                            _anchor=f"comment-{c.id}"))


@bp.route("/r/<type_name>/<int:record_id>/comments/delete", methods=["POST"])
def delete(type_name: str, record_id: int):
    """Delete one comment of the record (the form's `comment`): one's own, or any for admins."""
    _record_or_404(type_name, record_id)
    box = comments()
    c = _comment_of(type_name, record_id)
    try:
        box.delete(c.id, actor())
    except Forbidden:
        abort(403)
    if is_htmx():
        return _response(str(_count(len(box.list(type_name, record_id, actor())))))
    flash(_("Comment deleted."), "success")
    return redirect(url_for("records.show", type_name=type_name, record_id=record_id,
                            _anchor="comments"))


@bp.route("/r/<type_name>/<int:record_id>/comments/mentions")
def mentions(type_name: str, record_id: int):
    """Colleagues whose name starts with what follows the "@" (listbox options, htmx)."""
    _record_or_404(type_name, record_id)
    q = request.args.get("q", "").strip()[:50]
    box = comments()
    people = box.people(q, actor()) if q else []
    audience = box.audience(type_name, record_id, [p.id for p in people])
    items = [Markup('<li role="option" id="mention-opt-{id}" data-id="{id}" data-name="{name}" '
                    'aria-selected="false"><span>{name}</span>{hint}</li>').format(
        id=p.id, name=p.name, hint=Markup('<span class="muted">{}</span>').format(
            _("may not see this record") if audience.get(p.id) == "no_access" else
            _("cannot sign in")) if audience.get(p.id) != "reader" else "")
        for p in people]
    if q and not items:
        items = [Markup('<li class="none" role="option" aria-disabled="true">{}</li>').format(
            _("No match"))]
    return Markup("").join(items)


def _fragment(block: str, status: int, **ctx):
    return _response(render_block(TEMPLATE, block, **ctx), status)


def _response(html: str, status: int = 200):
    from flask import make_response

    return make_response(html, status)


def _count(n: int) -> str:
    return Markup('<span class="count" id="comment-count" hx-swap-oob="true">{}</span>').format(n)
