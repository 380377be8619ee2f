"""Demo data for any workspace, from the field types and each field's `sample:` hint.

Nothing here knows a template: counts come from `demo:` in workspace.yaml (or a default),
values from `sample:` (a Faker provider, `{choices: [...]}`, `{min:, max:}`, `{from: link.field}`,
`{past_days: N}` / `{future_days: N}`, `{after: field, hours: [lo, hi]}`, `{in_turn: true}` for
a link, `{first_per: link, value: v, then: <hint>}`) or, without a hint,
from the field type. Runs are deterministic for a given `--seed`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from faker import Faker

from lowrise.actor import Actor
from lowrise.i18n import msg
from lowrise.storage.db import refresh_statistics
from lowrise.storage.records import Records
from lowrise.workspace.model import Field, RecordType, Workspace

DEFAULT_COUNT = 50
FAKER_LOCALES = {"zh": "zh_CN", "en": "en_US"}


def creation_order(ws: Workspace) -> list[RecordType]:
    """Record types ordered so that link targets are filled before the records pointing at them."""
    import graphlib

    from lowrise.org import org_of

    org = org_of(ws)
    # a department's head is set once the people exist (they link to their department)
    later = {(org.departments, org.head)} if org is not None else set()
    graph = {
        name: {f.target for f in rt.user_fields
               if f.kind.links and f.target and f.target != name
               and (name, f.name) not in later}
        for name, rt in ws.record_types.items()
    }
    return [ws.record_types[n] for n in graphlib.TopologicalSorter(graph).static_order()]


def demo_counts(ws: Workspace, scale: float) -> dict[str, int]:
    declared = (ws.config.get("demo") or {}).get("counts") or {}
    return {name: max(1, round(declared.get(name, DEFAULT_COUNT) * scale))
            for name in ws.record_types}


def timers_within(ws: Workspace) -> timedelta:
    """How far back a demo record's timer may be due and still be set (`demo:
    timers_within`; none by default: demo data's past has happened)."""
    from lowrise.rules.timing import parse_duration

    raw = (ws.config.get("demo") or {}).get("timers_within")
    return timedelta(0) if raw is None else timedelta(seconds=parse_duration(raw))


class Sampler:
    """Makes one value for one field."""

    def __init__(self, ws: Workspace, seed: int, now: datetime):
        self.rng = random.Random(seed)  # demo data, repeatable on purpose  # nosec B311
        locale = FAKER_LOCALES.get(ws.default_locale, "en_US")
        self.fake = Faker(locale)
        self.fake.seed_instance(seed)
        self.now = now
        self.ids: dict[str, list[int]] = {}
        self.self_ids: list[int] = []
        #: (type, where) -> the ids of that type's demo records whose fields hold those values
        self.matching: Callable[[str, Mapping[str, Any]], list[int]] = lambda t, w: []
        self.turns: dict[int, int] = {}  # {in_turn: true}: how many a field has linked
        self.firsts: dict[int, set] = {}  # {first_per: link}: the records already given

    def value(self, f: Field, record: dict[str, Any], linked: Callable[[str, int], dict],
              index: int = 0, hint: Any = None) -> Any:
        """The value of field `f` for the `index`-th record made of its type (by `hint`
        instead of the field's own when given)."""
        hint = self.hint(f, record) if hint is None else hint
        if isinstance(hint, dict):
            if not self.applies(hint, record):
                return None
            if "cycle" in hint:  # the list in turn: values that go together across fields
                items = list(hint["cycle"])
                return items[index % len(items)] if items else None
            if hint.get("in_turn"):  # every record of the target in turn, then again
                pool = self.ids.get(f.target or "", [])
                n = self.turns.get(id(f), 0)
                self.turns[id(f)] = n + 1
                return pool[n % len(pool)] if pool else None
            if "first_per" in hint:  # the first record of each linked one gets `value`
                target = record.get(str(hint["first_per"]))
                seen = self.firsts.setdefault(id(f), set())
                if target is not None and target not in seen:
                    seen.add(target)
                    return hint.get("value")
                return self.value(f, record, linked, index, hint.get("then") or "")
            if "of" in hint:
                return self._share(f, record.get(str(hint["of"])), hint)
            if "from" in hint:
                link, _, name = str(hint["from"]).partition(".")
                target_id = record.get(link)
                return None if target_id is None else linked(link, target_id).get(name)
            if "after" in hint:
                return self._after(f, record.get(str(hint["after"])), hint)
            if "where" in hint and f.kind.links and isinstance(hint["where"], Mapping):
                # a link to one of the records whose fields hold these values (a project's
                # client contact among the members whose role is guest)
                ids = self.matching(f.target, hint["where"])
                return self.rng.choice(ids) if ids else None
            if "choices" in hint:
                return self.rng.choice(list(hint["choices"]))
            if "past_days" in hint:
                return self._moment(f, -self.rng.uniform(0, float(hint["past_days"])))
            if "future_days" in hint:
                return self._moment(f, self.rng.uniform(0, float(hint["future_days"])))
            if "min" in hint or "max" in hint:
                return self._number(f, hint.get("min", 0), hint.get("max", 100))
            if "provider" in hint:
                args = {k: v for k, v in hint.items() if k not in ("provider", "empty")}
                return self._provider(f, hint["provider"], args)
        if isinstance(hint, str) and hint:
            return self._provider(f, hint, {})
        return self.by_type(f)

    @staticmethod
    def applies(hint: dict, record: dict[str, Any]) -> bool:
        """`when: {stage: [contracted, handover]}`: the field has a value only on records
        whose fields (made before it) hold one of those values."""
        when = hint.get("when")
        if not isinstance(when, dict):
            return True
        for name, wanted in when.items():
            if record.get(name) not in (wanted if isinstance(wanted, list) else [wanted]):
                return False
        return True

    def _share(self, f: Field, base: Any, hint: dict) -> Any:
        """A share of another number of the same record (`{of: list_price, times: [0.88,
        0.97]}`: a floor price under the list price); None when that one is empty."""
        if not isinstance(base, (int, float, Decimal)) or isinstance(base, bool):
            return None
        lo, hi = (list(hint.get("times") or [1, 1]) + [1, 1])[:2]
        return f.kind.sample_number(f, self.rng, float(base) * float(lo),
                                    float(base) * float(hi))

    def hint(self, f: Field, record: dict[str, Any]) -> Any:
        """The field's sample hint for this record: a list of hints gives the first whose
        `when` holds (a lead opened days ago, a contracted case months ago)."""
        hint = f.sample
        if isinstance(hint, list) and all(isinstance(h, dict) for h in hint):
            return next((h for h in hint if self.applies(h, record)), None)
        return hint

    def maybe_empty(self, f: Field, record: dict[str, Any] | None = None) -> bool:
        hint = self.hint(f, record or {})
        rate = hint.get("empty") if isinstance(hint, dict) else None
        if rate is None:  # a list in turn is filled in full: its values go together
            rate = 0 if f.required or f.kind.links or (
                isinstance(hint, dict) and "cycle" in hint) else 0.05
        return self.rng.random() < float(rate)

    def _provider(self, f: Field, name: str, args: dict) -> Any:
        try:
            value = getattr(self.fake, name)(**args)
        except AttributeError:
            raise ValueError(f"{f.name}: sample '{name}' is not a Faker provider") from None
        return self._fit(f, value)

    def _fit(self, f: Field, value: Any) -> Any:
        """Fit a provider's value to the field's type (a datetime for a date field, say)."""
        return f.kind.fit_sample(f, value, self.rng)

    def _moment(self, f: Field, days: float) -> Any:
        return f.kind.moment(f, self.now + timedelta(days=days))

    def _after(self, f: Field, base: Any, hint: dict) -> Any:
        """Some hours or days after another field of the same record (None when it is empty)."""
        if not isinstance(base, date):
            return None
        unit = "days" if "days" in hint else "hours"
        lo, hi = (list(hint.get(unit) or [0, 24]) + [0, 24])[:2]
        if not isinstance(base, datetime) and f.kind.instant:
            base = datetime.combine(base, time(9), tzinfo=UTC)
        when = base + timedelta(**{unit: self.rng.uniform(float(lo), float(hi))})
        if hint.get("past"):  # something that has happened: never later than now
            when = min(when, self.now if isinstance(when, datetime) else self.now.date())
        return f.kind.moment(f, when)

    def _number(self, f: Field, lo, hi) -> Any:
        return f.kind.sample_number(f, self.rng, lo, hi)

    def by_type(self, f: Field) -> Any:
        """A value the field's type makes up (None when it makes none)."""
        return f.kind.sample(f, self)


def seed(records: Records, *, scale: float = 1.0, seed_value: int = 1, actor: Actor | None = None,
         progress: Callable[[str, int, int], None] | None = None) -> dict[str, int]:
    """Fill every record type with demo data; returns how many records each got. No rule runs
    on it, but time rules set their timers for what is still to come (a viewing requested an
    hour ago and not arranged comes due tomorrow, as it would had people typed it in), and
    with `demo: {timers_within: 1d}` for what came due at most that long ago: the older past
    of the demo data has happened, and would otherwise all fire at the first start
    (thousands of notices and e-mails about moments long gone)."""
    from lowrise.org import demo as org_demo
    from lowrise.rules.engine import timers_only

    records = timers_only(records, recent=timers_within(records.schema.workspace))
    ws = records.schema.workspace
    now = datetime.now(UTC).replace(microsecond=0)
    actor = actor or Actor(name=msg("demo data"), clock=lambda: now, system=True)
    sampler = Sampler(ws, seed_value, now)
    counts = demo_counts(ws, scale)
    cache: dict[tuple[str, int], dict] = {}
    made: dict[str, int] = {}
    org = org_demo.org_of(ws) if org_demo.declared(ws) is not None else None

    chosen: dict[tuple[str, str], list[int]] = {}

    def matching(target: str, where: Mapping[str, Any]) -> list[int]:
        key = (target, repr(sorted(where.items())))
        if key not in chosen:
            wanted = {k: set(v) if isinstance(v, list) else {v} for k, v in where.items()}
            chosen[key] = [r["id"] for r in (records.get(target, i)
                                             for i in sampler.ids.get(target, []))
                           if all(r.get(k) in vs for k, vs in wanted.items())]
        return chosen[key]

    sampler.matching = matching

    def linked_for(rt: RecordType):
        def linked(link: str, target_id: int) -> dict:
            target = rt.fields[link].target
            key = (target, target_id)
            if key not in cache:
                cache[key] = records.get(target, target_id)
            return cache[key]
        return linked

    for rt in creation_order(ws):
        n = counts[rt.name]
        if org is not None and rt.name == org.departments:  # the declared ones (docs/org.md)
            sampler.ids[rt.name] = org_demo.make_departments(records, actor)
            made[rt.name] = len(sampler.ids[rt.name])
            continue
        fields = [f for f in rt.user_fields if not f.kind.generated and not f.kind.stores_files
                  and not (org is not None and rt.name == org.users and f.name in org.members)]
        # Fields that copy from a linked record come after the link is chosen, and fields
        # timed after another field come after that one.
        fields.sort(key=_order)
        rows = []
        for i in range(n):
            row: dict[str, Any] = {}
            for f in fields:
                if sampler.maybe_empty(f, row) and not f.required:
                    continue
                value = sampler.value(f, row, linked_for(rt), i)
                if value is None and f.required:  # copied from an empty linked field
                    value = sampler.by_type(f)
                if value is not None:
                    row[f.name] = value
            rows.append(row)
        created = []
        for start in range(0, n, 2000):
            created += records.bulk_create(rt.name, rows[start:start + 2000], actor)
            if progress:
                progress(rt.name, len(created), n)
        sampler.ids[rt.name] = [r["id"] for r in created]
        made[rt.name] = len(created)
        _link_within(records, rt, sampler, actor)
    if org is not None:  # people placed by their field values, once they all exist
        from lowrise.access import model_of

        org_demo.place_people(records, actor, sampler.ids[org.departments])
        # who reports to whom follows the departments and their heads
        org_demo.set_managers(records, actor, model_of(ws).teams.manager)
    if ws.approvals:  # rounds in progress for the records that wait for one
        from lowrise.approvals.seeding import seed_rounds

        seed_rounds(records, now)
    refresh_statistics(records.engine)
    return made


def _order(f: Field) -> int:
    """When a field's value is made: plain ones first, then those copied from a link or a
    share of another field, then those timed after another field."""
    hints = f.sample if isinstance(f.sample, list) else [f.sample]
    keys = {k for h in hints if isinstance(h, dict) for k in h}
    return 2 if "after" in keys else 1 if keys & {"from", "of", "first_per"} else 0


def _link_within(records: Records, rt: RecordType, sampler: Sampler, actor: Actor) -> None:
    """Fill links from a type to itself (a staff member's manager) once its records exist.

    Each record points at one made before it, never at itself or a later one, so the links
    form a hierarchy without cycles; the first third of the records lead the rest.
    """
    fields = [f for f in rt.user_fields
              if f.kind.links and f.target == rt.name
              and not (isinstance(f.sample, dict) and f.sample.get("empty") == 1)]
    ids = sampler.ids[rt.name]
    if not fields or len(ids) < 2:
        return
    updates = [(rid, {f.name: sampler.rng.choice(ids[: max(1, i // 3)]) for f in fields})
               for i, rid in enumerate(ids) if i]
    records.bulk_update(rt.name, updates, actor)


def is_empty(records: Records) -> bool:
    """True when no record type has a record yet."""
    with records.engine.connect() as c:
        return all(c.execute(sa.select(t.c.id).limit(1)).first() is None
                   for t in records.schema.tables.values())
