"""`today` and `now` as values (defaults, API input, import, rules) are the workspace's calendar
day, not UTC's: at 04:30 in Beijing it is already tomorrow in UTC terms, and the record made
then carries Beijing's date, the one the filter language's `today` means. SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from lowrise import importer
from lowrise.actor import Actor
from lowrise.rules.engine import install
from lowrise.storage import migrate
from lowrise.storage import query as Q
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts

# 20:30 UTC on 1 March is 04:30 on 2 March in Beijing
AT = datetime(2026, 3, 1, 20, 30, tzinfo=UTC)
BEIJING_TODAY = date(2026, 3, 2)

FILES = {
    "workspace.yaml": "label: Office\ndefault_locale: zh\nlocales: [zh, en]\n"
                      "timezone: Asia/Shanghai\nusers: staff\n",
    "schemas/staff.yaml": "fields:\n  name: {type: text, required: true}\n",
    "schemas/log.yaml": """
title: text
fields:
  text: {type: text}
  worked_on: {type: date, default: today}
  day_of_now: {type: date, default: now}
  since: {type: datetime, default: today}
  at: {type: datetime, default: now}
  reviewed_on: {type: date}
""",
    "automations/review.yaml": """
record_type: log
trigger: {kind: field_changed, field: text, to: reviewed}
actions:
  - create_record: {type: log, values: {text: follow-up}}
""",
}


@pytest.fixture
def records(engine):
    schema = build_schema(load_workspace_from_texts(FILES))
    with engine.connect() as conn:
        migrate.apply(engine, migrate.plan(conn, schema))
    recs = Records(engine, schema)
    install(recs)
    return recs


ACTOR = Actor(name="clerk", system=True, clock=lambda: AT)


def test_defaults_are_the_day_in_the_workspace_time_zone(records):
    made = records.create("log", {"text": "early"}, ACTOR)
    assert made["worked_on"] == BEIJING_TODAY
    assert made["day_of_now"] == BEIJING_TODAY
    assert made["since"] == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # 00:00 in Beijing
    assert made["at"] == AT
    # many at once (the API's bulk call, an import) as one
    many = records.bulk_create("log", [{"text": "a"}, {"text": "b"}], ACTOR)
    assert {r["worked_on"] for r in many} == {BEIJING_TODAY}


def test_today_given_as_a_value_through_the_api_path(records):
    made = records.create("log", {"text": "x", "reviewed_on": "today", "at": "today"}, ACTOR)
    assert made["reviewed_on"] == BEIJING_TODAY
    assert made["at"] == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)


def test_the_filter_languages_today_finds_what_was_made_today(records):
    records.create("log", {"text": "x"}, ACTOR)
    with records.engine.connect() as conn:
        flt = {"field": "worked_on", "op": "eq", "value": "today"}
        assert Q.count(conn, records.schema, "log", flt, ACTOR) == 1
        flt = {"field": "worked_on", "op": "within", "value": "today"}
        assert Q.count(conn, records.schema, "log", flt, ACTOR) == 1


def test_an_import_without_the_column_gets_the_days_date(records):
    buf = io.StringIO()
    csv.writer(buf).writerows([["text"], ["imported"]])
    sheet = importer.read_csv(buf.getvalue().encode())
    rt = records.schema.workspace.type("log")
    mapping = importer.check_mapping(rt, importer.guess_mapping(rt, sheet.headers))
    prepared = importer.prepare(records, "log", sheet, mapping, ACTOR)
    importer.run(records, "log", prepared, ACTOR)
    with records.engine.connect() as conn:
        (row,) = Q.list_records(conn, records.schema, "log", sort=["id"]).rows
    assert row["worked_on"] == BEIJING_TODAY


def test_a_record_a_rule_creates_gets_the_workspaces_day(records):
    made = records.create("log", {"text": "draft"}, ACTOR)
    records.update("log", made["id"], {"text": "reviewed"}, ACTOR)
    with records.engine.connect() as conn:
        flt = {"field": "text", "op": "eq", "value": "follow-up"}
        (row,) = Q.list_records(conn, records.schema, "log", filter=flt, sort=["id"]).rows
    assert row["worked_on"] == BEIJING_TODAY
