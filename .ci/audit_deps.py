"""The dependency audit of `make test`: pip-audit checks the installed packages against the
advisory database of PyPI, which needs the network.

It reports, never hides: known vulnerabilities are listed and fail the run; packages that
could not be checked are counted; and when the database cannot be reached at all (no
network, or a package index that is not PyPI, where pip-audit skips every package and
would otherwise say "No known vulnerabilities found"), it says so plainly and does not fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PIP_AUDIT = Path(sys.executable).with_name("pip-audit")
UNREACHABLE = "pip-audit: could not reach the advisory database; not audited"


def main() -> int:
    try:
        proc = subprocess.run(  # a fixed command line, no shell  # nosec B603
            [str(PIP_AUDIT), "--progress-spinner", "off", "--skip-editable", "-f", "json"],
            capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        print(f"{UNREACHABLE} (no answer in 5 minutes)")
        return 0
    try:
        report = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        report = {}
    deps = report.get("dependencies") or []
    if not deps:
        print(f"{UNREACHABLE} ({(proc.stderr.strip().splitlines() or ['no report'])[-1]})")
        return 0
    skipped = [d for d in deps if d.get("skip_reason")]
    checked = [d for d in deps if not d.get("skip_reason")]
    if not checked:
        print(f"{UNREACHABLE}: none of the {len(deps)} installed packages could be checked "
              f"({skipped[0]['skip_reason']})")
        return 0
    found = [(d["name"], d.get("version"), v) for d in checked for v in d.get("vulns") or []]
    for name, version, v in found:
        fix = ", ".join(v.get("fix_versions") or []) or "no fixed version yet"
        print(f"VULNERABLE {name} {version}: {v.get('id')} (fixed in: {fix}) "
              f"{(v.get('description') or '').splitlines()[0][:120] if v.get('description') else ''}")
    note = f"; {len(skipped)} could not be checked" if skipped else ""
    print(f"pip-audit: {len(checked)} packages checked, {len(found)} known "
          f"vulnerabilit{'y' if len(found) == 1 else 'ies'}{note}")
    for d in skipped:
        print(f"  not checked: {d['name']}: {d['skip_reason']}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
