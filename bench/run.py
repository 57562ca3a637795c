"""Benchmark harness of issue 7: the pipeline as a user feels it, against the floor and pandas.

    python bench/run.py --orders 100000,1000000,10000000 [--runs 3]
    python bench/run.py --render bench/results/<timestamp>.json      # re-render docs/benchmarks.md

For each scale: generate (once, cached) the demo landing data ending on the as-of day D and a
next-day drop for D+1, then per run: a full refresh (fresh warehouse), a daily incremental refresh
(the D+1 drop added to the landing folder, as of D+1, same build warehouse), the floor (plain DuckDB
SQL, bench/floor.py) and the pandas reference (bench/pandas_ref.py). Every command runs as a
subprocess with the RSS of its whole process tree sampled every 0.1 s. Once per invocation: the
tiny-demo startup (`salespulse refresh` in an empty folder). Results: bench/results/<ts>.json and
docs/benchmarks.md (medians over the runs). See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    BENCH_DIR,
    PROGRESS_RE,
    REPO_ROOT,
    VENV_BIN,
    log,
    parquet_rows,
    run_measured,
    warehouse_sizes,
    write_json,
)

SALESPULSE = str(VENV_BIN / "salespulse")
PYTHON = sys.executable
DEFAULT_AS_OF = "2026-06-29"
DOC = REPO_ROOT / "docs" / "benchmarks.md"
GIB = 2**30


# ============================================================================ data
def ensure_data(data_dir: Path, orders: int, as_of: dt.date, seed: int) -> Path:
    """<data_dir>/orders-<N>_<D>_s<seed>/{d0,d1}: the demo landing data and the next-day drop."""
    base = data_dir / f"orders-{orders}_{as_of}_s{seed}"
    done = base / "complete.json"
    if done.exists():
        log(f"data: {base} (cached)")
        return base
    base.mkdir(parents=True, exist_ok=True)
    d0 = base / "d0"
    if d0.exists():
        shutil.rmtree(d0)
    tmp = base / "_d0_tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"data: generating the demo at {orders:,} orders (as of {as_of}, seed {seed}) -> {d0}")
    m = run_measured([SALESPULSE, "demo", "--scale", str(orders), "--as-of", str(as_of), "--seed", str(seed),
                      "--format", "parquet", "--out", str(tmp)], cwd=base, echo_prefix="    demo| ",
                     echo_filter=lambda s: "writing" in s or "wrote" in s)
    if m.returncode != 0:
        raise SystemExit(f"salespulse demo failed:\n{m.stdout}\n" + "\n".join(x for _, x in m.stderr_lines[-20:]))
    tmp.rename(d0)
    d1 = base / "d1"
    shutil.rmtree(d1, ignore_errors=True)
    shutil.rmtree(base / "_tmp_d1", ignore_errors=True)
    log(f"data: building the next-day drop (D+1 = {as_of + dt.timedelta(days=1)}) -> {d1}")
    n = run_measured([PYTHON, str(BENCH_DIR / "next_day.py"), "--landing", str(d0), "--as-of", str(as_of),
                      "--out", str(d1)])
    if n.returncode != 0:
        raise SystemExit("next_day.py failed:\n" + "\n".join(x for _, x in n.stderr_lines[-20:]))
    write_json(done, {"orders": orders, "as_of": str(as_of), "seed": seed, "demo_seconds": m.wall_s,
                      "d0_rows": parquet_rows(d0), "d1_rows": parquet_rows(d1)})
    return base


def link_drop(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.glob("*.parquet")):
        target = dst / f.name
        try:
            os.link(f, target)
        except OSError:
            shutil.copy2(f, target)


# ============================================================================ refresh runs
def _union_seconds(intervals: list[tuple[float, float]]) -> float:
    total = 0.0
    end = None
    for s, e in sorted(intervals):
        if end is None or s > end:
            total += e - s
            end = e
        elif e > end:
            total += e - end
            end = e
    return total


def _ts(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def dbt_layers(run_results: Path) -> dict:
    """Per-layer wall time (union of node intervals) and the slowest nodes of a dbt build."""
    data = json.loads(run_results.read_text())
    layers: dict[str, list[tuple[float, float]]] = {"staging": [], "marts": [], "tests": [], "all": []}
    nodes = []
    for r in data["results"]:
        uid = r["unique_id"]
        ex = [t for t in r.get("timing", []) if t.get("started_at") and t.get("completed_at")]
        if not ex:
            continue
        iv = (min(_ts(t["started_at"]) for t in ex), max(_ts(t["completed_at"]) for t in ex))
        if uid.startswith("model.") and uid.split(".")[-1].startswith(("stg_", "base_")):
            layer = "staging"
        elif uid.startswith("model."):
            layer = "marts"
        elif uid.startswith(("test.", "unit_test.")):
            layer = "tests"
        else:
            continue
        layers[layer].append(iv)
        layers["all"].append(iv)
        nodes.append((iv[1] - iv[0], uid))
    nodes.sort(reverse=True)
    return {
        "staging_s": _union_seconds(layers["staging"]),
        "marts_s": _union_seconds(layers["marts"]),
        "tests_s": _union_seconds(layers["tests"]),
        "nodes_wall_s": _union_seconds(layers["all"]),
        "models_sum_s": sum(d for d, u in nodes if u.startswith("model.")),
        "tests_sum_s": sum(d for d, u in nodes if not u.startswith("model.")),
        "node_count": len(nodes),
        "model_count": sum(1 for _, u in nodes if u.startswith("model.")),
        "elapsed_s": data.get("elapsed_time"),
        "slowest": [{"node": u, "seconds": round(d, 3)} for d, u in nodes[:12]],
        "model_seconds": {u: round(d, 3) for d, u in nodes if u.startswith("model.")},
        "path": str(run_results),
        **_dbt_log_times(run_results.parent / "dbt.log"),
    }


def _dbt_log_times(path: Path) -> dict:
    """From dbt's JSON log beside run_results.json: dbt start -> project parsed -> first node."""
    if not path.exists():
        return {}
    marks: dict[str, float] = {}
    try:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.startswith("{"):
                    continue
                try:
                    info = json.loads(line)["info"]
                except (ValueError, KeyError):
                    continue
                name = info.get("name")
                if name == "MainReportVersion":
                    marks = {"start": _ts(info["ts"])}  # the last invocation in the file
                elif name in ("UnableToPartialParse", "FoundStats", "ConcurrencyLine") and "start" in marks:
                    marks.setdefault(name, _ts(info["ts"]))
                    if name == "UnableToPartialParse":
                        marks["full_parse"] = 1.0
    except OSError:
        return {}
    out: dict = {}
    if "start" in marks and "FoundStats" in marks:
        out["dbt_start_to_parsed_s"] = marks["FoundStats"] - marks["start"]
        out["dbt_full_parse"] = bool(marks.get("full_parse"))
    if "start" in marks and "ConcurrencyLine" in marks:
        out["dbt_start_to_first_node_s"] = marks["ConcurrencyLine"] - marks["start"]
    return out


