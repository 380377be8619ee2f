"""Records written without running rules still get their time rules' timers: demo data from
`lowrise seed` (the flagship's viewing, stale-case and complaint deadlines come due as they
would had people typed the records in), and imports that run automations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from lowrise import seed as seeding
from lowrise.i18n import from_text
from lowrise.rules.worker import Worker
from lowrise.storage import migrate as mig
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace
from test_rules_support import make_env

ROOT = Path(__file__).resolve().parents[1]


def _rows(engine: sa.Engine, table: sa.Table) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.id)).mappings()]


def test_seeded_records_get_timers_for_what_is_to_come_and_a_first_start_is_quiet(engine):
    """Demo data tells what happened before now: a moment already past reminds nobody (no
    timer), one still to come gets its timer as if people had typed the record in. So the
    worker's first round fires nothing and the inboxes hold only the reviews waiting."""
    ws = load_workspace(ROOT)
    schema = build_schema(ws)
    with engine.connect() as conn:
        plan = mig.plan(conn, schema)
    mig.apply(engine, plan)
    records = Records(engine, schema)
    started = datetime.now(UTC).replace(microsecond=0)
    made = seeding.seed(records, scale=0.2, seed_value=3)
    assert made["case"] == 100 and not records.hooks  # the caller's service is left as it was
    timers = _rows(engine, schema.system["lr_timers"])
    cases = {r["id"]: r for r in _rows(engine, schema.table("case"))}
    # the 24-hour viewing rule: exactly the open cases with a request, no viewing arranged
    # and a deadline still ahead have a timer, due 24 hours after the request
    want = {rid: c["viewing_requested_at"] + timedelta(hours=24) for rid, c in cases.items()
            if c["viewing_requested_at"] is not None and c["viewing_arranged_at"] is None
            and c["stage"] not in ("contracted", "handover", "lost")
            and c["viewing_requested_at"] + timedelta(hours=24) > started}
    got = {t["record_id"]: t["due_at"] for t in timers
           if t["rule"] == "viewing_arranged_within_24h"}
    assert got == want
    assert {t["rule"] for t in timers} >= {"stale_cases"}
    assert {t["status"] for t in timers} == {"pending"}
    assert all(t["due_at"] > started for t in timers)  # nothing about the past
    # stalled cases: only the open ones whose limit is still ahead
    stale = {t["record_id"] for t in timers if t["rule"] == "stale_cases"}
    assert stale and all(cases[i]["stage"] not in ("contracted", "handover", "lost")
                         for i in stale)
    # no rule ran on the demo data: nobody was notified, no case was reassigned
    assert _rows(engine, schema.system["lr_rule_runs"]) == []
    # the only notices are those of the demo contract reviews, waiting for their approvers
    notices = _rows(engine, schema.system["lr_notifications"])
    assert {(n["rule"], n["record_type"], from_text(n["title"], "zh")) for n in notices} <= {
        (None, "contract", "待您审批：合同审批")}
    seen = len(notices)
    # a first start fires nothing: no inbox fills with notices about the demo's past
    worker = Worker(records, senders={})
    assert worker.fire_due_timers() == 0
    assert len(_rows(engine, schema.system["lr_notifications"])) == seen
    # the timers still to come fire when their moment comes
    later = Worker(records, senders={},
                   clock=lambda: max(t["due_at"] for t in timers) + timedelta(minutes=1))
    assert later.fire_due_timers() > 0


IMPORT_RULE = """
record_type: ticket
trigger: {kind: time, field: requested_at, after: 24h}
actions:
  - set_fields: {priority: high}
"""


def test_an_import_that_runs_automations_sets_timers_and_one_that_does_not_sets_none(engine):
    env = make_env(engine, {"answer": IMPORT_RULE})
    rows = [{"title": f"t{i}", "requested_at": f"2025-03-0{i + 1}T10:00:00+00:00"}
            for i in range(3)]
    env.records.bulk_create("ticket", rows, env.actor(), run_hooks=False)
    assert env.rows("lr_timers") == []
    made = env.records.bulk_create("ticket", rows, env.actor(), batch_size=2)
    timers = env.rows("lr_timers")
    assert [t["record_id"] for t in timers] == [r["id"] for r in made]
    assert {t["status"] for t in timers} == {"pending"}


def test_cli_import_runs_the_automations_unless_told_not_to(tmp_path, db_url):
    from lowrise.cli import main
    from test_rules_support import BASE

    root = tmp_path / "ws"
    for name, text in {**BASE, "automations/answer.yaml": IMPORT_RULE}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    path = tmp_path / "tickets.csv"
    path.write_text("title,requested_at\nSink,2025-03-03 10:00\nTap,2025-03-04 10:00\n",
                    encoding="utf-8")
    base = ["-w", str(root), "--database", db_url, "--instance", str(tmp_path / "inst")]
    runner = CliRunner()
    assert runner.invoke(main, [*base, "migrate", "--yes"]).exit_code == 0
    skipped = runner.invoke(main, [*base, "import", "ticket", str(path), "--skip-automations"])
    assert skipped.exit_code == 0, skipped.output
    ran = runner.invoke(main, [*base, "import", "ticket", str(path)])
    assert ran.exit_code == 0 and "automations ran" in ran.output, ran.output
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"),
                              poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            timers = conn.execute(sa.text(
                "SELECT record_id FROM lr_timers ORDER BY record_id")).scalars().all()
    finally:
        engine.dispose()
    assert timers == [3, 4]  # the second import's two tickets only
