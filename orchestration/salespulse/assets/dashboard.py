"""The KPI dashboard, rendered after each publication from the reporting database."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from .. import progress
from ..dashboard.cli import dashboard_language, default_output
from ..dashboard.render import render_dashboard
from ..engines import skipped_on_engine
from ..resources import SalespulseSettings


@asset(
    key=AssetKey(["dashboard"]),
    deps=[AssetKey(["reporting"])],
    group_name="reporting",
    kinds={"html"},
    description="The KPI dashboard: one self-contained HTML page (charts embedded, works offline) beside the "
    "reporting database (default warehouse/dashboard.html), rendered from the published reporting "
    "database, never the build warehouse.",
)
def dashboard(context: AssetExecutionContext, settings: SalespulseSettings) -> MaterializeResult:
    cfg = settings.get()
    if cfg.engine != "duckdb":
        return skipped_on_engine(context, cfg, "dashboard", "the dashboard renders from reporting.duckdb")
    language = dashboard_language(cfg)
    out = default_output(cfg.reporting_db)
    progress.report(f"dashboard: rendering ({language}) -> {out}")
    path = render_dashboard(cfg.reporting_db, out, language=language, currency=cfg.reporting_currency)
    size = path.stat().st_size
    context.log.info(f"dashboard written to {path} ({size:,} bytes)")
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(path)),
            "url": MetadataValue.url(path.resolve().as_uri()),
            "language": language,
            "currency": cfg.reporting_currency,
            "size_bytes": size,
        }
    )
