"""The flagship's consultant leaderboard ranks consultants in post only: a manager's own
deals and a consultant who has left are not on it."""

from __future__ import annotations

import re

import sqlalchemy as sa

from test_dashboard_web import flagship  # noqa: F401 (a fixture)


def test_the_leaderboard_shows_active_consultants_only(flagship):  # noqa: F811
    from test_web_support import AuthActions

    run = flagship.extensions["lowrise"]
    with run.engine.begin() as conn:
        people = conn.execute(sa.text("SELECT id, name FROM staff ORDER BY id LIMIT 3")).all()
        deals = [r[0] for r in conn.execute(sa.text(
            'SELECT id FROM "case" WHERE stage IN (\'contracted\', \'handover\') ORDER BY id '
            "LIMIT 3"))]
        assert len(people) == 3 and len(deals) == 3
        (stays, left, boss) = people
        for (who, role, active), case_id in zip(
                ((stays, "consultant", True), (left, "consultant", False), (boss, "manager", True)),
                deals, strict=True):
            conn.execute(sa.text("UPDATE staff SET role = :r, active = :a WHERE id = :i"),
                         {"r": role, "a": active, "i": who.id})
            conn.execute(sa.text('UPDATE "case" SET consultant = :s, amount = 9000000, '
                                 "contracted_on = '2026-12-01' WHERE id = :i"),
                         {"s": who.id, "i": case_id})
    client = flagship.test_client()
    assert AuthActions(client).login().status_code == 302
    html = client.get("/d/dashboard?range=all").text
    board = re.search(r'id="w-leaderboard".*?(?=id="w-(?!leaderboard)|\Z)', html, re.S).group(0)
    assert stays.name in board, board[:3000]
    assert left.name not in board and boss.name not in board
