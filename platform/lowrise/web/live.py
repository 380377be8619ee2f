"""Live updates in the browser: `GET /live/events` streams server-sent events of other
people's changes (lowrise.live) to a signed-in page; static/live.js redraws what changed.

Each stream holds one thread of its web process for as long as it is open, so streams are
bounded per process (LOWRISE_LIVE_STREAMS, which `lowrise serve --production` adds to each
gunicorn process's threads) and per person (LOWRISE_LIVE_PER_USER); over a bound the answer
is 429 or 503 with Retry-After and a sentence saying why. A stream ends after
LOWRISE_LIVE_STREAM_SECONDS and the browser reconnects with Last-Event-ID, so that nothing
is missed and the session is looked at again; a comment line every LOWRISE_LIVE_HEARTBEAT
seconds keeps proxies from closing it. A server that serves one request at a time per
process (gunicorn's sync workers) is refused streams: one would hold the process.
"""

from __future__ import annotations

import json
import threading
import time

from flask import Blueprint, Flask, Response, current_app, g, render_template, request, session

from lowrise.actor import Actor
from lowrise.i18n import msg
from lowrise.live import Broker, Busy
from lowrise.live.seen import events_for

from .i18n import current_locale, say

bp = Blueprint("live", __name__)
_lock = threading.Lock()


def broker(app: Flask | None = None) -> Broker:
    """This process's broker for the app's database (made at the first stream)."""
    app = app or current_app
    held = app.extensions.get("lowrise_live_broker")
    if held is None:
        with _lock:
            held = app.extensions.get("lowrise_live_broker")
            if held is None:
                cfg = app.config
                held = app.extensions["lowrise_live_broker"] = Broker(
                    app.extensions["lowrise"].engine, poll=float(cfg["LOWRISE_LIVE_POLL"]),
                    max_streams=int(cfg["LOWRISE_LIVE_STREAMS"]),
                    per_user=int(cfg["LOWRISE_LIVE_PER_USER"]),
                    keep=float(cfg["LOWRISE_LIVE_KEEP"]))
    return held


def _since() -> int | None:
    """Where the page left off: the browser's Last-Event-ID on a reconnection, else the
    change id the page was drawn at (`since`), else now."""
    for text in (request.headers.get("Last-Event-ID"), request.args.get("since")):
        if text and text.strip().isdigit() and len(text.strip()) < 19:
            return int(text)
    return None


def _refused(status: int, text: str, retry: int) -> Response:
    resp = Response(text + "\n", status=status, mimetype="text/plain")
    resp.headers["Retry-After"] = str(retry)
    return resp


@bp.route("/live/events")
def events():
    """The signed-in person's stream of changes they may see."""
    cfg = current_app.config
    if not cfg.get("LOWRISE_LIVE"):
        return _refused(404, say(msg("Live updates are off on this server.")), 3600)
    if not request.environ.get("wsgi.multithread"):
        return _refused(503, say(msg("This server runs one request at a time per process, "
                                     "so it does not stream live updates; reload the page "
                                     "to see changes.")), 3600)
    actor: Actor = g.actor
    since = _since()
    try:
        sub = broker().subscribe(g.user.id, since)  # bounded per account
    except Busy as exc:
        status = 429 if exc.kind == "per_user" else 503
        return _refused(status, say(exc.message), 30)
    resp = Response(_stream(current_app._get_current_object(), sub, actor, since,
                            g.user.id, session.get("stamp")),
                    mimetype="text/event-stream")
    resp.headers["Cache-Control"] = "no-cache, no-transform"
    resp.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return resp


def _stream(app: Flask, sub, actor: Actor, since: int | None, uid: int, stamp: str | None):
    cfg = app.config
    heartbeat = float(cfg["LOWRISE_LIVE_HEARTBEAT"])
    end = time.monotonic() + float(cfg["LOWRISE_LIVE_STREAM_SECONDS"])
    brk = broker(app)
    try:
        yield "retry: 2000\n\n"
        if since is not None and since > 0 and since + 1 < brk.oldest():
            yield "event: reload\ndata: {}\n\n"  # older changes are no longer logged
            return
        next_beat = time.monotonic() + heartbeat
        while time.monotonic() < end:
            rows = sub.take(min(heartbeat, max(0.0, end - time.monotonic()), 1.0))
            if sub.closed:
                return
            if rows:
                records = app.extensions["lowrise"].records  # the newest workspace's
                for event in events_for(records, actor, rows):
                    yield (f"id: {event['id']}\nevent: change\n"
                           f"data: {json.dumps(event, ensure_ascii=False)}\n\n")
            if time.monotonic() >= next_beat:
                user = app.extensions["lowrise"].accounts.get(uid)
                if user is None or not user.active or user.session_stamp != stamp:
                    return  # signed out elsewhere, or the password changed
                yield ": ping\n\n"
                next_beat = time.monotonic() + heartbeat
    finally:
        brk.unsubscribe(sub)


@bp.route("/live/inbox")
def inbox_link():
    """The top bar's inbox link with its unread count (redrawn when a notice arrives)."""
    return render_template("live_inbox.html")


def since_now() -> int:
    """The newest change id, drawn into each page: its stream starts there."""
    from lowrise.live import latest_id

    return latest_id(current_app.extensions["lowrise"].engine)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals.update(live_since=since_now, live_locale=current_locale)
