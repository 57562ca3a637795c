"""Great Expectations suites and the quality checks (salespulse.quality, assets/quality.py)."""

from __future__ import annotations

import copy
import datetime as dt
import json

import duckdb
import great_expectations as gx  # noqa: F401 - fail (not skip) when GX is not importable
import pytest

from salespulse.loader import ensure_raw_schema
from salespulse.quality import build_suites
from salespulse.quality.gx import (
    expectations_dir,
    load_suite,
    sql_duplicate_keys,
    sql_fx_coverage,
    validate_frame,
    validate_query_in_chunks,
    validate_raw_batch,
)

NOT_NULL = "expect_column_values_to_not_be_null"
IN_SET = "expect_column_values_to_be_in_set"
BETWEEN = "expect_column_values_to_be_between"
UNIQUE = "expect_column_values_to_be_unique"
COMPOUND_UNIQUE = "expect_compound_columns_to_be_unique"
PAIR = "expect_column_pair_values_a_to_be_greater_than_b"


def _con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    ensure_raw_schema(con)
    return con


def _insert(con, table: str, rows: list[dict], batch_id: int = 1) -> None:
    """Insert rows (missing columns NULL) into raw.<table> with loader metadata."""
    cols = [r[0] for r in con.execute(f"describe raw.{table}").fetchall()]
    for row in rows:
        full = {**{c: None for c in cols}, "_batch_id": batch_id, "_loaded_at": "2025-01-01T00:00:00Z",
                "_source_system": "test", "_source_file": f"{table}.csv", **row}
        con.execute(
            f"insert into raw.{table} ({', '.join(cols)}) values ({', '.join('?' for _ in cols)})",
            [full[c] for c in cols],
        )


# ----------------------------------------------------------------------------- suites
def test_committed_suites_equal_generated():
    assert build_suites.drift() == [], "run `python -m salespulse.quality.build_suites` and commit the result"


