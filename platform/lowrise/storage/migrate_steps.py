"""The steps of a schema migration plan, as data: each says in a line what it does or why it
will not (a person reads them in `lowrise migrate --dry-run` and on the settings page).
`lowrise.storage.migrate` plans them, `lowrise.storage.migrate_apply` runs them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from lowrise.i18n import Lazy, Msg, msg, msg_n, tr

PRUNE_HINT = msg("%(command)s drops it", command="`lowrise migrate --prune`")
SHOW_ROWS = 20


def _n(count: int, one: str) -> str:
    return f"{count:,} {one if count == 1 else one + 's'}"


def _values(count: int) -> Msg:
    return msg_n("%(count)s value", "%(count)s values", count, count=f"{count:,}")


#: what each kind of step does, in a word (the schema log counts them)
KIND_NAMES = {
    "create_system_table": msg("create system table"), "drop_index": msg("drop index"),
    "rename_column": msg("rename column"), "change_column_type": msg("change column type"),
    "create_table": msg("create table"), "add_column": msg("add column"),
    "create_index": msg("create index"), "ensure_search": msg("set up quick search"),
    "drop_column": msg("drop column"), "drop_table": msg("drop table"),
    "unused_column": msg("keep column"), "unused_table": msg("keep table"),
    "refusal": msg("refusal"),
}


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
        return msg("create system table %(table)s", table=self.table)


@dataclass(frozen=True)
class DropIndex(Step):
    kind = "drop_index"
    phase = 1
    table: str
    name: str
    columns: tuple[str, ...]

    def describe(self) -> str:
        return msg("drop index %(name)s on %(table)s (%(columns)s): no field or view needs it "
                   "any more", name=self.name, table=self.table, columns=", ".join(self.columns))


@dataclass(frozen=True)
class RenameColumn(Step):
    kind = "rename_column"
    phase = 2
    table: str
    old: str
    new: str
    values: int = 0

    def describe(self) -> str:
        return msg("rename column %(table)s.%(old)s → %(table)s.%(new)s (keeps %(values)s)",
                   table=self.table, old=self.old, new=self.new, values=_values(self.values))


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
        return msg("change column %(table)s.%(column)s from %(old)s to %(new)s (converts "
                   "%(values)s)", table=self.table, column=self.column, old=self.old_type,
                   new=self.new_type, values=_values(self.values))


@dataclass(frozen=True)
class CreateTable(Step):
    kind = "create_table"
    phase = 4
    table: str
    fields: int

    def describe(self) -> str:
        return msg_n("create table %(table)s (%(count)s field)",
                     "create table %(table)s (%(count)s fields)", self.fields,
                     table=self.table, count=f"{self.fields:,}")


@dataclass(frozen=True)
class AddColumn(Step):
    kind = "add_column"
    phase = 5
    table: str
    column: str
    type: str

    def describe(self) -> str:
        return msg("add column %(table)s.%(column)s (%(type)s)", table=self.table,
                   column=self.column, type=self.type)


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
        what = msg("unique index") if self.unique else msg("index")
        cols = ", ".join(c + " descending" if c in self.desc else c for c in self.columns)
        said = msg("add %(what)s %(name)s on %(table)s (%(columns)s)", what=what, name=self.name,
                   table=self.table, columns=cols)
        return msg("%(step)s: %(why)s", step=said, why=self.why) if self.why else said


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
            return msg("remove quick search from %(table)s", table=self.table)
        if self.action == "install":
            return msg("set up quick search on %(table)s (%(fields)s)", table=self.table,
                       fields=", ".join(self.fields))
        return msg("rebuild quick search on %(table)s (%(fields)s)", table=self.table,
                   fields=", ".join(self.fields))


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
        return msg("keep column %(table)s.%(column)s: no field declares it any more "
                   "(%(values)s); %(hint)s", table=self.table, column=self.column,
                   values=_values(self.values), hint=PRUNE_HINT)

    def describe_drop(self) -> str:
        return msg("drop column %(table)s.%(column)s (%(values)s)", table=self.table,
                   column=self.column, values=_values(self.values))


@dataclass(frozen=True)
class UnusedTable(Step):
    """A table no record type declares: it stays, with its rows, unless pruned."""

    kind = "unused_table"
    phase = 9
    changes = False
    table: str
    rows: int = 0

    def describe(self) -> str:
        return msg_n("keep table %(table)s: no record type declares it any more (%(count)s "
                     "row); %(hint)s", "keep table %(table)s: no record type declares it any "
                     "more (%(count)s rows); %(hint)s", self.rows, table=self.table,
                     count=f"{self.rows:,}", hint=PRUNE_HINT)

    def describe_drop(self) -> str:
        return msg_n("drop table %(table)s (%(count)s row)", "drop table %(table)s (%(count)s "
                     "rows)", self.rows, table=self.table, count=f"{self.rows:,}")


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
