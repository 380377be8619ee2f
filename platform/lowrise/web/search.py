"""The global search box: records of every type matching what was typed."""

from __future__ import annotations

from flask import Blueprint, request

from lowrise.storage.search import global_search

from .auth import actor
from .i18n import current_locale
from .render import render
from .runtime import rt

bp = Blueprint("search", __name__)


@bp.route("/search")
def search():
    run = rt()
    q = (request.args.get("q") or "").strip()
    groups: dict[str, list] = {}
    if q:
        with run.engine.connect() as conn:
            for hit in global_search(conn, run.schema, run.workspace, q, limit_per_type=8,
                                     ctx=actor()):
                groups.setdefault(hit.type, []).append(hit)
    types = [(run.workspace.type(name), hits) for name, hits in groups.items()]
    return render("search.html", "results", q=q, types=types, locale=current_locale())
