"""Benchmark data for the flagship workspace, made fast: column by column, in chunks.

The demo-data seeder (`lowrise.seed`) makes one record at a time through the records
service, which is right for a demo and far too slow for a million cases. Here each column
is drawn from a pool of values built once from the field's `sample:` hint (through the
seeder's own Sampler), already converted to what the database stores (the column type's
bind processor), so a row costs a few list lookups. Ids are given explicitly (1..n in
insertion order), which is what lets links point at real records without a lookup.

Flagship knowledge is limited to the counts (`sizes`) and to contracts, which are made
for the contracted and handed-over cases, with the case's client and unit.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lowrise.expr import Expression
from lowrise.fields import FieldType
from lowrise.fields.computed import autonumber_format, autonumber_period
from lowrise.fields.relational import expression_of, is_derived, is_lookup
from lowrise.seed import Sampler, creation_order
from lowrise.storage.values import formula_order
from lowrise.workspace.model import Field, RecordType, Workspace

CHUNK = 50_000
WIDE_POOL = 100_000  # distinct values for numbers, dates and times (sort keys)
FAKER_POOL = 2_000  # Faker is slow: a few thousand names and addresses repeat fine
EMPTY_RATE = 0.05  # as the seeder: optional fields are sometimes left empty
CONTRACTED = ("contracted", "handover")
YEAR = 365 * 86400


def sizes(cases: int) -> dict[str, int]:
    """Rows per record type for a given number of cases (the flagship's proportions)."""
    return {
        "staff": 200,
        "training": 400,
        "client": max(10, cases * 3 // 10),
        "property": max(10, cases // 10),
        "case": cases,
        "follow_up": max(10, cases // 10),
        "dispute": max(10, cases // 100),
        # "contract" follows the cases: one per contracted or handed-over case.
    }


@dataclass
class Pool:
    """The values one column draws from: Python values and the same values as stored."""

    py: list[Any]
    db: list[Any]


@dataclass
class Generated:
    """What later tables need from earlier ones: row counts and a few columns of cases."""

    counts: dict[str, int] = field(default_factory=dict)
    kept: dict[tuple[str, str], list[Any]] = field(default_factory=dict)


class TableData:
    """Makes the rows of one record type's table, chunk by chunk, ready for executemany/COPY."""

    def __init__(self, ws: Workspace, rt: RecordType, table: sa.Table, dialect, *, seed: int,
                 now: datetime, gen: Generated, total: int):
        self.ws, self.rt, self.table, self.dialect = ws, rt, table, dialect
        self.now, self.gen, self.total = now, gen, total
        self.rng = random.Random(f"{seed}:{rt.name}")
        self.sampler = Sampler(ws, seed, now)
        self.columns = [c.name for c in table.columns]
        self.procs = {c.name: c.type.dialect_impl(dialect).bind_processor(dialect)
                      for c in table.columns}
        self.pools: dict[str, Pool] = {}
        self.formulas = [(f, Expression(f.config["expression"])) for f in formula_order(rt)]
        needed = set().union(*(e.names for _, e in self.formulas)) if self.formulas else set()
        # `sample: {from: link.field}`: the value of the linked record (a case's amount is its
        # unit's list price), for fields that are not links themselves.
        self.copies = {f.name: str(f.sample["from"]).partition(".")[::2]
                       for f in rt.fields.values()
                       if isinstance(f.sample, dict) and "from" in f.sample
                       and f.type not in ("link", "user") and not f.system}
        # A lookup is the linked record's field, and so is `client.budget` in a formula.
        for f in rt.fields.values():
            if is_lookup(f):
                self.copies[f.name] = (f.config["through"], f.config["field"])
        for n in needed:
            if "." in n:
                self.copies[n] = tuple(n.partition(".")[::2])
        # ... and the fields of this type that a later type copies that way.
        self.copied = sorted(copied_fields(ws).get(rt.name, ()))
        self.py_needed = (needed | {"stage", "client", "unit", "created_at"}
                          | {link for link, _ in self.copies.values()} | set(self.copied))
        for f in rt.fields.values():
            if pool := self._pool(f):
                self.pools[f.name] = pool

    # -- pools --------------------------------------------------------------------------
    def _stored(self, name: str, values: list[Any]) -> list[Any]:
        """Values as the column stores them: the field type's to_db, then the bind processor."""
        f, proc = self.rt.fields[name], self.procs[name]
        if type(f.kind).to_db is FieldType.to_db:  # the identity: skip a million calls
            return [proc(v) if v is not None else v for v in values] if proc else values
        values = [f.kind.to_db(f, v) for v in values]
        return [proc(v) if proc and v is not None else v for v in values]

    def _pool(self, f: Field) -> Pool | None:
        """A pool for fields whose values may repeat; None for ids, links, uniques, formulas."""
        if f.system or f.type in ("link", "user", "autonumber", "formula", "attachment") \
                or f.unique or f.name in self.copies or is_derived(f):
            return None
        hint = f.sample
        if isinstance(hint, dict) and "choices" in hint:
            values = [f.kind.parse(f, v) for v in hint["choices"]]
        elif f.type in ("date", "datetime"):
            values = self._moments(f, min(self.total, WIDE_POOL))
        else:
            faker = isinstance(hint, str) or f.type in ("text", "long_text", "email", "url",
                                                         "phone")
            size = min(self.total, FAKER_POOL if faker else WIDE_POOL)
            values = [self.sampler.value(f, {}, _no_links) for _ in range(max(size, 1))]
        if not f.required:
            values += [None] * max(1, int(len(values) * EMPTY_RATE / (1 - EMPTY_RATE)))
        return Pool(values, self._stored(f.name, values))

    def _moments(self, f: Field, size: int) -> list[Any]:
        """Dates or times within a year before now (or after, when the hint says future)."""
        hint = f.sample if isinstance(f.sample, str) else ""
        sign = 1 if "future" in hint else -1
        rng, now = self.rng, self.now
        out = [now + timedelta(seconds=sign * rng.randrange(YEAR)) for _ in range(size)]
        return [d.date() for d in out] if f.type == "date" else out

    # -- rows ---------------------------------------------------------------------------
    def input_rows(self, n: int, *, first_unique: int = 10**9) -> list[dict[str, Any]]:
        """`n` new records as an import would give them to `Records.bulk_create`."""
        rng = self.rng
        fields = [f for f in self.rt.user_fields  # read-only fields: nobody imports them
                  if not f.kind.generated and f.type != "attachment" and not f.read_only]
        out = []
        for i in range(n):
            row: dict[str, Any] = {}
            for f in fields:
                if f.name in self.pools:
                    values = self.pools[f.name].py
                    value = values[int(rng.random() * len(values))]
                elif f.type in ("link", "user"):
                    value = self._links(f, range(1, 2), {})[0]
                elif f.unique:
                    value = _unique(f, first_unique + i)
                else:
                    value = None
                # Every row names every field (None when empty), as the columns of an import.
                row[f.name] = value
            out.append(row)
        return out

    def chunks(self, size: int = CHUNK) -> Iterator[list[tuple]]:
        """The table's rows as tuples in `self.columns` order, `size` at a time."""
        for start in range(1, self.total + 1, size):
            n = min(size, self.total - start + 1)
            cols = self._chunk(start, n)
            yield list(zip(*(cols[c] for c in self.columns), strict=True))

    def _chunk(self, start: int, n: int) -> dict[str, list[Any]]:
        rng, rt = self.rng, self.rt
        ids = range(start, start + n)
        db: dict[str, list[Any]] = {}
        py: dict[str, list[Any]] = {}
        for f in rt.fields.values():
            name = f.name
            if name in self.pools:
                pool = self.pools[name]
                idx = array("I", (int(rng.random() * len(pool.py)) for _ in ids))
                db[name] = [pool.db[i] for i in idx]
                if name in self.py_needed:
                    py[name] = [pool.py[i] for i in idx]
                continue
            if f.type == "formula" or name in self.copies:
                continue  # computed below, once the fields they read are known
            if is_derived(f):  # rollups and counts: computed once every table is loaded
                db[name] = [None] * n
                continue
            values = self._special(f, ids, py)
            if name in self.py_needed:
                py[name] = values
            db[name] = self._stored(name, values)
        for name, (link, source) in self.copies.items():
            target = self.rt.fields[link].target or ""
            src = self.gen.kept.get(("copy", target, source), [])
            values = [src[i - 1] if i is not None and 0 < i <= len(src) else None
                      for i in py[link]]
            if name in self.py_needed:
                py[name] = values
            if name in self.rt.fields:  # not `client.budget`, which only formulas read
                db[name] = self._stored(name, values)
        for f, expr in self.formulas:
            values = self._formula(f, expr, py, n)
            db[f.name] = self._stored(f.name, values)
        self._keep(py)
        for name in self.copied:
            self.gen.kept.setdefault(("copy", self.rt.name, name), []).extend(py[name])
        return db

    def _special(self, f: Field, ids: range, py: dict[str, list[Any]]) -> list[Any]:
        rng, now, name = self.rng, self.now, f.name
        if name == "id":
            return list(ids)
        if name == "version":
            return [1] * len(ids)
        if name == "created_at":
            # Older records have lower ids, as when they are entered one by one.
            step = 2 * YEAR / max(self.total, 1)
            return [now - timedelta(seconds=int((self.total - i) * step) + 60) for i in ids]
        if name == "updated_at":
            created = py.get("created_at") or self._special(self.rt.fields["created_at"], ids, py)
            return [min(c + timedelta(seconds=rng.randrange(30 * 86400)), now) for c in created]
        if f.type in ("link", "user", "created_by", "updated_by"):  # the stamps: a person
            return self._links(f, ids, py)
        if f.type == "autonumber":
            pattern = f.config.get("pattern") or "{0000}"
            return [autonumber_format(pattern, now, i) for i in ids]
        if f.type == "attachment":
            return [None] * len(ids)
        if f.unique:
            return [_unique(f, i) for i in ids]
        raise AssertionError(f"no generator for {self.rt.name}.{name}")  # pragma: no cover

    def _links(self, f: Field, ids: range, py: dict[str, list[Any]]) -> list[Any]:
        rng = self.rng
        target = f.target or (self.ws.users_type if f.type != "link" else "") or ""
        if self.rt.name == "contract" and f.name in ("case", "client", "unit"):
            return self._contract_link(f.name, ids)
        count = self.gen.counts.get(target, 0)
        if target == self.rt.name:  # a self-link (a referrer, a manager): one in ten
            return [int(rng.random() * (i - 1)) + 1 if i > 1 and rng.random() < 0.1 else None
                    for i in ids]
        if not count:
            return [None] * len(ids)
        return [int(rng.random() * count) + 1 for _ in ids]

    def _contract_link(self, name: str, ids: range) -> list[Any]:
        case_ids = self.gen.kept[("case", "contracted_ids")]
        cases = [case_ids[i - 1] for i in ids]
        if name == "case":
            return cases
        values = self.gen.kept[("case", name)]
        out = [values[c - 1] for c in cases]
        if name == "unit":
            units = self.gen.counts["property"]
            out = [u if u is not None else int(self.rng.random() * units) + 1 for u in out]
        return out

    def _formula(self, f: Field, expr: Expression, py: dict[str, list[Any]], n: int) -> list:
        names = sorted(expr.names)
        cols = [py.get(x) or [None] * n for x in names]
        out = []
        for values in zip(*cols, strict=True):
            try:
                out.append(f.kind.coerce(f, expr.evaluate(dict(zip(names, values, strict=True)),
                                                          now=self.now)))
            except Exception:  # as compute_formulas: a formula that fails is left empty
                out.append(None)
        py[f.name] = out
        return out

    def _keep(self, py: dict[str, list[Any]]) -> None:
        """Cases remember their client, unit and which are contracted (for contracts)."""
        if self.rt.name != "case":
            return
        kept = self.gen.kept
        base = len(kept.setdefault(("case", "client"), []))
        kept[("case", "client")] += py["client"]
        kept.setdefault(("case", "unit"), []).extend(py.get("unit") or [None] * len(py["client"]))
        kept.setdefault(("case", "contracted_ids"), []).extend(
            base + j + 1 for j, s in enumerate(py["stage"]) if s in CONTRACTED)


def copied_fields(ws: Workspace) -> dict[str, set[str]]:
    """Per record type, its fields that another type's `sample: {from: link.field}` copies."""
    out: dict[str, set[str]] = {}
    for rt in ws.record_types.values():
        for f in rt.fields.values():
            if isinstance(f.sample, dict) and "from" in f.sample and f.type not in ("link", "user"):
                link, _, source = str(f.sample["from"]).partition(".")
                if (lf := rt.fields.get(link)) is not None and lf.target:
                    out.setdefault(lf.target, set()).add(source)
            paths = [(f.config["through"], f.config["field"])] if is_lookup(f) else []
            if expression_of(f) is not None:
                paths += [tuple(n.partition(".")[::2])
                          for n in Expression(expression_of(f)).names if "." in n]
            for link, source in paths:
                if (lf := rt.fields.get(link)) is not None and lf.target:
                    out.setdefault(lf.target, set()).add(source)
    return out


def _no_links(_link: str, _id: int) -> dict:
    return {}


def _unique(f: Field, i: int) -> Any:
    """A distinct, valid value for row `i` of a unique field."""
    if f.type == "phone":
        return f"139{i:08d}"
    if f.type == "email":
        return f"user{i}@example.com"
    pattern = str(f.config.get("pattern") or "")
    if "0-9]{17}" in pattern:  # an ID-card number
        return f"{110101190000000000 + i}"
    if "A-Z" in pattern:
        return f"BX-{i:06d}"
    if f.type in ("integer", "decimal", "currency"):
        return i
    return f"{f.name}-{i}"


def plan_tables(ws: Workspace, cases: int) -> list[tuple[RecordType, int | None]]:
    """Record types in creation order with their row counts (None: decided by the cases)."""
    counts = sizes(cases)
    return [(rt, counts.get(rt.name, 0) if rt.name != "contract" else None)
            for rt in creation_order(ws)]


def counters(ws: Workspace, counts: dict[str, int], now: datetime) -> list[dict[str, Any]]:
    """Rows for lr_counters, so that records created later continue the numbering."""
    out = []
    for name, n in counts.items():
        rt = ws.record_types.get(name)
        for f in rt.user_fields if rt else ():
            if f.type == "autonumber" and n:
                pattern = f.config.get("pattern") or "{0000}"
                out.append(dict(record_type=name, field=f.name,
                                period=autonumber_period(pattern, now), value=n))
    return out


def bench_now() -> datetime:
    """A fixed 'now' per run, to the second (what the seeder does too)."""
    return datetime.now(UTC).replace(microsecond=0)


