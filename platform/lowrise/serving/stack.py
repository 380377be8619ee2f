"""`lowrise serve --production`: gunicorn and a rules worker, started, watched and stopped
together by one small supervising process.

- gunicorn (lowrise.serving.gunicorn_conf) runs the web processes; it restarts a web process
  that dies by itself. Should gunicorn itself end, the stack ends (exit status 1), for
  systemd or Docker to restart it.
- The rules worker (`lowrise worker`) starts once the web server listens, so that the
  database has been migrated. When it dies it is started again, after 1 s, doubling up to
  30 s while it keeps dying within a minute of starting.
- SIGTERM or SIGINT (Ctrl+C) stop both: each is sent SIGTERM (gunicorn finishes the requests
  in progress, the worker its round), and whatever has not ended 25 s later is killed. The
  children are also asked to end should the supervisor itself be killed (Linux), so nothing
  is left running behind it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess  # nosec B404 - starts our own gunicorn and worker, never a shell
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger("lowrise.stack")
RESTART_FIRST, RESTART_MOST = 1.0, 30.0
#: a worker that ran this long before dying is restarted after RESTART_FIRST again
STEADY = 60.0
STOP_WAIT = 25.0  # gunicorn's graceful_timeout is 20 s
TICK = 0.1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _start(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen:
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    # argv comes from web_command and worker_command below: our own interpreter and arguments.
    return subprocess.Popen(  # nosec B603
        list(argv), env=dict(env), preexec_fn=preexec)  # noqa: PLW1509



def web_command(host: str, port: int, processes: int, threads: int) -> list[str]:
    """gunicorn on the app, with Lowrise's gunicorn settings."""
    return [sys.executable, "-m", "gunicorn", "--config", "python:lowrise.serving.gunicorn_conf",
            "--bind", f"{_bracket(host)}:{port}", "--workers", str(processes),
            "--threads", str(threads), "lowrise.web:create_app()"]


def worker_command() -> list[str]:
    """`lowrise worker` (workspace, instance and database come from the environment)."""
    return [sys.executable, "-m", "lowrise.cli", "worker"]


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _listening(host: str, port: int) -> bool:
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # nosec B104
    try:
        with socket.create_connection((target.strip("[]"), port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Stack:
    """The web server and, unless `with_worker` is False, a rules worker."""

    host: str
    port: int
    env: Mapping[str, str]
    processes: int
    threads: int
    with_worker: bool = True
    web: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    worker_started: float = 0.0
    restart_at: float | None = None
    delay: float = RESTART_FIRST
    stopping: bool = False
    status: int = 0
    _previous: dict = field(default_factory=dict)

    def run(self, announce=print) -> int:
        """Start everything, watch it until a signal or the web server's end; the exit status."""
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            self._previous[signum] = signal.signal(signum, self._on_signal)
        try:
            if _listening(self.host, self.port):
                log.error("something already listens on %s:%s: choose another --port",
                          self.host, self.port)
                return 1
            self.web = _start(web_command(self.host, self.port, self.processes, self.threads),
                              self.env)
            if not self._wait_listening():
                return self.status
            announce(f"Lowrise is serving on http://{_bracket(self.host)}:{self.port} "
                     f"({self.processes} web processes of {self.threads} threads, gunicorn)")
            if self.with_worker:
                self._start_worker()
                announce("The rules worker runs beside it (restarted if it stops).")
            else:
                announce("No rules worker here (--no-worker): run `lowrise worker` elsewhere.")
            while not self.stopping:
                self._watch()
                time.sleep(TICK)
        finally:
            self._stop_all()
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
        return self.status

    def _on_signal(self, signum, _frame) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        self.stopping = True

    def _wait_listening(self) -> bool:
        while not self.stopping:
            if self.web.poll() is not None:
                log.error("the web server ended while starting (exit status %s)",
                          self.web.returncode)
                self.status = 1
                return False
            if _listening(self.host, self.port):
                return True
            time.sleep(TICK)
        return False

    def _start_worker(self) -> None:
        self.worker = _start(worker_command(), self.env)
        self.worker_started = time.monotonic()
        log.info("rules worker started (pid %s)", self.worker.pid)

    def _watch(self) -> None:
        if self.web.poll() is not None:
            log.error("the web server ended (exit status %s): stopping", self.web.returncode)
            self.status, self.stopping = 1, True
            return
        if not self.with_worker:
            return
        now = time.monotonic()
        if self.worker is not None and self.worker.poll() is not None:
            lived = now - self.worker_started
            self.delay = RESTART_FIRST if lived >= STEADY else self.delay
            log.warning("the rules worker ended (exit status %s) after %.0f s; starting it "
                        "again in %.0f s", self.worker.returncode, lived, self.delay)
            self.worker, self.restart_at = None, now + self.delay
            self.delay = min(RESTART_MOST, self.delay * 2)
        if self.worker is None and self.restart_at is not None and now >= self.restart_at:
            self.restart_at = None
            self._start_worker()

    def _stop_all(self) -> None:
        children = [p for p in (self.worker, self.web) if p is not None and p.poll() is None]
        for p in children:
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT
        for p in children:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("pid %s did not stop in %.0f s: killed", p.pid, STOP_WAIT)
                p.kill()
                p.wait()


def environment(base: Mapping[str, str], **values: str | None) -> dict[str, str]:
    """`base` with the given variables set (None: left as they are)."""
    env = dict(base)
    env.update({k: v for k, v in values.items() if v is not None})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def serve(*, host: str, port: int, processes: int | None, threads: int | None,
          with_worker: bool, env: Mapping[str, str] | None = None, announce=print) -> int:
    """Run the production stack until it is stopped; its exit status."""
    from . import logs, settings

    env = environment(os.environ if env is None else env)
    conf = settings.server_settings(env)  # refuses a bad value before anything starts
    logs.configure(conf["LOWRISE_LOG_FORMAT"])
    # each open live page holds a thread of its process: those threads come on top of the
    # ones that serve requests (lowrise.web.live)
    live = conf["LOWRISE_LIVE_STREAMS"] if conf["LOWRISE_LIVE"] else 0
    stack = Stack(host, port, env, processes or conf["LOWRISE_WEB_PROCESSES"],
                  (threads or conf["LOWRISE_WEB_THREADS"]) + live, with_worker)
    return stack.run(announce)
