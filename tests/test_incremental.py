"""Incremental dbt builds: a daily refresh recomputes only the changed keys of the base models and
gives exactly the marts a full rebuild gives; the orchestrator falls back to a full refresh when
an incremental build cannot be right."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import duckdb
import pytest

from salespulse.demo import generate_demo
from salespulse.incremental import BuildState, full_refresh_reason, plan_build, state_path
from salespulse.project import DBT_PROJECT_DIR, run_target_dir
from salespulse.settings import load_settings

from conftest import query, run_refresh, write_csv

D = dt.date(2025, 6, 30)
VARS = {"as_of": "2025-06-30", "reporting_timezone": "Asia/Shanghai", "fiscal_year_start_month": 1}


# ----------------------------------------------------------------------------- the decision
@pytest.mark.parametrize(
    "previous, dbt_vars, fingerprint, requested, expected",
    [
        (None, VARS, "f", False, "first build of this warehouse"),
        (BuildState(D, {"reporting_timezone": "Asia/Shanghai", "fiscal_year_start_month": 1}, "f"),
         {**VARS, "as_of": "2025-07-01"}, "f", False, None),
        (BuildState(D, {"reporting_timezone": "Asia/Shanghai", "fiscal_year_start_month": 1}, "f"),
         VARS, "f", False, None),
        (BuildState(D, {"reporting_timezone": "Asia/Shanghai", "fiscal_year_start_month": 1}, "f"),
         {**VARS, "as_of": "2025-06-29"}, "f", False, "as-of 2025-06-29 is before 2025-06-30, the latest as-of built"),
        (BuildState(D, {"reporting_timezone": "UTC", "fiscal_year_start_month": 1}, "f"),
         VARS, "f", False, "setting(s) changed: reporting_timezone"),
        (BuildState(D, {"reporting_timezone": "Asia/Shanghai", "fiscal_year_start_month": 1}, "old"),
         VARS, "f", False, "the dbt macros or incremental models changed"),
        (BuildState(D, {"reporting_timezone": "Asia/Shanghai", "fiscal_year_start_month": 1}, "f"),
         VARS, "f", True, "requested (--full-refresh)"),
    ],
)
def test_full_refresh_reason(previous, dbt_vars, fingerprint, requested, expected):
    assert full_refresh_reason(previous, dbt_vars, fingerprint, requested) == expected


def test_plan_build_keeps_the_as_of_high_water_mark(tmp_path):
    db = tmp_path / "build.duckdb"
    assert plan_build(db, VARS, DBT_PROJECT_DIR) == "first build of this warehouse"
    assert plan_build(db, {**VARS, "as_of": "2025-07-02"}, DBT_PROJECT_DIR) is None
    # a build started for 07-02 may have advanced the tables even if it failed: 07-01 is "earlier"
    assert plan_build(db, {**VARS, "as_of": "2025-07-01"}, DBT_PROJECT_DIR).startswith("as-of 2025-07-01")
    # ... and the full refresh it triggers resets the mark
    assert json.loads(state_path(db).read_text())["as_of_high_water"] == "2025-07-01"
    state_path(db).write_text("{not json")
    assert plan_build(db, VARS, DBT_PROJECT_DIR) == "first build of this warehouse"


# ----------------------------------------------------------------------------- end to end
def _orders(landing: Path) -> list[dict]:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    rows = con.execute(f"select * from read_parquet('{landing / 'orders.parquet'}') order by order_id").df()
    con.close()
    out = []
    for rec in rows.to_dict("records"):
        out.append({k: (None if v is None or v != v else v) for k, v in rec.items()})
    return out


def _ts(day: dt.date, hour: int) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00Z"


def _marts(reporting: Path) -> dict[str, list[tuple]]:
    """Every published mart as rows sorted by their exact (non-double) values; doubles kept as floats."""
    names = query(reporting, "select table_name from information_schema.tables where table_name like 'kpi_%'")
    out = {}
    for name in sorted(names["table_name"]):
        if name == "kpi_clv_predicted":
            continue  # a numerical fit: compared with a tolerance below
        df = query(reporting, f"select * from {name}")
        doubles = [i for i, col in enumerate(df.columns) if df[col].dtype.kind == "f"]
        rows = []
        for rec in df.itertuples(index=False):
            rows.append(tuple(None if (i in doubles and v != v) else (float(v) if i in doubles else str(v))
                              for i, v in enumerate(rec)))
        # sort on the exact columns, then on the doubles rounded far below their noise
        out[name] = sorted(rows, key=lambda r: tuple(
            (f"{v:.6g}" if isinstance(v, float) else str(v)) for v in r))
    return out


def _assert_same_marts(got: dict[str, list[tuple]], want: dict[str, list[tuple]]) -> None:
    """Exact for counts, sums and text; doubles (means, medians, ratios: their summation order is up
    to DuckDB's threads) within 1e-9 relative."""
    assert got.keys() == want.keys()
    for name in got:
        assert len(got[name]) == len(want[name]), name
        for a, b in zip(got[name], want[name], strict=True):
            for x, y in zip(a, b, strict=True):
                if isinstance(x, float) and isinstance(y, float):
                    assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12), (name, a, b)
                else:
                    assert x == y, (name, a, b)


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    """Day D: a full build; day D+1: new files (new orders, a correction, a soft delete) and a version
    loaded on day D but dated D+1, built incrementally; and a full rebuild of the same files."""
    tmp = tmp_path_factory.mktemp("incremental")
    landing = tmp / "landing"
    generate_demo(landing / "d0", scale=600, seed=7, as_of=D)
    orders = [o for o in _orders(landing / "d0") if o["status"] == "active" and not o["is_deleted"]]
    # the latest version of each order id
    latest: dict[str, dict] = {}
    for o in sorted(_orders(landing / "d0"), key=lambda r: r["updated_at"]):
        latest[o["order_id"]] = o
    live = [latest[o["order_id"]] for o in orders if latest[o["order_id"]]["status"] == "active"
            and not latest[o["order_id"]]["is_deleted"]]
    corrected, deleted, early = live[0], live[1], live[2]
    nxt = D + dt.timedelta(days=1)

    def version(o: dict, **changes) -> dict:
        row = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in o.items()}
        row.update(changes)
        return row

    # loaded with day D's files, but dated D+1 local (10:00 Shanghai): invisible at D, visible at D+1
    write_csv(landing / "d0b" / "orders.csv", "orders",
              [version(early, amount=str(early["amount"] * 3), updated_at=_ts(nxt, 2))])
    first, _ = run_refresh(tmp / "inc", landing, D.isoformat())
    assert first.success
    reporting_d = tmp / "inc" / "warehouse" / "reporting.duckdb"
    marts_d = _marts(reporting_d)
    pub_d = query(reporting_d, "select sum(bookings) b from kpi_revenue where slice='company' and period_type='year'")

    write_csv(landing / "d1" / "orders.csv", "orders", [
        version(corrected, amount=str(corrected["amount"] * 2), updated_at=_ts(nxt, 3)),
        version(deleted, is_deleted="true", updated_at=_ts(nxt, 4)),
        version(corrected, order_id="o-new-1", signed_at=_ts(nxt, 1), updated_at=_ts(nxt, 1)),
    ])
    second, _ = run_refresh(tmp / "inc", landing, nxt.isoformat())
    assert second.success
    target = run_target_dir(load_settings(build_db=tmp / "inc" / "warehouse" / "build.duckdb"))
    compiled = (target / "compiled" / "salespulse" / "models" / "staging" / "base" / "base_orders.sql").read_text()
    # dbt's structured log of the second day's build (dbt.log appends one invocation after another)
    log = [json.loads(line) for line in (target / "dbt.log").read_text().splitlines() if line.startswith("{")]
    starts = [i for i, e in enumerate(log) if e["info"]["name"] == "MainReportVersion"]
    second_log = [e["info"]["name"] for e in log[starts[-1]:]]
    full, _ = run_refresh(tmp / "full", landing, nxt.isoformat())
    assert full.success
    return {
        "tmp": tmp, "landing": landing, "corrected": corrected, "deleted": deleted, "early": early,
        "marts_d": marts_d, "pub_d": pub_d, "compiled_second": compiled, "second_log": second_log,
    }


