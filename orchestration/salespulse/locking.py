"""One refresh at a time: an exclusive inter-process lock on ``<build_db>.lock``.

A refresh writes the build warehouse from start to end (raw load, dbt, the CLV fit) and then
publishes; two refreshes at once would fight for DuckDB's single-writer lock halfway through, or
publish out of order. ``salespulse refresh`` therefore holds :func:`refresh_lock` for the whole
run. The lock is an ``fcntl.flock`` on a small file beside the build warehouse: the kernel drops
it when its holder exits, however it exits (a crash or ``kill -9`` leaves no stale lock). The file
records who holds it (pid, host, start time) so that a refresh that finds it taken can say so.

Runs launched from the Dagster UI or the schedule are serialised by the run queue instead (a
tag concurrency limit on :data:`RUN_TAG`, see the README); DuckDB's own file lock stays the last
line of defence and :func:`duckdb_lock_hint` turns its error into a readable message.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: Run tag carried by the ``refresh`` job; a ``dagster.yaml`` tag concurrency limit of 1 on it
#: keeps the Dagster run queue from starting two refreshes of the same warehouse at once.
RUN_TAG_KEY = "salespulse/warehouse"
RUN_TAG_VALUE = "build"
RUN_TAG = {RUN_TAG_KEY: RUN_TAG_VALUE}


class RefreshLockBusy(RuntimeError):
    """Another refresh holds the lock (and it was not released within the allowed wait)."""

    exit_code = 75  # EX_TEMPFAIL: try again later


@dataclass(frozen=True)
class LockHolder:
    pid: int | None
    host: str | None
    started_at: str | None
    command: str | None

    def describe(self) -> str:
        parts = [f"pid {self.pid}" if self.pid is not None else "pid unknown"]
        if self.host and self.host != socket.gethostname():
            parts[0] += f" on {self.host}"
        parts.append(f"started at {self.started_at}" if self.started_at else "start time unknown")
        return ", ".join(parts)


def lock_path(build_db: Path) -> Path:
    """The lock file of a build warehouse: ``warehouse/build.duckdb`` -> ``warehouse/build.duckdb.lock``."""
    return build_db.with_name(build_db.name + ".lock")


def read_holder(path: Path) -> LockHolder | None:
    """Who holds (or last held) the lock, from the lock file; None when it says nothing."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    pid = data.get("pid")
    return LockHolder(
        pid=int(pid) if isinstance(pid, int) else None,
        host=data.get("host"),
        started_at=data.get("started_at"),
        command=data.get("command"),
    )


def _busy_message(path: Path, wait: float) -> str:
    holder = read_holder(path)
    who = holder.describe() if holder else "pid unknown, start time unknown"
    waited_text = f" (still held after waiting {wait:g}s)" if wait > 0 else ""
    return (
        f"another refresh ({who}) holds {path}{waited_text}; retry later or pass --wait SECONDS "
        "to wait for it"
    )


@contextmanager
def refresh_lock(
    build_db: Path,
    *,
    wait: float = 0.0,
    command: str = "salespulse refresh",
    poll: float = 0.25,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Path]:
    """Hold the exclusive refresh lock of ``build_db`` for the ``with`` block.

    ``wait`` seconds: 0 fails at once when another process holds the lock, a positive value
    polls until then (calling ``on_wait`` once with a message saying who holds it); raises
    :class:`RefreshLockBusy` with the holder's pid and start time.
    """
    path = lock_path(build_db)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_CLOEXEC is Python's default: child processes (dbt) do not inherit the lock.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= wait:
                    raise RefreshLockBusy(_busy_message(path, wait)) from None
                if on_wait is not None:
                    holder = read_holder(path)
                    who = holder.describe() if holder else "pid unknown"
                    on_wait(f"another refresh ({who}) holds {path}; waiting up to {wait:.0f}s for it")
                    on_wait = None
                time.sleep(min(poll, max(wait - waited, 0.01)))
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": command,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
        try:
            yield path
        finally:
            try:
                os.ftruncate(fd, 0)  # nobody holds it now; the file itself stays (never unlink a lock file)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def duckdb_lock_hint(message: str) -> str | None:
    """A readable explanation when ``message`` is DuckDB's "Could not set lock" error, else None."""
    if "Could not set lock" not in message:
        return None
    m = re.search(r'Could not set lock on file "([^"]+)"', message)
    file = m.group(1) if m else "the database file"
    pid = re.search(r"PID (\d+)", message)
    who = f"process {pid.group(1)}" if pid else "another process"
    return (
        f"the DuckDB file {file} is open for writing in {who} (another refresh, a `dagster dev` run, or "
        "a SQL client such as the duckdb CLI or DBeaver). Close it or wait for it to finish, then "
        "retry; analysts and BI tools should open the reporting database read-only instead."
    )
