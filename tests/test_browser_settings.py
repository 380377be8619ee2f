"""An administrator changes the schema from the browser, in headless Chromium (Debian's), on a
copy of the flagship workspace in tmp_path (never the repository's own YAML files).

Adds a field from the client settings page (preview, then apply), sees it in the new-client
form and, once added to the table view from the view's settings page, in the clients table,
at once; then finds it in the YAML file with the file's comments still there. Screenshots go
to test-artifacts/screenshots/ like the other browser tests'.
"""

from __future__ import annotations

import re

import pytest

from e2e_support import copy_workspace
from lowrise import seed as seeding
from test_browser_flows import backend_of, browser, serving, shot, sign_in  # noqa: F401
from test_web_settings import make_app
from test_web_support import PASSWORD, SYSTEM_ACTOR

pytest_plugins = ["test_web_support"]
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser_settings")]


def comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


@pytest.fixture
def server(tmp_path, db_url):
    """A copy of the flagship with a little demo data, served on 127.0.0.1 at a free port."""
    folder = copy_workspace(tmp_path / "ws")
    app = make_app(tmp_path, db_url, folder)
    run = app.extensions["lowrise"]
    seeding.seed(run.records, scale=0.05, seed_value=5, actor=SYSTEM_ACTOR)
    ada = run.records.create("staff", {"name": "Ada Admin"}, SYSTEM_ACTOR)
    run.accounts.add("ada@example.com", PASSWORD, name="Ada Admin", roles=["admin"],
                     staff_id=ada["id"])
    with serving(app) as base:
        yield app, folder, base


def test_an_admin_adds_a_field_and_sees_it_at_once(server, browser, db_url):  # noqa: F811
    app, folder, base = server
    tag = backend_of(db_url)
    yaml_before = (folder / "schemas" / "client.yaml").read_text(encoding="utf-8")
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.set_default_timeout(60000)  # a preview loads the whole workspace
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, base, "/r/client/")

    # the table's Settings link, then the add-field form
    page.click("#type-settings")
    page.wait_for_url(re.compile(r"/r/client/settings$"))
    page.fill("#new-name", "car_plate")
    page.select_option("#new-type", "text")
    page.fill("#new-label-en", "Car plate")
    page.fill("#new-label-zh", "车牌")
    page.select_option("#new-after", "phone")
    shot(page, "settings-add-field", tag)
    page.click("#add-field button[type=submit]")
    page.wait_for_url(re.compile(r"/settings/preview$"))
    assert "+  car_plate:" in page.inner_text("#diff")
    assert "添加列 client.car_plate" in page.inner_text("#plan")  # the plan in the reader's words
    shot(page, "settings-preview", tag)
    page.click("#apply button[type=submit]")
    page.wait_for_url(re.compile(r"/r/client/settings$"))
    assert "add field client.car_plate" in page.inner_text(".flashes")  # Applied: ...
    assert page.locator("#field-car_plate").is_visible()

    # in the form at once: create a client with a plate
    page.goto(f"{base}/r/client/new")
    label = page.locator("label[for=car_plate]").inner_text()
    assert label.startswith("车牌")
    page.fill("#name", "Plate Owner")
    page.fill("#phone", "139 8765 4321")
    page.fill("#car_plate", "沪A·12345")
    shot(page, "settings-new-field-in-form", tag)
    page.click("form.record-form button.btn-primary[type=submit]")
    page.wait_for_url(re.compile(r"/r/client/\d+$"))
    assert "沪A·12345" in page.inner_text("main")

    # in the table: add the column to the clients view from its settings page
    page.goto(f"{base}/r/client/settings/views/clients")
    page.select_option("#column-field", "car_plate")
    page.click("#add-column button[type=submit]")
    page.wait_for_url(re.compile(r"/settings/preview$"))
    page.click("#apply button[type=submit]")
    page.wait_for_url(re.compile(r"/settings/views/clients$"))
    page.goto(f"{base}/r/client/?q=Plate+Owner")
    assert label.split()[0] in page.inner_text("table thead")
    assert "沪A·12345" in page.inner_text("table tbody")
    shot(page, "settings-new-field-in-table", tag)

    # the YAML file has the field, and every comment it had
    yaml_after = (folder / "schemas" / "client.yaml").read_text(encoding="utf-8")
    assert "  car_plate:\n    type: text\n    label: {en: Car plate, zh: 车牌}\n" in yaml_after
    assert comments(yaml_after) == comments(yaml_before)
    assert yaml_after.index("car_plate:") > yaml_after.index("  phone:")
    assert "car_plate]" in (folder / "views" / "clients.yaml").read_text(encoding="utf-8")
    page.goto(f"{base}/settings/log")
    assert "add field client.car_plate" in page.inner_text("#schema-log")
    shot(page, "settings-log", tag)
    assert errors == []
