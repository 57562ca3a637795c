"""dbt models as Dagster assets: staging -> intermediate -> marts, with dbt tests as asset checks.

dbt sources in schema ``raw`` map onto the raw assets' keys, so the lineage reads
raw -> staging -> marts -> reporting without hand-drawn edges. Error-severity dbt tests become
blocking asset checks; ``dbt build`` stops downstream models when one fails.
"""


import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from .. import duck, faults, progress, row_rules
from ..duck import DuckLimits
from ..engines import get_engine
from ..environ import temporary_environ
from ..incremental import plan_build
from ..project import (
    DBT_PROJECT_DIR,
    DEFAULT_DBT_THREADS,
    dbt_env,
    dbt_project,
    ensure_manifest,
    prepare_run_target_dir,
)
from ..resources import SalespulseSettings
from ..settings import Settings


class SalespulseTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey(["raw", dbt_resource_props["name"]])
        return AssetKey([dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn") or []
        # fqn = [project, folder, ..., model]: the first folder under models/ is the layer.
        return fqn[1] if len(fqn) > 2 else "dbt"


translator = SalespulseTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@contextmanager
def dbt_environment(settings: Settings) -> Iterator[None]:
    """Point the dbt subprocess (profiles.yml reads these) at the configured warehouse."""
    with temporary_environ(dbt_env(settings)):  # incl. the postgres / spark target's connection
        yield


# Above this many raw rows per byte of the DuckDB memory limit, a build runs one model at a time.
ONE_THREAD_RAW_ROWS_PER_BYTE = 10_000_000 / 1e9


def choose_dbt_threads(settings: Settings) -> tuple[int, str]:
    """dbt threads of a build and why.

    DuckDB's memory limit holds for the whole database, so the models dbt builds at once share it.
    Small and medium warehouses gain from two at a time (many small models); at 10 million orders
    two memory-heavy marts side by side (kpi_revenue, kpi_sales_cycle) ran out of memory under
    3 GB. The raw row count stands in for the size of the largest models.
    """
    if settings.dbt_threads:
        return settings.dbt_threads, "dbt_threads setting"
    if settings.engine != "duckdb" or not settings.build_db.exists():
        return DEFAULT_DBT_THREADS, "default"
    con = duck.connect(settings.build_db, read_only=True, limits=DuckLimits(settings.duckdb_memory_limit))
    try:
        raw_rows, limit = con.execute(
            "select (select coalesce(sum(estimated_size), 0) from duckdb_tables() where schema_name = 'raw'), "
            "parse_formatted_bytes(current_setting('memory_limit'))"
        ).fetchone()
    finally:
        con.close()
    if raw_rows > limit * ONE_THREAD_RAW_ROWS_PER_BYTE:
        return 1, (f"{raw_rows:,} raw rows > {ONE_THREAD_RAW_ROWS_PER_BYTE * 1e9 / 1e6:.0f}M per GB of the "
                   f"{settings.duckdb_memory_limit} DuckDB memory limit: one model at a time")
    return DEFAULT_DBT_THREADS, "default"


def dbt_build_args(settings: Settings, full_refresh: bool = False) -> list[str]:
    args = ["build", "--vars", json.dumps(settings.dbt_cli_vars()), "--target", get_engine(settings).dbt_target]
    return [*args, "--full-refresh"] if full_refresh else args


@dbt_assets(
    manifest=ensure_manifest(),
    project=dbt_project,
    dagster_dbt_translator=translator,
    name="dbt_models",
    # dbt unit tests check model logic on fixed fixtures, not data: they run in the test suite
    # (tests/test_pipeline_e2e.py), not in every production build.
    exclude="resource_type:unit_test",
)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, settings: SalespulseSettings):
    cfg = settings.get()
    engine = get_engine(cfg)
    if engine.name != "duckdb":  # raw was loaded and checked in the build file: copy it to the target
        progress.report(f"{engine.name}: syncing raw tables from {cfg.build_db}")
        engine.sync_raw(progress=progress.report)
    where = cfg.build_db if engine.name == "duckdb" else f"the {engine.name} target"
    # the engine is part of what an incremental build must not change
    reason = plan_build(cfg.build_db, {**cfg.dbt_vars(), "engine": engine.name}, DBT_PROJECT_DIR,
                        requested_full=cfg.full_refresh)
    mode = (f"full refresh: {reason}" if reason
            else "incremental: only changed keys of the base models and the large facts")
    threads, why = choose_dbt_threads(cfg)
    cfg = cfg.model_copy(update={"dbt_threads": threads})
    progress.report(f"dbt: build (as of {cfg.effective_as_of}; {mode}) on {where} with {threads} thread(s) ({why})")
    built = tests = failed = warned = 0
    broken: dict[str, str] = {}  # failed or warned check -> its asset
    with dbt_environment(cfg):
        target = prepare_run_target_dir(cfg)
        invocation = dbt.cli(
            dbt_build_args(cfg, reason is not None), context=context, raise_on_error=False, target_path=target
        )
        for n, event in enumerate(invocation.stream()):
            if n == 3:
                faults.pause_point("dbt")  # crash tests: killed while dbt is mid-build
            if isinstance(event, AssetCheckResult):
                tests += 1
                if not event.passed and event.severity == AssetCheckSeverity.ERROR:
                    failed += 1
                    broken[event.check_name] = event.asset_key.to_user_string()
                    progress.report(f"dbt: check FAILED: {event.check_name} on {event.asset_key.to_user_string()}")
                elif not event.passed:
                    warned += 1
                    broken[event.check_name] = event.asset_key.to_user_string()
                    progress.report(f"dbt: warning: {event.check_name} on {event.asset_key.to_user_string()}")
            else:
                built += 1
                key = getattr(event, "asset_key", None) or getattr(event, "output_name", "")
                name = key.to_user_string() if isinstance(key, AssetKey) else str(key)
                progress.report(f"dbt: built {name}")
            yield event
        progress.report(f"dbt: {built} models built, {tests} tests run, {failed} failed, {warned} warnings")
        # a row_rules test checks many rules in one scan: name the ones that broke
        explained = row_rules.explain(target / "run_results.json", list(broken), engine.query)
        for test, why in explained.items():
            progress.report(f"dbt: {test} on {broken[test]}: {why}")
        if not invocation.is_successful():
            errors = invocation.get_error()
            raise RuntimeError(
                f"dbt build failed: {failed} blocking check(s) failed or a model errored; "
                "the reporting database was not touched. " + (str(errors) if errors else "")
                + "".join(f"\n{t} on {broken[t]}: {why}" for t, why in explained.items())
            )
    # the Python steps (predictive CLV, GX mart checks) read the marts through the build file
    engine.pull_marts(progress=progress.report)
