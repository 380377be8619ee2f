"""`python -m bench.report RESULTS.json...`: the figures as Markdown tables for
docs/benchmarks.md, one column per database, so a rerun updates the document by pasting."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .measure import Result
from .run import format_target, format_value


def load_results(paths: list[Path]) -> tuple[list[Result], list[dict]]:
    results, setups = [], []
    for path in paths:
        data = json.loads(path.read_text())
        setups += data.get("setup", [])
        for item in data.get("results", []):
            item = {k: v for k, v in item.items() if k != "ok"}
            results.append(Result(**item))
    return results, setups


def markdown(results: list[Result]) -> str:
    backends = list(dict.fromkeys(r.backend for r in results))
    names = list(dict.fromkeys(r.name for r in results))
    by = {(r.backend, r.name): r for r in results}
    head = ["measurement", *backends, "target"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names:
        cells, target = [], ""
        for b in backends:
            r = by.get((b, name))
            if r is None:
                cells.append("")
                continue
            target = target or format_target(r)
            if r.error:
                cells.append(f"error: {r.error[:80]}")
            else:
                mark = {True: "", False: " ✗", None: ""}[r.ok]
                cells.append(format_value(r) + mark)
        lines.append("| " + " | ".join([name, *cells, target]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    results, setups = load_results(paths)
    print(markdown(results))
    print()
    for s in setups:
        counts = ", ".join(f"{k} {v:,}" for k, v in s.get("counts", {}).items())
        print(f"- {s['backend']}: loaded in {s.get('load_s', 0):.0f} s ({counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
