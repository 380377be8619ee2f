"""The REST API: token auth, list with filter / sort / fields / keyset pages / count, get,
create, update with If-Match, delete, expand without N+1, problem+json errors, CSRF."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from test_web_support import make_record, make_workspace

pytest_plugins = ["test_web_support"]

PROBLEM = "application/problem+json"


@pytest.fixture
def token(run):
    user = run.accounts.by_email("ada@example.com")
    secret, _info = run.accounts.create_token(user.id, "tests")
    return secret


@pytest.fixture
def api(client, token):
    """The test client with the bearer token on every call."""

    class Api:
        headers = {"Authorization": f"Bearer {token}"}

        def __getattr__(self, method):
            def call(url, **kw):
                headers = {**self.headers, **kw.pop("headers", {})}
                return getattr(client, method)(url, headers=headers, **kw)
            return call

    return Api()


@pytest.fixture
def deals(run):
    a = make_record(run, "client", name="Alpha Co", phone="13800000001", source="walk_in")
    b = make_record(run, "client", name="Beta Ltd", phone="13800000002", source="referral")
    out = []
    for title, client, stage, amount in [("North flat", a, "lead", "500"),
                                         ("South villa", b, "won", "9000"),
                                         ("East shop", a, "lead", "1500"),
                                         ("West loft", b, "lost", "700"),
                                         ("Central unit", a, "won", "3000")]:
        out.append(make_record(run, "deal", title=title, client=client["id"], stage=stage,
                               amount=amount))
    return out


def test_no_token_is_401_problem(client):
    resp = client.get("/api/v1/deal")
    assert resp.status_code == 401
    assert resp.mimetype == PROBLEM
    assert resp.json["status"] == 401 and resp.json["type"].endswith("#problem-unauthorized")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    bad = client.get("/api/v1/deal", headers={"Authorization": "Bearer lr_nope"})
    assert bad.status_code == 401


def test_revoked_token_is_refused(client, run, token):
    user = run.accounts.by_email("ada@example.com")
    assert client.get("/api/v1/deal", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    (info,) = run.accounts.list_tokens(user.id)
    run.accounts.revoke_token(info.id, user_id=user.id)
    assert client.get("/api/v1/deal", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_tokens_are_stored_hashed(run, token):
    t = run.accounts.tokens
    with run.engine.connect() as conn:
        stored = conn.execute(sa.select(t.c.token_hash, t.c.prefix)).one()
    assert token not in stored.token_hash and len(stored.token_hash) == 64
    assert token.startswith(stored.prefix)


def test_list_filter_sort_fields_pages_and_count(api, deals):
    flt = json.dumps({"all": [{"field": "stage", "op": "in", "value": ["lead", "won"]}]})
    resp = api.get("/api/v1/deal", query_string={"filter": flt, "sort": "-amount", "limit": 2,
                                                 "fields": "title,amount"})
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["total"] == 4
    assert [r["title"] for r in body["data"]] == ["South villa", "Central unit"]
    assert set(body["data"][0]) == {"id", "version", "title", "amount"}
    assert body["data"][0]["amount"] == "9000.00"
    seen = [r["title"] for r in body["data"]]
    cursor = body["next"]
    while cursor:
        page = api.get("/api/v1/deal", query_string={"filter": flt, "sort": "-amount",
                                                     "limit": 2, "after": cursor}).json
        seen += [r["title"] for r in page["data"]]
        cursor = page["next"]
    assert seen == ["South villa", "Central unit", "East shop", "North flat"]


@pytest.mark.parametrize("params,needle", [
    ({"filter": "{not json"}, "not valid JSON"),
    ({"filter": json.dumps({"field": "nope", "op": "eq", "value": 1})}, "nope"),
    ({"sort": "nope"}, "nope"),
    ({"fields": "title,nope"}, "nope"),
    ({"limit": "0"}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"after": "garbage"}, "page link"),
    ({"expand": "title"}, "not a link field"),
    ({"filtr": "{}"}, "unknown query parameter 'filtr'"),
    ({"fields": "\r"}, "field names separated by commas"),
    ({"sort": "title,"}, "field names separated by commas"),
])
def test_bad_list_parameters_are_400_problems(api, deals, params, needle):
    resp = api.get("/api/v1/deal", query_string=params)
    assert resp.status_code == 400, resp.text
    assert resp.mimetype == PROBLEM and needle in resp.json["detail"]


def test_unknown_type_and_record_are_404_problems(api, deals):
    assert api.get("/api/v1/nope").status_code == 404
    resp = api.get("/api/v1/deal/999999")
    assert resp.status_code == 404 and resp.mimetype == PROBLEM
    assert api.get("/api/v1/deal/abc").mimetype == PROBLEM


def test_get_has_etag_and_expand_reads_links_in_one_query(api, deals, run):
    resp = api.get(f"/api/v1/deal/{deals[0]['id']}", query_string={"expand": "client,client"})
    assert resp.status_code == 200
    assert resp.headers["ETag"] == '"1"'
    assert resp.json["client"]["name"] == "Alpha Co"

    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(run.engine, "before_cursor_execute", count)
    try:
        page = api.get("/api/v1/deal", query_string={"expand": "client,owner", "count": "false",
                                                     "limit": 100}).json
    finally:
        sa.event.remove(run.engine, "before_cursor_execute", count)
    assert {r["client"]["name"] for r in page["data"]} == {"Alpha Co", "Beta Ltd"}
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # the page, the clients (owners are all empty: no query); token lookups are not per row
    client_reads = [s for s in reads if "FROM client" in s]
    assert len(client_reads) == 1, reads


def test_create_update_with_if_match_and_delete(api, run, deals):
    client_id = deals[0]["client"]
    resp = api.post("/api/v1/deal", json={"title": "New", "client": client_id, "amount": 12.5,
                                          "closes_on": "2026-05-01"})
    assert resp.status_code == 201, resp.json
    rec = resp.json
    assert rec["stage"] == "lead" and rec["amount"] == "12.50" and rec["number"]
    assert resp.headers["Location"].endswith(f"/api/v1/deal/{rec['id']}")
    url = f"/api/v1/deal/{rec['id']}"

    typed = api.post("/api/v1/deal", json={"title": "Typed", "client": client_id,
                                           "amount": "325万"})  # read as a form reads it
    assert typed.status_code == 201 and typed.json["amount"] == "3250000.00"
    ok = api.patch(url, json={"stage": "won"}, headers={"If-Match": '"1"'})
    assert ok.status_code == 200 and ok.json["version"] == 2 and ok.headers["ETag"] == '"2"'
    stale = api.patch(url, json={"stage": "lost"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.mimetype == PROBLEM
    assert stale.json["current_version"] == 2
    assert run.records.get("deal", rec["id"])["stage"] == "won"
    assert api.delete(url, headers={"If-Match": '"1"'}).status_code == 412
    assert api.delete(url, headers={"If-Match": '"2"'}).status_code == 204
    assert api.get(url).status_code == 404


def test_validation_errors_name_each_field(api, deals):
    resp = api.post("/api/v1/deal", json={"title": "", "client": 999999, "stage": "maybe",
                                          "amount": "1.234", "nope": 1})
    assert resp.status_code == 422 and resp.mimetype == PROBLEM
    fields = {e["field"]: e["detail"] for e in resp.json["errors"]}
    assert set(fields) == {"title", "stage", "amount", "nope"}
    assert "not one of the options" in fields["stage"]
    # the body fits the schema; the engine refuses what only the database knows
    resp = api.post("/api/v1/deal", json={"title": "X", "client": 999999})
    assert resp.status_code == 422
    assert resp.json["errors"] == [{"field": "client", "pointer": "/client",
                                    "detail": "there is no Client #999999"}]


def test_duration_is_whole_seconds_both_ways(api):
    resp = api.post("/api/v1/client", json={"name": "Dur", "call_length": 5400})
    assert resp.status_code == 201, resp.json
    assert resp.json["call_length"] == 5400
    resp = api.post("/api/v1/client", json={"name": "Dur2", "call_length": "1h30m"})
    assert resp.json["call_length"] == 5400


def test_not_json_is_a_problem(api):
    resp = api.post("/api/v1/client", data="name=x",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 415 and resp.mimetype == PROBLEM
    resp = api.post("/api/v1/client", data="{bad", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.mimetype == PROBLEM


@pytest.mark.parametrize("body, needle", [
    ('{"name": "a", "budget": NaN}', "NaN is not a JSON number"),
    ('{"name": "a", "area": -Infinity}', "-Infinity is not a JSON number"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    (b'{"name": "\xff"}', "not valid JSON"),
])
def test_json_beyond_the_standard_is_a_400_problem_never_a_crash(api, body, needle):
    resp = api.post("/api/v1/client", data=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.mimetype == PROBLEM
    assert needle in resp.json["detail"]


def test_session_calls_need_csrf_token_calls_do_not(client, signed_in, api):
    assert client.get("/api/v1/client").status_code == 200
    no_csrf = client.post("/api/v1/client", json={"name": "Via session"})
    assert no_csrf.status_code == 400 and no_csrf.mimetype == PROBLEM
    with_csrf = client.post("/api/v1/client", json={"name": "Via session"},
                            headers={"X-CSRFToken": signed_in.token})
    assert with_csrf.status_code == 201
    # a token call carries no CSRF token (the session cookie of the same client is ignored)
    assert api.post("/api/v1/client", json={"name": "Via token"}).status_code == 201


def test_openapi_document_and_docs_page(client, signed_in, api):
    doc = api.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    deal = doc["components"]["schemas"]["Deal"]
    assert deal["properties"]["stage"]["anyOf"] == [
        {"$ref": "#/components/schemas/DealStage"}, {"type": "null"}]
    assert doc["components"]["schemas"]["DealStage"]["enum"] == ["lead", "won", "lost"]
    assert doc["components"]["schemas"]["DealInput"]["required"] == ["title", "client"]
    assert "/api/v1/deal/{id}" in doc["paths"]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and "/api/v1/deal" in page.text and "problem-conflict" in page.text


def test_docs_and_tokens_pages_need_sign_in(client):
    assert client.get("/api/v1/docs").status_code == 302
    assert client.get("/account/tokens").status_code == 302


def test_tokens_page_shows_a_new_token_once_and_revokes(client, signed_in, run):
    page = signed_in.post("/account/tokens", data={"name": "CRM sync"})
    assert page.status_code == 200
    import re

    token = re.search(r'id="new-token">(lr_[^<]+)<', page.text).group(1)
    assert client.get("/api/v1/client", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    again = client.get("/account/tokens")
    assert token not in again.text and "CRM sync" in again.text
    (info,) = run.accounts.list_tokens(run.accounts.by_email("ada@example.com").id)
    signed_in.post(f"/account/tokens/{info.id}/revoke")
    assert client.get("/api/v1/client", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_formula_too_large_for_its_column_is_empty_not_a_crash(api, deals):
    """Found by Schemathesis on PostgreSQL: amount * 2 overflowed NUMERIC(18, 2)."""
    resp = api.patch(f"/api/v1/deal/{deals[0]['id']}", json={"amount": 9999999999999998})
    assert resp.status_code == 200, resp.json
    assert resp.json["amount"] == "9999999999999998.00" and resp.json["double"] is None


FORMULAS = """
  ratio: {type: formula, expression: "amount / (amount - amount)", result: decimal}
  huge: {type: formula, expression: "amount * 1e300 * 1e300 * 1e300", result: decimal}
  huge_int: {type: formula, expression: "amount * 1e300 * 1e300", result: integer}
  not_a_date: {type: formula, expression: "amount * 2", result: date}
  not_a_time: {type: formula, expression: "today()", result: datetime}
