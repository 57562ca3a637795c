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
def _rows(landing: Path, table: str = "orders", order_by: str = "order_id") -> list[dict]:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    rows = con.execute(f"select * from read_parquet('{landing / (table + '.parquet')}') order by {order_by}").df()
    con.close()
    out = []
    for rec in rows.to_dict("records"):
        out.append({k: (None if v is None or v != v else v) for k, v in rec.items()})
    return out


def _orders(landing: Path) -> list[dict]:
    return _rows(landing, "orders", "order_id")


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

    # day D+1 also touches what the incremental facts take from other rows: a customer's live-order
    # sequence (an order signed before all of its customer's orders; an order moved to another
    # customer), a rep's team, a customer's region, a corrected exchange rate, a new delivery and a
    # new payment of old orders
    # none of the customers of the three orders above
    others = [o for o in live if o["customer_id"] not in {x["customer_id"] for x in live[:3]}]
    by_customer: dict[str, list[dict]] = {}
    for o in others:
        by_customer.setdefault(o["customer_id"], []).append(o)
    repeat = next(os for os in by_customer.values() if len(os) >= 2)
    first_signed = min(o["signed_at"] for o in repeat)
    moved = next(o for o in others if o["customer_id"] != repeat[0]["customer_id"])
    reps = _rows(landing / "d0", "reps", "rep_id, updated_at")
    rep = next(r for r in reversed(reps) if r["rep_id"] == moved["rep_id"])
    other_team = next(r for r in reps if r["team_id"] != rep["team_id"])
    customers = _rows(landing / "d0", "customers", "customer_id, updated_at")
    regional = next(o for o in others if o["customer_id"] not in (moved["customer_id"], repeat[0]["customer_id"]))
    customer = next(c for c in reversed(customers) if c["customer_id"] == regional["customer_id"])
    foreign = next(o for o in others if o["currency"] != "CNY" and o["customer_id"] not in
                   (moved["customer_id"], repeat[0]["customer_id"], regional["customer_id"]))
    # each change on an order of its own customer, so that no other change rewrites its rows
    delivered = next(o for o in others if o["customer_id"] not in
                     (moved["customer_id"], repeat[0]["customer_id"], regional["customer_id"],
                      foreign["customer_id"]))
    rates = _rows(landing / "d0", "fx_rates", "rate_date, currency")

    def rate_of(currency: str, at: dt.datetime) -> dict:  # the rate of the local day or the latest earlier one
        local = (at + dt.timedelta(hours=8)).date()  # Asia/Shanghai, no DST
        return max((r for r in rates if r["currency"] == currency and r["rate_date"].date() <= local),
                   key=lambda r: r["rate_date"])

    fx = rate_of(foreign["currency"], foreign["signed_at"])
    # and a foreign payment of an untouched order, paid under another rate than any order touched
    touched = {x["customer_id"] for x in (moved, repeat[0], regional, foreign, delivered)}
    untouched = {o["order_id"]: o for o in others if o["customer_id"] not in touched}
    paid = next(p for p in _rows(landing / "d0", "payments", "payment_id")
                if p["order_id"] in untouched and p["currency"] != "CNY"
                and rate_of(p["currency"], p["paid_at"]) is not fx
                and rate_of(p["currency"], p["paid_at"])
                is not rate_of(p["currency"], untouched[p["order_id"]]["signed_at"]))
    paid_fx = rate_of(paid["currency"], paid["paid_at"])
    write_csv(landing / "d1" / "orders.csv", "orders", [
        version(corrected, amount=str(corrected["amount"] * 2), updated_at=_ts(nxt, 3)),
        version(deleted, is_deleted="true", updated_at=_ts(nxt, 4)),
        version(corrected, order_id="o-new-1", signed_at=_ts(nxt, 1), updated_at=_ts(nxt, 1)),
        version(repeat[-1], order_id="o-backdated", signed_at=first_signed - dt.timedelta(days=30),
                updated_at=_ts(nxt, 5)),
        version(moved, customer_id=repeat[0]["customer_id"], updated_at=_ts(nxt, 6)),
    ])
    write_csv(landing / "d1" / "reps.csv", "reps", [version(
        rep, team_id=other_team["team_id"], team_name=other_team["team_name"], updated_at=_ts(nxt, 2),
        hired_on=rep["hired_on"].date().isoformat(),
        left_on=rep["left_on"].date().isoformat() if rep["left_on"] is not None else None)])
    write_csv(landing / "d1" / "customers.csv", "customers", [
        version(customer, region="西北" if customer["region"] != "西北" else "东北", updated_at=_ts(nxt, 2))])
    write_csv(landing / "d1" / "fx_rates.csv", "fx_rates", [{
        "rate_date": r["rate_date"].date().isoformat(), "currency": r["currency"],
        "rate_to_reporting": str(round(r["rate_to_reporting"] * 1.1, 4))} for r in (fx, paid_fx)])
    # a delivery of an untouched order re-assigned to another order: both orders' latest delivery moves
    latest_delivery: dict[str, dict] = {}
    for d in _rows(landing / "d0", "deliveries", "delivered_at, delivery_id"):
        if d["status"] == "delivered":
            latest_delivery[d["order_id"]] = d  # the order's latest delivery wins
    reassigned = next(d for o, d in latest_delivery.items() if o in untouched and o != paid["order_id"])
    write_csv(landing / "d1" / "deliveries.csv", "deliveries", [
        {"delivery_id": "d-new-1", "order_id": delivered["order_id"], "delivered_at": _ts(nxt, 7),
         "status": "delivered"},
        {"delivery_id": reassigned["delivery_id"], "order_id": delivered["order_id"],
         "delivered_at": reassigned["delivered_at"].isoformat(), "status": "delivered"}])
    write_csv(landing / "d1" / "payments.csv", "payments", [{
        "payment_id": "p-new-1", "order_id": moved["order_id"], "paid_at": _ts(nxt, 8), "amount": "100.00",
        "currency": "CNY"}])
    second, _ = run_refresh(tmp / "inc", landing, nxt.isoformat())
    assert second.success
    target = run_target_dir(load_settings(build_db=tmp / "inc" / "warehouse" / "build.duckdb"))
    compiled = (target / "compiled" / "salespulse" / "models" / "staging" / "base" / "base_orders.sql").read_text()
    # dbt's structured log of the second day's build (dbt.log appends one invocation after another)
    log = [json.loads(line) for line in (target / "dbt.log").read_text().splitlines() if line.startswith("{")]
    starts = [i for i, e in enumerate(log) if e["info"]["name"] == "MainReportVersion"]
    second_log = [e["info"]["name"] for e in log[starts[-1]:]]
    # one more file the same day, and a second refresh of D+1: incremental again, at the same cutoff
    late = next(o for o in others if o["customer_id"] not in touched
                and o["order_id"] not in (paid["order_id"], reassigned["order_id"]))
    write_csv(landing / "d1b" / "orders.csv", "orders",
              [version(late, amount=str(late["amount"] * 5), updated_at=_ts(nxt, 9))])
    third, _ = run_refresh(tmp / "inc", landing, nxt.isoformat())
    assert third.success
    compiled_third = (target / "compiled" / "salespulse" / "models" / "marts" / "core" / "fct_orders.sql").read_text()
    full, _ = run_refresh(tmp / "full", landing, nxt.isoformat())
    assert full.success
    return {
        "tmp": tmp, "landing": landing, "corrected": corrected, "deleted": deleted, "early": early,
        "repeat": repeat, "moved": moved, "rep": rep, "other_team": other_team, "regional": regional,
        "foreign": foreign, "delivered": delivered, "regional_region": customer["region"],
        "fx_corrected": round(fx["rate_to_reporting"] * 1.1, 4), "paid": paid, "late": late,
        "reassigned": reassigned,
        "compiled_third": compiled_third,
        "paid_fx_corrected": round(paid_fx["rate_to_reporting"] * 1.1, 4),
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
    # the base, staging and fact tables hold the same rows too
    for table in ("base_orders", "stg_orders", "stg_activities", "fct_orders", "fct_payments",
                  "fct_deliveries", "fct_activities"):
        cols = ("* exclude (_cutoff, _version_rank)" if table.startswith("base_")
                else "* exclude (_cutoff)" if table.startswith("fct_") else "*")
        schema = "marts" if table.startswith("fct_") else "staging"
        a = query(tmp / "inc" / "warehouse" / "build.duckdb", f"select {cols} from {schema}.{table}")
        b = query(tmp / "full" / "warehouse" / "build.duckdb", f"select {cols} from {schema}.{table}")
        key = [c for c in a.columns if c not in ("_loaded_at", "_batch_id")]  # load order differs
        assert sorted(map(tuple, a[key].astype(str).values.tolist())) == \
            sorted(map(tuple, b[key].astype(str).values.tolist())), table


def test_incremental_facts_rewrite_only_what_changed(daily):
    db = daily["tmp"] / "inc" / "warehouse" / "build.duckdb"
    new_cutoff = "2025-07-01 16:00:00"  # 07-02 00:00 Shanghai in UTC
    # the day's changes reached the facts
    repeat_customer = daily["repeat"][0]["customer_id"]
    seq = query(db, "select order_id, customer_order_number, is_first_order from marts.fct_orders "
                    "where customer_id = ? and is_live order by customer_order_number", [repeat_customer])
    assert seq["order_id"].iloc[0] == "o-backdated" and bool(seq["is_first_order"].iloc[0])
    assert seq["customer_order_number"].tolist() == list(range(1, len(seq) + 1))
    assert daily["moved"]["order_id"] in set(seq["order_id"])  # moved to this customer, numbered in
    got = query(db, "select distinct team_id from marts.fct_activities where rep_id = ?", [daily["rep"]["rep_id"]])
    assert got["team_id"].tolist() == [daily["other_team"]["team_id"]]
    got = query(db, "select distinct customer_region from marts.fct_orders where customer_id = ?",
                [daily["regional"]["customer_id"]])
    assert got["customer_region"].tolist() == ["西北" if daily["regional_region"] != "西北" else "东北"]
    got = query(db, "select fx_rate, latest_delivered_at from marts.fct_orders where order_id in (?, ?) "
                    "order by order_id = ?", [daily["foreign"]["order_id"], daily["delivered"]["order_id"],
                                              daily["delivered"]["order_id"]])
    assert float(got["fx_rate"].iloc[0]) == pytest.approx(daily["fx_corrected"])
    assert str(got["latest_delivered_at"].iloc[1]).startswith("2025-07-01 07:00:00")
    got = query(db, "select fx_rate from marts.fct_payments where payment_id = ?", [daily["paid"]["payment_id"]])
    assert float(got["fx_rate"].iloc[0]) == pytest.approx(daily["paid_fx_corrected"])
    got = query(db, "select customer_id, is_order_live from marts.fct_payments where payment_id = 'p-new-1'")
    assert got["customer_id"].tolist() == [repeat_customer] and bool(got["is_order_live"].iloc[0])
    # the order that lost its delivery no longer has it as its latest
    got = query(db, "select latest_delivered_at from marts.fct_orders where order_id = ?",
                [daily["reassigned"]["order_id"]])
    latest = got["latest_delivered_at"].iloc[0]
    assert latest is None or latest != latest or latest != daily["reassigned"]["delivered_at"]  # None/NaT: none left
    # the same day's second refresh was incremental too, and saw its file
    assert "changed_keys" in daily["compiled_third"]
    got = query(db, "select amount from marts.fct_orders where order_id = ?", [daily["late"]["order_id"]])
    assert float(got["amount"].iloc[0]) == pytest.approx(float(daily["late"]["amount"]) * 5)
    # ... and only the rows that can have changed were written by the day's refreshes
    for table in ("fct_orders", "fct_payments", "fct_deliveries", "fct_activities"):
        n = query(db, f"select count(*) filter (where cast(_cutoff as timestamp) = '{new_cutoff}') as new, "
                      f"count(*) as total, count(*) filter (where _cutoff is null) as tombstones from marts.{table}")
        new, total = int(n["new"].iloc[0]), int(n["total"].iloc[0])
        assert 0 < new < total / 4, (table, new, total)
        assert int(n["tombstones"].iloc[0]) == 0, table
    # the soft-deleted order left the fact
    got = query(db, "select count(*) as n from marts.fct_orders where order_id = ?", [daily["deleted"]["order_id"]])
    assert int(got["n"].iloc[0]) == 0


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
    # day D's marts exactly as a first build of the same files as of D publishes them
    fresh, _ = run_refresh(tmp / "full-d", daily["landing"], D.isoformat())
    assert fresh.success
    _assert_same_marts(marts, _marts(tmp / "full-d" / "warehouse" / "reporting.duckdb"))
    # the versions loaded since are dated D+1 and stay out of day D; only the corrected exchange
    # rate (rates have no version time) changes day D's figures
    assert marts["kpi_revenue"] != daily["marts_d"]["kpi_revenue"]
    assert marts["kpi_funnel"] == daily["marts_d"]["kpi_funnel"]
