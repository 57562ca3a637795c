"""Shared test helpers: write small landing files by hand."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from salespulse.contract import TABLES

# A pytest-xdist worker's __main__ has neither __spec__ nor __file__, which pyspark.sql.connect
# (imported by Great Expectations when pyspark is installed) takes for its own doctest runner: it
# then calls sys.exit(0) in the middle of collection. Give the worker's __main__ a file name.
_main = sys.modules.get("__main__")
if _main is not None and getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def write_csv(path: Path, table: str, rows: Iterable[Mapping[str, object]], encoding: str = "utf-8") -> Path:
    """Write ``rows`` as a canonical landing CSV for ``table`` (missing keys -> empty = NULL)."""
    cols = list(TABLES[table].columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for row in rows:
            unknown = set(row) - set(cols)
            assert not unknown, f"test data has columns not in {table}: {unknown}"
            w.writerow(["" if row.get(c) is None else row.get(c) for c in cols])
    return path


@pytest.fixture
def tmp_settings_env(tmp_path, monkeypatch):
    """Isolate settings from any salespulse.yaml or SALESPULSE_* variable of the developer."""
    import os

    for key in list(os.environ):
        if key.startswith("SALESPULSE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_refresh(tmp_path: Path, landing: Path, as_of: str, **env: str):
    """Run the Dagster ``refresh`` job in process on ``landing``; return (result, reporting_db path).

    ``env`` sets SALESPULSE_* overrides (e.g. FISCAL_YEAR_START_MONTH="4") for this run only.
    """
    from salespulse.definitions import REFRESH_JOB, defs
    from salespulse.environ import temporary_environ

    build_db = tmp_path / "warehouse" / "build.duckdb"
    reporting_db = tmp_path / "warehouse" / "reporting.duckdb"
    with temporary_environ({f"SALESPULSE_{k}": v for k, v in env.items()}):
        result = defs.resolve_job_def(REFRESH_JOB).execute_in_process(
            run_config={
                "resources": {
                    "settings": {
                        "config": {
                            "as_of": as_of,
                            "landing_dir": str(landing),
                            "build_db": str(build_db),
                            "reporting_db": str(reporting_db),
                        }
                    }
                }
            },
            raise_on_error=False,
        )
    return result, reporting_db


def query(db: Path, sql: str, params=None):
    """Rows of ``sql`` on a DuckDB file opened read-only, as a pandas DataFrame."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


# Session fixtures of the engine tests (PostgreSQL, Spark, parity): one refresh per engine per session.
from engine_fixtures import (  # noqa: E402,F401
    duckdb_run,
    engine_demo_landing,
    pg_database,
    postgres_run,
    spark_run,
    spark_tables,
)

# ----------------------------------------------------------------------------- parallel runs
#: Test modules that share the session-scoped engine builds (tests/engine_fixtures.py): one worker.
ENGINE_MODULES = frozenset({"test_engine_parity", "test_engine_postgres", "test_engine_spark"})


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist with ``--dist loadgroup`` (set in pyproject.toml) every module runs on one
    worker, so its module-scoped fixtures (a refresh of the demo, say) are built once, and the engine
    modules share one worker for their session-scoped builds on DuckDB, PostgreSQL and Spark.

    The group goes straight into the node id (``<nodeid>@<group>``, what xdist's loadgroup scheduler
    reads): xdist 3.8's own ``xdist_group`` handling writes ``item._nodeid``, which pytest 9 no longer
    reads, so its marks silently group nothing."""
    if config.getoption("dist", "no") != "loadgroup" or not config.getoption("numprocesses", None):
        return  # one process (`pytest -n 0`): nothing to group
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else item.nodeid.split("::")[0]
        group = "engines" if module in ENGINE_MODULES else module
        if "@" not in item.nodeid.rsplit("]", 1)[-1]:
            _set_node_id(item, f"{item.nodeid}@{group}")


def _set_node_id(item, nodeid: str) -> None:
    if hasattr(item, "_id"):  # pytest >= 9: the node id is a NodeId object
        from _pytest.nodeid import coerce_node_id

        item._id = coerce_node_id(nodeid)
    else:
        item._nodeid = nodeid
