"""The flagship's rules: checked by the loader, each with a fixture that `lowrise rules verify`
runs on a fresh temporary SQLite database; and the loader's cross-checks of rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lowrise.cli import main
from lowrise.rules.engine import rule_set
from lowrise.rules.fixtures import fixture_files, verify
from lowrise.workspace import WorkspaceError, load_workspace
from test_rules_support import BASE, workspace

ROOT = Path(__file__).resolve().parents[1]


def test_every_flagship_rule_has_a_fixture_and_they_pass():
    ws = load_workspace(ROOT)
    rules = rule_set(ws).rules
    covered = {f.stem for f in fixture_files(ws)}
    assert set(rules) <= covered, f"rules without a fixture: {sorted(set(rules) - covered)}"
    results = verify(ws)
    assert results and all(r.ok for r in results), [(r.name, r.problems) for r in results
                                                    if not r.ok]


def test_rules_verify_command_reports_failures(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["-w", str(ROOT), "rules", "verify", "contract_signed"])
    assert result.exit_code == 0, result.output
    assert "ok   contract_signed" in result.output and "1 passed, 0 failed" in result.output


def test_rules_list_and_test_commands(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["-w", str(ROOT), "rules", "list"])
    assert "stale_cases" in result.output and "time" in result.output
    db = f"sqlite:///{tmp_path / 'x.db'}"
    base = ["-w", str(ROOT), "--database", db, "--instance", str(tmp_path)]
    assert runner.invoke(main, [*base, "migrate", "--yes"]).exit_code == 0
    from lowrise.actor import Actor
    from lowrise.storage.db import create_engine
    from lowrise.storage.records import Records
    from lowrise.storage.tables import build_schema

    ws = load_workspace(ROOT)
    records = Records(create_engine(db), build_schema(ws))
    a = Actor(name="t", system=True)
    boss = records.create("staff", {"name": "Boss", "role": "manager"}, a)
    amy = records.create("staff", {"name": "Amy", "manager": boss["id"]}, a)
    client = records.create("client", {"name": "C", "phone": "13800138000"}, a)
    case = records.create("case", {"client": client["id"], "opened_on": "2025-03-03",
                                   "consultant": amy["id"], "stage": "viewing",
                                   "viewing_requested_at": "2025-03-03T09:00+08:00"}, a)
    result = runner.invoke(main, [*base, "rules", "test", "viewing_arranged_within_24h",
                                  "--record", str(case["id"]), "--at", "2025-03-03T12:00+08:00"])
    assert result.exit_code == 0, result.output
    assert "not due" in result.output
    result = runner.invoke(main, [*base, "rules", "test", "viewing_arranged_within_24h",
                                  "--record", str(case["id"]), "--at", "2025-03-04T10:00+08:00"])
    assert "1. notify: notified #1, #2" in result.output, result.output
    assert "Nothing was changed" in result.output
    result = runner.invoke(main, [*base, "worker", "--once"])
    assert result.exit_code == 0 and "0 timers" in result.output, result.output
    result = runner.invoke(main, [*base, "rules", "runs"])
    assert result.exit_code == 0


BAD = [
    ("record_type: ticket\ntrigger: {kind: updated, fields: [titel]}\nactions:\n"
     "  - set_fields: {note: x}\n", "2:35: trigger.fields[0]: 'titel' is not a field of ticket (did you mean 'title'?)"),
    ("record_type: ticket\ntrigger: {kind: created}\nactions:\n  - set_fields: {nope: 1}\n",
     "'nope' is not a field of ticket"),
    ("record_type: ticket\ntrigger: {kind: created}\nactions:\n  - set_fields: {x: abc}\n",
     "x"),
    ("record_type: ticket\ntrigger: {kind: created}\nactions:\n"
     "  - set_fields: {x: {expr: \"__import__('os')\"}}\n", "is not a function here"),
    ("record_type: ticket\ntrigger: {kind: time, field: title, after: 1h}\nactions:\n"
     "  - comment: hi\n", "counts from a date or datetime field"),
    ("record_type: ticket\ntrigger: {kind: time, field: requested_at, after: soon}\nactions:\n"
     "  - comment: hi\n", "is not a duration"),
    ("record_type: ticket\ntrigger: {kind: schedule, cron: every day}\nactions:\n"
     "  - comment: hi\n", "is not a cron schedule"),
    ("record_type: ticket\ntrigger: {kind: created}\nactions:\n"
     "  - notify: {to: [title], title: hi}\n", "'title' is not a link or user field"),
    ("record_type: ticket\ntrigger: {kind: created}\nactions:\n"
     "  - comment: \"{{ unclosed\"\n", "does not compile"),
    ("record_type: ticket\ntrigger: {kind: created}\nconditions: {field: status, op: gt, "
     "value: nope}\nactions:\n  - comment: hi\n", "status"),
    ("record_type: ticket\nstages:\n  field: status\n  transitions: {new: [closed]}\n",
     "'closed' is not an option of status"),
    ("record_type: ticket\nstages:\n  field: status\n  roles: {open: [king]}\n",
     "'king' is not a role"),
    ("record_type: ticket\ntrigger: {kind: created}\nactions:\n"
     "  - block: {message: {fr: non}}\n", "'fr' is not one of the workspace's locales"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_the_loader_cross_checks_rules(text, message):
    with pytest.raises(WorkspaceError) as info:
        workspace({"bad": text})
    shown = str(info.value)
    assert "automations/bad.yaml:" in shown and message in shown, shown


FORMULAS = {"schemas/ticket.yaml": BASE["schemas/ticket.yaml"]
            + """  area: {type: integer}
  total:
    type: formula
    expression: x * y
    result: integer
  share:
    type: formula
    expression: round(x / y * 100, 1)
    result: decimal
    scale: 1
  age:
    type: formula
    expression: days_between(due_on, today())
    result: integer
"""}

FIXTURE = """
now: "2025-03-03T09:00:00+00:00"
events:
  - create: ticket
    ref: t
    values: {title: Sink, due_on: 2025-03-03, x: 3, y: 4}
    expect: {records: {t: {total: 12, share: 75.0, age: 0}}}
  - advance: 48h
expect:
  records: {t: {total: 12, share: "75", age: 2, count: 12}}
"""


def test_fixtures_check_formula_fields_after_they_are_computed(tmp_path):
    from lowrise.rules.fixtures import run_fixture

    ws = workspace({"count_total": """
record_type: ticket
trigger: {kind: created}
actions:
  - set_fields: {count: {expr: "x * y"}}
"""}, FORMULAS)
    path = tmp_path / "count_total.yaml"
    path.write_text(FIXTURE, encoding="utf-8")
    result = run_fixture(ws, path)
    assert result.ok, result.problems
    path.write_text(FIXTURE.replace("age: 2", "age: 3").replace("total: 12, share: 75.0",
                                                                 "total: 13, share: 75.0"),
                    encoding="utf-8")
    assert run_fixture(ws, path).problems == [
        "events[0]: t.total is 12, expected 13", "expect: t.age is 2, expected 3"]
    path.write_text(FIXTURE.replace("age: 2", "age: soon"), encoding="utf-8")
    (problem,) = run_fixture(ws, path).problems
    assert problem.startswith("expect: t.age: the expected value 'soon' does not fit the field")
