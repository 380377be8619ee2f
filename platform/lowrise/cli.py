"""The `lowrise` command: check, migrate, seed, serve, new."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from lowrise.actor import Actor
from lowrise.backup import cli as backup_cli
from lowrise.cli_import import import_command
from lowrise.cli_tokens import token as token_group
from lowrise.i18n import msg
from lowrise.rules import cli as rules_cli


class Context:
    """What every command needs, built lazily from the global options."""

    def __init__(self, workspace: str, database: str | None, instance: str):
        self.workspace_dir = Path(workspace)
        self.database = database
        self.instance = Path(instance)
        self._ws = None
        self._engine = None

    def workspace(self):
        if self._ws is None:
            from lowrise.workspace import WorkspaceError, load_workspace

            try:
                self._ws = load_workspace(self.workspace_dir)
            except WorkspaceError as exc:
                for p in exc.problems:
                    click.echo(str(p), err=True)
                n = len(exc.problems)
                raise click.ClickException(
                    f"{n} problem{'s' if n != 1 else ''} in the workspace at "
                    f"{self.workspace_dir.resolve()}; nothing was changed") from None
        return self._ws

    def engine(self):
        if self._engine is None:
            from lowrise.storage.db import create_engine, default_url

            self.instance.mkdir(parents=True, exist_ok=True)
            self._engine = create_engine(self.database or default_url(self.instance))
        return self._engine

    def schema(self):
        from lowrise.storage.tables import build_schema

        return build_schema(self.workspace())

    def records(self):
        from lowrise.storage.files import FileStore
        from lowrise.storage.records import Records

        return Records(self.engine(), self.schema(), files=FileStore(self.instance / "uploads"))


pass_ctx = click.make_pass_decorator(Context)


class _Main(click.Group):
    """The command group; a database that cannot be used is one line, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as exc:
            from lowrise.storage.db import default_url, is_outage, outage_line

            if not isinstance(ctx.obj, Context):
                raise
            url = ctx.obj.database or default_url(ctx.obj.instance)
            if not (is_outage(exc) or _sqlite_file_error(exc, url)):
                raise
            raise click.ClickException(outage_line(exc, url)) from None


def _sqlite_file_error(exc: BaseException, url: str) -> bool:
    """An SQLite database's folder missing or not writable (its lock file failed to open)."""
    import sqlalchemy as sa

    if not isinstance(exc, OSError) or not url.startswith("sqlite"):
        return False
    path = sa.engine.make_url(url).database or ""
    return bool(path) and str(exc.filename or "").startswith(path)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-w", "--workspace", envvar="LOWRISE_WORKSPACE", default=".", show_default=True,
              type=click.Path(file_okay=False), help="The workspace folder (workspace.yaml, "
              "schemas/, views/, automations/).")
@click.option("--database", envvar="DATABASE_URL", default=None,
              help="SQLAlchemy URL; default: an SQLite file in the instance folder.")
@click.option("--instance", envvar="LOWRISE_INSTANCE", default="instance", show_default=True,
              type=click.Path(file_okay=False), help="Where the database, uploads and secret "
              "key live.")
@click.version_option(package_name="lowrise")
@click.pass_context
def main(ctx, workspace, database, instance):
    """Lowrise: a folder of YAML becomes a records application on a real database.

    \b
    Start here:
      lowrise check        validate the workspace's YAML
      lowrise migrate      bring the database up to the workspace (prints the plan first)
      lowrise seed         fill an empty database with demo data
      lowrise serve        run the web application
    """
    ctx.obj = Context(workspace, database, instance)


@main.command()
@pass_ctx
def check(ctx: Context):
    """Validate every YAML file of the workspace; report all problems at once."""
    ws = ctx.workspace()
    if ws.documents:  # the template files: what each one uses must be there
        from lowrise.documents import template_problems

        if problems := template_problems(ws):
            for p in problems:
                click.echo(str(p), err=True)
            n = len(problems)
            raise click.ClickException(f"{n} problem{'s' if n != 1 else ''} in the document "
                                       f"templates of {ctx.workspace_dir.resolve()}")
    n_fields = sum(len(rt.user_fields) for rt in ws.record_types.values())
    docs = f", {len(ws.documents)} documents" if ws.documents else ""
    click.echo(f"{ctx.workspace_dir.resolve()}: OK — {len(ws.record_types)} record types, "
               f"{n_fields} fields, {len(ws.views)} views, {len(ws.rules)} automations{docs}")


@main.command()
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--prune", is_flag=True, help="Also drop columns and tables no field declares "
              "(their data is lost; asks first).")
@click.option("-y", "--yes", is_flag=True, help="Apply without asking (prune still lists what "
              "it drops).")
