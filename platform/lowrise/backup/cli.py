"""`lowrise backup OUT` and `lowrise restore ARCHIVE`."""

from __future__ import annotations

from pathlib import Path

import click


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""  # pragma: no cover


def _warn(lines: list[str]) -> None:
    for line in lines:
        click.echo(f"warning: {line}", err=True)


@click.command()
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--with-secrets", is_flag=True, help="Also carry the instance's secret key "
              "(instance/secret_key), so that sessions stay signed in after a restore. Keep "
              "such a backup as safe as the key.")
@click.pass_obj
def backup(ctx, out: str, with_secrets: bool):
    """Back up everything to OUT (a new .zip): every table of the database in one consistent
    snapshot (records, accounts, API tokens, audit, comments, notifications, timers, outbox,
    trash, imports, schema log; ids and counters kept), the uploaded files and the workspace.
    Safe while people work. `lowrise restore OUT` brings it back, on SQLite or PostgreSQL.
    """
    from lowrise.backup import BackupError
    from lowrise.backup import backup as take

    try:
        manifest = take(out, engine=ctx.engine(), workspace_dir=ctx.workspace_dir,
                        instance=ctx.instance, with_secrets=with_secrets)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    _warn(manifest.warnings)
    uploads = sum(1 for n in manifest.files if n.startswith("uploads/"))
    click.echo(f"Wrote {out} ({_size(Path(out).stat().st_size)}): {len(manifest.tables)} "
               f"tables, {manifest.total_rows:,} rows, {uploads:,} uploaded files, taken at "
               f"{manifest.created_at} from {manifest.database['kind']}"
               f"{', with the secret key' if with_secrets else ''}.")


@click.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.option("--instance", "instance", type=click.Path(file_okay=False), default=None,
              help="The instance folder to restore into (default: the --instance given to "
              "lowrise, or ./instance); it must be empty.")
@click.option("--database", "database", default=None, help="The database to restore into "
              "(default: the --database given to lowrise, else DATABASE_URL, else an SQLite "
              "file in the instance folder); it must be empty.")
@click.option("--workspace", "workspace", type=click.Path(file_okay=False), default=None,
              help="Where the workspace files go (default: the -w given to lowrise, or .).")
@click.option("--force", is_flag=True, help="Replace a database, instance folder or "
              "workspace files that hold something.")
@click.option("--verify-only", is_flag=True, help="Only check the backup: checksums, then a "
              "trial restore into a temporary SQLite database; changes nothing.")
@click.pass_obj
def restore(ctx, archive: str, instance: str | None, database: str | None,
            workspace: str | None, force: bool, verify_only: bool):
    """Restore a backup made by `lowrise backup`: the database (on SQLite or PostgreSQL,
    whichever the backup came from), the uploaded files and the workspace files. Nothing is
    changed unless every checksum is right, and a restore that fails leaves nothing behind.
    """
    from lowrise.backup import BackupError, verify
    from lowrise.backup import restore as bring_back

    try:
        if verify_only:
            result = verify(archive)
        else:
            result = bring_back(archive, instance=instance or ctx.instance,
                                workspace_dir=workspace or ctx.workspace_dir,
                                database_url=database or ctx.database, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    _warn(result.warnings)
    m = result.manifest
    what = (f"{len(m.tables)} tables, {sum(result.rows.values()):,} rows, {result.files:,} "
            f"uploaded files; taken {m.created_at} from {m.database.get('kind')}")
    if verify_only:
        click.echo(f"{archive} is sound: every checksum matches and it restores ({what}).")
        return
    click.echo(f"Restored {archive} into {result.database} ({what})"
               f"{'; workspace files written' if result.workspace_written else ''}.")
    if not m.with_secrets:
        click.echo("The backup carries no secret key: people sign in again once (the instance's "
                   "own key, or a new one made at the first start, signs their sessions).")
