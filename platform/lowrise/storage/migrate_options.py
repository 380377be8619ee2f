"""Select and multi-select fields against the values records hold.

Whenever the options of a select or multi-select field change, or a field becomes one (a
text field turned into a select), every value the records hold must still be an option.
The plan reads each distinct stored value once and reads it through the field type (a label
becomes its option's value) after the options' `renamed_from` (an old value an option now
stands for):

- values that read as another option's value are rewritten in place (`MapOptions`, one
  UPDATE per distinct value);
- values that are no option at all refuse the migration, like a type change whose values
  do not convert, with how many records hold which value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import sqlalchemy as sa

from lowrise.errors import FieldError
from lowrise.i18n import msg, msg_n
from lowrise.workspace.model import Field

from .migrate_steps import SHOW_ROWS, Refusal, Step
from .migrate_storage import convert_value

CHOICE = ("select", "multi_select")


@dataclass(frozen=True)
class MapOptions(Step):
    """Rewrite stored values of a choice field to the options they now read as."""

    kind: ClassVar[str] = "map_options"
    phase: ClassVar[int] = 3
    table: str
    column: str
    pairs: tuple[tuple[str, str], ...] = ()  # (stored, rewritten), as planned
    values: int = 0  # records changed

    def describe(self) -> str:
        shown = "; ".join(f"{_words(a)} → {_words(b)}" for a, b in self.pairs[:SHOW_ROWS])
        if len(self.pairs) > SHOW_ROWS:
            shown += "; …"
        return msg_n("map the values of %(table)s.%(column)s to options: %(pairs)s "
                     "(%(n)s record)",
                     "map the values of %(table)s.%(column)s to options: %(pairs)s "
                     "(%(n)s records)", self.values, table=self.table, column=self.column,
                     pairs=shown)


def _same_set(f: Field, stored: Any, new: Any) -> bool:
    """A multi-select's options in another order are the same value (options reordered)."""
    return f.kind.has_options and f.kind.multiple and isinstance(stored, str) and isinstance(new, str) \
        and set(stored.strip("|").split("|")) == set(new.strip("|").split("|"))


def _words(stored: str) -> str:
    """A stored choice as a person reads it: a multi-select's |a|b| as a, b."""
    return ", ".join(stored.strip("|").split("|")) if stored.startswith("|") else stored


def distinct_values(conn: sa.Connection, table: str, column: str) -> list[tuple[Any, int, int]]:
    """(stored value, how many records, the first record's id) of every value held."""
    t = sa.table(table, sa.column("id"), sa.column(column))
    col = t.c[column]
    return [tuple(r) for r in conn.execute(
        sa.select(col, sa.func.count(), sa.func.min(t.c.id)).where(col.is_not(None))
        .group_by(col).order_by(sa.func.min(t.c.id)))]


def read_values(conn: sa.Connection, table: str, source: str, f: Field
                ) -> tuple[list[tuple[str, str, int]], list[tuple[Any, str, Any, int]]]:
    """Every distinct stored value read through the field: (stored, rewritten, records) of
    those that change, and (first id, stored, problem, records) of those that are no option."""
    changes, failures = [], []
    for stored, n, first in distinct_values(conn, table, source):
        try:
            new = convert_value(f, stored)
        except FieldError as exc:
            failures.append((first, stored, exc.message, n))
            continue
        if new != stored and not _same_set(f, stored, new):
            changes.append((stored, new, n))
    return changes, failures


def plan_options(conn: sa.Connection, table: str, source: str, f: Field,
                 retyped_from: str | None = None) -> list[Step]:
    """The steps keeping a choice field's stored values options: MapOptions and/or a
    Refusal. `source`: the column as it is named now (before a rename)."""
    changes, failures = read_values(conn, table, source, f)
    if failures:
        return [_refusal(table, f, failures, retyped_from)]
    if not changes:
        return []
    return [MapOptions(table, f.name, tuple((a, b) for a, b, _ in changes),
                       sum(n for _, _, n in changes))]


def _refusal(table: str, f: Field, failures: list[tuple[Any, str, Any, int]],
             retyped_from: str | None) -> Refusal:
    held = sum(n for *_, n in failures)
    values = ", ".join(f"{_words(v)} ×{n}" for _, v, _, n in failures[:SHOW_ROWS])
    what = (msg("change %(table)s.%(column)s from %(old)s to %(new)s", table=table,
                column=f.name, old=retyped_from, new=f.type) if retyped_from else
            msg("keep the values of %(table)s.%(column)s", table=table, column=f.name))
    why = msg_n("%(n)s record holds a value that is not an option (%(values)s); give the "
                "option that should take it renamed_from: <that value>, or change the "
                "record first",
                "%(n)s records hold values that are not options (%(values)s); give the "
                "options that should take them renamed_from: <those values>, or change "
                "the records first", held, values=values)
    rows = tuple((first, _words(v), problem) for first, v, problem, _ in failures[:SHOW_ROWS])
    return Refusal(table, f.name, what, why, rows, len(failures))