def _vars_match(run_results: dict, as_of) -> bool:
    """The run_results' --vars agree with the as-of date: the orchestrator passes it as the
    environment variable SALESPULSE_DBT_AS_OF (no as_of in --vars); older builds passed it in --vars."""
    given = (run_results.get("args", {}).get("vars") or {}).get("as_of")
    return given is None or given == str(as_of)


def _find_run_results(as_of: dt.date, start: float, end: float) -> Path | None:
    """Fallback when the refresh wrote no last_refresh.json: dbt's run_results.json of that build."""
    best = None
    for p in glob.glob(str(REPO_ROOT / "dbt_project" / "target" / "**" / "run_results.json"), recursive=True):
        path = Path(p)
        mtime = path.stat().st_mtime
        if not (start <= mtime <= end + 5):
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not _vars_match(data, as_of):
            continue
        if data.get("args", {}).get("which") not in (None, "build"):
            continue
        best = path if best is None or mtime > best.stat().st_mtime else best
    return best


STEP_STAGES = {  # dagster step key -> harness stage
    "landing": "landing",
    "raw_tables": "load",
    "dbt_models": "dbt",
    "kpi_clv_predicted": "clv",
    "reporting": "publish",
    "semantic_snapshot": "post_publish",
    "dashboard": "post_publish",
}


def _stage_of_step(key: str) -> str:
    if key in STEP_STAGES:
        return STEP_STAGES[key]
    k = key.lower()
    if any(w in k for w in ("quality", "expect", "gx", "check")) or k.endswith("_valid"):
        return "gx_checks"
    return "other:" + key


def stages_from_progress(lines: list[tuple[float, str]], wall: float) -> dict[str, float]:
    """Stage times from the CLI's progress lines (arrival times), when there is no last_refresh.json."""
    marks: dict[str, float] = {}
    for t, line in lines:
        m = PROGRESS_RE.match(line)
        if not m:
            continue
        msg = m.group(2)

        def first(name: str, t: float = t) -> None:
            marks.setdefault(name, t)

        if msg.startswith("load:"):
            first("load")
        elif msg.startswith("dbt: build"):
            first("dbt")
        elif msg.startswith("dbt:") and "models built" in msg:
            marks["dbt_end"] = t
        elif msg.startswith("quality:"):
            marks["gx_end"] = t
        elif msg.startswith("publish:") and "KPI marts" in msg:
            first("publish")
        elif msg.startswith("publish: done"):
            marks["publish_end"] = t
    out: dict[str, float] = {}
    if "load" in marks:
        out["startup"] = marks["load"]
    if "load" in marks and "dbt" in marks:
        out["load"] = marks["dbt"] - marks["load"]
    if "dbt" in marks and "dbt_end" in marks:
        out["dbt"] = marks["dbt_end"] - marks["dbt"]
    if "dbt_end" in marks and "gx_end" in marks:
        out["clv+gx_checks"] = marks["gx_end"] - marks["dbt_end"]
    if "publish" in marks and "publish_end" in marks:
        out["publish"] = marks["publish_end"] - marks["publish"]
    if "publish_end" in marks:
        out["post_publish"] = wall - marks["publish_end"]
    return out


def peak_rss_by_step(lines: list[tuple[float, str]], samples: list[tuple[float, int]]) -> dict[str, int]:
    """Peak process-tree RSS while each step of the refresh ran: a sample belongs to the step of the
    last progress line before it (the line's prefix: ``load``, ``dbt``, ``clv``, ``quality``,
    ``publish``...); samples before the first progress line count as ``startup``."""
    marks = []
    for t, line in lines:
        m = PROGRESS_RE.match(line)
        if m and ":" in m.group(2):
            marks.append((t, m.group(2).split(":", 1)[0].strip()))
    out: dict[str, int] = {}
    i, step = 0, "startup"
    for t, rss in samples:
        while i < len(marks) and marks[i][0] <= t:
            step = marks[i][1]
            i += 1
        out[step] = max(out.get(step, 0), rss)
    return out


def quantile_method_of(build_db: Path) -> str | None:
    """How the refresh of ``build_db`` computed kpi_sales_cycle's quantiles (dbt_project/macros/quantiles.sql),
    read from the compiled SQL in its dbt target folder (salespulse.project.run_target_dir)."""
    import hashlib

    digest = hashlib.sha1(str(build_db.resolve()).encode()).hexdigest()[:12]
    # kpi_sales_cycle's quantiles come from int_cycle_stats_<grain>_<slice> (macros/sales_cycle.sql),
    # which all choose the same way: one of them tells
    sql = (REPO_ROOT / "dbt_project" / "target" / "runs" / digest / "compiled" / "salespulse" / "models"
           / "intermediate" / "sales_cycle" / "int_cycle_stats_month_rep.sql")
    if not sql.exists():
        return None
    text = sql.read_text()
    return "aggregate" if "quantile_cont(" in text else "rank" if "row_number()" in text else None


def quarantined_rows(build_db: Path) -> int | None:
    import duckdb

    try:
        con = duckdb.connect(str(build_db), read_only=True)
    except duckdb.Error:
        return None
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'quarantine'").fetchall()]
        return sum(con.execute(f'select count(*) from quarantine."{t}"').fetchone()[0] for t in tables)
    finally:
        con.close()


