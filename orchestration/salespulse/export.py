"""Export the published reporting database to files: one ``<table>.parquet`` (or ``.csv``) a table.

For BI tools and notebooks that read Parquet rather than DuckDB. The reporting file is opened
read-only (it can be exported while a refresh runs and while other readers hold it), and every
output file is written under a temporary name beside its final path, flushed to disk and renamed
into place: a reader of ``<DIR>/kpi_revenue.parquet`` sees the previous file or the new one, never
half a file.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .loader import quote, sql_str

FORMATS = {
    "parquet": ("parquet", "(format parquet, compression zstd)"),
    "csv": ("csv", "(format csv, header true)"),
}


@dataclass(frozen=True)
class ExportedTable:
    table: str
    path: Path
    rows: int
    bytes: int


def reporting_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every base table of the reporting database (the KPI marts and ``_publication``)."""
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = 'main' "
        "and table_type = 'BASE TABLE' and table_catalog = current_database() order by table_name"
    ).fetchall()
    return [r[0] for r in rows]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def export_reporting(
    reporting_db: Path, out_dir: Path, *, fmt: str = "parquet", tables: list[str] | None = None
) -> list[ExportedTable]:
    """Write every table of ``reporting_db`` (or ``tables``) to ``out_dir/<table>.<fmt>``, atomically per file."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    if not reporting_db.exists():
        raise FileNotFoundError(f"no reporting database at {reporting_db}: run `salespulse refresh` first")
    suffix, options = FORMATS[fmt]
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(reporting_db), read_only=True)
    exported: list[ExportedTable] = []
    try:
        available = reporting_tables(con)
        wanted = available if tables is None else tables
        unknown = [t for t in wanted if t not in available]
        if unknown:
            raise ValueError(f"no table(s) {', '.join(unknown)} in {reporting_db}")
        for table in wanted:
            final = out_dir / f"{table}.{suffix}"
            tmp = out_dir / f".{table}.{suffix}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
            try:
                con.execute(f"copy (select * from main.{quote(table)}) to {sql_str(str(tmp))} {options}")
                rows = con.execute(f"select count(*) from main.{quote(table)}").fetchone()[0]
                _fsync(tmp)
                os.replace(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            exported.append(ExportedTable(table, final, int(rows), final.stat().st_size))
    finally:
        con.close()
    _fsync(out_dir)
    return exported
