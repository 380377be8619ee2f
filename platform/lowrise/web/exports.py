"""Export a table view as CSV or XLSX exactly as the person sees it: the view's columns,
its filter AND the person's filters, sort and quick search from the URL, labels in the
person's language. The file streams: rows are read and written a page at a time.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime

from flask import Blueprint, Flask, Response, abort, stream_with_context, url_for

from lowrise import exporter

from . import data
from .auth import actor
from .guard import require, shown_fields
from .headers import attachment
from .i18n import current_locale, label
from .runtime import rt
from .viewdefs import columns, record_type_or_404, view_or_404
from .viewstate import parse_state

bp = Blueprint("exports", __name__)

FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@bp.get("/r/<type_name>/export.<fmt>")
@bp.get("/r/<type_name>/table/<view_name>/export.<fmt>")
def export(type_name: str, fmt: str, view_name: str | None = None):
    from flask import request

    if fmt not in FORMATS:
        abort(404)
    run = rt()
    ws = run.workspace
    rtype = record_type_or_404(ws, type_name)
    require("export", type_name)
    view = view_or_404(ws, type_name, view_name, "table")
    state = parse_state(request.args, ws, rtype, view)
    flt = data.combined(rtype, view.filter, state.user_filter())
    sort = list(state.sort)
    if state.group:  # the table lists a grouped view group by group
        sort = [state.group, *[s for s in sort if s.lstrip("-") != state.group]]
    locale = current_locale()
    seen = shown_fields(rtype, columns(rtype, view))
    shown = exporter.exported_columns(run.schema, type_name, seen, actor())
    lines = exporter.rows(run.engine, run.schema, type_name, seen, actor=actor(), via=fmt,
                          filter=flt, sort=sort, q=state.q or None,
                          locale=locale, style="text" if fmt == "csv" else "typed")
    lines = exporter.started(lines)
    title = label(view.label, locale)
    stamp = datetime.now().strftime("%Y-%m-%d")
    name = f"{title} {stamp}.{fmt}"
    headers = {"Content-Disposition": attachment(name, f"export.{fmt}"),
               "Cache-Control": "no-store"}
    if fmt == "csv":
        body = (chunk.encode("utf-8") for chunk in exporter.csv_text(lines))
        return Response(stream_with_context(body), headers=headers, mimetype=FORMATS[fmt])
    return Response(_xlsx_stream(lines, title, shown), headers=headers, mimetype=FORMATS[fmt])


def _xlsx_stream(lines, title: str, fields=None):
    """Write the workbook to a temporary file (a zip needs it), then send it in chunks."""
    fd, path = tempfile.mkstemp(suffix=".xlsx", prefix="lowrise-export-")
    try:
        with os.fdopen(fd, "wb") as out:
            exporter.write_xlsx(lines, out, title=title, columns=fields)
        with open(path, "rb") as f:
            while chunk := f.read(256 * 1024):
                yield chunk
    finally:
        os.unlink(path)


def export_url(view, state, fmt: str) -> str:
    """The export of a table view with the page's current filters, sort and search."""
    args = state.args(after=None)
    if view.name:
        base = url_for("exports.export", type_name=view.record_type, view_name=view.name,
                       fmt=fmt)
    else:
        base = url_for("exports.export", type_name=view.record_type, fmt=fmt)
    from urllib.parse import urlencode

    qs = urlencode(list(args.items(multi=True)))
    return f"{base}?{qs}" if qs else base


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals.update(export_url=export_url)
