"""The REST API at /api/v1: records of every type as JSON, generated from the workspace.

Who calls: a program with `Authorization: Bearer <token>` (no CSRF token needed: a browser
never adds that header by itself), or the signed-in browser (its session cookie; then every
write needs the CSRF token like any form). Every read and write goes through the engine with
the caller's Actor. Errors are `application/problem+json` (RFC 9457).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, json, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from lowrise.actor import Actor
from lowrise.errors import (
    BulkValidationError,
    ConflictError,
    FilterError,
    Forbidden,
    LowriseError,
    NotFound,
    ValidationError,
)
from lowrise.i18n import SOURCE_LOCALE, tr
from lowrise.openapi import API_PREFIX, PROBLEM

from ..runtime import rt

bp = Blueprint("api", __name__, url_prefix=API_PREFIX)

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def problem(status: int, key: str, title: str, detail: str | None = None, *,
            errors: list[dict[str, Any]] | None = None, **extra: Any) -> Response:
    """An RFC 9457 problem document; `key` names the problem type on the docs page."""
    body: dict[str, Any] = {"type": f"{API_PREFIX}/docs#problem-{key}", "title": title,
                            "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = request.path
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    resp = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM)
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="lowrise"'
    return resp


def field_errors(errors: dict[str, str], *, index: int | None = None,
                 prefix: str = "") -> list[dict[str, Any]]:
    """{field: message} as the `errors` list of a problem document."""
    out = []
    for name, msg in errors.items():
        item: dict[str, Any] = {"field": name, "pointer": f"{prefix}/{name}" if name else prefix,
                                "detail": tr(msg, SOURCE_LOCALE)}  # the API speaks English
        if index is not None:
            item["index"] = index
        out.append(item)
    return out


def _authenticate() -> Response | None:
    """Before every API request: a bearer token, else the session (with CSRF on writes)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer":
        found = rt().accounts.token_login(token.strip())
        if found is None:
            return problem(401, "unauthorized", "Not authenticated",
                           "the API token is unknown, revoked, expired, or its account is not "
                           "active")
        user, info = found
        if (refused := _out_of_scope(info)) is not None:
            return refused
        g.user, g.via_token = user, True
        g.actor = Actor(user=user.staff_id, name=user.name, roles=frozenset(user.roles),
                        locale=rt().workspace.default_locale)
        return None
    if g.get("user") is None:
        return problem(401, "unauthorized", "Not authenticated",
                       "send an API token as 'Authorization: Bearer <token>'")
    g.via_token = False
    if request.method not in SAFE_METHODS:
        current_app.extensions["csrf"].protect()  # raises CSRFError: answered below
    return None


def _out_of_scope(info) -> Response | None:
    """403 for a call a token's scopes leave out: a write with a read-only token, a record
    type the token does not name."""
    if info.read_only and request.method not in SAFE_METHODS:
        return problem(403, "forbidden", "Read-only token",
                       "this API token may only read; use a token that may write")
    type_name = (request.view_args or {}).get("type_name")
    if info.types is not None and type_name is not None and type_name not in info.types:
        return problem(403, "forbidden", "Not in the token's scope",
                       f"this API token reaches {', '.join(info.types)} only")
    return None


bp.before_request(_authenticate)


@bp.errorhandler(CSRFError)
def _csrf(exc: CSRFError):
    return problem(400, "bad-request", "CSRF token missing or wrong",
                   f"{exc.description} (signed-in browser calls need the X-CSRFToken header; "
                   "programs should use an API token)")


@bp.errorhandler(ValidationError)
def _invalid(exc: ValidationError):
    return problem(422, "validation", "Values refused", str(exc),
                   errors=field_errors(exc.errors))


@bp.errorhandler(BulkValidationError)
def _bulk_invalid(exc: BulkValidationError):
    errors = []
    for i, errs in sorted(exc.rows.items()):
        errors += field_errors(errs, index=i, prefix=f"/records/{i}")
    return problem(422, "bulk-validation", "Records refused; nothing was written", str(exc),
                   errors=errors)


@bp.errorhandler(ConflictError)
def _conflict(exc: ConflictError):
    return problem(412, "conflict", "The record changed", str(exc),
                   current_version=exc.current_version)


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound):
    return problem(404, "not-found", "Not found", str(exc))


@bp.errorhandler(Forbidden)
def _forbidden(exc: Forbidden):
    return problem(403, "forbidden", "Not allowed", str(exc))


@bp.errorhandler(FilterError)
def _bad_query(exc: FilterError):
    return problem(400, "bad-request", "Bad request", str(exc))


@bp.errorhandler(LowriseError)
def _refused(exc: LowriseError):
    # lowrise.errors.Forbidden comes with the permissions work; matched by name so that the
    # API answers 403 whichever lands first.
    if type(exc).__name__ == "Forbidden":
        return problem(403, "forbidden", "Not allowed", str(exc))
    return problem(400, "bad-request", "Bad request", str(exc))


def _http_problem(exc: HTTPException):
    if not request.path.startswith(API_PREFIX + "/") and request.path != API_PREFIX:
        if exc.code == 413:
            from ..failures import too_large_page

            return too_large_page(exc)
        return exc  # pages keep their own error pages
    key = {401: "unauthorized", 403: "forbidden", 404: "not-found",
           413: "too-large"}.get(exc.code or 500, "bad-request")
    if (exc.code or 500) >= 500:
        key = "server-error"
    resp = problem(exc.code or 500, key, exc.name, exc.description)
    if exc.code == 405 and exc.valid_methods:
        resp.headers["Allow"] = ", ".join(exc.valid_methods)
    return resp


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    from ..failures import api_error

    return api_error(exc)


def _unrouted() -> None:
    exc = request.routing_exception
    if exc is not None and request.path.startswith(API_PREFIX + "/"):
        raise exc


def init_app(app: Flask) -> None:
    """Register the API, its docs page and the API tokens page."""
    from .. import auth
    from . import (  # noqa: F401  (routes register)
        aggregates,
        approvals,
        docs,
        documents,
        exports,
        files,
        pages,
        records,
    )

    app.register_blueprint(bp)
    app.register_blueprint(pages.bp)
    app.extensions["csrf"].exempt(bp)  # token calls need none; session calls: _authenticate
    for code in (400, 404, 405, 413, 415):
        app.register_error_handler(code, _http_problem)
    # An unknown URL under /api/ is a 404 problem even without a session: answer it before
    # the sign-in check (which would redirect to the sign-in page) runs.
    app.before_request_funcs.setdefault(None, []).insert(0, _unrouted)
    # The API answers 401 as a problem document instead of redirecting to the sign-in page;
    # a signed-in session still counts (auth.load_user sets g.user first).
    auth.PUBLIC.update(rule.endpoint for rule in app.url_map.iter_rules()
                       if rule.endpoint.startswith("api."))
