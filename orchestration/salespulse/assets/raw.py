"""Raw layer: one asset per contract table, loaded from the landing folder in one step.

All raw tables are loaded by one multi-asset step, because a DuckDB file has one writer: parallel
steps would fight for its lock. Selecting a subset of raw assets loads only those tables. Each
raw table carries a blocking ``raw_contract`` check: the table's files could be read, the rows in
quarantine stay under ``quarantine_max_share`` of the table, and the contract holds on what was
loaded. A failed check stops the run before dbt, so the reporting database stays as it was.
"""

import datetime as dt
import time
from zoneinfo import ZoneInfo

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from .. import progress
from ..contract import TABLES
from ..duck import DuckLimits
from ..loader import (
    LoadOptions,
    TableLoad,
    connect_build,
    load_landing,
    quarantine_samples,
    unresolved_quarantine,
)
from ..quality.gx import validate_raw_batch
from ..resources import SalespulseSettings
from ..settings import Settings
from .landing import LANDING_KEY

RAW_GROUP = "raw"
RAW_CHECK = "raw_contract"
FRESHNESS_CHECK = "freshness"

# What "newest record" means for tables without updated_at.
FRESHNESS_COLUMN = {
    "opportunity_stage_history": "entered_at",
    "payments": "paid_at",
    "deliveries": "delivered_at",
    "marketing_spend": "spend_date",
    "sales_compensation": "month",
    "targets": "period_start",
    "fx_rates": "rate_date",
}


def raw_key(table: str) -> AssetKey:
    return AssetKey(["raw", table])


def _samples_md(samples: list[dict]) -> str:
    if not samples:
        return "(none)"
    lines = ["| file | row | column | reason |", "|---|---|---|---|"]
    lines += [f"| `{s['file']}` | {s['row']} | {s['column']} | {s['reason']} |" for s in samples]
    return "\n".join(lines)


def contract_check(con, name: str, load: TableLoad, cfg: Settings) -> AssetCheckResult:
    """The blocking gate of one raw table (file errors, quarantine share, contract rules)."""
    unresolved, raw_rows = unresolved_quarantine(con, name)
    total = unresolved + raw_rows
    share = unresolved / total if total else 0.0
    samples = quarantine_samples(con, name)
    problems: list[str] = []
    if load.error:
        problems.append(f"file not loaded: {load.error}")
    if share > cfg.quarantine_max_share:
        problems.append(
            f"{unresolved:,} of {total:,} rows ({share:.2%}) are in quarantine.{name}, over the "
            f"{cfg.quarantine_max_share:.2%} allowed"
        )
    gx_metadata: dict = {}
    for batch_id, rows in load.batch_rows.items():  # the Great Expectations suite on every batch loaded now
        outcome = validate_raw_batch(con, name, batch_id, sample_rows=cfg.raw_gx_sample_rows, rows=rows)
        if not outcome.passed:
            problems.append(f"batch {batch_id}: {outcome.summary()}")
        gx_metadata = {f"gx_{k}": v for k, v in outcome.to_metadata().items()}
    metadata = {
        **gx_metadata,
        "quarantined_unresolved": unresolved,
        "quarantined_share": float(share),
        "quarantine_max_share": cfg.quarantine_max_share,
        "quarantine_samples": MetadataValue.md(_samples_md(samples)),
        "problems": MetadataValue.md("\n".join(f"- {p}" for p in problems) or "(none)"),
    }
    description = "; ".join(problems) if problems else None
    return AssetCheckResult(
        asset_key=raw_key(name),
        check_name=RAW_CHECK,
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=description,
    )


