"""Approvals in the browser: the approver's queue (/approvals, in the navigation with its
count), the approval panel of a record page (rounds, trail, what changed since the round
before, the decision form), deciding in one click, and starting an approval from its button.
Every route reads the record with the person's Actor first: a record out of their rows is
404, as the record page is (lowrise.approvals checks again)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, request, url_for
from flask_babel import gettext as _

from lowrise.approvals import queue as q
from lowrise.approvals.engine import Approvals, install
from lowrise.approvals.model import for_type
from lowrise.errors import Forbidden, NotFound, ValidationError

from . import data
from .auth import actor
from .guard import may
from .i18n import current_locale, label, say
from .runtime import rt
from .viewdefs import record_type_or_404

bp = Blueprint("approvals", __name__)


def engine() -> Approvals:
    return install(rt().records)


def status_label(status: str) -> str:
    return {"running": _("In approval"), "approved": _("Approved"), "refused": _("Refused"),
            "returned": _("Sent back to the requester"), "cancelled": _("Withdrawn"),
            "restarted": _("Started again after a change")}.get(status, status)


def event_label(event: str) -> str:
    return {"started": _("asked for approval"), "approve": _("approved"),
            "refuse": _("refused"), "send_back": _("sent it back"),
            "add": _("added an approver"), "delegate": _("handed it on"),
            "escalated": _("escalated (no decision in time)"),
            "restarted": _("changed approved terms: approval starts again"),
            "approved": _("approval complete"), "refused_end": _("approval refused"),
            "returned": _("back with the requester"), "cancelled": _("approval withdrawn")
            }.get(event, event)


def _waiting() -> int:
    """How many approvals wait for the person (counted once a request: the navigation and
    the queue page both show it)."""
    from flask import g

    if "approvals_waiting" not in g:
        me = actor()
        g.approvals_waiting = 0 if me is None or not rt().workspace.approvals else q.count(
            rt().records, me)
    return g.approvals_waiting


def _people(ids: set[int]) -> dict[int, str]:
    users = rt().workspace.users_type
    if not users or not ids:
        return {}
    titles = data.titles({users: set(ids)}, current_locale())
    return {i: titles.get((users, i), f"#{i}") for i in ids}


def _who(task: dict[str, Any], people: dict[int, str]) -> str:
    if task.get("assignee") is not None:
        return people.get(task["assignee"], f"#{task['assignee']}")
    role = rt().workspace.roles.get(task.get("role") or "")
    return _("anyone who is %(role)s", role=label(role) if role else task.get("role"))


@bp.route("/approvals")
def queue_page():
    """The approvals waiting for me, newest first."""
    from flask import render_template

    run, me = rt(), actor()
    before = request.args.get("before", type=int)
    rows = q.queue(run.records, me, before=before)
    refs: dict[str, set[int]] = {}
    for r in rows:
        refs.setdefault(r["record_type"], set()).add(r["record_id"])
    titles = data.titles(refs, current_locale())
    changed = q.changes_for(run.records, rows)
    for r in rows:
        rtype = run.workspace.type(r["record_type"])
        r["title"] = titles.get((r["record_type"], r["record_id"]), f"#{r['record_id']}")
        r["type_label"] = label(rtype)
        r["changes"] = [label(rtype.fields[f].label) for f in changed.get(r["approval_id"], ())
                        if f in rtype.fields]
    more = rows[-1]["task_id"] if len(rows) == q.QUEUE_LIMIT else None
    return render_template("approvals/queue.html", rows=rows, more=more, waiting=_waiting())


def _back(default: str) -> str:
    target = request.form.get("next") or ""
    return target if target.startswith("/") and not target.startswith("//") else default


@bp.route("/approvals/tasks/<int:task_id>", methods=["POST"])
def act(task_id: int):
    """One decision on one task: approve, refuse, send back, add an approver, delegate."""
    decision = request.form.get("decision", "")
    to_step = request.form.get("to_step", type=int)
    person = request.form.get("person", type=int)
    try:
        engine().act(task_id, actor(), decision, comment=request.form.get("comment"),
                     to_step=to_step, person=person)
    except NotFound:
        abort(404)
    except ValidationError as exc:
        flash(say(next(iter(exc.errors.values()), exc)), "error")
        return redirect(_back(url_for("approvals.queue_page")))
    done = {"approve": _("Approved."), "refuse": _("Refused."), "send_back": _("Sent back."),
            "add": _("Approver added."), "delegate": _("Handed on.")}
    flash(done.get(decision, _("Done.")), "success")
    return redirect(_back(url_for("approvals.queue_page")))


@bp.route("/r/<type_name>/<int:record_id>/approvals/<name>", methods=["POST"])
def start(type_name: str, record_id: int, name: str):
    """Start an approval from its button on the record page."""
    record_type_or_404(rt().workspace, type_name)
    back = url_for("records.show", type_name=type_name, record_id=record_id,
                   _anchor="approvals")
    try:
        ap = engine().approval(name)
        if ap.record_type != type_name:
            abort(404)
        engine().start(ap, record_id, actor(), button=True)
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    except ValidationError as exc:
        flash(say(next(iter(exc.errors.values()), exc)), "error")
        return redirect(back)
    flash(_("Sent for approval."), "success")
    return redirect(back)


def _visible(rtype, name: str, record) -> bool:
    pol = rt().records.policy(actor())
    return pol is None or pol.field_access(rtype.name, name, record) == "visible"


def _change(rtype, name: str, before, after) -> tuple[str, str, str]:
    """A field's label and its values before and after, as the record page shows them."""
    from .display import from_json, text

    f = rtype.fields[name]
    return (label(f.label), text(f, from_json(f, before)) or "—",
            text(f, from_json(f, after)) or "—")


