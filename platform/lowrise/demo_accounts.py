"""Demo sign-in accounts: one per role of the workspace, each linked to a person of the users
type who has that role, so that demo data shows what each role sees.

A person "has" a role when a select field of the users type holds the role's name (the
flagship's staff.role). People are chosen so that they work together where the workspace
says how teams are made (a consultant in the team of the chosen manager). Passwords are
random, printed once by `lowrise seed` and kept in the instance folder (readable by its
owner only) so that `lowrise serve` can print them again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from lowrise.accounts import Accounts
from lowrise.actor import SYSTEM
from lowrise.storage.records import Records

FILE_NAME = "demo-accounts.txt"
DOMAIN = "example.com"


@dataclass(frozen=True)
class DemoAccount:
    role: str
    email: str
    password: str
    staff_id: int | None
    name: str


def _role_field(ws) -> str | None:
    users = ws.record_types.get(ws.users_type or "")
    if users is None:
        return None
    roles = set(ws.roles)
    for f in users.user_fields:
        if f.type == "select" and roles & {o.value for o in f.options}:
            return f.name
    return None


def _related(conn, schema, ws, a: int, b: int) -> bool:
    """Whether one of the two people is in the other's team."""
    from lowrise.access import model_of
    from lowrise.access.scopes import members

    teams = model_of(ws).teams
    if not (teams.manager or teams.field):
        return False
    for x, y in ((a, b), (b, a)):
        if y in set(conn.execute(members(schema, ws.users_type, teams, x)).scalars()):
            return True
    return False


def make(records: Records, accounts: Accounts, *, instance: Path | None = None
         ) -> list[DemoAccount]:
    """An account per role that has none yet (`<role>@example.com`); returns those made."""
    ws, schema = records.schema.workspace, records.schema
    users = ws.record_types.get(ws.users_type or "")
    field = _role_field(ws)
    made: list[DemoAccount] = []
    picked: list[int] = []
    with records.engine.connect() as conn:
        for role_name, role in ws.roles.items():
            email = f"{role_name}@{DOMAIN}"
            if accounts.by_email(email) is not None:
                continue
            staff_id, name = None, str(role.label)
            if users is not None:
                t = schema.table(users.name)
                candidates: list[int] = []
                options = {o.value for o in users.fields[field].options} if field else set()
                if role_name in options:
                    candidates = list(conn.execute(sa.select(t.c.id).where(
                        t.c[field] == role_name).order_by(t.c.id).limit(50)).scalars())
                if not candidates:  # nobody holds the role by a field: anyone not taken
                    candidates = list(conn.execute(sa.select(t.c.id).order_by(t.c.id)
                                                   .limit(len(picked) + 50)).scalars())
                close = [c for c in candidates if c not in picked and any(
                    _related(conn, schema, ws, c, p) for p in picked)]
                free = [c for c in candidates if c not in picked]
                staff_id = (close or free or [None])[0]
                if staff_id is None:
                    values = {users.title_field: f"Demo {role.label}"} \
                        if users.title_field in users.fields else {}
                    if role_name in options:
                        values[field] = role_name
                    staff_id = records.create(users.name, values, SYSTEM)["id"]
                picked.append(staff_id)
                title = conn.execute(sa.select(t.c[users.title_field]).where(
                    t.c.id == staff_id)).scalar() if users.title_field in users.fields else None
                name = str(title or name)
            password = secrets.token_urlsafe(9)
            accounts.add(email, password, name=name, staff_id=staff_id, roles=[role_name])
            made.append(DemoAccount(role_name, email, password, staff_id, name))
    if instance is not None and made:
        save(instance, made)
    return made


def lines(made: list[DemoAccount]) -> list[str]:
    return [f"  {a.role:<12} {a.email:<28} password {a.password}   ({a.name}"
            f"{f', #{a.staff_id}' if a.staff_id else ''})" for a in made]


def save(instance: Path, made: list[DemoAccount]) -> None:
    """Append the demo accounts to instance/demo-accounts.txt (mode 600)."""
    path = Path(instance) / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write("\n".join(lines(made)) + "\n")
    try:
        path.chmod(0o600)
    except OSError:  # pragma: no cover - file systems without modes
        pass


def saved_lines(instance: Path) -> list[str]:
    """The demo accounts `lowrise seed` made in this instance, as printed then."""
    path = Path(instance) / FILE_NAME
    if not path.is_file():
        return []
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
