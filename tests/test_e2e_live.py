"""Live updates through a real server of several processes (gunicorn with two gthread
processes, as `lowrise serve --production` runs it), two people at once in headless
Chromium, in Chinese, on SQLite and PostgreSQL.

An administrator moves a consultant's card and edits the case: the consultant's board and table,
open in other tabs, redraw within a second or so, a new case appears on the board, and the
consultant's open edit form says who changed it. The raw stream of a consultant, read over
HTTP, never carries another consultant's case (not even its id) nor a masked value. Writes
made by another process (this test's own) reach the server's processes; a stream resumed
with Last-Event-ID gets what came while it was away.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from datetime import date

import pytest

from e2e_support import (  # noqa: F401 (instance ... records: fixtures)
    BIN,
    Http,
    Server,
    instance,
    records,
    say,
    server_stays_clean,
    visitor,
)
from lowrise.accounts import Accounts
from lowrise.actor import SYSTEM, Actor
from lowrise.comments import Comments
from lowrise.live import latest_id
from test_browser_flows import browser  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("e2e_live")]


class ProductionServer(Server):
    """gunicorn with Lowrise's settings (gthread), two processes."""

    def command(self, port: int) -> list[str]:
        return [str(BIN / "gunicorn"), "--config", "python:lowrise.serving.gunicorn_conf",
                "-w", "2", "--threads", "12", "-b", f"127.0.0.1:{port}",
                "--graceful-timeout", "3", "lowrise.web:create_app()"]


@pytest.fixture(scope="module")
def server(instance):  # noqa: F811
    with (instance.folder / "config.py").open("a") as f:
        f.write("LOWRISE_LIVE_HEARTBEAT = 1\nLOWRISE_LIVE_STREAM_SECONDS = 20\n")
    s = ProductionServer(instance, "gunicorn").start()
    try:
        yield s
    finally:
        s.stop()


def staff_of(recs, role: str) -> tuple[int, str]:
    """The staff id and name of the demo account of `role`."""
    user = Accounts(recs.engine).by_email(f"{role}@example.com")
    return user.staff_id, user.name


def make_case(recs, consultant: int, tag: str, **values) -> dict:
    client = recs.create("client", {"name": f"客户{tag}", "phone": "139" + str(
        uuid.uuid4().int)[:8], "source": "walk_in", "consultant": consultant}, SYSTEM)
    return recs.create("case", {"client": client["id"], "consultant": consultant,
                                "opened_on": date(2026, 12, 1), "stage": "lead",
                                "next_action": f"回访 {tag}", **values}, SYSTEM)


def other_consultant(recs) -> int:
    return recs.create("staff", {"name": f"顾问{uuid.uuid4().hex[:4]}", "role": "consultant",
                                 "team": "team_b"}, SYSTEM)["id"]


def raw_stream(server, role: str, *, since: int | None = None, last_event_id=None,
               until=None, seconds: float = 30.0, during=None) -> str:
    """What the stream sends `role` (read as bytes off the socket) until `until(text)` holds
    (or `seconds` pass); `during()` runs once the stream is open."""
    http = Http(server, role)
    url = server.base + "/live/events" + (f"?since={since}" if since is not None else "")
    req = urllib.request.Request(url)
    if last_event_id is not None:
        req.add_header("Last-Event-ID", str(last_event_id))
    resp = http.opener.open(req, timeout=20)  # a heartbeat comes every second
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    assert resp.headers["X-Accel-Buffering"] == "no"
    lines, end = [], time.monotonic() + seconds
    if during is not None:
        during()
    try:
        while time.monotonic() < end:
            line = resp.readline()
            if not line:
                break
            lines.append(line.decode("utf-8"))
            if until is not None and line == b"\n" and until("".join(lines)):
                break
    finally:
        resp.close()
    return "".join(lines)


def has(record_id: int, version: int | None = None):
    """`until`: the text has an event of this record (at this version)."""
    return lambda text: any(e.get("record") == record_id and version in (None, e.get("version"))
                            for e in events_of(text))


def events_of(text: str) -> list[dict]:
    return [json.loads(d) for d in re.findall(r"^data: (.*)$", text, re.M) if d != "{}"]