def panel(rtype, record: dict[str, Any]) -> dict[str, Any] | None:
    """What the record page shows of its approvals (None: its type has none)."""
    run, me = rt(), actor()
    declared = for_type(run.workspace, rtype.name)
    if not declared:
        return None
    rounds = q.rounds(run.records, rtype.name, record["id"])
    ids: set[int] = set()
    for r in rounds:
        ids |= {t["assignee"] for t in r["tasks"] if t["assignee"] is not None}
        ids |= {e["actor"] for e in r["trail"] if e["actor"] is not None}
    people = _people(ids)
    shown = []
    for i, r in enumerate(rounds[:5]):
        ap = r["approval"]
        if ap is None:
            continue
        mine = [t for t in r["tasks"] if t["status"] == "pending"
                and Approvals.may_decide(t, me) and me.user != r["requester"]]
        changes = q.changes_since_last_round(rounds, i)
        shown.append(dict(
            round=r, approval=ap, status=status_label(r["status"]),
            step=label(ap.steps[r["step"]].label) if r["step"] < len(ap.steps) else "",
            waiting=[_who(t, people) for t in r["tasks"] if t["status"] == "pending"],
            trail=[dict(e, who=e["actor_name"] or _("system"), what=event_label(
                "refused_end" if e["event"] == "refused" else e["event"])) for e in r["trail"]],
            changes=[_change(rtype, f, b, a) for f, (b, a) in changes.items()
                     if f in rtype.fields and _visible(rtype, f, record)],
            mine=mine[0] if mine else None,
            earlier=[(j, label(s.label)) for j, s in enumerate(ap.steps[:r["step"]])]))
    running = {r["name"] for r in rounds if r["status"] == "running"}
    buttons = [ap for ap in declared if ap.button is not None and ap.name not in running
               and may("update", rtype.name)]
    people_choices = []
    if any(s["mine"] for s in shown) and run.workspace.users_type:
        from lowrise.storage import query

        users = run.workspace.type(run.workspace.users_type)
        with run.engine.connect() as conn:
            page = query.list_records(conn, run.schema, users.name, limit=200, ctx=me,
                                      fields=[users.title_field])
        people_choices = [(p["id"], data.title_of(users, p, current_locale()))
                          for p in page.rows if p["id"] != me.user]
    return dict(rounds=shown, buttons=buttons, people=people_choices)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _approvals() -> dict[str, Any]:
        return {"approvals_waiting": _waiting, "approval_panel": panel,
                "approvals_declared": lambda: bool(rt().workspace.approvals)}


def history_note(note: str | None, locale: str) -> str | None:
    """An approval's history entry: the approval, what happened, the comment."""
    import json

    try:
        entry = json.loads(note or "")
    except ValueError:
        return note
    name = entry.get("approval", "")
    if name in rt().workspace.approvals:
        name = label(engine().approval(name).label, locale)
    event = entry.get("event", "")
    what = event_label("refused_end" if event == "refused" else event)
    if entry.get("comment"):
        return _("%(approval)s: %(what)s (%(comment)s)", approval=name, what=what,
                 comment=entry["comment"])
    return _("%(approval)s: %(what)s", approval=name, what=what)
