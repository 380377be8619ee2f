"""Automations: rules from automations/*.yaml run inside each write's transaction; timers,
schedules and the outbox are run by a worker (see docs/automations.md).

The names below are imported on first use (storage.tables imports rules.tables early).

    install(records)                      the rules engine as a Records hook
    rule_set(workspace).check_move(...)   may this actor move a record to this stage?
    start_background_worker(app)          timers, schedules and the outbox on a thread
    Inbox(engine, RuleTables(schema.system))  the in-app notifications
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "install": "engine", "RuleEngine": "engine", "RuleSet": "engine", "rule_set": "engine",
    "Worker": "worker", "start_background_worker": "worker", "BackgroundWorker": "worker",
    "Inbox": "inbox", "RuleTables": "tables", "Verdict": "stages", "RuleError": "parse",
    "Blocked": "context", "RuleFailed": "context", "dry_run": "tester",
    "run_manual": "tester", "receive_webhook": "tester",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
