"""Who is acting, passed explicitly to every engine call (never a global)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lowrise.i18n import msg


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Actor:
    """A person (or the system) doing something.

    `user` is the id of the person's record in the workspace's users type (staff), which is
    what user fields store and what `me` in a filter means. `clock` lets tests fix time.
    """

    user: int | None = None
    name: str = ""
    roles: frozenset[str] = frozenset()
    locale: str = "en"
    clock: Callable[[], datetime] = field(default=utcnow, compare=False)
    system: bool = False

    def now(self) -> datetime:
        return self.clock()


SYSTEM = Actor(name=msg("system"), system=True)
