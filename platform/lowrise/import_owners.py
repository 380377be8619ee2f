"""Who runs an import: each process names itself (host, pid and a token), beats a heartbeat
while it works, and whoever reads a running import can tell whether its owner is gone.

On this host a process that has ended is gone at once (its pid no longer runs, or the pid is
this very process's and the token another's: a container's server restarted). Elsewhere, an
owner is gone when its heartbeat is older than STALE. SQLite's write, which holds the only
write lock, beats no heart; SQLite is on this host, where the pid tells.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

#: how often a running import's owner says it is alive
HEARTBEAT = timedelta(seconds=10)
#: how old a heartbeat from another host may be before its import counts as stopped
STALE = timedelta(minutes=2)
#: the same on this host, where a process with the owner's pid still runs (by now the pid
#: may belong to another process)
STALE_LOCAL = timedelta(hours=1)

_ME: list = [None, ""]


def this_process() -> str:
    """The owner name of this process: host, pid and a token (a new process that gets a
    dead one's pid is still another owner)."""
    if _ME[0] != os.getpid():
        _ME[:] = [os.getpid(), f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"]
    return _ME[1]


def _pid_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: it exists
    return True


def owner_alive(owner: str | None, heartbeat: datetime | None, *, here: bool) -> bool:
    """Whether `owner` is still at its work; `here`: whether this process has the work
    registered (what counts when the owner is this process)."""
    if not owner:
        return False
    if owner == this_process():
        return here
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    age = datetime.now(UTC) - (heartbeat or datetime.min.replace(tzinfo=UTC))
    if host == socket.gethostname():
        pid = int(pid_text) if pid_text.isdigit() else 0
        if pid == os.getpid() or not _pid_runs(pid):
            return False  # an earlier process of this pid, or none
        return age < STALE_LOCAL
    return age < STALE


@contextmanager
def beating(beat: Callable[[], None], name: str) -> Iterator[None]:
    """Call `beat` every HEARTBEAT in a thread of its own while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(HEARTBEAT.total_seconds()):
            beat()

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
