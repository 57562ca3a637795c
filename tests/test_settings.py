"""Settings: defaults, YAML file, environment overrides, validation."""

from __future__ import annotations

import datetime as dt

import pytest

from salespulse.settings import load_settings


def test_defaults(tmp_settings_env):
    s = load_settings()
    assert s.reporting_currency == "CNY" and s.timezone == "Asia/Shanghai"
    assert s.fiscal_year_start_month == 1 and s.kpi.churn_inactivity_days == 365
    assert s.build_db == tmp_settings_env / "warehouse" / "build.duckdb"
    assert s.dbt_vars()["as_of"] == s.effective_as_of.isoformat()


def test_yaml_then_env_then_explicit(tmp_settings_env, monkeypatch):
    (tmp_settings_env / "salespulse.yaml").write_text(
        "reporting_currency: usd\nfiscal_year_start_month: 4\nas_of: 2025-06-30\n"
        "landing_dir: drops\nkpi:\n  churn_inactivity_days: 180\n"
    )
    s = load_settings()
    assert s.reporting_currency == "USD" and s.fiscal_year_start_month == 4
    assert s.as_of == dt.date(2025, 6, 30) and s.kpi.churn_inactivity_days == 180
    assert s.landing_dir == tmp_settings_env / "drops"

    monkeypatch.setenv("SALESPULSE_FISCAL_YEAR_START_MONTH", "7")
    monkeypatch.setenv("SALESPULSE_KPI__CHURN_INACTIVITY_DAYS", "90")
    s = load_settings(as_of=dt.date(2024, 1, 1))
    assert s.fiscal_year_start_month == 7 and s.kpi.churn_inactivity_days == 90
    assert s.dbt_vars()["as_of"] == "2024-01-01"


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        ("timezone: Mars/Olympus\n", "unknown time zone"),
        ("fiscal_year_start_month: 13\n", "fiscal_year_start_month"),
        ("reporting_currency: yuan\n", "ISO-4217"),
        ("no_such_setting: 1\n", "no_such_setting"),
    ],
)
def test_invalid_settings_are_named(tmp_settings_env, yaml_text, message):
    (tmp_settings_env / "salespulse.yaml").write_text(yaml_text)
    with pytest.raises(ValueError, match=message):
        load_settings()


def test_dbt_threads_follow_the_raw_size_per_gb_of_duckdb_memory(tmp_path):
    """Unset dbt_threads: 2, but 1 on DuckDB when raw rows > 10M per GB of duckdb_memory_limit
    (threshold = limit in bytes x 0.01 rows); a set value and other engines are left alone."""
    import duckdb

    from salespulse.assets.dbt import choose_dbt_threads
    from salespulse.settings import Settings

    build = tmp_path / "build.duckdb"
    con = duckdb.connect(str(build))
    con.execute("create schema raw")
    con.execute("create table raw.orders as select range as id from range(30000)")
    con.execute("create table raw.leads as select range as id from range(20000)")  # 50,000 rows in all
    con.execute("create table main.other as select range as id from range(10000000)")  # not raw: ignored
    con.close()

    def threads(**kw):
        return choose_dbt_threads(Settings(build_db=build, **kw))

    # DuckDB reads "6MB" as 6,000,000 bytes (shown as 5.7 MiB): ~59,800 rows allowed, 50,000 stay at 2
    assert threads(duckdb_memory_limit="6MB")[0] == 2
    # "4MB" (3.8 MiB): ~39,800 rows allowed, 50,000 is more
    n, why = threads(duckdb_memory_limit="4MB")
    assert n == 1 and "50,000 raw rows" in why
    assert threads(duckdb_memory_limit="4MB", dbt_threads=2) == (2, "dbt_threads setting")
    assert threads(duckdb_memory_limit="4MB", engine="postgres")[0] == 2
    assert choose_dbt_threads(Settings(build_db=tmp_path / "missing.duckdb"))[0] == 2
