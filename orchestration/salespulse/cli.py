"""The ``salespulse`` command line.

``salespulse refresh`` runs the Dagster ``refresh`` job in process: the same job the daily
schedule and the Dagster UI run, with no second code path.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
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


def _setting(settings, name: str, default, convert=str):
    """``settings.<name>``, else ``$SALESPULSE_<NAME>``, else ``default`` (fields not yet in every Settings)."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(f"SALESPULSE_{name.upper()}")
    if value is None or value == "":
        return default
    try:
        return convert(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"setting {name}: cannot read {value!r}") from exc


class _AlertLog:
    """Where the CLI's failure alert is logged: the summary to the refresh log, a line to stderr."""

    def __init__(self, log_path: Path | None) -> None:
        self.log_path = log_path

    def _file(self, message: str) -> None:
        if self.log_path is not None:
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(message + "\n")

    def error(self, message: str) -> None:
        self._file(message)

    def warning(self, message: str) -> None:
        self._file(message)
        print(f"alert: {message}", file=sys.stderr)

    info = warning


def _send_alert(summary: dict, settings, log_path: Path | None) -> None:
    from . import alerts

    try:
        alerts.notify_failure(summary, alerts.webhook_url(settings), _AlertLog(log_path))
    except Exception as exc:  # noqa: BLE001 - the alert must never hide the failure it reports
        print(f"alert: could not send the failure alert: {type(exc).__name__}", file=sys.stderr)


def cmd_refresh(args: argparse.Namespace) -> int:
    from .locking import refresh_lock

    started = time.monotonic()
    progress.enable_console()
    settings = _settings(args)
    wait = args.wait
    if wait is None:
        wait = _setting(settings, "refresh_lock_timeout_seconds", 0.0, float)
    if wait < 0:
        raise ValueError(f"--wait must be 0 or more seconds, got {wait:g}")
    # One refresh of a build warehouse at a time, for the whole run (load, dbt, publish).
    with refresh_lock(settings.build_db, wait=wait, on_wait=lambda msg: progress.report(f"refresh: {msg}")):
        try:
            return _refresh(args, settings, started)
        except Exception as exc:
            from . import alerts

            _send_alert(
                alerts.summary_from_exception(job_name="refresh", step="prepare", exc=exc), settings, None
            )
            raise


