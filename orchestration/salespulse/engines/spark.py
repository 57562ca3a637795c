"""Apache Spark engine: raw Parquet tables, dbt-spark (``session`` method), a ``reporting`` database.

Layout under ``settings.spark.warehouse_dir`` (default ``<build_db folder>/spark``)::

    metastore_db/        the Hive metastore (embedded Derby) that dbt and the helpers share
    warehouse/           managed tables (staging, intermediate, marts, reporting_v*)
    raw/<table>/b<batch>.parquet   raw tables: one Parquet file per loaded batch, written by DuckDB
    python_marts/<table>/data.parquet   marts computed in Python (kpi_clv_predicted): external tables
    _exchange/           Parquet exported by Spark for the orchestrator (empty tables, published tables)

dbt-spark's ``session`` method runs Spark inside the dbt process. The embedded Derby metastore
admits one process at a time, so the orchestrator never keeps a SparkSession of its own: each
Spark step it needs (register the raw tables before dbt, publish after the checks) runs in a
short-lived helper process (``python -m salespulse.engines.spark_job``), one after another with
dbt. The marts are mirrored into the build file by reading their Parquet files directly, and the
predictive CLV mart is written as Parquet under an external table, so a refresh starts two helper
JVMs besides dbt's. On a cluster (a Hive metastore service, Unity Catalog) that limit goes away; see
docs/engines.md.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

from ..contract import TABLES
from ..duck import DuckLimits
from ..duck import connect as connect_duckdb
from .base import MARTS_SCHEMA, RAW_SCHEMA, Engine, EnginePublication, duckdb_tables, ident

REPORTING_DATABASE = "reporting"
DERBY_RETRIES = 15
LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
"""
PYTHON_MARTS_DIR = "python_marts"  # marts computed in Python (kpi_clv_predicted), as Parquet


