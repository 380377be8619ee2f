"""Answers for what goes wrong outside a page's own checks: the database unavailable, a
request body over the size limit, and an unexpected error in the API.

- The database cannot be reached, is locked past the busy timeout, is read-only or has a
  disk error: pages get the app's error page, localised, with 503 and Retry-After; the API
  a problem document with the same (`unavailable`). The page is drawn without the signed-in
  layout, which would need the database itself.
- A body whose Content-Length is over MAX_CONTENT_LENGTH is refused with 413 before any of it
  is read (before the CSRF check, which would read the form): a page says the limit in the
  person's language, the API answers `too-large`.
- Anything else that fails in the API is a problem document (`server-error`), never an HTML
  page; the traceback goes to the log. On a page it is the app's own 500 page, localised.
- A page that does not exist (or a record that is gone or out of sight) is the app's own 404
  page, localised; the API answers `not-found`.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, make_response, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from lowrise.storage.db import is_outage

log = logging.getLogger(__name__)

#: seconds a client is asked to wait before trying again when the database is unavailable
RETRY_AFTER = 30


def _is_api() -> bool:
    from lowrise.openapi import API_PREFIX

    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def unavailable(exc: BaseException) -> Response:
    """The 503 answer: a problem document on the API, the error page elsewhere."""
    log.error("database unavailable for %s %s: %s", request.method, request.path,
              getattr(exc, "orig", exc))
    if _is_api():
        from .api import problem

        resp = problem(503, "unavailable", "Database unavailable",
                       "the database cannot be reached or is busy right now; try again shortly")
    else:
        resp = _page(503, _("The database is not available"),
                     _("The database cannot be reached or is busy right now, so this could not "
                       "be done. Try again in a moment; if it goes on, tell whoever runs this "
                       "server."))
    resp.headers["Retry-After"] = str(RETRY_AFTER)
    return resp


def _page(code: int, heading: str, message: str) -> Response:
    # the bare layout: the signed-in one reads the inbox and the person's menus
    g.user = None
    from flask import make_response

    return make_response(render_template("error.html", code=code, heading=heading,
                                          message=message), code)


def too_large_page(exc: HTTPException) -> Response:
    """413 on a page: the limit, in the person's language."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return _page(413, _("The file is too large"),
                 _("What was sent is larger than the %(mb)s MB this server accepts; nothing was "
                   "saved. Send a smaller file (or split it).", mb=limit // (1024 * 1024)))


def _on_database_error(exc: sa.exc.DBAPIError):
    if is_outage(exc):
        return unavailable(exc)
    raise exc  # a mistake in a statement: the usual 500 (problem+json on the API)


def api_error(exc: Exception) -> Response:
    """Anything the API's own handlers did not answer: a problem document, never HTML."""
    from .api import _http_problem

    if isinstance(exc, HTTPException):
        return _http_problem(exc)
    if is_outage(exc):
        return unavailable(exc)
    log.error("unexpected error in %s %s", request.method, request.path, exc_info=exc)
    return problem_500()


def _refuse_oversized() -> None:
    # Before anything reads the body (the CSRF check reads the form): a declared length over
    # the limit is refused now, whatever arrives after it.
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()


def _server_error(exc: HTTPException):
    original = getattr(exc, "original_exception", None)
    if original is not None and is_outage(original):
        return unavailable(original)
    if _is_api():
        return api_error(original) if original is not None else problem_500()
    # the app's own page, in the person's language, in the bare layout (the signed-in one
    # reads the database, which may be what failed); the traceback is in the log
    return _page(500, _("Something went wrong"),
                 _("The server could not show this page. What you saved before is kept. Try "
                   "again in a moment; if it goes on, tell whoever runs this server."))


def _not_found(exc: HTTPException):
    """404 on a page: the app's own page in the person's language (the API answers with a
    problem document, as for every API error)."""
    if _is_api():
        from .api import _http_problem

        return _http_problem(exc)
    return make_response(render_template(
        "error.html", code=404, heading=_("Page not found"),
        message=_("This page does not exist, or the record was deleted (see the trash) or is "
                  "not visible to you.")), 404)


def problem_500() -> Response:
    """The API's answer to an error of its own (the traceback is in the log)."""
    from .api import problem

    return problem(500, "server-error", "Internal server error",
                   "the server failed to answer this request; the error is logged")


def init_app(app: Flask) -> None:
    app.register_error_handler(sa.exc.DBAPIError, _on_database_error)
    app.register_error_handler(500, _server_error)
    app.register_error_handler(404, _not_found)
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_oversized)