@pass_ctx
def migrate(ctx: Context, dry_run: bool, prune: bool, yes: bool):
    """Bring the database up to the workspace: prints the plan, then applies it."""
    from lowrise.storage.migrate import MigrationRefused, apply, plan

    schema = ctx.schema()
    engine = ctx.engine()
    with engine.connect() as conn:
        the_plan = plan(conn, schema)
    for line in the_plan.describe_lines():
        click.echo(line)
    if the_plan.refusals:
        raise click.ClickException("the migration is refused (see above); nothing was changed")
    nothing_to_do = the_plan.is_empty and not (prune and the_plan.unused)
    if nothing_to_do:
        click.echo("The database is up to date.")
    if dry_run or nothing_to_do:
        return
    if prune and the_plan.unused and not yes:
        click.confirm("Drop the columns and tables listed above? Their data will be lost",
                      abort=True)
    total = len(the_plan.changes) + (len(the_plan.unused) if prune else 0)
    with click.progressbar(length=total, label="Migrating") as bar:
        try:
            apply(engine, the_plan, prune=prune, progress=lambda _step: bar.update(1))
        except MigrationRefused as exc:
            raise click.ClickException(str(exc)) from None
    click.echo("Migrated.")


@main.command()
@pass_ctx
def recompute(ctx: Context):
    """Compute every lookup, rollup, count and formula across links again, on every record
    (after a rollup's filter or a lookup's field was changed in the YAML)."""
    from datetime import UTC, datetime

    from lowrise.storage import derived
    from lowrise.storage.db import write_transaction

    records = ctx.records()
    with write_transaction(records.engine) as conn:
        done = derived.refill_all(conn, records.schema, datetime.now(UTC))
    for name in done:
        click.echo(f"  {name}")
    click.echo(f"Recomputed {len(done)} field(s)." if done else
               "No lookups, rollups, counts or formulas across links to recompute.")


@main.command()
@click.option("--scale", type=float, default=1.0, show_default=True,
              help="Multiply the workspace's demo counts.")
@click.option("--seed", "seed_value", type=int, default=1, show_default=True,
              help="Random seed: the same seed gives the same data.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has records.")
@pass_ctx
def seed(ctx: Context, scale: float, seed_value: int, if_empty: bool):
    """Fill the database with realistic demo data."""
    from lowrise import seed as seeding

    records = ctx.records()
    if if_empty and not seeding.is_empty(records):
        click.echo("The database already has records; demo data not loaded.")
        return
    state = {}

    def progress(type_name: str, done: int, total: int):
        state.setdefault(type_name, 0)
        click.echo(f"\r  {type_name:<20} {done:>9,} / {total:,}", nl=done >= total)

    from lowrise.errors import BulkValidationError

    try:
        made = seeding.seed(records, scale=scale, seed_value=seed_value, progress=progress,
                            actor=Actor(name=msg("demo data"), system=True))
    except BulkValidationError as exc:
        for row, errors in list(exc.rows.items())[:10]:
            for name, message in errors.items():
                click.echo(f"  demo row {row + 1}: {name}: {message}", err=True)
        raise click.ClickException(
            f"demo data did not fit the workspace ({exc}); change the fields' sample: hints "
            "(docs/workspace-format.md, Demo data)") from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Loaded {sum(made.values()):,} demo records.")
    from lowrise import demo_accounts

    accounts = demo_accounts.make(records, _accounts(ctx), instance=ctx.instance)
    if accounts:
        click.echo("Demo accounts, one per role (also kept in "
                   f"{ctx.instance / demo_accounts.FILE_NAME}):")
        for line in demo_accounts.lines(accounts):
            click.echo(line)


