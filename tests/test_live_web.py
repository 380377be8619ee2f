"""Live updates through the app (GET /live/events, server-sent events) on the flagship, for
every role, on SQLite and PostgreSQL: the raw stream carries ids only, and only of records
the role may read now (no masked value, no out-of-scope record, not even its id); a resume
with Last-Event-ID gets exactly what came after; bounds per person and per process answer
429 / 503 with a sentence in the person's language; a server without threads is refused."""

from __future__ import annotations

import json
import re

import pytest

from lowrise.live import latest_id
from test_access_web import NEVER, ROLES, SEES, World, world  # noqa: F401 (a fixture)
from test_web_support import SYSTEM_ACTOR, AuthActions

pytest_plugins = ["test_web_support"]

THREADED = {"wsgi.multithread": True}
NEW_PHONES = {"c_amy": "13800000071", "c_ben": "13900000072", "c_shared": "13700000073"}
KEYS = {"id", "action", "type", "record", "version", "by"}


def stream(client, *, since=None, last_event_id=None, seconds=1.0):
    """The raw text of one stream (the app ends it after `seconds`)."""
    client.application.config.update(LOWRISE_LIVE_STREAM_SECONDS=seconds,
                                      LOWRISE_LIVE_HEARTBEAT=0.3)
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    url = "/live/events" + (f"?since={since}" if since is not None else "")
    resp = client.get(url, headers=headers, environ_overrides=THREADED)
    return resp, resp.get_data(as_text=True)


def events_of(body: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(r"^data: (.*)$", body, re.M) if m != "{}"]


def changes(w: World):
    """Every kind of change, to records each role sees and records it does not."""
    rec = w.run.records
    for name, phone in NEW_PHONES.items():
        rec.update("client", getattr(w, name)["id"], {"phone": phone}, SYSTEM_ACTOR)
    for name in ("k_amy", "k_amy2", "k_ben"):
        rec.update("case", getattr(w, name)["id"], {"amount": "555"}, SYSTEM_ACTOR)
    w.app.extensions["lowrise_comments"].add("case", w.k_ben["id"], "COMMENT-LIVE-BEN",
                                             SYSTEM_ACTOR)
    rec.delete("follow_up", w.follow["id"], SYSTEM_ACTOR)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_receives_ids_of_what_it_may_read_only(world, role):  # noqa: F811
    w = world
    since = latest_id(w.run.engine)
    changes(w)
    c, _ = w.client(role)
    resp, body = stream(c, last_event_id=since)
    assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
    assert resp.headers["X-Accel-Buffering"] == "no"
    for secret in [*NEVER[role], *NEW_PHONES.values(), "COMMENT-LIVE-BEN"]:
        assert secret not in body, (role, secret)
    got = events_of(body)
    assert got and all(set(e) <= KEYS for e in got), got
    seen = {(e["type"], e.get("record")) for e in got if e["action"] in ("update", "comment")}
    wanted = {(t, getattr(w, n)["id"]) for t in ("client", "case") for n in SEES[role][t]}
    if "k_ben" in SEES[role]["case"]:
        wanted.add(("case", w.k_ben["id"]))  # its comment
    assert seen == wanted, (role, seen)
    deleted = [e for e in got if e["action"] == "delete"]
    if role == "legal":  # may not read follow-ups at all
        assert deleted == []
    elif role == "admin":
        assert deleted == [{"id": deleted[0]["id"], "action": "delete", "type": "follow_up",
                            "record": w.follow["id"]}]
    else:  # scoped rows: told that one went, not which
        assert [set(e) for e in deleted] == [{"id", "action", "type"}]
    ids = [e["id"] for e in got]
    assert ids == sorted(ids) and ids[0] > since
    assert all(f"id: {i}\n" in body for i in ids)  # the browser's Last-Event-ID


def test_a_resume_gets_what_came_after_and_nothing_before(world):  # noqa: F811
    w = world
    c, _ = w.client("admin")
    first = latest_id(w.run.engine)
    w.run.records.update("case", w.k_amy["id"], {"amount": "1"}, SYSTEM_ACTOR)
    middle = latest_id(w.run.engine)
    w.run.records.update("case", w.k_amy["id"], {"amount": "2"}, SYSTEM_ACTOR)
    _, body = stream(c, since=first, seconds=0.5)
    assert [e["version"] for e in events_of(body)] == [2, 3]
    # Last-Event-ID (a reconnection) wins over the page's own starting point
    _, body = stream(c, since=first, last_event_id=middle, seconds=0.5)
    assert [e["version"] for e in events_of(body)] == [3]
    assert "retry: 2000" in body and ": ping" in body


def test_bounds_per_person_and_process_and_a_sync_server(world):  # noqa: F811
    w = world
    app = w.app
    c, _ = w.client("consultant")
    c.get("/locale/zh")
    broker = app.extensions.get("lowrise_live_broker")
    from lowrise.web.live import broker as get_broker

    with app.app_context():
        broker = get_broker(app)
    held = [broker.subscribe(w.users["consultant"][1].id, None)
            for _ in range(app.config["LOWRISE_LIVE_PER_USER"])]
    resp, body = stream(c)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "30"
    assert "实时" in body and "6" in body, body
    for sub in held:
        broker.unsubscribe(sub)
    broker.max_streams = 1
    other = broker.subscribe("someone else", None)
    resp, body = stream(c)
    assert resp.status_code == 503 and "实时" in body
    broker.unsubscribe(other)
    broker.max_streams = 32
    # gunicorn's sync workers (one request at a time): refused, never held
    resp = c.get("/live/events")
    assert resp.status_code == 503 and "实时" in resp.get_data(as_text=True)
    app.config["LOWRISE_LIVE"] = False
    assert stream(c)[0].status_code == 404
    assert 'name="lowrise-live"' not in c.get("/r/case/", environ_overrides=THREADED).text
    app.config["LOWRISE_LIVE"] = True
    # a server of one request at a time per process: its pages do not even try
    assert 'name="lowrise-live"' not in c.get("/r/case/").text
    assert 'name="lowrise-live"' in c.get("/r/case/", environ_overrides=THREADED).text
    broker.close()


def test_the_page_and_the_inbox_link(world):  # noqa: F811
    w = world
    c, _ = w.client("manager")
    page = c.get(f"/r/case/{w.k_amy['id']}", environ_overrides=THREADED).get_data(as_text=True)
    since = int(re.search(r'name="lowrise-live" content="/live/events" data-since="(\d+)"',
                          page).group(1))
    assert since == latest_id(w.run.engine)
    assert f'data-live-part="case:{w.k_amy["id"]}"' in page
    form = c.get(f"/r/case/{w.k_amy['id']}/edit").get_data(as_text=True)
    assert f'data-live-form="case:{w.k_amy["id"]}" data-version="1"' in form
    link = c.get("/live/inbox").get_data(as_text=True)
    assert 'id="inbox-link"' in link and "<html" not in link


def test_signed_out_gets_no_stream(world):  # noqa: F811
    c = world.app.test_client()
    resp = c.get("/live/events", environ_overrides=THREADED)
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]
    assert AuthActions  # (the helper signs in elsewhere)
