"""The flagship dashboard in headless Chromium (Debian's): the charts draw, the date range
switches the board in place, and a click on a funnel step opens the cases table filtered to
exactly that step's cases. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re

import pytest

from test_browser_flows import backend_of, browser, serving, shot, sign_in  # noqa: F401
from test_dashboard_web import build_flagship

pytest_plugins = ["test_web_support"]
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser_dashboard")]


@pytest.fixture
def server(tmp_path, db_url):
    """The flagship with demo data, served on 127.0.0.1 at a free port (as test_browser_flows
    serves it, set up as the system so that the flagship's permissions allow it)."""
    app = build_flagship(tmp_path, db_url)
    with serving(app) as base:
        yield app, base


def settled(page) -> None:
    """Until every chart has finished its entry animation."""
    page.wait_for_function("""() => [...document.querySelectorAll('canvas[data-drawn]')]
        .every(c => { const ch = Chart.getChart(c); return ch && !Chart.animator.running(ch); })""")


CANVAS_INK = """(id) => {
  const c = document.getElementById(id);
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let i = 3; i < px.length; i += 4) if (px[i] > 0) ink++;
  return ink;
}"""

# Where a funnel step's bar is on the page, from the chart itself.
STEP_POINT = """([id, i]) => {
  const c = document.getElementById(id);
  const bar = Chart.getChart(c).getDatasetMeta(0).data[i];
  const r = c.getBoundingClientRect();
  return {x: r.left + (bar.x + bar.base) / 2, y: r.top + bar.y};
}"""


def test_dashboard_draws_and_drills_down_from_the_funnel(server, browser, db_url):  # noqa: F811
    app, base = server
    tag = backend_of(db_url)
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.set_default_timeout(20000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, base, "/d/dashboard?range=all")
    page.wait_for_selector("#dashboard canvas[data-drawn]")
    page.wait_for_function("document.querySelectorAll('canvas[data-chart]').length === "
                           "document.querySelectorAll('canvas[data-drawn]').length")
    settled(page)
    canvases = page.eval_on_selector_all("canvas[data-chart]", "cs => cs.map(c => c.id)")
    assert len(canvases) >= 4
    for cid in canvases:
        assert page.evaluate(CANVAS_INK, cid) > 500, f"{cid} is blank"
    shot(page, "dashboard", tag)
    page.screenshot(path=str(_shots() / f"{tag}-dashboard-full.png"), full_page=True)

    # the numbers behind the funnel are in its table too (for screen readers and tests)
    page.click("#w-funnel details summary")
    rows = page.locator("#w-funnel table tbody tr")
    assert rows.count() == 8
    viewing = rows.nth(3)
    assert "带看" in viewing.inner_text()
    count = int(viewing.locator("td").first.inner_text().replace(",", ""))
    assert count > 0

    # the date range changes the board in place (htmx), and the URL with it
    page.select_option("#dash-range", "last_7_days")
    page.wait_for_url(re.compile(r"range=last_7_days"))
    page.wait_for_selector("#dashboard canvas[data-drawn]")
    page.goto(f"{base}/d/dashboard?range=all")
    page.wait_for_selector("#chart-funnel[data-drawn]")
    settled(page)

    # a click on the "site viewing" step opens the cases at that step or further on
    point = page.evaluate(STEP_POINT, ["chart-funnel", 3])
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url(re.compile(r"/r/case/.*f0=stage&o0=in&v0=viewing"))
    page.wait_for_selector("#total [data-total]")  # counted after the page
    total = int(page.get_attribute("#total [data-total]", "data-total"))
    assert total == count
    with app.app_context():
        run = app.extensions["lowrise"]
        from lowrise.storage import query

        with run.engine.connect() as conn:
            expected = query.count(conn, run.schema, "case", {"field": "stage", "op": "in", "value": [
                "viewing", "negotiation", "deposit", "contracted", "handover"]})
    assert total == expected
    shot(page, "dashboard-drilldown", tag)

    # a bar grouped through a link (the unit's layout) opens the cases of that layout
    page.goto(f"{base}/d/dashboard?range=all")
    page.wait_for_selector("#chart-sales_by_layout[data-drawn]")
    settled(page)
    bar = page.evaluate(BIGGEST_BAR, "chart-sales_by_layout")
    assert bar["units"] > 0
    page.mouse.click(bar["x"], bar["y"])
    page.wait_for_url(re.compile(r"/r/case/.*=unit\.layout&"))
    page.wait_for_selector("#total [data-total]")  # counted after the page
    assert int(page.get_attribute("#total [data-total]", "data-total")) == bar["units"]
    assert page.locator(".filter-problem").count() == 0
    shot(page, "dashboard-drilldown-link-path", tag)
    assert errors == []


# The biggest bar of a bar chart, where it is, and its units (the second measure).
BIGGEST_BAR = """(id) => {
  const c = document.getElementById(id);
  const chart = Chart.getChart(c);
  const data = chart.data.datasets[0].data;
  const i = data.indexOf(Math.max(...data));
  const units = chart.data.datasets.find(d => d.label === '套数').data[i];
  const bar = chart.getDatasetMeta(0).data[i];
  const r = c.getBoundingClientRect();
  const x = chart.options.indexAxis === 'y' ? (bar.x + bar.base) / 2 : bar.x;
  const y = chart.options.indexAxis === 'y' ? bar.y : (bar.y + bar.base) / 2;
  return {x: r.left + x, y: r.top + y, units: units};
}"""


def _shots():
    from test_browser_flows import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS
