"""Automations in the web app: writes through the web run rules, the rule pages show runs and
failed messages (retry), the record's runs and its button (action results for admins only),
the inbox (a notification on a record its reader may no longer read keeps no details),
incoming webhooks."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from lowrise.actor import SYSTEM
from lowrise.errors import NotFound
from lowrise.rules.signing import signed_headers
from lowrise.rules.tester import run_manual
from lowrise.rules.worker import Worker
from lowrise.workspace import load_workspace_from_texts
from test_rules_support import BASE, make_env
from test_web_support import PASSWORD, AuthActions, build_app

RULES = {
    "automations/stamp.yaml": """
label: Stamp new tickets
record_type: ticket
trigger: {kind: created}
actions:
  - set_fields: {note: stamped}
  - notify: {to: [owner], title: "New ticket {{ title }}"}
""",
    "automations/reopen.yaml": """
label: Reopen
record_type: ticket
trigger: {kind: manual, label: Reopen it}
actions:
  - set_fields: {status: open}
""",
    "automations/from_outside.yaml": """
record_type: ticket
trigger: {kind: webhook, secret: hook-secret}
actions:
  - set_fields: {note: {expr: "concat('from outside ', title)"}}
""",
    "automations/ping.yaml": """
record_type: ticket
trigger: {kind: field_changed, field: status, to: done}
actions:
  - webhook: {url: "http://127.0.0.1:9/nowhere", retries: 0}
""",
}


def make(tmp_path, db_url):
    ws = load_workspace_from_texts({**BASE, **RULES})
    app = build_app(tmp_path, db_url, ws)
    client = app.test_client()
    auth = AuthActions(client)
    assert auth.login().status_code == 302
    return app, client, auth


def test_rule_pages_inbox_button_and_webhook(tmp_path, db_url):
    app, client, auth = make(tmp_path, db_url)
    run = app.extensions["lowrise"]
    try:
        me = run.accounts.by_email("ada@example.com").staff_id
        resp = auth.post("/r/ticket/new", data={"title": "Door", "owner": str(me)})
        assert resp.status_code in (302, 303), resp.text[:500]
        tid = int(resp.headers["Location"].rstrip("/").split("/")[-1])
        assert run.records.get("ticket", tid)["note"] == "stamped"
        page = client.get("/rules")
        assert page.status_code == 200 and "Stamp new tickets" in page.text
        page = client.get("/rules/stamp")
        assert page.status_code == 200 and "set note = stamped" in page.text
        assert client.get("/inbox/count").json == {"unread": 1}
        page = client.get("/inbox")
        assert "New ticket Door" in page.text
        auth.post("/inbox/read")
        assert client.get("/inbox/count").json == {"unread": 0}
        page = client.get(f"/r/ticket/{tid}")  # the record's Automations card
        assert "Reopen it" in page.text and "Stamp new tickets" in page.text
        assert "set note = stamped" in page.text  # an admin sees the actions' results
        auth.post(f"/rules/reopen/run/ticket/{tid}")
        assert run.records.get("ticket", tid)["status"] == "open"
        # a failed message can be retried from the rule's page
        run.records.update("ticket", tid, {"status": "done"}, SYSTEM)
        Worker(run.records, senders=None).deliver_outbox()
        page = client.get("/rules/ping")
        assert "failed" in page.text
        resp = auth.post("/rules/ping/retry")
        assert resp.status_code == 302
        assert "1 message(s) will be sent again" in client.get("/rules/ping").text
        # an incoming webhook: signed, no session, no CSRF token
        body = json.dumps({"id": tid}).encode()
        anonymous = app.test_client()
        bad = anonymous.post("/hooks/from_outside", data=body,
                             headers={"X-Lowrise-Signature": "sha256=nope"})
        assert bad.status_code == 404
        ok = anonymous.post("/hooks/from_outside", data=body,
                            headers={**signed_headers("hook-secret", body),
                                     "Content-Type": "application/json"})
        assert ok.status_code == 200 and ok.json["ran"] is True, ok.text
        assert run.records.get("ticket", tid)["note"] == "from outside Door"
    finally:
        run.engine.dispose()


AGENTS = {"workspace.yaml": BASE["workspace.yaml"].replace(
    "  agent: {label: Agent}\n",
    "  agent:\n    label: Agent\n    permissions:\n      person: {can: [read]}\n"
    "      ticket: {can: [read, update]}\n")}


def agent_client(app, name="Agent Al"):
    run = app.extensions["lowrise"]
    staff = run.records.create("person", {"name": name, "role": "agent"}, SYSTEM)
    email = name.lower().replace(" ", ".") + "@example.com"
    run.accounts.add(email, PASSWORD, name=name, staff_id=staff["id"], roles=["agent"])
    client = app.test_client()
    auth = AuthActions(client)
    assert auth.login(email=email).status_code == 302
    return staff, client, auth


def test_record_runs_show_results_to_admins_only(tmp_path, db_url):
    """Someone who may read the record sees which rules ran on it, when and how they ended,
    not what their actions wrote (a result may carry a value their role sees masked); the old
    runs partial is gone."""
    ws = load_workspace_from_texts({**BASE, **RULES, **AGENTS})
    app = build_app(tmp_path, db_url, ws)
    run = app.extensions["lowrise"]
    try:
        _, client, auth = agent_client(app)
        tid = run.records.create("ticket", {"title": "Door"}, SYSTEM)["id"]
        page = client.get(f"/r/ticket/{tid}")
        assert page.status_code == 200
        assert "Stamp new tickets" in page.text and 'class="run-status"' in page.text
        assert "set note = stamped" not in page.text
        assert 'href="/rules/stamp"' not in page.text  # the rule's page is for admins
        assert client.get(f"/rules/record/ticket/{tid}").status_code == 404
        assert auth.hx("GET", f"/rules/record/ticket/{tid}").status_code == 404
    finally:
        run.engine.dispose()


def test_inbox_hides_what_its_reader_may_no_longer_read(tmp_path, db_url):
    """A notification is shown with its title, text and link while its reader may read the
    record; once the record is deleted or their role no longer reads it, only its time (and
    read state) is left."""
    ws = load_workspace_from_texts({**BASE, **RULES, **AGENTS})
    app = build_app(tmp_path, db_url, ws)
    run = app.extensions["lowrise"]
    try:
        me, client, auth = agent_client(app)
        kept = run.records.create("ticket", {"title": "Door", "owner": me["id"]}, SYSTEM)
        gone = run.records.create("ticket", {"title": "Window", "owner": me["id"]}, SYSTEM)
        page = client.get("/inbox")
        assert "New ticket Door" in page.text and "New ticket Window" in page.text
        assert f'href="/r/ticket/{kept["id"]}"' in page.text
        run.records.delete("ticket", gone["id"], SYSTEM)
        page = client.get("/inbox")
        assert "New ticket Door" in page.text and "New ticket Window" not in page.text
        assert page.text.count("no longer see") == 1
        account = run.accounts.by_email("agent.al@example.com")
        run.accounts.set_roles(account.id, ["boss"])  # a role that reads no ticket
        page = client.get("/inbox")
        assert page.status_code == 200 and "Door" not in page.text
        assert "/r/ticket/" not in page.text and page.text.count("no longer see") == 2
        assert client.get("/inbox/count").json == {"unread": 2}  # still there, to mark read
        auth.post("/inbox/read")
        assert client.get("/inbox/count").json == {"unread": 0}
    finally:
        run.engine.dispose()


OWN_TICKETS = {"workspace.yaml": BASE["workspace.yaml"].replace(
    "  agent: {label: Agent}\n",
    "  agent:\n    label: Agent\n    permissions:\n      person: {can: [read]}\n"
    "      ticket: {can: [read, update], rows: own}\n      log: {can: [read, update]}\n"),
    "automations/reopen_off.yaml": """