def _refresh(args: argparse.Namespace, settings, started: float) -> int:
    from . import alerts
    from .locking import duckdb_lock_hint

    progress.report(f"refresh: as of {settings.effective_as_of}, landing {settings.landing_dir}")

    from dagster import DagsterInstance

    from .project import ensure_manifest

    progress.report("dbt: preparing the manifest (dbt parse when the project changed)")
    ensure_manifest(settings=settings)
    from .definitions import REFRESH_JOB, defs

    resource_config = {
        "as_of": settings.effective_as_of.isoformat(),
        "landing_dir": str(settings.landing_dir),
        "build_db": str(settings.build_db),
        "reporting_db": str(settings.reporting_db),
        "full_refresh": bool(getattr(args, "full_refresh", False) or settings.full_refresh),
    }
    run_config = {
        "resources": {"settings": {"config": resource_config}},
        # Dagster's own console log would repeat every failure with a stack trace: the terminal gets
        # the progress lines and the summary below; the full log goes to the run's log file.
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
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

    _write_timings(settings, result, instance, time.monotonic() - started)
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
        hints: list[str] = []
        for e in result.all_events:
            if e.is_step_failure:
                err = alerts.user_error(e.step_failure_data.error)  # the step's own error, not the wrapper
                msg = alerts.redact(err.message.strip()) if err else e.message
                print(f"  step {e.step_key}: {msg}", file=sys.stderr)
                chain = err
                while chain is not None:
                    hint = duckdb_lock_hint(chain.message or "")
                    if hint and hint not in hints:
                        hints.append(hint)
                    chain = chain.cause
        for e in result.all_events:
            if e.event_type_value == "ASSET_CHECK_EVALUATION":
                ev = e.event_specific_data
                if not ev.passed and ev.severity.value == "ERROR":
                    what = ev.description or "failed"
                    print(f"  check {ev.asset_key.to_user_string()} {ev.check_name}: {what}", file=sys.stderr)
                    samples = ev.metadata.get("quarantine_samples") or ev.metadata.get("failed_expectations")
                    if samples is not None and str(samples.value).strip() not in ("", "(none)"):
                        for line in str(samples.value).splitlines()[:8]:
                            print(f"      {line}", file=sys.stderr)
                    if ev.check_name == "raw_contract":
                        hint = "held-back rows: salespulse quarantine list; fix the source and re-deliver, or " \
                               "salespulse quarantine resolve"
                        if hint not in hints:
                            hints.append(hint)
        for hint in hints:
            print(f"  hint: {hint}", file=sys.stderr)
        print(f"The reporting database {_reporting_location(settings)} was left as it was.", file=sys.stderr)
        print(f"Full log (dbt output): {log_path}", file=sys.stderr)
        summary = alerts.summary_from_events(
            run_id=result.run_id, job_name=REFRESH_JOB, events=result.all_events, origin="cli"
        )
        _send_alert(summary, settings, log_path)
        return 1
    if settings.engine != "duckdb":
        print(
            f"\nrefresh done in {elapsed:.1f}s on {settings.engine}: {rows:,} raw rows loaded, {marts} KPI marts "
            f"built and checked.\nreporting database: {_reporting_location(settings)} (docs/engines.md)"
        )
        return 0
    print(
        f"\nrefresh done in {elapsed:.1f}s: {rows:,} raw rows loaded, {marts} KPI marts built and "
        f"checked.\nreporting database: {settings.reporting_db}\n"
        f"query it:   salespulse sql \"select * from kpi_revenue where slice = 'company' "
        f"and period_type = 'month' order by period_start\""
    )
    return 0


def _write_timings(settings, result, instance, total_seconds: float) -> Path:
    """``<warehouse>/logs/last_refresh.json``: wall time of every step of the run (for ``bench/``)."""
    from .project import run_target_dir

    steps: dict[str, dict[str, float]] = {}
    for entry in instance.all_logs(result.run_id):
        e = entry.dagster_event
        if e is None or not e.step_key:
            continue
        if e.event_type_value == "STEP_START":
            steps.setdefault(e.step_key, {})["start"] = entry.timestamp
        elif e.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            steps.setdefault(e.step_key, {})["end"] = entry.timestamp
    for step in steps.values():
        if "start" in step and "end" in step:
            step["seconds"] = step["end"] - step["start"]
    record = {
        "success": result.success,
        "run_id": result.run_id,
        "as_of": settings.effective_as_of.isoformat(),
        "total_seconds": total_seconds,
        "steps": steps,
        "dbt_run_results": str(run_target_dir(settings) / "run_results.json"),
    }
    path = settings.build_db.parent / "logs" / "last_refresh.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _reporting_location(settings) -> str:
    """Where the checked marts are published: the reporting file, or the engine's reporting schema."""
    if settings.engine == "postgres":
        pg = settings.postgres
        return f"schema {pg.reporting_schema} of postgresql://{pg.host}:{pg.port}/{pg.database}"
    if settings.engine == "spark":
        return f"Spark database reporting (warehouse {settings.spark.warehouse_dir})"
    return str(settings.reporting_db)


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
    path = settings.build_db if args.build else settings.reporting_db
    if not path.exists():
        print(f"no database at {path}: run `salespulse refresh` first", file=sys.stderr)
        return 2
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        print(f"error: cannot open {path} read-only ({exc}); a refresh is probably writing it: "
              "query the reporting database instead, or retry when the refresh is done", file=sys.stderr)
        return 1
    try:
        if not args.query:
            print(f"connected read-only to {path}; end statements with ';', Ctrl-D to quit")
            buf = ""
            try:
                while True:
                    line = input("salespulse> " if not buf else "        ...> ")
                    buf += line + "\n"
                    if buf.strip().endswith(";"):
                        _print_query(con, buf, path)
                        buf = ""
            except EOFError:
                return 0
        return 0 if _print_query(con, args.query, path) else 1
    finally:
        con.close()


def cmd_quarantine(args: argparse.Namespace) -> int:
    """List quarantined rows (file, row, column, reason) or mark them resolved, so the gate reopens."""
    import datetime as dt

    from .contract import TABLES
    from .loader import QUARANTINE_SCHEMA, connect_build, ensure_raw_schema

    settings = _settings(args)
    if args.table and args.table not in TABLES:
        print(f"unknown raw table {args.table!r}; one of: {', '.join(TABLES)}", file=sys.stderr)
        return 2
    tables = [args.table] if args.table else list(TABLES)
    con = connect_build(settings.build_db)
    try:
        ensure_raw_schema(con)
        where = "_resolved_at is null" + (" and _source_file like ?" if args.file else "")
        params = [f"%{args.file}%"] if args.file else []
        total = 0
        for table in tables:
            q = f"{QUARANTINE_SCHEMA}.{table}"
            if args.action == "list":
                rows = con.execute(
                    f"select _source_file, _row_number, _column, _reason from {q} where {where} "
                    "order by _batch_id, _row_number", params,
                ).fetchall()
                for f, r, c, why in rows:
                    print(f"{table}\t{f}\trow {r}\t{c}\t{why}")
                total += len(rows)
            else:
                n = con.execute(f"select count(*) from {q} where {where}", params).fetchone()[0]
                con.execute(f"update {q} set _resolved_at = ? where {where}", [dt.datetime.now(dt.UTC), *params])
                total += n
        verb = "unresolved quarantined row(s)" if args.action == "list" else "row(s) marked resolved"
        print(f"{total} {verb}", file=sys.stderr)
    finally:
        con.close()
    return 0


def _print_query(con, query: str, path: Path | None = None) -> bool:
    import duckdb

    try:
        rel = con.sql(query)
    except duckdb.Error as exc:
        text = str(exc)
        if "read-only mode" in text or "read only" in text.lower():
            print(
                f"error: the reporting database {path or ''} is opened read-only: it cannot be changed "
                f"here; its marts are rebuilt and republished by `salespulse refresh`. ({text})",
                file=sys.stderr,
            )
        else:
            print(f"error: {text}", file=sys.stderr)
        return False
    if rel is not None:
        rel.show(max_rows=200, max_width=200)
    return True


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_reporting

    settings = _settings(args)
    out = (args.out or settings.reporting_db.parent / "export").resolve()
    exported = export_reporting(settings.reporting_db, out, fmt=args.format)
    for t in exported:
        print(f"{t.table:28s} {t.rows:>12,} rows  {t.path}")
    print(f"{len(exported)} tables exported from {settings.reporting_db} to {out}")
    return 0


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
    p.add_argument(
        "--full-refresh", action="store_true",
        help="rebuild the incremental dbt models from every raw row (otherwise a refresh updates them "
        "incrementally, and falls back to a full rebuild by itself when the as-of date moves back or "
        "settings changed)",
    )
    p.add_argument(
        "--wait", type=float, metavar="SECONDS",
        help="when another refresh of the same build warehouse is running, wait up to SECONDS for "
        "it to finish (default: setting refresh_lock_timeout_seconds, 0 = fail at once)",
    )
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
    p.add_argument("--build", action="store_true",
                   help="query the build warehouse (raw, quarantine, staging) read-only instead; "
                        "fails while a refresh writes it")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("quarantine", help="list quarantined rows, or mark them resolved")
    _add_settings_args(p)
    p.add_argument("action", choices=["list", "resolve"])
    p.add_argument("--table", help="raw table (default: all)")
    p.add_argument("--file", help="only rows from this landing file (a substring of its path)")
    p.set_defaults(func=cmd_quarantine)

    p = sub.add_parser("export", help="export every reporting table to <DIR>/<table>.parquet (read-only)")
    _add_settings_args(p)
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    p.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: export/ beside the reporting db)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("prepare", help="parse the dbt project and write its manifest")
    p.set_defaults(func=cmd_prepare)
    from .dashboard.cli import add_dashboard_parser
    from .metrics import add_metrics_parser

    add_dashboard_parser(sub)
    add_metrics_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .locking import RefreshLockBusy

    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except RefreshLockBusy as exc:
        print(f"salespulse: {exc}", file=sys.stderr)
        return RefreshLockBusy.exit_code
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"salespulse: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
