"""Raw layer: one asset per contract table, loaded from the landing folder in one step.

All raw tables are loaded by one multi-asset step, because a DuckDB file has one writer: parallel
steps would fight for its lock. Selecting a subset of raw assets loads only those tables.
"""


from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from .. import progress
from ..contract import TABLES
from ..loader import find_landing_files, load_landing
from ..resources import SalespulseSettings

RAW_GROUP = "raw"


def raw_key(table: str) -> AssetKey:
    return AssetKey(["raw", table])


def ensure_demo_landing(settings) -> bool:
    """Generate the embedded demo CRM into the landing folder when it holds no landing file."""
    files = find_landing_files(settings.landing_dir)
    if any(files.values()) or not settings.demo.auto_generate:
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


@multi_asset(
    specs=[
        AssetSpec(
            raw_key(name),
            group_name=RAW_GROUP,
            description=f"raw.{name}: append-only landing of the canonical `{name}` table "
            f"(primary key {', '.join(t.primary_key)}), with _batch_id, _loaded_at, "
            "_source_system and _source_file.",
            kinds={"duckdb"},
            skippable=True,
        )
        for name, t in TABLES.items()
    ],
    can_subset=True,
    name="raw_tables",
)
def raw_tables(context: AssetExecutionContext, settings: SalespulseSettings):
    cfg = settings.get()
    generated = ensure_demo_landing(cfg)
    selected = [key.path[-1] for key in context.selected_asset_keys]
    wanted = [name for name in TABLES if name in selected]
    progress.report(f"load: {len(wanted)} raw tables from {cfg.landing_dir} into {cfg.build_db}")
    results = load_landing(
        cfg.build_db, cfg.landing_dir, source_system=cfg.source_system, tables=wanted,
        progress=progress.report,
    )
    missing = [name for name, r in results.items() if not r.files]
    if missing:
        context.log.warning(
            "no landing file for: %s (KPIs that need them will be NULL)", ", ".join(missing)
        )
    for name in wanted:
        r = results[name]
        yield MaterializeResult(
            asset_key=raw_key(name),
            metadata={
                "rows_loaded": r.rows_loaded,
                "files_loaded": r.files_loaded,
                "files_skipped_already_loaded": r.files_skipped,
                "files": MetadataValue.md("\n".join(f"- `{f.path}`" for f in r.files) or "(none)"),
                "input_missing": not r.files,
                "warnings": MetadataValue.md("\n".join(f"- {w}" for w in r.warnings) or "(none)"),
                "demo_generated": generated,
            },
        )
