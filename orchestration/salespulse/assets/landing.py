"""The landing folder: the demo CRM, or each configured CRM source converted into a landing drop."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from .. import progress
from ..loader import find_landing_files
from ..resources import SalespulseSettings
from ..settings import Settings

LANDING_KEY = AssetKey(["landing"])


def ensure_demo_landing(settings: Settings) -> bool:
    """Generate the embedded demo CRM into the landing folder when it holds no landing file."""
    files = find_landing_files(settings.landing_dir)
    if any(files.values()) or settings.sources or not settings.demo.auto_generate:
        return False
    from ..demo import generate_demo

    progress.report(
        f"demo: landing folder {settings.landing_dir} is empty; generating the demo CRM "
        f"({settings.demo.scale:,} orders, seed {settings.demo.seed})"
    )
    generate_demo(
        settings.landing_dir,
        scale=settings.demo.scale,
        seed=settings.demo.seed,
        as_of=settings.effective_as_of,
        progress=progress.report,
    )
    return True


@asset(
    key=LANDING_KEY,
    group_name="landing",
    kinds={"python"},
    description="Landing drops: each configured CRM source (Salesforce, HubSpot, Jiandaoyun, a mapped "
    "export) converted into canonical <table>.csv files under <landing>/<source>/<timestamp>/, or the "
    "demo CRM when nothing is configured and the folder is empty.",
)
def landing(context: AssetExecutionContext, settings: SalespulseSettings) -> MaterializeResult:
    from ..sources.registry import extract

    cfg = settings.get()
    generated = ensure_demo_landing(cfg)
    converted: dict[str, dict[str, int]] = {}
    warnings: list[str] = []
    state_dir = cfg.build_db.parent / "state"
    for source in cfg.sources:
        if source.kind == "canonical":
            continue
        what = "fetch + convert" if source.fetch else "convert"
        progress.report(f"extract: {source.name} ({source.kind}, {what}) from {source.input_dir}")
        result = extract(source, cfg.landing_dir, state_dir)
        converted[source.name] = result.tables
        warnings += [f"{source.name}: {w}" for w in result.warnings]
        progress.report(f"extract: {source.name}: " + ", ".join(f"{t} {n:,}" for t, n in result.tables.items()))
    for w in warnings:
        context.log.warning(w)
    return MaterializeResult(
        metadata={
            "landing_dir": MetadataValue.path(str(cfg.landing_dir)),
            "demo_generated": generated,
            "sources": MetadataValue.json(converted),
            "warnings": MetadataValue.md("\n".join(f"- {w}" for w in warnings) or "(none)"),
        }
    )
