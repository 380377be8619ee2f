"""Approvals in the app, on the flagship, for every role: the queue page and its count in the
navigation, the API's queue and decisions, the record page's approval panel and history,
on SQLite and PostgreSQL. Amy (consultant, Boss's team) sends a contract to review: it waits
for Boss (her manager); Ben has no manager, so his waits for the administrators."""

from __future__ import annotations

import re

import pytest

from lowrise.actor import Actor
from test_access_web import NEVER, ROLES, World
from test_web_support import build_app, csrf_of

pytest_plugins = ["test_web_support"]

#: how many tasks wait for each role's person in the world below
WAITING = {"consultant": 0, "manager": 1, "legal": 0, "admin": 1}


class ReviewWorld(World):
    def __init__(self, app):
        super().__init__(app)
        records = self.run.records
        amy = Actor(user=self.amy["id"], name=self.amy["name"], roles=frozenset({"consultant"}))
        self.c_amy_contract = records.create("contract", dict(
            kind="sale", case=self.k_amy["id"], client=self.c_amy["id"], unit=self.unit["id"],
            amount="100", payment_method="full", notes="CONTRACT-AMY-42"), amy)
        records.update("contract", self.c_amy_contract["id"], {"status": "in_review"}, amy)
        ben = Actor(user=self.ben["id"], name=self.ben["name"], roles=frozenset({"consultant"}))
        records.update("contract", self.contract["id"], {"status": "in_review"}, ben)


@pytest.fixture
def world(tmp_path, db_url):
    from lowrise.workspace import load_workspace
    from test_access_web import ROOT

    app = build_app(tmp_path, db_url, load_workspace(ROOT))
    yield ReviewWorld(app)
    app.extensions["lowrise"].engine.dispose()


@pytest.mark.parametrize("role", ROLES)
def test_queue_page_and_count_for_every_role(world, role):
    c, _ = world.client(role)
    page = c.get("/approvals")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    for secret in NEVER[role]:
        assert secret not in body, (role, secret)
    assert f"{WAITING[role]} waiting for you" in body
    assert body.count('class="approval-item"') == WAITING[role]
    badge = re.search(r'id="approvals-badge">(\d+)<', body)
    assert (int(badge.group(1)) if badge else 0) == WAITING[role]
    if role == "manager":
        assert world.c_amy_contract["contract_no"] in body
    if role == "admin":  # Ben's contract: his client's name is not in the queue's title
        assert world.contract["contract_no"] in body


@pytest.mark.parametrize("role", ROLES)
def test_api_queue_for_every_role(world, role):
    c = world.app.test_client()
    token = {"Authorization": f"Bearer {world.tokens[role]}"}
    resp = c.get("/api/v1/approvals", headers=token)
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["waiting"] == len(data["tasks"]) == WAITING[role]
    for secret in NEVER[role]:
        assert secret not in resp.get_data(as_text=True)
    assert c.get("/api/v1/approvals?befor=1", headers=token).status_code == 400


def _task(world, role) -> int:
    token = {"Authorization": f"Bearer {world.tokens[role]}"}
    return world.app.test_client().get("/api/v1/approvals", headers=token
                                       ).get_json()["tasks"][0]["task"]


@pytest.mark.parametrize("role", ["consultant", "legal", "admin"])
def test_nobody_else_decides_the_managers_task(world, role):
    task = _task(world, "manager")
    token = {"Authorization": f"Bearer {world.tokens[role]}"}
    c = world.app.test_client()
    resp = c.post(f"/api/v1/approvals/tasks/{task}", json={"decision": "approve"},
                  headers=token)
    assert resp.status_code == 404
    _, auth = world.client(role)
    assert auth.post(f"/approvals/tasks/{task}", data={"decision": "approve"}
                     ).status_code == 404
    assert world.run.records.get("contract", world.c_amy_contract["id"])["status"] == "in_review"


def test_manager_approves_from_the_page_and_it_shows_on_the_record(world):
    c, auth = world.client("manager")
    task = _task(world, "manager")
    resp = auth.post(f"/approvals/tasks/{task}", data={"decision": "approve",
                                                        "comment": "Fine by me"})
    assert resp.status_code == 302
    cid = world.c_amy_contract["id"]
    assert world.run.records.get("contract", cid)["status"] == "approved"
    page = c.get(f"/r/contract/{cid}").get_data(as_text=True)
    assert 'id="approvals"' in page and "Fine by me" in page and "approval complete" in page
    assert "Contract review: approved (Fine by me)" in page  # the history's entry
    assert c.get("/approvals").get_data(as_text=True).count('class="approval-item"') == 0


def test_send_back_needs_a_reason_in_the_page_and_the_api(world):
    _, auth = world.client("manager")
    task = _task(world, "manager")
    resp = auth.post(f"/approvals/tasks/{task}", data={"decision": "send_back"},
                     follow_redirects=True)
    assert "say why you send it back" in resp.get_data(as_text=True)
    token = {"Authorization": f"Bearer {world.tokens['manager']}"}
    c = world.app.test_client()
    refused = c.post(f"/api/v1/approvals/tasks/{task}", json={"decision": "send_back"},
                     headers=token)
    assert refused.status_code == 422
    done = c.post(f"/api/v1/approvals/tasks/{task}",
                  json={"decision": "send_back", "comment": "首付不对"}, headers=token)
    assert done.status_code == 200 and done.get_json()["status"] == "returned"
    cid = world.c_amy_contract["id"]
    assert world.run.records.get("contract", cid)["status"] == "draft"


def test_the_queue_page_in_chinese(world):
    c, auth = world.client("manager")
    c.get("/locale/zh")
    body = c.get("/approvals").get_data(as_text=True)
    assert "我的审批" in body and "同意" in body and "驳回" in body and "退回" in body
    assert "Approve" not in body and "waiting for you" not in body
    task = _task(world, "manager")
    page = c.get(f"/r/contract/{world.c_amy_contract['id']}")
    resp = c.post(f"/approvals/tasks/{task}", data={"decision": "send_back",
                                                    "csrf_token": csrf_of(page.text)},
                  follow_redirects=True)
    assert "请填写退回原因（必填）" in resp.get_data(as_text=True)
