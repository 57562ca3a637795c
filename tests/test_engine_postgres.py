"""The PostgreSQL engine end to end: raw COPY, dbt build + tests, the `reporting` schema, the BI role.

One refresh of the small demo per test session (fixture ``postgres_run``, shared with the parity
test). Needs a PostgreSQL server (``SALESPULSE_TEST_PG_*``); ``.ci/run`` starts one.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from engine_fixtures import failed_steps, pg_connect, refresh_with

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _kpi_marts() -> list[str]:
    from salespulse.assets.reporting import KPI_MARTS

    return KPI_MARTS


def _publication(con) -> pd.DataFrame:
    with con.cursor() as cur:
        cur.execute("select table_name, row_count, as_of, published_at, run_id from reporting._publication "
                    "order by table_name")
        return pd.DataFrame(cur.fetchall(), columns=["table_name", "row_count", "as_of", "published_at", "run_id"])


def test_postgres_refresh_publishes_reporting_schema(postgres_run):
    assert postgres_run.result.success, failed_steps(postgres_run.result)
    con = pg_connect(postgres_run)
    try:
        with con.cursor() as cur:
            cur.execute("select table_name from information_schema.tables where table_schema = 'reporting'")
            tables = {r[0] for r in cur.fetchall()}
            assert tables == set(_kpi_marts()) | {"_publication"}
            cur.execute("select nspname from pg_namespace where nspname like 'reporting%'")
            assert {r[0] for r in cur.fetchall()} == {"reporting"}  # no half-built schema left behind
            # the build ran on PostgreSQL: dbt's schemas and the Python-built mart are there
            cur.execute("select table_schema, count(*) from information_schema.tables "
                        "where table_schema in ('raw', 'staging', 'marts') group by 1")
            per_schema = dict(cur.fetchall())
            assert per_schema["raw"] >= 13 and per_schema["staging"] >= 13 and per_schema["marts"] >= 12
            cur.execute("select count(*) from marts.kpi_clv_predicted")
            assert cur.fetchone()[0] > 0
        pub = _publication(con)
        assert set(pub["table_name"]) == set(_kpi_marts())
        assert {str(d) for d in pub["as_of"]} == {"2025-06-30"}
        # every published mart has rows and the counts match the publication record
        with con.cursor() as cur:
            for table, n in zip(pub["table_name"], pub["row_count"], strict=True):
                cur.execute(f'select count(*) from reporting."{table}"')
                assert cur.fetchone()[0] == n > 0, table
    finally:
        con.close()
    # DuckDB-only steps are skipped explicitly, not silently: no reporting.duckdb or dashboard was written
    assert not postgres_run.reporting_db.exists()


def test_postgres_raw_copy_round_trip(postgres_run):
    """Every raw table on PostgreSQL equals the build file's: row counts and every value."""
    import duckdb

    from salespulse.contract import TABLES

    assert postgres_run.result.success, failed_steps(postgres_run.result)
    engine = postgres_run.engine_obj()
    duck = duckdb.connect(str(postgres_run.build_db), read_only=True)
    duck.execute("set timezone = 'UTC'")
    try:
        for table in TABLES:
            local = duck.execute(f"select * from raw.{table}").df()
            remote = engine.read_table("raw", table)
            assert len(remote) == len(local) > 0, table
            assert list(remote.columns) == list(local.columns), table
            cols = list(local.columns)
            local = local.sort_values(cols, na_position="last").reset_index(drop=True)
            remote = remote.sort_values(cols, na_position="last").reset_index(drop=True)
            pd.testing.assert_frame_equal(remote, local, check_dtype=False, obj=f"raw.{table}")
        # a second sync copies nothing (incremental by _batch_id) and keeps the counts
        again = engine.sync_raw()
        assert again == {t: duck.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in TABLES}
    finally:
        duck.close()


