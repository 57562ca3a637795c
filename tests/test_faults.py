"""Crashes, concurrency and readers: the reporting database is never torn, raw is never doubled.

Every refresh here is the real console script in a subprocess of its own session, so a test can
SIGKILL its whole process group (the dbt child included), the way a machine crash would. A
refresh pauses at a fault point (``salespulse.faults``) when SALESPULSE_FAULT_PAUSE names it.
One good baseline (demo CRM, 300 orders) is built once per session and copied for each case.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from salespulse.faults import POINTS

from conftest import write_csv

AS_OF = "2025-06-30"
EXE = Path(sys.executable).with_name("salespulse")
REPORTING = Path("warehouse/reporting.duckdb")
BUILD = Path("warehouse/build.duckdb")
MARKER_TIMEOUT = 240
REFRESH_TIMEOUT = 600

# A new landing drop: three orders of existing customers, signed in June 2025 (before the as-of date).
NEW_ORDERS = [
    {
        "order_id": f"SO90000000{i}", "customer_id": cust, "opportunity_id": None, "rep_id": rep,
        "signed_at": f"2025-06-{10 + i}T10:00:00+08:00", "amount": f"{amount}.0000", "cost": "100.0000",
        "currency": "CNY", "status": "active", "updated_at": f"2025-06-{10 + i}T10:00:00+08:00",
        "is_deleted": "false",
    }
    for i, (cust, rep, amount) in enumerate(
        [("C000000045", "R00016", 1000), ("C000000087", "R00004", 2000), ("C000000111", "R00005", 3000)], start=1
    )
]
NEW_BOOKINGS = Decimal(6000)


# --------------------------------------------------------------------------- shared helpers
def salespulse_env(**extra: str) -> dict[str, str]:
    """The environment of a refresh subprocess: no SALESPULSE_* or DAGSTER_HOME of the developer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESPULSE_") and k != "DAGSTER_HOME"}
    env["SALESPULSE_DEMO__SCALE"] = "300"
    env.update(extra)
    return env


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_stray_refresh():
    """Kill any refresh a failed test left running (by its own process group only)."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            kill_group(proc)


def start_refresh(cwd: Path, *args: str, env: dict[str, str] | None = None, name: str = "refresh"):
    """Start ``salespulse refresh`` in its own session (its pid is its process group id)."""
    logs = cwd / "_test_logs"
    logs.mkdir(exist_ok=True)
    n = len(list(logs.iterdir()))
    out = open(logs / f"{n:02d}-{name}.out", "w")  # noqa: SIM115 - closed by finish()
    err = open(logs / f"{n:02d}-{name}.err", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(EXE), "refresh", "--as-of", AS_OF, *args], cwd=cwd, env=env or salespulse_env(),
        stdout=out, stderr=err, start_new_session=True,
    )
    proc.out_path, proc.err_path = Path(out.name), Path(err.name)  # type: ignore[attr-defined]
    proc.files = (out, err)  # type: ignore[attr-defined]
    _STARTED.append(proc)
    return proc


def finish(proc, timeout: float = REFRESH_TIMEOUT) -> tuple[int, str, str]:
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise
    for f in proc.files:
        f.close()
    return rc, proc.out_path.read_text(), proc.err_path.read_text()


def run_refresh_cli(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = REFRESH_TIMEOUT):
    return finish(start_refresh(cwd, *args, env=env), timeout)


def kill_group(proc) -> None:
    """SIGKILL the refresh and every process it started (dbt), like a machine crash."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)
    for f in getattr(proc, "files", ()):
        f.close()