record_type: ticket
enabled: false
trigger: {kind: manual, label: Reopen (off)}
actions:
  - set_fields: {note: the disabled rule ran}
"""}


def test_a_button_runs_only_its_own_enabled_rule_on_its_own_type(tmp_path, db_url):
    """A manual rule's button runs on a record of the rule's type only, and only while the rule
    is enabled: an agent who reads only their own tickets cannot press `reopen` on a log entry
    whose id is another agent's ticket, nor press a disabled rule on their own ticket."""
    ws = load_workspace_from_texts({**BASE, **RULES, **OWN_TICKETS})
    app = build_app(tmp_path, db_url, ws)
    run = app.extensions["lowrise"]
    try:
        me, client, auth = agent_client(app)
        other = run.records.create("person", {"name": "Other"}, SYSTEM)
        theirs = run.records.create("ticket", {"title": "Theirs", "status": "done",
                                               "owner": other["id"]}, SYSTEM)
        mine = run.records.create("ticket", {"title": "Mine", "status": "done",
                                             "owner": me["id"]}, SYSTEM)
        entry = run.records.create("log", {"text": "a log entry"}, SYSTEM)
        while entry["id"] < theirs["id"]:
            entry = run.records.create("log", {"text": "a log entry"}, SYSTEM)
        assert entry["id"] == theirs["id"]
        assert client.get(f"/r/ticket/{theirs['id']}").status_code == 404
        assert client.get(f"/r/log/{entry['id']}").status_code == 200
        assert auth.post(f"/rules/reopen/run/ticket/{theirs['id']}").status_code == 404
        # the log entry is the agent's to update, but `reopen` watches tickets
        assert auth.post(f"/rules/reopen/run/log/{entry['id']}").status_code == 404
        assert auth.post(f"/rules/reopen_off/run/ticket/{mine['id']}").status_code == 404
        assert auth.post(f"/rules/stamp/run/ticket/{mine['id']}").status_code == 404
        assert run.records.get("ticket", theirs["id"])["status"] == "done"
        assert run.records.get("ticket", mine["id"])["note"] != "the disabled rule ran"
        page = client.get(f"/r/ticket/{mine['id']}")
        assert "Reopen it" in page.text and "Reopen (off)" not in page.text
        assert auth.post(f"/rules/reopen/run/ticket/{mine['id']}").status_code == 302
        assert run.records.get("ticket", mine["id"])["status"] == "open"
        with run.engine.connect() as conn:
            t = run.schema.system["lr_rule_runs"]
            ran = conn.execute(sa.select(t.c.rule, t.c.record_id).where(
                t.c.trigger == "manual")).all()
        assert ran == [("reopen", mine["id"])]
    finally:
        run.engine.dispose()


def test_run_manual_checks_the_type_and_that_the_rule_is_on(engine):
    env = make_env(engine, {
        "reopen": RULES["automations/reopen.yaml"],
        "reopen_off": OWN_TICKETS["automations/reopen_off.yaml"]})
    t = env.create("ticket", title="Fan", status="done")
    for name, type_name in (("reopen", "log"), ("reopen_off", "ticket"), ("nope", "ticket")):
        with pytest.raises(NotFound):
            run_manual(env.records, name, type_name, t["id"], env.actor())
    assert env.get("ticket", t["id"])["status"] == "done"
    assert env.rows("lr_rule_runs") == []
