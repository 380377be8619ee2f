"""The OpenAPI document at /api/v1/openapi.json (for programs; token or session)."""

from __future__ import annotations

from flask import Response, json, request

from lowrise.openapi import document

from ..runtime import rt
from . import bp


@bp.get("/openapi.json")
def openapi():
    doc = document(rt().workspace, server=request.script_root or "/")
    return Response(json.dumps(doc, ensure_ascii=False, indent=1),
                    mimetype="application/json")
