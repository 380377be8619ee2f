"""`python -m bench.import_bench`: import 100,000 flagship clients from a CSV on SQLite.

The CSV has the columns a person would export from a spreadsheet: Chinese labels as
headers, select values as labels, the consultant by name, dates as 2024/3/5. The whole path
is timed (read, match, check, write with audit) and its phases are reported; the target is
under 10 s on SQLite. `--profile` prints where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from lowrise import importer
from lowrise.actor import Actor
from lowrise.storage.db import create_engine
from lowrise.storage.records import Records
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace

from .load import migrate

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 10.0
SOURCES = ["自然到访", "老带新", "线上平台", "中介分销", "活动拓客"]
GRADES = ["A 类：一个月内成交", "B 类：三个月内成交", "C 类：有意向无明确时间"]


def make_csv(rows: int, consultants: list[str]) -> bytes:
    """A client list as a sales office keeps it (GBK-safe characters only)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["姓名", "手机号", "来源渠道", "客户等级", "置业顾问", "总价预算", "报备日期",
                "居住区域", "备注"])
    for i in range(rows):
        w.writerow([f"客户{i:06d}", f"1{3 + i % 6}{i:09d}", SOURCES[i % len(SOURCES)],
                    GRADES[i % len(GRADES)], consultants[i % len(consultants)],
                    f"{1_500_000 + (i % 97) * 10_000}", f"2024/{1 + i % 12}/{1 + i % 28}",
                    f"朝阳区 {i % 50} 号院", "首次到访，关注学区" if i % 3 == 0 else ""])
    return buf.getvalue().encode("gb18030")


def run(rows: int, folder: Path, *, profile: bool = False) -> dict[str, float]:
    ws = load_workspace(ROOT)
    schema = build_schema(ws)
    engine = create_engine(f"sqlite:///{folder / 'import.db'}")
    migrate(engine, schema)
    records = Records(engine, schema)
    actor = Actor(name="import bench", system=True)
    staff = records.bulk_create("staff", [{"name": f"顾问{i}", "phone": f"1590000000{i}"}
                                          for i in range(8)], actor)
    data = make_csv(rows, [s["name"] for s in staff])
    path = folder / "clients.csv"
    path.write_bytes(data)
    times: dict[str, float] = {}
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    t0 = time.perf_counter()
    c0 = time.process_time()
    sheet = importer.read_file(path)
    t1 = time.perf_counter()
    mapping = importer.check_mapping(ws.type("client"),
                                     importer.guess_mapping(ws.type("client"), sheet.headers))
    prepared = importer.prepare(records, "client", sheet, mapping, actor)
    t2 = time.perf_counter()
    result = importer.run(records, "client", prepared, actor, mode="all", run_hooks=False)
    t3 = time.perf_counter()
    times["cpu"] = time.process_time() - c0
    if prof:
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    if result.errors:
        first = next(iter(result.errors.items()))
        raise SystemExit(f"{len(result.errors)} rows refused, e.g. {first}")
    times.update(read=t1 - t0, match_and_links=t2 - t1, check_and_write=t3 - t2,
                 total=t3 - t0, rows=result.created, encoding_bytes=len(data))
    engine.dispose()
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.import_bench", description=__doc__)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lowrise-import-") as tmp:
        t = run(args.rows, Path(tmp), profile=args.profile)
    print(f"imported {t['rows']:,} clients from a {t['encoding_bytes'] / 1e6:.1f} MB GBK CSV "
          f"on SQLite in {t['total']:.1f} s (read {t['read']:.1f} s, match and links "
          f"{t['match_and_links']:.1f} s, check and write {t['check_and_write']:.1f} s; "
          f"{t['cpu']:.1f} s of CPU time, {os.getloadavg()[0]:.1f} load average); "
          f"target {TARGET_S:.0f} s: {'ok' if t['total'] < TARGET_S else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
