"""Import pages: upload a CSV or XLSX file, match its columns to fields, look at the preview
(the first rows as they will be stored and the first rows that will be refused, with the
reason, and the counts of all), choose all or nothing or only the valid rows, then watch the
progress bar while the import runs in the background. The engine does the work
(lowrise.importer, import_preview, importjobs): the file is read and checked once per
mapping, in the background, and every look at the page shows what that work kept.
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

from lowrise import import_keyed, import_preview, importer
from lowrise.i18n import load
from lowrise.importjobs import ImportJob, ImportJobs

from . import data
from .auth import actor
from .guard import require
from .headers import attachment
from .i18n import current_locale, label, say
from .render import hx, is_htmx, render
from .runtime import rt
from .viewdefs import record_type_or_404

bp = Blueprint("imports", __name__)

SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".ods")
#: how long a request waits for a preview worked out in the background before it shows the
#: "reading" state (which polls): most files are checked in less
PREVIEW_WAIT = 2.0


def jobs() -> ImportJobs:
    return current_app.extensions["lowrise_imports"]


def _job_or_404(job_id: int) -> ImportJob:
    job = jobs().get(job_id)  # a run whose server stopped is marked failed here
    if job is None or job.account_id != g.user.id:
        abort(404)
    return job


def _title(rtype) -> str:
    return _("Import %(type)s", type=label(rtype.label_plural))


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
            error = _("Only CSV, Excel (.xlsx) and OpenDocument (.ods) files can be imported.")
        else:
            folder = Path(current_app.config["LOWRISE_INSTANCE"]) / "imports" / uuid.uuid4().hex
            folder.mkdir(parents=True)
            path = folder / ("upload" + Path(secure_filename(name) or "file.csv").suffix.lower())
            f.save(path)
            job = jobs().create(type_name, name, path, account_id=g.user.id)
            try:  # a first look: an empty or damaged file is told now, the rest is read later
                importer.probe(path)
            except importer.ImportFileError as exc:
                jobs().fail(job.id, exc.message)
                error = say(exc)
            else:
                _preview(job)
                return redirect(url_for(".show", job_id=job.id))
    return render("imports.html", rtype=rtype, job=None, error=error, current_type=type_name,
                  title=_title(rtype), status=400 if error else 200)


def _preview(job: ImportJob) -> ImportJob:
    """Start working out the job's preview if nobody is, and wait a moment for it."""
    thread = jobs().start_preview(job, rt().records, actor())
    if thread is not None:
        thread.join(PREVIEW_WAIT)
    return jobs().get(job.id)


@bp.route("/imports/<int:job_id>", methods=["GET", "POST"])
def show(job_id: int):
    job = _job_or_404(job_id)
    rtype = rt().workspace.type(job.record_type)
    if request.method == "POST" and job.status == "ready":
        names = [n or None for n in request.form.getlist("map")]
        op = request.form.get("op") or job.op or "create"
        op = op if op in import_keyed.OPS else "create"
        key = (request.form.get("key") or None) if op != "create" else None
        if op != "create" and key not in import_keyed.key_fields(rt().records, rtype.name):
            key = "id"
        header = request.form.get("header_row", "").strip()
        shown_row = job.header_row or (job.preview or {}).get("header_row") or 1
        header_row = job.header_row  # as it was, unless another row is chosen
        if header.isdigit() and 0 < int(header) <= 1000 and int(header) != shown_row:
            header_row = int(header)
        jobs().update(job.id, mode="valid" if request.form.get("mode") == "valid" else "all",
                      run_hooks=request.form.get("run_hooks") == "1", op=op, key_field=key,
                      header_row=header_row)
        if header_row != job.header_row:
            names = []  # other columns: matched afresh
        current = job.mapping if job.mapping is not None else (job.preview or {}).get("mapping")
        if (names and names != current) or (op, key) != (job.op or "create", job.key_field) \
                or header_row != job.header_row:
            if key == "id" and job.key_field != "id" and names == current:
                names = []  # guess again: an id column is offered now
            jobs().remap(job.id, names or None)
        job = jobs().get(job.id)
    if job.status == "ready" and not job.previewed:
        job = _preview(job)
    fields = importer.importable(rtype)
    if job.key_field == "id":
        fields = [rtype.fields["id"], *fields]
    ctx = dict(rtype=rtype, job=job, current_type=rtype.name, error=None, title=_title(rtype),
               fields=fields, locale=current_locale(),
               keys=[rtype.fields[k] for k in import_keyed.key_fields(rt().records, rtype.name)])
    if job.unreadable:  # the file itself: the upload form again, saying why
        ctx.update(job=None, error=say(job.message))
        return render("imports.html", "job" if is_htmx() else None, **ctx,
                      status=200 if is_htmx() else 400)
    if job.status == "ready" and job.previewed:
        ctx.update(_shown(job, rtype))
    return render("imports.html", "job" if is_htmx() else None, **ctx)


