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


def test_a_case_card_is_titled_by_its_client_and_the_board_stays_small(flagship):
    """The pipeline's cards are titled by the client's name (`card_title: client`), the case
    number under it; a card carries no move form of its own (one form for the board) and names
    its refusals, whose words come once a column: a card is well under 1 KB."""
    import re

    from test_web_support import AuthActions

    client = flagship.test_client()
    assert AuthActions(client).login().status_code == 302
    run = flagship.extensions["lowrise"]
    html = client.get("/r/case/kanban/cases_board").text
    board = html[html.index('<div class="board"'):]
    cards = re.findall(r'<li class="kcard".*?</li>', board, re.S)
    assert len(cards) > 20
    for card in cards[:5]:
        case = run.records.get("case", int(re.search(r'data-id="(\d+)"', card).group(1)))
        name = run.records.get("client", case["client"])["name"]
        assert re.search(r'class="kcard-title"[^>]*>([^<]*)<', card).group(1) == name
        assert f'<span class="kcard-sub">{case["case_no"]}</span>' in card
    assert "<form" not in board and board.count('form="kmove"') == len(cards)
    said = re.findall(r'<li hidden data-reasons=.*?</li>', board)
    size = sum(len(c.encode()) for c in cards + said) / len(cards)
    assert size < 900, size  # a card and its share of the reasons (was 2.5 KB)
