"""Publication: the reporting database, built only from a fully checked dbt build."""


import json

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from .. import progress
from ..duck import DuckLimits
from ..engines import get_engine, skipped_on_engine
from ..metrics import publish_semantic_snapshot
from ..project import ensure_manifest
from ..publish import mart_tables, publish
from ..resources import SalespulseSettings


def kpi_mart_names() -> list[str]:
    """The KPI marts of the dbt project (models named ``kpi_*``), read from the manifest."""
    manifest = json.loads(ensure_manifest().read_text(encoding="utf-8"))
    return sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["name"].startswith("kpi_")
    )


# KPI marts written by Python assets (not dbt models) into the build warehouse's marts schema.
PYTHON_MARTS = ["kpi_clv_predicted"]
KPI_MARTS = sorted(kpi_mart_names() + PYTHON_MARTS)


@asset(
    key=AssetKey(["reporting"]),
    deps=[AssetKey([name]) for name in KPI_MARTS],
    group_name="reporting",
    kinds={"duckdb"},
    description="The published reporting database (default warehouse/reporting.duckdb): every KPI mart "
    "of a fully checked build, swapped in atomically. BI tools and analysts read this file, never "
    "the build warehouse.",
)
def reporting(context: AssetExecutionContext, settings: SalespulseSettings) -> MaterializeResult:
    cfg = settings.get()
    built = set(mart_tables(cfg.build_db))
    missing = [m for m in KPI_MARTS if m not in built]
    if missing:
        raise RuntimeError(f"cannot publish: KPI marts missing from the build warehouse: {', '.join(missing)}")
    engine = get_engine(cfg)
    if engine.name != "duckdb":  # postgres: schema `reporting` (one transaction); spark: database `reporting`
        progress.report(f"publish: {len(KPI_MARTS)} KPI marts -> {engine.name} reporting")
        epub = engine.publish(KPI_MARTS, as_of=cfg.effective_as_of, run_id=context.run.run_id)
        progress.report(f"publish: done ({epub.location})")
        return MaterializeResult(
            metadata={
                "engine": engine.name,
                "location": epub.location,
                "tables": MetadataValue.json(epub.tables),
                "as_of": cfg.effective_as_of.isoformat(),
                **{k: str(v) for k, v in epub.extra.items()},
            }
        )
    progress.report(f"publish: {len(KPI_MARTS)} KPI marts -> {cfg.reporting_db}")
    pub = publish(cfg.build_db, cfg.reporting_db, KPI_MARTS, as_of=cfg.effective_as_of, run_id=context.run.run_id,
                  limits=DuckLimits.of(cfg))
    progress.report(f"publish: done ({pub.bytes / 1e6:.1f} MB)")
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(pub.path)),
            "tables": MetadataValue.json(pub.tables),
            "as_of": cfg.effective_as_of.isoformat(),
            "size_bytes": pub.bytes,
        }
    )


@asset(
    key=AssetKey(["semantic_snapshot"]),
    deps=[AssetKey(["reporting"])],
    group_name="reporting",
    kinds={"duckdb"},
    description="warehouse/semantic.duckdb: the facts and dims the metrics layer (MetricFlow) reads, "
    "published read-only after the reporting database so `salespulse metrics` never touches the build "
    "warehouse.",
)
def semantic_snapshot(context: AssetExecutionContext, settings: SalespulseSettings) -> MaterializeResult:
    cfg = settings.get()
    if cfg.engine != "duckdb":
        return skipped_on_engine(context, cfg, "publish: semantic snapshot",
                                 "the metrics layer (MetricFlow) runs on DuckDB only")
    snapshot = publish_semantic_snapshot(
        cfg.build_db, cfg.reporting_db.with_name("semantic.duckdb"), limits=DuckLimits.of(cfg))
    progress.report(f"publish: semantic snapshot for `salespulse metrics` -> {snapshot.path}")
    return MaterializeResult(metadata={"path": MetadataValue.path(str(snapshot.path))})
