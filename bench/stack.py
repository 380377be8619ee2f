"""The production stack (`lowrise serve --production`) on a database, for the office load:
started on a free port of 127.0.0.1, waited for until /readyz answers, stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RunningStack:
    port: int
    processes: int
    threads: int
    log: Path
    session: int

    def describe(self) -> str:
        return f"gunicorn {self.processes} processes x {self.threads} threads + rules worker"

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the stack's live processes have used so far."""
        tick, total = os.sysconf("SC_CLK_TCK"), 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == self.session:  # the session id (the stack's supervisor)
                total += int(fields[11]) + int(fields[12])
        return total / tick


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as r:
            return json.loads(r.read())["status"] == "ready"
    except (OSError, ValueError):
        return False


@contextmanager
def running_stack(url: str, folder: Path, *, processes: int | None = None,
                  threads: int | None = None, timeout: float = 600):
    from lowrise.serving.settings import server_settings

    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "LOWRISE_WORKSPACE": str(ROOT),
           "LOWRISE_INSTANCE": str(folder / "instance"), "LOWRISE_WATCH": "0",
           "LOWRISE_LOGIN_PER_CLIENT": "1000000", "LOWRISE_LOGIN_PER_EMAIL": "1000000"}
    if processes:
        env["LOWRISE_WEB_PROCESSES"] = str(processes)
    if threads:
        env["LOWRISE_WEB_THREADS"] = str(threads)
    conf = server_settings(env)
    log = folder / "stack.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "lowrise"), "serve",
                                 "--production", "--port", str(port)], env=env, cwd=folder,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not _ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not get ready; see {log}:\n"
                                   + log.read_text()[-2000:])
            time.sleep(0.5)
        yield RunningStack(port, conf["LOWRISE_WEB_PROCESSES"], conf["LOWRISE_WEB_THREADS"],
                           log, proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
