"""Values at the edges are refused in words, never a 500 nor stored as something else: dates
and times outside what can be stored, text over its type's default size, numbers too small or
too large for a float, durations and ids too large for their columns. Through the API (and the
engine), on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from lowrise.errors import ValidationError
from lowrise.fields import registry
from test_web_support import SYSTEM_ACTOR

pytest_plugins = ["test_web_support"]


@pytest.fixture
def api(client, run):
    user = run.accounts.by_email("ada@example.com")
    secret, _info = run.accounts.create_token(user.id, "tests")

    def post(body: dict, raw: str | None = None):
        data = raw if raw is not None else json.dumps(body)
        return client.post("/api/v1/client", data=data, content_type="application/json",
                           headers={"Authorization": f"Bearer {secret}"})
    return post


def _problem(resp, field: str) -> str:
    assert resp.status_code == 422, (resp.status_code, resp.text)
    (detail,) = [e["detail"] for e in resp.json["errors"] if e["field"] == field]
    return detail


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
                                   "0001-01-01 00:00"])  # the last: in Shanghai, before year 1
def test_a_datetime_out_of_range_is_refused_in_words(api, value):
    assert _problem(api({"name": "A", "next_call": value}), "next_call") == (
        f"'{value}' is outside the dates that can be stored (years 1 to 9999, in UTC)")


def test_the_edges_that_fit_are_taken(api):
    resp = api({"name": "A", "next_call": "9999-12-31T23:59:59+00:00",
                "born_on": "0001-01-01"})
    assert resp.status_code == 201, resp.text
    assert resp.json["next_call"].startswith("9999-12-31T23:59:59")


def test_long_text_has_a_default_size_that_max_length_changes(api):
    assert registry.get("long_text").default_max_length == 100_000
    assert registry.get("text").default_max_length == 255
    assert api({"name": "A", "notes": "字" * 100_000}).status_code == 201
    assert _problem(api({"name": "B", "notes": "x" * 100_001}), "notes") == (
        "must be at most 100000 characters (is 100001)")
    assert _problem(api({"name": "x" * 41}), "name") == (
        "must be at most 40 characters (is 41)")  # the field's own max_length


def test_a_larger_max_length_lets_long_text_grow(engine):
    from lowrise.storage import migrate
    from lowrise.storage.records import Records
    from lowrise.storage.tables import build_schema
    from lowrise.workspace import load_workspace_from_texts

    ws = load_workspace_from_texts({
        "workspace.yaml": "label: T\n",
        "schemas/doc.yaml": "fields:\n  body: {type: long_text, max_length: 300000}\n"
                            "  short: {type: long_text}\n"})
    schema = build_schema(ws)
    with engine.connect() as conn:
        migrate.apply(engine, migrate.plan(conn, schema))
    records = Records(engine, schema)
    made = records.create("doc", {"body": "x" * 250_000}, SYSTEM_ACTOR)
    assert len(made["body"]) == 250_000
    with pytest.raises(ValidationError) as err:
        records.create("doc", {"short": "x" * 100_001}, SYSTEM_ACTOR)
    assert err.value.errors["short"] == "must be at most 100000 characters (is 100001)"


@pytest.mark.parametrize("raw, field, words", [
    ('{"name": "A", "budget": 1e-400}', "budget", "'1E-400' has more than 2 decimal places"),
    ('{"name": "A", "budget": 1e400}', "budget", "'1E+400' has more than 18 digits"),
    ('{"name": "A", "budget": "1e-400"}', "budget", "'1e-400' has more than 2 decimal places"),
    ('{"name": "A", "visits": 1e-400}', "visits", "'1E-400' is not a whole number"),
    ('{"name": "A", "area": 1e-400}', "area", "'1E-400' has more than 1 decimal places"),
])
def test_numbers_a_float_cannot_hold_are_refused_not_rounded(api, raw, field, words):
    assert _problem(api({}, raw), field) == words


def test_ordinary_rounding_rules_stay(api):
    assert api({"name": "A", "budget": 0.5}).json["budget"] == "0.50"
    assert _problem(api({"name": "A", "budget": 0.001}), "budget") == (
        "'0.001' has more than 2 decimal places")


@pytest.mark.parametrize("body, field", [
    ({"call_length": "9" * 30}, "call_length"), ({"call_length": 1e300}, "call_length"),
    ({"call_length": -5}, "call_length"), ({"consultant": "9" * 30}, "consultant"),
    ({"consultant": 2**63}, "consultant")])
def test_values_too_large_for_their_column_are_refused(api, body, field):
    assert _problem(api({"name": "A", **body}), field)


def test_duration_numbers_in_the_api_are_seconds(api):
    assert api({"name": "A", "call_length": 90}).json["call_length"] == 90
    assert api({"name": "B", "call_length": 90.5}).json["call_length"] == 90
