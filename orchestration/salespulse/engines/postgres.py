"""PostgreSQL engine: raw tables by COPY, dbt-postgres, publication to a ``reporting`` schema.

Raw sync is incremental by ``_batch_id``: a batch the target does not have yet is exported by
DuckDB as CSV and streamed with ``COPY raw.<table> FROM STDIN`` (one transaction per table). When
the target disagrees with the build file in any other way (columns changed, a batch it has that the
build file no longer has, a row count that differs after the copy) the table is rebuilt from the
build file in the same transaction: the target never keeps a partial or duplicated batch.

Publication builds ``reporting__next`` with a copy of every checked ``kpi_*`` mart and the
``_publication`` table, then drops ``reporting`` and renames ``reporting__next`` to it, and grants
the read-only BI role, all in ONE transaction: readers see the old or the new reporting schema,
never a mix, and a failed publication leaves the previous one in place.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from ..contract import TABLES
from ..duck import DuckLimits
from ..duck import connect as connect_duckdb
from .base import (
    MARTS_SCHEMA,
    PUBLICATION_TABLE,
    RAW_SCHEMA,
    Engine,
    EnginePublication,
    duckdb_columns,
    duckdb_tables,
    ident,
)

_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$", re.I)
_DUCK_TO_PG = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "TINYINT": "smallint",
    "HUGEINT": "numeric(38,0)",
    "UBIGINT": "numeric(20,0)",
    "UINTEGER": "bigint",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "TIME": "time",
    "INTERVAL": "interval",
    "UUID": "uuid",
}
_PG_TO_DUCK = {
    "text": "VARCHAR",
    "character varying": "VARCHAR",
    "character": "VARCHAR",
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "double precision": "DOUBLE",
    "real": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp without time zone": "TIMESTAMP",
    "timestamp with time zone": "TIMESTAMPTZ",
    "uuid": "UUID",
}


def pg_type(duck_type: str) -> str:
    """The PostgreSQL type of a DuckDB column type (text for anything unusual)."""
    t = duck_type.upper().strip()
    m = _DECIMAL.match(t)
    if m:
        return f"numeric({m.group(1)},{m.group(2)})"
    return _DUCK_TO_PG.get(t, "text")


def duck_type(data_type: str, precision: int | None, scale: int | None) -> str:
    """The DuckDB type of a PostgreSQL column (numeric without a fitting precision -> DOUBLE)."""
    if data_type == "numeric":
        if precision is not None and precision <= 38 and scale is not None:
            return f"DECIMAL({precision},{scale})"
        return "DOUBLE"
    return _PG_TO_DUCK.get(data_type, "VARCHAR")


class PostgresEngine(Engine):
    name = "postgres"

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.pg = settings.postgres

    # ------------------------------------------------------------------ connections
    def _connect(self, database: str | None = None):
        import psycopg2

        con = psycopg2.connect(
            host=self.pg.host, port=self.pg.port, user=self.pg.user, password=self.pg.password or None,
            dbname=database or self.pg.database, sslmode=self.pg.sslmode, application_name="salespulse",
        )
        with con.cursor() as cur:
            cur.execute("set timezone = 'UTC'; set datestyle = 'ISO, YMD'; set intervalstyle = 'iso_8601'")
        con.commit()
        return con

    @contextmanager
    def connection(self):
        con = self._connect()
        try:
            yield con
        finally:
            con.close()

    def ensure_database(self) -> None:
        """Create the configured database when the server does not have it yet."""
        import psycopg2

        try:
            self._connect().close()
            return
        except psycopg2.OperationalError as exc:
            if "does not exist" not in str(exc):
                raise
        admin = self._connect("postgres")
        admin.autocommit = True
        try:
            with admin.cursor() as cur:
                cur.execute(f"create database {ident(self.pg.database)}")
        finally:
            admin.close()

    def dbt_env(self) -> dict[str, str]:
        env = {
            "SALESPULSE_POSTGRES__HOST": self.pg.host,
            "SALESPULSE_POSTGRES__PORT": str(self.pg.port),
            "SALESPULSE_POSTGRES__USER": self.pg.user,
            "SALESPULSE_POSTGRES__DATABASE": self.pg.database,
            "SALESPULSE_POSTGRES__SSLMODE": self.pg.sslmode,
        }
        if self.pg.password:
            env["SALESPULSE_POSTGRES__PASSWORD"] = self.pg.password
        return env

    # ------------------------------------------------------------------ catalog
    @staticmethod
    def _pg_columns(cur, schema: str, table: str) -> list[tuple[str, str, int | None, int | None]]:
        cur.execute(
            "select column_name, data_type, numeric_precision, numeric_scale from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, table),
        )
        return cur.fetchall()

    @staticmethod
    def _pg_tables(cur, schema: str) -> list[str]:
        cur.execute(
            "select table_name from information_schema.tables where table_schema = %s "
            "and table_type = 'BASE TABLE' order by table_name",
            (schema,),
        )
        return [r[0] for r in cur.fetchall()]

    # ------------------------------------------------------------------ raw: DuckDB -> PostgreSQL
    def sync_raw(self, progress=None) -> dict[str, int]:
        self.ensure_database()
        duck = connect_duckdb(self.settings.build_db, read_only=True, limits=DuckLimits.of(self.settings))
        duck.execute("set timezone = 'UTC'")
        counts: dict[str, int] = {}
        try:
            present = set(duckdb_tables(duck, RAW_SCHEMA))
            with self.connection() as con, tempfile.TemporaryDirectory(prefix="salespulse-pg-") as tmp:
                with con.cursor() as cur:
                    cur.execute(f"create schema if not exists {ident(RAW_SCHEMA)}")
                con.commit()
                for table in (t for t in TABLES if t in present):
                    counts[table], how = self._sync_table(duck, con, table, Path(tmp))
                    if progress:
                        progress(f"postgres: raw.{table}: {how}, {counts[table]:,} rows")
        finally:
            duck.close()
        return counts

    def _sync_table(self, duck, con, table: str, tmp: Path) -> tuple[int, str]:
        cols = duckdb_columns(duck, RAW_SCHEMA, table)
        wanted = [(c, pg_type(t)) for c, t in cols]
        target = f"{ident(RAW_SCHEMA)}.{ident(table)}"
        col_list = ", ".join(ident(c) for c, _ in cols)
        duck_rows = duck.execute(f"select count(*) from raw.{ident(table)}").fetchone()[0]
        has_batches = any(c == "_batch_id" for c, _ in cols)
        try:
            with con.cursor() as cur:
                existing = self._pg_columns(cur, RAW_SCHEMA, table)
                same_shape = [(c, duck_type(t, p, s)) for c, t, p, s in existing] == [
                    (c, duck_type(*_pg_parts(pt))) for c, pt in wanted
                ]
                full = not existing or not same_shape or not has_batches
                new_batches: list[int] = []
                if not full:
                    cur.execute(f"select distinct _batch_id from {target}")
                    on_target = {r[0] for r in cur.fetchall()}
                    batch_sql = f"select distinct _batch_id from raw.{ident(table)}"
                    in_build = {r[0] for r in duck.execute(batch_sql).fetchall()}
                    if on_target - in_build:
                        full = True  # the build file was rebuilt: start over
                    new_batches = sorted(in_build - on_target)
                if full:
                    cur.execute(f"drop table if exists {target}")
                    cur.execute(f"create table {target} ({', '.join(f'{ident(c)} {t}' for c, t in wanted)})")
                    self._copy_in(duck, cur, f"select {col_list} from raw.{ident(table)}", target, col_list, tmp)
                    how = "full copy"
                elif new_batches:
                    ids = ", ".join(str(int(b)) for b in new_batches)
                    self._copy_in(
                        duck, cur, f"select {col_list} from raw.{ident(table)} where _batch_id in ({ids})",
                        target, col_list, tmp,
                    )
                    how = f"{len(new_batches)} new batch(es) copied"
                else:
                    how = "up to date"
                cur.execute(f"select count(*) from {target}")
                pg_rows = cur.fetchone()[0]
                if pg_rows != duck_rows:  # never keep a target that disagrees with the build file
                    cur.execute(f"truncate {target}")
                    self._copy_in(duck, cur, f"select {col_list} from raw.{ident(table)}", target, col_list, tmp)
                    cur.execute(f"select count(*) from {target}")
                    pg_rows = cur.fetchone()[0]
                    how += f"; count mismatch, reloaded ({pg_rows:,} rows)"
                    if pg_rows != duck_rows:
                        raise RuntimeError(
                            f"postgres raw.{table}: {pg_rows} rows after COPY, build file has {duck_rows}"
                        )
            con.commit()
        except BaseException:
            con.rollback()
            raise
        return pg_rows, how

    @staticmethod
    def _copy_in(duck, cur, select_sql: str, target: str, col_list: str, tmp: Path) -> None:
        path = tmp / "batch.csv"
        duck.execute(f"copy ({select_sql}) to '{path}' (format csv, header false, quote '\"', escape '\"')")
        with path.open("rb") as fh:
            cur.copy_expert(f"copy {target} ({col_list}) from stdin with (format csv, header false)", fh)
        path.unlink()

    # ------------------------------------------------------------------ PostgreSQL -> DuckDB
    def _copy_out_frame_sql(self, cur, schema: str, table: str, tmp: Path) -> tuple[Path, dict[str, str]]:
        cols = self._pg_columns(cur, schema, table)
        if not cols:
            raise RuntimeError(f"postgres: {schema}.{table} does not exist")
        types = {c: duck_type(t, p, s) for c, t, p, s in cols}
        path = tmp / f"{schema}.{table}.csv"
        with path.open("wb") as fh:
            cur.copy_expert(
                f"copy (select * from {ident(schema)}.{ident(table)}) to stdout with (format csv, header false)", fh
            )
        return path, types

    @staticmethod
    def _read_csv_sql(path: Path, types: dict[str, str]) -> str:
        spec = "{" + ", ".join(f"'{c}': '{t}'" for c, t in types.items()) + "}"
        return (
            f"select * from read_csv('{path}', columns = {spec}, header = false, auto_detect = false, "
            "quote = '\"', escape = '\"', allow_quoted_nulls = false, delim = ',')"
        )

    def pull_marts(self, progress=None) -> list[str]:
        duck = connect_duckdb(self.settings.build_db, limits=DuckLimits.of(self.settings))
        duck.execute("set timezone = 'UTC'")
        pulled: list[str] = []
        try:
            with (
                self.connection() as con,
                con.cursor() as cur,
                tempfile.TemporaryDirectory(prefix="salespulse-pg-") as t,
            ):
                tables = self._pg_tables(cur, MARTS_SCHEMA)
                duck.execute("begin transaction")
                duck.execute(f"create schema if not exists {MARTS_SCHEMA}")
                for stale in set(duckdb_tables(duck, MARTS_SCHEMA)) - set(tables):
                    duck.execute(f"drop table {MARTS_SCHEMA}.{ident(stale)}")
                for table in tables:
                    path, types = self._copy_out_frame_sql(cur, MARTS_SCHEMA, table, Path(t))
                    duck.execute(
                        f"create or replace table {MARTS_SCHEMA}.{ident(table)} as {self._read_csv_sql(path, types)}"
                    )
                    path.unlink()
                    pulled.append(table)
                duck.execute("commit")
        finally:
            duck.close()
        if progress:
            progress(f"postgres: {len(pulled)} marts mirrored into {self.settings.build_db} for the Python steps")
        return pulled

    def push_mart(self, table: str) -> int:
        duck = connect_duckdb(self.settings.build_db, read_only=True, limits=DuckLimits.of(self.settings))
        duck.execute("set timezone = 'UTC'")
        try:
            cols = duckdb_columns(duck, MARTS_SCHEMA, table)
            target = f"{ident(MARTS_SCHEMA)}.{ident(table)}"
            col_list = ", ".join(ident(c) for c, _ in cols)
            with self.connection() as con, tempfile.TemporaryDirectory(prefix="salespulse-pg-") as tmp:
                try:
                    with con.cursor() as cur:
                        cur.execute(f"create schema if not exists {ident(MARTS_SCHEMA)}")
                        cur.execute(f"drop table if exists {target}")
                        cur.execute(f"create table {target} ({', '.join(f'{ident(c)} {pg_type(t)}' for c, t in cols)})")
                        self._copy_in(duck, cur, f"select {col_list} from marts.{ident(table)}", target, col_list,
                                      Path(tmp))
                        cur.execute(f"select count(*) from {target}")
                        rows = cur.fetchone()[0]
                    con.commit()
                except BaseException:
                    con.rollback()
                    raise
        finally:
            duck.close()
        return rows

    # ------------------------------------------------------------------ publication
    def ensure_bi_role(self, cur) -> None:
        cur.execute("select 1 from pg_roles where rolname = %s", (self.pg.bi_role,))
        if cur.fetchone() is None:
            cur.execute(f"create role {ident(self.pg.bi_role)} nologin")

    def publish(self, tables: list[str], *, as_of: dt.date, run_id: str | None) -> EnginePublication:
        if not tables:
            raise ValueError("nothing to publish: no KPI mart was built")
        reporting = ident(self.pg.reporting_schema)
        staging = ident(self.pg.reporting_schema + "__next")
        role = ident(self.pg.bi_role)
        published_at = dt.datetime.now(dt.UTC)
        counts: dict[str, int] = {}
        with self.connection() as con:
            try:
                with con.cursor() as cur:
                    # the role is cluster-wide: create it in its own short transaction
                    self.ensure_bi_role(cur)
                con.commit()
            except Exception:
                con.rollback()  # created concurrently by another publication: fine
            try:
                with con.cursor() as cur:
                    cur.execute(f"drop schema if exists {staging} cascade")
                    cur.execute(f"create schema {staging}")
                    for table in tables:
                        cur.execute(f"create table {staging}.{ident(table)} as select * from marts.{ident(table)}")
                        counts[table] = cur.rowcount
                    cur.execute(
                        f"create table {staging}.{PUBLICATION_TABLE} (table_name text, row_count bigint, as_of date, "
                        "published_at timestamptz, run_id text)"
                    )
                    cur.executemany(
                        f"insert into {staging}.{PUBLICATION_TABLE} values (%s, %s, %s, %s, %s)",
                        [(t, n, as_of, published_at, run_id) for t, n in counts.items()],
                    )
                    cur.execute(f"drop schema if exists {reporting} cascade")
                    cur.execute(f"alter schema {staging} rename to {reporting}")
                    cur.execute(f"grant connect on database {ident(self.pg.database)} to {role}")
                    cur.execute(f"grant usage on schema {reporting} to {role}")
                    cur.execute(f"grant select on all tables in schema {reporting} to {role}")
                con.commit()
            except BaseException:
                con.rollback()
                raise
        location = f"postgresql://{self.pg.host}:{self.pg.port}/{self.pg.database} schema {self.pg.reporting_schema}"
        return EnginePublication(location, counts, published_at, {"bi_role": self.pg.bi_role})

    def read_table(self, schema: str, table: str) -> pd.DataFrame:
        with self.connection() as con, con.cursor() as cur, tempfile.TemporaryDirectory(prefix="salespulse-pg-") as t:
            path, types = self._copy_out_frame_sql(cur, schema, table, Path(t))
            duck = duckdb.connect()
            try:
                duck.execute("set timezone = 'UTC'")
                return duck.execute(self._read_csv_sql(path, types)).df()
            finally:
                duck.close()

    def read_published(self, table: str) -> pd.DataFrame:
        return self.read_table(self.pg.reporting_schema, table)

    def query(self, sql: str) -> list[tuple] | None:
        with self.connection() as con, con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def published_tables(self) -> list[str]:
        with self.connection() as con, con.cursor() as cur:
            return self._pg_tables(cur, self.pg.reporting_schema)


def _pg_parts(pg: str) -> tuple[str, int | None, int | None]:
    """('numeric', 18, 4) for 'numeric(18,4)'; information_schema's data_type names otherwise."""
    m = re.match(r"^numeric\((\d+),(\d+)\)$", pg)
    if m:
        return "numeric", int(m.group(1)), int(m.group(2))
    names = {"timestamp": "timestamp without time zone", "timestamptz": "timestamp with time zone"}
    return names.get(pg, pg), None, None