def wait_for_marker(proc, marker: Path, timeout: float = MARKER_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            for f in proc.files:
                f.flush()
            pytest.fail(
                f"refresh exited with {proc.returncode} before the fault point\n"
                f"{proc.out_path.read_text()}\n{proc.err_path.read_text()}"
            )
        if time.monotonic() > deadline:
            kill_group(proc)
            pytest.fail(f"the refresh did not reach the fault point within {timeout}s")
        time.sleep(0.1)


def published_demo(tmp_path_factory) -> Path:
    """A working folder with a complete good refresh of the 300-order demo (built once a session)."""
    base = tmp_path_factory.getbasetemp() / "salespulse-demo300"
    if (base / ".complete").exists():
        return base
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir()
    rc, out, err = run_refresh_cli(base)
    assert rc == 0, out + err
    (base / ".complete").write_text("ok\n")
    return base


def copy_of(base: Path, dest: Path) -> Path:
    shutil.copytree(base, dest, ignore=shutil.ignore_patterns("_test_logs", ".complete"))
    return dest


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def q(db: Path, sql: str):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def company_bookings(db: Path, month: str = "2025-06-01") -> Decimal:
    return q(
        db, f"select bookings from kpi_revenue where slice = 'company' and period_type = 'month' "
        f"and period_start = date '{month}'",
    )[0][0]


def mart_checksums(db: Path) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent digest of every published mart (not ``_publication``).

    DOUBLE columns are rounded to 9 decimals first: DuckDB's parallel aggregation may sum floats
    in another order from one run to the next (means differ in the last bit, ~1e-16 relative).
    """
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_catalog = current_database() "
            "and table_name like 'kpi_%' order by 1"
        ).fetchall()]
        digests = {}
        for t in tables:
            cols = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_catalog = current_database() and table_name = ? order by ordinal_position", [t]
            ).fetchall()
            exprs = ", ".join(
                f'round("{c}", 9)' if typ in ("DOUBLE", "FLOAT", "REAL") else f'"{c}"' for c, typ in cols
            )
            digests[t] = tuple(con.execute(
                f"select count(*), md5(coalesce(string_agg(r, chr(10) order by r), '')) "
                f'from (select cast(row({exprs}) as varchar) as r from "{t}")'
            ).fetchone())
        return digests
    finally:
        con.close()


def raw_state(build_db: Path) -> dict:
    """raw.orders rows per source file (by file name within its drop) and the load log."""
    con = duckdb.connect(str(build_db), read_only=True)
    try:
        per_file = dict(con.execute(
            "select _source_file, count(*) from raw.orders group by 1 order by 1"
        ).fetchall())
        log = con.execute(
            "select table_name, content_sha256, count(*) from raw._load_log group by 1, 2 order by 1, 2"
        ).fetchall()
        log_files = con.execute("select count(*) from raw._load_log").fetchone()[0]
        order_ids = con.execute("select count(*), count(distinct order_id) from raw.orders").fetchone()
    finally:
        con.close()
    return {"per_file": per_file, "log": log, "log_entries": log_files, "order_rows": order_ids}


def add_drop(case: Path) -> Path:
    return write_csv(case / "landing" / "demo" / "drop-2025-06-30" / "orders.csv", "orders", NEW_ORDERS)


def leftovers(case: Path) -> list[str]:
    return sorted(p.name for p in (case / "warehouse").iterdir() if p.name.endswith((".tmp", ".tmp.wal")))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    base = published_demo(tmp_path_factory)
    return {
        "dir": base,
        "sha": sha256(base / REPORTING),
        "revenue": q(base / REPORTING, "select * from kpi_revenue order by all"),
        "june": company_bookings(base / REPORTING),
        "raw": raw_state(base / BUILD),
        "marts": mart_checksums(base / REPORTING),
    }


def assert_recovered(case: Path, baseline: dict, drop: Path) -> None:
    """A complete new publication with the new orders, and raw = old rows + new rows exactly once."""
    reporting = case / REPORTING
    assert sha256(reporting) != baseline["sha"]
    assert company_bookings(reporting) == baseline["june"] + NEW_BOOKINGS
    published = dict(q(reporting, "select table_name, row_count from _publication"))
    for table, n in published.items():
        assert q(reporting, f'select count(*) from "{table}"')[0][0] == n
    assert leftovers(case) == []

    state = raw_state(case / BUILD)
    expected = dict(baseline["raw"]["per_file"])
    expected[str(drop)] = len(NEW_ORDERS)
    assert state["per_file"] == expected
    assert state["order_rows"][0] == baseline["raw"]["order_rows"][0] + len(NEW_ORDERS)
    # one load-log entry per file: the baseline's 13 plus the new drop, no content hash twice
    assert state["log_entries"] == baseline["raw"]["log_entries"] + 1
    assert all(n == 1 for _, _, n in state["log"])


# --------------------------------------------------------------------------- crash tests
@pytest.mark.parametrize("point", POINTS)
def test_crash_at_fault_point_keeps_reporting_and_recovers(point, baseline, tmp_path):
    assert set(POINTS) == {"raw_load", "dbt", "publish"}
    case = copy_of(baseline["dir"], tmp_path / "case")
    drop = add_drop(case)
    marker = tmp_path / "paused"
    crashed = start_refresh(
        case, env=salespulse_env(SALESPULSE_FAULT_PAUSE=point, SALESPULSE_FAULT_MARKER=str(marker)), name="crashed"
    )
    waiter = None
    try:
        wait_for_marker(crashed, marker)
        if point == "dbt":
            # A second refresh meanwhile fails at once, naming the holder; one with a short --wait gives up.
            started = time.monotonic()
            rc, out, err = run_refresh_cli(case, timeout=120)
            assert rc == 75, out + err
            assert time.monotonic() - started < 30
            assert f"another refresh (pid {crashed.pid}, started at " in err
            assert "build.duckdb.lock" in err and "retry later or pass --wait" in err
            rc, out, err = run_refresh_cli(case, "--wait", "1", timeout=120)
            assert rc == 75 and "still held after waiting 1s" in err, out + err
            # ... and one with a long --wait takes over as soon as the holder is gone (below).
            waiter = start_refresh(case, "--wait", "300", name="waiter")
            deadline = time.monotonic() + 60
            while "waiting up to 300s" not in waiter.err_path.read_text():
                assert waiter.poll() is None and time.monotonic() < deadline, waiter.err_path.read_text()
                time.sleep(0.2)
    finally:
        kill_group(crashed)

    # The crash left the published file exactly as it was (publish: the new file was never swapped in).
    reporting = case / REPORTING
    if point == "publish":
        kept = sha256(reporting)
        assert kept == baseline["sha"] or company_bookings(reporting) == baseline["june"] + NEW_BOOKINGS
        assert company_bookings(reporting) in (baseline["june"], baseline["june"] + NEW_BOOKINGS)
        # the killed publication's complete temporary file: keep a copy to compare with the rerun
        temps = [p for p in (case / "warehouse").glob(".reporting.duckdb.*.tmp")]
        assert len(temps) == 1, leftovers(case)
        killed_copy = shutil.copy(temps[0], tmp_path / "killed-publication.duckdb")
    else:
        assert sha256(reporting) == baseline["sha"]
    assert q(reporting, "select * from kpi_revenue order by all") == baseline["revenue"]

    if point == "raw_load":
        # the file's transaction was rolled back: no row and no load-log entry of the new drop
        assert raw_state(case / BUILD) == baseline["raw"]
    if point == "dbt":
        rc, out, err = finish(waiter)
        assert rc == 0, out + err
        assert_recovered(case, baseline, drop)
        return

    if point == "raw_load":
        _recover_with_reader_and_rival(case, baseline)
    else:
        rc, out, err = run_refresh_cli(case)
        assert rc == 0, out + err
    assert_recovered(case, baseline, drop)
    if point == "publish":
        # The rerun loaded nothing new (every file was already loaded by the killed run) and rebuilt
        # equal marts, value by value: a refresh on the same landing files is idempotent.
        assert mart_checksums(reporting) == mart_checksums(Path(killed_copy))
        assert set(mart_checksums(reporting)) == set(baseline["marts"])


def _reader_script(db: Path) -> str:
    return (
        "import duckdb, sys\n"
        f"con = duckdb.connect({str(db)!r}, read_only=True)\n"
        "b = con.execute(\"select bookings from kpi_revenue where slice = 'company' and period_type = 'month' "
        "and period_start = date '2025-06-01'\").fetchone()[0]\n"
        "pub = dict(con.execute('select table_name, row_count from _publication').fetchall())\n"
        "ok = all(con.execute(f'select count(*) from \"{t}\"').fetchone()[0] == n for t, n in pub.items())\n"
        "print(b, ok)\n"
    )


def _recover_with_reader_and_rival(case: Path, baseline: dict) -> None:
    """Recover while a BI reader holds the reporting file open and a rival refresh tries to start."""
    reporting = case / REPORTING
    reader = duckdb.connect(str(reporting), read_only=True)
    try:
        june = "select bookings from kpi_revenue where slice='company' and period_type='month' " \
               "and period_start = date '2025-06-01'"
        assert reader.execute(june).fetchone()[0] == baseline["june"]
        first = start_refresh(case, name="first")
        lock = case / "warehouse" / "build.duckdb.lock"
        deadline = time.monotonic() + 60
        while f'"pid": {first.pid}' not in (lock.read_text() if lock.exists() else ""):
            assert first.poll() is None and time.monotonic() < deadline, first.err_path.read_text()
            time.sleep(0.1)
        rc, out, err = run_refresh_cli(case, timeout=120)  # started while the first runs
        assert rc == 75 and f"another refresh (pid {first.pid}, started at " in err, out + err

        # New readers during the refresh see a whole publication, old or new, never a torn one.
        seen = set()
        while first.poll() is None:
            proc = subprocess.run([sys.executable, "-c", _reader_script(reporting)], capture_output=True,
                                  text=True, timeout=60)
            assert proc.returncode == 0, proc.stderr
            value, ok = proc.stdout.split()
            assert ok == "True"
            seen.add(Decimal(value))
            assert reader.execute(june).fetchone()[0] == baseline["june"]
            time.sleep(2)
        rc, out, err = finish(first)
        assert rc == 0, out + err
        assert seen <= {baseline["june"], baseline["june"] + NEW_BOOKINGS}
        # the reader opened before the swap still reads the old, complete version, consistently
        assert reader.execute(june).fetchone()[0] == baseline["june"]
        assert reader.execute("select * from kpi_revenue order by all").fetchall() == baseline["revenue"]
    finally:
        reader.close()
    # a new connection (a new process: DuckDB caches open files per process) sees the new data
    proc = subprocess.run([sys.executable, "-c", _reader_script(reporting)], capture_output=True, text=True,
                          timeout=60)
    value, ok = proc.stdout.split()
    assert Decimal(value) == baseline["june"] + NEW_BOOKINGS and ok == "True"


def test_duckdb_file_lock_is_reported_clearly(baseline, tmp_path):
    """A tool holding the build warehouse open for writing: the refresh fails with a readable reason."""
    case = copy_of(baseline["dir"], tmp_path / "case")
    holder = duckdb.connect(str(case / BUILD))  # e.g. a SQL client left open on the build warehouse
    try:
        rc, out, err = run_refresh_cli(case, timeout=300)
    finally:
        holder.close()
    assert rc == 1, out + err
    assert "refresh FAILED" in err and "Could not set lock" in err
    assert re.search(r"hint: the DuckDB file \S*build\.duckdb is open for writing in process \d+", err), err
    assert sha256(case / REPORTING) == baseline["sha"]
