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
