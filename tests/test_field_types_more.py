"""The field types added as one module each: time of day, rich text, location, barcode, and
the system fields' own types created_by / updated_by. Each option documented in
docs/workspace-format.md has a test here; storage tests run on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, time

import openpyxl
import pytest

from lowrise import exporter, importer
from lowrise.actor import Actor
from lowrise.errors import FieldError, ValidationError
from lowrise.fields import registry
from lowrise.fields.html import Page
from lowrise.i18n import tr
from lowrise.storage import query
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace_from_texts

WS = {
    "workspace.yaml": "label: Test\ndefault_locale: zh\nlocales: [zh, en]\nusers: staff\n"
                      "timezone: Asia/Shanghai\n",
    "schemas/staff.yaml": "fields:\n  name: {type: text, required: true}\n",
    "schemas/unit.yaml": """
title: name
fields:
  name: {type: text, required: true}
  viewing: {type: time, min: '08:00', max: '20:00'}
  any_time: {type: time}
  notes: {type: rich_text, max_length: 20}
  about: {type: rich_text}
  place: {type: location}
  pinned: {type: location, require_coordinates: true}
  ean: {type: barcode, format: ean13}
  ean8: {type: barcode, format: ean8}
  upc: {type: barcode, format: upc}
  tag: {type: barcode}