def refresh(workdir: Path, landing: Path, as_of: dt.date, label: str) -> dict:
    wh = workdir / "warehouse"
    build, reporting = wh / "build.duckdb", wh / "reporting.duckdb"
    last = wh / "logs" / "last_refresh.json"
    if last.exists():
        last.unlink()
    cmd = [SALESPULSE, "refresh", "--as-of", str(as_of), "--landing", str(landing), "--build-db", str(build),
           "--reporting-db", str(reporting)]
    log(f"{label}: salespulse refresh --as-of {as_of}")
    t_start = time.time()
    m = run_measured(cmd, cwd=workdir, echo_prefix=f"    {label}| ",
                     echo_filter=lambda s: any(w in s for w in ("load:", "dbt: build", "models built", "FAILED",
                                                                 "quarantine", "publish: done", "error")))
    t_end = time.time()
    out: dict = {"wall_s": m.wall_s, "peak_rss_bytes": m.peak_rss_bytes, "peak_procs": m.peak_procs,
                 "returncode": m.returncode, "as_of": str(as_of)}
    if m.returncode != 0:
        tail = "\n".join(x for _, x in m.stderr_lines[-30:])
        log(f"{label}: FAILED (rc {m.returncode})\n{tail}")
        out["error_tail"] = tail
        return out
    for line in m.stdout.splitlines():
        if "raw rows loaded" in line:
            out["rows_loaded"] = int(line.split(":", 1)[1].split("raw rows")[0].strip().replace(",", ""))
    out["quarantine_warnings"] = sum(1 for _, x in m.stderr_lines if "quarantined" in x)
    out["quarantined_rows_total"] = quarantined_rows(build)
    out.update(warehouse_sizes(build, reporting))
    out["stages_progress"] = stages_from_progress(m.stderr_lines, m.wall_s)
    out["peak_rss_by_step"] = peak_rss_by_step(m.stderr_lines, m.rss_samples)
    # the CLI's progress lines as they arrived (seconds since start): where a stage spent its time
    out["progress_lines"] = [[round(t, 2), x] for t, x in m.stderr_lines if PROGRESS_RE.match(x)]
    log(f"{label}: peak RSS by step: "
        + ", ".join(f"{k} {v / GIB:.2f} GiB" for k, v in out["peak_rss_by_step"].items()))
    for _, x in m.stderr_lines:  # e.g. "dbt: build (as of D; full refresh: <why>) on ..." (how dbt ran)
        if "dbt: build (" in x:
            out["dbt_build_line"] = x.split("dbt: build", 1)[1].split(" on ", 1)[0].strip()
            if " with " in x:  # "... with 1 thread(s) (<why>)"
                out["dbt_threads_line"] = x.rsplit(" with ", 1)[1].strip()
            break
    out["quantile_method"] = quantile_method_of(build)
    rr: Path | None = None
    if last.exists():
        info = json.loads(last.read_text())
        out["last_refresh"] = info
        stages: dict[str, float] = {}
        for key, step in (info.get("steps") or {}).items():
            st = _stage_of_step(key)
            stages[st] = stages.get(st, 0.0) + float(step.get("seconds") or 0.0)
        stages["outside_steps"] = m.wall_s - sum(stages.values())
        out["stages"] = stages
        out["stage_source"] = "last_refresh.json"
        if info.get("dbt_run_results"):
            rr = Path(info["dbt_run_results"])
            try:  # dagster-dbt may reuse a target dir: make sure the file is this build's
                rdata = json.loads(rr.read_text())
                gen = _ts(rdata["metadata"]["generated_at"])
                if not _vars_match(rdata, as_of) or not (t_start <= gen <= t_end + 5):
                    out["run_results_note"] = f"{rr} is not this build's (as_of/generated_at differ)"
                    rr = None
            except (OSError, ValueError, KeyError):
                rr = None
    else:
        out["stages"] = dict(out["stages_progress"])
        out["stage_source"] = "progress lines"
    if rr is None or not rr.exists():
        rr = _find_run_results(as_of, t_start, t_end)
    if rr is not None and rr.exists():
        layers = dbt_layers(rr)
        out["dbt_layers"] = layers
    # checks: dbt tests wall + GX mart checks (+ the raw contract checks when reported apart)
    st = out["stages"]
    gx = st.get("gx_checks")
    checks = None
    if "dbt_layers" in out and gx is not None:
        checks = out["dbt_layers"]["tests_s"] + gx + float(st.get("raw_checks", 0.0))
    elif "dbt_layers" in out and "clv+gx_checks" in st:
        checks = out["dbt_layers"]["tests_s"] + st["clv+gx_checks"]  # CLV fit (< 1 s) included
    out["checks_s"] = checks
    s = out["stages"]
    log(f"{label}: {m.wall_s:.1f}s wall, peak RSS {m.peak_rss_bytes / GIB:.2f} GiB, "
        + ", ".join(f"{k} {v:.1f}s" for k, v in s.items() if isinstance(v, (int, float))))
    return out


# ============================================================================ references
def run_floor(manifest: Path, landing: Path, workdir: Path, label: str) -> dict:
    db = workdir / "floor" / "build.duckdb"
    shutil.rmtree(db.parent, ignore_errors=True)
    log(f"{label}: floor (plain DuckDB SQL, one connection)")
    m = run_measured([PYTHON, str(BENCH_DIR / "floor.py"), "run", "--manifest", str(manifest), "--landing",
                      str(landing), "--db", str(db), "--tests"], cwd=workdir)
    if m.returncode != 0:
        tail = "\n".join(x for _, x in m.stderr_lines[-20:])
        log(f"{label}: floor FAILED\n{tail}")
        return {"returncode": m.returncode, "error_tail": tail}
    res = json.loads(m.stdout)
    res.update(process_wall_s=m.wall_s, peak_rss_bytes=m.peak_rss_bytes, returncode=0)
    shutil.rmtree(db.parent, ignore_errors=True)
    log(f"{label}: floor load {res['load_s']:.1f}s + transform {res['transform_s']:.1f}s = {res['total_s']:.1f}s "
        f"(+ tests {res.get('tests_s', 0):.1f}s), peak RSS {m.peak_rss_bytes / GIB:.2f} GiB")
    return res


