"""Accessibility: axe-core (Deque's rules, 4.x, bundled by axe-playwright-python) on every kind
of page of the flagship in headless Chromium (Debian's), in Chinese and English, on a desktop
and at phone width (390 px): no serious or critical violation (contrast under 4.5:1, a
control without a name, a form field without a label, ARIA misused...).

The app's Content-Security-Policy allows no script from elsewhere, so axe is evaluated into
the page by the test driver, as a browser extension would be. The markup does not depend on
the database, so this runs on SQLite only.
"""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from lowrise import seed as seeding
from test_browser_flows import ROOT, browser, serving, sign_in  # noqa: F401 (fixtures)
from test_web_support import build_app

pytest_plugins = ["test_web_support"]
pytestmark = pytest.mark.browser

AXE = Axe()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The flagship with a little demo data on SQLite, served on a free port."""
    from lowrise.workspace import load_workspace

    folder = tmp_path_factory.mktemp("a11y")
    app = build_app(folder, f"sqlite:///{folder / 'a11y.db'}", load_workspace(ROOT))
    seeding.seed(app.extensions["lowrise"].records, scale=0.1, seed_value=3)
    with serving(app) as base:
        yield app, base
BAD = ("serious", "critical")


def pages(app) -> list[str]:
    """One page of every kind: a table, a board, a calendar and a dashboard (the first view of
    each), a record and the forms, and the app's own screens."""
    import sqlalchemy as sa

    run = app.extensions["lowrise"]
    out = ["/inbox", "/trash", "/templates", "/search?q=%E5%BC%A0", "/account/tokens",
           "/rules", "/sharing", "/r/case/import"]
    seen = set()
    for v in run.workspace.views.values():
        if v.type in seen:
            continue
        url = {"table": f"/r/{v.record_type}/table/{v.name}",
               "kanban": f"/r/{v.record_type}/kanban/{v.name}",
               "calendar": f"/r/{v.record_type}/calendar/{v.name}",
               "dashboard": f"/d/{v.name}"}.get(v.type)
        if url:
            seen.add(v.type)
            out.append(url)
    with run.engine.connect() as conn:
        for t in ("case", "contract"):
            table = run.schema.table(t)
            rid = conn.execute(sa.select(sa.func.min(table.c.id))).scalar()
            out += [f"/r/{t}/{rid}", f"/r/{t}/{rid}/edit"]
    return out


def violations(page) -> list[str]:
    results = AXE.run(page, options={"resultTypes": ["violations"],
                                     "runOnly": {"type": "tag",
                                                 "values": ["wcag2a", "wcag2aa", "wcag21a",
                                                            "wcag21aa", "best-practice"]}})
    out = []
    for v in results.response["violations"]:
        if v["impact"] in BAD:
            where = [" ".join(n["target"]) for n in v["nodes"][:3]]
            if v["id"] == "color-contrast":  # the colours, to find them in the CSS
                where = sorted({"{fgColor} on {bgColor} ({contrastRatio}) ".format(
                    **n["any"][0]["data"]) + n["target"][0] for n in v["nodes"]})[:6]
            out.append(f"{v['id']} ({v['impact']}, {len(v['nodes'])}): {v['help']} at {where}")
    return out


@pytest.mark.parametrize("locale", ["zh", "en"])
@pytest.mark.parametrize("width", [1366, 390])
def test_every_kind_of_page_passes_axe(server, browser, locale, width):  # noqa: F811
    app, base = server
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(20000)
    found: dict[str, list[str]] = {}
    page.goto(f"{base}/auth/login?next=/locale/{locale}")
    found["/auth/login"] = violations(page)
    sign_in(page, base, "/", locale=locale)
    for url in pages(app):
        page.goto(base + url)
        page.wait_for_load_state("networkidle")
        if problems := violations(page):
            found[url] = problems
    found = {k: v for k, v in found.items() if v}
    assert not found, "\n".join(f"{url}: {p}" for url, ps in found.items() for p in ps)
