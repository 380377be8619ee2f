"""Computed widgets kept for a while: reused only while nothing was written since.

Every write through the records service adds a row to the audit log (`lr_audit`) in its own
transaction, so the log's highest id is a version of all the data: a widget computed at
version 41 is still exact while the version is 41. `max_age` bounds the rest (filters
relative to the clock, like `overdue`, move on with time). The key holds everything a
widget's numbers depend on: the dashboard, the date range and filter values, the person
(their row scope) and the locale of the words.
"""

from __future__ import annotations

import threading
import time
import typing as t
from collections import OrderedDict
from collections.abc import Callable, Hashable

import sqlalchemy as sa

from lowrise.storage.tables import Schema


def data_version(conn: sa.Connection, schema: Schema) -> int:
    """The highest audit-log id: it changes with every write, and only then."""
    audit = schema.audit
    return int(conn.execute(sa.select(sa.func.max(audit.c.id))).scalar() or 0)


class ResultCache:
    """A bounded, thread-safe map from (key, data version) to a computed value."""

    def __init__(self, max_age: float = 60.0, size: int = 512,
                 clock: Callable[[], float] = time.monotonic):
        self.max_age, self.size, self.clock = max_age, size, clock
        self._items: OrderedDict[Hashable, tuple[int, float, t.Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable, version: int) -> t.Any | None:
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] != version or \
                    self.clock() - found[1] > self.max_age:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found[2]

    def put(self, key: Hashable, version: int, value: t.Any) -> None:
        if self.max_age <= 0:
            return
        with self._lock:
            self._items[key] = (version, self.clock(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
