"""What an execution engine does for the orchestrator (docs/engines.md).

The raw load stays one validated code path: the DuckDB loader parses, types and quarantines every
landing file into the local build file (``settings.build_db``), which keeps raw data and
quarantine. An engine then

1. ``sync_raw``: copies the loaded ``raw.*`` tables to the target (PostgreSQL: COPY; Spark: Parquet
   tables),
2. names the dbt target and its environment (``dbt_target``, ``dbt_env``) for ``dbt build``,
3. ``pull_marts``: after a successful build, mirrors the target's ``marts`` schema into the build
   file, so the Python steps (predictive CLV, the Great Expectations mart checks) read the marts the
   engine built through DuckDB, unchanged,
4. ``push_mart``: writes a mart computed in Python (``kpi_clv_predicted``) back to the target's
   ``marts`` schema,
5. ``publish``: publishes the checked ``kpi_*`` marts on the target (``reporting``),
6. ``read_published``: reads a published table as a pandas DataFrame (tests, parity, tools).

:class:`DuckDBEngine` is the default: dbt writes the build file itself, so steps 1, 3 and 4 are
no-ops and publication is the atomic reporting.duckdb file of :mod:`salespulse.publish`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from .. import duck
from ..duck import DuckLimits
from ..settings import Settings

RAW_SCHEMA = "raw"
MARTS_SCHEMA = "marts"
PUBLICATION_TABLE = "_publication"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def ident(name: str) -> str:
    """A checked, double-quoted SQL identifier (table and column names come from our own catalogs)."""
    if not _IDENT.match(name):
        raise ValueError(f"unexpected identifier {name!r}")
    return f'"{name}"'


@dataclass
class EnginePublication:
    """Where an engine published, and how many rows each table holds."""

    location: str
    tables: dict[str, int]
    published_at: dt.datetime
    extra: dict[str, object] = field(default_factory=dict)


def duckdb_tables(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE' "
        "and table_catalog = current_database() order by table_name",
        [schema],
    ).fetchall()
    return [r[0] for r in rows]


def duckdb_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of ``schema.table`` in order."""
    rows = con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ? "
        "and table_catalog = current_database() order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


class Engine:
    """The default behaviour (DuckDB): dbt builds into the build file itself."""

    name = "duckdb"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # ------------------------------------------------------------------ dbt
    @property
    def dbt_target(self) -> str:
        return self.name

    def dbt_env(self) -> dict[str, str]:
        """Environment variables ``dbt_project/profiles.yml`` reads for this engine's target."""
        return {}

    # ------------------------------------------------------------------ data movement
    def sync_raw(self, progress=None) -> dict[str, int]:
        """Copy the build file's ``raw.*`` tables to the target; rows per table on the target."""
        return {}

    def pull_marts(self, progress=None) -> list[str]:
        """Mirror the target's ``marts`` schema into the build file (after a successful dbt build)."""
        return []

    def push_mart(self, table: str) -> int:
        """Copy ``marts.<table>`` of the build file to the target's ``marts`` schema; its row count."""
        return 0

    def query(self, sql: str) -> list[tuple] | None:
        """Rows of a read-only query on the build target; None where this engine cannot run one from
        here. Used to explain failed checks (which rules broke), never to build anything."""
        con = duck.connect(self.settings.build_db, read_only=True, limits=DuckLimits.of(self.settings))
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    # ------------------------------------------------------------------ publication
    def publish(self, tables: list[str], *, as_of: dt.date, run_id: str | None) -> EnginePublication:
        from ..publish import publish

        pub = publish(self.settings.build_db, self.settings.reporting_db, tables, as_of=as_of, run_id=run_id,
                      limits=DuckLimits.of(self.settings))
        return EnginePublication(str(pub.path), pub.tables, pub.published_at, {"size_bytes": pub.bytes})

    def read_published(self, table: str) -> pd.DataFrame:
        con = duckdb.connect(str(self.settings.reporting_db), read_only=True)
        try:
            return con.execute(f"select * from main.{ident(table)}").df()
        finally:
            con.close()

    def published_tables(self) -> list[str]:
        con = duckdb.connect(str(self.settings.reporting_db), read_only=True)
        try:
            return duckdb_tables(con, "main")
        finally:
            con.close()

    def close(self) -> None:
        """Release connections and processes (nothing for DuckDB)."""


DuckDBEngine = Engine
