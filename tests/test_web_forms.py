"""Record forms: a widget for every field type, engine validation back on the form, conflicts,
uploads, the link picker and the record page."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal

import pytest

from test_web_support import make_record

pytest_plugins = ["test_web_support"]

GOOD = {
    "name": "Wang Fang", "phone": "138 0013 8000", "email": "Wang@Example.com",
    "website": "example.com", "source": "referral", "tags": ["vip", "cash"],
    "budget": "2500000.50", "stars": "4", "vip": "y", "born_on": "1990-05-17",
    "next_call": "2026-03-01T09:30", "call_length": "1h30m", "notes": "line one\nline two",
    "visits": "3", "share": "12.5", "area": "88.5",
}

WIDGETS = {
    "name": 'type="text"', "phone": 'type="tel"', "email": 'type="email"',
    "website": 'type="url"', "budget": 'inputmode="decimal"', "born_on": 'type="date"',
    "next_call": 'type="datetime-local"', "notes": "<textarea", "vip": 'type="checkbox"',
    "photo": 'type="file"', "visits": 'inputmode="numeric"',
}


def _field_html(html: str, name: str) -> str:
    m = re.search(rf'<[^>]*name="{name}"[^>]*>', html)
    assert m, f"no input named {name}"
    return m.group(0)


def test_new_form_has_a_widget_per_field_type(client, signed_in):
    page = client.get("/r/client/new")
    assert page.status_code == 200
    html = page.text
    for name, marker in WIDGETS.items():
        assert marker in _field_html(html, name), name
    assert '<select' in _field_html(html, "source") and "Referral" in html
    assert html.count('name="tags"') == 2 and 'type="checkbox"' in _field_html(html, "tags")
    assert html.count('name="stars"') == 6  # none + 5 stars, radio buttons
    picker = _field_html(html, "consultant__q")
    assert 'role="combobox"' in picker and "/r/staff/pick" in picker
    assert 'enctype="multipart/form-data"' in html
    assert '<label for="name">Name' in html  # every input has a label
    assert 'name="csrf_token"' in html


def test_create_with_every_field_type(client, signed_in, run):
    staff = run.records.get("staff", 1)
    resp = signed_in.post("/r/client/new", data={
        **GOOD, "consultant": str(staff["id"]),
        "photo": (io.BytesIO(b"hello"), "note.txt", "text/plain")},
        content_type="multipart/form-data")
    assert resp.status_code == 302, resp.text
    rid = int(resp.headers["Location"].rsplit("/", 1)[1])
    rec = run.records.get("client", rid)
    assert rec["phone"] == "13800138000" and rec["email"] == "wang@example.com"
    assert rec["website"] == "https://example.com" and rec["tags"] == ["vip", "cash"]
    assert rec["budget"] == Decimal("2500000.50") and rec["stars"] == 4 and rec["vip"] is True
    assert rec["born_on"] == date(1990, 5, 17) and rec["call_length"] == 5400
    assert rec["next_call"].hour == 1  # 09:30 in Asia/Shanghai is 01:30 UTC
    assert rec["visits"] == 3 and rec["share"] == Decimal("12.50") and rec["area"] == Decimal("88.5")
    assert rec["notes"] == "line one\nline two" and rec["consultant"] == staff["id"]
    assert rec["photo"][0]["name"] == "note.txt"
    page = client.get(f"/r/client/{rid}")
    assert "Wang Fang" in page.text and "Referral" in page.text and "Ada Admin" in page.text
    assert 'class="chip c-green"' in page.text  # the option's colour
    download = client.get(f"/files/{rec['photo'][0]['key']}?name=note.txt")
    assert download.data == b"hello"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in download.headers["Content-Disposition"]


@pytest.mark.parametrize("field,bad,expect", [
    ("phone", "call me", "is not a phone number"),
    ("email", "nobody", "is not an e-mail address"),
    ("website", "ftp://x", "is not a web address"),
    ("budget", "lots", "is not a number"),
    ("budget", "-5", "must be at least"),
    ("visits", "2.5", "is not a whole number"),
    ("visits", "Infinity", "is not a whole number"),
    ("visits", "NaN", "is not a whole number"),
    ("visits", "1e99999999", "is too large"),
    ("born_on", "17/05/1990x", "is not a date"),
    ("next_call", "tomorrow-ish", "is not a date and time"),
    ("call_length", "forever", "is not a duration"),
    ("source", "billboard", "is not one of the options"),
    ("tags", "gold", "is not one of the options"),
    ("stars", "9", "must be between 0 and 5"),
    ("name", "x" * 41, "must be at most 40 characters"),
    ("consultant", "999", "there is no"),
    ("share", "1.234", "decimal places"),
])
def test_bad_input_comes_back_with_the_field_named_and_data_kept(client, signed_in, field, bad,
                                                                 expect):
    data = {**GOOD, field: bad}
    resp = signed_in.post("/r/client/new", data=data)
    assert resp.status_code == 422
    html = resp.text
    err = re.search(rf'<p class="error" id="{field}-err"[^>]*>(.*?)</p>', html, re.S)
    assert err, f"no inline error for {field}"
    assert expect in err.group(1).replace("&#39;", "'")
    if field in ("tags", "stars"):
        assert re.search(rf'role="group" aria-labelledby="{field}-label" aria-invalid="true"',
                         html)
    else:
        assert 'aria-invalid="true"' in _field_html(html, field if field != "consultant"
                                                    else "consultant__q")
    # nothing typed is lost
    assert f'value="{data["name"]}"' in html and "line one\nline two" in html
    assert '<option selected value="referral">' in html or field == "source"


@pytest.mark.parametrize("typed", ["3,250,000", "￥3,250,000.00", "325万", "RMB 3,250,000",
                                   "３２５万", "0.0325亿"])
def test_amounts_and_numbers_as_people_type_them(client, signed_in, run, typed):
    """The record form reads an amount as it is typed (the fields' one parser, as.typed) and
    shows it back grouped; a whole number takes its thousands separator too."""
    resp = signed_in.post("/r/client/new", data={**GOOD, "budget": typed, "visits": "1,200"})
    assert resp.status_code == 302, resp.text
    rid = int(resp.headers["Location"].rsplit("/", 1)[1])
    rec = run.records.get("client", rid)
    assert rec["budget"] == Decimal("3250000") and rec["visits"] == 1200
    edit = client.get(f"/r/client/{rid}/edit").text
    assert 'value="3,250,000.00"' in _field_html(edit, "budget")
    assert 'value="1,200"' in _field_html(edit, "visits")


def test_the_errors_at_the_top_link_to_their_fields(client, signed_in):
    """The list of errors above the form names each field with its error, in the form's
    order, each a link to its field (the page puts the focus in the first: lowrise.js)."""
    resp = signed_in.post("/r/client/new", data={**GOOD, "email": "nobody", "budget": "lots",
                                                  "tags": "gold"})
    assert resp.status_code == 422
    top = resp.text[resp.text.index('id="form-errors"'):]
    top = top[:top.index("</div>")]
    links = re.findall(r'<a href="#([\w-]+)">([^<]*)</a>', top)
    assert [href for href, _text in links] == ["email", "tags", "budget"]
    assert "is not an e-mail address" in links[0][1].replace("&#39;", "'")
    assert links[2][1].startswith("Budget")


def test_required_field_missing(client, signed_in, run):
    resp = signed_in.post("/r/client/new", data={"name": "", "phone": "13900000000"})
    assert resp.status_code == 422
    assert re.search(r'id="name-err"[^>]*>Name is required', resp.text)
    assert 'value="13900000000"' in resp.text


def test_attachment_too_big_or_wrong_type(client, signed_in):
    big = signed_in.post("/r/client/new", data={
        "name": "A", "photo": (io.BytesIO(b"x" * 5000), "big.txt")},
        content_type="multipart/form-data")
    assert big.status_code == 422 and "the limit is" in big.text
    wrong = signed_in.post("/r/client/new", data={
        "name": "A", "photo": (io.BytesIO(b"x"), "run.exe")},
        content_type="multipart/form-data")
    assert wrong.status_code == 422 and "not an allowed file type" in wrong.text


def test_edit_and_conflict(client, signed_in, run):
    rec = make_record(run, "client", name="Li Lei", source="walk_in")
    page = client.get(f"/r/client/{rec['id']}/edit")
    assert 'value="Li Lei"' in page.text and 'name="_version" value="1"' in page.text
    ok = signed_in.post(f"/r/client/{rec['id']}/edit",
                        data={"name": "Li Lei 2", "source": "walk_in", "_version": "1"})
    assert ok.status_code == 302
    assert run.records.get("client", rec["id"])["name"] == "Li Lei 2"
    stale = signed_in.post(f"/r/client/{rec['id']}/edit",
                           data={"name": "Li Lei 3", "source": "walk_in", "_version": "1"})
    assert stale.status_code == 409
    assert "changed by someone else" in stale.text
    assert 'value="Li Lei 3"' in stale.text  # the person's input is kept
    assert run.records.get("client", rec["id"])["name"] == "Li Lei 2"


def test_form_sections_follow_the_form_view(client, signed_in, run):
    c = make_record(run, "client", name="Zhao")
    page = client.get(f"/r/deal/new?client={c['id']}")
    html = page.text
    assert html.index("Basics") < html.index("Money") < html.index('name="owner__q"')
    assert 'value="Zhao"' in _field_html(html, "client__q")  # prefilled from the query
    assert 'name="number"' not in html and "set automatically" in html  # autonumber
    assert '<option selected value="lead">' in html  # the field's default


def test_link_picker_searches_the_target_type(client, signed_in, run):
    for name in ("Zhang San", "Zhang Sanfeng", "Li Si"):
        make_record(run, "client", name=name)
    resp = signed_in.hx("GET", "/r/client/pick?client__q=zhang")
    assert resp.status_code == 200
    assert resp.text.count('role="option"') == 2 and "Li Si" not in resp.text
    assert 'data-title="Zhang San"' in resp.text
    none = signed_in.hx("GET", "/r/client/pick?client__q=nobody")
    assert "No match" in none.text


def test_create_linked_record_and_related_list(client, signed_in, run):
    c = make_record(run, "client", name="Chen")
    resp = signed_in.post("/r/deal/new", data={"title": "Flat 12", "client": str(c["id"]),
                                               "stage": "lead", "amount": "1000"})
    assert resp.status_code == 302
    deal_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    deal = run.records.get("deal", deal_id)
    assert deal["number"] == "D-0001" and deal["double"] == Decimal("2000.00")
    page = client.get(f"/r/client/{c['id']}")
    assert "Deals of this client" in page.text and "Flat 12" in page.text
    deal_page = client.get(f"/r/deal/{deal_id}")
    assert f'href="/r/client/{c["id"]}"' in deal_page.text and ">Chen<" in deal_page.text


def test_record_history_shows_labels_and_formatted_values(client, signed_in, run):
    c = make_record(run, "client", name="Sun")
    d = make_record(run, "deal", title="Villa", client=c["id"], amount="100")
    signed_in.post(f"/r/deal/{d['id']}/edit", data={
        "title": "Villa", "client": str(c["id"]), "stage": "won", "amount": "2500",
        "_version": "1"})
    html = client.get(f"/r/deal/{d['id']}").text
    history = html[html.index("timeline"):]
    assert "Ada Admin" in history and "changed" in history
    assert "Stage" in history and "Lead" in history and "Won" in history
    assert "¥2,500.00" in history or "CN¥2,500.00" in history


def test_delete_to_trash_and_restore(client, signed_in, run):
    c = make_record(run, "client", name="Zhou")
    resp = signed_in.post(f"/r/client/{c['id']}/delete", data={"_version": "1"})
    assert resp.status_code == 302
    assert client.get(f"/r/client/{c['id']}").status_code == 404
    trash = client.get("/trash").text
    assert "Zhou" in trash
    back = signed_in.post(f"/trash/client/{c['id']}/restore")
    assert back.status_code == 302
    assert client.get(f"/r/client/{c['id']}").status_code == 200
    assert "restored" in client.get(f"/r/client/{c['id']}").text


def test_unknown_type_or_record_is_404(client, signed_in):
    assert client.get("/r/nothing/").status_code == 404
    assert client.get("/r/client/999").status_code == 404
    assert client.get("/r/client/999/edit").status_code == 404
    assert client.get("/files/not-a-key").status_code == 404


def test_markup_in_values_is_escaped(client, signed_in, run):
    c = make_record(run, "client", name="<script>alert(1)</script>",
                    notes='<img src=x onerror="alert(2)">')
    html = client.get(f"/r/client/{c['id']}").text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html
    table = client.get("/r/client/").text
    assert "<script>alert(1)</script>" not in table
