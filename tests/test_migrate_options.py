"""A select's options against the values records hold, on SQLite and PostgreSQL: a text field
turned into a select, an option removed or renamed while records hold it. The migration plan
says how many records, refuses what would leave values that are no options (as a lossy type
change is refused), and rewrites the values an option's `renamed_from` maps; a reload and
the settings page report it the same way. Filters and the form still reach values records
hold from before."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lowrise import filters
from lowrise.actor import SYSTEM
from lowrise.errors import FilterError
from lowrise.i18n import tr
from lowrise.storage import migrate
from lowrise.storage import query as Q
from lowrise.storage.migrate import MigrationRefused
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts
from lowrise.workspace.watch import NotAdopted, migrate_for
from test_web_support import PASSWORD, build_app, csrf_of

pytest_plugins = ["test_web_support"]

BASE = "label: Office\ndefault_locale: en\nlocales: [en, zh]\nusers: staff\n"


def files(occupation: str, source: str, tags: str = "[vip, cash]") -> dict[str, str]:
    return {
        "workspace.yaml": BASE,
        "schemas/staff.yaml": "fields:\n  name: {type: text}\n",
        "schemas/client.yaml": f"""
label: {{en: Client, zh: 客户}}
title: name
fields:
  name: {{type: text}}
  occupation: {occupation}
  source: {source}
  tags: {{type: multi_select, options: {tags}}}
