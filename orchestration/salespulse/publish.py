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
from dataclasses import dataclass
from pathlib import Path

import duckdb

from . import faults
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
) -> Publication:
    """Copy ``marts.<table>`` for every table into a fresh reporting file and swap it in."""
    if not tables:
        raise ValueError("nothing to publish: no KPI mart was built")
    reporting_db.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(reporting_db)
    tmp = temp_path(reporting_db)
    published_at = dt.datetime.now(dt.UTC)
    counts: dict[str, int] = {}
    con = duckdb.connect()
    try:
        con.execute(f"attach {sql_str(str(build_db))} as build (read_only)")
        con.execute(f"attach {sql_str(str(tmp))} as pub (storage_version '{STORAGE_VERSION}')")
        for table in tables:
            con.execute(
                f"create table pub.main.{quote(table)} as "
                f"select * from build.{MARTS_SCHEMA}.{quote(table)}"
            )
            counts[table] = con.execute(f"select count(*) from pub.main.{quote(table)}").fetchone()[0]
        con.execute(
            f"create table pub.main.{PUBLICATION_TABLE} (table_name varchar, row_count bigint, "
            "as_of date, published_at timestamptz, run_id varchar)"
        )
        con.executemany(
            f"insert into pub.main.{PUBLICATION_TABLE} values (?, ?, ?, ?, ?)",
            [[t, n, as_of, published_at, run_id] for t, n in counts.items()],
        )
        con.execute("detach pub")
        con.execute("detach build")
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
        raise
    con.close()
    _fsync(tmp)
    faults.pause_point("publish")
    os.replace(tmp, reporting_db)
    _fsync(reporting_db.parent)
    return Publication(reporting_db, counts, published_at, reporting_db.stat().st_size)
