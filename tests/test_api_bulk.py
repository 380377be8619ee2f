"""The API's bulk call: create, update and upsert by a key field, up to 1,000 records, all
or nothing, with every refused record named by index and field."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import test_api
from test_web_support import make_record

pytest_plugins = ["test_web_support"]
PROBLEM = test_api.PROBLEM
api, token = test_api.api, test_api.token  # the bearer-token client of test_api


def clients(run):
    t = run.schema.table("client")
    with run.engine.connect() as conn:
        return {r["phone"]: dict(r) for r in conn.execute(sa.select(t)).mappings()}


def test_bulk_create_all_or_nothing(api, run):
    ok = api.post("/api/v1/client/bulk", json={"records": [
        {"name": "A", "phone": "13800000001"}, {"name": "B", "phone": "13800000002"}]})
    assert ok.status_code == 200, ok.json
    assert ok.json["created"] == 2 and [r["name"] for r in ok.json["data"]] == ["A", "B"]
    # values that do not fit the document are refused first, each named...
    bad = api.post("/api/v1/client/bulk", json={"records": [
        {"name": "C", "phone": "13800000003"}, {"name": "", "phone": "13800000004"},
        {"name": "E", "stars": 9}]})
    assert bad.status_code == 422 and bad.mimetype == PROBLEM
    assert {(e["index"], e["field"]) for e in bad.json["errors"]} == {(1, "name"), (2, "stars")}
    # ...then what only the database knows: a phone already taken, twice the same phone
    bad = api.post("/api/v1/client/bulk", json={"records": [
        {"name": "C", "phone": "13800000003"}, {"name": "D", "phone": "13800000001"},
        {"name": "E", "phone": "13800000005"}, {"name": "F", "phone": "13800000005"}]})
    assert bad.status_code == 422 and bad.json["type"].endswith("bulk-validation")
    assert {(e["index"], e["field"]) for e in bad.json["errors"]} == {(1, "phone"), (3, "phone")}
    assert sorted(clients(run)) == ["13800000001", "13800000002"]


def test_bulk_update_by_id_with_versions(api, run):
    a = make_record(run, "client", name="A", phone="13800000001")
    b = make_record(run, "client", name="B", phone="13800000002")
    resp = api.post("/api/v1/client/bulk", json={"op": "update", "records": [
        {"id": a["id"], "version": 1, "stars": 3}, {"id": b["id"], "vip": True}]})
    assert resp.status_code == 200 and resp.json["updated"] == 2
    stale = api.post("/api/v1/client/bulk", json={"op": "update", "records": [
        {"id": b["id"], "stars": 1}, {"id": a["id"], "version": 1, "stars": 5},
        {"id": 999999, "stars": 1}, {"stars": 2}]})
    assert stale.status_code == 422
    errors = {(e["index"], e["field"]) for e in stale.json["errors"]}
    assert errors == {(1, "version"), (2, "id"), (3, "id")}
    now = clients(run)
    assert now["13800000001"]["stars"] == 3 and now["13800000002"]["stars"] is None


def test_bulk_upsert_by_a_unique_field(api, run):
    make_record(run, "client", name="Old name", phone="13800000001")
    resp = api.post("/api/v1/client/bulk", json={"op": "upsert", "key": "phone", "records": [
        {"name": "New name", "phone": "138 0000 0001"}, {"name": "Fresh", "phone": "13900000000"}]})
    assert resp.status_code == 200, resp.json
    assert (resp.json["created"], resp.json["updated"]) == (1, 1)
    now = clients(run)
    assert now["13800000001"]["name"] == "New name" and now["13800000001"]["version"] == 2
    assert now["13900000000"]["name"] == "Fresh"
    wrong_key = api.post("/api/v1/client/bulk", json={"op": "upsert", "key": "name",
                                                      "records": []})
    assert wrong_key.status_code == 422


def test_bulk_takes_at_most_1000_records(api, run):
    resp = api.post("/api/v1/staff/bulk", json={"records": [{"name": f"P{i}"}
                                                            for i in range(1001)]})
    assert resp.status_code == 422 and "at most 1000" in resp.text
    ok = api.post("/api/v1/staff/bulk", json={"records": [{"name": f"P{i}"}
                                                          for i in range(1000)]})
    assert ok.status_code == 200 and ok.json["created"] == 1000


@pytest.mark.parametrize("run_automations,expected", [(True, 1), (False, 0)])
def test_bulk_runs_or_skips_automations(api, run, run_automations, expected):
    seen = []
    run.records.hooks.append(lambda conn, change, actor, recs: seen.append(change.action))
    api.post("/api/v1/client/bulk", json={"run_automations": run_automations,
                                           "records": [{"name": "A"}]})
    assert seen.count("create") == expected
