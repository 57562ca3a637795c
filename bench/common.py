"""Helpers shared by the benchmark scripts: process-tree RSS sampling, timed subprocesses, sizes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
VENV_BIN = Path(sys.executable).parent


def log(msg: str) -> None:
    """A progress line on stderr: ``[HH:MM:SS] message``."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- /proc helpers
def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as fh:
                    out.extend(int(x) for x in fh.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return out


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(root: int) -> tuple[int, int]:
    """(sum of VmRSS over ``root`` and all its descendants, number of processes)."""
    total = 0
    seen = 0
    stack = [root]
    visited: set[int] = set()
    while stack:
        pid = stack.pop()
        if pid in visited:
            continue
        visited.add(pid)
        total += _rss_bytes(pid)
        seen += 1
        stack.extend(_children(pid))
    return total, seen


@dataclass
class Measured:
    cmd: list[str]
    returncode: int
    wall_s: float
    peak_rss_bytes: int
    peak_procs: int
    stdout: str
    stderr_lines: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, line)
    rss_samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, tree RSS)

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_bytes / 2**20


def run_measured(
    cmd: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    interval: float = 0.1,
    echo_prefix: str | None = None,
    echo_filter=None,
) -> Measured:
    """Run ``cmd``, sampling the RSS of its whole process tree every ``interval`` seconds.

    stderr lines are kept with their arrival time (and echoed with ``echo_prefix`` when given and
    ``echo_filter(line)`` is true); stdout is captured whole.
    """
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    peak = [0, 0]
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss, n = tree_rss(proc.pid)
            samples.append((time.monotonic() - start, rss))
            if rss > peak[0]:
                peak[0] = rss
            peak[1] = max(peak[1], n)
            done.wait(interval)

    lines: list[tuple[float, str]] = []

    def read_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            line = line.rstrip("\n")
            lines.append((time.monotonic() - start, line))
            if echo_prefix is not None and (echo_filter is None or echo_filter(line)):
                print(f"{echo_prefix}{line}", file=sys.stderr, flush=True)

    out_chunks: list[str] = []

    def read_out() -> None:
        assert proc.stdout is not None
        out_chunks.append(proc.stdout.read())

    threads = [threading.Thread(target=f, daemon=True) for f in (sample, read_err, read_out)]
    for t in threads:
        t.start()
    rc = proc.wait()
    wall = time.monotonic() - start
    done.set()
    for t in threads:
        t.join(timeout=10)
    return Measured(cmd, rc, wall, peak[0], peak[1], "".join(out_chunks), lines, samples)


# ----------------------------------------------------------------------------- misc
def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def warehouse_sizes(build_db: Path, reporting_db: Path) -> dict[str, int]:
    wal = build_db.with_name(build_db.name + ".wal")
    return {
        "build_db_bytes": file_size(build_db) + file_size(wal),
        "reporting_db_bytes": file_size(reporting_db),
    }


def parquet_rows(folder: Path) -> dict[str, int]:
    import pyarrow.parquet as pq

    return {p.stem: pq.ParquetFile(p).metadata.num_rows for p in sorted(folder.glob("*.parquet"))}


PROGRESS_RE = re.compile(r"^\[\s*([0-9.]+)s\] (.*)$")


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)