def _shown(job: ImportJob, rtype) -> dict:
    """What the page shows of a kept preview, in the reader's language."""
    p = job.preview
    sample = import_preview.sample_rows(rtype, p)
    mapping = p["mapping"]
    changes = import_preview.change_rows(rtype, p)
    values = [{f.name: v for f, *pair in diff if (v := pair[side]) is not None}
              for _i, _a, diff in changes for side in (0, 1)]
    return dict(
        p=p, mapping=mapping, sample=sample, changes=changes,
        titles=data.titles_for(rtype.fields.values(), sample + values, current_locale()),
        refused=[(i, import_preview.load_errors(errs)) for i, errs in p["errors"]],
        problem=say(load(p["problem"])) if p.get("problem") else None,
        columns=[rtype.fields[n] for n in dict.fromkeys(m for m in mapping if m)
                 if n in rtype.fields],
        describe=importer.describe)


@bp.post("/imports/<int:job_id>/start")
def start(job_id: int):
    job = _job_or_404(job_id)
    if job.can_start:
        jobs().start(job, rt().records, actor())
    if is_htmx():
        return hx(show(job_id), push_url=url_for(".show", job_id=job_id))
    flash(_("The import runs in the background; this page shows how far it has come."), "info")
    return redirect(url_for(".show", job_id=job_id))


@bp.post("/imports/<int:job_id>/retry")
def retry(job_id: int):
    """A failed import back to its preview, to be started again."""
    job = _job_or_404(job_id)
    if job.status == "failed" and jobs().retry(job.id):
        _preview(jobs().get(job.id))
    if is_htmx():
        return hx(show(job_id), push_url=url_for(".show", job_id=job_id))
    return redirect(url_for(".show", job_id=job_id))


@bp.get("/imports/<int:job_id>/refused.csv")
def refused(job_id: int):
    """The rows that are (or were) refused, with the reason in an extra column, in the
    reader's language; from what the preview or the import kept, not from the file."""
    job = _job_or_404(job_id)
    rtype = rt().workspace.type(job.record_type)
    if job.finished:
        path = job.errors_path
        legacy = path.with_name("refused.csv")  # kept by an import before this version
        if not path.exists() and legacy.exists():
            return _download(job, legacy.read_bytes())
    elif job.status == "ready" and job.previewed:
        path = job.preview_errors_path
    else:
        abort(404)
    if not path.exists():
        abort(404)
    return _download(job, import_preview.refused_csv(path, rtype, current_locale()))


def _download(job: ImportJob, body) -> Response:
    name = Path(job.file_name).stem + "-refused.csv"
    return Response(body, mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": attachment(name, "refused.csv")})


def init_app(app: Flask) -> None:
    runtime = app.extensions["lowrise"]
    imports = ImportJobs(runtime.engine, runtime.workspace.locales)
    app.extensions["lowrise_imports"] = imports
    try:  # imports this host's earlier server was running when it stopped
        imports.recover()
    except Exception:  # the database may not be there yet; the pages check again
        app.logger.warning("import jobs could not be checked at start-up", exc_info=True)
    app.register_blueprint(bp)