@main.command()
@click.option("--host", envvar="LOWRISE_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="LOWRISE_PORT", default=5000, show_default=True, type=int)
@click.option("--debug", is_flag=True, help="Reload on code changes; show tracebacks.")
@click.option("--worker/--no-worker", "with_worker", default=None,
              help="Run the rules worker (timers, schedules, outbox): on a thread; with "
              "--production, as a process of its own. Default: on, except `lowrise serve` "
              "alone on PostgreSQL (run `lowrise worker` there).")
@click.option("--watch/--no-watch", default=True, show_default=True,
              help="Pick up changes to the workspace's YAML files without a restart.")
@click.option("--production", is_flag=True, help="Serve with gunicorn: several processes, "
              "keep-alive, and the rules worker as a supervised process (docs/deploy.md).")
@click.option("--processes", type=int, envvar="LOWRISE_WEB_PROCESSES",
              help="With --production: web processes (default: one per CPU).")
@click.option("--threads", type=int, envvar="LOWRISE_WEB_THREADS",
              help="With --production: threads of each web process (default 4).")
@pass_ctx
def serve(ctx: Context, host: str, port: int, debug: bool, with_worker: bool | None,
          watch: bool, production: bool, processes: int | None, threads: int | None):
    """Run the web application (the development server; --production for real use)."""
    from lowrise.serving.settings import SettingError, from_environment
    from lowrise.web import create_app

    try:  # a bad setting is refused before anything of this process is changed
        from_environment()
    except SettingError as exc:
        raise click.ClickException(str(exc)) from None
    os.environ["LOWRISE_WORKSPACE"] = str(ctx.workspace_dir.resolve())
    os.environ["LOWRISE_INSTANCE"] = str(ctx.instance.resolve())
    if ctx.database:
        os.environ["DATABASE_URL"] = ctx.database
    if production:
        if debug:
            raise click.UsageError("--debug is for the development server, not --production")
        from lowrise.serving.stack import serve as serve_production

        os.environ["LOWRISE_WATCH"] = "1" if watch else "0"
        try:
            sys.exit(serve_production(host=host, port=port, processes=processes,
                                      threads=threads, with_worker=with_worker is not False))
        except SettingError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        app = create_app({"LOWRISE_WATCH": watch})
    except SettingError as exc:
        raise click.ClickException(str(exc)) from None
    for line in app.config.get("SIGN_IN_HELP", []):
        click.echo(line)
    click.echo(f"Lowrise is serving {ctx.workspace_dir.resolve()} on http://{host}:{port} with "
               "the development server (one process); `lowrise serve --production` for real "
               "use.")
    runtime = app.extensions["lowrise"]
    if with_worker is None:
        with_worker = runtime.engine.dialect.name == "sqlite"
    # With the reloader, only the child process (which serves) runs the worker.
    if with_worker and (not debug or os.environ.get("WERKZEUG_RUN_MAIN") == "true"):
        from lowrise.rules import start_background_worker
        from lowrise.rules.heartbeat import interval_for

        app.extensions["lowrise_worker"] = start_background_worker(  # reloads update it
            app, heartbeat_every=interval_for(app.config["LOWRISE_WORKER_STALE"]))
        click.echo("The rules worker runs in the background (--no-worker turns it off).")
    app.run(host=host, port=port, debug=debug, use_reloader=debug)


main.add_command(rules_cli.worker)
main.add_command(rules_cli.rules)
main.add_command(import_command)
main.add_command(token_group)
main.add_command(backup_cli.backup)
main.add_command(backup_cli.restore)


@main.group()
def user():
    """Sign-in accounts: add, list, reset a password, deactivate."""


def _accounts(ctx: Context):
    from lowrise.accounts import Accounts

    return Accounts(ctx.engine())


@user.command("add")
@click.argument("email")
@click.option("--name", default="", help="The person's name as shown in the app.")
@click.option("--role", "roles", multiple=True, help="A role from workspace.yaml (repeatable).")
@click.option("--staff", "staff_id", type=int, default=None,
              help="The id of the person's record of the users type (who `me` is).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="At least 8 characters, not a common or trivial one, not the e-mail or "
              "name (asked for when not given).")
@pass_ctx
def user_add(ctx: Context, email: str, name: str, roles: tuple[str, ...], staff_id: int | None,
             password: str):
    """Add an account that signs in with EMAIL."""
    from lowrise.accounts import AccountError

    ws = ctx.workspace()
    unknown = [r for r in roles if r not in ws.roles]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)} is not a role of this workspace "
                                 f"(roles: {', '.join(ws.roles) or 'none'})", param_hint="--role")
    try:
        account = _accounts(ctx).add(email, password, name=name, staff_id=staff_id,
                                     roles=list(roles))
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Added {account.email} ({', '.join(account.roles) or 'no role'}).")


@user.command("list")
@pass_ctx
def user_list(ctx: Context):
    """List the accounts."""
    for u in _accounts(ctx).list():
        state = "" if u.active else "  (deactivated)"
        staff = f"  staff #{u.staff_id}" if u.staff_id else ""
        click.echo(f"{u.id:>4}  {u.email:<32} {','.join(u.roles) or '-':<20}{staff}{state}")


@user.command("password")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@pass_ctx
def user_password(ctx: Context, email: str, password: str):
    """Set a new password for EMAIL."""
    from lowrise.accounts import AccountError

    accounts = _accounts(ctx)
    account = accounts.by_email(email)
    if account is None:
        raise click.ClickException(f"there is no account {email}")
    try:
        accounts.set_password(account.id, password)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Password of {account.email} changed.")