def freshness_check(con, name: str, cfg: Settings) -> AssetCheckResult:
    """Non-blocking: the newest record of the table is at most N days older than the as-of date."""
    limit = cfg.freshness.tables.get(name, cfg.freshness.default_days)
    col = "updated_at" if TABLES[name].has_versions else FRESHNESS_COLUMN[name]
    as_of = cfg.effective_as_of
    if limit is None:
        return AssetCheckResult(asset_key=raw_key(name), check_name=FRESHNESS_CHECK, passed=True,
                                severity=AssetCheckSeverity.WARN, metadata={"disabled": True})
    if TABLES[name].columns[col] == "DATE":
        newest = con.execute(f"select max({col}) from raw.{name} where {col} <= ?", [as_of]).fetchone()[0]
    else:
        # The newest instant before the local midnight that ends the as-of day. Local dates never
        # go down as instants go up, so its local date is the newest local day; comparing with one
        # constant spares a time-zone conversion of every row (tens of seconds at 10M orders).
        zone = ZoneInfo(cfg.timezone)
        end_of_day = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), zone)
        latest = con.execute(f"select max({col}) from raw.{name} where {col} < ?", [end_of_day]).fetchone()[0]
        newest = latest.astimezone(zone).date() if latest is not None else None
    age = (as_of - newest).days if newest is not None else None
    passed = age is not None and age <= limit
    what = "no records" if newest is None else f"newest {col} is {newest} ({age} days before {as_of})"
    return AssetCheckResult(
        asset_key=raw_key(name),
        check_name=FRESHNESS_CHECK,
        passed=passed,
        severity=AssetCheckSeverity.WARN,
        description=None if passed else f"raw.{name} is stale: {what}; allowed {limit} days",
        metadata={"newest": str(newest) if newest else "", "age_days": age if age is not None else -1,
                  "max_age_days": limit, "column": col},
    )


@multi_asset(
    specs=[
        AssetSpec(
            raw_key(name),
            group_name=RAW_GROUP,
            description=f"raw.{name}: append-only landing of the canonical `{name}` table "
            f"(primary key {', '.join(t.primary_key)}), with _batch_id, _loaded_at, "
            "_source_system and _source_file. Rows breaking the contract go to "
            f"quarantine.{name}.",
            kinds={"duckdb"},
            skippable=True,
            deps=[LANDING_KEY],
        )
        for name, t in TABLES.items()
    ],
    check_specs=[
        AssetCheckSpec(
            RAW_CHECK,
            asset=raw_key(name),
            blocking=True,
            description="Files readable, quarantined share under the threshold, contract rules hold.",
        )
        for name in TABLES
    ]
    + [
        AssetCheckSpec(
            FRESHNESS_CHECK,
            asset=raw_key(name),
            blocking=False,
            description="Newest record within the configured days of the as-of date (warns, never blocks).",
        )
        for name in TABLES
    ],
    can_subset=True,
    name="raw_tables",
)
def raw_tables(context: AssetExecutionContext, settings: SalespulseSettings):
    cfg = settings.get()
    selected = {key.path[-1] for key in context.selected_asset_keys}
    wanted = [name for name in TABLES if name in selected]
    progress.report(f"load: {len(wanted)} raw tables from {cfg.landing_dir} into {cfg.build_db}")
    options = LoadOptions(
        source_system=cfg.source_system,
        reporting_currency=cfg.reporting_currency,
        timezone=cfg.timezone,
        encoding=cfg.landing_encoding,
        source_names=tuple(s.name for s in cfg.sources),
        limits=DuckLimits.of(cfg),
    )
    results = load_landing(cfg.build_db, cfg.landing_dir, tables=wanted, progress=progress.report, options=options)
    missing = [name for name, r in results.items() if not r.files and not r.error]
    if missing:
        progress.report(f"load: no landing file for {', '.join(missing)} (KPIs that need them will be NULL)")
    con = connect_build(cfg.build_db, DuckLimits.of(cfg))
    try:
        for name in wanted:
            r = results[name]
            yield MaterializeResult(
                asset_key=raw_key(name),
                metadata={
                    "rows_loaded": r.rows_loaded,
                    "rows_quarantined": r.rows_quarantined,
                    "files_loaded": r.files_loaded,
                    "files_skipped_already_loaded": r.files_skipped,
                    "batch_ids": MetadataValue.json(r.batch_ids),
                    "files": MetadataValue.md("\n".join(f"- `{f.path}`" for f in r.files) or "(none)"),
                    "input_missing": not r.files,
                    "warnings": MetadataValue.md("\n".join(f"- {w}" for w in r.warnings) or "(none)"),
                    "error": r.error or "",
                },
            )
            started = time.perf_counter()
            check = contract_check(con, name, r, cfg)
            if not check.passed:
                progress.report(f"check FAILED: raw.{name}: {check.description}")
            elif r.batch_rows:
                rows = sum(r.batch_rows.values())
                progress.report(f"check: raw.{name} passed ({rows:,} new rows) in {time.perf_counter() - started:.1f}s")
            yield check
            fresh = freshness_check(con, name, cfg)
            if not fresh.passed:
                progress.report(f"warning: {fresh.description}")
            yield fresh
    finally:
        con.close()
