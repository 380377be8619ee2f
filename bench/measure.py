"""Timing: warm up, repeat, keep the median; and the result of one measurement as data."""

from __future__ import annotations

import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass
class Result:
    """One measured figure against its target. `ok` is None when there is no target."""

    name: str
    backend: str
    value: float | None = None
    unit: Literal["ms", "s", "rows/s"] = "ms"
    target: float | None = None
    better: Literal["lower", "higher"] = "lower"
    samples: list[float] = field(default_factory=list)
    note: str = ""
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool | None:
        if self.value is None or self.target is None:
            return None
        return self.value < self.target if self.better == "lower" else self.value > self.target

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def timings(fn: Callable[[int], Any], *, repeat: int, warmup: int = 2) -> list[float]:
    """Seconds taken by `fn(i)` for i in range(repeat), after `warmup` calls not counted.

    A call that takes over half a second is repeated 5 times at most: its median is clear
    by then, and a slow figure would otherwise eat the run's time.
    """
    slowest = 0.0
    for i in range(warmup):
        started = time.perf_counter()
        fn(-1 - i)
        slowest = max(slowest, time.perf_counter() - started)
    if slowest > 0.5:
        repeat = min(repeat, 5)
    out = []
    for i in range(repeat):
        started = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - started)
    return out


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def guarded(name: str, backend: str, run: Callable[[], Result], *, say=print) -> Result:
    """Run one measurement; an exception becomes a Result with the error, not a crash."""
    try:
        return run()
    except Exception as exc:  # a benchmark reports what broke and goes on to the next one
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        say(f"  {name}: ERROR {message}")
        return Result(name, backend, error=message,
                      detail={"traceback": traceback.format_exc(limit=8)[-4000:]})
