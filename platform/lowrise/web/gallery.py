"""The template gallery in the browser: a card per template, a preview of each (record types,
views, automations, demo data), and, for administrators, "use this template", exporting the
running workspace as a template archive and importing an archive into a new folder.

Anyone signed in may browse. Cloning, importing and exporting are for people who see
everything and manage accounts (`may_manage_templates`): they write folders on the server
and an export with data holds every record. New workspaces go under LOWRISE_WORKSPACES_DIR
(default: <instance>/workspaces); an absolute path is accepted only when
LOWRISE_WORKSPACES_ABSOLUTE is true. The engine (lowrise.templates, template_archive) does
the work and never overwrites anything.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from lowrise import templates as gallery_engine
from lowrise.seed import demo_counts
from lowrise.templates import BadFolderName, TemplateError, TemplateNotFound
from lowrise.workspace import WorkspaceError

from .guard import is_account_admin, is_admin
from .headers import attachment
from .i18n import say
from .runtime import rt

bp = Blueprint("gallery", __name__)

VIEW_KINDS = ("table", "kanban", "calendar", "dashboard", "form")
MADE = "gallery_made"  # the session key of the last new workspace, for its result page


def may_manage_templates() -> bool:
    """Whether the person may clone, import and export templates: an administrator who sees
    every record and manages accounts."""
    return is_admin() and is_account_admin()


def require_manage() -> None:
    if not may_manage_templates():
        abort(403)


def workspaces_dir() -> Path:
    cfg = current_app.config
    return Path(cfg.get("LOWRISE_WORKSPACES_DIR")
                or Path(cfg["LOWRISE_INSTANCE"]) / "workspaces")


def target(name: str) -> Path:
    """The folder a new workspace goes to (BadFolderName when the name is not safe)."""
    return gallery_engine.new_folder(
        name, workspaces_dir(),
        allow_absolute=bool(current_app.config.get("LOWRISE_WORKSPACES_ABSOLUTE")))


def template_or_404(name: str) -> gallery_engine.Template:
    try:
        return gallery_engine.get_template(name)
    except TemplateNotFound:
        abort(404)


def outline(t: gallery_engine.Template) -> dict:
    """What a preview shows of a template: its record types with their fields, its views by
    kind, its automations and how many demo records `lowrise seed` makes of each type."""
    ws = gallery_engine.cached_workspace(t)
    kinds = [*VIEW_KINDS, *sorted({v.type for v in ws.views.values()} - set(VIEW_KINDS))]
    views = {k: [v for v in ws.views.values() if v.type == k] for k in kinds}
    return {"ws": ws, "types": list(ws.record_types.values()), "views": views,
            "rules": list(ws.rules.values()), "demo": demo_counts(ws, 1.0)}


def failure(exc: Exception) -> str:
    """An engine refusal in the person's language, with the engine's exact reason."""
    if isinstance(exc, BadFolderName):
        return _("That folder name cannot be used: %(reason)s.", reason=say(exc))
    return _("Nothing was written: %(reason)s.", reason=say(exc))


@bp.context_processor
def words():
    """The names of view kinds and run steps, and a rule's label, in the person's language."""
    from lowrise.workspace.model import Label

    from .i18n import label

    return {
        "kind_names": {"table": _("Tables"), "kanban": _("Boards"),
                       "calendar": _("Calendars"), "dashboard": _("Dashboards"),
                       "form": _("Forms")},
        "step_names": {"cd": _("go to the new folder"), "check": _("check its YAML"),
                       "migrate": _("create its database (an SQLite file in its instance "
                                    "folder)"),
                       "seed": _("load demo data and make a demo account per role (the "
                                 "passwords are printed)"),
                       "user": _("add the first administrator (asks for a password)"),
                       "serve": _("run the web app on http://127.0.0.1:5000")},
        "rule_label": lambda r: label(Label.of(r.config.get("label"), r.name)),
        "role_description": lambda r: label(Label.of(r.config.get("description"), ""))
        if isinstance(r.config.get("description"), (str, dict)) else "",
    }


@bp.get("/templates")
def index():
    return render_template("gallery/index.html", templates=gallery_engine.gallery(),
                           manage=may_manage_templates(), base=workspaces_dir(),
                           title=_("Templates"))


@bp.get("/templates/<name>")
def preview(name: str):
    t = template_or_404(name)
    try:
        shown, problems = outline(t), []
    except WorkspaceError as exc:
        shown, problems = None, [str(p) for p in exc.problems]
    return render_template("gallery/preview.html", t=t, o=shown, problems=problems,
                           manage=may_manage_templates(), title=t.title)


@bp.route("/templates/<name>/use", methods=["GET", "POST"])
def use(name: str):
    require_manage()
    t = template_or_404(name)
    error, status = None, 200
    folder = request.form.get("folder", name).strip()
    demo = request.method == "GET" or request.form.get("demo_data") == "1"
    if request.method == "POST":
        try:
            ws = gallery_engine.cached_workspace(t)  # a template with problems is not copied
            dest = gallery_engine.clone(name, target(folder))
        except WorkspaceError as exc:
            error, status = _("This template has problems (`lowrise check`):") + " " + "; ".join(
                str(p) for p in exc.problems[:5]), 422
        except TemplateError as exc:
            error, status = failure(exc), 422
        else:
            steps = gallery_engine.next_steps(dest, ws, demo_data=demo)
            return _made(dest, steps, template=name, demo=demo)
    return render_template("gallery/use.html", t=t, folder=folder, demo=demo, error=error,
                           base=workspaces_dir(), title=t.title), status


@bp.route("/templates/import", methods=["GET", "POST"])
def import_archive():
    require_manage()
    from lowrise.template_archive import import_template

    error, problems, status = None, [], 200
    folder = request.form.get("folder", "").strip()
    with_data = request.method == "GET" or request.form.get("with_data") == "1"
    if request.method == "POST":
        upload = request.files.get("archive")
        if upload is None or not upload.filename:
            error, status = _("Choose a template archive (.zip) to import."), 422
        else:
            fd, tmp = tempfile.mkstemp(suffix=".zip", prefix="lowrise-template-")
            os.close(fd)
            try:
                upload.save(tmp)
                result = import_template(tmp, target(folder), with_data=with_data)
            except WorkspaceError as exc:
                error, status = _("The archive's workspace has problems; nothing was "
                                  "written."), 422
                problems = [str(p) for p in exc.problems]
            except TemplateError as exc:
                error, status = failure(exc), 422
            else:
                steps = gallery_engine.next_steps(result.path, result.workspace,
                                                  migrated=True)
                return _made(result.path, steps, records=sum(result.records.values()),
                             warnings=result.warnings[:20])
            finally:
                os.unlink(tmp)
    return render_template("gallery/import.html", folder=folder, with_data=with_data,
                           error=error, problems=problems, base=workspaces_dir(),
                           title=_("Import a template archive")), status


def _made(dest: Path, steps, **about) -> Response:
    session[MADE] = {"path": str(dest), "steps": [[s.kind, s.command] for s in steps],
                     **about}
    return redirect(url_for(".made"))


@bp.get("/templates/made")
def made():
    require_manage()
    info = session.get(MADE)
    if not info:
        return redirect(url_for(".index"))
    return render_template("gallery/made.html", info=info, title=_("Your new workspace"))


@bp.post("/templates/export")
def export():
    """The running workspace as a template archive (.zip), with its records when asked."""
    require_manage()
    from lowrise.template_archive import export_template

    run = rt()
    with_data = request.form.get("with_data") == "1"
    folder = tempfile.mkdtemp(prefix="lowrise-export-")
    name = f"{Path(run.workspace.root).name or run.workspace.name}"
    out = Path(folder) / f"{name}.zip"
    try:
        export_template(run.workspace, out, records=run.records if with_data else None,
                        with_data=with_data)
    except TemplateError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        return render_template("error.html", code=422, message=failure(exc)), 422
    headers = {"Content-Disposition": attachment(out.name, "template.zip"),
               "Cache-Control": "no-store"}
    return Response(_stream_then_remove(out, folder), headers=headers,
                    mimetype="application/zip")


def _stream_then_remove(path: Path, folder: str):
    try:
        with path.open("rb") as f:
            while chunk := f.read(256 * 1024):
                yield chunk
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def init_app(app: Flask) -> None:
    app.config.setdefault("LOWRISE_WORKSPACES_DIR", None)
    app.config.setdefault("LOWRISE_WORKSPACES_ABSOLUTE", False)
    app.register_blueprint(bp)
