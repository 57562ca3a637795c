"""kpi_target_plan, kpi_attainment and kpi_scorecard on hand-built landing data.

metrics.md "Targets and attainment" and "Evaluation scorecards". Every expected number below is
worked out by hand in the comments (cents for bookings, whole customers for new_customers); the
largest remainder arithmetic is also re-derived by ``_largest_remainder`` (plain Python, no code
shared with the dbt models) where a comment could hide a slip.

Run A (fiscal year = calendar year, as of 2024-06-15):
- 2022: company bookings in every month but July  -> FY2023 targets split EQUALLY (fallback).
- 2023: company bookings Jan..Dec = 1000, 1000, 1000 | 1000, 2000, 1000 | 2000, 2000, 2000 |
  1000, 1000, 2000 (quarters 3000 | 4000 | 6000 | 4000, year 17000) -> FY2024 splits by these.
- team t1: r1 (rep), r2 (rep, left_on 2024-03-15), r3 (rep, hired 2024-02-10), m1 (manager).
  team t2: r4, r5 (reps). team t3: r6 (rep).
Run B (FISCAL_YEAR_START_MONTH=4, as of 2024-06-15): fiscal quarters Apr-Jun, Jul-Sep, ...
"""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import query, run_refresh, write_csv

AS_OF = "2024-06-15"


# --------------------------------------------------------------------------- helpers
def _largest_remainder(whole: int, weights: list[int]) -> list[int]:
    """Independent Hamilton apportionment (ties: the earlier part)."""
    total = sum(weights)
    floors = [whole * w // total for w in weights]
    rems = [whole * w % total for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-rems[i], i))
    for i in order[: whole - sum(floors)]:
        floors[i] += 1
    return floors


def _rep(rep_id, team, role="rep", hired="2022-01-01", left=None):
    return {"rep_id": rep_id, "rep_name": rep_id.upper(), "email": f"{rep_id}@example.com", "team_id": team,
            "team_name": team.upper(), "region": "east", "role": role, "hired_on": hired, "left_on": left,
            "updated_at": "2022-01-01T00:00:00Z"}


def _customer(cid, owner):
    return {"customer_id": cid, "customer_name": cid.upper(), "segment": "smb", "industry": "retail",
            "region": "east", "country": "CN", "acquisition_channel": "organic", "owner_rep_id": owner,
            "created_at": "2021-12-01T00:00:00Z", "email": f"{cid}@example.com", "phone": "1",
            "updated_at": "2021-12-01T00:00:00Z", "is_deleted": "false"}


def _order(oid, cid, rep, day, amount):
    # 02:00 UTC = 10:00 in Asia/Shanghai: the local day is `day`
    return {"order_id": oid, "customer_id": cid, "rep_id": rep, "signed_at": f"{day}T02:00:00Z",
            "amount": amount, "cost": None, "currency": "CNY", "status": "active",
            "updated_at": f"{day}T02:00:00Z", "is_deleted": "false"}


def _target(tid, period_type, start, scope, scope_id, metric, value, currency=None):
    return {"target_id": tid, "period_type": period_type, "period_start": start, "scope": scope,
            "scope_id": scope_id, "metric": metric, "target_value": value,
            "currency": currency if currency else ("CNY" if metric == "bookings" else None)}


def _opp(oid, rep, created, closed, won, amount):
    return {"opportunity_id": oid, "customer_id": "c_old", "owner_rep_id": rep, "created_at": created,
            "stage": "closed_won" if won else "closed_lost", "amount": amount, "currency": "CNY",
            "expected_close_on": closed[:10], "closed_at": closed, "is_closed": "true",
            "is_won": "true" if won else "false", "updated_at": closed, "is_deleted": "false"}


def _activity(aid, rep, day):
    return {"activity_id": aid, "activity_type": "call", "direction": "outbound",
            "occurred_at": f"{day}T03:00:00Z", "rep_id": rep, "updated_at": f"{day}T03:00:00Z"}


def _plan(plan, month, scope, scope_id, metric="bookings"):
    sel = plan[(plan["month_start"].astype(str) == month) & (plan["scope"] == scope)
               & (plan["metric"] == metric)]
    sel = sel[sel["scope_id"].isna()] if scope_id is None else sel[sel["scope_id"] == scope_id]
    assert len(sel) == 1, f"expected one plan row {month} {scope}={scope_id} {metric}, got {len(sel)}"
    return sel.iloc[0]


def _row(df, grain, start, slice_="company", value=None):
    sel = df[(df["period_type"] == grain) & (df["period_start"].astype(str) == start) & (df["slice"] == slice_)]
    sel = sel[sel["slice_value"].isna()] if value is None else sel[sel["slice_value"] == value]
    assert len(sel) == 1, f"expected one {grain} {start} {slice_}={value} row, got {len(sel)}"
    return sel.iloc[0]


