"""One way to answer: the whole page, or only a named block of it for an htmx request.

Every page is one template with named blocks; an htmx request that targets a part of the
page gets that block alone. htmx response headers go through `hx()` only, which encodes
them as a server can send them (lowrise.web.headers).
"""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, redirect, render_template, request
from jinja2_fragments.flask import render_block

from .headers import json_value, url_value


def is_htmx() -> bool:
    """True when htmx sent the request (and it is not a boosted whole-page navigation)."""
    return (request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-Boosted") != "true"
            and request.headers.get("HX-History-Restore-Request") != "true")


def render(template: str, block: str | None = None, *, status: int = 200,
           **context: Any) -> Response:
    """The page, or only `block` of it when htmx asks."""
    if block and is_htmx():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    return make_response(body, status)


def hx(response: Response, *, trigger: dict | str | None = None, retarget: str | None = None,
       reswap: str | None = None, push_url: str | None = None) -> Response:
    """Set htmx response headers on a response (a toast in any language, a URL with a
    Chinese query: ASCII, as a header must be)."""
    if trigger is not None:
        response.headers["HX-Trigger"] = (trigger if isinstance(trigger, str)
                                          else json_value(trigger))
    if retarget:
        response.headers["HX-Retarget"] = retarget
    if reswap:
        response.headers["HX-Reswap"] = reswap
    if push_url:
        response.headers["HX-Push-Url"] = url_value(push_url)
    return response


def htmx_redirect(url: str) -> Response:
    """Go to `url`: a plain redirect, or HX-Redirect so that htmx loads the whole page."""
    if request.headers.get("HX-Request") == "true":
        resp = make_response("", 200)
        resp.headers["HX-Redirect"] = url_value(url)
        return resp
    return redirect(url)