@user.command("deactivate")
@click.argument("email")
@pass_ctx
def user_deactivate(ctx: Context, email: str):
    """Stop EMAIL from signing in (the account and its history stay)."""
    accounts = _accounts(ctx)
    account = accounts.by_email(email)
    if account is None:
        raise click.ClickException(f"there is no account {email}")
    accounts.set_active(account.id, False)
    click.echo(f"{account.email} can no longer sign in.")


def _template_names() -> list[str]:
    from lowrise.templates import template_folders

    return list(template_folders())


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--template", default="real_estate", show_default=True,
              type=click.Choice(_template_names()), help="The template to start from "
              "(`lowrise templates` lists them).")
def new(directory: str, template: str):
    """Create a new workspace from a ready-made template (never overwrites)."""
    from lowrise.templates import TemplateError, clone

    try:
        dest = clone(template, directory)
    except TemplateError as exc:
        raise click.ClickException(str(exc)) from None
    from lowrise.workspace import load_workspace
    from lowrise.workspace.editor_schemas import write as write_schemas

    write_schemas(dest, load_workspace(dest))  # editor hints that work in any clone
    click.echo(f"Created {dest} from the {template} template. Next:\n"
               f"  cd {dest} && lowrise migrate && lowrise seed && lowrise serve")


@main.command("schema")
@pass_ctx
def schema_(ctx: Context):
    """Write the workspace's JSON Schemas for editors into json-schemas/ (field names of
    each record type in views, record types in automations, rule fixtures) and point every
    YAML file's first line at its schema by a relative path."""
    from lowrise.workspace.editor_schemas import FOLDER, write

    root = ctx.workspace_dir
    changed = write(root, ctx.workspace())
    click.echo(f"{len(changed)} file(s) written or updated; the schemas are in "
               f"{root / FOLDER}")


@main.command("templates")
@click.option("--locale", default="en", show_default=True, help="The language to list in.")
def templates_(locale: str):
    """List the ready-made templates `lowrise new --template` starts from."""
    from lowrise.templates import gallery, iter_summary
    from lowrise.workspace import WorkspaceError

    for name, t in gallery().items():
        try:
            lines = list(iter_summary(t, locale))
        except WorkspaceError as exc:
            lines = [t.title.get(locale), f"has {len(exc.problems)} problems: "
                     f"lowrise -w {t.path} check"]
        click.echo(click.style(name, bold=True) + f"  {lines[0]}")
        for line in lines[1:]:
            click.echo(f"    {line}")


@main.command("export-template")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--with-data", is_flag=True, help="Include the records and attached files, as "
              "sample data (read in one snapshot).")
@pass_ctx
def export_template(ctx: Context, out: str, with_data: bool):
    """Write the workspace (and, --with-data, its records) as a template archive (.zip).

    A template, not a backup: an import gives the records new ids and starts their versions
    again, and the archive does not carry accounts, API tokens, audit history, comments,
    notifications, pending timers, the outbox, the trash or imports. `lowrise backup`
    carries all of them.
    """
    from lowrise.template_archive import export_template as export
    from lowrise.templates import TemplateError

    try:
        manifest = export(ctx.workspace(), out, records=ctx.records() if with_data else None,
                          with_data=with_data)
    except TemplateError as exc:
        raise click.ClickException(str(exc)) from None
    what = f", {sum(manifest.records.values()):,} records" if with_data else ""
    click.echo(f"Wrote {out}: {len(manifest.files)} files{what}.")


@main.command("import-template")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--no-data", is_flag=True, help="Only the YAML, even if the archive has data.")
@click.pass_context
def import_template(click_ctx, archive: str, directory: str, no_data: bool):
    """Create a new workspace in DIRECTORY from a template archive: check, migrate, load data.

    The database is --database, or an SQLite file in DIRECTORY/instance (or --instance).
    """
    from lowrise.template_archive import import_template as load
    from lowrise.templates import TemplateError
    from lowrise.workspace import WorkspaceError

    ctx: Context = click_ctx.obj
    explicit = click_ctx.find_root().get_parameter_source("instance")
    instance = ctx.instance if explicit != click.core.ParameterSource.DEFAULT else None
    try:
        result = load(archive, directory, database_url=ctx.database, instance=instance,
                      with_data=not no_data)
    except WorkspaceError as exc:
        for p in exc.problems:
            click.echo(str(p), err=True)
        raise click.ClickException(f"{len(exc.problems)} problem(s) in the archive's "
                                   "workspace; nothing was changed") from None
    except TemplateError as exc:
        raise click.ClickException(str(exc)) from None
    for line in result.warnings:
        click.echo(f"warning: {line}", err=True)
    loaded = sum(result.records.values())
    click.echo(f"Created {result.path} ({len(result.steps)} migration steps, {loaded:,} "
               f"records loaded). Next:\n  cd {result.path} && lowrise serve")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
