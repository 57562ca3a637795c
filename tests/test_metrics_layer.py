"""The metrics layer: the semantic layer validates, MetricFlow agrees with the published marts,
the catalog covers every published KPI column and docs/metrics.md is current, dbt docs generate."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from salespulse import metrics as M
from salespulse.demo import generate_demo

from conftest import query, run_refresh

REPO = Path(__file__).resolve().parents[1]
DBT_DIR = REPO / "dbt_project"
AS_OF = "2025-06-30"
GRAIN = {"month": "metric_time__month", "quarter": "metric_time__fiscal_quarter", "year": "metric_time__fiscal_year"}
CALENDAR = {"month": "metric_time__month", "quarter": "metric_time__quarter", "year": "metric_time__year"}
REVENUE_SLICES = {"company": None, "team": "team", "rep": "rep", "channel": "channel",
                  "region": "customer__region", "segment": "customer__segment"}


def _dbt(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    dbt = Path(sys.executable).with_name("dbt")
    return subprocess.run([str(dbt), *args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)],
                          cwd=DBT_DIR, capture_output=True, text=True,
                          env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})})


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    target = tmp_path_factory.mktemp("dbt_target")
    proc = _dbt("parse", "--quiet", "--target-path", str(target), "--log-path", str(target))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((target / "manifest.json").read_text()), target / "semantic_manifest.json"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small demo refresh (fiscal_year_start_month 1) and its semantic snapshot."""
    tmp = tmp_path_factory.mktemp("metrics_demo")
    landing = tmp / "landing"
    generate_demo(landing, scale=400, seed=42, as_of=dt.date.fromisoformat(AS_OF))
    result, reporting = run_refresh(tmp, landing, AS_OF, FISCAL_YEAR_START_MONTH="1")
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    snapshot = M.publish_semantic_snapshot(tmp / "warehouse" / "build.duckdb", tmp / "warehouse" / M.SNAPSHOT_NAME)
    layer = M.MetricsLayer(snapshot.path)
    yield layer, reporting, tmp
    layer.close()


# --------------------------------------------------------------------------- definitions
def test_semantic_manifest_validates(parsed):
    """What `mf validate-configs --skip-dw` runs: no blocking issue."""
    _, semantic_manifest = parsed
    results = M.validate_semantic_manifest(semantic_manifest.read_text())
    assert not results.has_blocking_issues, [str(i) for i in results.errors + results.future_errors]


def test_every_metric_type_is_used(parsed):
    manifest, _ = parsed
    types = {m["type"] for m in manifest["metrics"].values()}
    assert {"simple", "ratio", "derived", "cumulative", "conversion"} <= types
    offsets = {inp.get("offset_window", {}).get("granularity") for m in manifest["metrics"].values()
               for inp in (m["type_params"].get("metrics") or []) if inp.get("offset_window")}
    assert {"month", "quarter", "year"} <= offsets
    ytd = manifest["metrics"]["metric.salespulse.bookings_ytd"]["type_params"]["cumulative_type_params"]
    assert ytd["grain_to_date"] == "year" and ytd["period_agg"] == "last"


# --------------------------------------------------------------------------- catalog
def test_catalog_covers_every_published_kpi_column(parsed):
    manifest, _ = parsed
    catalog = M.build_catalog(manifest)
    assert catalog.kpi_columns and "kpi_revenue.bookings" in catalog.kpi_columns
    assert catalog.uncatalogued() == []
    assert catalog.issues == []
    assert all(e.label_zh and e.description and e.formula and e.source_models for e in catalog.metrics)


def test_catalog_fails_when_a_published_column_has_no_entry(parsed):
    manifest = copy.deepcopy(parsed[0])
    node = manifest["nodes"]["model.salespulse.kpi_revenue"]
    node["columns"]["bookings_per_rep"] = {"name": "bookings_per_rep", "description": "new", "meta": {}}
    manifest["metrics"]["metric.salespulse.aov"]["config"]["meta"]["published_as"] = []
    assert M.build_catalog(manifest).uncatalogued() == ["kpi_revenue.aov", "kpi_revenue.bookings_per_rep"]


