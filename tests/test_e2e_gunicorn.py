"""The flagship behind gunicorn with two worker processes (`gunicorn -w 2
'lowrise.web:create_app()'`, the production server), in Chinese, on SQLite and PostgreSQL:
a comment appears once with its toast, an inline edit is saved or refused with the reason, a
kanban card moves or snaps back, and the htmx answers' headers read as plain HTTP.

gunicorn refuses a response with a header it cannot send (InvalidResponseHeader) where
Werkzeug's server drops the connection: the same tests as test_e2e_records, collected here
again from that module (pytest runs an imported test function with this module's fixtures:
this `server` and this `locale`).
"""

from __future__ import annotations

import pytest

from e2e_support import (  # noqa: F401 (fixtures)
    instance,
    records,
    serve,
    server_stays_clean,
    visitor,
)
from test_browser_flows import browser  # noqa: F401 (a fixture)
from test_e2e_records import (  # noqa: F401 (collected here with this module's server)
    test_a_comment_appears_once_with_its_toast,
    test_a_kanban_move_saved_and_refused,
    test_htmx_answers_carry_headers_a_server_can_send,
    test_inline_edit_saved_and_refused,
)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("e2e_gunicorn")]


@pytest.fixture(scope="module")
def server(instance):  # noqa: F811
    yield from serve(instance, "gunicorn")


@pytest.fixture
def locale():
    return "zh"


def test_two_workers_serve(server):  # noqa: F811
    """gunicorn runs its master and two workers, all stopped with the server."""
    import subprocess

    children = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True,
                              text=True).stdout.split()
    assert len(children) == 2
    assert "Booting worker" in server.log()
