"""`lowrise import TYPE FILE`: records from a CSV (any common encoding) or XLSX file.

Part of the `lowrise` command (registered in cli.py); the work is lowrise.importer's.
"""

from __future__ import annotations

from pathlib import Path

import click

from lowrise import importer
from lowrise.actor import Actor
from lowrise.errors import Undisclosed


def _mapping(rt, sheet: importer.Sheet, pairs: tuple[str, ...], key: str | None = None,
             op: str = "create") -> list[str | None]:
    mapping = importer.guess_mapping(rt, sheet.headers, key=key)
    for pair in pairs:
        column, sep, field = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"'{pair}': write COLUMN=FIELD (FIELD empty to skip)",
                                     param_hint="--map")
        if column not in sheet.headers:
            raise click.BadParameter(f"the file has no column '{column}' (it has: "
                                     f"{', '.join(sheet.headers)})", param_hint="--map")
        mapping[sheet.headers.index(column)] = field.strip() or None
    return importer.check_mapping(rt, mapping, key=key, op=op)


def _whole_file(step, *args, **kw):
    """`step`, with a refusal of the whole file (a unique value registered on a record the
    --as person may not read in full) said as the command's error."""
    try:
        return step(*args, **kw)
    except Undisclosed as exc:
        raise click.ClickException(f"nothing was imported: {exc}") from None


@click.command("import")
@click.argument("type_name", metavar="TYPE")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--map", "pairs", multiple=True, metavar="COLUMN=FIELD",
              help="Match a column to a field (repeatable); columns named after a field or "
                   "its label match by themselves.")
@click.option("--valid-only", is_flag=True,
              help="Import the valid rows and skip the others (default: all or nothing).")
@click.option("--skip-automations", is_flag=True,
              help="Do not run automations on the new records.")
