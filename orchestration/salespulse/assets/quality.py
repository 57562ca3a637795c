"""Blocking data-quality checks on the published KPI marts (Great Expectations suites).

``mart_expectations`` is one multi-asset check with one blocking check ``gx_mart_expectations``
per KPI mart (``assets.reporting.KPI_MARTS``). Each reads ``marts.<mart>`` from the build
warehouse (read-only) in chunks and validates it with ``expectations/marts/<mart>.json``. Because
the checks are blocking and target the marts' asset keys, a failing check (severity ERROR) stops
the ``reporting`` asset downstream in the same run: nothing is published.

The reconciliations (kpi_revenue vs fct_orders, kpi_cac vs the spend and compensation facts,
kpi_attainment vs kpi_revenue) are dbt singular tests ``dbt_project/tests/reconcile_*.sql``; they
reach Dagster as blocking asset checks of the dbt assets through dagster-dbt.
"""


from collections.abc import Iterator

import duckdb
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)

from .. import duck, progress
from ..duck import DuckLimits
from ..quality.gx import DEFAULT_CHUNK_ROWS, load_suite, suite_path, validate_query_in_chunks
from ..resources import SalespulseSettings
from .reporting import KPI_MARTS

MART_CHECK_NAME = "gx_mart_expectations"
MARTS_SCHEMA = "marts"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_mart(con: duckdb.DuckDBPyConnection, mart: str, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> AssetCheckResult:
    """Validate ``marts.<mart>`` with its suite; a blocking (ERROR) check result."""
    key = AssetKey([mart])
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [MARTS_SCHEMA, mart],
    ).fetchone()[0]
    problem = None
    if not exists:
        problem = f"table {MARTS_SCHEMA}.{mart} is missing from the build warehouse"
    elif not suite_path("marts", mart).is_file():
        problem = f"no expectation suite {suite_path('marts', mart)}"
    if problem:
        progress.report(f"quality: check FAILED: {MART_CHECK_NAME} on {mart}: {problem}")
        return AssetCheckResult(
            asset_key=key, check_name=MART_CHECK_NAME, passed=False, severity=AssetCheckSeverity.ERROR,
            description=problem, metadata={"error": MetadataValue.text(problem)},
        )
    outcome = validate_query_in_chunks(
        con, f"select * from {MARTS_SCHEMA}.{_quote(mart)}", load_suite("marts", mart), chunk_rows
    )
    if outcome.passed:
        progress.report(f"quality: {mart}: {outcome.expectations} expectations passed on {outcome.rows:,} rows")
    else:
        progress.report(f"quality: check FAILED: {outcome.summary()}")
    return AssetCheckResult(
        asset_key=key,
        check_name=MART_CHECK_NAME,
        passed=outcome.passed,
        severity=AssetCheckSeverity.ERROR,
        description=outcome.summary()[:2000],
        metadata=outcome.to_metadata(),
    )


@multi_asset_check(
    specs=[
        AssetCheckSpec(
            MART_CHECK_NAME,
            asset=AssetKey([mart]),
            blocking=True,
            description=f"Great Expectations suite expectations/marts/{mart}.json on marts.{mart}: key unique, "
            "rates within [0, 1], amounts and counts not negative, funnel and other counts ordered.",
        )
        for mart in KPI_MARTS
    ],
    can_subset=True,
    name="mart_expectations",
    description="Great Expectations suites on every KPI mart (blocking: a failure stops the publication).",
)
def mart_expectations(context: AssetCheckExecutionContext, settings: SalespulseSettings) -> Iterator[AssetCheckResult]:
    cfg = settings.get()
    selected: list[AssetCheckKey] = sorted(
        context.selected_asset_check_keys, key=lambda k: k.asset_key.to_user_string()
    )
    con = duck.connect(cfg.build_db, read_only=True, limits=DuckLimits.of(cfg))
    try:
        for check_key in selected:
            yield check_mart(con, check_key.asset_key.path[-1])
    finally:
        con.close()