""",
}
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _ws():
    return load_workspace_from_texts(WS)


def _field(name):
    return _ws().type("unit").fields[name]


def _parse(name, raw):
    f = _field(name)
    value = f.kind.parse(f, raw)
    if value is not None:
        f.kind.check(f, value)
    return value


def _refused(name, raw) -> str:
    with pytest.raises(FieldError) as exc:
        _parse(name, raw)
    return tr(exc.value.message, "zh")


# -- time of day --------------------------------------------------------------------------

@pytest.mark.parametrize("raw, want", [
    ("14:30", time(14, 30)), ("9:05", time(9, 5)), ("14：30", time(14, 30)),
    ("2:30 pm", time(14, 30)), ("下午2:30", time(14, 30)), ("14点30分", time(14, 30)),
    ("12:00 am", time(0, 0)), ("10:15:20", time(10, 15, 20)), (time(7, 5), time(7, 5)),
    (datetime(2026, 1, 1, 16, 45), time(16, 45)), ("", None)])
def test_time_reads_the_ways_people_write_a_time(raw, want):
    assert _parse("any_time", raw) == want


@pytest.mark.parametrize("raw", ["24:00", "13:60", "13 pm", "noon", "0.5", 0.5, True])
def test_time_refuses_what_is_no_time_in_the_readers_language(raw):
    said = _refused("any_time", raw)
    assert "不是时刻" in said and "14:30" in said


def test_time_min_and_max_bound_the_value():
    assert _parse("viewing", "08:00") == time(8)
    assert _refused("viewing", "07:59") == "不能小于 08:00"
    assert _refused("viewing", "20:01") == "不能大于 20:00"


def test_time_from_an_excel_cell_typed_or_as_a_fraction_of_a_day():
    f = _field("any_time")
    assert f.kind.parse(f, f.kind.from_cell(f, time(9, 30))) == time(9, 30)
    assert f.kind.parse(f, f.kind.from_cell(f, 0.5)) == time(12)
    assert f.kind.parse(f, f.kind.from_cell(f, 0.75)) == time(18)


# -- rich text ----------------------------------------------------------------------------

def test_rich_text_keeps_formatting_and_removes_anything_that_runs():
    got = _parse("about", '<p onclick="steal()">Hi <b>you</b> <a href="javascript:x">x</a>'
                          '<script>alert(1)</script><img src=x onerror=y></p>')
    assert got.startswith("<p>Hi <b>you</b>")
    for bad in ("onclick", "script", "javascript", "onerror", "<img"):
        assert bad not in got


def test_rich_text_without_tags_is_plain_text_in_paragraphs():
    assert _parse("about", "one <\n\ntwo\nthree") is not None
    assert _parse("about", "one\n\ntwo\nthree") == "<p>one</p><p>two<br>three</p>"
    assert _parse("about", "<p> </p>") is None  # nothing a person wrote


def test_rich_text_max_length_counts_the_text_not_the_markup():
    assert _parse("notes", "<p><strong>" + "x" * 20 + "</strong></p>")
    assert _refused("notes", "<p>" + "x" * 21 + "</p>") == "最多 20 个字符（现为 21 个）"


def test_rich_text_shows_as_clean_html_on_a_record_and_as_text_in_a_table():
    f = _field("about")
    stored = _parse("about", "<p>Hi <b>you</b></p><ul><li>one</li></ul>")
    whole = str(f.kind.html(f, stored, Page("zh", full=True)))
    assert whole.startswith('<div class="rich"><p>Hi <b>you</b></p>')
    cell = str(f.kind.html(f, stored, Page("zh")))
    assert "<b>" not in cell and "Hi you" in cell
    assert f.kind.display(f, stored, "en") == "Hi you\none"


# -- location -----------------------------------------------------------------------------

def test_location_is_an_address_coordinates_or_both():
    assert _parse("place", "世纪大道100号") == {"address": "世纪大道100号", "lat": None, "lng": None}
    assert _parse("place", "31.2304, 121.4737") == {"address": None, "lat": 31.2304,
                                                    "lng": 121.4737}
    both = _parse("place", "世纪大道100号 @ 31.2304，121.4737")
    assert both == {"address": "世纪大道100号", "lat": 31.2304, "lng": 121.4737}
    assert _parse("place", {"address": "x", "lat": "1.5", "lng": 2}) == {
        "address": "x", "lat": 1.5, "lng": 2.0}
    f = _field("place")
    assert f.kind.display(f, both, "zh") == "世纪大道100号 @ 31.2304, 121.4737"
    assert "openstreetmap.org/?mlat=31.2304&amp;mlon=121.4737" in str(
        f.kind.html(f, both, Page("zh")))


@pytest.mark.parametrize("raw, words", [("x @ 91, 0", "纬度应在"), ("x @ abc", "不是坐标"),
                                        ({"lat": 1}, "同时填写"), ({"city": "x"}, "只包含")])
def test_location_refuses_bad_coordinates(raw, words):
    assert words in _refused("place", raw)


def test_location_require_coordinates_refuses_an_address_alone():
    assert _parse("pinned", "x @ 31.2, 121.4")
    assert "纬度和经度" in _refused("pinned", "世纪大道100号")


# -- barcode ------------------------------------------------------------------------------

def test_barcode_format_ean13_checks_length_and_check_digit():
    assert _parse("ean", "6901234567892") == "6901234567892"
    assert _parse("ean", "690 1234 56789 2") == "6901234567892"
    assert _parse("ean", 6901234567892) == "6901234567892"
    assert "校验位" in _refused("ean", "6901234567891")
    assert "13 位数字" in _refused("ean", "690123456789")


def test_barcode_formats_ean8_and_upc():
    assert _parse("ean8", "96385074") == "96385074"
    assert "校验位" in _refused("ean8", "96385075")
    assert _parse("upc", "036000291452") == "036000291452"
    assert "12 位数字" in _refused("upc", "36000291452")


def test_barcode_any_takes_a_code_without_spaces():
    assert _parse("tag", "QR:房源-A12") == "QR:房源-A12"
    assert "不能有空格" in _refused("tag", "A 12")


def test_barcode_from_excel_keeps_the_digits():
    f = _field("ean")
    assert f.kind.parse(f, f.kind.from_cell(f, 6901234567892.0)) == "6901234567892"


# -- on a database: stored, filtered, sorted, exported, imported, made up ------------------

@pytest.fixture
def records(engine, tmp_path):
    schema = build_schema(_ws())
    with engine.begin() as conn:
        schema.metadata.create_all(conn)
    return Records(engine, schema)


@pytest.fixture
def actor(records):
    staff = records.create("staff", {"name": "王芳"}, Actor(name="setup", clock=lambda: NOW))
    return Actor(user=staff["id"], name="王芳", clock=lambda: NOW)


def test_new_types_store_filter_and_sort(records, actor):
    a = records.create("unit", {"name": "A", "any_time": "下午2:30", "about": "<p>Hi <b>x</b></p>",
                                "place": "世纪大道100号 @ 31.2304, 121.4737",
                                "ean": "6901234567892", "tag": "A-1"}, actor)
    b = records.create("unit", {"name": "B", "any_time": "9:00", "place": "南京路"}, actor)
    back = records.get("unit", a["id"])
    assert back["any_time"] == time(14, 30) and back["ean"] == "6901234567892"
    assert back["place"] == {"address": "世纪大道100号", "lat": 31.2304, "lng": 121.4737}
    assert back["about"] == "<p>Hi <b>x</b></p>"
    with records.engine.connect() as conn:
        def names(**kw):
            return [r["name"] for r in query.list_records(conn, records.schema, "unit",
                                                           **kw).rows]
        assert names(filter={"field": "any_time", "op": "gt", "value": "12:00"}) == ["A"]
        assert names(filter={"field": "any_time", "op": "eq", "value": "09:00"}) == ["B"]
        assert names(sort=["any_time"]) == ["B", "A"]
        assert names(filter={"field": "place", "op": "contains", "value": "南京"}) == ["B"]
        assert names(filter={"field": "ean", "op": "eq", "value": "6901234567892"}) == ["A"]
    assert b["place"]["lat"] is None


def test_a_write_keeps_nothing_of_a_bad_value(records, actor):
    with pytest.raises(ValidationError) as exc:
        records.create("unit", {"name": "C", "any_time": "25:00", "ean": "1"}, actor)
    assert set(exc.value.errors) == {"any_time", "ean"}
    with records.engine.connect() as conn:
        assert query.list_records(conn, records.schema, "unit").rows == []


def test_export_writes_a_time_cell_and_the_texts(records, actor):
    records.create("unit", {"name": "A", "any_time": "14:30", "about": "<p>Hi <b>x</b></p>",
                            "place": "x @ 1, 2"}, actor)
    ws = records.schema.workspace
    cols = [ws.type("unit").fields[n] for n in ("any_time", "about", "place")]
    rows = list(exporter.rows(records.engine, records.schema, "unit", cols, actor=actor, via="csv",
                              locale="zh", style="typed"))
    assert rows[1] == [time(14, 30), "Hi x", "x @ 1, 2"]


def test_import_reads_an_excel_time_and_the_new_types(records, actor, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["name", "any_time", "ean", "place", "about"])
    sheet.append(["A", time(9, 30), 6901234567892, "x @ 1, 2", "plain"])
    book.save(tmp_path / "units.xlsx")
    read = importer.read_file(tmp_path / "units.xlsx")
    prepared = importer.prepare(records, "unit", read, list(read.headers), actor)
    checked = importer.check(records, "unit", prepared, actor)
    assert checked.valid, checked.errors
    stored = checked.stored[0]
    assert stored["any_time"] == time(9, 30) and stored["ean"] == "6901234567892"
    assert stored["about"] == "<p>plain</p>"


def test_demo_data_fills_the_new_types(records, actor):
    from lowrise.seed import Sampler

    sampler = Sampler(records.schema.workspace, 3, NOW)
    for name in ("any_time", "about", "place", "ean", "ean8", "upc", "tag"):
        f = _field(name)
        value = sampler.by_type(f)
        assert f.kind.parse(f, f.kind.to_json(f, value)) is not None, name


# -- created_by / updated_by: visible fields of their own types ---------------------------

def test_created_by_and_updated_by_are_people_set_by_the_system(records, actor):
    rt = records.schema.workspace.type("unit")
    for name in ("created_by", "updated_by"):
        f = rt.fields[name]
        assert f.type == name and f.kind.person and f.kind.generated and f.system
        with pytest.raises(FieldError) as exc:
            f.kind.parse(f, "me")
        assert tr(exc.value.message, "zh") == "由系统设置，不能修改"
    assert rt.fields["updated_by"].kind.restamped
    rec = records.create("unit", {"name": "A"}, actor)
    assert rec["created_by"] == rec["updated_by"] == actor.user
    with records.engine.connect() as conn:
        mine = query.list_records(conn, records.schema, "unit",
                                  filter={"field": "created_by", "op": "eq", "value": "me"},
                                  ctx=actor).rows
    assert [r["name"] for r in mine] == ["A"]


def test_the_new_types_are_in_the_registry():
    for name in ("time", "rich_text", "location", "barcode", "created_by", "updated_by"):
        assert name in registry
