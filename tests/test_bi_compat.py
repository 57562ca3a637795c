"""BI compatibility: the published file opens in a DuckDB 1.x client; Parquet export is faithful.

BI tools bundle older DuckDB drivers. The test installs DuckDB 1.x into a virtualenv of its own
(kept in pytest's cache folder and reused) and reads the reporting database with it, in a separate
process. It needs PyPI: without it the test fails, loudly, rather than skipping.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from test_faults import published_demo

from salespulse.cli import main

DUCKDB_1X = "1.1.3"  # a DuckDB 1.x release with wheels for Python 3.11 on PyPI
REPORTING = Path("warehouse/reporting.duckdb")

# Shared by this process (DuckDB 2.x) and the DuckDB 1.x reader: an order-independent digest of a
# table's text, column by column (every value decoded by DuckDB itself, no Python conversion).
DIGEST_SRC = r"""
def digest(con, table):
    cols = [r[0] for r in con.execute(f'describe "{table}"').fetchall()]
    text = ", ".join(f"coalesce(cast(\"{c}\" as varchar), '<null>')" for c in cols)
    return con.execute(
        f"select md5(coalesce(string_agg(r, chr(10) order by r), '')) "
        f"from (select concat_ws(chr(31), {text}) as r from \"{table}\")"
    ).fetchone()[0]
"""
exec(DIGEST_SRC)  # defines digest()

READER = r"""
import json, sys
import duckdb
""" + DIGEST_SRC + r"""
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("set TimeZone = 'UTC'")
tables = [r[0] for r in con.execute(
    "select table_name from information_schema.tables where table_schema = 'main' order by 1").fetchall()]
counts = {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
digests = {t: digest(con, t) for t in tables}
revenue = con.execute(
    "select cast(period_start as varchar), cast(bookings as varchar), orders from kpi_revenue "
    "where slice = 'company' and period_type = 'month' order by period_start desc limit 6").fetchall()
print(json.dumps({"version": duckdb.__version__, "counts": counts, "digests": digests, "revenue": revenue}))
"""


@pytest.fixture(scope="module")
def reporting_db(tmp_path_factory) -> Path:
    return published_demo(tmp_path_factory) / REPORTING


@pytest.fixture(scope="session")
def duckdb1_python(request) -> Path:
    """A Python with duckdb==1.x installed (a virtualenv reused across test runs)."""
    cache = getattr(request.config, "cache", None)
    base = (
        Path(cache.mkdir("salespulse-bi-compat"))
        if cache is not None
        else Path(request.config.rootpath) / ".pytest_cache" / "d" / "salespulse-bi-compat"
    )
    venv = base / f"venv-duckdb-{DUCKDB_1X}"
    python = venv / "bin" / "python"
    ready = venv / ".installed"
    if ready.exists() and python.exists():
        return python
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, f"cannot create a virtualenv at {venv}:\n{proc.stderr}"
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", f"duckdb=={DUCKDB_1X}"],
        capture_output=True, text=True, timeout=900, env=env,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"could not install duckdb=={DUCKDB_1X} from PyPI into {venv} (this test needs PyPI; CI has it):\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}",
            pytrace=False,
        )
    ready.write_text(DUCKDB_1X + "\n")
    return python


def _counts_now(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_catalog = current_database() "
            "and table_schema = 'main' order by 1").fetchall()]
        return {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


def test_reporting_db_opens_in_duckdb_1x(reporting_db, duckdb1_python, tmp_path):
    script = tmp_path / "read_reporting.py"
    script.write_text(READER)
    proc = subprocess.run([str(duckdb1_python), str(script), str(reporting_db)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, f"DuckDB {DUCKDB_1X} cannot read {reporting_db}:\n{proc.stderr[-3000:]}"
    old = json.loads(proc.stdout)
    assert old["version"] == DUCKDB_1X

    current = _counts_now(reporting_db)
    assert old["counts"] == current
    assert "kpi_revenue" in current and "_publication" in current and current["kpi_revenue"] > 0

    con = duckdb.connect(str(reporting_db), read_only=True)
    try:
        # the same text for every value of every table, read by DuckDB 1.x and by this DuckDB
        con.execute("set TimeZone = 'UTC'")
        digests = {t: digest(con, t) for t in current}  # noqa: F821 - defined by exec(DIGEST_SRC)
        assert old["digests"] == digests
        revenue = con.execute(
            "select cast(period_start as varchar), cast(bookings as varchar), orders from kpi_revenue "
            "where slice = 'company' and period_type = 'month' order by period_start desc limit 6").fetchall()
    finally:
        con.close()
    assert [list(r) for r in revenue] == old["revenue"]


def _digest(con, relation: str) -> tuple[int, str]:
    return con.execute(
        f"select count(*), md5(coalesce(string_agg(cast(t as varchar), chr(10) order by cast(t as varchar)), '')) "
        f"from {relation} t"
    ).fetchone()


def test_export_parquet_matches_reporting_tables(reporting_db, tmp_settings_env, capsys):
    out = tmp_settings_env / "export"
    out.mkdir()
    (out / "kpi_revenue.parquet").write_text("an older export")  # replaced, not appended to
    before = reporting_db.read_bytes()
    assert main(["export", "--format", "parquet", "--out", str(out), "--reporting-db", str(reporting_db)]) == 0
    printed = capsys.readouterr().out
    assert reporting_db.read_bytes() == before  # read-only

    tables = _counts_now(reporting_db)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.parquet" for t in tables)  # no temp files left
    con = duckdb.connect()
    try:
        con.execute(f"attach '{reporting_db}' as rep (read_only)")
        for table, n in tables.items():
            parquet = out / f"{table}.parquet"
            assert f"{n:>12,} rows" in printed
            assert _digest(con, f"read_parquet('{parquet}')") == _digest(con, f'rep.main."{table}"'), table
            cols_parquet = con.execute(f"describe select * from read_parquet('{parquet}')").fetchall()
            cols_table = con.execute(f'describe select * from rep.main."{table}"').fetchall()
            assert [c[0] for c in cols_parquet] == [c[0] for c in cols_table]
    finally:
        con.close()


def test_export_refuses_missing_reporting_db(tmp_settings_env, capsys):
    rc = main(["export", "--out", str(tmp_settings_env / "x"), "--reporting-db", str(tmp_settings_env / "none.duckdb")])
    assert rc == 2
    assert "run `salespulse refresh` first" in capsys.readouterr().err