""",
    }


TEXT = "{type: text}"
SOURCE = "{type: select, options: [walk_in, referral, other]}"


def migrated(engine, texts) -> Records:
    schema = build_schema(load_workspace_from_texts(texts))
    with engine.connect() as conn:
        migrate.apply(engine, migrate.plan(conn, schema))
    return Records(engine, schema)


def plan_for(engine, texts):
    schema = build_schema(load_workspace_from_texts(texts))
    with engine.connect() as conn:
        return schema, migrate.plan(conn, schema)


def column(engine, name: str) -> list:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(f"SELECT {name} FROM client ORDER BY id")).scalars())


@pytest.fixture
def office(engine):
    r = migrated(engine, files(TEXT, SOURCE))
    for i, (job, source) in enumerate([("teacher", "walk_in"), ("Doctor", "other"),
                                       ("teacher", "other"), (None, "referral")]):
        r.create("client", {"name": f"c{i}", "occupation": job, "source": source,
                            "tags": ["vip", "cash"] if i == 0 else ["cash"]}, SYSTEM)
    return r


def test_text_to_select_with_values_that_are_no_options_is_refused(engine, office):
    select = "{type: select, options: [teacher, engineer]}"
    _schema, plan = plan_for(engine, files(select, SOURCE))
    (refusal,) = plan.refusals
    assert refusal.describe() == (
        "cannot change client.occupation from text to select: 1 record holds a value that "
        "is not an option (Doctor ×1); give the option that should take it renamed_from: "
        "<that value>, or change the record first\n"
        "  row 2: 'Doctor': 'Doctor' is not one of the options (teacher, engineer)")
    assert tr(refusal.describe(), "zh").startswith(
        "无法将 client.occupation 从 text 改为 select：有 1 条记录的值已不是可选项（Doctor ×1）")
    with pytest.raises(MigrationRefused):
        migrate.apply(engine, plan)
    assert column(engine, "occupation") == ["teacher", "Doctor", "teacher", None]


def test_text_to_select_maps_labels_and_renamed_values_to_options(engine, office):
    select = ("{type: select, options: [{value: teacher, label: {en: Teacher, zh: 教师}}, "
              "{value: doctor, label: Doctor}]}")
    _schema, plan = plan_for(engine, files(select, SOURCE))
    assert plan.describe_lines()[0] == \
        "map the values of client.occupation to options: Doctor → doctor (1 record)"
    assert plan.describe_lines()[1] == "rebuild quick search on client (name)"  # no text now
    migrate.apply(engine, plan)
    assert column(engine, "occupation") == ["teacher", "doctor", "teacher", None]
    assert plan_for(engine, files(select, SOURCE))[1].is_empty


def test_removing_an_option_records_hold_is_refused_with_the_count(engine, office):
    _schema, plan = plan_for(engine, files(TEXT, "{type: select, options: [walk_in, referral]}"))
    assert plan.text().startswith(
        "cannot keep the values of client.source: 2 records hold values that are not options "
        "(other ×2); give the options that should take them renamed_from: <those values>, "
        "or change the records first\n  row 2: 'other': 'other' is not one of the options")
    with pytest.raises(MigrationRefused):
        migrate.apply(engine, plan)
    assert column(engine, "source") == ["walk_in", "other", "other", "referral"]


def test_renamed_from_on_an_option_moves_the_records(engine, office):
    source = "{type: select, options: [walk_in, {value: referral, renamed_from: [other]}]}"
    tags = "[vip, {value: cash_buyer, renamed_from: cash}]"
    _schema, plan = plan_for(engine, files(TEXT, source, tags))
    assert plan.describe_lines() == [
        "map the values of client.source to options: other → referral (2 records)",
        "map the values of client.tags to options: vip, cash → vip, cash_buyer; "
        "cash → cash_buyer (4 records)"]
    migrate.apply(engine, plan)
    assert column(engine, "source") == ["walk_in", "referral", "referral", "referral"]
    assert column(engine, "tags") == ["|vip|cash_buyer|", "|cash_buyer|", "|cash_buyer|",
                                      "|cash_buyer|"]
    assert plan_for(engine, files(TEXT, source, tags))[1].is_empty  # renamed_from may stay


def test_reordering_options_changes_no_value(engine, office):
    assert plan_for(engine, files(TEXT, "{type: select, options: [other, referral, walk_in]}",
                                  "[cash, vip]"))[1].is_empty


def test_a_reload_reports_it_and_keeps_the_old_workspace(engine, office):
    schema, _plan = plan_for(engine, files(TEXT, "{type: select, options: [walk_in]}"))
    with pytest.raises(NotAdopted) as info:
        migrate_for(engine, schema, actor="workspace reload")
    (problem,) = info.value.problems
    assert "3 records hold values that are not options (other ×2, referral ×1)" in problem
    assert "有 3 条记录的值已不是可选项" in tr(problem, "zh")
    assert column(engine, "source") == ["walk_in", "other", "other", "referral"]


# -- records that hold a value that is no option (a database from before) ---------------------


def _make_stale(engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE client SET source = 'gone' WHERE name = 'c1'"))


def test_filters_find_records_by_a_value_that_is_no_option(engine, office):
    _make_stale(engine)
    rt = office.schema.workspace.type("client")
    flt = filters.parse({"field": "source", "op": "eq", "value": "gone"}, rt,
                        office.schema.workspace)
    with engine.connect() as conn:
        assert Q.count(conn, office.schema, "client", flt, SYSTEM) == 1
    with pytest.raises(FilterError, match="not one of the options"):  # the files: strict
        filters.parse({"field": "source", "op": "eq", "value": "gone"}, rt,
                      office.schema.workspace, strict_options=True)
    with pytest.raises(FilterError):  # a typo that is no stored value's shape is still one
        filters.parse({"field": "source", "op": "eq", "value": "Walk In?"}, rt,
                      office.schema.workspace)


def test_the_form_offers_the_value_held_and_saving_keeps_it(tmp_path, db_url):
    app = build_app(tmp_path, db_url, load_workspace_from_texts(files(TEXT, SOURCE)))
    run = app.extensions["lowrise"]
    try:
        c = run.records.create("client", {"name": "Wu", "source": "other"}, SYSTEM)
        with run.engine.begin() as conn:
            conn.execute(sa.text("UPDATE client SET source = 'gone' WHERE id = :i"),
                         {"i": c["id"]})
        http = app.test_client()
        page = http.get("/auth/login")
        http.post("/auth/login", data={"email": "ada@example.com", "password": PASSWORD,
                                       "csrf_token": csrf_of(page.text)})
        http.get("/locale/zh")
        form = http.get(f"/r/client/{c['id']}/edit").text
        assert '<option selected value="gone">gone（已不是可选项）</option>' in form
        resp = http.post(f"/r/client/{c['id']}/edit", data={
            "csrf_token": csrf_of(form), "name": "Wu Wei", "source": "gone", "_version": "1"})
        assert resp.status_code == 302, resp.text
        saved = run.records.get("client", c["id"])
        assert saved["name"] == "Wu Wei" and saved["source"] == "gone"
        # choosing an option instead works as always
        form = http.get(f"/r/client/{c['id']}/edit").text
        http.post(f"/r/client/{c['id']}/edit", data={
            "csrf_token": csrf_of(form), "name": "Wu Wei", "source": "referral",
            "_version": "2"})
        assert run.records.get("client", c["id"])["source"] == "referral"
    finally:
        run.engine.dispose()
