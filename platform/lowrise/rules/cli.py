"""`lowrise worker` and `lowrise rules list | test | verify | runs | retry`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click


def _records(ctx):
    return ctx.records()


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"'{text}' is not a time like 2025-03-04T09:00 or "
                                 "2025-03-04T09:00+08:00") from None
    if value.tzinfo is None:
        from zoneinfo import ZoneInfo

        return value.replace(tzinfo=ZoneInfo("UTC"))
    return value.astimezone(UTC)


@click.command()
@click.option("--once", is_flag=True, help="One round (timers, schedules, outbox), then exit.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between rounds.")
@click.option("--batch", default=200, show_default=True, help="Timers or messages a batch.")
@click.pass_obj
def worker(ctx, once: bool, interval: float, batch: int):
    """Fire due timers, run schedules and deliver the outbox (e-mail needs LOWRISE_SMTP_HOST).

    Runs until Ctrl+C or SIGTERM, which end it after the current round. Any number may run,
    on any machines sharing the database.
    """
    import signal
    import threading

    from lowrise.rules.heartbeat import interval_for
    from lowrise.rules.worker import Worker
    from lowrise.serving import logs, settings

    try:
        app_settings = {**settings.defaults(), **settings.from_environment()}
    except settings.SettingError as exc:
        raise click.ClickException(str(exc)) from None
    logs.configure(app_settings["LOWRISE_LOG_FORMAT"])
    w = Worker(_records(ctx), batch=batch)
    if once:
        done = w.run_once()
        click.echo(", ".join(f"{v} {k.replace('_', ' ')}" for k, v in done.items()))
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"Worker {w.name} running (every {interval:g} s); Ctrl+C stops it.")
    w.run_forever(interval=interval, stop=stop,
                  heartbeat_every=interval_for(app_settings["LOWRISE_WORKER_STALE"]))
    click.echo("Stopped.")


@click.group()
def rules():
    """Automation rules: list them, try one on a record, verify the fixtures."""


@rules.command("list")
@click.pass_obj
def list_rules(ctx):
    """Every rule: its record type, trigger and actions."""
    from lowrise.rules.engine import rule_set

    for name, r in rule_set(ctx.workspace()).rules.items():
        state = "" if r.enabled else " (off)"
        acts = ", ".join(a.kind for a in r.actions) or "stage rules"
        click.echo(f"{name:<32} {r.record_type:<10} {r.trigger_kind:<14} {acts}{state}")


@rules.command("test")
@click.argument("rule")
@click.option("--record", "record_id", required=True, type=int, help="The record's id.")
@click.option("--at", "at", help="Pretend it is this time (for time rules), ISO format.")
@click.pass_obj
def test(ctx, rule: str, record_id: int, at: str | None):
    """Show what RULE would do to a record, without doing it (run, then rolled back)."""
    from lowrise.errors import LowriseError
    from lowrise.rules.tester import dry_run

    try:
        report = dry_run(_records(ctx), rule, record_id, at=_when(at))
    except LowriseError as exc:
        raise click.ClickException(str(exc)) from None
    for line in report.lines():
        click.echo(line)


@rules.command()
@click.argument("names", nargs=-1)
@click.pass_obj
def verify(ctx, names: tuple[str, ...]):
    """Run the rule fixtures (automations/fixtures/*.yaml) on a fresh temporary database."""
    from lowrise.rules.fixtures import verify as run

    results = run(ctx.workspace(), list(names) or None)
    if not results:
        raise click.ClickException("no fixtures found in automations/fixtures/")
    for r in results:
        click.echo(f"{'ok  ' if r.ok else 'FAIL'} {r.name} ({r.steps} events)")
        for p in r.problems:
            click.echo(f"     {p}")
    failed = sum(not r.ok for r in results)
    click.echo(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        sys.exit(1)


@rules.command()
@click.argument("rule", required=False)
@click.option("--failed", is_flag=True, help="Failures only.")
@click.option("--limit", default=20, show_default=True)
@click.pass_obj
def runs(ctx, rule: str | None, failed: bool, limit: int):
    """Recent runs (of one rule), newest first."""
    from lowrise.rules import history
    from lowrise.rules.tables import RuleTables

    records = _records(ctx)
    for r in history.runs(records.engine, RuleTables(records.schema.system), rule=rule,
                          failed_only=failed, limit=limit):
        what = "; ".join(a["result"] for a in r["actions"] or []) or r["error"] or ""
        click.echo(f"{r['at']:%Y-%m-%d %H:%M:%S} {r['rule']:<28} {r['record_type']} "
                   f"#{r['record_id']} {r['trigger']:<13} {r['status']:<8} {what[:100]}")


@rules.command()
@click.argument("ids", nargs=-1, type=int)
@click.option("--rule", help="Every failed message of this rule.")
@click.pass_obj
def retry(ctx, ids: tuple[int, ...], rule: str | None):
    """Send failed outbox messages again."""
    from lowrise.rules import history
    from lowrise.rules.tables import RuleTables

    records = _records(ctx)
    n = history.retry(records.engine, RuleTables(records.schema.system), list(ids) or None,
                      rule=rule)
    click.echo(f"{n} message(s) will be sent again.")
