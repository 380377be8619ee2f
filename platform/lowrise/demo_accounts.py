"""Demo sign-in accounts: one per role of the workspace, each linked to a person of the users
type who has that role, so that demo data shows what each role sees.

A person "has" a role when a select field of the users type holds the role's name (the
flagship's staff.role). People are chosen so that they work together where the workspace
says how teams are made (a consultant in the department, else the team, of the chosen
manager). Passwords are
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
        if f.kind.has_options and not f.kind.multiple and roles & {o.value for o in f.options}:
            return f.name
    return None


class _Teams:
    """Who is in whose team (lowrise.access's team scope), read once per person."""

    def __init__(self, conn, schema, ws):
        from lowrise.access import model_of

        self.conn, self.schema, self.ws = conn, schema, ws
        self.teams = model_of(ws).teams
        self.cache: dict[int, set[int]] = {}
        self.depts: dict[int, set[int]] = {}

    def of(self, who: int) -> set[int]:
        from lowrise.access.scopes import members

        if who not in self.cache:
            self.cache[who] = set() if not (self.teams.manager or self.teams.field) else set(
                self.conn.execute(members(self.schema, self.ws.users_type, self.teams,
                                          who)).scalars())
        return self.cache[who]

    def related(self, a: int, b: int) -> bool:
        return a != b and (b in self.of(a) or a in self.of(b))

    def dept(self, who: int) -> set[int]:
        """The people of `who`'s departments and those below them (lowrise.org)."""
        from lowrise.org import below, my_departments, org_of, people_in

        org = org_of(self.ws)
        if who not in self.depts:
            self.depts[who] = set() if org is None else set(self.conn.execute(people_in(
                self.schema, org, below(self.schema, org, my_departments(
                    self.schema, org, who)))).scalars())
        return self.depts[who]

    def colleagues(self, a: int, b: int) -> bool:
        """In one department, or one in a department the other leads."""
        return a != b and (b in self.dept(a) or a in self.dept(b))


def _candidates(conn, t, field: str | None, options: set[str], role: str) -> list[int]:
    if field is not None and role in options:
        found = list(conn.execute(sa.select(t.c.id).where(t.c[field] == role)
                                  .order_by(t.c.id).limit(50)).scalars())
        if found:
            return found
    # nobody holds the role by a field: anyone
    return list(conn.execute(sa.select(t.c.id).order_by(t.c.id).limit(100)).scalars())


def make(records: Records, accounts: Accounts, *, instance: Path | None = None
         ) -> list[DemoAccount]:
    """An account per role that has none yet (`<role>@example.com`); returns those made."""
    ws, schema = records.schema.workspace, records.schema
    users = ws.record_types.get(ws.users_type or "")
    field = _role_field(ws)
    options = {o.value for o in users.fields[field].options} if users and field else set()
    wanted = [r for r in ws.roles if accounts.by_email(f"{r}@{DOMAIN}") is None]
    made: list[DemoAccount] = []
    staff: dict[str, int | None] = {r: None for r in wanted}
    with records.engine.connect() as conn:
        if users is not None:
            t = schema.table(users.name)
            teams = _Teams(conn, schema, ws)
            cands = {r: _candidates(conn, t, field, options, r) for r in wanted}
            picked: list[int] = []
            for i, role in enumerate(wanted):
                free = [c for c in cands[role] if c not in picked]
                later = [c for r in wanted[i + 1:] for c in cands[r]]
                # someone in a team with a person already chosen, else with someone who may
                # be chosen next, else anyone: the demo's consultant works for its manager
                close = [c for c in free if any(teams.colleagues(c, p) for p in picked)] or \
                    [c for c in free if any(teams.colleagues(c, o) for o in later)] or \
                    [c for c in free if any(teams.related(c, p) for p in picked)] or \
                    [c for c in free if any(teams.related(c, o) for o in later)]
                choice = (close or free or [None])[0]
                if choice is not None:
                    picked.append(choice)
                staff[role] = choice
    for role in wanted:
        label = str(ws.roles[role].label)
        name = label
        if users is not None:
            if staff[role] is None:
                values = {users.title_field: f"Demo {label}"} \
                    if users.title_field in users.fields else {}
                if role in options:
                    values[field] = role
                staff[role] = records.create(users.name, values, SYSTEM)["id"]
            record = records.get(users.name, staff[role])
            name = str(record.get(users.title_field) or label)
        password = secrets.token_urlsafe(9)
        accounts.add(f"{role}@{DOMAIN}", password, name=name, staff_id=staff[role],
                     roles=[role])
        made.append(DemoAccount(role, f"{role}@{DOMAIN}", password, staff[role], name))
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
