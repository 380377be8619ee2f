"""Table views: columns, sorting, the filter builder in the URL, quick search, keyset pages,
grouping with subtotals, inline edit with conflicts, bulk edit and delete, htmx partials."""

from __future__ import annotations

import re

import pytest

from test_web_support import make_record

pytest_plugins = ["test_web_support"]


@pytest.fixture
def deals(run):
    a = make_record(run, "client", name="Alpha Co")
    b = make_record(run, "client", name="Beta Ltd")
    out = []
    for i, (title, client, stage, amount) in enumerate([
            ("North flat", a, "lead", "500"), ("South villa", b, "won", "9000"),
            ("East shop", a, "lead", "1500"), ("West loft", b, "lost", "700"),
            ("Central unit", a, "won", "3000")]):
        out.append(make_record(run, "deal", title=title, client=client["id"], stage=stage,
                               amount=amount, closes_on=f"2026-03-{10 + i:02d}"))
    return out


def titles_in(html: str) -> list[str]:
    return re.findall(r'class="row-link" href="/r/deal/\d+">([^<]+)</a>', html)


def total(client, html: str) -> str:
    """The count a table shows: on the page when it holds every match, else asked for after
    the page (the count link htmx loads at once)."""
    found = re.search(r'<span data-total="\d+">([^<]+)</span>', html)
    if found:
        return found.group(1)
    url = re.search(r'class="count-link" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    part = client.get(url, headers={"HX-Request": "true"})
    assert part.status_code == 200 and "<html" not in part.text
    return re.search(r'<span data-total="\d+">([^<]+)</span>', part.text).group(1)


def test_default_table_for_a_type_without_views(client, signed_in, run):
    make_record(run, "client", name="Qian", source="referral", budget="100")
    page = client.get("/r/client/")
    assert page.status_code == 200
    html = page.text
    assert ">Clients<" in html or "Clients</h1>" in html or "Clients" in html
    assert "Qian" in html and 'class="chip c-green"' in html
    assert "1 record" in html


def test_declared_view_columns_sort_and_formatting(client, signed_in, deals):
    html = client.get("/r/deal/").text
    assert titles_in(html) == ["South villa", "Central unit", "East shop"]  # -amount, 3 a page
    head = html[html.index("<thead>"):html.index("</thead>")]
    assert [h for h in ("Title", "Client", "Stage", "Amount", "Closes on") if h in head]
    assert "¥9,000.00" in html or "CN¥9,000.00" in html
    assert 'class="chip c-link chip-link" href="/r/client/' in html and "Beta Ltd" in html
    assert total(client, html) == "5 records"
    asc = client.get("/r/deal/?sort=amount").text
    assert titles_in(asc) == ["North flat", "West loft", "East shop"]
    assert 'aria-sort="ascending"' in asc
    assert re.search(r'href="/r/deal/[^"?]*\?sort=-amount"', asc)  # click again: descending


def test_load_more_is_keyset_and_htmx_gets_only_rows(client, signed_in, deals):
    html = client.get("/r/deal/").text
    more = re.search(r'hx-get="(/r/deal/[^"]*after=[^"]+)"', html).group(1).replace("&amp;", "&")
    part = signed_in.hx("GET", more)
    assert part.status_code == 200
    assert "<html" not in part.text and "<thead" not in part.text
    assert titles_in(part.text) == ["West loft", "North flat"]
    assert "Load more" not in part.text
    full = client.get(more)  # without JavaScript the link is a page of its own
    assert "<html" in full.text and titles_in(full.text) == ["West loft", "North flat"]


def test_a_page_number_jumps_to_its_rows_in_each_language(client, signed_in, deals):
    first = client.get("/r/deal/").text
    view = "/r/deal/table/deals?sort=-amount"
    assert f'rel="next" href="{view}&amp;page=2"' in first and 'rel="prev"' not in first
    second = client.get("/r/deal/?page=2").text  # -amount, 3 a page: the 4th and 5th
    assert titles_in(second) == ["West loft", "North flat"]
    assert f'rel="prev" href="{view}"' in second and 'rel="next"' not in second
    assert 'name="page" type="number" min="1" max="3334" value="2"' in second
    ascending = client.get("/r/deal/?page=2&sort=amount").text
    assert titles_in(ascending) == ["Central unit", "South villa"]
    # a page number keeps the filter and search, and a new sort starts at the first page
    lead = client.get("/r/deal/?f0=stage&o0=in&v0=lead&v0=won&page=2").text
    assert titles_in(lead) == ["North flat"]
    assert re.search(r'href="/r/deal/table/deals\?f0=stage&amp;o0=in&amp;v0=lead&amp;v0=won'
                     r'&amp;sort=amount"', lead)
    assert "No records match." in client.get("/r/deal/?page=3").text  # past the end
    far = client.get("/r/deal/?page=5000").text  # beyond the bound: said, first page shown
    assert "Page numbers go up to 3334 here" in far
    assert titles_in(far) == ["South villa", "Central unit", "East shop"]
    client.get("/locale/zh")
    zh = client.get("/r/deal/?page=2").text
    assert "上一页" in zh and "页码" in zh
    assert "页码最多到 3334" in client.get("/r/deal/?page=9999").text


def test_filter_in_the_url(client, signed_in, deals):
    html = client.get("/r/deal/?f0=stage&o0=eq&v0=lead").text
    assert sorted(titles_in(html)) == ["East shop", "North flat"]
    assert "2 records" in html
    two = client.get("/r/deal/?f0=stage&o0=in&v0=lead&v0=won&f1=amount&o1=gte&v1=1000").text
    assert sorted(titles_in(two)) == ["Central unit", "East shop", "South villa"]
    comma = client.get("/r/deal/?f0=stage&o0=not_in&v0=lead,won").text
    assert titles_in(comma) == ["West loft"]
    dates = client.get("/r/deal/?f0=closes_on&o0=between&v0=2026-03-11&v0=2026-03-12").text
    assert sorted(titles_in(dates)) == ["East shop", "South villa"]
    linked = client.get(f"/r/deal/?f0=client&o0=eq&v0={deals[0]['client']}").text
    assert sorted(titles_in(linked)) == ["Central unit", "East shop", "North flat"]
    empty = client.get("/r/deal/?f0=owner&o0=is_empty").text
    assert total(client, empty) == "5 records"


def test_bad_filter_is_reported_not_an_error_page(client, signed_in, deals):
    page = client.get("/r/deal/?f0=stage&o0=eq&v0=Non+sense&f1=amount&o1=gt&v1=lots")
    assert page.status_code == 200
    assert "is not one of the options" in page.text and "is not a number" in page.text
    assert total(client, page.text) == "5 records"  # bad conditions are not applied
    # a value shaped like an option's is taken (records may hold an option since removed)
    page = client.get("/r/deal/?f0=stage&o0=eq&v0=nonsense")
    assert page.status_code == 200 and total(client, page.text) == "0 records"
    page = client.get("/r/deal/?f0=nofield&o0=eq&v0=1")
    assert page.status_code == 200 and "not a field" in page.text
    page = client.get("/r/deal/?after=garbage")
    assert page.status_code == 200 and "out of date" in page.text


def test_filter_builder_rows_fit_the_field(client, signed_in, deals):
    amount = signed_in.hx("GET", "/r/deal/filter-row?i=0&f0=amount")
    assert 'value="gte"' in amount.text and 'value="contains"' not in amount.text
    stage = client.get("/r/deal/filter-row?i=1&f1=stage&o1=in")
    assert 'name="v1"' in stage.text and "multiple" in stage.text and "Won" in stage.text
    closes = client.get("/r/deal/filter-row?i=0&f0=closes_on&o0=within")
    assert "the next 7 days" in closes.text
    client_row = client.get("/r/deal/filter-row?i=0&f0=client")
    assert "data-picker" in client_row.text
    page = client.get("/r/deal/?f0=stage&o0=eq&v0=lead&add=1").text
    assert 'name="f1"' in page  # "add a condition" without JavaScript
    removed = client.get("/r/deal/?f0=stage&o0=eq&v0=lead&remove=0").text
    assert total(client, removed) == "5 records"


def test_quick_search(client, signed_in, run):
    for name in ("Zhang Wei", "Zhang Min", "Liu Yang"):
        make_record(run, "client", name=name)
    html = client.get("/r/client/?q=zhang").text
    assert "Zhang Wei" in html and "Zhang Min" in html and "Liu Yang" not in html
    part = signed_in.hx("GET", "/r/client/?q=liu")
    assert "<html" not in part.text and "Liu Yang" in part.text and 'id="table-view"' in part.text


def test_group_by_with_subtotals(client, signed_in, deals):
    html = client.get("/r/deal/?group=stage&sort=title").text
    groups = re.findall(r'class="group-row"><td[^>]*>\s*<span class="chip c-\w+">(\w+)</span>',
                        html)
    assert groups[0] in ("Lead", "Lost", "Won")
    assert "2 records · Amount ¥2,000.00" in html or "2 records · Amount CN¥2,000.00" in html
    open_view = client.get("/r/deal/table/open_deals").text  # the view's own group_by
    assert 'class="group-row"' in open_view and "Open deals" in open_view
    assert "This view shows records where Stage is Lead" in open_view


def test_inline_edit_cell(client, signed_in, run, deals):
    d = deals[0]
    url = f"/r/deal/{d['id']}/cell/amount?view=deals&v=1"
    editor = signed_in.hx("GET", url)
    assert editor.status_code == 200 and "<html" not in editor.text
    assert 'name="amount"' in editor.text and 'name="_version" value="1"' in editor.text
    saved = signed_in.hx("POST", f"/r/deal/{d['id']}/cell/amount?view=deals",
                         data={"amount": "777", "_version": "1"})
    assert saved.status_code == 200 and saved.text.lstrip().startswith("<tr")
    assert 'data-version="2"' in saved.text and "777.00" in saved.text
    assert str(run.records.get("deal", d["id"])["amount"]) == "777.00"
    # an amount as people type it, and the editor shows it back grouped
    typed = signed_in.hx("POST", f"/r/deal/{d['id']}/cell/amount?view=deals",
                         data={"amount": "￥325万", "_version": "2"})
    assert typed.status_code == 200 and "3,250,000.00" in typed.text
    assert str(run.records.get("deal", d["id"])["amount"]) == "3250000.00"
    editor = signed_in.hx("GET", f"/r/deal/{d['id']}/cell/amount?view=deals&v=3")
    assert 'value="3,250,000.00"' in editor.text and 'inputmode="decimal"' in editor.text


def test_inline_edit_invalid_value(client, signed_in, run, deals):
    d = deals[0]
    resp = signed_in.hx("POST", f"/r/deal/{d['id']}/cell/amount?view=deals",
                        data={"amount": "much", "_version": "1"})
    assert resp.status_code == 422
    assert 'class="cell-error"' in resp.text and "Amount" in resp.text
    assert "is not a number" in resp.text.replace("&#39;", "'")
    assert 'value="much"' in resp.text  # the editor comes back with what was typed
    assert "lowrise:toast" in resp.headers["HX-Trigger"]
    assert str(run.records.get("deal", d["id"])["amount"]) == "500.00"


def test_inline_edit_conflict(client, signed_in, run, deals):
    d = deals[0]
    run.records.update("deal", d["id"], {"title": "Changed elsewhere"},
                       __import__("lowrise.actor").actor.Actor(name="Bob"))
    resp = signed_in.hx("POST", f"/r/deal/{d['id']}/cell/title?view=deals",
                        data={"title": "Mine", "_version": "1"})
    assert resp.status_code == 409
    assert "changed by someone else" in resp.text
    assert "Changed elsewhere" in resp.text and 'data-version="2"' in resp.text
    assert run.records.get("deal", d["id"])["title"] == "Changed elsewhere"


def test_inline_edit_select_and_cancel(client, signed_in, run, deals):
    d = deals[0]
    editor = signed_in.hx("GET", f"/r/deal/{d['id']}/cell/stage?view=deals")
    assert "<select" in editor.text and "Won" in editor.text
    row = signed_in.hx("GET", f"/r/deal/{d['id']}/row?view=deals")
    assert row.text.lstrip().startswith("<tr") and "Lead" in row.text
    assert signed_in.hx("GET", f"/r/deal/{d['id']}/cell/double").status_code == 404  # formula


def test_count_comes_after_the_page(client, signed_in, deals):
    html = client.get("/r/deal/?f0=amount&o0=gte&v0=600&q=t").text
    assert "data-total" not in html  # more matches than the page: not counted in the page
    link = re.search(r'<a class="count-link" href="([^"]+)" hx-get="([^"]+)" hx-trigger="load"',
                     html)
    assert link.group(1) == link.group(2)
    url = link.group(1).replace("&amp;", "&")
    assert url.startswith("/r/deal/table/deals/count?") and "f0=amount" in url and "q=t" in url
    part = signed_in.hx("GET", url)
    assert part.status_code == 200 and "<html" not in part.text
    assert part.text == '<span data-total="4">4 records</span>'  # all but North flat
    view = client.get("/r/deal/table/open_deals/count?f0=amount&o0=gt&v0=600").text
    assert 'data-total="1"' in view  # the view's own filter (lead) and the person's
    one_page = client.get("/r/deal/?f0=stage&o0=eq&v0=won").text
    assert '<span data-total="2">2 records</span>' in one_page  # a whole first page: free
    assert client.get("/r/deal/count?q=%22").status_code in (200, 400)
    assert client.get("/r/nope/count").status_code == 404


def test_table_text_is_what_the_field_type_displays(app):
    """Field types write dates, times and numbers with Babel's patterns parsed once a
    process (a table shows thousands): the same text as Babel's own format functions."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    from babel.dates import format_date, format_datetime
    from babel.numbers import format_currency, format_decimal

    fields = app.extensions["lowrise"].workspace.type("client").fields
    when, day = fields["next_call"], fields["born_on"]
    zone = ZoneInfo(when.config.get("timezone") or "UTC")
    for locale, babel in (("en", "en_US"), ("zh", "zh_CN")):
        for i in range(40):
            v = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=i * 13, minutes=7 * i)
            assert when.kind.display(when, v, locale) == format_datetime(
                v.astimezone(zone), "short", locale=babel)
            assert day.kind.display(day, v.date(), locale) == format_date(
                v.date(), "medium", locale=babel)
        for name in ("budget", "visits", "share", "area"):
            f = fields[name]
            for v in (0, 7, 1234567, Decimal("1234.5"), Decimal("-0.05"), Decimal("0.125"),
                      Decimal("99999999.999")):
                v = int(v) if name == "visits" else v
                if f.type == "currency":
                    want = format_currency(v, f.config.get("currency", "CNY"), locale=babel)
                elif f.type == "integer":
                    want = format_decimal(v, locale=babel)
                else:
                    scale = f.kind.scale(f)
                    want = format_decimal(v, format="#,##0." + "0" * scale if scale
                                          else "#,##0", locale=babel)
                    want += "%" if f.type == "percent" else ""
                assert f.kind.display(f, v, locale) == want, (name, v)


def bulk_ids(*recs):
    return [str(r["id"]) for r in recs]


def test_bulk_edit_inputs_are_typed(client, signed_in, run, deals):
    page = client.get("/r/deal/").text
    bar = page[page.index('id="bulk-form"'):page.index("</form>", page.index('id="bulk-form"'))]
    assert 'hx-get="/r/deal/bulk-input"' in bar and 'name="bulk-title"' in bar  # the first
    stage = signed_in.hx("GET", "/r/deal/bulk-input?field=stage").text
    assert '<select' in stage and 'name="bulk-stage"' in stage and ">Won<" in stage
    closes = signed_in.hx("GET", "/r/deal/bulk-input?field=closes_on").text
    assert 'type="date"' in closes and 'name="bulk-closes_on"' in closes
    amount = signed_in.hx("GET", "/r/deal/bulk-input?field=amount").text
    assert 'type="text"' in amount and 'inputmode="decimal"' in amount  # 3,250,000 and 325万
    link = signed_in.hx("GET", "/r/deal/bulk-input?field=client").text
    assert "data-picker" in link and 'name="bulk-client"' in link and "/r/client/pick" in link
    vip = signed_in.hx("GET", "/r/client/bulk-input?field=vip").text
    assert 'type="checkbox"' in vip and 'name="bulk-vip"' in vip
    tags = signed_in.hx("GET", "/r/client/bulk-input?field=tags").text
    assert tags.count('type="checkbox"') == 2
    for bad in ("double", "number", "nope"):  # a formula, an autonumber, no such field
        assert signed_in.hx("GET", f"/r/deal/bulk-input?field={bad}").status_code == 404


def test_bulk_edit_sets_typed_values(client, signed_in, run, deals):
    ids = bulk_ids(deals[0], deals[2])
    resp = signed_in.post("/r/deal/bulk", data={"ids": ids, "action": "update",
                                                "field": "stage", "bulk-stage": "won",
                                                "next": "/r/deal/"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/r/deal/"
    assert {run.records.get("deal", int(i))["stage"] for i in ids} == {"won"}
    signed_in.post("/r/deal/bulk", data={"ids": ids, "action": "update", "field": "closes_on",
                                         "bulk-closes_on": "2026-12-24"})
    assert {str(run.records.get("deal", int(i))["closes_on"]) for i in ids} == {"2026-12-24"}
    other = deals[1]["client"]
    hx = signed_in.hx("POST", "/r/deal/bulk", data={
        "ids": ids, "action": "update", "field": "client", "bulk-client": str(other),
        "bulk-client__q": "Beta Ltd", "next": "/r/deal/"})
    assert hx.status_code == 200 and hx.headers["HX-Redirect"] == "/r/deal/"
    assert {run.records.get("deal", int(i))["client"] for i in ids} == {other}
    people = [make_record(run, "client", name=n) for n in ("Qin", "Wu")]
    signed_in.post("/r/client/bulk", data={"ids": bulk_ids(*people), "action": "update",
                                           "field": "vip", "bulk-vip": "y"})
    assert [run.records.get("client", p["id"])["vip"] for p in people] == [True, True]
    signed_in.post("/r/client/bulk", data={"ids": bulk_ids(*people), "action": "update",
                                           "field": "vip"})  # unticked: No
    assert [run.records.get("client", p["id"])["vip"] for p in people] == [False, False]
    signed_in.post("/r/client/bulk", data={"ids": bulk_ids(*people), "action": "update",
                                           "field": "tags", "bulk-tags": ["vip", "cash"]})
    assert run.records.get("client", people[0]["id"])["tags"] == ["vip", "cash"]


def test_bulk_edit_refused_changes_nothing_and_says_where(client, signed_in, run, deals):
    ids = bulk_ids(deals[0], deals[2])
    bad = signed_in.hx("POST", "/r/deal/bulk", data={
        "ids": ids, "action": "update", "field": "amount", "bulk-amount": "-1",
        "next": "/r/deal/"})
    assert bad.status_code == 422 and "lowrise:toast" in bad.headers["HX-Trigger"]
    html = bad.text.replace("&#39;", "'")
    assert html.lstrip().startswith("<form") and 'id="bulk-form"' in html
    err = re.search(r'<p class="error" id="bulk-error" role="alert">([^<]+)</p>', html).group(1)
    assert "Nothing was changed" in err and "Amount" in err
    assert 'name="bulk-amount"' in html and 'value="-1"' in html and 'aria-invalid="true"' in html
    assert '<span data-selected>2</span>' in html and 'value="amount" selected' in html
    assert {str(run.records.get("deal", int(i))["amount"]) for i in ids} == {"500.00", "1500.00"}
    words = signed_in.hx("POST", "/r/deal/bulk", data={
        "ids": ids, "action": "update", "field": "closes_on", "bulk-closes_on": "soon"})
    assert words.status_code == 422 and "Closes on" in words.text and "not a date" in words.text
    # all or nothing: a value that one record takes and another refuses (a unique phone)
    a, b = (make_record(run, "client", name=n) for n in ("Sun", "Ma"))
    dup = signed_in.post("/r/client/bulk", data={"ids": bulk_ids(a, b), "action": "update",
                                                 "field": "phone", "bulk-phone": "13900001111"})
    assert dup.status_code == 302
    told = client.get("/r/client/").text
    assert "Nothing was changed" in told and f"#{b['id']}: Mobile" in told  # the record
    assert [run.records.get("client", r["id"])["phone"] for r in (a, b)] == [None, None]
    none = signed_in.post("/r/deal/bulk", data={"action": "update", "field": "stage"})
    assert none.status_code == 302
    assert "Select some records first." in client.get("/r/deal/").text


def test_bulk_delete(client, signed_in, run, deals):
    ids = bulk_ids(deals[0], deals[2])
    gone = signed_in.post("/r/deal/bulk", data={"ids": ids, "action": "delete"})
    assert gone.status_code == 302
    assert total(client, client.get("/r/deal/").text) == "3 records"
    assert len(run.records.trash("deal")) == 2


def test_global_search(client, signed_in, run):
    make_record(run, "client", name="Huang Lei")
    page = client.get("/search?q=huang")
    assert "Huang Lei" in page.text and "Clients" in page.text
    part = signed_in.hx("GET", "/search?q=huang")
    assert "<html" not in part.text and "Huang Lei" in part.text


def test_sidebar_lists_types_and_views(client, signed_in):
    html = client.get("/r/deal/").text
    side = html[html.index('class="sidebar"'):html.index("</nav>", html.index('class="sidebar"'))]
    for text in ("People", "Clients", "Deals", "All deals", "Open deals", "Pipeline", "Closing"):
        assert text in side
    assert 'href="/r/deal/kanban/board"' in side and 'href="/r/deal/calendar/closing"' in side
    assert 'aria-current="page"' in side
    assert "Small shop" in html


def test_the_print_header_stylesheet_names_the_workspace_in_css_words(client, signed_in):
    from lowrise.web.pages import css_string

    assert css_string('A "B" \\ C\n<') == '"A \\22 B\\22  \\5c  C\\a \\3c "'
    resp = client.get("/print-head.css?l=en")
    assert resp.status_code == 200 and resp.mimetype == "text/css"
    css = resp.get_data(as_text=True)
    assert css.startswith("@page { @top-left { content: \"") and "counter" not in css
