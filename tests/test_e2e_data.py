"""Data in and out, and a schema change, through a real server (`lowrise serve`), in headless
Chromium, in Chinese and in English, on SQLite and PostgreSQL: a CSV named in Chinese is
uploaded, previewed, imported (the valid rows) and its refused rows come back as a download
that keeps its Chinese name; a table exports to a file named after the view; an
administrator adds a field from the record type's settings page and finds it in the form.

File names travel in the Content-Disposition header, which a server sends only when it is
ASCII: the name goes in `filename*` (RFC 6266) and the browser shows it as it was.
"""

from __future__ import annotations

import re
import uuid

import pytest

from e2e_support import (  # noqa: F401 (instance ... visitor: fixtures)
    instance,
    label_of,
    lead,
    locale,
    say,
    server,
    server_stays_clean,
    view_label,
    visitor,
)
from test_browser_flows import browser  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("e2e_data")]


def phone() -> str:
    return "137" + str(uuid.uuid4().int)[:8]


def test_import_a_chinese_csv_then_export(visitor, instance, locale):  # noqa: F811
    tag = "e2e" + uuid.uuid4().hex[:8]
    csv = ("姓名,手机号,来源渠道\n"
           f"甲{tag},{phone()},自然到访\n"
           f"乙{tag},{phone()},老带新\n"
           f"丙{tag},,自然到访\n")  # no phone: refused
    page, errors = visitor.open("/r/client/import", locale=locale)
    page.set_input_files("#import-file", files=[{
        "name": "客户名单.csv", "mimeType": "text/csv", "buffer": csv.encode("gb18030")}])
    page.click("form[action$='/import'] button[type=submit]")
    page.wait_for_url(re.compile(r"/imports/\d+$"))
    counts = say("%(total)s rows: %(valid)s ready to import, %(bad)s will be refused.",
                 locale, total=3, valid=2, bad=1)
    assert page.inner_text("#import-counts") == counts
    assert f"甲{tag}" in page.inner_text("table.import-preview")
    with page.expect_response(lambda r: re.search(r"/imports/\d+$", r.url)
                              and r.request.method == "POST"):
        page.check("input[name=mode][value=valid]")  # import the valid rows only
    page.click("form[action$='/start'] button[type=submit]")
    done = page.locator("#import-progress .flash-info")
    done.filter(has_text=say("Imported %(n)s records.", locale, n=2)).wait_for()
    with page.expect_download() as refused:
        page.click("#import-progress a[href$='/refused.csv']")
    assert refused.value.suggested_filename == "客户名单-refused.csv"
    assert f"丙{tag}" in open(refused.value.path(), encoding="utf-8-sig").read()

    page.goto(f"{visitor.server.base}/r/client/?q={tag}")
    assert page.locator("tbody tr[data-id]").count() == 2
    with page.expect_download() as export:
        page.click(f"a[href*='export.csv']:has-text('{say('Export CSV', locale)}')")
    view = view_label(instance, "clients", locale)
    name = export.value.suggested_filename
    assert name.startswith(view + " ") and name.endswith(".csv"), name
    text = open(export.value.path(), encoding="utf-8-sig").read()
    assert f"甲{tag}" in text and f"乙{tag}" in text and f"丙{tag}" not in text
    assert errors == []


def test_an_admin_adds_a_field_on_the_settings_page(visitor, instance, locale):  # noqa: F811
    name = f"plate_{locale}_{uuid.uuid4().hex[:6]}"
    page, errors = visitor.open("/r/client/settings", locale=locale)
    page.fill("#new-name", name)
    page.select_option("#new-type", "text")
    page.fill("#new-label-en", f"Plate {name}")
    page.fill("#new-label-zh", f"车牌 {name}")
    page.select_option("#new-after", "phone")
    page.click("#add-field button[type=submit]")
    page.wait_for_url(re.compile(r"/settings/preview$"))
    assert f"+  {name}:" in page.inner_text("#diff")
    plan = "添加列" if locale == "zh" else "add column"
    assert f"{plan} client.{name}" in page.inner_text("#plan")  # the plan in the reader's words
    page.click("#apply button[type=submit]")
    page.wait_for_url(re.compile(r"/r/client/settings$"))
    flash = page.locator(".flash-success")
    flash.filter(has_text=lead("Applied: %(summary)s (%(steps)s)", locale)).wait_for()
    assert f"add field client.{name}" in flash.inner_text()
    assert page.locator(f"#field-{name}").is_visible()
    page.goto(f"{visitor.server.base}/r/client/new")
    shown = f"车牌 {name}" if locale == "zh" else f"Plate {name}"
    assert page.inner_text(f"label[for={name}]").startswith(shown)
    assert label_of(instance, "client", name, locale) == shown  # written to the YAML
    assert errors == []
