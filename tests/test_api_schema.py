"""Schemathesis against the REST API: every operation of the generated OpenAPI document,
with generated valid and invalid requests, on SQLite and on PostgreSQL.

Each response must conform to the document (status codes, content types, headers, bodies)
and no request may cause a server error. Examples are bounded to keep `make test` quick.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from conftest import BACKENDS, drop_pg_database, make_pg_database
from lowrise.openapi import document
from test_web_support import build_app, make_record, make_workspace

MAX_EXAMPLES = 8


@pytest.fixture(scope="module", params=BACKENDS)
def api_app(request, tmp_path_factory):
    """One app per backend for the whole module (an app per generated case would be slow)."""
    tmp = tmp_path_factory.mktemp(f"api-{request.param}")
    url = f"sqlite:///{tmp / 'api.db'}" if request.param == "sqlite" else make_pg_database()
    app = build_app(tmp, url, make_workspace())
    run = app.extensions["lowrise"]
    c = make_record(run, "client", name="Seed client", phone="13900000000")
    make_record(run, "deal", title="Seed deal", client=c["id"])
    user = run.accounts.by_email("ada@example.com")
    # The token is known before any case is generated (some are, at collection): store it
    # as create_token would.
    t = run.accounts.tokens
    with run.engine.begin() as conn:
        conn.execute(t.insert().values(user_id=user.id, name="schemathesis", prefix=TOKEN[:10],
                                       token_hash=hashlib.sha256(TOKEN.encode()).hexdigest(),
                                       created_at=datetime.now(UTC)))
    app.config["TEST_TOKEN"] = TOKEN
    yield app
    run.engine.dispose()
    if request.param != "sqlite":
        drop_pg_database(url)


# The document the app serves, built the same way (a lazily loaded schema fixture does not
# work with pytest 9 in this Schemathesis release); the test below checks they are equal.
schema = schemathesis.openapi.from_dict(document(make_workspace()))
TOKEN = "lr_" + secrets.token_urlsafe(32)


@schema.auth(refresh_interval=None)
class BearerToken:
    """The token of the current backend's app, set by Schemathesis itself, so that the cases
    it generates without credentials (to see them refused) stay without."""

    def get(self, case, context):
        return TOKEN

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def test_the_app_serves_this_document(api_app):
    token = api_app.config["TEST_TOKEN"]
    served = api_app.test_client().get("/api/v1/openapi.json",
                                       headers={"Authorization": f"Bearer {token}"}).json
    assert served == json.loads(json.dumps(document(make_workspace())))


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case, api_app):
    # One schema object serves both backends' apps: point it at this test's app (the probes
    # Schemathesis sends by itself, such as the one without credentials, go there too).
    case.operation.schema.app = api_app
    # Every check but "schema-valid data is accepted": what only the data decides (a unique
    # value taken, a link to a record that does not exist, an opaque cursor, a filter's
    # meaning) is refused with 4xx although it fits the document.
    case.call_and_validate(app=api_app, base_url="http://localhost",
                           excluded_checks=[positive_data_acceptance])