"""


def test_formulas_without_a_finite_result_are_empty_never_a_crash(tmp_path, db_url):
    """Division by zero, results beyond any column, and results of the wrong kind are
    stored empty (NULL), through Records and through the API, on both databases."""
    from test_web_support import SMALL, build_app

    files = {**SMALL, "schemas/deal.yaml": SMALL["schemas/deal.yaml"] + FORMULAS}
    app = build_app(tmp_path, db_url, make_workspace(files))
    try:
        run = app.extensions["lowrise"]
        c = make_record(run, "client", name="Alpha Co")
        made = make_record(run, "deal", title="North flat", client=c["id"], amount="500")
        names = ("ratio", "huge", "huge_int", "not_a_date", "not_a_time")
        assert {n: made[n] for n in names} == dict.fromkeys(names)
        secret, _info = run.accounts.create_token(run.accounts.by_email("ada@example.com").id)
        api = app.test_client()
        auth = {"Authorization": f"Bearer {secret}"}
        resp = api.post("/api/v1/deal", headers=auth,
                        json={"title": "South villa", "client": c["id"], "amount": 7})
        assert resp.status_code == 201, resp.json
        assert {n: resp.json[n] for n in names} == dict.fromkeys(names)
        assert resp.json["double"] == "14.00"
        again = api.patch(f"/api/v1/deal/{made['id']}", headers=auth, json={"amount": 0})
        assert again.status_code == 200 and again.json["ratio"] is None
        assert again.json["huge"] == "0.00"  # 0 times a huge number is a number
        t = run.schema.table("deal")
        with run.engine.connect() as conn:
            stored = conn.execute(sa.select(*(t.c[n] for n in names)).where(
                t.c.id == resp.json["id"])).one()
            ratio = conn.execute(sa.select(t.c.ratio).where(t.c.id == made["id"])).scalar()
        assert tuple(stored) == (None,) * len(names) and ratio is None
    finally:
        app.extensions["lowrise"].engine.dispose()


def test_an_infinite_number_in_a_formula_is_refused_where_it_is_written():
    from lowrise.workspace import WorkspaceError
    from test_web_support import SMALL

    files = {**SMALL, "schemas/deal.yaml": SMALL["schemas/deal.yaml"]
             + '  inf: {type: formula, expression: "amount * -1e400"}\n'}
    with pytest.raises(WorkspaceError) as err:
        make_workspace(files)
    assert "fields.inf.expression: 1e400 is too large a number" in str(err.value)


@pytest.mark.parametrize("result", ["decimal", "integer", "text", "boolean"])
def test_a_formula_never_takes_infinity_or_nan(result):
    from dataclasses import replace
    from decimal import Decimal

    from lowrise.storage.values import compute_formulas

    ws = make_workspace()
    f = ws.type("deal").fields["double"]
    f = replace(f, config={**f.config, "result": result})
    for value in (Decimal("Infinity"), Decimal("-Infinity"), Decimal("NaN"), float("inf")):
        with pytest.raises(ArithmeticError):
            f.kind.coerce(f, value)
    assert compute_formulas(ws.type("deal"), {"amount": Decimal("2")}, None) == \
        {"double": Decimal("4.00")}


# -- files of attachment fields --------------------------------------------------------------

def _upload(name, data, ctype="text/plain"):
    import io

    return {"data": {"file": (io.BytesIO(data), name, ctype)},
            "content_type": "multipart/form-data"}


def test_attachment_upload_download_replace_remove(api, run, deals):
    cid = deals[0]["client"]
    url = f"/api/v1/client/{cid}/files/photo"
    up = api.post(url, **_upload("note.txt", b"hello"))
    assert up.status_code == 200, up.json
    (item,) = up.json["photo"]
    assert item["name"] == "note.txt" and item["size"] == 5 and item["type"] == "text/plain"
    assert up.headers["ETag"] == f'"{up.json["version"]}"'
    got = api.get(f"{url}/{item['key']}")
    assert got.status_code == 200 and got.data == b"hello"
    assert got.mimetype == "application/octet-stream"
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert "note.txt" in got.headers["Content-Disposition"]
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in got.headers["Content-Security-Policy"]
    # the field takes one file: a new upload takes the old one's place
    again = api.post(url, **_upload("other.txt", b"second file"),
                     headers={"If-Match": up.headers["ETag"]})
    assert again.status_code == 200 and [f["name"] for f in again.json["photo"]] == ["other.txt"]
    stale = api.post(url, **_upload("third.txt", b"x"), headers={"If-Match": up.headers["ETag"]})
    assert stale.status_code == 412 and stale.mimetype == PROBLEM
    assert api.get(f"{url}/{item['key']}").status_code == 404  # no longer on the record
    # the field's limits, as on the form
    big = api.post(url, **_upload("big.txt", b"x" * 3000))
    assert big.status_code == 422 and big.json["errors"][0]["field"] == "photo"
    assert "limit" in big.json["errors"][0]["detail"]
    html = api.post(url, **_upload("page.html", b"<script>", "text/html"))
    assert html.status_code == 422 and "not an allowed file type" in html.json["errors"][0]["detail"]
    assert api.post(url, json={"file": "x"}).status_code == 415
    nofile = api.post(url, data={"upload": "x"}, content_type="multipart/form-data")
    assert nofile.status_code == 400 and "'file'" in nofile.json["detail"]
    # not an attachment field, or no such record: 404 problems
    assert api.post(f"/api/v1/client/{cid}/files/name", **_upload("a.txt", b"a")).status_code == 404
    assert api.post("/api/v1/client/999999/files/photo", **_upload("a.txt", b"a")).status_code == 404
    # files are not JSON values: the error says where they go
    patch = api.patch(f"/api/v1/client/{cid}", json={"photo": []})
    assert patch.status_code == 422 and "/files/photo" in patch.json["errors"][0]["detail"]
    key = again.json["photo"][0]["key"]
    gone = api.delete(f"{url}/{key}")
    assert gone.status_code == 200 and gone.json["photo"] is None
    assert api.delete(f"{url}/{key}").status_code == 404
    assert run.records.get("client", cid)["photo"] is None


FILE_ROLES = """
label: Small shop
default_locale: en
locales: [en, zh]
users: staff
roles:
  admin: {admin: true}
  viewer:
    permissions:
      client: {can: [read], fields: {papers: hidden}}
  clerk:
    permissions:
      client: {can: [read, update], fields: {photo: read_only}}