def test_docs_metrics_md_is_current(parsed):
    expected = M.render_catalog_markdown(M.build_catalog(parsed[0]))
    current = (REPO / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert current == expected, "docs/metrics.md is stale: run `salespulse metrics --catalog docs/metrics.md`"


# --------------------------------------------------------------------------- consistency with the marts
def _mart(reporting: Path, table: str, column: str, grain: str, slice_: str) -> pd.DataFrame:
    con = duckdb.connect(str(reporting), read_only=True)
    try:
        df = con.execute(
            f"select period_start, coalesce(slice_value, '-') as slice_value, {column} as mart from {table} "
            "where period_type = ? and slice = ?", [grain, slice_]).df()
    finally:
        con.close()
    df["period_start"] = pd.to_datetime(df["period_start"]).dt.date
    return df


def _mf(layer, metric: str, time_item: str, group: str | None) -> pd.DataFrame:
    df = layer.query([metric], [time_item] + ([group] if group else []))
    df = df.rename(columns={time_item: "period_start", metric: "mf"})
    df["slice_value"] = df[group].fillna("unknown").astype(str) if group else "-"
    df = df[df["period_start"].notna()]
    df["period_start"] = pd.to_datetime(df["period_start"]).dt.date
    return df[["period_start", "slice_value", "mf"]]


def _compare(layer, reporting, metric, table, column, grain, slice_, group, time_items=GRAIN, skip=()) -> int:
    mart = _mart(reporting, table, column, grain, slice_)
    mf = _mf(layer, metric, time_items[grain], group)
    mart, mf = mart[~mart["period_start"].isin(skip)], mf[~mf["period_start"].isin(skip)]
    both = mart.merge(mf, on=["period_start", "slice_value"], how="outer")
    both["mart"] = pd.to_numeric(both["mart"], errors="coerce").astype(float)
    both["mf"] = pd.to_numeric(both["mf"], errors="coerce").astype(float)
    # a period the dense mart lacks (or MetricFlow skips) is zero / undefined on the other side
    gap = both["mart"].isna() != both["mf"].isna()
    lonely = both[gap].fillna(0.0)
    assert (lonely["mart"].abs() + lonely["mf"].abs() < 1e-9).all(), (metric, grain, slice_, both[gap].head())
    paired = both[~gap & both["mart"].notna()]
    diff = (paired["mart"] - paired["mf"]).abs() > 1e-6 * paired["mart"].abs().clip(lower=1)
    assert not diff.any(), (metric, grain, slice_, paired[diff].head())
    return len(paired)


REVENUE_CASES = [
    (m, "kpi_revenue", m, g, s, REVENUE_SLICES[s])
    for m in ["bookings", "orders", "aov", "cash_collected", "gross_profit", "ordering_customers"]
    for g in ["month", "quarter", "year"]
    for s in (REVENUE_SLICES if g != "year" else ["company", "team"])
]
CASES = REVENUE_CASES + [
    ("new_customers", "kpi_customers", "new_customers", g, s, grp)
    for g in ["month", "quarter"] for s, grp in [("company", None), ("channel", "channel"),
                                                  ("segment", "customer__segment"), ("rep", "rep")]
] + [
    ("referral_rate", "kpi_customers", "referral_rate", "month", "company", None),
    ("repurchase_rate", "kpi_customers", "repurchase_rate", "month", "company", None),
    ("repurchase_rate", "kpi_customers", "repurchase_rate", "quarter", "rep", "customer__owner_rep_id"),
    ("repeat_customers", "kpi_customers", "repeat_customers", "year", "segment", "customer__segment"),
    ("cac_blended", "kpi_cac", "cac_blended", "month", "company", None),
    ("cac_blended", "kpi_cac", "cac_blended", "year", "company", None),
    ("total_acquisition_cost", "kpi_cac", "total_acquisition_cost", "quarter", "company", None),
    ("cac_paid", "kpi_cac", "cac_paid", "month", "channel", "channel"),
    ("cac_paid", "kpi_cac", "cac_paid", "quarter", "channel", "channel"),
] + [
    (m, "kpi_win_rate", col, g, s, grp)
    for m, col in [("win_rate", "win_rate"), ("win_rate_value", "win_rate_value"), ("closed_opportunities", "closed")]
    for g in ["month", "quarter"] for s, grp in [("company", None), ("team", "team"), ("rep", "rep")]
] + [
    (m, "kpi_funnel", m, g, s, grp)
    for m in ["leads", "lead_to_won_rate", "lead_to_contact_rate", "qualified_to_won_rate", "wins",
              "first_contacts_made"]
    for g in ["month", "quarter"]
    for s, grp in [("company", None), ("channel", "channel"), ("rep", "rep"), ("team", "team")]
] + [
    (m, "kpi_sales_cycle", m, g, s, grp)
    for m in ["signing_time_median_days", "response_time_mean_hours", "delivery_time_p90_days", "lead_to_cash_count"]
    for g in ["month", "year"] for s, grp in [("company", None), ("team", "team")]
]


@pytest.mark.parametrize("metric,table,column,grain,slice_,group", CASES,
                         ids=[f"{c[0]}-{c[3]}-{c[4]}" for c in CASES])
def test_metricflow_matches_published_mart(demo, metric, table, column, grain, slice_, group):
    layer, reporting, _ = demo
    assert _compare(layer, reporting, metric, table, column, grain, slice_, group) >= 2


@pytest.mark.parametrize("metric,grain", [
    ("bookings_mom", "month"), ("orders_mom", "month"), ("bookings_qoq", "quarter"), ("cash_collected_qoq", "quarter"),
    ("bookings_yoy", "month"), ("bookings_yoy", "quarter"), ("bookings_yoy", "year"), ("gross_profit_yoy", "year"),
])
def test_growth_metrics_with_offset_window_match(demo, metric, grain):
    """Offsets are calendar periods: equal to the marts' fiscal periods at fiscal_year_start_month 1."""
    layer, reporting, _ = demo
    for slice_, group in [("company", None), ("team", "team")]:
        assert _compare(layer, reporting, metric, "kpi_revenue", metric, grain, slice_, group, CALENDAR) >= 1


def test_trailing_12_month_metrics_match_kpi_clv(demo):
    layer, reporting, _ = demo
    for metric in ["bookings_12m", "orders_12m", "ordering_customers_12m", "aov_12m", "gross_profit_12m",
                   "new_customers_12m", "cac_blended_12m", "cac_payback_months"]:
        # documented: MetricFlow's 12-month window counts back by day, so the February after a leap
        # day also holds 29 February (the mart: 12 whole months); the demo's as-of is a month end
        assert _compare(layer, reporting, metric, "kpi_clv", metric, "month", "company", None,
                        skip=[dt.date(2025, 2, 1)]) >= 12


def test_bookings_ytd_is_cumulative_within_the_year(demo):
    layer, reporting, _ = demo
    mart = _mart(reporting, "kpi_revenue", "bookings", "month", "company").sort_values("period_start")
    mart["year"] = [d.year for d in mart["period_start"]]
    mart["ytd"] = mart.groupby("year")["mart"].cumsum().astype(float)
    mf = _mf(layer, "bookings_ytd", "metric_time__month", None)
    both = mart.merge(mf, on="period_start")
    assert len(both) >= 24
    assert ((both["ytd"] - both["mf"].astype(float)).abs() < 1e-6 * both["ytd"].abs().clip(lower=1)).all()


def test_conversion_metric_agrees_with_cohort_rate_when_events_are_ordered(demo):
    """lead_to_won_conversion (MetricFlow conversion) vs the cohort rate: equal where no win predates its lead."""
    layer, reporting, tmp = demo
    con = duckdb.connect(str(tmp / "warehouse" / "build.duckdb"), read_only=True)
    try:
        disordered = con.execute("select count(*) from marts.fct_leads where won_on < created_on").fetchone()[0]
    finally:
        con.close()
    conv = layer.query(["lead_to_won_conversion", "lead_to_won_rate"], ["metric_time__month"])
    conv = conv[conv["lead_to_won_rate"].notna()]
    assert len(conv) >= 12
    gap = (conv["lead_to_won_conversion"].astype(float).fillna(0) - conv["lead_to_won_rate"].astype(float)).abs()
    if disordered == 0:
        assert (gap < 1e-9).all(), conv[gap >= 1e-9]


def test_snapshot_columns_of_a_table_read_by_two_semantic_models_are_their_union(parsed):
    """A second semantic model on fct_orders adds its columns to the first's, never replaces them."""
    _, semantic_manifest = parsed
    manifest = json.loads(semantic_manifest.read_text())
    key = ("marts", "fct_orders")
    alone = M._used_columns(manifest)[key]
    orders = next(sm for sm in manifest["semantic_models"] if sm["node_relation"]["alias"] == "fct_orders")
    extra = copy.deepcopy(orders)
    extra.update(name="orders_fx", dimensions=[{"name": "fx_rate", "type": "categorical"}], measures=[],
                 entities=[], defaults=None)
    manifest["semantic_models"].append(extra)
    both = M._used_columns(manifest)[key]
    assert "amount_rpt" in alone and "fx_rate" not in alone
    assert both == alone | {"fx_rate"}


def test_snapshot_holds_only_the_columns_the_semantic_models_read(demo):
    """fct_orders keeps the reporting-currency amount, keys, dates and slices its measures and
    dimensions name; the source-currency amount, cost and fx rate (read by no semantic model) and
    PII are left in the build warehouse. The time spine is copied whole."""
    _, _, tmp = demo
    sql = "select column_name from information_schema.columns where table_schema = ? and table_name = ?"

    def columns(db, schema, table):
        return {r[0] for r in query(db, sql, [schema, table]).itertuples(index=False)}

    snapshot, build = tmp / "warehouse" / M.SNAPSHOT_NAME, tmp / "warehouse" / "build.duckdb"
    orders = columns(snapshot, "marts", "fct_orders")
    assert {"order_id", "customer_id", "signed_on", "amount_rpt", "gross_profit_rpt", "is_live", "rep_id",
            "team_id", "customer_acquisition_channel", "customer_order_number", "status"} <= orders
    assert not orders & {"amount", "cost", "fx_rate", "currency", "signed_at"}
    assert {"amount", "cost", "fx_rate"} <= columns(build, "marts", "fct_orders")
    assert "customer_name" not in columns(snapshot, "marts", "dim_customer")
    assert columns(snapshot, "marts", "metricflow_time_spine") == columns(build, "marts", "metricflow_time_spine")


def test_cli_queries_the_snapshot_read_only_while_the_build_is_locked(demo, capsys):
    """`salespulse metrics` reads the snapshot only: a writer holding the build warehouse does not block it."""
    layer, reporting, tmp = demo
    writer = duckdb.connect(str(tmp / "warehouse" / "build.duckdb"))  # what a running refresh holds
    try:
        parser = __import__("argparse").ArgumentParser()
        M.add_metrics_parser(parser.add_subparsers())
        args = parser.parse_args(["metrics", "--metrics", "bookings,aov", "--group-by", "metric_time__year,team",
                                  "--snapshot", str(tmp / "warehouse" / M.SNAPSHOT_NAME)])
        assert M.cmd_metrics(args) == 0
    finally:
        writer.close()
    out = capsys.readouterr().out
    assert "metric_time__year" in out and "bookings" in out and "aov" in out
    missing = parser.parse_args(["metrics", "--metrics", "bookings", "--snapshot", str(tmp / "nope.duckdb")])
    assert M.cmd_metrics(missing) == 2
    assert "salespulse refresh" in capsys.readouterr().err


def test_dbt_docs_generate(demo):
    _, _, tmp = demo
    target = tmp / "docs_target"
    proc = _dbt("docs", "generate", "--quiet", "--target-path", str(target), "--log-path", str(target),
                "--vars", json.dumps({"as_of": AS_OF}),
                env={"SALESPULSE_BUILD_DB": str(tmp / "warehouse" / "build.duckdb")})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    manifest = json.loads((target / "manifest.json").read_text())
    exposures = {"exposure.salespulse.reporting_database", "exposure.salespulse.sales_performance_dashboard"}
    assert exposures <= set(manifest["exposures"])
    assert (target / "catalog.json").exists() and (target / "index.html").exists()
