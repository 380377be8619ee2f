"""Documents on the record page and in the API: a button per document the person may make on
the record, and POST .../documents/<name> that makes it (lowrise.documents) and stores it on
the record. The engine reads the record as the person sees it and refuses what they may not
make; this module only shows its answers, in the person's language."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, flash, redirect, url_for
from flask_babel import gettext as _

from lowrise import documents
from lowrise.errors import ConflictError, Forbidden, LowriseError, NotFound, ValidationError

from .auth import actor
from .i18n import field_problems, label, say
from .runtime import rt
from .viewdefs import record_type_or_404

bp = Blueprint("documents", __name__)


def document_offers(rtype, record) -> list[documents.Offer]:
    """The documents the signed-in person may make on this record (for the record page)."""
    if not rtype or not record or not rt().workspace.documents_of(rtype.name):
        return []
    try:
        return documents.offers(rt().records, rtype.name, record["id"], actor())
    except NotFound:
        return []


@bp.route("/r/<type_name>/<int:record_id>/documents/<name>", methods=["POST"])
def generate(type_name: str, record_id: int, name: str):
    """Make one document from the record and store it on it; back to the record page."""
    run = rt()
    rtype = record_type_or_404(run.workspace, type_name)
    doc = run.workspace.documents.get(name)
    if doc is None or doc.record_type != type_name:
        abort(404)
    back = url_for("records.show", type_name=type_name, record_id=record_id)
    try:
        made = documents.generate(run.records, name, record_id, actor())
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    except ValidationError as exc:
        flash("; ".join(field_problems(rtype, exc.errors)), "error")
        return redirect(back)
    except (ConflictError, LowriseError) as exc:
        flash(say(exc), "error")
        return redirect(back)
    field = rtype.fields[doc.attach_to]
    flash(_("%(document)s generated and stored in %(field)s: %(files)s",
            document=label(doc.label), field=label(field.label),
            files=", ".join(f["name"] for f in made.files)), "success")
    return redirect(back)


def history_note(note: str | None, locale: str) -> str | None:
    """A generated document's history note: its label, its files, its template's hash."""
    import json

    try:
        data = json.loads(note or "")
    except ValueError:
        return note
    doc = rt().workspace.documents.get(data.get("document", ""))
    name = label(doc.label, locale) if doc else data.get("document", "")
    files = ", ".join(f.get("name", "") for f in data.get("files") or [])
    return _("%(document)s (%(files)s; template %(hash)s)", document=name, files=files,
             hash=str(data.get("template", ""))[:12])


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["document_offers"] = document_offers