def test_a_new_day_does_not_reparse_the_whole_project(daily):
    # the as-of date reaches dbt as SALESPULSE_DBT_AS_OF, not in --vars: the next day's build keeps
    # partial parsing (a vars change would log UnableToPartialParse and parse all ~200 nodes again)
    events = daily["second_log"]
    assert "FoundStats" in events and "UnableToPartialParse" not in events, events[:10]
    # and the partially parsed build compiled the new day's cutoff
    assert f"cast('{D + dt.timedelta(days=1)}' as date)" in daily["compiled_second"]
    assert f"cast('{D}' as date)" not in daily["compiled_second"]


def test_daily_build_is_incremental_and_equals_a_full_rebuild(daily):
    tmp = daily["tmp"]
    assert "changed_keys" in daily["compiled_second"]  # the second build ran the incremental branch
    inc = _marts(tmp / "inc" / "warehouse" / "reporting.duckdb")
    full = _marts(tmp / "full" / "warehouse" / "reporting.duckdb")
    assert len(inc) >= 10
    _assert_same_marts(inc, full)
    # the base and staging tables hold the same rows too
    for table in ("base_orders", "stg_orders", "stg_activities", "fct_orders"):
        cols = "* exclude (_cutoff, _version_rank)" if table.startswith("base_") else "*"
        a = query(tmp / "inc" / "warehouse" / "build.duckdb", f"select {cols} from staging.{table}"
                  if not table.startswith("fct_") else f"select * from marts.{table}")
        b = query(tmp / "full" / "warehouse" / "build.duckdb", f"select {cols} from staging.{table}"
                  if not table.startswith("fct_") else f"select * from marts.{table}")
        key = [c for c in a.columns if c not in ("_loaded_at", "_batch_id")]  # load order differs
        assert sorted(map(tuple, a[key].astype(str).values.tolist())) == \
            sorted(map(tuple, b[key].astype(str).values.tolist())), table


