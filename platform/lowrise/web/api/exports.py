"""GET /api/v1/<type>/export?format=csv|xlsx: the records a caller may read as one file.

The same export as a table page's (lowrise.exporter): the caller's role must be granted
`export`; confidential fields go in as the role may export them (full, masked, or left out);
the export is logged (who, which type, which columns, how many rows) before its first row
leaves. Columns: `fields` (comma-separated), else every field the caller sees; `filter`,
`sort` and `q` as the list takes them. Labels, option labels and formats are in the
caller's language (with an API token: the workspace's default language).
"""

from __future__ import annotations

from flask import Response, g, request, stream_with_context

from lowrise import exporter, filters
from lowrise.access import Policy
from lowrise.errors import FilterError

from ..exports import FORMATS, _xlsx_stream
from ..headers import attachment
from ..runtime import rt
from . import bp
from .records import _names, _only, _type, loads

EXPORT_PARAMS = ("format", "filter", "sort", "fields", "q")


@bp.get("/<type_name>/export")
def export(type_name: str):
    rtype = _type(type_name)
    _only(*EXPORT_PARAMS)
    run, actor = rt(), g.actor
    pol = Policy.for_actor(actor, run.workspace)
    pol.require("export", type_name)
    fmt = request.args.get("format", "csv")
    if fmt not in FORMATS:
        raise FilterError("format must be csv or xlsx")
    flt = None
    if request.args.get("filter"):
        try:
            flt = filters.parse(loads(request.args["filter"], "the filter"), rtype,
                                run.workspace)
        except ValueError as exc:
            raise FilterError(str(exc)) from None
    names = _names("fields") or [f.name for f in rtype.user_fields]
    unknown = [n for n in names if n not in rtype.fields]
    if unknown:
        raise FilterError(f"'{unknown[0]}' is not a field of {type_name}"
                          f"{filters.did_you_mean(unknown[0], rtype.fields)}")
    hidden = pol.hidden_fields(type_name)
    seen = [rtype.fields[n] for n in names if n not in hidden]
    shown = exporter.exported_columns(run.schema, type_name, seen, actor)
    locale = actor.locale if actor.locale in run.workspace.locales else \
        run.workspace.default_locale
    lines = exporter.rows(run.engine, run.schema, type_name, seen, actor=actor,
                          via=f"api-{fmt}", filter=flt, sort=_names("sort") or ["id"],
                          q=request.args.get("q") or None, locale=locale,
                          style="text" if fmt == "csv" else "typed")
    lines = exporter.started(lines)  # a refused sort or filter: a 400 problem
    headers = {"Content-Disposition": attachment(f"{type_name}.{fmt}", f"export.{fmt}"),
               "Cache-Control": "no-store"}
    if fmt == "csv":
        body = (chunk.encode("utf-8") for chunk in exporter.csv_text(lines))
        return Response(stream_with_context(body), headers=headers, mimetype=FORMATS[fmt])
    return Response(_xlsx_stream(lines, type_name, shown), headers=headers,
                    mimetype=FORMATS[fmt])
