"""`lowrise token add/list/revoke`: API tokens from the command line, with scopes (read-only,
some record types) and an expiry. The API enforces them (lowrise.web.api): a write with a
read-only token, or a call on a type the token does not name, is a 403; an expired token is
a 401. Within its scopes a token does what its account may.

Part of the `lowrise` command (registered in cli.py).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import click

_SPAN = re.compile(r"^(\d+)\s*([dhw])$")


def _expiry(text: str | None) -> datetime | None:
    """`30d`, `12h`, `2w` from now, or a day (`2026-12-31`: the end of that day, UTC)."""
    if not text:
        return None
    text = text.strip()
    if m := _SPAN.match(text):
        n, unit = int(m[1]), m[2]
        if n < 1:
            raise click.BadParameter("give a span of at least 1", param_hint="--expires")
        return datetime.now(UTC) + {"d": timedelta(days=n), "h": timedelta(hours=n),
                                    "w": timedelta(weeks=n)}[unit]
    try:
        day = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"'{text}': write a span (30d, 12h, 2w) or a day "
                                 "(2026-12-31)", param_hint="--expires") from None
    if len(text) <= 10:  # a day: valid through it
        day = day + timedelta(days=1)
    out = day if day.tzinfo else day.replace(tzinfo=UTC)
    if out <= datetime.now(UTC):
        raise click.BadParameter(f"'{text}' has passed", param_hint="--expires")
    return out


def _accounts(ctx):
    from lowrise.accounts import Accounts

    return Accounts(ctx.engine())


def _user(ctx, email: str):
    user = _accounts(ctx).by_email(email)
    if user is None:
        raise click.ClickException(f"there is no account {email}")
    return user


@click.group()
def token():
    """API tokens: add (with scopes and an expiry), list, revoke."""


@token.command("add")
@click.argument("email")
@click.option("--name", default="", help="What the token is for (shown in lists).")
@click.option("--read-only", is_flag=True, help="The token may only read.")
@click.option("--type", "types", multiple=True, metavar="TYPE",
              help="A record type the token reaches (repeatable; default: every type).")
@click.option("--expires", metavar="SPAN|DAY",
              help="When the token stops working: 30d, 12h, 2w, or a day (2026-12-31).")
@click.pass_obj
def token_add(ctx, email: str, name: str, read_only: bool, types: tuple[str, ...],
              expires: str | None):
    """Make an API token for the account EMAIL; it is shown once."""
    ws = ctx.workspace()
    unknown = [t for t in types if t not in ws.record_types]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)} is not a record type (there are: "
                                 f"{', '.join(ws.record_types)})", param_hint="--type")
    when = _expiry(expires)
    user = _user(ctx, email)
    secret, info = _accounts(ctx).create_token(user.id, name, expires_at=when,
                                               read_only=read_only, types=types or None)
    click.echo(secret)
    click.echo(f"Token #{info.id} for {user.email}: {_scope(info)}; "
               f"{_until(info)}. It is shown only now: keep it somewhere safe.", err=True)


def _scope(info) -> str:
    what = "read-only" if info.read_only else "read and write"
    where = ", ".join(info.types) if info.types else "every type"
    return f"{what}, {where}"


def _until(info) -> str:
    if info.expires_at is None:
        return "never expires"
    when = info.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"expired {when}" if info.expired() else f"expires {when}"


@token.command("list")
@click.argument("email")
@click.pass_obj
def token_list(ctx, email: str):
    """List the tokens of the account EMAIL (revoked and expired ones marked)."""
    user = _user(ctx, email)
    for info in _accounts(ctx).list_tokens(user.id):
        state = "revoked" if info.revoked_at else _until(info)
        click.echo(f"{info.id:>4}  {info.prefix}…  {info.name or '-':<20} {_scope(info):<32} "
                   f"{state}")


@token.command("revoke")
@click.argument("token_id", type=int)
@click.pass_obj
def token_revoke(ctx, token_id: int):
    """Revoke the token TOKEN_ID (its number in `lowrise token list`)."""
    from lowrise.accounts import AccountError

    try:
        _accounts(ctx).revoke_token(token_id)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Revoked token #{token_id}.")
