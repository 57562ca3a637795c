"""Session fixtures for the engine tests: the small demo refreshed ONCE per engine per test session.

PostgreSQL comes from ``SALESPULSE_TEST_PG_HOST`` / ``_PORT`` / ``_USER`` / ``_PASSWORD`` (``.ci/run``
starts a server and sets them); each test session works in its own fresh database. Spark needs
pyspark and Java 17. When CI requires the engines (``CI=true`` or ``SALESPULSE_REQUIRE_ENGINES=1``)
a missing server or tool FAILS the tests; on a developer machine they are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import run_refresh

AS_OF = "2025-06-30"
# The smallest demo that still gives every KPI mart rows (checked by test_engine_parity).
DEMO_SCALE = int(os.environ.get("SALESPULSE_TEST_ENGINE_SCALE", "200"))


def engines_required() -> bool:
    return os.environ.get("SALESPULSE_REQUIRE_ENGINES") == "1" or os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str):
    """Fail when CI requires the engines, skip (with the reason) otherwise."""
    if engines_required():
        pytest.fail(f"engine test cannot run: {reason} (CI / SALESPULSE_REQUIRE_ENGINES=1 requires it)")
    pytest.skip(reason)


@dataclass
class EngineRun:
    engine: str
    tmp: Path
    result: object
    env: dict[str, str]
    seconds: float

    @property
    def build_db(self) -> Path:
        return self.tmp / "warehouse" / "build.duckdb"

    @property
    def reporting_db(self) -> Path:
        return self.tmp / "warehouse" / "reporting.duckdb"

    def settings(self):
        from salespulse.environ import temporary_environ
        from salespulse.settings import load_settings

        with temporary_environ({f"SALESPULSE_{k}": v for k, v in self.env.items()}):
            return load_settings(build_db=str(self.build_db), reporting_db=str(self.reporting_db))

    def engine_obj(self):
        from salespulse.engines import get_engine

        return get_engine(self.settings())


def refresh_with(tmp: Path, landing_src: Path, engine: str, env: dict[str, str]) -> EngineRun:
    landing = tmp / "landing"
    if not landing.exists():
        shutil.copytree(landing_src, landing)
    env = {"ENGINE": engine, **env}
    started = time.monotonic()
    result, _ = run_refresh(tmp, landing, AS_OF, **env)
    return EngineRun(engine, tmp, result, env, time.monotonic() - started)


def failed_steps(result) -> str:
    lines = []
    for e in result.all_events:
        if e.is_failure:
            lines.append(f"{e.step_key}: {e.message}\n{getattr(e.event_specific_data, 'error', '')}"[:3000])
        if e.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = e.event_specific_data
            if not ev.passed and ev.severity.value == "ERROR":
                lines.append(f"check failed: {ev.asset_key.to_user_string()} {ev.check_name}: {ev.description}")
    return "\n".join(lines)


@pytest.fixture(scope="session")
def engine_demo_landing(tmp_path_factory) -> Path:
    import datetime as dt

    from salespulse.demo import generate_demo

    out = tmp_path_factory.mktemp("engine_demo") / "landing"
    generate_demo(out, scale=DEMO_SCALE, seed=42, as_of=dt.date.fromisoformat(AS_OF))
    return out


# ------------------------------------------------------------------------------- PostgreSQL
def pg_admin_params() -> dict[str, object]:
    host = os.environ.get("SALESPULSE_TEST_PG_HOST")
    if not host:
        unavailable("no PostgreSQL server configured: set SALESPULSE_TEST_PG_HOST/_PORT/_USER (.ci/run starts one)")
    return {
        "host": host,
        "port": int(os.environ.get("SALESPULSE_TEST_PG_PORT", "5432")),
        "user": os.environ.get("SALESPULSE_TEST_PG_USER", "postgres"),
        "password": os.environ.get("SALESPULSE_TEST_PG_PASSWORD") or None,
    }


@pytest.fixture(scope="session")
def pg_database():
    """A fresh database on the test server for this session: (connection params, database name)."""
    params = pg_admin_params()
    try:
        import psycopg2
    except ImportError:
        unavailable("psycopg2 is not installed (pip install -e '.[postgres]')")
    name = f"salespulse_test_{os.getpid()}"
    try:
        admin = psycopg2.connect(dbname="postgres", **params)
    except psycopg2.OperationalError as exc:
        unavailable(f"PostgreSQL at {params['host']}:{params['port']} is not reachable: {exc}")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'drop database if exists "{name}"')
        cur.execute(f'create database "{name}"')
    yield params, name
    with admin.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
    admin.close()


@pytest.fixture(scope="session")
def postgres_run(pg_database, engine_demo_landing, tmp_path_factory) -> EngineRun:
    params, name = pg_database
    env = {
        "POSTGRES__HOST": str(params["host"]),
        "POSTGRES__PORT": str(params["port"]),
        "POSTGRES__USER": str(params["user"]),
        "POSTGRES__DATABASE": name,
    }
    if params["password"]:
        env["POSTGRES__PASSWORD"] = str(params["password"])
    run = refresh_with(tmp_path_factory.mktemp("pg_run"), engine_demo_landing, "postgres", env)
    print(f"\n[engine timing] postgres refresh: {run.seconds:.1f} s")
    return run


def pg_connect(run: EngineRun):
    import psycopg2

    s = run.settings().postgres
    return psycopg2.connect(host=s.host, port=s.port, user=s.user, password=s.password, dbname=s.database)


# ------------------------------------------------------------------------------- Spark
def spark_available() -> None:
    try:
        import pyspark  # noqa: F401
        from dbt.adapters.spark import SparkAdapter  # noqa: F401
    except ImportError as exc:
        unavailable(f"pyspark / dbt-spark not installed (pip install -e '.[spark]'): {exc}")
    java = shutil.which("java")
    if not java and os.environ.get("JAVA_HOME"):
        java = Path(os.environ["JAVA_HOME"]) / "bin" / "java"
    if not java:
        unavailable("no Java runtime (Spark needs Java 17: apt-get install openjdk-17-jre-headless)")
    proc = subprocess.run([str(java), "-version"], capture_output=True, text=True)
    if proc.returncode != 0:
        unavailable(f"java -version failed: {proc.stderr}")


@pytest.fixture(scope="session")
def spark_run(engine_demo_landing, tmp_path_factory) -> EngineRun:
    spark_available()
    tmp = tmp_path_factory.mktemp("spark_run")
    env = {"SPARK__WAREHOUSE_DIR": str(tmp / "warehouse" / "spark"), "SPARK__SHUFFLE_PARTITIONS": "2"}
    run = refresh_with(tmp, engine_demo_landing, "spark", env)
    print(f"\n[engine timing] spark refresh: {run.seconds:.1f} s")
    return run


# ------------------------------------------------------------------------------- DuckDB
@pytest.fixture(scope="session")
def duckdb_run(engine_demo_landing, tmp_path_factory) -> EngineRun:
    run = refresh_with(tmp_path_factory.mktemp("duckdb_run"), engine_demo_landing, "duckdb", {})
    print(f"\n[engine timing] duckdb refresh: {run.seconds:.1f} s")
    return run


@pytest.fixture(scope="session")
def spark_tables(spark_run):
    """Every published table and every raw table of the Spark run, read in ONE Spark helper process:
    ({"reporting.kpi_x": frame, "raw.orders": frame, ...}, {"reporting": [...], "raw": [...]})."""
    from salespulse.assets.reporting import KPI_MARTS
    from salespulse.contract import TABLES

    if not spark_run.result.success:
        pytest.fail(f"the Spark refresh failed: {failed_steps(spark_run.result)}")
    pairs = [("reporting", t) for t in [*KPI_MARTS, "_publication"]] + [("raw", t) for t in TABLES]
    return spark_run.engine_obj().read_qualified(pairs)
