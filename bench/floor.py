"""The floor: the pipeline's transformations as plain DuckDB SQL in ONE connection, no orchestration.

    python bench/floor.py compile --as-of D --out DIR          # dbt compile once -> DIR/manifest.json
    python bench/floor.py run --manifest DIR/manifest.json --landing L --db DIR2/build.duckdb [--tests]

``compile`` runs ``dbt compile`` with the same ``--vars`` a refresh for as-of D passes
(``Settings.dbt_vars()``) against a scratch warehouse holding only the (empty) raw schema, and keeps
the manifest. ``run`` (the timed part) opens a fresh DuckDB file named ``build.duckdb`` (so the
catalog name matches the fully qualified relation names of the compiled SQL), loads every landing
parquet file into ``raw.<table>`` with the contract columns and the loader's metadata columns
(one INSERT ... SELECT per file: no checks, no quarantine), then executes every dbt model's
compiled SQL in dependency order as ``create or replace table``. With ``--tests`` it then runs
every dbt data test's compiled SQL (``select count(*) from (<test>)``); unit tests are skipped.
Not included: the Python CLV model (kpi_clv_predicted), the Great Expectations checks, publishing,
the semantic snapshot and the dashboard.

Prints a JSON document on stdout: load / transform / tests seconds, per-model seconds, row counts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
DBT_DIR = REPO / "dbt_project"


def compile_manifest(as_of: dt.date, out: Path, quantile_method: str = "rank") -> Path:
    """``dbt compile`` with the refresh's vars; returns the manifest path.

    ``quantile_method``: how kpi_sales_cycle computes its quantiles (dbt_project/macros/quantiles.sql).
    A refresh chooses at run time from the data; compiled against an empty warehouse, the choice must
    be given: the harness passes the one the refresh of the same data made."""
    sys.path.insert(0, str(REPO / "orchestration"))
    from salespulse.contract import METADATA_COLUMNS, TABLES
    from salespulse.settings import Settings

    out.mkdir(parents=True, exist_ok=True)
    scratch = out / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    db = scratch / "build.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create schema raw")
    for t in TABLES.values():
        cols = [f'"{c}" {typ}' for c, typ in {**t.columns, **METADATA_COLUMNS}.items()]
        con.execute(f'create table raw."{t.name}" ({", ".join(cols)})')
    con.close()
    cwd = os.getcwd()
    os.chdir(out)  # no salespulse.yaml here: defaults + SALESPULSE_* environment, like a refresh
    try:
        dbt_vars = Settings(as_of=as_of).dbt_vars()
    finally:
        os.chdir(cwd)
    target = out / "target"
    env = dict(os.environ, SALESPULSE_BUILD_DB=str(db), SALESPULSE_DBT_THREADS="2",
               DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    dbt = Path(sys.executable).parent / "dbt"
    cmd = [str(dbt), "compile", "--vars", json.dumps({**dbt_vars, "quantile_method": quantile_method}),
           "--project-dir", str(DBT_DIR),
           "--profiles-dir", str(DBT_DIR), "--target-path", str(target), "--log-path", str(out / "logs"),
           "--no-partial-parse", "--quiet"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"dbt compile failed:\n{res.stdout}\n{res.stderr}")
    manifest = target / "manifest.json"
    (out / "dbt_vars.json").write_text(json.dumps(dbt_vars, indent=2))
    return manifest


def _topo(nodes: dict[str, dict]) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(uid: str) -> None:
        if state.get(uid) == 2:
            return
        if state.get(uid) == 1:
            raise SystemExit(f"dependency cycle at {uid}")
        state[uid] = 1
        for dep in nodes[uid]["depends_on"]["nodes"]:
            if dep in nodes:
                visit(dep)
        state[uid] = 2
        order.append(uid)

    for uid in sorted(nodes):
        visit(uid)
    return order


def run_floor(manifest_path: Path, landing: Path, db: Path, tests: bool = False) -> dict:
    sys.path.insert(0, str(REPO / "orchestration"))
    from salespulse.contract import METADATA_COLUMNS, TABLES

    manifest = json.loads(manifest_path.read_text())
    models = {u: n for u, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    # incremental models were compiled against an empty warehouse (is_incremental() false): their
    # compiled SQL is the full build, run as a table; ephemeral models are inlined by dbt (CTEs).
    for u, n in models.items():
        mat = n["config"].get("materialized")
        if mat not in ("table", "view", "incremental", "ephemeral"):
            raise SystemExit(f"{u}: materialization {mat} not supported by the floor")
    order = [u for u in _topo(models) if models[u]["config"].get("materialized") != "ephemeral"]

    if db.exists():
        db.unlink()
    db.parent.mkdir(parents=True, exist_ok=True)
    result: dict = {"models": {}, "raw_rows": {}}
    t0 = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute("create schema raw")
    files = sorted(p for p in landing.rglob("*.parquet") if not p.name.startswith((".", "_")))
    loaded_at = dt.datetime.now(dt.UTC).isoformat()
    for t in TABLES.values():
        cols = [f'"{c}" {typ}' for c, typ in {**t.columns, **METADATA_COLUMNS}.items()]
        con.execute(f'create table raw."{t.name}" ({", ".join(cols)})')
    batch = 0
    for path in files:
        table = TABLES.get(path.stem)
        if table is None:
            continue
        batch += 1
        select = [f'cast("{c}" as {typ})' for c, typ in table.columns.items()]
        con.execute(
            f'insert into raw."{table.name}" select {", ".join(select)}, {batch}, '
            f"timestamptz '{loaded_at}', 'demo', '{path}' from read_parquet('{path}')"
        )
        result["raw_rows"][table.name] = result["raw_rows"].get(table.name, 0) + con.execute(
            f"select count(*) from read_parquet('{path}')").fetchone()[0]
    con.execute("checkpoint")
    t1 = time.perf_counter()
    schemas: set[str] = set()
    for uid in order:
        n = models[uid]
        rel = n["relation_name"]
        schema = f'"{n["database"]}"."{n["schema"]}"'
        if schema not in schemas:
            con.execute(f"create schema if not exists {schema}")
            schemas.add(schema)
        kind = "view" if n["config"]["materialized"] == "view" else "table"
        s = time.perf_counter()
        con.execute(f"create or replace {kind} {rel} as {n['compiled_code']}")
        result["models"][n["name"]] = round(time.perf_counter() - s, 4)
    con.execute("checkpoint")
    t2 = time.perf_counter()
    result.update(load_s=t1 - t0, transform_s=t2 - t1, total_s=t2 - t0, models_built=len(order))
    if tests:
        failing = 0
        test_nodes = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
        s = time.perf_counter()
        for n in test_nodes:
            fails = con.execute(f"select count(*) from ({n['compiled_code']}) as t").fetchone()[0]
            if fails and n["config"].get("severity", "error").lower() == "error":
                failing += 1
        result.update(tests_s=time.perf_counter() - s, tests_run=len(test_nodes), tests_failing=failing)
    con.close()
    result["db_bytes"] = db.stat().st_size
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compile")
    c.add_argument("--as-of", type=dt.date.fromisoformat, required=True)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--quantile-method", choices=["aggregate", "rank"], default="rank",
                   help="kpi_sales_cycle's quantiles (default rank); the harness passes the refresh's choice")
    r = sub.add_parser("run")
    r.add_argument("--manifest", type=Path, required=True)
    r.add_argument("--landing", type=Path, required=True)
    r.add_argument("--db", type=Path, required=True, help="a fresh file; its name must be build.duckdb")
    r.add_argument("--tests", action="store_true", help="also run every dbt data test's compiled SQL")
    args = p.parse_args(argv)
    if args.cmd == "compile":
        print(compile_manifest(args.as_of, args.out.resolve(), args.quantile_method))
        return 0
    if args.db.name != "build.duckdb":
        raise SystemExit("--db must be named build.duckdb (the catalog of the compiled relation names)")
    print(json.dumps(run_floor(args.manifest, args.landing, args.db, args.tests), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
