"""The ``salespulse`` command line.

``salespulse refresh`` runs the Dagster ``refresh`` job in process: the same job the daily
schedule and the Dagster UI run, with no second code path.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import time
from pathlib import Path

from . import progress


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from exc


def _add_settings_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="settings YAML (default: ./salespulse.yaml if present)")
    p.add_argument("--as-of", type=_date, help="as-of date YYYY-MM-DD (default: today in the reporting time zone)")
    p.add_argument("--landing", type=Path, help="landing folder (default: landing/demo)")
    p.add_argument("--build-db", type=Path, help="build warehouse (default: warehouse/build.duckdb)")
    p.add_argument("--reporting-db", type=Path, help="reporting database (default: warehouse/reporting.duckdb)")


def _apply_config_arg(args: argparse.Namespace) -> None:
    if getattr(args, "config", None):
        os.environ["SALESPULSE_CONFIG"] = str(args.config.resolve())


def _settings(args: argparse.Namespace):
    from .settings import load_settings

    _apply_config_arg(args)
    return load_settings(
        as_of=args.as_of, landing_dir=args.landing, build_db=args.build_db, reporting_db=args.reporting_db
    )


def cmd_refresh(args: argparse.Namespace) -> int:
    started = time.monotonic()
    progress.enable_console()
    settings = _settings(args)
    progress.report(f"refresh: as of {settings.effective_as_of}, landing {settings.landing_dir}")

    from dagster import DagsterInstance

    from .project import ensure_manifest

    progress.report("dbt: preparing the manifest (dbt parse when the project changed)")
    ensure_manifest()
    from .definitions import REFRESH_JOB, defs

    resource_config = {
        "as_of": settings.effective_as_of.isoformat(),
        "landing_dir": str(settings.landing_dir),
        "build_db": str(settings.build_db),
        "reporting_db": str(settings.reporting_db),
    }
    run_config = {
        "resources": {"settings": {"config": resource_config}},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }
    instance = DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()
    job = defs.resolve_job_def(REFRESH_JOB)
    # dbt's own log goes to a file (or the terminal with --verbose); the terminal gets one line a step.
    log_dir = settings.build_db.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"refresh-{dt.datetime.now():%Y%m%d-%H%M%S}.log"
    with open(log_path, "w", encoding="utf-8") as log_file:
        target = sys.stdout if args.verbose else log_file
        with contextlib.redirect_stdout(target):
            result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)

    rows = 0
    marts = 0
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        key = mat.asset_key.path
        if key[0] == "raw" and "rows_loaded" in mat.metadata:
            rows += int(mat.metadata["rows_loaded"].value)
        elif key[-1].startswith("kpi_"):
            marts += 1
    elapsed = time.monotonic() - started
    if not result.success:
        print(f"\nrefresh FAILED after {elapsed:.1f}s (run {result.run_id}).", file=sys.stderr)
        for e in result.all_events:
            if e.is_step_failure:
                err = e.step_failure_data.error
                while err is not None and err.cause is not None:  # the root cause, not the wrapper
                    err = err.cause
                msg = err.message.strip() if err else e.message
                print(f"  step {e.step_key}: {msg}", file=sys.stderr)
        print(f"The reporting database {settings.reporting_db} was left as it was.", file=sys.stderr)
        print(f"Full log (dbt output): {log_path}", file=sys.stderr)
        return 1
    print(
        f"\nrefresh done in {elapsed:.1f}s: {rows:,} raw rows loaded, {marts} KPI marts built and "
        f"checked.\nreporting database: {settings.reporting_db}\n"
        f"query it:   salespulse sql \"select * from kpi_revenue where slice = 'company' "
        f"and period_type = 'month' order by period_start\""
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import generate_demo
    from .settings import load_settings

    progress.enable_console()
    _apply_config_arg(args)
    settings = load_settings(as_of=args.as_of)
    out = (args.out or settings.landing_dir).resolve()
    counts = generate_demo(
        out, scale=args.scale, seed=args.seed, as_of=settings.effective_as_of, fmt=args.format,
        progress=progress.report,
    )
    for table, n in counts.items():
        print(f"{table:28s} {n:>12,}")
    print(f"demo CRM written to {out}")
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    settings = _settings(args)
    path = settings.reporting_db
    if not path.exists():
        print(f"no reporting database at {path}: run `salespulse refresh` first", file=sys.stderr)
        return 2
    con = duckdb.connect(str(path), read_only=True)
    queries = [args.query] if args.query else None
    if queries is None:
        print(f"connected read-only to {path}; end statements with ';', Ctrl-D to quit")
        buf = ""
        try:
            while True:
                line = input("salespulse> " if not buf else "        ...> ")
                buf += line + "\n"
                if buf.strip().endswith(";"):
                    _print_query(con, buf)
                    buf = ""
        except EOFError:
            return 0
    for q in queries:
        _print_query(con, q)
    return 0


def _print_query(con, query: str) -> None:
    import duckdb

    try:
        rel = con.sql(query)
    except duckdb.Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return
    if rel is not None:
        rel.show(max_rows=200, max_width=200)


def cmd_prepare(args: argparse.Namespace) -> int:
    from .project import ensure_manifest

    path = ensure_manifest(force=True)
    print(f"dbt manifest written to {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="salespulse", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("refresh", help="load landing files, build and check the marts, publish the reporting db")
    _add_settings_args(p)
    p.add_argument("-v", "--verbose", action="store_true", help="show dbt's own output")
    p.set_defaults(func=cmd_refresh)

    p = sub.add_parser("demo", help="write the demo CRM's landing files")
    p.add_argument("--config", type=Path)
    p.add_argument("--scale", type=int, default=2000, help="number of orders (default 2000)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--as-of", type=_date)
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    p.add_argument("--out", type=Path, help="output folder (default: the landing folder)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sql", help="query the reporting database read-only")
    _add_settings_args(p)
    p.add_argument("query", nargs="?", help="a SQL query; omit for an interactive prompt")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("prepare", help="parse the dbt project and write its manifest")
    p.set_defaults(func=cmd_prepare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"salespulse: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
