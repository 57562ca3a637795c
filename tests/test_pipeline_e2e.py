"""End to end through Dagster on the demo CRM, the way a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from salespulse.cli import main
from salespulse.contract import TABLES

from conftest import query

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESPULSE_")}
    env.update({"SALESPULSE_DEMO__SCALE": "600"})
    # The console script, as the README runs it, in a clean working directory.
    exe = Path(sys.executable).with_name("salespulse")
    proc = subprocess.run(
        [str(exe), "refresh", "--as-of", "2025-06-30"], cwd=tmp, env=env, capture_output=True, text=True,
        timeout=600,
    )
    return tmp, proc


def test_refresh_from_empty_folder_generates_demo_and_publishes(demo_run):
    tmp, proc = demo_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # progress per stage and the closing summary
    for stage in ("demo:", "load:", "dbt:", "publish:"):
        assert stage in proc.stderr, f"no progress line for {stage}\n{proc.stderr}"
    assert "refresh done" in proc.stdout and "reporting database:" in proc.stdout
    # the step timings bench/ reads: every step of the job, each within the run's wall time
    timings = json.loads((tmp / "warehouse" / "logs" / "last_refresh.json").read_text())
    assert timings["success"] is True and timings["as_of"] == "2025-06-30"
    steps = timings["steps"]
    for step in ("landing", "raw_tables", "dbt_models", "kpi_clv_predicted", "reporting"):
        assert 0 <= steps[step]["seconds"] <= timings["total_seconds"], (step, timings)
    assert steps["raw_tables"]["end"] <= steps["dbt_models"]["start"] <= steps["reporting"]["start"]
    run_results = json.loads(Path(timings["dbt_run_results"]).read_text())
    assert sum(r["unique_id"].startswith("model.") for r in run_results["results"]) >= 40
    landing = tmp / "landing" / "demo"
    assert sorted(p.name.split(".")[0] for p in landing.iterdir()) == sorted(TABLES)

    reporting = tmp / "warehouse" / "reporting.duckdb"
    tables = set(query(reporting, "select table_name from information_schema.tables")["table_name"])
    assert "kpi_revenue" in tables and "_publication" in tables
    # nothing but published marts: no raw, staging or PII tables in the reporting file
    assert all(t.startswith("kpi_") or t == "_publication" for t in tables)
    pub = query(reporting, "select * from _publication where table_name = 'kpi_revenue'")
    assert str(pub["as_of"].iloc[0])[:10] == "2025-06-30"

    # The company monthly bookings equal the live orders of the build warehouse's fact.
    mart = query(reporting, "select sum(bookings) b from kpi_revenue where slice='company' and period_type='month'")
    fact = query(tmp / "warehouse" / "build.duckdb", "select sum(amount_rpt) b from marts.fct_orders where is_live")
    assert float(mart["b"].iloc[0]) == pytest.approx(float(fact["b"].iloc[0]), rel=1e-9)
    # three years of history, nothing after the as-of date
    span = query(
        reporting, "select min(period_start) lo, max(period_end) hi from kpi_revenue where period_type='month'"
    )
    assert str(span["hi"].iloc[0])[:10] == "2025-06-30" and str(span["lo"].iloc[0]) <= "2022-07-01"


def test_second_refresh_is_idempotent(demo_run):
    tmp, proc = demo_run
    assert proc.returncode == 0
    reporting = tmp / "warehouse" / "reporting.duckdb"
    before = query(reporting, "select * from kpi_revenue order by all")
    raw_before = query(tmp / "warehouse" / "build.duckdb", "select count(*) n from raw.orders")
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        assert main(["refresh", "--as-of", "2025-06-30"]) == 0
    finally:
        os.chdir(cwd)
    after = query(reporting, "select * from kpi_revenue order by all")
    assert before.equals(after)
    assert query(tmp / "warehouse" / "build.duckdb", "select count(*) n from raw.orders").equals(raw_before)


def test_reporting_file_opens_while_refresh_would_write_build(demo_run):
    tmp, _ = demo_run
    # a BI reader holds the published copy; the build warehouse stays free for the writer
    reader = duckdb.connect(str(tmp / "warehouse" / "reporting.duckdb"), read_only=True)
    try:
        writer = duckdb.connect(str(tmp / "warehouse" / "build.duckdb"))
        writer.close()
    finally:
        reader.close()


def test_definitions_validate():
    env = {**os.environ, "DAGSTER_HOME": ""}
    env.pop("DAGSTER_HOME")
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lineage_and_schedule():
    from dagster import AssetKey

    from salespulse.definitions import defs

    graph = defs.resolve_asset_graph()
    # raw -> base (latest versions, incremental) -> staging, all from the dbt sources and refs
    assert AssetKey(["raw", "orders"]) in graph.get(AssetKey(["base_orders"])).parent_keys
    assert AssetKey(["base_orders"]) in graph.get(AssetKey(["stg_orders"])).parent_keys
    assert graph.get(AssetKey(["base_orders"])).group_name == "staging"
    parents = graph.get(AssetKey(["reporting"])).parent_keys
    assert AssetKey(["kpi_revenue"]) in parents
    sched = defs.resolve_schedule_def("daily_refresh")
    assert sched.cron_schedule == "0 2 * * *" and sched.execution_timezone == "Asia/Shanghai"


def test_every_published_column_is_documented_in_english_and_chinese(demo_run):
    """Each column of each published mart has a description and a 中文 label (dbt YAML or COLUMN_DOCS)."""
    import json

    from salespulse.assets.clv import COLUMN_DOCS
    from salespulse.project import ensure_manifest

    tmp, proc = demo_run
    assert proc.returncode == 0
    reporting = tmp / "warehouse" / "reporting.duckdb"
    cols = query(reporting, "select table_name, column_name from information_schema.columns "
                            "where table_name like 'kpi_%'")
    manifest = json.loads(ensure_manifest().read_text())
    docs = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["name"].startswith("kpi_"):
            docs[node["name"]] = {
                c: (v.get("description", ""), (v.get("meta") or {}).get("label_zh") or (v.get("config") or {})
                    .get("meta", {}).get("label_zh", ""))
                for c, v in node["columns"].items()
            }
    docs["kpi_clv_predicted"] = COLUMN_DOCS
    missing = [
        f"{r.table_name}.{r.column_name}"
        for r in cols.itertuples()
        if not all(docs.get(r.table_name, {}).get(r.column_name, ("", "")))
    ]
    assert not missing, f"published columns without a description or label_zh: {missing}"
    # every KPI mart of metrics.md is published
    assert set(cols["table_name"]) == {
        "kpi_revenue", "kpi_customers", "kpi_cac", "kpi_clv_customer", "kpi_clv", "kpi_clv_predicted",
        "kpi_sales_cycle", "kpi_funnel", "kpi_win_rate", "kpi_target_plan", "kpi_attainment", "kpi_scorecard",
    }


def test_dbt_unit_tests_pass(demo_run):
    """The dbt unit tests (model logic on fixed fixtures, excluded from production builds) pass
    against the warehouse the refresh built."""
    from salespulse.project import DBT_PROJECT_DIR
    from salespulse.settings import Settings

    tmp, proc = demo_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    settings = Settings(build_db=tmp / "warehouse" / "build.duckdb", as_of="2025-06-30")
    dbt = Path(sys.executable).with_name("dbt")
    env = {**os.environ, "SALESPULSE_BUILD_DB": str(settings.build_db), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    out = subprocess.run(
        [str(dbt), "test", "--select", "test_type:unit", "--vars", json.dumps(settings.dbt_vars()),
         "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(tmp / "dbt-unit"), "--log-path", str(tmp / "dbt-unit")],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    results = json.loads((tmp / "dbt-unit" / "run_results.json").read_text())["results"]
    unit = [r for r in results if r["unique_id"].startswith("unit_test.")]
    assert len(unit) >= 10 and all(r["status"] == "pass" for r in unit), [(r["unique_id"], r["status"]) for r in unit]
