"""The templates as web applications: every page of every view renders in both locales,
with demo data, on SQLite and PostgreSQL; the service desk's rules run in the app."""

from __future__ import annotations

import pytest

import test_web_support
from lowrise import seed as seeding
from lowrise.actor import SYSTEM
from lowrise.templates import gallery
from lowrise.workspace import load_workspace
from test_web_support import AuthActions, build_app

pytest_plugins = ["test_web_support"]

TEMPLATES = ["service_desk", "project_tracker"]


@pytest.fixture(autouse=True)
def setup_as_the_system(monkeypatch):
    # The templates declare permissions; build_app's set-up writes (the admin's record) are
    # the system's, which test_web_support's role-less actor is not.
    monkeypatch.setattr(test_web_support, "SYSTEM_ACTOR", SYSTEM)


@pytest.fixture(params=TEMPLATES)
def template_app(request, tmp_path, db_url):
    ws = load_workspace(gallery()[request.param].path)
    app = build_app(tmp_path, db_url, ws)
    seeding.seed(app.extensions["lowrise"].records, scale=0.05, seed_value=3)
    yield app
    app.extensions["lowrise"].engine.dispose()


def test_every_page_of_every_template_renders(template_app):
    client = template_app.test_client()
    assert AuthActions(client).login().status_code == 302
    ws = template_app.extensions["lowrise"].workspace
    urls = ["/", "/search?q=1"]
    for rt in ws.record_types.values():
        urls += [f"/r/{rt.name}/", f"/r/{rt.name}/new", f"/r/{rt.name}/1",
                 f"/r/{rt.name}/1/edit"]
    for view in ws.views.values():
        kind = {"table": "table", "kanban": "kanban", "calendar": "calendar"}.get(view.type)
        if kind:
            urls.append(f"/r/{view.record_type}/{kind}/{view.name}")
        elif view.type == "dashboard":
            urls.append(f"/d/{view.name}")
    for locale in ws.locales:
        client.get(f"/locale/{locale}")
        for url in urls:
            resp = client.get(url, follow_redirects=True)
            assert resp.status_code == 200, (locale, url, resp.status_code)
    client.get("/locale/zh")
    first = next(iter(ws.record_types.values()))
    assert first.label.get("zh") in client.get(f"/r/{first.name}/").text


def test_the_ticket_board_and_its_rules_in_the_app(tmp_path, db_url):
    from lowrise.actor import SYSTEM, Actor

    ws = load_workspace(gallery()["service_desk"].path)
    app = build_app(tmp_path, db_url, ws)
    try:
        client = app.test_client()
        AuthActions(client).login()
        html = client.get("/r/ticket/kanban/tickets_board").text
        for stage in ("new", "assigned", "in_progress", "waiting_parts", "resolved", "closed"):
            assert f'data-value="{stage}"' in html
        records = app.extensions["lowrise"].records
        desk = Actor(name="desk", roles=frozenset({"agent"}))
        tech = records.create("staff", {"name": "王师傅", "role": "technician",
                                        "skills": ["water"]}, SYSTEM)
        customer = records.create("customer", {"name": "刘女士", "phone": "13800138001"}, desk)
        ticket = records.create("ticket", {"subject": "热水器不点火", "customer": customer["id"],
                                           "required_skill": "water"}, desk)
        ticket = records.get("ticket", ticket["id"])  # the rules ran in the same transaction
        assert ticket["technician"] == tech["id"] and ticket["stage"] == "assigned"
        assert ticket["first_response_at"] is None  # the dispatch is no response
        ticket = records.update("ticket", ticket["id"], {"stage": "in_progress"},
                                Actor(user=tech["id"], name="王师傅",
                                      roles=frozenset({"technician"})))
        assert ticket["first_response_at"] is not None  # the technician's first step is
    finally:
        app.extensions["lowrise"].engine.dispose()


@pytest.mark.parametrize(("locale", "words"), [("zh", "该里程碑属于其他项目"),
                                               ("en", "This milestone belongs to another")])
def test_a_plan_check_refuses_in_the_readers_language(tmp_path, db_url, locale, words):
    """A rule's refusal written per locale: the form says it in the reader's language, the
    API (whose messages are English) in English; nothing is written."""
    ws = load_workspace(gallery()["project_tracker"].path)
    app = build_app(tmp_path, db_url, ws)
    try:
        records = app.extensions["lowrise"].records
        pm = records.create("member", {"name": "Grace", "role": "project_manager"}, SYSTEM)
        p1, p2 = (records.create("project", {"name": n, "owner": pm["id"]}, SYSTEM)
                  for n in ("Portal", "Shop"))
        theirs = records.create("milestone", {"name": "Beta", "project": p2["id"],
                                              "due_date": "2030-01-01"}, SYSTEM)
        auth = AuthActions(app.test_client())
        auth.login()
        auth.client.get(f"/locale/{locale}")
        values = {"title": "Stray", "project": p1["id"], "milestone": theirs["id"]}
        form = auth.client.post("/r/task/new", data={**values, "csrf_token": auth.token})
        assert words in form.text, form.status_code
        resp = auth.client.post("/api/v1/task", json=values,
                                headers={"X-CSRFToken": auth.token})
        assert resp.status_code == 422, resp.text
        assert "This milestone belongs to another project" in resp.json["errors"][0]["detail"]
        with records.engine.connect() as conn:
            assert conn.execute(records.schema.table("task").select()).first() is None
    finally:
        app.extensions["lowrise"].engine.dispose()
