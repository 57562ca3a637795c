"""Write-audit-publish, last step: copy the checked KPI marts into the reporting database.

The reporting file is built beside its final path under a temporary name, flushed to disk, and
swapped in with an atomic rename. A reader never sees a half-written file: an open connection
keeps reading the previous version, its next connection sees the new one. The file is written in
DuckDB's v1.0 storage format so BI tools that bundle a DuckDB 1.x driver can open it.

A publication killed halfway (a crash, ``kill -9``) leaves only its temporary file
``.<name>.<pid>.<hex>.tmp`` behind, never a damaged reporting file; the next publication removes
such leftovers once the process that wrote them is gone.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from . import duck, faults
from .duck import DuckLimits
from .loader import quote, sql_str

MARTS_SCHEMA = "marts"
STORAGE_VERSION = "v1.0.0"
PUBLICATION_TABLE = "_publication"


@dataclass
class Publication:
    path: Path
    tables: dict[str, int]
    published_at: dt.datetime
    bytes: int


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(reporting_db: Path) -> Path:
    """A fresh temporary path beside ``reporting_db``, naming the writing process."""
    return reporting_db.with_name(f".{reporting_db.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def remove_stale_temp_files(reporting_db: Path) -> list[Path]:
    """Delete temporary files of earlier publications whose writing process is gone."""
    removed: list[Path] = []
    prefix = f".{reporting_db.name}."
    if not reporting_db.parent.is_dir():
        return removed
    for path in reporting_db.parent.iterdir():
        name = path.name
        if not name.startswith(prefix) or ".tmp" not in name[len(prefix):]:
            continue
        fields = name[len(prefix):].split(".")
        # .<name>.<pid>.<hex>.tmp (and DuckDB's .tmp.wal beside it)
        if len(fields) < 3 or not fields[0].isdigit() or fields[2] != "tmp":
            continue
        pid = int(fields[0])
        if pid != os.getpid() and _pid_alive(pid):
            continue  # another publication in progress
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass
    return removed


@contextmanager
def atomic_duckdb_copy(
    build_db: Path, out_path: Path, *, storage_version: str | None = None, limits: DuckLimits | None = None
):
    """Build a new DuckDB file beside ``out_path`` and swap it in atomically.

    Yields a connection with ``build`` (the build warehouse, read-only) and ``out`` (the new file)
    attached. On success the new file is closed, fsynced and renamed over ``out_path``, so a reader
    never sees half a file; on error it is deleted and ``out_path`` stays as it was.
    """
    out_path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(out_path)
    tmp = temp_path(out_path)
    options = f" (storage_version '{storage_version}')" if storage_version else ""
    con = duck.connect(limits=limits)
    try:
        con.execute(f"attach {sql_str(str(build_db))} as build (read_only)")
        con.execute(f"attach {sql_str(str(tmp))} as out{options}")
        yield con
        con.execute("detach out")
        con.execute("detach build")
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
        raise
    con.close()
    _fsync(tmp)
    faults.pause_point("publish")
    os.replace(tmp, out_path)
    _fsync(out_path.parent)


def mart_tables(build_db: Path, prefix: str = "kpi_") -> list[str]:
    con = duckdb.connect(str(build_db), read_only=True)
    try:
        rows = con.execute(
            "select table_name from information_schema.tables where table_schema = ? "
            "and table_name like ? order by table_name",
            [MARTS_SCHEMA, prefix + "%"],
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def publish(
    build_db: Path,
    reporting_db: Path,
    tables: list[str],
    *,
    as_of: dt.date,
    run_id: str | None = None,
    limits: DuckLimits | None = None,
) -> Publication:
    """Copy ``marts.<table>`` for every table into a fresh reporting file and swap it in."""
    if not tables:
        raise ValueError("nothing to publish: no KPI mart was built")
    published_at = dt.datetime.now(dt.UTC)
    counts: dict[str, int] = {}
    with atomic_duckdb_copy(build_db, reporting_db, storage_version=STORAGE_VERSION, limits=limits) as con:
        for table in tables:
            con.execute(
                f"create table out.main.{quote(table)} as "
                f"select * from build.{MARTS_SCHEMA}.{quote(table)}"
            )
            counts[table] = con.execute(f"select count(*) from out.main.{quote(table)}").fetchone()[0]
        con.execute(
            f"create table out.main.{PUBLICATION_TABLE} (table_name varchar, row_count bigint, "
            "as_of date, published_at timestamptz, run_id varchar)"
        )
        con.executemany(
            f"insert into out.main.{PUBLICATION_TABLE} values (?, ?, ?, ?, ?)",
            [[t, n, as_of, published_at, run_id] for t, n in counts.items()],
        )
    return Publication(reporting_db, counts, published_at, reporting_db.stat().st_size)