def test_incremental_build_sees_new_versions_deletes_and_the_moving_cutoff(daily):
    db = daily["tmp"] / "inc" / "warehouse" / "build.duckdb"
    got = query(db, "select order_id, amount from staging.stg_orders where order_id in (?, ?, ?, 'o-new-1')",
                [daily["corrected"]["order_id"], daily["deleted"]["order_id"], daily["early"]["order_id"]])
    amounts = dict(zip(got["order_id"], got["amount"].astype(float), strict=True))
    assert amounts == {
        daily["corrected"]["order_id"]: pytest.approx(float(daily["corrected"]["amount"]) * 2),
        daily["early"]["order_id"]: pytest.approx(float(daily["early"]["amount"]) * 3),  # crossed the cutoff
        "o-new-1": pytest.approx(float(daily["corrected"]["amount"])),
    }  # the soft-deleted order is gone
    # the base model keeps the deleted version (the stg model applies it) and the new cutoff
    base = query(db, "select is_deleted, _cutoff from staging.base_orders where order_id = ?",
                 [daily["deleted"]["order_id"]])
    assert bool(base["is_deleted"].iloc[0]) is True
    assert str(base["_cutoff"].iloc[0]).startswith("2025-07-01 16:00:00")  # 07-02 00:00 Shanghai in UTC


def test_rerun_of_an_earlier_day_falls_back_to_a_full_refresh(daily):
    tmp = daily["tmp"]
    again, _ = run_refresh(tmp / "inc", daily["landing"], D.isoformat())
    assert again.success
    state = json.loads(state_path(tmp / "inc" / "warehouse" / "build.duckdb").read_text())
    assert state["as_of_high_water"] == D.isoformat()
    marts = _marts(tmp / "inc" / "warehouse" / "reporting.duckdb")
    # day D's marts exactly as the first build published them: the rows loaded since are all dated
    # D+1, so nothing leaks back into day D
    _assert_same_marts(marts, daily["marts_d"])