def run_pandas(landing: Path, as_of: dt.date, workdir: Path, label: str, check_db: Path | None = None) -> dict:
    cmd = [PYTHON, str(BENCH_DIR / "pandas_ref.py"), "--landing", str(landing), "--as-of", str(as_of)]
    if check_db is not None:
        cmd += ["--check", str(check_db)]
    log(f"{label}: pandas reference" + (" (check against the marts)" if check_db else ""))
    m = run_measured(cmd, cwd=workdir)
    if m.returncode != 0:
        tail = "\n".join(x for _, x in m.stderr_lines[-20:])
        log(f"{label}: pandas FAILED\n{tail}")
        return {"returncode": m.returncode, "error_tail": tail}
    res = json.loads(m.stdout)
    res.update(wall_s=m.wall_s, peak_rss_bytes=m.peak_rss_bytes, returncode=0)
    if check_db is None:
        log(f"{label}: pandas {m.wall_s:.1f}s wall (compute {res['total_s']:.1f}s), "
            f"peak RSS {m.peak_rss_bytes / GIB:.2f} GiB")
    return res


def startup(workdir: Path, label: str) -> dict:
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    log(f"{label}: `salespulse refresh` on the tiny demo in an empty folder")
    m = run_measured([SALESPULSE, "refresh"], cwd=workdir)
    res = {"wall_s": m.wall_s, "peak_rss_bytes": m.peak_rss_bytes, "returncode": m.returncode}
    last = workdir / "warehouse" / "logs" / "last_refresh.json"
    if last.exists():
        steps = json.loads(last.read_text()).get("steps") or {}
        res["steps"] = {k: v.get("seconds") for k, v in steps.items()}
        res["outside_steps_s"] = m.wall_s - sum(v or 0 for v in res["steps"].values())
    if m.returncode != 0:
        res["error_tail"] = "\n".join(x for _, x in m.stderr_lines[-15:])
        log(f"{label}: FAILED\n{res['error_tail']}")
    log(f"{label}: {m.wall_s:.1f}s (rc {m.returncode})")
    shutil.rmtree(workdir, ignore_errors=True)
    return res