def spark_conf(settings) -> dict[str, str]:
    """The Spark configuration of the helpers; ``dbt_project/profiles.yml`` (target spark) sets the same."""
    s = settings.spark
    wh = Path(s.warehouse_dir)
    conf = {
        "spark.master": s.master,
        "spark.driver.memory": s.driver_memory,
        "spark.sql.shuffle.partitions": str(s.shuffle_partitions),
        "spark.sql.warehouse.dir": str(wh / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={wh / 'metastore_db'};create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={wh}",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.legacy.createHiveTableByDefault": "false",
        "spark.sql.ansi.enabled": "false",  # as dbt-spark sets it
    }
    conf.update({str(k): str(v) for k, v in s.conf.items()})
    return conf


class SparkJobError(RuntimeError):
    pass


class SparkEngine(Engine):
    name = "spark"

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.warehouse = Path(settings.spark.warehouse_dir)

    def conf_dir(self) -> Path:
        """SPARK_CONF_DIR for dbt and the helpers: log4j at ERROR on stderr. dagster-dbt reads dbt's
        JSON log lines from stdout merged with stderr, so Spark must not write progress bars or
        warnings between them."""
        folder = self.warehouse / "conf"
        target = folder / "log4j2.properties"
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            target.write_text(LOG4J2)
        return folder

    def dbt_env(self) -> dict[str, str]:
        s = self.settings.spark
        env = {
            "SPARK_CONF_DIR": str(self.conf_dir()),
            "SALESPULSE_SPARK__MASTER": s.master,
            "SALESPULSE_SPARK__DRIVER_MEMORY": s.driver_memory,
            "SALESPULSE_SPARK__SHUFFLE_PARTITIONS": str(s.shuffle_partitions),
            "SALESPULSE_SPARK__WAREHOUSE_DIR": str(self.warehouse),
        }
        if s.conf:  # extra conf reaches dbt's SparkSession through pyspark's launcher
            env["PYSPARK_SUBMIT_ARGS"] = " ".join(f"--conf {k}={v}" for k, v in s.conf.items()) + " pyspark-shell"
        return env

    # ------------------------------------------------------------------ helper processes
    def run_job(self, job: str, **payload) -> dict:
        """Run one Spark step in a helper process; its JSON answer."""
        self.warehouse.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="salespulse-spark-") as tmp:
            out = Path(tmp) / "result.json"
            request = {"job": job, "conf": spark_conf(self.settings), "result": str(out), **payload}
            env = {**os.environ, **self.dbt_env()}
            env.pop("PYSPARK_SUBMIT_ARGS", None)  # the helper passes every conf itself
            started = time.monotonic()
            for attempt in range(DERBY_RETRIES + 1):
                proc = subprocess.run(
                    [sys.executable, "-m", "salespulse.engines.spark_job"], input=json.dumps(request),
                    capture_output=True, text=True, cwd=self.warehouse, env=env,
                )
                # the JVM of the process before (dbt's) may still hold the embedded metastore for a moment
                if proc.returncode == 0 or "Another instance of Derby" not in proc.stderr or attempt == DERBY_RETRIES:
                    break
                time.sleep(2)
            if proc.returncode != 0 or not out.exists():
                raise SparkJobError(
                    f"spark step {job!r} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}\n{proc.stdout[-2000:]}"
                )
            answer = json.loads(out.read_text())
            answer["seconds"] = round(time.monotonic() - started, 1)
            return answer

    # ------------------------------------------------------------------ raw: DuckDB -> Parquet tables
    def sync_raw(self, progress=None) -> dict[str, int]:
        """One Parquet file per raw batch (written once, atomically); tables re-registered each run."""
        duck = connect_duckdb(self.settings.build_db, read_only=True, limits=DuckLimits.of(self.settings))
        duck.execute("set timezone = 'UTC'")
        locations: dict[str, str] = {}
        written = 0
        try:
            present = set(duckdb_tables(duck, RAW_SCHEMA))
            for table in (t for t in TABLES if t in present):
                folder = self.warehouse / "raw" / table
                folder.mkdir(parents=True, exist_ok=True)
                batches = {r[0] for r in duck.execute(f"select distinct _batch_id from raw.{ident(table)}").fetchall()}
                have = {int(p.stem[1:]) for p in folder.glob("b*.parquet") if p.stem[1:].isdigit()}
                for stale in have - batches:  # the build file was rebuilt
                    (folder / f"b{stale}.parquet").unlink()
                for batch in sorted(batches - have):
                    tmp = folder / f".b{batch}.parquet.tmp"
                    duck.execute(
                        f"copy (select * from raw.{ident(table)} where _batch_id = {int(batch)}) "
                        f"to '{tmp}' (format parquet)"
                    )
                    os.replace(tmp, folder / f"b{batch}.parquet")
                    written += 1
                if not batches:  # an empty table still needs its schema
                    duck.execute(f"copy (select * from raw.{ident(table)} limit 0) to '{folder / 'b0.parquet'}' "
                                 "(format parquet)")
                locations[table] = str(folder)
            expected = {t: duck.execute(f"select count(*) from raw.{ident(t)}").fetchone()[0] for t in locations}
        finally:
            duck.close()
        answer = self.run_job("register_raw", tables=locations, python_marts=self.python_marts())
        counts = {t: int(n) for t, n in answer["counts"].items()}
        wrong = {t: (counts.get(t), n) for t, n in expected.items() if counts.get(t) != n}
        if wrong:
            raise SparkJobError(f"spark raw tables disagree with the build file (spark, duckdb): {wrong}")
        if progress:
            progress(f"spark: {len(locations)} raw tables registered ({written} new Parquet batch files, "
                     f"{answer['seconds']} s)")
        return counts

    # ------------------------------------------------------------------ Spark -> DuckDB
    def _export(self, database: str, tables: list[str] | None) -> tuple[Path, dict[str, str]]:
        folder = self.warehouse / "_exchange" / f"export-{database}-{os.getpid()}-{time.monotonic_ns()}"
        answer = self.run_job("export", database=database, tables=tables, folder=str(folder))
        return folder, answer["tables"]

    def _managed_dir(self, database: str, table: str) -> Path:
        return self.warehouse / "warehouse" / f"{database}.db" / table

    def pull_marts(self, progress=None) -> list[str]:
        """Read the marts' Parquet files straight from the warehouse folder (no Spark process needed);
        a table without data files (an empty result) goes through a Spark export instead."""
        marts_dir = self.warehouse / "warehouse" / f"{MARTS_SCHEMA}.db"
        tables = sorted(p.name for p in marts_dir.iterdir() if p.is_dir()) if marts_dir.is_dir() else []
        sources = {t: f"{self._managed_dir(MARTS_SCHEMA, t)}/**/*.parquet" for t in tables}
        python_dir = self.warehouse / PYTHON_MARTS_DIR
        for t in sorted(p.name for p in python_dir.iterdir()) if python_dir.is_dir() else []:
            sources.setdefault(t, f"{python_dir / t}/*.parquet")
        empty = [t for t, pattern in sources.items() if not list(Path(pattern.split("*")[0]).rglob("*.parquet"))]
        folder = None
        if empty:
            folder, exported = self._export(MARTS_SCHEMA, empty)
            sources.update({t: f"{p}/*.parquet" for t, p in exported.items()})
        try:
            duck = connect_duckdb(self.settings.build_db, limits=DuckLimits.of(self.settings))
            try:
                duck.execute("begin transaction")
                duck.execute(f"create schema if not exists {MARTS_SCHEMA}")
                for stale in set(duckdb_tables(duck, MARTS_SCHEMA)) - set(sources):
                    duck.execute(f"drop table {MARTS_SCHEMA}.{ident(stale)}")
                for table, pattern in sources.items():
                    duck.execute(f"create or replace table {MARTS_SCHEMA}.{ident(table)} as "
                                 f"select * from read_parquet('{pattern}')")
                duck.execute("commit")
            finally:
                duck.close()
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        if progress:
            progress(f"spark: {len(sources)} marts mirrored into {self.settings.build_db} for the Python steps")
        return sorted(sources)

    def push_mart(self, table: str) -> int:
        """Write the mart as Parquet under ``python_marts/<table>``: the external table ``marts.<table>``
        (registered by the next Spark step: raw registration or publication) reads it."""
        folder = self.warehouse / PYTHON_MARTS_DIR / table
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ".data.parquet.tmp"
        duck = connect_duckdb(self.settings.build_db, read_only=True, limits=DuckLimits.of(self.settings))
        try:
            duck.execute(f"copy (select * from {MARTS_SCHEMA}.{ident(table)}) to '{tmp}' (format parquet)")
            rows = duck.execute(f"select count(*) from {MARTS_SCHEMA}.{ident(table)}").fetchone()[0]
        finally:
            duck.close()
        os.replace(tmp, folder / "data.parquet")
        return int(rows)

    def python_marts(self) -> dict[str, str]:
        folder = self.warehouse / PYTHON_MARTS_DIR
        return {p.name: str(p) for p in sorted(folder.iterdir()) if p.is_dir()} if folder.is_dir() else {}

    # ------------------------------------------------------------------ publication
    def publish(self, tables: list[str], *, as_of: dt.date, run_id: str | None) -> EnginePublication:
        if not tables:
            raise ValueError("nothing to publish: no KPI mart was built")
        published_at = dt.datetime.now(dt.UTC)
        answer = self.run_job(
            "publish", source=MARTS_SCHEMA, target=REPORTING_DATABASE, tables=tables, as_of=as_of.isoformat(),
            python_marts=self.python_marts(),
            run_id=run_id, published_at=published_at.isoformat(),
        )
        counts = {t: int(n) for t, n in answer["counts"].items()}
        return EnginePublication(
            f"spark database {REPORTING_DATABASE} (views on {answer['version']}) in {self.warehouse}",
            counts, published_at, {"version": answer["version"]},
        )

    def read_tables(self, database: str, tables: list[str] | None = None) -> dict[str, pd.DataFrame]:
        folder, paths = self._export(database, tables)
        try:
            con = duckdb.connect()
            try:
                con.execute("set timezone = 'UTC'")
                return {t: con.execute(f"select * from read_parquet('{p}/*.parquet')").df() for t, p in paths.items()}
            finally:
                con.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def read_qualified(self, pairs: list[tuple[str, str]]) -> tuple[dict[str, pd.DataFrame], dict[str, list[str]]]:
        """Tables of several databases in ONE helper process: ({"db.table": frame}, {db: tables in it})."""
        folder = self.warehouse / "_exchange" / f"export-many-{os.getpid()}-{time.monotonic_ns()}"
        answer = self.run_job("export", qualified=[list(p) for p in pairs], folder=str(folder))
        try:
            con = duckdb.connect()
            try:
                con.execute("set timezone = 'UTC'")
                frames = {n: con.execute(f"select * from read_parquet('{p}/*.parquet')").df()
                          for n, p in answer["tables"].items()}
            finally:
                con.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return frames, answer["listing"]

    def query(self, sql: str) -> list[tuple] | None:
        return None  # the session lives in a helper process per job; a failed check names its test only

    def read_published(self, table: str) -> pd.DataFrame:
        return self.read_tables(REPORTING_DATABASE, [table])[table]

    def published_tables(self) -> list[str]:
        return self.run_job("list", database=REPORTING_DATABASE)["tables"]
