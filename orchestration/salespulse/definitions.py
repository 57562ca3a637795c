"""The Dagster entry point (``workspace.yaml`` loads this module)."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, ScheduleDefinition, define_asset_job, in_process_executor

from .assets.clv import clv_predictions_valid, kpi_clv_predicted
from .assets.dashboard import dashboard
from .assets.dbt import dbt_models
from .assets.landing import landing
from .assets.quality import mart_expectations
from .assets.raw import raw_tables
from .assets.reporting import reporting, semantic_snapshot
from .landing_sensor import make_landing_sensor
from .locking import RUN_TAG
from .resources import build_resources
from .sensors import refresh_failure_alert
from .settings import load_settings

REFRESH_JOB = "refresh"

# One DuckDB file has one writer: run a refresh's steps in one process, one after another.
refresh_job = define_asset_job(
    REFRESH_JOB,
    selection=AssetSelection.all(),
    executor_def=in_process_executor,
    tags=RUN_TAG,
    description="Load the landing files into raw, build and test every dbt model, publish the "
    "reporting database when every blocking check passed.",
)

daily_refresh = ScheduleDefinition(
    name="daily_refresh",
    job=refresh_job,
    cron_schedule="0 2 * * *",
    execution_timezone=load_settings().timezone,
    description="Daily refresh at 02:00 in the reporting time zone.",
)

defs = Definitions(
    assets=[landing, raw_tables, dbt_models, kpi_clv_predicted, reporting, semantic_snapshot, dashboard],
    asset_checks=[clv_predictions_valid, mart_expectations],
    jobs=[refresh_job],
    schedules=[daily_refresh],
    sensors=[make_landing_sensor(REFRESH_JOB), refresh_failure_alert],
    resources=build_resources(),
)