def _cents(plan, months, scope, scope_id, metric="bookings"):
    return [round(float(_plan(plan, m, scope, scope_id, metric)["target_value"]) * 100) for m in months]


MONTHS_2024 = [f"2024-{m:02d}-01" for m in range(1, 13)]

# --------------------------------------------------------------------------- run A data
REPS_A = [
    _rep("r1", "t1"),
    _rep("r2", "t1", left="2024-03-15"),      # employed on Mar 1 (left_on >= Mar 1), not on Apr 1
    _rep("r3", "t1", hired="2024-02-10"),     # not employed on Feb 1, employed on Mar 1
    _rep("m1", "t1", role="manager"),         # a manager carries no share of the team's quota
    _rep("r4", "t2"),
    _rep("r5", "t2"),
    _rep("r6", "t3"),
]

CUSTOMERS_A = [_customer("c_old", "r1")] + [
    _customer(c, owner) for c, owner in
    [("cA", "r1"), ("cB", "r1"), ("cC", "r4"), ("cD", "r3"), ("cE", "r5"), ("cF", "r1"), ("cG", "r1")]
]

_2022 = [_order(f"y22_{m:02d}", "c_old", "r1", f"2022-{m:02d}-10", "500") for m in range(1, 13) if m != 7]
_2023_AMOUNTS = [1000, 1000, 1000, 1000, 2000, 1000, 2000, 2000, 2000, 1000, 1000, 2000]
_2023 = [_order(f"y23_{m:02d}", "c_old", "r1", f"2023-{m:02d}-10", str(a))
         for m, a in zip(range(1, 13), _2023_AMOUNTS, strict=True)]
ORDERS_A = _2022 + _2023 + [
    _order("a1", "cA", "r1", "2024-01-10", "100.00"),   # cA new in Jan (owner r1)
    _order("a2", "cA", "r1", "2024-02-10", "25.00"),
    _order("a3", "cB", "r1", "2024-03-10", "66.68"),    # cB new in Mar (owner r1)
    _order("a4", "cA", "r1", "2024-04-10", "50.00"),
    _order("a5", "cG", "r1", "2024-06-05", "30.00"),    # cG new in Jun (owner r1)
    _order("b1", "cD", "r3", "2024-03-20", "40.00"),    # cD new in Mar (owner r3)
    _order("b2", "cD", "r3", "2024-04-20", "50.00"),
    _order("b3", "cF", "r3", "2024-05-20", "100.00"),   # cF new in May: owner r1, order rep r3
    _order("d1", "cC", "r4", "2024-01-15", "33.34"),    # cC new in Jan (owner r4)
    _order("d2", "cC", "r4", "2024-02-15", "10.00"),
    _order("e1", "cE", "r5", "2024-04-15", "90.90"),    # cE new in Apr (owner r5)
    _order("z1", "cA", "r1", "2024-06-20", "999.00"),   # after the as-of date: ignored
]

TARGETS_A = [
    # FY2023 company bookings 100.00: 2022 lacks July bookings -> equal split
    _target("T23", "year", "2023-01-01", "company", None, "bookings", "100.00"),
    # FY2024 company bookings 1000.00, new customers 10: split by 2023 company bookings
    _target("T24", "year", "2024-01-01", "company", None, "bookings", "1000.00"),
    _target("N24", "year", "2024-01-01", "company", None, "new_customers", "10"),
    # team t1: year 1700.00, no rep targets in t1 -> split over its reps month by month
    _target("TT1", "year", "2024-01-01", "team", "t1", "bookings", "1700.00"),
    # team t2: year 1000.00 with an explicit Q3 of 500.00 (overrides the year split)
    _target("TT2", "year", "2024-01-01", "team", "t2", "bookings", "1000.00"),
    _target("TT2Q3", "quarter", "2024-07-01", "team", "t2", "bookings", "500.00"),
    # rep r4: explicit Q1 100.00 -> thirds; while r4 has targets, team t2 is not split (Jan-Mar)
    _target("R4Q1", "quarter", "2024-01-01", "rep", "r4", "bookings", "100.00"),
    # rep r6 (t3): a month target in USD, converted with the rate of 2024-05-01 (7.0)
    _target("R6M5", "month", "2024-05-01", "rep", "r6", "bookings", "10", currency="USD"),
]

FX_A = [
    {"rate_date": "2024-01-01", "currency": "USD", "rate_to_reporting": "7.0"},
    {"rate_date": "2024-05-02", "currency": "USD", "rate_to_reporting": "7.5"},
]

