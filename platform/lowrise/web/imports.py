"""Import pages: upload a CSV or XLSX file, match its columns to fields, look at the preview
(the first rows as they will be stored and every row that will be refused, with the
reason), choose all or nothing or only the valid rows, then watch the progress bar while
the import runs in the background. The engine does the work (lowrise.importer, importjobs).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    request,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.utils import secure_filename

from lowrise import importer
from lowrise.importjobs import ImportJob, ImportJobs

from . import data
from .auth import actor
from .guard import require
from .headers import attachment
from .i18n import current_locale, label
from .render import hx, is_htmx, render
from .runtime import rt
from .viewdefs import record_type_or_404

bp = Blueprint("imports", __name__)

SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx")
SHOW_REFUSED = 100


def jobs() -> ImportJobs:
    return current_app.extensions["lowrise_imports"]


def _job_or_404(job_id: int) -> ImportJob:
    job = jobs().get(job_id)
    if job is None or job.account_id != g.user.id:
        abort(404)
    return job


@bp.route("/r/<type_name>/import", methods=["GET", "POST"])
def upload(type_name: str):
    rtype = record_type_or_404(rt().workspace, type_name)
    require("create", type_name)
    error = None
    if request.method == "POST":
        f = request.files.get("file")
        name = (f.filename or "") if f else ""
        if not name:
            error = _("Choose a CSV or Excel file.")
        elif not name.lower().endswith(SUFFIXES):
            error = _("Only CSV and Excel (.xlsx) files can be imported.")
        else:
            folder = Path(current_app.config["LOWRISE_INSTANCE"]) / "imports" / uuid.uuid4().hex
            folder.mkdir(parents=True)
            path = folder / ("upload" + Path(secure_filename(name) or "file.csv").suffix.lower())
            f.save(path)
            job = jobs().create(type_name, name, path, account_id=g.user.id)
            return redirect(url_for(".show", job_id=job.id))
    return render("imports.html", rtype=rtype, job=None, error=error, current_type=type_name,
                  title=_("Import %(type)s", type=label(rtype.label_plural)),
                  status=400 if error else 200)


def _preview(job: ImportJob):
    """Read the file, map, prepare and check every row (nothing is written)."""
    run = rt()
    rtype = run.workspace.type(job.record_type)
    sheet = importer.read_file(job.path)
    mapping = job.mapping or importer.guess_mapping(rtype, sheet.headers)
    mapping = (list(mapping) + [None] * len(sheet.headers))[:len(sheet.headers)]
    problem = None
    checked = None
    try:
        usable = importer.check_mapping(rtype, mapping)
        prepared = importer.prepare(run.records, job.record_type, sheet, usable, actor())
        checked = importer.check(run.records, job.record_type, prepared, actor())
    except importer.ImportFileError as exc:
        problem = str(exc)
    return sheet, mapping, checked, problem


@bp.route("/imports/<int:job_id>", methods=["GET", "POST"])
def show(job_id: int):
    job = _job_or_404(job_id)
    rtype = rt().workspace.type(job.record_type)
    if request.method == "POST" and job.status == "ready":
        names = request.form.getlist("map")
        jobs().update(job.id, mapping=[n or None for n in names],
                      mode="valid" if request.form.get("mode") == "valid" else "all",
                      run_hooks=request.form.get("run_hooks") == "1")
        job = jobs().get(job.id)
    ctx = dict(rtype=rtype, job=job, current_type=rtype.name, error=None,
               title=_("Import %(type)s", type=label(rtype.label_plural)),
               fields=importer.importable(rtype))
    if job.status != "ready":
        return render("imports.html", "progress" if is_htmx() else None, **ctx)
    try:
        sheet, mapping, checked, problem = _preview(job)
    except importer.ImportFileError as exc:
        ctx["error"] = str(exc)
        return render("imports.html", **ctx, status=400)
    preview, titles = [], {}
    if checked is not None:
        preview = [r for r in checked.stored if r is not None][:importer.PREVIEW_ROWS]
        titles = data.titles_for(rtype.fields.values(), preview, current_locale())
    refused = list(checked.errors.items())[:SHOW_REFUSED] if checked else []
    shown = [rtype.fields[n] for n in dict.fromkeys(m for m in mapping if m)]
    ctx.update(sheet=sheet, mapping=mapping, checked=checked, problem=problem, preview=preview,
               titles=titles, refused=refused, shown=shown, describe=importer.describe,
               locale=current_locale())
    return render("imports.html", "preview" if is_htmx() else None, **ctx)


@bp.post("/imports/<int:job_id>/start")
def start(job_id: int):
    job = _job_or_404(job_id)
    if job.status == "ready":
        jobs().update(job.id, status="checking")
        jobs().start(jobs().get(job.id), rt().records, actor(), locale=current_locale())
    if is_htmx():
        return hx(show(job_id), push_url=url_for(".show", job_id=job_id))
    flash(_("The import runs in the background; this page shows how far it has come."), "info")
    return redirect(url_for(".show", job_id=job_id))


@bp.get("/imports/<int:job_id>/refused.csv")
def refused(job_id: int):
    """The rows that are (or were) refused, with the reason in an extra column."""
    job = _job_or_404(job_id)
    rtype = rt().workspace.type(job.record_type)
    if job.finished and job.errors_path.exists():
        body = job.errors_path.read_bytes()
    else:
        sheet, _mapping, checked, problem = _preview(job)
        if checked is None:
            abort(404)
        lines = importer.error_rows_csv(sheet, checked.errors, rtype, current_locale())
        body = ("\ufeff" + "".join(lines)).encode("utf-8")
    name = Path(job.file_name).stem + "-refused.csv"
    return Response(body, mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": attachment(name, "refused.csv")})


def init_app(app: Flask) -> None:
    runtime = app.extensions["lowrise"]
    app.extensions["lowrise_imports"] = ImportJobs(runtime.engine)
    app.register_blueprint(bp)
