"""The project tracker's permissions and computed figures, on SQLite and PostgreSQL: a guest
sees only the projects they are the client contact of (and those projects' milestones and
tasks, and the team, never another client); a member's time logs are their own; hours roll
up from time logs to tasks, milestones, projects and members, durations summed as such."""

from __future__ import annotations

import pytest

from lowrise.actor import SYSTEM, Actor
from lowrise.errors import LowriseError
from lowrise.rules.engine import install
from lowrise.storage import query as Q
from lowrise.storage.db import create_engine
from lowrise.templates import gallery
from lowrise.workspace import load_workspace
from test_templates import build

WS = load_workspace(gallery()["project_tracker"].path)


@pytest.fixture
def tracker(db_url):
    engine = create_engine(db_url)
    records = build(engine, WS)
    install(records)
    c = records.create
    pm = c("member", {"name": "Grace", "role": "project_manager", "email": "g@example.com"},
           SYSTEM)
    dev = c("member", {"name": "Alan", "role": "developer", "email": "a@example.com",
                       "hourly_rate": 50}, SYSTEM)
    acme = c("member", {"name": "Acme buyer", "role": "guest", "email": "acme@example.com"},
             SYSTEM)
    zeta = c("member", {"name": "Zeta buyer", "role": "guest", "email": "z@example.com"},
             SYSTEM)
    mine = c("project", {"name": "Acme portal", "client": "Acme", "owner": pm["id"],
                         "client_contact": acme["id"], "budget": 100}, SYSTEM)
    other = c("project", {"name": "Zeta shop", "client": "Zeta", "owner": pm["id"],
                          "client_contact": zeta["id"]}, SYSTEM)
    for p in (mine, other):
        m = c("milestone", {"name": "Beta", "project": p["id"], "due_date": "2030-01-10"},
              SYSTEM)
        for title in ("Design", "Build"):
            c("task", {"title": title, "project": p["id"], "milestone": m["id"],
                       "assignee": dev["id"], "estimate": "2h"}, SYSTEM)
    yield records, {"pm": pm, "dev": dev, "acme": acme, "zeta": zeta, "mine": mine,
                    "other": other}
    engine.dispose()


def _as(person, role):
    return Actor(user=person["id"], name=person["name"], roles=frozenset({role}))


def test_a_guest_sees_their_own_projects_tasks_and_the_team_only(tracker):
    records, who = tracker
    guest = _as(who["acme"], "guest")
    with records.engine.connect() as conn:
        def ids(t):
            return {r["id"] for r in Q.list_records(conn, records.schema, t, ctx=guest, limit=100).rows}

        assert ids("project") == {who["mine"]["id"]}
        tasks = Q.list_records(conn, records.schema, "task", ctx=guest, limit=100).rows
        assert len(tasks) == 2 and {t["project"] for t in tasks} == {who["mine"]["id"]}
        assert "estimate" not in tasks[0] and "spent_hours" not in tasks[0]
        assert Q.count(conn, records.schema, "milestone", None, guest) == 1
        # the team and themselves, never the contact of another client
        assert ids("member") == {who["pm"]["id"], who["dev"]["id"], who["acme"]["id"]}
        project = Q.list_records(conn, records.schema, "project", ctx=guest, limit=100).rows[0]
        assert "budget" not in project and "cost" not in project
        assert project["progress"] == 0
    with pytest.raises(LowriseError):
        records.get("project", who["other"]["id"], actor=guest)