@click.option("--encoding", help="The CSV's encoding (default: detected, e.g. GB18030).")
@click.option("--errors", "errors_to", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the refused rows with an error column to this CSV file.")
@click.option("--update-by", "update_by", metavar="FIELD",
              help="Change existing records instead of creating new ones: each row finds its "
                   "record by FIELD (id or a unique field); a row that finds none is refused.")
@click.option("--upsert-by", "upsert_by", metavar="FIELD",
              help="Like --update-by, but a row that finds no record creates one.")
@click.option("--header-row", type=click.IntRange(min=1), metavar="N",
              help="The row that names the columns (the rows above it are skipped); by "
                   "default the first, below any title rows of one cell.")
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option("--as", "as_email", metavar="EMAIL",
              help="Record the new records as created by this user account.")
@click.pass_obj
def import_command(ctx, type_name: str, file: Path, pairs: tuple[str, ...], valid_only: bool,
                   skip_automations: bool, encoding: str | None, errors_to: Path | None,
                   update_by: str | None, upsert_by: str | None, header_row: int | None,
                   dry_run: bool, as_email: str | None):
    """Import records of TYPE from FILE (CSV, XLSX or ODS, the first sheet)."""
    if update_by and upsert_by:
        raise click.UsageError("give --update-by or --upsert-by, not both")
    key = update_by or upsert_by
    op = "update" if update_by else "upsert" if upsert_by else "create"
    ws = ctx.workspace()
    if type_name not in ws.record_types:
        raise click.ClickException(f"there is no record type '{type_name}' (there are: "
                                   f"{', '.join(ws.record_types)})")
    rt = ws.type(type_name)
    records = ctx.records()
    if not skip_automations:  # the rules run on each new record, and time rules set timers
        from lowrise.rules import install

        install(records)
    actor = Actor(name=f"import of {file.name}", system=True)  # the CLI is the operator
    if as_email:
        from lowrise.accounts import Accounts

        user = Accounts(ctx.engine()).by_email(as_email)
        if user is None:
            raise click.ClickException(f"there is no account {as_email}")
        actor = Actor(user=user.staff_id, name=user.name, roles=frozenset(user.roles))
    try:
        from lowrise import import_keyed

        import_keyed.check_key(records, rt, key, op)
        sheet = importer.read_file(file, encoding=encoding, header_row=header_row)
        mapping = _mapping(rt, sheet, pairs, key, op)
    except importer.ImportFileError as exc:
        raise click.ClickException(str(exc)) from None
    for header, name in zip(sheet.headers, mapping, strict=True):
        shown = f"{name} ({rt.fields[name].label})" if name else "(skipped)"
        click.echo(f"  {header or '(no header)':<24} → {shown}")
    enc = f", {sheet.encoding}" if sheet.encoding else ""
    above = f", the header in row {sheet.header_row}" if sheet.header_row > 1 else ""
    click.echo(f"{len(sheet.rows):,} rows in {file.name}{enc}{above}")
    prepared = importer.prepare(records, type_name, sheet, mapping, actor)
    if dry_run:
        checked = _whole_file(importer.check, records, type_name, prepared, actor, key=key,
                              op=op)
        errors = checked.errors
        created = updated = 0
        if checked.actions is not None:
            _show_changes(rt, checked, first=sheet.header_row + 1)
    else:
        with click.progressbar(length=len(sheet.rows), label="Importing") as bar:
            state = {"n": 0}

            def progress(n: int) -> None:
                bar.update(n - state["n"])
                state["n"] = n

            result = _whole_file(importer.run, records, type_name, prepared, actor,
                                 mode="valid" if valid_only else "all",
                                 run_hooks=not skip_automations, progress=progress,
                                 key=key, op=op)
        errors, created, updated = result.errors, result.created, result.updated
    for i, errs in list(errors.items())[:20]:
        click.echo(f"  row {i + sheet.header_row + 1}: {importer.describe(errs, rt)}", err=True)
    if len(errors) > 20:
        click.echo(f"  ... and {len(errors) - 20:,} more", err=True)
    if errors_to and errors:
        with open(errors_to, "w", encoding="utf-8-sig", newline="") as out:
            out.writelines(importer.error_rows_csv(sheet, errors, rt))
        click.echo(f"The refused rows are in {errors_to}, with the reason in the last column.")
    if dry_run:
        if op != "create":
            acts = checked.actions or []
            click.echo(f"Checked: {acts.count('update'):,} records would change, "
                       f"{acts.count('create'):,} would be created, {acts.count('same'):,} "
                       f"rows change nothing, {len(errors):,} refused. Nothing was written.")
            return
        click.echo(f"Checked: {len(sheet.rows) - len(errors):,} rows would be imported, "
                   f"{len(errors):,} refused. Nothing was written.")
        return
    if errors and not valid_only:
        raise click.ClickException(f"{len(errors):,} row(s) refused; nothing was imported "
                                   "(--valid-only imports the others)")
    automations = "without automations" if skip_automations else "automations ran"
    if op != "create":
        click.echo(f"Updated {updated:,} and created {created:,} {rt.label_plural} "
                   f"({automations}); {len(errors):,} row(s) refused.")
        return
    click.echo(f"Imported {created:,} {rt.label_plural} ({automations}); "
               f"{len(errors):,} row(s) refused.")


def _shown_value(value) -> str:
    return "(empty)" if value is None or value == "" else str(value)


def _show_changes(rt, checked: importer.Checked, limit: int = 20, first: int = 2) -> None:
    """Per row, what the import would do: the changed fields, before → after."""
    shown = 0
    for i, action in enumerate(checked.actions or []):
        if action not in ("create", "update") or shown >= limit:
            continue
        shown += 1
        if action == "create":
            click.echo(f"  row {i + first}: new record")
            continue
        parts = [f"{rt.fields[k].label}: {_shown_value(a)} → {_shown_value(b)}"
                 for k, (a, b) in checked.changes.get(i, {}).items()]
        click.echo(f"  row {i + first}: " + "; ".join(parts))
