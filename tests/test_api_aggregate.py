"""GET /api/v1/<type>/aggregate: groups by fields, date buckets and a linked record's field;
count, sum, avg, min, max; the list's filter and quick search; the caller's rows only, and
no grouping or measuring of what the caller sees masked. And `fields=` on one record."""

from __future__ import annotations

import json

import pytest

from lowrise.actor import SYSTEM
from test_access import FILES as DESK
from test_api import api, deals, token  # noqa: F401 - fixtures
from test_web_support import PASSWORD, build_app

pytest_plugins = ["test_web_support"]


def _agg(api, type_name="deal", **params):  # noqa: F811
    return api.get(f"/api/v1/{type_name}/aggregate", query_string=params)


def test_count_and_sums_per_stage(api, deals):  # noqa: F811
    resp = _agg(api, group_by="stage", measures="count,sum:amount,avg:amount,min:amount,"
                                                  "max:amount")
    assert resp.status_code == 200, resp.text
    body = resp.get_json()
    assert body["group_by"] == ["stage"]
    rows = {r["stage"]: r for r in body["data"]}
    assert rows["lead"]["count"] == 2 and rows["won"]["count"] == 2
    assert rows["lead"]["sum:amount"] == "2000.00" and rows["won"]["max:amount"] == "9000.00"
    assert rows["lost"]["min:amount"] == "700.00"
    assert rows["lead"]["avg:amount"].startswith("1000")


def test_count_of_all_and_with_the_lists_filter(api, deals):  # noqa: F811
    assert _agg(api).get_json()["data"] == [{"count": 5}]
    flt = json.dumps({"field": "amount", "op": "gte", "value": "1000"})
    rows = _agg(api, group_by="stage", filter=flt).get_json()["data"]
    assert {r["stage"]: r["count"] for r in rows} == {"lead": 1, "won": 2}
    assert _agg(api, q="villa").get_json()["data"] == [{"count": 1}]


def test_group_by_a_linked_records_field(api, deals):  # noqa: F811
    rows = _agg(api, group_by="client.source", measures="count,sum:amount").get_json()["data"]
    got = {r["client.source"]: (r["count"], r["sum:amount"]) for r in rows}
    assert got == {"walk_in": (3, "5000.00"), "referral": (2, "9700.00")}


@pytest.mark.parametrize(("params", "needle"), [
    ({"group_by": "nope"}, "no field"),
    ({"measures": "sum:title"}, "not a number"),
    ({"measures": "median:amount"}, "unknown measure"),
    ({"group_by": "client.nope"}, "one link deep"),
    ({"limit": "5"}, "unknown query parameter"),
    ({"group_by": "a,b,c,d"}, "at most 3"),
])
def test_bad_aggregates_are_400_problems(api, deals, params, needle):  # noqa: F811
    resp = _agg(api, **params)
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
    assert needle in resp.get_json()["detail"]


def test_one_record_with_fields(api, deals):  # noqa: F811
    rid = deals[0]["id"]
    body = api.get(f"/api/v1/deal/{rid}", query_string={"fields": "title"}).get_json()
    assert set(body) == {"id", "version", "title"} and body["title"] == "North flat"
    bad = api.get(f"/api/v1/deal/{rid}", query_string={"fields": "nope"})
    assert bad.status_code == 400


@pytest.fixture
def desk(tmp_path, db_url):
    """The service desk: Amy (agent) sees her own tickets, phone masked unless her own; the
    support role reads every ticket with the phone masked."""
    root = tmp_path / "desk"
    for name, text in DESK.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    from lowrise.workspace import load_workspace

    app = build_app(tmp_path, db_url, load_workspace(root))
    run = app.extensions["lowrise"]
    mk = lambda t, **v: run.records.create(t, v, SYSTEM)  # noqa: E731
    amy = mk("person", name="Amy", squad="red")
    bob = mk("person", name="Bob", squad="blue")
    p1 = mk("project", name="Alpha", budget="100")
    for who, prio in ((amy, "low"), (bob, "high"), (bob, "high")):
        mk("ticket", subject="x", phone="13812345678", cost="9.50", priority=prio,
           assignee=who["id"], project=p1["id"])
    tokens = {}
    for email, role, staff in (("amy@example.com", "agent", amy),
                               ("sue@example.com", "support", bob)):
        user = run.accounts.add(email, PASSWORD, name=email, roles=[role],
                                staff_id=staff["id"])
        tokens[role] = run.accounts.create_token(user.id, "t")[0]
    yield app, tokens
    run.engine.dispose()


def test_aggregates_count_only_the_callers_rows_and_refuse_masked_fields(desk):
    app, tokens = desk
    client = app.test_client()

    def agg(role, **params):
        return client.get("/api/v1/ticket/aggregate", query_string=params,
                          headers={"Authorization": f"Bearer {tokens[role]}"})

    assert agg("agent").get_json()["data"] == [{"count": 1}]  # her own ticket only
    assert agg("support").get_json()["data"] == [{"count": 3}]
    rows = agg("agent", group_by="priority").get_json()["data"]
    assert rows == [{"priority": "low", "count": 1}]
    for role in ("agent", "support"):
        grouped = agg(role, group_by="phone")
        assert grouped.status_code == 400 and "masked" in grouped.get_json()["detail"]
        measured = agg(role, measures="max:phone")
        assert measured.status_code == 400, measured.text
        assert "13812345678" not in grouped.text + measured.text
    hidden = agg("agent", measures="sum:cost")
    assert hidden.status_code == 400 and "9.50" not in hidden.text


def test_offset_jumps_a_bounded_number_of_records(api, deals):  # noqa: F811
    def titles(**params):
        resp = api.get("/api/v1/deal", query_string={"sort": "id", "limit": 2, **params})
        assert resp.status_code == 200, resp.text
        return [r["title"] for r in resp.get_json()["data"]], resp.get_json()

    everything = [d["title"] for d in deals]
    assert titles(offset=0)[0] == everything[:2]
    got, body = titles(offset=3)
    assert got == everything[3:5] and body["total"] == 5 and body["next"] is None
    got, body = titles(offset=1)
    assert got == everything[1:3] and body["next"]
    after = api.get("/api/v1/deal", query_string={"sort": "id", "limit": 2,
                                                  "after": body["next"]}).get_json()
    assert [r["title"] for r in after["data"]] == everything[3:5]
    assert titles(offset=5)[0] == [] and titles(offset=9)[0] == []
    flt = json.dumps({"field": "stage", "op": "eq", "value": "lead"})
    assert titles(offset=1, filter=flt)[0] == [everything[2]]
    for bad in ({"offset": "10001"}, {"offset": "-1"}, {"offset": "1", "after": "x"}):
        resp = api.get("/api/v1/deal", query_string=bad)
        assert resp.status_code == 400 and "offset" in resp.get_json()["detail"]