def test_plan_checks_refuse_in_the_readers_language(tracker):
    """A block message given per locale (docs/automations.md) is read in each reader's own."""
    from lowrise.i18n import tr_all

    records, who = tracker
    with records.engine.connect() as conn:
        theirs = Q.list_records(conn, records.schema, "milestone", filter={
            "field": "project", "op": "eq", "value": who["other"]["id"]}, limit=1).rows[0]
    with pytest.raises(LowriseError) as info:
        records.create("task", {"title": "Stray", "project": who["mine"]["id"],
                                "milestone": theirs["id"]}, _as(who["pm"], "project_manager"))
    errors = info.value.errors
    assert tr_all(errors, "zh") == {"milestone": "该里程碑属于其他项目，请选择本项目的里程碑"}
    assert tr_all(errors, "en")["milestone"].startswith("This milestone belongs to another")
    with records.engine.connect() as conn:  # nothing was written
        assert Q.count(conn, records.schema, "task", {"field": "title", "op": "eq",
                                                      "value": "Stray"}) == 0


def test_only_project_managers_name_the_client_contact(tracker):
    records, who = tracker
    with pytest.raises(LowriseError):
        records.update("project", who["mine"]["id"], {"client_contact": who["zeta"]["id"]},
                       _as(who["dev"], "member"))
    done = records.update("project", who["mine"]["id"], {"client_contact": who["zeta"]["id"]},
                          _as(who["pm"], "project_manager"))
    assert done["client_contact"] == who["zeta"]["id"]


def test_hours_roll_up_from_time_logs_and_a_member_logs_only_their_own(tracker):
    records, who = tracker
    dev = _as(who["dev"], "member")
    with records.engine.connect() as conn:
        task = Q.list_records(conn, records.schema, "task", filter={
            "field": "project", "op": "eq", "value": who["mine"]["id"]}, limit=1).rows[0]
    with pytest.raises(LowriseError, match="read-only"):
        records.create("time_log", {"task": task["id"], "spent": "1h",
                                    "member": who["pm"]["id"]}, dev)
    log = records.create("time_log", {"task": task["id"], "spent": "1h30m"}, dev)
    assert log["member"] == who["dev"]["id"]
    records.create("time_log", {"task": task["id"], "spent": "2h"}, dev)
    got = records.get("task", task["id"], actor=SYSTEM)
    assert got["spent_hours"] == 3.5 * 3600 and got["over_estimate"] is True
    project = records.get("project", who["mine"]["id"], actor=SYSTEM)
    assert project["spent_hours"] == 3.5 * 3600 and project["estimated_hours"] == 4 * 3600
    assert project["cost"] == 175 and project["over_budget"] is True
    member = records.get("member", who["dev"]["id"], actor=SYSTEM)
    assert member["hours_logged"] == 3.5 * 3600 and member["open_tasks"] == 4
    # others do not see whose rate made the cost
    assert "cost" not in records.get("task", task["id"], actor=_as(who["pm"], "member"))


@pytest.mark.parametrize("within", ["1d", None])
def test_demo_data_sets_only_the_timers_due_within_demo_timers_within(db_url, within):
    """`demo: {timers_within: 1d}`: a first start on demo data fires the deadlines of the
    last day and no flood of those long past; without it, none that has passed."""
    import dataclasses
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from lowrise.seed import seed

    demo = {k: v for k, v in WS.config["demo"].items() if k != "timers_within"}
    ws = dataclasses.replace(WS, config={**WS.config, "demo": {
        **demo, **({"timers_within": within} if within else {})}})
    engine = create_engine(db_url)
    records = build(engine, ws)
    start = datetime.now(UTC)
    seed(records, scale=0.3, seed_value=5)
    with engine.connect() as conn:
        t = records.schema.system["lr_timers"]
        due = list(conn.execute(sa.select(t.c.due_at)).scalars())
        role = dict(conn.execute(sa.select(records.schema.table("member").c["id", "role"])).all())
        projects = conn.execute(sa.select(records.schema.table("project"))).mappings().all()
    engine.dispose()
    # sample: {where: ...}: client contacts are guests, owners project managers
    assert {role[p["owner"]] for p in projects} == {"project_manager"}
    assert {role[p["client_contact"]] for p in projects if p["client_contact"]} == {"guest"}
    assert due
    back = timedelta(days=1, minutes=1) if within else timedelta(minutes=1)
    assert not [d for d in due if d < start - back]