def test_two_people_at_once(visitor, records):  # noqa: F811
    tag = "live" + uuid.uuid4().hex[:6]
    mine, _ = staff_of(records, "consultant")
    _, manager_name = staff_of(records, "admin")
    case = make_case(records, mine, tag, amount="100")
    cid = case["id"]
    board, errors_b = visitor.open(f"/r/case/kanban/cases_board?q={tag}", role="consultant")
    table, errors_t = visitor.open(f"/r/case/?q={tag}", role="consultant")
    form, errors_f = visitor.open(f"/r/case/{cid}/edit", role="consultant")
    for page in (board, table, form):
        page.locator("html[data-live=on]").wait_for()
    board.locator(f"section.column[data-value='lead'] .kcard[data-id='{cid}']").wait_for()
    time.sleep(0.5)  # the streams are open (EventSource connects after the page loads)

    # the administrator moves the card on their own board
    boss, errors_m = visitor.open(f"/r/case/kanban/cases_board?q={tag}", role="admin")
    boss.locator(f".kcard[data-id='{cid}']").drag_to(
        boss.locator("section.column[data-value='reception'] .cards"))
    boss.locator(f"section.column[data-value='reception'] .kcard[data-id='{cid}']"
                 ":not([data-version='1'])").wait_for()
    # (how soon is measured by bench.live, not here: this only waits for it to happen)
    board.locator(f"section.column[data-value='reception'] .kcard[data-id='{cid}']").wait_for()
    assert board.locator(f"section.column[data-value='lead'] .kcard[data-id='{cid}']"
                         ).count() == 0

    # the consultant's open form: who changed the case, and a link to reload
    warning = form.locator(".live-warning")
    warning.wait_for()
    text = warning.inner_text()
    assert text.startswith(say("Changed by %(name)s meanwhile —", "zh", name=manager_name))
    assert say("reload", "zh") in text
    assert form.locator("input[name=_version][value='1']").count() == 1  # left as it was

    # the administrator edits the amount on the record's form: the table row is redrawn
    boss.goto(f"{visitor.server.base}/r/case/{cid}/edit")
    boss.fill("input[name=amount]", "2500000")
    boss.click("form.record-form button[type=submit]")
    boss.wait_for_url(re.compile(rf"/r/case/{cid}$"))
    table.locator(f"tr#row-{cid}:has-text('2,500,000.00')").wait_for()

    # a case made elsewhere (this test's own process) appears on the board
    new = make_case(records, mine, tag)
    board.locator(f"section.column[data-value='lead'] .kcard[data-id='{new['id']}']").wait_for()

    # a mention of the consultant: the inbox badge on their open board counts it
    mine_name = records.get("staff", mine)["name"]  # as a mention names them
    badge = board.locator("#inbox-link .badge")
    before = int(re.sub(r"\D", "", badge.inner_text()) or 0) if badge.count() else 0
    admin_id, _ = staff_of(records, "admin")
    Comments(records, Accounts(records.engine)).add(
        "case", cid, f"@{mine_name} 请跟进", Actor(user=admin_id, name=manager_name,
                                                    roles=frozenset({"admin"})))
    board.locator("#inbox-link .badge").filter(
        has_text=re.compile(rf"^\s*{before + 1}(\D|$)")).wait_for()
    for errors in (errors_b, errors_t, errors_f, errors_m):
        assert errors == []


def test_a_dashboard_follows_changes(visitor, records):  # noqa: F811
    dash, errors = visitor.open("/d/dashboard", role="admin")
    dash.locator("html[data-live=on]").wait_for()
    dash.locator("#dash-grid canvas").first.wait_for()
    dash.evaluate("document.getElementById('dash-grid').dataset.old = '1'")
    mine, _ = staff_of(records, "consultant")
    make_case(records, mine, "dash" + uuid.uuid4().hex[:6], amount="12345")
    dash.locator("#dash-grid:not([data-old])").wait_for()  # redrawn from the server
    dash.locator("#dash-grid canvas").first.wait_for()  # with its charts drawn again
    assert errors == []


def test_the_raw_stream_of_a_consultant(visitor, records):  # noqa: F811
    """Another consultant's case and client change, and a client of the consultant's case
    whose phone is masked to them: the stream names only their own case and client."""
    server = visitor.server
    mine, _ = staff_of(records, "consultant")
    theirs = other_consultant(records)
    tag = "raw" + uuid.uuid4().hex[:6]
    own = make_case(records, mine, tag)
    other = make_case(records, theirs, tag)
    secret_phone, secret_note = "13912345678", "机密备注" + tag
    since = latest_id(records.engine)

    def changes():
        records.update("case", other["id"], {"next_action": secret_note}, SYSTEM)
        records.update("client", other["client"], {"phone": secret_phone}, SYSTEM)
        records.update("case", own["id"], {"next_action": "mine " + tag}, SYSTEM)

    text = raw_stream(server, "consultant", since=since, during=changes,
                      until=has(own["id"], own["version"] + 1))
    for secret in (secret_phone, secret_note, tag):
        assert secret not in text
    got = events_of(text)
    named = {(e["type"], e.get("record")) for e in got}
    assert ("case", own["id"]) in named
    assert ("case", other["id"]) not in named and ("client", other["client"]) not in named
    assert all(set(e) <= {"id", "action", "type", "record", "version", "by"} for e in got)
    # the administrator sees them all
    admin = {(e["type"], e.get("record")) for e in events_of(
        raw_stream(server, "admin", last_event_id=since, until=has(own["id"])))}
    assert {("case", own["id"]), ("case", other["id"]), ("client", other["client"])} <= admin


def test_writes_of_another_process_and_a_resume(visitor, records):  # noqa: F811
    """Each stream is served by one of gunicorn's processes; the writes come from this test's
    process: only the database carries them across (LISTEN/NOTIFY, or the change log's
    poll). Several streams at once (spread over both processes) each get every change; a
    stream resumed with Last-Event-ID gets what came while it was closed."""
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    server = visitor.server
    children = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True,
                              text=True).stdout.split()
    assert len(children) == 2
    mine, _ = staff_of(records, "consultant")
    case = make_case(records, mine, "xp")
    start = latest_id(records.engine)

    def write():
        time.sleep(0.5)
        for amount in ("1", "2", "3"):
            records.update("case", case["id"], {"amount": amount}, SYSTEM)

    with ThreadPoolExecutor(4) as pool:
        streams = [pool.submit(raw_stream, server, "admin", since=start,
                               until=has(case["id"], 4)) for _ in range(4)]
        time.sleep(0.3)
        write()
        texts = [f.result() for f in streams]
    for text in texts:  # (the case's creation may come too: its change can be noted after
        # `start` was read, on SQLite; what matters is that every stream gets every write)
        versions = [e["version"] for e in events_of(text) if e.get("record") == case["id"]
                    and e["version"] > case["version"]]
        assert versions == [2, 3, 4], versions
    # away meanwhile: the resume starts after the last event seen
    last = max(e["id"] for e in events_of(texts[0]))
    records.update("case", case["id"], {"amount": "4"}, SYSTEM)
    resumed = events_of(raw_stream(server, "admin", since=start, last_event_id=last,
                                   until=has(case["id"], 5)))
    assert [e["version"] for e in resumed if e.get("record") == case["id"]] == [5]