def test_suites_round_trip_and_cover_every_table_and_mart():
    from salespulse.assets.reporting import KPI_MARTS
    from salespulse.contract import TABLES

    root = expectations_dir()
    assert sorted(p.stem for p in (root / "raw").glob("*.json")) == sorted(TABLES)
    assert sorted(p.stem for p in (root / "marts").glob("*.json")) == sorted(KPI_MARTS)
    for path in sorted(root.glob("*/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        again = gx.ExpectationSuite(**copy.deepcopy(data)).to_json_dict()
        again["meta"].pop("great_expectations_version", None)
        assert again == data, path
    assert (root / "README.md").is_file()


# ----------------------------------------------------------------------------- validate_frame
def test_validate_frame_raw_rules():
    con = _con()
    base = {"customer_id": "c1", "rep_id": "r1", "signed_at": "2024-01-05T10:00:00Z", "amount": 100,
            "currency": "CNY", "status": "active", "updated_at": "2024-01-05T10:00:00Z", "is_deleted": False}
    _insert(con, "orders", [
        {**base, "order_id": "o1"},
        {**base, "order_id": None},                       # null key
        {**base, "order_id": "o3", "status": "bogus"},    # outside accepted values
        {**base, "order_id": "o4", "amount": -5},         # negative amount
        {**base, "order_id": "o5"},                       # duplicate key + updated_at ...
        {**base, "order_id": "o5"},                       # ... twice
        {**base, "order_id": "o6", "updated_at": "2024-01-06T00:00:00Z"},
        {**base, "order_id": "o6", "updated_at": "2024-01-07T00:00:00Z"},  # a new version: fine
    ])
    df = con.execute("select * from raw.orders").df()
    out = validate_frame(load_suite("raw", "orders"), df)

    assert not out.passed and out.rows == 8
    assert {(f.expectation, f.columns) for f in out.failures} == {
        (NOT_NULL, ("order_id",)), (IN_SET, ("status",)), (BETWEEN, ("amount",)),
        (COMPOUND_UNIQUE, ("order_id", "updated_at")),
    }
    f = out.failure(NOT_NULL, "order_id")
    assert f.unexpected_count == 1 and f.sample_rows == [1]
    f = out.failure(IN_SET, "status")
    assert (f.unexpected_count, f.samples, f.sample_rows) == (1, ["bogus"], [2])
    f = out.failure(BETWEEN, "amount")
    assert (f.unexpected_count, f.samples, f.rule) == (1, [-5.0], "non_negative")
    f = out.failure(COMPOUND_UNIQUE)
    assert f.unexpected_count == 2 and f.sample_rows == [4, 5]
    assert [s["order_id"] for s in f.samples] == ["o5", "o5"]

    md = out.to_metadata()
    assert md["passed"] is False and md["expectations_failed"] == 4 and md["unexpected_values"] == 5
    table = md["failed_expectations"].value
    assert "expect_column_values_to_be_in_set" in table and "bogus" in table and "| 1 |" in table
    assert md["failures"].value[1]["samples"] == ["bogus"]


def test_validate_frame_raw_types_and_missing_column():
    con = _con()
    _insert(con, "fx_rates", [{"rate_date": "2024-01-01", "currency": "USD", "rate_to_reporting": 7.1}])
    assert validate_frame(load_suite("raw", "fx_rates"), con.execute("select * from raw.fx_rates").df()).passed
    # timestamps / dates as text (not cast by the loader), a column missing
    df = con.execute("select cast(rate_date as varchar) as rate_date, currency, 0.0 as rate_to_reporting, "
                     "_batch_id, _loaded_at, _source_system from raw.fx_rates").df()
    out = validate_frame(load_suite("raw", "fx_rates"), df)
    assert out.failure("expect_column_values_to_be_of_type", "rate_date").observed == "str"
    assert out.failure("expect_table_columns_to_match_set").observed["mismatched"]["missing"] == ["_source_file"]
    assert out.failure(BETWEEN, "rate_to_reporting").samples == [0.0]  # strictly positive
    assert out.failure(NOT_NULL, "_source_file").error  # GX: the column does not exist


def _funnel_frame(con, extra_rows: str = ""):
    """kpi_funnel rows; the mart's other columns NULL."""
    df = con.execute(f"""
        select * from (values
            ('month', date '2024-01-01', 'company', null, 10, 8, 5, 2, 0.8, 0.625, 0.4, 0.2),
            ('month', date '2024-01-01', 'channel', 'social', 4, 4, 2, 1, 1.0, 0.5, 0.5, 0.25)
            {extra_rows}
        ) t(period_type, period_start, slice, slice_value, leads, contacted, qualified, won,
            lead_to_contact_rate, contact_to_qualified_rate, qualified_to_won_rate, lead_to_won_rate)
    """).df()
    columns = load_suite("marts", "kpi_funnel").to_json_dict()["expectations"][0]["kwargs"]["column_set"]
    for col in columns:
        if col not in df:
            df[col] = None
    return df


def test_validate_frame_mart_rules():
    con = duckdb.connect()
    suite = load_suite("marts", "kpi_funnel")
    ok = validate_frame(suite, _funnel_frame(con))
    assert ok.passed and ok.failures == [] and ok.rows == 2

    bad = validate_frame(suite, _funnel_frame(con, """,
        ('month', date '2024-02-01', 'company', null, 10, 8, 3, 5, 0.8, 0.375, 1.2, 0.5),
        ('month', date '2024-01-01', 'company', null, 1, 1, 1, 1, 1.0, 1.0, 1.0, 1.0)"""))
    f = bad.failure(BETWEEN, "qualified_to_won_rate")
    assert (f.unexpected_count, f.samples, f.rule) == (1, [1.2], "rate_0_1")
    f = bad.failure(PAIR, ("qualified", "won"))
    assert (f.unexpected_count, f.samples, f.sample_rows) == (1, [[3, 5]], [2])
    assert bad.failure(PAIR, ("leads", "contacted")) is None
    # company rows have slice_value NULL: two company rows of one period are duplicates
    f = bad.failure(COMPOUND_UNIQUE)
    assert f.unexpected_count == 2 and f.sample_rows == [0, 3]
    assert f.samples[0] == {"period_type": "month", "period_start": "2024-01-01T00:00:00", "slice": "company",
                            "slice_value": None}


# ----------------------------------------------------------------------------- chunks
def test_validate_query_in_chunks_finds_planted_rows():
    con = _con()
    n = 1_200_001
    con.execute(f"""
        insert into raw.payments
        select
            case when i = 1000007 then 'p7' else 'p' || i end,           -- duplicate of row 7 (other chunk)
            case when i = 100 then null else 'o' || (i % 5000) end,     -- null required (chunk 1)
            timestamptz '2024-01-01 00:00:00+00' + i * interval 1 second,
            case when i = 600000 then -1 else (i % 1000) end,           -- negative amount (chunk 3)
            case when i = {n - 1} then null else 'CNY' end,             -- null required (last chunk)
            1, timestamptz '2025-01-01 00:00:00+00', 'test', 'payments.csv'
        from range({n}) t(i)
    """)
    out = validate_query_in_chunks(con, "select * from raw.payments", load_suite("raw", "payments"), chunk_rows=250_000)
    assert out.rows == n and out.chunks == 5
    f = out.failure(NOT_NULL, "order_id")
    assert (f.unexpected_count, f.sample_rows) == (1, [100])
    f = out.failure(BETWEEN, "amount")
    assert (f.unexpected_count, f.samples, f.sample_rows) == (1, [-1.0], [600000])
    f = out.failure(NOT_NULL, "currency")
    assert (f.unexpected_count, f.sample_rows) == (1, [n - 1])
    f = out.failure(UNIQUE, "payment_id")  # decided by DuckDB over the whole query
    assert (f.unexpected_count, f.samples) == (2, ["p7"])
    assert len(out.failures) == 4 and out.unexpected_total == 5
    # the same through validate_raw_batch (one batch = one loaded file)
    assert validate_raw_batch(con, "payments", 1, sample_rows=0).unexpected_total == 5
    # a large batch is validated by GX on a repeatable sample; uniqueness still sees every row
    sampled = validate_raw_batch(con, "payments", 1, sample_rows=100_000)
    assert (sampled.rows, sampled.population) == (100_000, n)
    assert sampled.failure(UNIQUE, "payment_id").unexpected_count == 2
    assert sampled.to_metadata()["rows_in_batch"] == n
    again = validate_raw_batch(con, "payments", 1, sample_rows=100_000)
    assert again.unexpected_total == sampled.unexpected_total  # REPEATABLE: the same sample
    assert validate_raw_batch(con, "payments", 2).rows == 0  # an empty batch validates (and passes)


# ----------------------------------------------------------------------------- SQL checks
def test_sql_duplicate_keys():
    con = _con()
    row = {"customer_id": "c1", "customer_name": "A", "updated_at": "2024-01-01T00:00:00Z"}
    _insert(con, "customers", [row], batch_id=1)
    _insert(con, "customers", [row, {**row, "customer_id": "c2"}], batch_id=2)  # re-sent version
    assert sql_duplicate_keys(con, "customers") == (
        2, [{"customer_id": "c1", "updated_at": "2024-01-01T00:00:00+00:00", "rows": 2, "batch_ids": [1, 2]}]
    )
    assert sql_duplicate_keys(con, "customers", within_batch=True) == (0, [])
    _insert(con, "customers", [{**row, "customer_id": "c3"}] * 3, batch_id=3)
    count, samples = sql_duplicate_keys(con, "customers", within_batch=True)
    assert count == 3 and samples[0]["customer_id"] == "c3" and samples[0]["batch_ids"] == [3]
    # unversioned tables: the primary key alone
    _insert(con, "sales_compensation", [{"rep_id": "r1", "month": "2024-01-01"}] * 2)
    assert sql_duplicate_keys(con, "sales_compensation")[0] == 2


def test_sql_fx_coverage():
    con = _con()
    _insert(con, "fx_rates", [{"rate_date": "2024-01-02", "currency": "USD", "rate_to_reporting": 7}])
    order = {"customer_id": "c", "rep_id": "r", "amount": 1, "status": "active", "is_deleted": False,
             "updated_at": "2024-01-01T00:00:00Z"}
    _insert(con, "orders", [
        # 20:00 UTC is 04:00 on Jan 2 in Shanghai: covered by the Jan 2 rate
        {**order, "order_id": "o1", "currency": "USD", "signed_at": "2024-01-01T20:00:00Z"},
        # 10:00 UTC is still Jan 1 in Shanghai: no rate yet
        {**order, "order_id": "o2", "currency": "usd", "signed_at": "2024-01-01T10:00:00Z"},
        {**order, "order_id": "o3", "currency": "EUR", "signed_at": "2024-03-01T00:00:00Z"},  # no EUR rate
        {**order, "order_id": "o4", "currency": "CNY", "signed_at": "2020-01-01T00:00:00Z"},  # reporting
        {**order, "order_id": "o5", "currency": "EUR", "signed_at": "2024-03-01T00:00:00Z", "is_deleted": True},
        {**order, "order_id": "o6", "currency": "EUR", "signed_at": "2024-03-01T00:00:00Z"},  # superseded ...
        {**order, "order_id": "o6", "currency": "USD", "signed_at": "2024-03-01T00:00:00Z",
         "updated_at": "2024-02-01T00:00:00Z"},                                                # ... by USD
        {**order, "order_id": "o7", "currency": "EUR", "signed_at": "2026-01-01T00:00:00Z"},  # after as-of
    ])
    _insert(con, "marketing_spend", [{"spend_id": "s1", "spend_date": "2024-03-01", "channel": "social",
                                      "category": "advertising", "amount": 5, "currency": "GBP"}])
    _insert(con, "targets", [{"target_id": "t1", "period_type": "month", "period_start": "2023-01-01",
                              "scope": "company", "metric": "new_customers", "target_value": 3}])  # a count
    count, samples = sql_fx_coverage(con, "cny", timezone="Asia/Shanghai", as_of=dt.date(2025, 6, 30))
    assert count == 3
    assert [(s["table"], s["key"], s["currency"], s["event_on"]) for s in samples] == [
        ("marketing_spend", "s1", "GBP", "2024-03-01"),
        ("orders", "o2", "USD", "2024-01-01"),
        ("orders", "o3", "EUR", "2024-03-01"),
    ]
    assert samples[1]["first_rate_on"] == "2024-01-02" and samples[2]["first_rate_on"] is None
    # in UTC, o1 (20:00 UTC) falls on Jan 1 too, before the first USD rate
    assert sql_fx_coverage(con, "CNY", timezone="UTC", as_of=dt.date(2025, 6, 30))[0] == 4
    assert sql_fx_coverage(con, "CNY", timezone="Asia/Shanghai")[0] == 4  # without as-of: o7 counts


# ----------------------------------------------------------------------------- Dagster checks
_TEXT_COLUMNS = {"period_type", "slice", "slice_value", "scope", "scope_id", "metric", "customer_id", "derivation",
                 "team_id", "rep_name", "rep_role", "missing_inputs", "fit_status", "segment", "region",
                 "acquisition_channel", "source_target_id", "currency", "source_scope", "source_scope_id",
                 "source_period_type"}


def _stub_marts(build_db, funnel_rows: str):
    """An asset writing every KPI mart as an empty table (kpi_funnel with ``funnel_rows``)."""
    from dagster import AssetKey, AssetSpec, MaterializeResult, multi_asset

    from salespulse.assets.reporting import KPI_MARTS

    @multi_asset(specs=[AssetSpec(AssetKey([m])) for m in KPI_MARTS], name="stub_marts")
    def stub_marts():
        con = duckdb.connect(str(build_db))
        con.execute("create schema if not exists marts")
        for mart in KPI_MARTS:
            cols = load_suite("marts", mart).to_json_dict()["expectations"][0]["kwargs"]["column_set"]
            types = ", ".join(
                f"{c} {'varchar' if c in _TEXT_COLUMNS else 'date' if c == 'period_start' else 'double'}" for c in cols
            )
            con.execute(f"create or replace table marts.{mart} ({types})")
        con.execute(f"""insert into marts.kpi_funnel (period_type, period_start, slice, slice_value, leads, contacted,
                        qualified, won, qualified_to_won_rate) values {funnel_rows}""")
        con.close()
        for mart in KPI_MARTS:
            yield MaterializeResult(asset_key=AssetKey([mart]))

    return stub_marts


@pytest.mark.parametrize("good", [True, False])
def test_mart_expectations_block_publication(tmp_settings_env, good):
    from dagster import AssetKey, materialize

    from salespulse.assets.quality import MART_CHECK_NAME, mart_expectations
    from salespulse.assets.reporting import KPI_MARTS, reporting
    from salespulse.resources import SalespulseSettings

    build_db = tmp_settings_env / "build.duckdb"
    reporting_db = tmp_settings_env / "reporting.duckdb"
    rows = "('month', date '2024-01-01', 'company', null, 10, 8, 5, 2, 0.4)"
    if not good:
        rows += ", ('month', date '2024-02-01', 'company', null, 10, 8, 3, 5, 1.2)"
    result = materialize(
        [_stub_marts(build_db, rows), reporting, mart_expectations],
        resources={"settings": SalespulseSettings(as_of="2025-06-30", build_db=str(build_db),
                                                  reporting_db=str(reporting_db),
                                                  landing_dir=str(tmp_settings_env / "landing"))},
        raise_on_error=False,
    )
    evaluations = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == set(KPI_MARTS)
    assert {e.check_name for e in evaluations.values()} == {MART_CHECK_NAME}
    assert all(e.passed for m, e in evaluations.items() if m != "kpi_funnel")
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    if good:
        assert result.success and evaluations["kpi_funnel"].passed
        assert AssetKey(["reporting"]) in materialized and reporting_db.exists()
        return
    funnel = evaluations["kpi_funnel"]
    assert not funnel.passed and funnel.severity.value == "ERROR"
    md = {k: getattr(v, "value", v) for k, v in funnel.metadata.items()}
    assert md["expectations_failed"] == 2 and md["unexpected_values"] == 2
    assert "expect_column_pair_values_a_to_be_greater_than_b" in md["failed_expectations"]
    assert "qualified, won" in md["failed_expectations"] and "[3.0, 5.0]" in md["failed_expectations"]
    assert {(f["expectation"], f["unexpected_count"], json.dumps(f["samples"])) for f in md["failures"]} == {
        ("expect_column_values_to_be_between", 1, "[1.2]"),
        ("expect_column_pair_values_a_to_be_greater_than_b", 1, "[[3.0, 5.0]]"),
    }
    # the blocking check failed: nothing was published
    assert AssetKey(["reporting"]) not in materialized and not reporting_db.exists()
