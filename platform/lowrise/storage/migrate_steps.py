"""The steps of a schema migration plan, as data: each says in a line what it does or why it
will not (a person reads them in `lowrise migrate --dry-run` and on the settings page).
`lowrise.storage.migrate` plans them, `lowrise.storage.migrate_apply` runs them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from lowrise.i18n import Lazy, Msg, msg, tr

PRUNE_HINT = "`lowrise migrate --prune` drops it"
SHOW_ROWS = 20


def _n(count: int, one: str) -> str:
    return f"{count:,} {one if count == 1 else one + 's'}"


# -- steps ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One thing a migration does or reports. `phase` orders execution."""

    kind: ClassVar[str] = "step"
    phase: ClassVar[int] = 0
    changes: ClassVar[bool] = True  # False: reported only

    def describe(self) -> str:
        raise NotImplementedError

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self), "text": self.describe()}


@dataclass(frozen=True)
class CreateSystemTable(Step):
    kind = "create_system_table"
    phase = 0
    table: str

    def describe(self) -> str:
        return f"create system table {self.table}"


@dataclass(frozen=True)
class DropIndex(Step):
    kind = "drop_index"
    phase = 1
    table: str
    name: str
    columns: tuple[str, ...]

    def describe(self) -> str:
        return (f"drop index {self.name} on {self.table} ({', '.join(self.columns)}): "
                "no field or view needs it any more")


@dataclass(frozen=True)
class RenameColumn(Step):
    kind = "rename_column"
    phase = 2
    table: str
    old: str
    new: str
    values: int = 0

    def describe(self) -> str:
        return (f"rename column {self.table}.{self.old} → {self.table}.{self.new} "
                f"(keeps {_n(self.values, 'value')})")


@dataclass(frozen=True)
class ChangeColumnType(Step):
    kind = "change_column_type"
    phase = 3
    table: str
    column: str
    old_type: str
    new_type: str
    old_storage: str
    new_storage: str
    values: int = 0

    def describe(self) -> str:
        return (f"change column {self.table}.{self.column} from {self.old_type} to "
                f"{self.new_type} (converts {_n(self.values, 'value')})")


@dataclass(frozen=True)
class CreateTable(Step):
    kind = "create_table"
    phase = 4
    table: str
    fields: int

    def describe(self) -> str:
        return f"create table {self.table} ({_n(self.fields, 'field')})"


@dataclass(frozen=True)
class AddColumn(Step):
    kind = "add_column"
    phase = 5
    table: str
    column: str
    type: str

    def describe(self) -> str:
        return f"add column {self.table}.{self.column} ({self.type})"


@dataclass(frozen=True)
class CreateIndex(Step):
    kind = "create_index"
    phase = 6
    table: str
    name: str
    columns: tuple[str, ...]
    unique: bool = False
    why: str = ""
    desc: tuple[str, ...] = ()

    def describe(self) -> str:
        what = "unique index" if self.unique else "index"
        why = f": {self.why}" if self.why else ""
        cols = ", ".join(c + " descending" if c in self.desc else c for c in self.columns)
        return f"add {what} {self.name} on {self.table} ({cols}){why}"


@dataclass(frozen=True)
class EnsureSearch(Step):
    """Install, rebuild or remove a record type's quick-search structures."""

    kind = "ensure_search"
    phase = 7
    table: str
    fields: tuple[str, ...]
    action: str = "install"  # install | rebuild | remove

    def describe(self) -> str:
        if self.action == "remove":
            return f"remove quick search from {self.table}"
        verb = "set up" if self.action == "install" else "rebuild"
        return f"{verb} quick search on {self.table} ({', '.join(self.fields)})"


@dataclass(frozen=True)
class UnusedColumn(Step):
    """A column no field declares: it stays, with its data, unless pruned."""

    kind = "unused_column"
    phase = 8
    changes = False
    table: str
    column: str
    values: int = 0

    def describe(self) -> str:
        return (f"keep column {self.table}.{self.column}: no field declares it any more "
                f"({_n(self.values, 'value')}); {PRUNE_HINT}")

    def describe_drop(self) -> str:
        return f"drop column {self.table}.{self.column} ({_n(self.values, 'value')})"


@dataclass(frozen=True)
class UnusedTable(Step):
    """A table no record type declares: it stays, with its rows, unless pruned."""

    kind = "unused_table"
    phase = 9
    changes = False
    table: str
    rows: int = 0

    def describe(self) -> str:
        return (f"keep table {self.table}: no record type declares it any more "
                f"({_n(self.rows, 'row')}); {PRUNE_HINT}")

    def describe_drop(self) -> str:
        return f"drop table {self.table} ({_n(self.rows, 'row')})"


@dataclass(frozen=True)
class Refusal(Step):
    """Something the migration will not do, with the rows that stand in the way."""

    kind = "refusal"
    phase = 10
    changes = False
    table: str
    column: str
    what: str  # "change client.age from text to integer"
    why: str  # "3 values do not convert"
    rows: tuple[tuple[Any, str, str], ...] = ()  # (id, value, problem), the first SHOW_ROWS
    count: int = 0

    def describe(self) -> str:
        if isinstance(self.what, Msg):  # worded for translation: the whole refusal is one Msg
            return msg("cannot %(what)s: %(why)s%(rows)s", what=self.what, why=self.why,
                       rows=Lazy(self._rows))
        return f"cannot {self.what}: {self.why}{self._rows('en')}"

    def _rows(self, locale: str) -> str:
        lines = [f"  row {rid}: {value!r}: {tr(problem, locale)}" if problem else
                 f"  row {rid}: {value!r}" for rid, value, problem in self.rows]
        if self.count > len(self.rows):
            lines.append(f"  ... and {_n(self.count - len(self.rows), 'more row')}")
        return "".join("\n" + line for line in lines)