# ============================================================================ machine
def machine_info() -> dict:
    from importlib import metadata

    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("duckdb", "dbt-core", "dbt-duckdb", "dagster", "dagster-dbt", "great_expectations", "pandas",
                "pyarrow"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    load = os.getloadavg()
    return {"cores": os.cpu_count(), "cores_usable": affinity, "memory_bytes": mem, "cpu_model": cpu,
            "python": platform.python_version(), "platform": platform.platform(), "versions": versions,
            "loadavg_at_start": load}


def git_head() -> str | None:
    """Short HEAD commit, with '+N modified' when the working tree has uncommitted changes."""
    import subprocess

    try:
        head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.splitlines()
    except OSError:
        return None
    return f"{head} + {len(dirty)} modified file(s)" if dirty else head


# ============================================================================ main loop
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", default="100000", help="comma-separated scales in orders (default 100000)")
    p.add_argument("--runs", type=int, default=3, help="runs per scale; figures are medians (default 3)")
    p.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date.fromisoformat(DEFAULT_AS_OF),
                   help=f"last day D of the demo data (default {DEFAULT_AS_OF}); the incremental is D+1")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--data-dir", type=Path, default=BENCH_DIR / ".data", help="cache of generated data")
    p.add_argument("--work-dir", type=Path, default=BENCH_DIR / ".work", help="scratch warehouses")
    p.add_argument("--skip-pandas", action="store_true")
    p.add_argument("--skip-floor", action="store_true")
    p.add_argument("--skip-startup", action="store_true", help="skip the tiny-demo startup measurement")
    p.add_argument("--skip-check", action="store_true", help="skip comparing pandas with the marts")
    p.add_argument("--only", choices=["full", "incremental"], help="only the full or the incremental refresh "
                   "(incremental still needs a full refresh first, which is then not recorded)")
    p.add_argument("--keep", action="store_true", help="keep the last run's warehouse of each scale")
    p.add_argument("--results", type=Path, help="results JSON (default bench/results/<timestamp>.json)")
    p.add_argument("--doc", type=Path, default=DOC, help="markdown to render (default docs/benchmarks.md)")
    p.add_argument("--render", type=Path, nargs="+", metavar="RESULTS_JSON",
                   help="only re-render the markdown from a results file; more files are merged into the first "
                        "(their scales and startup runs; write the merged file with --results)")
    p.add_argument("--note", default="", help="a note printed in the report (e.g. 'shared machine')")
    p.add_argument("--observations", type=Path, help="a markdown file appended to the report (analysis by hand)")
    args = p.parse_args(argv)

    if args.render:
        data = json.loads(args.render[0].read_text())
        source = args.render[0]
        for extra in args.render[1:]:
            more = json.loads(extra.read_text())
            data["scales"].update(more.get("scales", {}))
            data["startup"] = data.get("startup", []) + more.get("startup", [])
            data["meta"].setdefault("merged_from", []).append(str(extra))
            data["meta"]["finished_at"] = max(data["meta"].get("finished_at", ""), more["meta"].get("finished_at", ""))
            data["meta"]["loadavg_at_end"] = more["meta"].get("loadavg_at_end")
        if args.note:
            data["meta"]["note"] = args.note
        if len(args.render) > 1:
            data["meta"].setdefault("merged_from", []).insert(0, str(args.render[0]))
            if args.results:
                write_json(args.results, data)
                source = args.results
        render(data, args.doc, source, args.observations)
        log(f"rendered {args.doc} from {', '.join(map(str, args.render))}")
        return 0

    scales = [int(x.replace("_", "")) for x in args.orders.split(",") if x.strip()]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    results_path = args.results or BENCH_DIR / "results" / f"{stamp}.json"
    data: dict = {
        "meta": {"started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "git_head": git_head(),
                 "args": {k: str(v) for k, v in vars(args).items()}, "as_of": str(args.as_of), "runs": args.runs,
                 "note": args.note, **machine_info()},
        "startup": [], "scales": {},
    }

    def save() -> None:
        data["meta"]["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        data["meta"]["loadavg_at_end"] = os.getloadavg()
        write_json(results_path, data)

    args.work_dir.mkdir(parents=True, exist_ok=True)
    manifests: dict[str, Path] = {}

    def floor_manifest(method: str) -> Path:
        """The floor's compiled SQL, with kpi_sales_cycle's quantiles computed the way the refresh did."""
        if method not in manifests:
            log(f"floor: dbt compile with the refresh's vars (quantile_method {method}; once)")
            cdir = args.work_dir / f"compile-{method}"
            shutil.rmtree(cdir, ignore_errors=True)
            import subprocess

            res = subprocess.run([PYTHON, str(BENCH_DIR / "floor.py"), "compile", "--as-of", str(args.as_of),
                                  "--out", str(cdir), "--quantile-method", method], capture_output=True, text=True)
            if res.returncode != 0:
                raise SystemExit(f"floor compile failed:\n{res.stdout}\n{res.stderr}")
            manifests[method] = Path(res.stdout.strip().splitlines()[-1])
        return manifests[method]

    d1_day = args.as_of + dt.timedelta(days=1)
    for n_orders in scales:
        base = ensure_data(args.data_dir, n_orders, args.as_of, args.seed)
        info = json.loads((base / "complete.json").read_text())
        scale = data["scales"].setdefault(str(n_orders), {
            "orders": n_orders, "raw_rows": sum(info["d0_rows"].values()), "raw_rows_by_table": info["d0_rows"],
            "next_day_rows": sum(info["d1_rows"].values()), "next_day_rows_by_table": info["d1_rows"],
            "landing_bytes": sum(f.stat().st_size for f in (base / "d0").glob("*.parquet")), "runs": [],
        })
        for i in range(1, args.runs + 1):
            label = f"{n_orders:,} orders run {i}/{args.runs}"
            wd = args.work_dir / f"orders-{n_orders}" / f"run-{i}"
            shutil.rmtree(wd, ignore_errors=True)
            landing = wd / "landing"
            link_drop(base / "d0", landing / "d0")
            run: dict = {}
            scale["runs"].append(run)  # saved after every step: an interrupted run keeps what it measured
            full = refresh(wd, landing, args.as_of, f"{label} full")
            if args.only != "incremental":
                run["full"] = full
            save()
            if i == 1 and not args.skip_check and full.get("returncode") == 0 and not args.skip_pandas:
                # against the marts of the full refresh (as of D), before the incremental changes them
                chk = run_pandas(base / "d0", args.as_of, wd, f"{label} check",
                                 check_db=wd / "warehouse" / "reporting.duckdb")
                scale["pandas_check"] = chk.get("check")
                log(f"{label}: pandas vs marts: " + ", ".join(
                    f"{k} {'MATCH' if v['match'] else 'DIFFER'}" for k, v in (chk.get("check") or {}).items()))
            if full.get("returncode") == 0 and args.only != "full":
                link_drop(base / "d1", landing / "d1")
                run["incremental"] = refresh(wd, landing, d1_day, f"{label} incremental")
                save()
            if not args.skip_floor and args.only != "incremental":
                method = full.get("quantile_method") or "rank"
                run["floor"] = run_floor(floor_manifest(method), base / "d0", wd, label)
                run["floor"]["quantile_method"] = method
                save()
            if not args.skip_pandas and args.only != "incremental":
                run["pandas"] = run_pandas(base / "d0", args.as_of, wd, label)
            save()
            if not (args.keep and i == args.runs):
                shutil.rmtree(wd, ignore_errors=True)
        save()

    if not args.skip_startup:
        for i in range(1, args.runs + 1):
            data["startup"].append(startup(args.work_dir / "startup", f"startup run {i}/{args.runs}"))
            save()
    save()
    render(data, args.doc, results_path, args.observations)
    log(f"results: {results_path}; report: {args.doc}")
    return 0


# ============================================================================ report
def med(values):
    vals = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(vals) if vals else None


def _get(run: dict, *path):
    cur = run
    for k in path:
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    return cur


def summarize(scale: dict) -> dict:
    runs = [r for r in scale["runs"]]
    ok = lambda kind: [r[kind] for r in runs if kind in r and r[kind].get("returncode") == 0]  # noqa: E731
    full, inc, floor, pandas = ok("full"), ok("incremental"), ok("floor"), ok("pandas")
    s: dict = {"n_full": len(full), "n_inc": len(inc), "n_floor": len(floor), "n_pandas": len(pandas)}
    s["full_wall"] = med(r["wall_s"] for r in full)
    s["full_rss"] = med(r["peak_rss_bytes"] for r in full)
    steps = sorted({k for r in full for k in r.get("peak_rss_by_step", {})})
    s["full_rss_by_step"] = {k: med(r["peak_rss_by_step"][k] for r in full if k in r.get("peak_rss_by_step", {}))
                             for k in steps}
    s["inc_wall"] = med(r["wall_s"] for r in inc)
    s["inc_rss"] = med(r["peak_rss_bytes"] for r in inc)
    stage_keys: list[str] = []
    for r in full + inc:
        for k in r.get("stages", {}):
            if k not in stage_keys:
                stage_keys.append(k)
    s["stage_keys"] = stage_keys
    s["full_stages"] = {k: med(r.get("stages", {}).get(k) for r in full) for k in stage_keys}
    s["inc_stages"] = {k: med(r.get("stages", {}).get(k) for r in inc) for k in stage_keys}
    s["stage_source"] = sorted({r.get("stage_source", "?") for r in full + inc})
    for kind, rs in (("full", full), ("inc", inc)):
        for k in ("staging_s", "marts_s", "tests_s", "nodes_wall_s"):
            s[f"{kind}_dbt_{k}"] = med(_get(r, "dbt_layers", k) for r in rs)
        s[f"{kind}_checks"] = med(r.get("checks_s") for r in rs)
        s[f"{kind}_build_bytes"] = med(r.get("build_db_bytes") for r in rs)
        s[f"{kind}_reporting_bytes"] = med(r.get("reporting_db_bytes") for r in rs)
        s[f"{kind}_quarantined"] = max((r.get("quarantined_rows_total") or 0 for r in rs), default=None)
    for kind, rs in (("full", full), ("inc", inc)):
        s[f"{kind}_dbt_outside_nodes"] = med(
            (r.get("stages", {}).get("dbt") - _get(r, "dbt_layers", "nodes_wall_s"))
            for r in rs if r.get("stages", {}).get("dbt") is not None and _get(r, "dbt_layers", "nodes_wall_s")
        )
    for kind, rs in (("full", full), ("inc", inc)):
        s[f"{kind}_dbt_parse"] = med(_get(r, "dbt_layers", "dbt_start_to_parsed_s") for r in rs)
        s[f"{kind}_dbt_full_parse"] = any(_get(r, "dbt_layers", "dbt_full_parse") for r in rs)
    s["inc_build_lines"] = sorted({r["dbt_build_line"] for r in inc if r.get("dbt_build_line")})
    s["full_rows_per_s"] = scale["raw_rows"] / s["full_wall"] if s["full_wall"] else None
    s["inc_rows_per_s"] = scale["next_day_rows"] / s["inc_wall"] if s["inc_wall"] else None
    s["floor_load"] = med(r["load_s"] for r in floor)
    s["floor_transform"] = med(r["transform_s"] for r in floor)
    s["floor_total"] = med(r["total_s"] for r in floor)
    s["floor_tests"] = med(r.get("tests_s") for r in floor)
    s["floor_process"] = med(r["process_wall_s"] for r in floor)
    s["floor_rss"] = med(r["peak_rss_bytes"] for r in floor)
    s["floor_models"] = med(r.get("models_built") for r in floor)
    s["full_models"] = med(_get(r, "dbt_layers", "model_count") for r in full)
    s["pandas_wall"] = med(r["wall_s"] for r in pandas)
    s["pandas_compute"] = med(r["total_s"] for r in pandas)
    s["pandas_read"] = med(r["read_s"] for r in pandas)
    s["pandas_rss"] = med(r["peak_rss_bytes"] for r in pandas)
    # ratios paired within a run (the parts of one run ran minutes apart, so they share the machine's
    # load better than medians taken separately), then the median over the runs
    def paired(fn):
        vals = []
        for r in runs:
            try:
                v = fn(r)
            except (KeyError, TypeError, ZeroDivisionError):
                continue
            if isinstance(v, (int, float)):
                vals.append(v)
        return statistics.median(vals) if vals else None

    def okr(r, kind):
        x = r.get(kind)
        if not x or x.get("returncode") != 0:
            raise KeyError(kind)
        return x

    s["r_full_floor"] = paired(lambda r: okr(r, "full")["wall_s"] / okr(r, "floor")["total_s"])
    s["r_full_pandas"] = paired(lambda r: okr(r, "full")["wall_s"] / okr(r, "pandas")["wall_s"])
    s["r_rss_pandas"] = paired(lambda r: okr(r, "full")["peak_rss_bytes"] / okr(r, "pandas")["peak_rss_bytes"])
    s["r_inc_full"] = paired(lambda r: okr(r, "incremental")["wall_s"] / okr(r, "full")["wall_s"])
    s["r_checks"] = paired(
        lambda r: okr(r, "full")["checks_s"] / (okr(r, "full")["wall_s"] - okr(r, "full")["checks_s"])
    )
    # slowest dbt nodes (median seconds over the full refreshes)
    per_node: dict[str, list[float]] = {}
    for r in full:
        every = _get(r, "dbt_layers", "model_seconds")
        if every:  # every model's duration in every run
            for node, sec in every.items():
                per_node.setdefault(node, []).append(sec)
            s["slowest_basis"] = "every model, median over the runs"
        else:  # older results: only each run's 12 slowest nodes were kept
            for n in _get(r, "dbt_layers", "slowest") or []:
                per_node.setdefault(n["node"], []).append(n["seconds"])
            s["slowest_basis"] = "median over the runs in which the node was among that run's 12 slowest nodes"
    s["slowest_nodes"] = sorted(((statistics.median(v), k) for k, v in per_node.items()), reverse=True)[:10]
    return s


def _ratio(a, b):
    return a / b if a is not None and b else None


def goals(scale_n: int, s: dict) -> list[tuple[str, str, object, str]]:
    """(goal, measured, value, verdict)."""
    at = "" if scale_n == 10_000_000 else " (goal is set at 10M orders)"
    rows = []

    def add(goal, value, fmt, ok):
        if value is None:
            rows.append((goal + at, "not measured", None, "—"))
        else:
            rows.append((goal + at, fmt(value), value, "MET" if ok(value) else "MISSED"))

    add("full refresh ≤ 1.5 × floor", s["r_full_floor"], lambda v: f"{v:.2f} ×", lambda v: v <= 1.5)
    add("full refresh < 3 min", s["full_wall"], lambda v: f"{v:.1f} s", lambda v: v < 180)
    add("full refresh peak RSS < 4 GB", s["full_rss"], lambda v: f"{v / GIB:.2f} GiB", lambda v: v < 4e9)
    add("incremental ≤ 20 % of full", s["r_inc_full"], lambda v: f"{v:.0%}", lambda v: v <= 0.20)
    add("checks add ≤ 20 % to a full refresh", s["r_checks"], lambda v: f"+{v:.0%}", lambda v: v <= 0.20)
    add("faster than pandas end to end (pipeline / pandas)", s["r_full_pandas"], lambda v: f"{v:.2f} ×",
        lambda v: v < 1)
    add("≤ 1/3 of pandas peak memory (pipeline / pandas)", s["r_rss_pandas"], lambda v: f"{v:.2f} ×",
        lambda v: v <= 1 / 3)
    return rows


def _fmt_s(v):
    return "—" if v is None else (f"{v:.2f} s" if v < 10 else f"{v:.1f} s")


def _fmt_b(v):
    if v is None:
        return "—"
    return f"{v / GIB:.2f} GiB" if v >= GIB else f"{v / 2**20:.0f} MiB"


def _fmt_n(v):
    return "—" if v is None else f"{v:,.0f}"


def render(data: dict, doc: Path, results_path: Path, observations: Path | None = None) -> None:
    meta = data["meta"]
    L: list[str] = []
    L.append("# Benchmarks")
    L.append("")
    L.append("Generated by `bench/run.py` (issue 7): the pipeline as a user feels it (`salespulse refresh` as a "
             "subprocess, wall time and peak RSS of its whole process tree), against the fastest way to do the "
             "same work on the same machine (the *floor*: the same dbt SQL in one DuckDB connection) and what an "
             "analyst would otherwise write (a pandas implementation of the headline KPIs). Every figure is the "
             f"median of the runs counted per scale below ({meta.get('runs')} asked). "
             "How to run it and what each figure means: [`bench/README.md`](../bench/README.md).")
    L.append("")
    if meta.get("note"):
        L.append(f"> **Note:** {meta['note']}")
        L.append("")
    v = meta.get("versions", {})
    L.append("## Machine and versions")
    L.append("")
    L.append(f"- date: {meta.get('started_at')} → {meta.get('finished_at')} (UTC), git `{meta.get('git_head')}`")
    L.append(f"- CPU: {meta.get('cpu_model')}, {meta.get('cores')} cores (usable: {meta.get('cores_usable')}); "
             f"memory {_fmt_b(meta.get('memory_bytes'))}; load average at start "
             f"{', '.join(f'{x:.1f}' for x in meta.get('loadavg_at_start') or [])}, at end "
             f"{', '.join(f'{x:.1f}' for x in meta.get('loadavg_at_end') or [])}")
    L.append(f"- Python {meta.get('python')}; " + ", ".join(f"{k} {val}" for k, val in v.items()))
    shown = results_path.relative_to(REPO_ROOT) if results_path.is_relative_to(REPO_ROOT) else results_path
    seed = meta.get("args", {}).get("seed")
    L.append(f"- demo data ending on {meta.get('as_of')} (seed {seed}), incremental = one more day; "
             f"raw results: `{shown}`")
    L.append("")

    summaries = {int(k): summarize(sc) for k, sc in data["scales"].items()}
    scales = sorted(summaries)
    if scales:
        L.append("## Figures per scale")
        L.append("")
        hdr = "| | " + " | ".join(f"{n:,} orders" for n in scales) + " |"
        L.append(hdr)
        L.append("|---|" + "---|" * len(scales))

        def row(name, fn):
            L.append(f"| {name} | " + " | ".join(fn(n, summaries[n], data['scales'][str(n)]) for n in scales) + " |")

        row("raw rows (landing files)", lambda n, s, sc: _fmt_n(sc["raw_rows"]))
        row("landing parquet size", lambda n, s, sc: _fmt_b(sc.get("landing_bytes")))
        row("runs (full / incremental / floor / pandas)",
            lambda n, s, sc: f"{s['n_full']} / {s['n_inc']} / {s['n_floor']} / {s['n_pandas']}")
        row("**full refresh, wall**", lambda n, s, sc: f"**{_fmt_s(s['full_wall'])}**")
        keys = [k for k in summaries[scales[0]]["stage_keys"]]
        for k in keys:
            row(f"&nbsp;&nbsp;stage {k}", lambda n, s, sc, k=k: _fmt_s(s["full_stages"].get(k)))
        row("&nbsp;&nbsp;dbt staging models (wall)", lambda n, s, sc: _fmt_s(s["full_dbt_staging_s"]))
        row("&nbsp;&nbsp;dbt intermediate + marts models (wall)", lambda n, s, sc: _fmt_s(s["full_dbt_marts_s"]))
        row("&nbsp;&nbsp;dbt tests + unit tests (wall)", lambda n, s, sc: _fmt_s(s["full_dbt_tests_s"]))
        row("&nbsp;&nbsp;dbt all nodes (wall of the union)", lambda n, s, sc: _fmt_s(s["full_dbt_nodes_wall_s"]))
        row("&nbsp;&nbsp;dbt stage outside any node (dbt start, parse, Dagster events)",
            lambda n, s, sc: _fmt_s(s["full_dbt_outside_nodes"]))
        row("&nbsp;&nbsp;of which dbt start + project parse (dbt.log)",
            lambda n, s, sc: _fmt_s(s["full_dbt_parse"]) + (" (full parse)" if s["full_dbt_full_parse"] else ""))
        row("&nbsp;&nbsp;checks total (dbt tests + GX)", lambda n, s, sc: _fmt_s(s["full_checks"]))
        row("full refresh, peak RSS (process tree)", lambda n, s, sc: _fmt_b(s["full_rss"]))
        row("&nbsp;&nbsp;peak RSS while each step ran (progress-line prefix)",
            lambda n, s, sc: ", ".join(f"{k} {_fmt_b(v)}" for k, v in s["full_rss_by_step"].items()) or "—")
        row("full refresh, raw rows / s", lambda n, s, sc: _fmt_n(s["full_rows_per_s"]))
        row("build.duckdb (+ .wal) after full", lambda n, s, sc: _fmt_b(s["full_build_bytes"]))
        row("reporting.duckdb after full", lambda n, s, sc: _fmt_b(s["full_reporting_bytes"]))
        row("**incremental refresh (+1 day), wall**", lambda n, s, sc: f"**{_fmt_s(s['inc_wall'])}**")
        row("&nbsp;&nbsp;next-day rows", lambda n, s, sc: _fmt_n(sc.get("next_day_rows")))
        for k in keys:
            row(f"&nbsp;&nbsp;stage {k}", lambda n, s, sc, k=k: _fmt_s(s["inc_stages"].get(k)))
        row("&nbsp;&nbsp;dbt staging / marts / tests (wall)",
            lambda n, s, sc: f"{_fmt_s(s['inc_dbt_staging_s'])} / {_fmt_s(s['inc_dbt_marts_s'])} / "
                             f"{_fmt_s(s['inc_dbt_tests_s'])}")
        row("incremental, peak RSS", lambda n, s, sc: _fmt_b(s["inc_rss"]))
        row("incremental, how dbt ran (CLI line)", lambda n, s, sc: "; ".join(s["inc_build_lines"]) or "—")
        row("build.duckdb after incremental", lambda n, s, sc: _fmt_b(s["inc_build_bytes"]))
        row("quarantined rows (full / incremental)",
            lambda n, s, sc: f"{_fmt_n(s['full_quarantined'])} / {_fmt_n(s['inc_quarantined'])}")
        row("**floor** (load + transforms)", lambda n, s, sc: f"**{_fmt_s(s['floor_total'])}**")
        row("&nbsp;&nbsp;floor load / transforms",
            lambda n, s, sc: f"{_fmt_s(s['floor_load'])} / {_fmt_s(s['floor_transform'])}")
        row("&nbsp;&nbsp;floor dbt tests' SQL (not in the floor)", lambda n, s, sc: _fmt_s(s["floor_tests"]))
        row("&nbsp;&nbsp;floor process (with Python start, tests)", lambda n, s, sc: _fmt_s(s["floor_process"]))
        row("&nbsp;&nbsp;floor peak RSS", lambda n, s, sc: _fmt_b(s["floor_rss"]))
        row("&nbsp;&nbsp;models: floor / dbt build of the full refresh",
            lambda n, s, sc: f"{_fmt_n(s['floor_models'])} / {_fmt_n(s['full_models'])}")
        row("**pandas reference, wall** (files read included)", lambda n, s, sc: f"**{_fmt_s(s['pandas_wall'])}**")
        row("&nbsp;&nbsp;pandas reading parquet", lambda n, s, sc: _fmt_s(s["pandas_read"]))
        row("&nbsp;&nbsp;pandas peak RSS", lambda n, s, sc: _fmt_b(s["pandas_rss"]))
        row("pipeline / floor", lambda n, s, sc: _fmt_ratio(s["r_full_floor"]))
        row("pipeline / pandas (time)", lambda n, s, sc: _fmt_ratio(s["r_full_pandas"]))
        row("pipeline / pandas (peak RSS)", lambda n, s, sc: _fmt_ratio(s["r_rss_pandas"]))
        row("incremental / full", lambda n, s, sc: _fmt_ratio(s["r_inc_full"]))
        row("checks / (full − checks)", lambda n, s, sc: _fmt_ratio(s["r_checks"]))
        L.append("")
        L.append("Stages come from " + ", ".join(sorted({x for n in scales for x in summaries[n]['stage_source']}))
                 + ". Each figure is a median on its own (stage medians need not add up to the wall median). "
                 "Ratios (last rows, and the goals) are computed within each run, then the median is taken. "
                 "dbt layer times are the wall time of the union of the nodes' intervals in dbt's "
                 "run_results.json (2 dbt threads overlap nodes, so layers can overlap and need not add up).")
        L.append("")
        L.append("## Goals (issue 7; 2 cores, 24 GB)")
        L.append("")
        L.append("| scale | goal | measured | verdict |")
        L.append("|---|---|---|---|")
        for n in scales:
            for goal, measured, _v, verdict in goals(n, summaries[n]):
                L.append(f"| {n:,} | {goal} | {measured} | {verdict} |")
    st = [r for r in data.get("startup", []) if r.get("returncode") == 0]
    m = med(r["wall_s"] for r in st)
    verdict = "—" if m is None else ("MET" if m < 30 else "MISSED")
    if not scales:
        L.append("## Goals (issue 7; 2 cores, 24 GB)")
        L.append("")
        L.append("| scale | goal | measured | verdict |")
        L.append("|---|---|---|---|")
    if st and any("steps" in r for r in st):
        keys = [k for k in st[-1].get("steps", {})]
        parts = ", ".join(f"{k} {_fmt_s(med(r.get('steps', {}).get(k) for r in st))}" for k in keys)
        parts += f", outside the steps {_fmt_s(med(r.get('outside_steps_s') for r in st))}"
        startup_note = f" — median per step: {parts}"
    else:
        startup_note = ""
    L.append(f"| tiny demo | `salespulse refresh` end to end < 30 s{startup_note} | "
             f"{_fmt_s(m) if m is not None else 'not measured'} ({len(st)} run(s)) | {verdict} |")
    L.append("")

    for n in scales:
        chk = data["scales"][str(n)].get("pandas_check")
        if chk:
            L.append(f"### pandas reference vs the marts at {n:,} orders")
            L.append("")
            L.append("| KPI | rows compared | only in pandas | only in mart | mismatched values | max rel. diff | |")
            L.append("|---|---|---|---|---|---|---|")
            for k, c in chk.items():
                verdict = "MATCH" if c["match"] else "DIFFER"
                L.append(f"| {k} | {c['rows_compared']} | {c['only_in_pandas']} | {c['only_in_mart']} | "
                         f"{c['mismatched_values']} | {c['max_rel_diff']:.1e} | {verdict} |")
            L.append("")
    for n in scales:
        sl = summaries[n]["slowest_nodes"]
        if sl:
            L.append(f"### Slowest dbt nodes of the full refresh at {n:,} orders (median seconds)")
            L.append("")
            L.append(f"Basis: {summaries[n].get('slowest_basis')}; compile + execute time of the node, "
                     "so a node waiting for the machine looks slow too.")
            L.append("")
            L.append("| node | seconds |")
            L.append("|---|---|")
            for sec, node in sl:
                L.append(f"| `{node}` | {sec:.2f} |")
            L.append("")
    if observations is not None and observations.exists():
        L.append(observations.read_text(encoding="utf-8").rstrip())
        L.append("")
    L.append("## How to run")
    L.append("")
    L.append("```bash")
    L.append("python bench/run.py --orders 100000,1000000,10000000 --runs 3   # hours at 10M; see bench/README.md")
    L.append("python bench/run.py --render bench/results/<timestamp>.json       # re-render this page")
    L.append("```")
    L.append("")
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("\n".join(L) + "\n", encoding="utf-8")


def _fmt_ratio(v):
    return "—" if v is None else f"{v:.2f}"


if __name__ == "__main__":
    sys.exit(main())
