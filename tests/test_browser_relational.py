"""Lookups and rollups in headless Chromium (Debian's), on a phone's width (390 px), in
Chinese and English: a case shows its client's source and budget read-only, and after the
client's budget is changed in the browser, the case shows the new budget and headroom and
the client its open cases."""

from __future__ import annotations

import pytest

from lowrise.actor import SYSTEM
from test_browser_flows import backend_of, browser, serving, shot, sign_in  # noqa: F401 (a fixture)
from test_relational import FILES
from test_relational_web import VIEWS
from test_web_support import build_app, make_workspace

pytest_plugins = ["test_web_support"]
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser_relational")]


@pytest.fixture
def served(tmp_path, db_url):
    app = build_app(tmp_path, db_url, make_workspace({**FILES, **VIEWS}))
    r = app.extensions["lowrise"].records
    zhao = r.create("client", {"name": "Zhao", "source": "walk_in", "budget": "2000000"},
                    SYSTEM)
    case = r.create("case", {"title": "Flat 12", "client": zhao["id"], "amount": "1500000",
                             "stage": "open"}, SYSTEM)
    with serving(app) as base:
        yield base, zhao, case


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_a_phone_sees_the_client_on_the_case_and_it_follows_an_edit(served, browser,  # noqa: F811
                                                                     db_url, locale):
    base, zhao, case = served
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_default_timeout(15000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, base, f"/r/case/{case['id']}", locale=locale)
    body = page.inner_text("main")
    assert ("到访" if locale == "zh" else "Walk-in") in body
    assert "2,000,000" in body and "500,000" in body
    page.goto(f"{base}/r/case/{case['id']}/edit")
    assert page.locator("[name=client_source]").count() == 0  # never an input
    page.goto(f"{base}/r/client/{zhao['id']}/edit")
    page.fill("[name=budget]", "1800000")
    page.locator("form:has([name=budget]) button[type=submit]").first.click()
    page.wait_for_url(lambda url: "/edit" not in url)
    page.goto(f"{base}/r/case/{case['id']}")
    body = page.inner_text("main")
    assert "1,800,000" in body and "300,000" in body
    page.goto(f"{base}/r/client/table/clients")
    assert "1" in page.inner_text("main")
    # the table scrolls inside its own box; nothing of the page's content is wider
    width = page.evaluate("document.querySelector('main').scrollWidth")
    assert width <= 390 + 1, f"the page's content is {width} px wide on a 390 px phone"
    shot(page, f"relational-{locale}", backend_of(db_url))
    assert errors == []