def test_postgres_bi_role_reads_reporting_only(postgres_run):
    from psycopg2 import errors

    assert postgres_run.result.success, failed_steps(postgres_run.result)
    role = postgres_run.settings().postgres.bi_role
    con = pg_connect(postgres_run)
    try:
        with con.cursor() as cur:
            cur.execute("select rolcanlogin, rolsuper from pg_roles where rolname = %s", (role,))
            assert cur.fetchone() == (False, False)
        con.commit()

        def as_bi(sql: str):
            with con.cursor() as cur:
                cur.execute(f'set role "{role}"')
                try:
                    cur.execute(sql)
                    return cur.fetchall() if cur.description else None
                finally:
                    con.rollback()

        assert as_bi("select count(*) from reporting.kpi_revenue")[0][0] > 0
        assert as_bi("select count(*) from reporting._publication")[0][0] == len(_kpi_marts())
        denied = [
            "insert into reporting.kpi_revenue (period_type) values ('x')",
            "delete from reporting.kpi_revenue",
            "update reporting.kpi_revenue set bookings = 0",
            "truncate reporting.kpi_revenue",
            "drop table reporting.kpi_revenue",
            "create table reporting.bi_scratch (x int)",
            "select count(*) from marts.kpi_revenue",
            "select count(*) from raw.orders",
            "select count(*) from staging.stg_orders",
            "create schema bi_scratch",
        ]
        for sql in denied:
            with pytest.raises(errors.InsufficientPrivilege):
                as_bi(sql)
    finally:
        con.close()


def test_postgres_failed_publication_keeps_previous_reporting(postgres_run):
    """The publication is one transaction: an error halfway leaves the previous reporting schema."""
    import datetime as dt

    assert postgres_run.result.success, failed_steps(postgres_run.result)
    engine = postgres_run.engine_obj()
    con = pg_connect(postgres_run)
    try:
        before = _publication(con)
        con.commit()
        with pytest.raises(Exception, match="no_such_mart"):
            engine.publish(["kpi_revenue", "no_such_mart"], as_of=dt.date(2025, 6, 30), run_id="broken")
        after = _publication(con)
        pd.testing.assert_frame_equal(after, before)
        with con.cursor() as cur:
            cur.execute("select count(*) from pg_namespace where nspname = 'reporting__next'")
            assert cur.fetchone()[0] == 0
    finally:
        con.close()


def test_postgres_quality_gate_keeps_previous_reporting(postgres_run, tmp_path):
    """A blocking check failing after the PostgreSQL build stops the publication: the previous
    `reporting` schema stays, with the same data and publication record."""
    from salespulse.quality.gx import expectations_dir

    assert postgres_run.result.success, failed_steps(postgres_run.result)
    suites = tmp_path / "expectations"
    shutil.copytree(expectations_dir(), suites)
    path = suites / "marts" / "kpi_revenue.json"
    suite = json.loads(path.read_text())
    suite["expectations"].append({
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "bookings", "max_value": -1.0},  # impossible: every row fails
        "meta": {"rule": "test_gate"}, "severity": "critical",
    })
    path.write_text(json.dumps(suite))

    con = pg_connect(postgres_run)
    try:
        before_pub = _publication(con)
        with con.cursor() as cur:
            cur.execute("select * from reporting.kpi_revenue order by 1, 2, 3, 4")
            before_rows = cur.fetchall()
        con.commit()
        run = refresh_with(postgres_run.tmp, postgres_run.tmp / "landing", "postgres",
                           {**postgres_run.env, "EXPECTATIONS_DIR": str(suites)})
        print(f"\n[engine timing] postgres gate re-run: {run.seconds:.1f} s")
        assert not run.result.success
        assert "gx_mart_expectations" in failed_steps(run.result)
        pd.testing.assert_frame_equal(_publication(con), before_pub)
        with con.cursor() as cur:
            cur.execute("select * from reporting.kpi_revenue order by 1, 2, 3, 4")
            assert cur.fetchall() == before_rows
    finally:
        con.close()
