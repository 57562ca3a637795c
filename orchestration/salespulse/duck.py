"""Opening DuckDB: every connection of a refresh gets the same memory cap and thread count.

``duckdb_memory_limit`` (default 2GB) caps each database instance; DuckDB spills sorts, joins and
aggregates to disk beyond it. The loader and dbt set it on the build warehouse; the steps after dbt
(CLV fit, mart checks, publication, semantic snapshot) open their own connections through
:func:`connect` so that none of them runs uncapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from .settings import Settings


def sql_str(value: str) -> str:
    """``value`` as a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class DuckLimits:
    """``memory_limit`` (e.g. ``3GB``) and ``threads`` of a DuckDB connection; None = DuckDB's default."""

    memory_limit: str | None = None
    threads: int | None = None

    @classmethod
    def of(cls, settings: Settings) -> DuckLimits:
        return cls(settings.duckdb_memory_limit, settings.duckdb_threads)

    def apply(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        if self.memory_limit:
            con.execute(f"set memory_limit = {sql_str(self.memory_limit)}")
        if self.threads:
            con.execute(f"set threads = {int(self.threads)}")
        return con


def connect(
    path: Path | str | None = None, *, read_only: bool = False, limits: DuckLimits | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection to ``path`` (in-memory when None) with ``limits`` applied."""
    con = duckdb.connect() if path is None else duckdb.connect(str(path), read_only=read_only)
    try:
        return (limits or DuckLimits()).apply(con)
    except BaseException:
        con.close()
        raise
