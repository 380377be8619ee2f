"""A consultant's satisfaction in the flagship is the average score of the client feedback
about them (surveys after viewings and after handovers): a rollup that follows the feedback
records, never a number typed by hand; on both databases, with the flagship's rules."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from lowrise.actor import Actor
from lowrise.errors import Forbidden, ValidationError
from lowrise.rules.engine import install as install_rules
from lowrise.storage import migrate as mig
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
SYSTEM = Actor(name="setup", system=True, clock=lambda: NOW)


@pytest.fixture
def office(engine):
    schema = build_schema(load_workspace(ROOT))
    with engine.connect() as conn:
        plan = mig.plan(conn, schema)
    mig.apply(engine, plan)
    records = Records(engine, schema)
    install_rules(records)
    mk = lambda t, **v: records.create(t, v, SYSTEM)  # noqa: E731
    boss = mk("staff", name="文磊", role="manager")["id"]
    li = mk("staff", name="李秀英", role="consultant", manager=boss)["id"]
    client = mk("client", name="张伟", phone="13812345678", source="walk_in",
                consultant=li)["id"]
    case = mk("case", client=client, consultant=li, opened_on=date(2026, 11, 1),
              stage="lead")["id"]
    return {"records": records, "boss": boss, "li": li, "client": client, "case": case,
            "manager": Actor(user=boss, name="文磊", roles=frozenset({"manager"}),
                             clock=lambda: NOW),
            "consultant": Actor(user=li, name="李秀英", roles=frozenset({"consultant"}),
                                clock=lambda: NOW)}


def test_satisfaction_is_the_average_of_the_feedback_scores(office):
    recs, li = office["records"], office["li"]
    assert recs.get("staff", li)["satisfaction"] is None  # no feedback yet
    first = recs.create("feedback", {"case": office["case"], "kind": "after_viewing",
                                     "score": 4, "surveyed_on": date(2026, 11, 5)},
                        office["manager"])
    # the feedback is about the case's consultant and client (feedback_from_case)
    assert (first["consultant"], first["client"]) == (li, office["client"])
    assert Decimal(str(recs.get("staff", li)["satisfaction"])) == Decimal(4)
    recs.create("feedback", {"case": office["case"], "kind": "after_handover", "score": 5,
                             "surveyed_on": date(2026, 12, 1)}, office["manager"])
    assert Decimal(str(recs.get("staff", li)["satisfaction"])) == Decimal("4.5")
    recs.update("feedback", first["id"], {"score": 2}, office["manager"],
                expected_version=recs.get("feedback", first["id"])["version"])
    assert Decimal(str(recs.get("staff", li)["satisfaction"])) == Decimal("3.5")


def test_nobody_types_a_satisfaction_and_consultants_do_not_rate_themselves(office):
    recs, li = office["records"], office["li"]
    with pytest.raises(ValidationError):  # computed: nobody sets it, administrators neither
        recs.update("staff", li, {"satisfaction": 5},
                    Actor(user=office["boss"], name="admin", roles=frozenset({"admin"}),
                          clock=lambda: NOW),
                    expected_version=recs.get("staff", li)["version"])
    with pytest.raises(Forbidden):
        recs.create("feedback", {"case": office["case"], "kind": "after_viewing", "score": 5,
                                 "surveyed_on": date(2026, 12, 2)}, office["consultant"])
    # ...but they read what their clients said of them
    recs.create("feedback", {"case": office["case"], "kind": "after_viewing", "score": 3,
                             "surveyed_on": date(2026, 12, 2)}, office["manager"])
    assert Decimal(str(recs.get("staff", li, actor=office["consultant"])["satisfaction"])) \
        == Decimal(3)
