"""The app as a server runs it: trusted proxies, request ids, request log lines, and the
health endpoints /healthz and /readyz.

- LOWRISE_TRUSTED_PROXIES=n: Werkzeug's ProxyFix takes the client's address, the scheme and
  the host from the last n entries of X-Forwarded-For, -Proto and -Host (what n proxies in
  front added). Without it those headers change nothing: the sign-in limit counts the
  address the connection came from, and a request is HTTPS only when it came over TLS here.
  With it, a request that reached the proxy over HTTPS is HTTPS: HSTS is sent and the
  session cookie is Secure.
- Every response carries X-Request-ID: the request's own when it sent a sensible one (a
  proxy's), else a new one. With LOWRISE_LOG_FORMAT=json each request is one log line
  (method, path without the query, status, duration, request id, the account's id).
- /healthz answers 200 while the process runs (no database). /readyz answers 200 when the
  database answers, is migrated for the workspace and a rules worker is alive (its
  heartbeat), 503 otherwise, with what each check found. Neither needs signing in, and
  neither tells more than ok or not and a reason in a few words.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix

from lowrise.serving import logs
from lowrise.serving.readiness import MigrationCheck, check

from .runtime import rt

bp = Blueprint("health", __name__)
log = logging.getLogger("lowrise.request")
#: a request id taken from the request: what proxies and tracers send, nothing else
GIVEN_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


@bp.route("/healthz")
def healthz():
    return _json({"status": "ok"}, 200)


@bp.route("/readyz")
def readyz():
    worker = current_app.extensions.get("lowrise_worker")
    runtime = rt()
    ok, checks = check(runtime.engine, runtime.schema, current_app.extensions["lowrise_ready"],
                       stale_after=float(current_app.config["LOWRISE_WORKER_STALE"]),
                       in_process_worker=worker is not None and worker.thread.is_alive())
    return _json({"status": "ready" if ok else "not ready", "checks": checks},
                 200 if ok else 503)


def _json(body: dict, status: int) -> Response:
    resp = jsonify(body)
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _start() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if GIVEN_ID.fullmatch(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish(response: Response) -> Response:
    rid = g.get("request_id") or uuid.uuid4().hex  # a request that failed before _start
    response.headers["X-Request-ID"] = rid
    if current_app.config.get("LOWRISE_LOG_FORMAT") == "json":
        started = g.get("request_started")
        user = g.get("user")
        log.info("%s %s %s", request.method, request.path, response.status_code, extra={
            "fields": {"method": request.method, "path": request.path,
                       "status": response.status_code,
                       "duration_ms": round((time.perf_counter() - started) * 1000, 1)
                       if started else None,
                       "request_id": rid, "user_id": getattr(user, "id", None),
                       "client": request.remote_addr}})
    return response


def init_app(app: Flask) -> None:
    cfg = app.config
    proxies = int(cfg.get("LOWRISE_TRUSTED_PROXIES") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,  # type: ignore[method-assign]
                                x_host=proxies)
    if cfg.get("LOWRISE_LOG_FORMAT") == "json":
        logs.configure("json")
    # first of all: a request turned away early (sign-in, a bad session) has its id too
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)
    app.extensions["lowrise_ready"] = MigrationCheck()
    app.register_blueprint(bp)
    from . import auth

    auth.PUBLIC.update({"health.healthz", "health.readyz"})
