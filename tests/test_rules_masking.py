"""A message is masked for the person who reads it: each recipient's notification (and
e-mail) shows the record as their roles show it; a webhook's body, going outside the access
rules, masks every field some role sees masked or hidden unless `as_role:` says whose view
it carries."""

from __future__ import annotations

import json

import pytest

from lowrise.accounts import Accounts
from lowrise.workspace import WorkspaceError
from test_rules_support import T0, make_env, staff, workspace

PERMISSIONS = {"workspace.yaml": """label: Desk
default_locale: en
locales: [en]
timezone: UTC
users: person
roles:
  agent:
    label: Agent
    permissions:
      ticket: {can: [read, update], fields: {note: {access: masked, unless: own}, x: hidden}}
      person: {can: [read]}
  boss:
    label: Boss
    permissions:
      ticket: {can: [read, create, update]}
      person: {can: [read, create, update]}
  outsider:
    label: Outsider
    permissions:
      person: {can: [read]}
  tech:
    label: Technician
    permissions:
      ticket: {can: [read], rows: own}
      person: {can: [read]}
"""}

TELL = """
record_type: ticket
trigger: {kind: created}
actions:
  - notify:
      to: [owner, owner.manager, {users: {field: name, op: in, value: [cy, bob, dee]}}]
      title: "{{ title }}: {{ record.note }} / {{ record.x }}"
      body: "{{ shown.note }}"
      email: true
  - webhook: {url: "https://erp.example.com/hook"}
  - webhook: {url: "https://erp.example.com/boss", as_role: boss}
"""

PASSWORD = "correct horse battery 42"


def test_each_recipient_reads_the_message_as_their_roles_show_the_record(engine):
    env = make_env(engine, {"tell": TELL}, extra=PERMISSIONS)
    p = staff(env)
    p["dee"] = env.create("person", name="dee", email="dee@example.com")["id"]
    accounts = Accounts(engine)
    accounts.add("boss@example.com", PASSWORD, staff_id=p["boss"], roles=["boss"])
    accounts.add("ann@example.com", PASSWORD, staff_id=p["ann"], roles=["agent"])
    accounts.add("cy@example.com", PASSWORD, staff_id=p["cy"], roles=["agent"])
    accounts.add("dee@example.com", PASSWORD, staff_id=p["dee"], roles=["outsider"])
    # bob has no account, dee's role may not read tickets: neither may read the record
    env.create("ticket", title="Sink", owner=p["ann"], note="13812345678", x=42,
               requested_at=T0)
    got = {n["user_id"]: n["title"] for n in env.rows("lr_notifications")}
    assert got[p["boss"]] == "Sink: 13812345678 / 42"  # the boss sees everything
    assert got[p["ann"]] == "Sink: 13812345678 / ****"  # her own ticket: the note opens
    assert got[p["cy"]] == "Sink: 138****5678 / ****"  # another agent's: masked
    assert p["bob"] not in got and p["dee"] not in got  # not notified at all
    bodies = {n["user_id"]: n["body"] for n in env.rows("lr_notifications")}
    assert bodies[p["boss"]] == "13812345678" and bodies[p["cy"]] == "138****5678"
    mails = {m["target"]: m["payload"] for m in env.rows("lr_outbox") if m["kind"] == "email"}
    assert mails["boss@example.com"]["subject"] == got[p["boss"]]
    assert mails["cy@example.com"]["subject"] == got[p["cy"]]
    assert "dee@example.com" not in mails
    [log] = [r for r in env.rows("lr_rule_runs") if r["rule"] == "tell"]
    assert f"may not read this record: #{p['bob']}, #{p['dee']}" in str(log)
    hooks = {m["target"]: json.loads(m["payload"]["body"]) for m in env.rows("lr_outbox")
             if m["kind"] == "webhook"}
    assert hooks["https://erp.example.com/hook"]["record"]["note"] == "138****5678"
    assert hooks["https://erp.example.com/hook"]["record"]["x"] != 42
    assert hooks["https://erp.example.com/boss"]["record"]["note"] == "13812345678"
    assert hooks["https://erp.example.com/boss"]["record"]["x"] == 42


def test_timer_notifications_in_a_batch_are_masked_per_recipient(engine):
    env = make_env(engine, {"late": """
record_type: ticket
trigger: {kind: time, field: requested_at, after: 1h}
actions:
  - notify: {to: [owner, owner.manager], title: "{{ record.note }}"}
"""}, extra=PERMISSIONS)
    p = staff(env)
    accounts = Accounts(engine)
    accounts.add("boss@example.com", PASSWORD, staff_id=p["boss"], roles=["boss"])
    accounts.add("cy@example.com", PASSWORD, staff_id=p["cy"], roles=["agent"])
    for owner in ("ann", "cy"):
        env.create("ticket", title=owner, owner=p[owner], note="13812345678", requested_at=T0)
    env.advance(hours=2)
    assert env.worker().fire_due_timers() == 2
    got = sorted((n["user_id"], n["title"]) for n in env.rows("lr_notifications"))
    assert got == sorted([(p["boss"], "13812345678"), (p["boss"], "13812345678"),
                          (p["cy"], "13812345678")])  # cy's own ticket; ann has no account


def test_a_recipient_whose_rows_leave_the_record_out_gets_nothing(engine):
    """Cy's role reads tickets but only his own: a rule naming him about Ann's ticket neither
    fills his inbox nor e-mails him, and its run log says so; Ann's own ticket reaches her."""
    env = make_env(engine, {"tell": """
record_type: ticket
trigger: {kind: created}
actions:
  - notify: {to: [owner, {users: {field: name, op: eq, value: cy}}], title: "{{ title }}",
             email: true}
"""}, extra=PERMISSIONS)
    p = staff(env)
    accounts = Accounts(engine)
    accounts.add("ann@example.com", PASSWORD, staff_id=p["ann"], roles=["tech"])
    accounts.add("cy@example.com", PASSWORD, staff_id=p["cy"], roles=["tech"])
    env.create("ticket", title="Sink", owner=p["ann"], note="13812345678", requested_at=T0)
    assert [n["user_id"] for n in env.rows("lr_notifications")] == [p["ann"]]
    assert [m["target"] for m in env.rows("lr_outbox")] == ["ann@example.com"]
    [log] = env.rows("lr_rule_runs")
    assert f"not notified, as they may not read this record: #{p['cy']}" in str(log)


def test_as_role_must_name_a_role():
    with pytest.raises(WorkspaceError, match="'king' is not a role"):
        workspace({"bad": """
record_type: ticket
trigger: {kind: created}
actions:
  - webhook: {url: "https://x.example.com", as_role: king}
"""}, PERMISSIONS)
