"""The flagship workspace (the repository root) as a web application: every page renders."""

from __future__ import annotations

from pathlib import Path

import pytest

from lowrise import seed as seeding
from test_web_support import build_app

pytest_plugins = ["test_web_support"]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def flagship(tmp_path, db_url):
    from lowrise.workspace import load_workspace

    app = build_app(tmp_path, db_url, load_workspace(ROOT))
    seeding.seed(app.extensions["lowrise"].records, scale=0.1, seed_value=7)
    yield app
    app.extensions["lowrise"].engine.dispose()


def test_every_page_of_the_flagship_renders(flagship):
    from test_web_support import AuthActions

    client = flagship.test_client()
    auth = AuthActions(client)
    assert auth.login().status_code == 302
    ws = flagship.extensions["lowrise"].workspace
    urls = ["/", "/trash", "/search?q=1"]
    for rt in ws.record_types.values():
        urls += [f"/r/{rt.name}/", f"/r/{rt.name}/new", f"/r/{rt.name}/1", f"/r/{rt.name}/1/edit"]
    for view in ws.views.values():
        kind = {"table": "table", "kanban": "kanban", "calendar": "calendar"}.get(view.type)
        if kind:
            urls.append(f"/r/{view.record_type}/{kind}/{view.name}")
    for locale in ws.locales:
        client.get(f"/locale/{locale}")
        for url in urls:
            resp = client.get(url, follow_redirects=True)
            assert resp.status_code == 200, (locale, url, resp.status_code)
    html = client.get("/r/case/kanban/cases_board").text
    assert 'data-value="lead"' in html and 'data-value="handover"' in html
    zh = client.get("/locale/zh") and client.get("/r/case/").text
    assert "销售案件" in zh