OPPS_A = [
    # r1, April 2024: won 100 (35 days), won 300 (10 days), won 200 with a negative signing time
    # (created after its close: excluded from the median, counted invalid), one lost
    _opp("p1", "r1", "2024-03-01T02:00:00Z", "2024-04-05T02:00:00Z", True, "100"),
    _opp("p2", "r1", "2024-04-01T02:00:00Z", "2024-04-11T02:00:00Z", True, "300"),
    _opp("p3", "r1", "2024-04-20T02:00:00Z", "2024-04-10T02:00:00Z", True, "200"),
    _opp("p4", "r1", "2024-03-01T02:00:00Z", "2024-04-12T02:00:00Z", False, "999"),
    # r4, April: one lost
    _opp("p5", "r4", "2024-03-01T02:00:00Z", "2024-04-13T02:00:00Z", False, "50"),
]

ACTIVITIES_A = [
    _activity("x1", "r1", "2024-04-02"),
    _activity("x2", "r1", "2024-04-03"),
    _activity("x3", "m1", "2024-04-04"),
    _activity("x4", "r2", "2024-05-03"),   # r2 left on Mar 15: a May row only because of this activity
]


@pytest.fixture(scope="module")
def run_a(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("targets_a")
    landing = tmp / "landing"
    write_csv(landing / "reps.csv", "reps", REPS_A)
    write_csv(landing / "customers.csv", "customers", CUSTOMERS_A)
    write_csv(landing / "orders.csv", "orders", ORDERS_A)
    write_csv(landing / "targets.csv", "targets", TARGETS_A)
    write_csv(landing / "fx_rates.csv", "fx_rates", FX_A)
    write_csv(landing / "opportunities.csv", "opportunities", OPPS_A)
    write_csv(landing / "activities.csv", "activities", ACTIVITIES_A)
    result, reporting = run_refresh(tmp, landing, AS_OF)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return {
        "plan": query(reporting, "select * from kpi_target_plan"),
        "att": query(reporting, "select * from kpi_attainment"),
        "sc": query(reporting, "select * from kpi_scorecard"),
    }


# --------------------------------------------------------------------------- target plan
def test_year_split_by_prior_year_shares_with_largest_remainder(run_a):
    plan = run_a["plan"]
    # 1000.00 = 100000 cents over quarters weighted 3000 | 4000 | 6000 | 4000 (of 17000):
    #   raw 17647.06 | 23529.41 | 35294.12 | 23529.41 -> floors 17647, 23529, 35294, 23529 = 99999;
    #   the 1 cent left goes to the largest remainder, a tie .41 of Q2 and Q4 -> the earlier, Q2:
    #   Q1 176.47, Q2 235.30, Q3 352.94, Q4 235.29 (naive rounding would give 999.99).
    assert _largest_remainder(100000, [3000, 4000, 6000, 4000]) == [17647, 23530, 35294, 23529]
    # months by the 2023 months of each quarter:
    #   Q1 17647 over 1000/1000/1000: 5882.33 each -> floors 17646, +1 to January: 58.83 58.82 58.82
    #   Q2 23530 over 1000/2000/1000: 5882.5, 11765, 5882.5 -> +1 to April (tie with June): 58.83 117.65 58.82
    #   Q3 35294 over 2000/2000/2000: 11764.67 each -> +1 to July and August: 117.65 117.65 117.64
    #   Q4 23529 over 1000/1000/2000: 5882.25, 5882.25, 11764.5 -> +1 to December: 58.82 58.82 117.65
    expected = [5883, 5882, 5882, 5883, 11765, 5882, 11765, 11765, 11764, 5882, 5882, 11765]
    assert _cents(plan, MONTHS_2024, "company", None) == expected
    assert sum(expected) == 100000
    rows = plan[(plan["scope"] == "company") & (plan["metric"] == "bookings")
                & (plan["fiscal_year_start"].astype(str) == "2024-01-01")]
    assert set(rows["derivation"]) == {"from_year"} and set(rows["source_target_id"]) == {"T24"}
    assert set(rows["source_period_type"]) == {"year"}
    # months after the as-of date are planned too (a year target covers the whole year)
    assert rows["is_after_as_of"].sum() == 6  # Jul..Dec
    assert float(rows["target_value"].sum()) == pytest.approx(1000.00, abs=1e-9)


def test_new_customers_split_in_whole_units(run_a):
    plan = run_a["plan"]
    # 10 customers over 3000 | 4000 | 6000 | 4000: raw 1.76 | 2.35 | 3.53 | 2.35 -> floors 1 2 3 2 = 8,
    # +1 to Q1 (.76) and Q3 (.53): 2 | 2 | 4 | 2.
    # Q1 2 over equal weights: .67 each -> Jan 1, Feb 1, Mar 0;
    # Q2 2 over 1000/2000/1000: .5, 1, .5 -> floors 0 1 0, +1 to April: 1 1 0;
    # Q3 4 over equal weights: 1.33 each -> +1 to July: 2 1 1; Q4 2 over 1/1/2: .5 .5 1 -> +1 to Oct: 1 0 1.
    got = [int(v) for v in _cents(plan, MONTHS_2024, "company", None, "new_customers")]
    assert got == [100, 100, 0, 100, 100, 0, 200, 100, 100, 100, 0, 100]
    assert sum(got) == 1000


def test_equal_split_when_prior_year_lacks_a_month(run_a):
    plan = run_a["plan"]
    # FY2023 100.00: 2022 has no July bookings -> equal: 25.00 per quarter, 2500 cents / 3 months =
    # 833.33 -> +1 cent to the first month of each quarter: 8.34 8.33 8.33 (a share split over 2022's
    # 11 months would have given Q3 less than the other quarters).
    months = [f"2023-{m:02d}-01" for m in range(1, 13)]
    assert _cents(plan, months, "company", None) == [834, 833, 833] * 4
    assert set(plan[plan["source_target_id"] == "T23"]["derivation"]) == {"from_year"}


def test_explicit_quarter_overrides_the_year_split(run_a):
    plan = run_a["plan"]
    # t2: year 1000.00 with an explicit Q3 500.00. The rest, 500.00 = 50000 cents, goes to Q1, Q2, Q4
    # by 3000 | 4000 | 4000 (of 11000): 13636.36 | 18181.82 | 18181.82 -> floors sum 49998,
    # +1 to Q2 and Q4: Q1 136.36, Q2 181.82, Q3 500.00 (explicit), Q4 181.82 -> 1000.00.
    assert _largest_remainder(50000, [3000, 4000, 4000]) == [13636, 18182, 18182]
    # Q1 13636 / 3 = 4545.33 -> 45.46 45.45 45.45; Q2 18182 over 1/2/1: 4545.5 9091 4545.5 -> 45.46 90.91 45.45
    # Q3 50000 / 3 = 16666.67 -> 166.67 166.67 166.66;  Q4 18182 over 1/1/2: 4545.5 4545.5 9091 -> 45.46 45.45 90.91
    expected = [4546, 4545, 4545, 4546, 9091, 4545, 16667, 16667, 16666, 4546, 4545, 9091]
    assert _cents(plan, MONTHS_2024, "team", "t2") == expected
    assert sum(expected) == 100000
    jul = _plan(plan, "2024-07-01", "team", "t2")
    assert jul["derivation"] == "from_quarter" and jul["source_target_id"] == "TT2Q3"
    apr = _plan(plan, "2024-04-01", "team", "t2")
    assert apr["derivation"] == "from_year" and apr["source_target_id"] == "TT2"
    # r4's explicit Q1 100.00 over equal 2023 months: 33.34 33.33 33.33 (naive rounding: 99.99)
    r4 = _cents(plan, ["2024-01-01", "2024-02-01", "2024-03-01"], "rep", "r4")
    assert r4 == [3334, 3333, 3333]
    assert set(plan[plan["source_target_id"] == "R4Q1"]["derivation"]) == {"from_quarter"}


def test_team_target_split_over_reps_employed_on_the_first_day(run_a):
    plan = run_a["plan"]
    # t1 year 1700.00 by 3000|4000|6000|4000 is exact: 300 | 400 | 600 | 400; months
    # Jan-Mar 100 each, Apr 100, May 200, Jun 100, Jul-Sep 200 each, Oct 100, Nov 100, Dec 200.
    assert _cents(plan, MONTHS_2024, "team", "t1") == [
        10000, 10000, 10000, 10000, 20000, 10000, 20000, 20000, 20000, 10000, 10000, 20000]
    split = plan[(plan["derivation"] == "from_team") & (plan["source_scope_id"] == "t1")]
    by = {(str(r.month_start)[:10], r.scope_id): round(float(r.target_value) * 100) for r in split.itertuples()}
    # Jan 1 and Feb 1: r1, r2 employed (r3 hired Feb 10, m1 is a manager) -> 50.00 each
    assert {k: v for k, v in by.items() if k[0] in ("2024-01-01", "2024-02-01")} == {
        ("2024-01-01", "r1"): 5000, ("2024-01-01", "r2"): 5000,
        ("2024-02-01", "r1"): 5000, ("2024-02-01", "r2"): 5000}
    # Mar 1: r1, r2 (leaves Mar 15), r3 -> 100.00 / 3: 33.34 to the first rep_id, 33.33, 33.33
    assert {k: v for k, v in by.items() if k[0] == "2024-03-01"} == {
        ("2024-03-01", "r1"): 3334, ("2024-03-01", "r2"): 3333, ("2024-03-01", "r3"): 3333}
    # from April on r2 has left: r1 and r3 halve the team month
    team_cents_by_month = [10000, 20000, 10000, 20000, 20000, 20000, 10000, 10000, 20000]
    for month, team_cents in zip(MONTHS_2024[3:], team_cents_by_month, strict=True):
        assert {k: v for k, v in by.items() if k[0] == month} == {
            (month, "r1"): team_cents // 2, (month, "r3"): team_cents // 2}
    assert not any(rep == "m1" for _, rep in by)
    assert set(split["team_id"]) == {"t1"} and set(split["source_target_id"]) == {"TT1"}
    # t2: r4 has Q1 targets -> no split Jan-Mar; Apr 45.46 -> 22.73 + 22.73; May 90.91 -> 45.46 + 45.45
    t2 = plan[(plan["derivation"] == "from_team") & (plan["source_scope_id"] == "t2")]
    assert sorted(str(m)[:10] for m in t2["month_start"].unique()) == MONTHS_2024[3:]
    assert _cents(plan, ["2024-04-01", "2024-05-01", "2024-06-01"], "rep", "r4") == [2273, 4546, 2273]
    assert _cents(plan, ["2024-04-01", "2024-05-01", "2024-06-01"], "rep", "r5") == [2273, 4545, 2272]
    # every team month split sums exactly to the team month
    sums = split.groupby("month_start")["target_value"].sum().astype(float).round(2).tolist()
    assert sums == [100.0, 100.0, 100.0, 100.0, 200.0, 100.0, 200.0, 200.0, 200.0, 100.0, 100.0, 200.0]


def test_foreign_currency_target_converted_at_period_start(run_a):
    plan = run_a["plan"]
    # 10 USD dated 2024-05-01: the rate on or before May 1 is 2024-01-01's 7.0 (not May 2's 7.5) -> 70.00
    row = _plan(plan, "2024-05-01", "rep", "r6")
    assert float(row["target_value"]) == pytest.approx(70.00) and row["derivation"] == "explicit"
    assert row["currency"] == "CNY"


# --------------------------------------------------------------------------- attainment
def test_company_attainment_and_projection(run_a):
    att = run_a["att"]
    # January: actual 100 (r1) + 33.34 (r4) = 133.34 vs target 58.83
    jan = _row(att, "month", "2024-01-01")
    assert float(jan["bookings_actual"]) == pytest.approx(133.34)
    assert float(jan["bookings_target"]) == pytest.approx(58.83)
    assert jan["bookings_attainment"] == pytest.approx(133.34 / 58.83)
    # May month, fiscal year to date: actual Jan..May 133.34 + 35 + 106.68 + 190.90 + 100 = 565.92,
    # target 176.47 (Q1) + 58.83 + 117.65 = 352.95
    may = _row(att, "month", "2024-05-01")
    assert float(may["bookings_actual_to_date"]) == pytest.approx(565.92)
    assert float(may["bookings_target_to_date"]) == pytest.approx(352.95)
    assert may["bookings_attainment_to_date"] == pytest.approx(565.92 / 352.95)
    assert pd.isna(may["bookings_projected"])  # complete period: no projection
    # June is partial (15 of 30 days): actual 30 (the June 20 order is after the as-of date)
    jun = _row(att, "month", "2024-06-01")
    assert bool(jun["is_partial"]) and str(jun["period_end"])[:10] == AS_OF
    assert (jun["days_elapsed"], jun["days_in_period"]) == (15, 30)
    assert float(jun["bookings_actual"]) == pytest.approx(30.0)
    assert jun["bookings_projected"] == pytest.approx(30.0 / 15 * 30)
    assert jun["bookings_projected_attainment"] == pytest.approx(60.0 / 58.82)
    # Q2 partial: Apr 1..Jun 15 = 76 of 91 days, actual 190.90 + 100 + 30 = 320.90, target 235.30
    q2 = _row(att, "quarter", "2024-04-01")
    assert (q2["days_elapsed"], q2["days_in_period"]) == (76, 91)
    assert q2["bookings_attainment"] == pytest.approx(320.90 / 235.30)
    assert q2["bookings_projected"] == pytest.approx(320.90 / 76 * 91)
    # year (partial): the full-year target 1000.00; to date: Jan..Jun months 176.47 + 235.30 = 411.77
    fy = _row(att, "year", "2024-01-01")
    assert float(fy["bookings_actual"]) == pytest.approx(595.92)
    assert float(fy["bookings_target"]) == pytest.approx(1000.00)
    assert fy["bookings_attainment"] == pytest.approx(0.59592)
    assert float(fy["bookings_target_to_date"]) == pytest.approx(411.77)
    assert fy["bookings_attainment_to_date"] == pytest.approx(595.92 / 411.77)
    assert fy["bookings_projected"] == pytest.approx(595.92 / 167 * 366)  # Jan 1..Jun 15 = 167 of 366 days


def test_new_customer_attainment_by_owner_rep(run_a):
    att = run_a["att"]
    # company new customers: Jan cA cC = 2 vs 1; Mar cB cD = 2 vs a 0 target -> NULL attainment
    jan = _row(att, "month", "2024-01-01")
    assert jan["new_customers_actual"] == 2 and jan["new_customers_attainment"] == pytest.approx(2.0)
    mar = _row(att, "month", "2024-03-01")
    assert mar["new_customers_actual"] == 2 and float(mar["new_customers_target"]) == 0
    assert pd.isna(mar["new_customers_attainment"])
    # year: 7 acquired (cA cC cB cD cE cF cG) vs 10; May to date: 6 / (1 + 1 + 0 + 1 + 1) = 1.5
    assert _row(att, "year", "2024-01-01")["new_customers_attainment"] == pytest.approx(0.7)
    assert _row(att, "month", "2024-05-01")["new_customers_attainment_to_date"] == pytest.approx(1.5)
    # cF (May) is owned by r1 although r3 signed its order: it counts for r1, not r3
    assert _row(att, "month", "2024-05-01", "rep", "r1")["new_customers_actual"] == 1
    assert _row(att, "month", "2024-05-01", "rep", "r3")["new_customers_actual"] == 0
    assert float(_row(att, "month", "2024-05-01", "rep", "r3")["bookings_actual"]) == pytest.approx(100.0)


def test_to_date_attainment_is_a_ratio_of_sums(run_a):
    att = run_a["att"]
    # r1 (t1 shares): targets Jan 50, Feb 50, Mar 33.34; actuals 100, 25, 66.68 -> monthly 200 %, 50 %, 200 %
    # (mean 150 %). To date at March and the Q1 attainment: 191.68 / 133.34 = 143.75 %.
    r1 = {m: _row(att, "month", m, "rep", "r1") for m in ("2024-01-01", "2024-02-01", "2024-03-01")}
    assert [r["bookings_attainment"] for r in r1.values()] == pytest.approx([2.0, 0.5, 2.0])
    mar = r1["2024-03-01"]
    assert float(mar["bookings_actual_to_date"]) == pytest.approx(191.68)
    assert float(mar["bookings_target_to_date"]) == pytest.approx(133.34)
    assert mar["bookings_attainment_to_date"] == pytest.approx(191.68 / 133.34)
    assert mar["bookings_attainment_to_date"] != pytest.approx(1.5)
    q1 = _row(att, "quarter", "2024-01-01", "rep", "r1")
    assert q1["bookings_attainment"] == pytest.approx(191.68 / 133.34)
    # team t1 uses the team's own plan (Q1 300.00): actual r1 191.68 + r3 40 = 231.68
    assert _row(att, "quarter", "2024-01-01", "team", "t1")["bookings_attainment"] == pytest.approx(231.68 / 300)
    # no target at all -> NULL target and attainment, never 0 (r6 in January)
    r6 = _row(att, "month", "2024-01-01", "rep", "r6")
    assert pd.isna(r6["bookings_target"]) and pd.isna(r6["bookings_attainment"])
    keys = att[["period_type", "period_start", "slice", "slice_value"]].astype(str)
    assert not keys.duplicated().any()


# --------------------------------------------------------------------------- scorecard
def test_scorecard_ranks_with_a_tie(run_a):
    sc = run_a["sc"]
    apr = sc[(sc["period_type"] == "month") & (sc["period_start"].astype(str) == "2024-04-01")]
    reps = apr[apr["slice"] == "rep"].set_index("slice_value")
    # April targets: r1 50, r3 50 (t1 halves), r4 22.73, r5 22.73 (t2 halves); r6 and m1 none.
    # actuals: r1 50, r3 50 (both 100 %: a tie), r5 90.90 (399.9 %), r4 0.
    assert reps.loc["r1", "attainment"] == pytest.approx(1.0) and reps.loc["r3", "attainment"] == pytest.approx(1.0)
    assert reps.loc["r5", "attainment"] == pytest.approx(90.90 / 22.73)
    # in the company: r5 1, r1 and r3 share 2, r4 is 4 (RANK); no target -> not ranked
    ranks_company = {k: (None if pd.isna(v) else int(v)) for k, v in reps["rank_in_company"].items()}
    assert ranks_company == {"r1": 2, "r3": 2, "r4": 4, "r5": 1, "r6": None, "m1": None}
    ranks_team = {k: (None if pd.isna(v) else int(v)) for k, v in reps["rank_in_team"].items()}
    assert ranks_team == {"r1": 1, "r3": 1, "m1": None, "r5": 1, "r4": 2, "r6": None}
    # r2 left on Mar 15 and did nothing in April: no April row; a May row for the May 3 activity
    assert "r2" not in reps.index
    may = sc[(sc["period_type"] == "month") & (sc["period_start"].astype(str) == "2024-05-01") & (sc["slice"] == "rep")]
    assert "r2" in set(may["slice_value"])
    assert int(may.set_index("slice_value").loc["r2", "activities_logged"]) == 1
    # team rows sum their members: t1 = r1 + r3 + m1: 100 vs 100; t2 = 90.90 vs 45.46; t3 no target
    teams = apr[apr["slice"] == "team"].set_index("slice_value")
    assert float(teams.loc["t1", "bookings"]) == pytest.approx(100.0)
    assert float(teams.loc["t1", "bookings_target"]) == pytest.approx(100.0)
    assert int(teams.loc["t1", "reps_count"]) == 3
    assert teams.loc["t2", "attainment"] == pytest.approx(90.90 / 45.46)
    assert {k: (None if pd.isna(v) else int(v)) for k, v in teams["rank_in_company"].items()} == {
        "t1": 2, "t2": 1, "t3": None}
    # company = all members: 190.90 vs 50 + 50 + 22.73 + 22.73 = 145.46
    company = apr[apr["slice"] == "company"].iloc[0]
    assert float(company["bookings"]) == pytest.approx(190.90)
    assert float(company["bookings_target"]) == pytest.approx(145.46)
    assert company["attainment"] == pytest.approx(190.90 / 145.46)


def test_scorecard_opportunities_and_activities(run_a):
    sc = run_a["sc"]
    apr = sc[(sc["period_type"] == "month") & (sc["period_start"].astype(str) == "2024-04-01")]
    r1 = apr[(apr["slice"] == "rep") & (apr["slice_value"] == "r1")].iloc[0]
    # won p1 100 (35 days), p2 300 (10 days), p3 200 (-10 days: invalid), lost p4
    assert (r1["won_opportunities"], r1["lost_opportunities"]) == (3, 1)
    assert r1["win_rate"] == pytest.approx(0.75)
    assert float(r1["won_amount"]) == pytest.approx(600.0)
    assert r1["avg_won_deal_size"] == pytest.approx(200.0)
    assert r1["median_signing_days"] == pytest.approx((35 + 10) / 2)
    assert (r1["signing_deals"], r1["signing_invalid_count"]) == (2, 1)
    assert r1["activities_logged"] == 2
    # company: wins 3, losses 1 (r1) + 1 (r4) -> 3 / 5; activities r1 2 + m1 1
    company = apr[apr["slice"] == "company"].iloc[0]
    assert company["win_rate"] == pytest.approx(0.6)
    assert company["activities_logged"] == 3
    assert company["median_signing_days"] == pytest.approx(22.5)
    # quarter rows recompute from the quarter's own events (Q2 r1 = the April numbers)
    q2 = sc[(sc["period_type"] == "quarter") & (sc["period_start"].astype(str) == "2024-04-01")
            & (sc["slice"] == "rep") & (sc["slice_value"] == "r1")].iloc[0]
    assert q2["win_rate"] == pytest.approx(0.75) and q2["median_signing_days"] == pytest.approx(22.5)
    # Q2 r1 bookings 50 + 30 = 80 vs Apr 50 + May 100 + Jun 50 = 200
    assert q2["attainment"] == pytest.approx(80 / 200)


# --------------------------------------------------------------------------- run B: fiscal year from April
REPS_B = [_rep("q1", "tq")]
CUSTOMERS_B = [_customer("k1", "q1")]
# FY starting 2023-04: Apr 1000, May 1000, Jun 2000, then 1000 a month through Mar 2024
_FY23 = [("2023-04-10", 1000), ("2023-05-10", 1000), ("2023-06-10", 2000)] + [
    (f"{y}-{m:02d}-10", 1000) for y, m in
    [(2023, 7), (2023, 8), (2023, 9), (2023, 10), (2023, 11), (2023, 12), (2024, 1), (2024, 2), (2024, 3)]]
ORDERS_B = [_order(f"f{i}", "k1", "q1", day, str(a)) for i, (day, a) in enumerate(_FY23)] + [
    _order("g1", "k1", "q1", "2024-04-10", "150"),
    _order("g2", "k1", "q1", "2024-05-10", "50"),
]
TARGETS_B = [
    # the fiscal year Apr 2024 - Mar 2025: 1300.00 by the previous fiscal year's quarters
    # 4000 (Apr-Jun) | 3000 | 3000 | 3000 -> 400 | 300 | 300 | 300
    _target("FY", "year", "2024-04-01", "company", None, "bookings", "1300.00"),
    # fiscal Q4 of the year starting 2023-04 (Jan-Mar 2024): prior fiscal year has no bookings -> equal
    _target("FQ", "quarter", "2024-01-01", "company", None, "new_customers", "3"),
]


@pytest.fixture(scope="module")
def run_b(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("targets_b")
    landing = tmp / "landing"
    write_csv(landing / "reps.csv", "reps", REPS_B)
    write_csv(landing / "customers.csv", "customers", CUSTOMERS_B)
    write_csv(landing / "orders.csv", "orders", ORDERS_B)
    write_csv(landing / "targets.csv", "targets", TARGETS_B)
    result, reporting = run_refresh(tmp, landing, AS_OF, FISCAL_YEAR_START_MONTH="4")
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return {
        "plan": query(reporting, "select * from kpi_target_plan"),
        "att": query(reporting, "select * from kpi_attainment"),
    }


def test_fiscal_year_starting_in_april(run_b):
    plan, att = run_b["plan"], run_b["att"]
    months = [f"2024-{m:02d}-01" for m in range(4, 13)] + [f"2025-{m:02d}-01" for m in range(1, 4)]
    # Q1 (Apr-Jun) 400.00 by Apr 1000, May 1000, Jun 2000 -> 100 100 200; other quarters 100 a month
    assert _cents(plan, months, "company", None) == [10000, 10000, 20000] + [10000] * 9
    fy = plan[plan["source_target_id"] == "FY"]
    assert set(fy["fiscal_year_start"].astype(str).str[:10]) == {"2024-04-01"}
    assert sorted(set(fy["fiscal_quarter_start"].astype(str).str[:10])) == [
        "2024-04-01", "2024-07-01", "2024-10-01", "2025-01-01"]
    # the Jan-Mar 2024 quarter of new customers: equal, 1 a month
    assert [int(v) for v in _cents(plan, ["2024-01-01", "2024-02-01", "2024-03-01"], "company", None,
                                   "new_customers")] == [100, 100, 100]
    # attainment: quarters start in Apr / Jul / Oct / Jan; the fiscal year 2024-04-01 is partial
    q = att[(att["period_type"] == "quarter") & (att["slice"] == "company")]
    assert {str(s)[5:10] for s in q["period_start"]} <= {"04-01", "07-01", "10-01", "01-01"}
    fq = _row(att, "quarter", "2024-04-01")
    assert bool(fq["is_partial"]) and float(fq["bookings_actual"]) == pytest.approx(200.0)
    assert float(fq["bookings_target"]) == pytest.approx(400.0)
    year = _row(att, "year", "2024-04-01")
    # Apr 1 2024 .. Jun 15 = 76 of 365 days (Apr 2024 - Mar 2025)
    assert (year["days_elapsed"], year["days_in_period"]) == (76, 365)
    assert float(year["bookings_target"]) == pytest.approx(1300.0)
    assert float(year["bookings_target_to_date"]) == pytest.approx(400.0)
    assert year["bookings_attainment_to_date"] == pytest.approx(0.5)
    assert year["bookings_projected"] == pytest.approx(200 / 76 * 365)
    # the fiscal year to date restarts in April: May = (150 + 50) / (100 + 100); a calendar-year
    # to date would have added Jan-Mar 2024's 3000
    may = _row(att, "month", "2024-05-01")
    assert float(may["bookings_actual_to_date"]) == pytest.approx(200.0)
    assert may["bookings_attainment_to_date"] == pytest.approx(1.0)
    # the previous fiscal year (Apr 2023 - Mar 2024) is complete; Jan 2024 new customers 0 vs 1
    prev = _row(att, "year", "2023-04-01")
    assert not bool(prev["is_partial"]) and float(prev["bookings_actual"]) == pytest.approx(13000.0)
    assert _row(att, "month", "2024-01-01")["new_customers_attainment"] == pytest.approx(0.0)