"""


def test_attachment_files_follow_permissions(tmp_path, db_url):
    from test_web_support import SMALL, build_app

    client_yaml = SMALL["schemas/client.yaml"] + (
        "  papers: {type: attachment, multiple: true, accept: [.txt, .pdf]}\n")
    app = build_app(tmp_path, db_url, make_workspace(
        {**SMALL, "workspace.yaml": FILE_ROLES, "schemas/client.yaml": client_yaml}))
    try:
        run = app.extensions["lowrise"]
        web = app.test_client()

        def bearer(email, roles):
            user = run.accounts.add(email, "long enough password", roles=roles)
            secret, _info = run.accounts.create_token(user.id)
            return {"Authorization": f"Bearer {secret}"}

        admin = bearer("root@example.com", ["admin"])
        viewer, clerk = bearer("vi@example.com", ["viewer"]), bearer("cl@example.com", ["clerk"])
        cid = make_record(run, "client", name="Alpha Co")["id"]
        base = f"/api/v1/client/{cid}/files"
        one = web.post(f"{base}/papers", headers=admin, **_upload("a.txt", b"first"))
        two = web.post(f"{base}/papers", headers=admin, **_upload("b.pdf", b"second", "application/pdf"))
        assert two.status_code == 200 and [f["name"] for f in two.json["papers"]] == ["a.txt", "b.pdf"]
        photo = web.post(f"{base}/photo", headers=admin, **_upload("p.png", b"png", "image/png"))
        pkey, akey = photo.json["photo"][0]["key"], one.json["papers"][0]["key"]
        # PUT replaces every file of the field
        put = web.put(f"{base}/papers", headers=admin, **_upload("c.txt", b"third"))
        assert [f["name"] for f in put.json["papers"]] == ["c.txt"]
        ckey = put.json["papers"][0]["key"]
        # a reader downloads what they see; a hidden field's files are as if not there
        assert web.get(f"{base}/photo/{pkey}", headers=viewer).data == b"png"
        assert web.get(f"{base}/papers/{ckey}", headers=viewer).status_code == 404
        assert "papers" not in web.get(f"/api/v1/client/{cid}", headers=viewer).json
        # without update permission, and on a read-only field, nothing changes
        assert web.post(f"{base}/photo", headers=viewer,
                        **_upload("x.txt", b"x")).status_code == 403
        assert web.delete(f"{base}/photo/{pkey}", headers=viewer).status_code == 403
        ro = web.post(f"{base}/photo", headers=clerk, **_upload("x.txt", b"x"))
        assert ro.status_code == 422 and ro.json["errors"][0]["field"] == "photo"
        assert web.delete(f"{base}/photo/{pkey}", headers=clerk).status_code == 422
        ok = web.post(f"{base}/papers", headers=clerk, **_upload("d.txt", b"fourth"))
        assert [f["name"] for f in ok.json["papers"]] == ["c.txt", "d.txt"]
        stored = run.records.get("client", cid)
        assert stored["photo"][0]["key"] == pkey and len(stored["papers"]) == 2
        assert akey not in {f["key"] for f in stored["papers"]}
    finally:
        app.extensions["lowrise"].engine.dispose()
