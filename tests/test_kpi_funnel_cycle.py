"""kpi_funnel, kpi_win_rate and kpi_sales_cycle on a small hand-built CRM, values worked by hand.

One run (as of 2024-06-30, fiscal year starting in April, funnel maturity 30 days) over data
built to hit the rules of metrics.md "Sales cycle" and "Funnel conversion":
- stage skipping: L3 is won with neither first_contacted_at nor qualified_at, L2 is won without
  qualified_at: both count as contacted and qualified;
- a lead created 2024-01-31 16:30 UTC = 2024-02-01 00:30 in Asia/Shanghai is a February cohort
  (L2), an opportunity closed 2024-03-31 17:00 UTC = April 1 local is an April close (OP6);
- negative durations (response L4, signing OP5, delivery o6) are excluded from the statistics and
  counted in *_invalid_count; a deleted lead (L7) and a cancelled order (o7) count nowhere;
- medians and p90 are continuous quantiles worked by hand, and quarter / year statistics come from
  their own durations (never from the monthly rows);
- win rate by count and by value with a USD amount converted at the latest earlier fx rate;
- zero denominators give NULL rates; immature cohorts are flagged with funnel_maturity_days = 30;
- fiscal_year_start_month = 4: fiscal years run April - March (fiscal quarters then coincide with
  calendar quarters, so the year rows are where the setting shows).
All times below are UTC unless marked local (Asia/Shanghai = UTC+8).
"""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import query, run_refresh, write_csv

AS_OF = "2024-06-30"


def _rep(rep_id, team, role):
    return {"rep_id": rep_id, "rep_name": rep_id.upper(), "email": f"{rep_id}@example.com", "team_id": team,
            "team_name": team.upper(), "region": "east", "role": role, "hired_on": "2023-01-01",
            "updated_at": "2023-01-01T00:00:00Z"}


REPS = [_rep("r1", "t1", "sdr"), _rep("r2", "t1", "rep"), _rep("r3", "t2", "rep")]

CUSTOMERS = [
    {"customer_id": "c1", "customer_name": "C1", "segment": "smb", "industry": "retail", "region": "east",
     "country": "CN", "acquisition_channel": "paid_search", "owner_rep_id": "r2",
     "created_at": "2024-01-01T00:00:00Z", "email": "c1@example.com", "phone": "1",
     "updated_at": "2024-01-01T00:00:00Z", "is_deleted": "false"},
]


def _lead(lead_id, created, channel, owner, contacted=None, qualified=None, opp=None, deleted="false"):
    return {"lead_id": lead_id, "created_at": created, "channel": channel, "owner_rep_id": owner,
            "first_contacted_at": contacted, "qualified_at": qualified, "converted_opportunity_id": opp,
            "converted_customer_id": "c1" if opp else None, "email": f"{lead_id}@example.com",
            "updated_at": created, "is_deleted": deleted}


LEADS = [
    # January 2024 cohort (local creation day)
    _lead("L1", "2024-01-10T02:00:00Z", "paid_search", "r1", contacted="2024-01-10T05:00:00Z",  # 3 h
          qualified="2024-01-12T02:00:00Z", opp="OP1"),
    _lead("L3", "2024-01-15T03:00:00Z", "social", "r2", opp="OP3"),  # won, no contact / qualification
    _lead("L4", "2024-01-20T03:00:00Z", "paid_search", "r1", contacted="2024-01-19T03:00:00Z"),  # -1 day
    _lead("L5", "2024-01-25T03:00:00Z", "organic", "r2"),
    _lead("L6", "2024-01-26T02:00:00Z", "paid_search", "r1", contacted="2024-02-02T02:00:00Z",  # 7 days
          qualified="2024-02-10T02:00:00Z", opp="OP4"),
    _lead("L10", "2024-01-02T03:00:00Z", "referral", "r2", contacted="2024-01-03T03:00:00Z"),  # 1 day
    _lead("L7", "2024-01-05T03:00:00Z", "paid_search", "r1", contacted="2024-01-06T03:00:00Z",
          deleted="true"),
    # 2024-02-01 00:30 local: February cohort; won without qualified_at; contacted 1 day later
    _lead("L2", "2024-01-31T16:30:00Z", "social", "r1", contacted="2024-02-01T16:30:00Z", opp="OP2"),
    # May and June cohorts
    _lead("L9", "2024-05-15T03:00:00Z", "organic", "r2"),
    _lead("L8", "2024-06-10T03:00:00Z", "paid_search", "r3"),
]


def _opp(opp_id, owner, created, closed, won, amount, currency="CNY", lead=None, is_closed="true"):
    return {"opportunity_id": opp_id, "customer_id": "c1", "lead_id": lead, "owner_rep_id": owner,
            "created_at": created, "stage": "closed" if is_closed == "true" else "proposal",
            "amount": amount, "currency": currency, "expected_close_on": "2024-03-01",
            "closed_at": closed, "is_closed": is_closed, "is_won": won,
            "updated_at": closed or created, "is_deleted": "false"}


OPPORTUNITIES = [
    # signing from L1's first contact 2024-01-10 05:00 to 2024-02-05 05:00 = 26 days; 100 USD x 7.2
    _opp("OP1", "r2", "2024-01-12T02:00:00Z", "2024-02-05T05:00:00Z", "true", "100", "USD", lead="L1"),
    # from L2's first contact 2024-02-01 16:30 to 2024-02-11 16:30 = 10 days (no lead_id: found
    # through L2.converted_opportunity_id)
    _opp("OP2", "r2", "2024-02-02T00:00:00Z", "2024-02-11T16:30:00Z", "true", "500"),
    # L3 never contacted: from the opportunity's creation 2024-01-20 03:00 to 2024-02-04 03:00 = 15 days
    _opp("OP3", "r3", "2024-01-20T03:00:00Z", "2024-02-04T03:00:00Z", "true", "2000", lead="L3"),
    # lost in February
    _opp("OP4", "r2", "2024-02-10T02:00:00Z", "2024-02-20T02:00:00Z", "false", "700", lead="L6"),
    # won, closed two days before its creation: signing -2 days, invalid
    _opp("OP5", "r3", "2024-02-20T02:00:00Z", "2024-02-18T02:00:00Z", "true", "300"),
    # lost 2024-03-31 17:00 UTC = 2024-04-01 01:00 local: an April close (fiscal year 2024-04-01)
    _opp("OP6", "r3", "2024-03-01T02:00:00Z", "2024-03-31T17:00:00Z", "false", "400"),
    # open; and closed after the as-of date (still open as of 2024-06-30)
    _opp("OP7", "r3", "2024-03-01T02:00:00Z", None, "false", "900", is_closed="false"),
    _opp("OP8", "r3", "2024-03-01T02:00:00Z", "2024-07-05T02:00:00Z", "true", "900"),
]


def _order(order_id, opp, rep, signed, status="active"):
    return {"order_id": order_id, "customer_id": "c1", "opportunity_id": opp, "rep_id": rep,
            "signed_at": signed, "amount": "100", "cost": "50", "currency": "CNY", "status": status,
            "updated_at": signed, "is_deleted": "false"}


SIGNED = "2024-03-01T02:00:00Z"
ORDERS = [
    _order("o1", "OP1", "r2", SIGNED),
    _order("o2", "OP2", "r2", SIGNED),
    _order("o3", None, "r2", SIGNED),
    _order("o4", None, "r2", SIGNED),
    _order("o5", None, "r3", SIGNED),
    _order("o6", None, "r2", "2024-03-05T02:00:00Z"),
    _order("o7", None, "r2", SIGNED, status="cancelled"),
]


def _delivery(delivery_id, order_id, at, status="delivered"):
    return {"delivery_id": delivery_id, "order_id": order_id, "delivered_at": at, "status": status}


DELIVERIES = [
    _delivery("d1", "o1", "2024-03-02T02:00:00Z"),  # +1 day
    _delivery("d1p", "o1", "2024-03-20T02:00:00Z", status="partial"),  # not 'delivered': ignored
    _delivery("d2a", "o2", "2024-03-02T02:00:00Z"),
    _delivery("d2b", "o2", "2024-03-03T02:00:00Z"),  # latest delivered: +2 days
    _delivery("d3", "o3", "2024-03-04T02:00:00Z"),  # +3
    _delivery("d4", "o4", "2024-03-05T02:00:00Z"),  # +4
    _delivery("d5", "o5", "2024-03-11T02:00:00Z"),  # +10 (rep r3)
    _delivery("d6", "o6", "2024-03-04T02:00:00Z"),  # signed 03-05: -1 day, invalid
    _delivery("d7", "o7", "2024-03-02T02:00:00Z"),  # cancelled order: nowhere
]

FX = [
    {"rate_date": "2024-01-01", "currency": "USD", "rate_to_reporting": "7.0"},
    {"rate_date": "2024-02-01", "currency": "USD", "rate_to_reporting": "7.2"},
]


@pytest.fixture(scope="module")
def marts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("funnel_cycle")
    landing = tmp / "landing"
    write_csv(landing / "reps.csv", "reps", REPS)
    write_csv(landing / "customers.csv", "customers", CUSTOMERS)
    write_csv(landing / "leads.csv", "leads", LEADS)
    write_csv(landing / "opportunities.csv", "opportunities", OPPORTUNITIES)
    write_csv(landing / "orders.csv", "orders", ORDERS)
    write_csv(landing / "deliveries.csv", "deliveries", DELIVERIES)
    write_csv(landing / "fx_rates.csv", "fx_rates", FX)
    result, reporting = run_refresh(tmp, landing, AS_OF, FISCAL_YEAR_START_MONTH="4",
                                    KPI__FUNNEL_MATURITY_DAYS="30")
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    marts = {name: query(reporting, f"select * from {name}")
             for name in ("kpi_funnel", "kpi_win_rate", "kpi_sales_cycle")}
    return {**marts, "build_db": tmp / "warehouse" / "build.duckdb"}


def _row(df, grain, start, slice_="company", value=None):
    sel = df[(df["period_type"] == grain) & (df["period_start"].astype(str).str[:10] == start)
             & (df["slice"] == slice_)]
    sel = sel[sel["slice_value"].isna()] if value is None else sel[sel["slice_value"] == value]
    assert len(sel) == 1, f"expected one {grain} {start} {slice_}={value} row, got {len(sel)}"
    return sel.iloc[0]


def _counts(row, cols):
    return tuple(int(row[c]) for c in cols)


STAGES = ["leads", "contacted", "qualified", "won"]
VOLUMES = ["leads_created", "first_contacts_made", "qualifications", "wins"]


# --------------------------------------------------------------------------- funnel
def test_funnel_cohort_with_stage_skipping(marts):
    f = marts["kpi_funnel"]
    jan = _row(f, "month", "2024-01-01")
    # January cohort: L1, L3, L4, L5, L6, L10 (L7 deleted, L2 is February local)
    # contacted: L1, L4, L6, L10 with first_contacted_at + L3 (won: skipped stages) = 5
    # qualified: L1, L6 with qualified_at + L3 (won) = 3; won: L1 (OP1), L3 (OP3) = 2 (OP4 of L6 lost)
    assert _counts(jan, STAGES) == (6, 5, 3, 2)
    assert jan["lead_to_contact_rate"] == pytest.approx(5 / 6)
    assert jan["contact_to_qualified_rate"] == pytest.approx(3 / 5)
    assert jan["qualified_to_won_rate"] == pytest.approx(2 / 3)
    assert jan["lead_to_won_rate"] == pytest.approx(2 / 6)
    # February cohort: L2, won without qualified_at -> contacted and qualified
    feb = _row(f, "month", "2024-02-01")
    assert _counts(feb, STAGES) == (1, 1, 1, 1)
    # the quarter is its own cohort (Jan + Feb + Mar leads), not an average of months
    q1 = _row(f, "quarter", "2024-01-01")
    assert _counts(q1, STAGES) == (7, 6, 4, 3)
    assert q1["lead_to_won_rate"] == pytest.approx(3 / 7)


def test_funnel_period_volumes(marts):
    f = marts["kpi_funnel"]
    # January events: created L1 L3 L4 L5 L6 L10; first contacts L10 (01-03), L1 (01-10), L4 (01-19);
    # qualification L1 (01-12); no win
    assert _counts(_row(f, "month", "2024-01-01"), VOLUMES) == (6, 3, 1, 0)
    # February: created L2; first contacts L2 (02-02 00:30 local), L6 (02-02); qualification L6;
    # wins L3 (OP3 02-04), L1 (OP1 02-05), L2 (OP2 02-11)
    assert _counts(_row(f, "month", "2024-02-01"), VOLUMES) == (1, 2, 1, 3)


def test_funnel_slices(marts):
    f = marts["kpi_funnel"]
    # channel paid_search, January: L1 (won), L4 (contacted), L6 (contacted, qualified, lost)
    assert _counts(_row(f, "month", "2024-01-01", "channel", "paid_search"), STAGES) == (3, 3, 2, 1)
    assert _counts(_row(f, "month", "2024-01-01", "channel", "social"), STAGES) == (1, 1, 1, 1)  # L3
    # owner rep r2, January: L3 (won), L5 (nothing), L10 (contacted)
    r2 = _row(f, "month", "2024-01-01", "rep", "r2")
    assert _counts(r2, STAGES) == (3, 2, 1, 1)
    assert r2["qualified_to_won_rate"] == pytest.approx(1.0)
    # team t1 = r1 + r2 owns the whole January cohort
    assert _counts(_row(f, "month", "2024-01-01", "team", "t1"), STAGES) == (6, 5, 3, 2)
    # r3 June: L8 only, not contacted -> contact_to_qualified and qualified_to_won have 0 denominators
    r3 = _row(f, "month", "2024-06-01", "rep", "r3")
    assert _counts(r3, STAGES) == (1, 0, 0, 0)
    assert r3["lead_to_contact_rate"] == 0
    assert pd.isna(r3["contact_to_qualified_rate"]) and pd.isna(r3["qualified_to_won_rate"])


def test_funnel_zero_denominators_and_maturity(marts):
    f = marts["kpi_funnel"]
    # March 2024: no lead created -> all four rates NULL, never 0
    mar = _row(f, "month", "2024-03-01")
    assert _counts(mar, STAGES) == (0, 0, 0, 0)
    for rate in ("lead_to_contact_rate", "contact_to_qualified_rate", "qualified_to_won_rate",
                 "lead_to_won_rate"):
        assert pd.isna(mar[rate])
    # maturity 30 days as of 2024-06-30: May ended 05-31, 30 days before -> mature (with the
    # default 90 it would not be); June ends on the as-of date: complete (not partial) but it ended
    # 0 days before -> immature, published and flagged
    may, jun = _row(f, "month", "2024-05-01"), _row(f, "month", "2024-06-01")
    assert bool(may["is_mature"]) and int(may["leads"]) == 1
    assert not bool(jun["is_mature"]) and not bool(jun["is_partial"]) and int(jun["leads"]) == 1
    assert str(jun["period_end"])[:10] == AS_OF
    assert bool(_row(f, "month", "2024-01-01")["is_mature"])
    # quarter Jan-Mar ended 03-31 (91 days before) -> mature; Apr-Jun is the as-of quarter
    assert bool(_row(f, "quarter", "2024-01-01")["is_mature"])
    assert not bool(_row(f, "quarter", "2024-04-01")["is_mature"])
    # monotone stages and key uniqueness everywhere
    assert ((f["leads"] >= f["contacted"]) & (f["contacted"] >= f["qualified"])
            & (f["qualified"] >= f["won"])).all()
    assert not f[["period_type", "period_start", "slice", "slice_value"]].astype(str).duplicated().any()


def test_funnel_fiscal_year_april(marts):
    f = marts["kpi_funnel"]
    # fiscal years start in April: FY 2023-04-01 .. 2024-03-31 holds the January and February
    # cohorts (7 leads), FY 2024-04-01 .. (as-of) the May and June ones (L9, L8)
    fy24 = _row(f, "year", "2023-04-01")
    assert str(fy24["period_end"])[:10] == "2024-03-31" and bool(fy24["is_mature"])
    assert _counts(fy24, STAGES) == (7, 6, 4, 3)
    fy25 = _row(f, "year", "2024-04-01")
    assert bool(fy25["is_partial"]) and not bool(fy25["is_mature"])
    assert _counts(fy25, STAGES) == (2, 0, 0, 0)
    years = f[f["period_type"] == "year"]["period_start"].astype(str).str[:10]
    assert set(years) == {"2023-04-01", "2024-04-01"}


# --------------------------------------------------------------------------- win rate
def test_win_rate_count_and_value(marts):
    w = marts["kpi_win_rate"]
    # February closes: OP1 won 100 USD x 7.2 (rate of 2024-02-01, the latest on or before 02-05)
    # = 720, OP2 won 500, OP3 won 2000, OP5 won 300, OP4 lost 700
    feb = _row(w, "month", "2024-02-01")
    assert _counts(feb, ["won", "lost", "closed"]) == (4, 1, 5)
    assert feb["win_rate"] == pytest.approx(4 / 5)
    assert float(feb["won_amount"]) == pytest.approx(720 + 500 + 2000 + 300)
    assert float(feb["closed_amount"]) == pytest.approx(3520 + 700)
    assert feb["win_rate_value"] == pytest.approx(3520 / 4220)
    # rep r2 (team t1): OP1 720 won, OP2 500 won, OP4 700 lost
    r2 = _row(w, "month", "2024-02-01", "rep", "r2")
    assert _counts(r2, ["won", "lost"]) == (2, 1) and r2["win_rate"] == pytest.approx(2 / 3)
    assert r2["win_rate_value"] == pytest.approx(1220 / 1920)
    t1 = _row(w, "month", "2024-02-01", "team", "t1")
    assert _counts(t1, ["won", "lost"]) == (2, 1)
    # rep r3 / team t2: OP3 2000 and OP5 300 won
    t2 = _row(w, "month", "2024-02-01", "team", "t2")
    assert _counts(t2, ["won", "lost"]) == (2, 0) and t2["win_rate_value"] == pytest.approx(1.0)
    # March: nothing closed (OP6 closed April 1 local) -> NULL rates, zero amounts
    mar = _row(w, "month", "2024-03-01")
    assert int(mar["closed"]) == 0 and pd.isna(mar["win_rate"]) and pd.isna(mar["win_rate_value"])
    # April (local): OP6 lost 400; OP7 open and OP8 closing after the as-of date are not closed
    apr = _row(w, "month", "2024-04-01")
    assert _counts(apr, ["won", "lost"]) == (0, 1) and apr["win_rate"] == 0
    assert float(apr["closed_amount"]) == pytest.approx(400) and apr["win_rate_value"] == 0
    assert int(w[(w["period_type"] == "month") & (w["slice"] == "company")]["closed"].sum()) == 6


def test_win_rate_fiscal_quarters_and_years(marts):
    w = marts["kpi_win_rate"]
    # FY starting April: OP6 (April 1 local) is in the quarter and the fiscal year starting 2024-04-01
    assert _counts(_row(w, "quarter", "2024-01-01"), ["won", "lost"]) == (4, 1)
    assert _counts(_row(w, "quarter", "2024-04-01"), ["won", "lost"]) == (0, 1)
    assert _counts(_row(w, "year", "2023-04-01"), ["won", "lost"]) == (4, 1)
    fy25 = _row(w, "year", "2024-04-01")
    assert _counts(fy25, ["won", "lost"]) == (0, 1) and bool(fy25["is_partial"])


# --------------------------------------------------------------------------- sales cycle
def test_response_time(marts):
    c = marts["kpi_sales_cycle"]
    # January first contacts: L1 3 h = 0.125 d, L10 1 d; L4 -1 d invalid; L7 deleted
    jan = _row(c, "month", "2024-01-01")
    assert _counts(jan, ["response_time_count", "response_time_invalid_count"]) == (2, 1)
    assert jan["response_time_mean_days"] == pytest.approx((0.125 + 1) / 2)
    assert jan["response_time_median_days"] == pytest.approx(0.5625)
    assert jan["response_time_mean_hours"] == pytest.approx(13.5)  # (3 h + 24 h) / 2
    # p90 of [0.125, 1]: 0.125 + 0.9 x 0.875 = 0.9125
    assert jan["response_time_p90_days"] == pytest.approx(0.9125)
    assert jan["response_time_p90_hours"] == pytest.approx(0.9125 * 24)
    # quarter Jan-Mar: [0.125, 1 (L10), 1 (L2), 7 (L6)] from its own durations:
    # median (1 + 1) / 2 = 1 (the monthly medians are 0.5625 and 4); p90 at 0.9 x 3 = 2.7:
    # 1 + 0.7 x (7 - 1) = 5.2; mean 9.125 / 4
    q1 = _row(c, "quarter", "2024-01-01")
    assert _counts(q1, ["response_time_count", "response_time_invalid_count"]) == (4, 1)
    assert q1["response_time_median_days"] == pytest.approx(1.0)
    assert q1["response_time_p90_days"] == pytest.approx(5.2)
    assert q1["response_time_mean_days"] == pytest.approx(9.125 / 4)
    # lead owner: r1 owns L1 (valid) and L4 (invalid); r2 owns L10
    r1 = _row(c, "month", "2024-01-01", "rep", "r1")
    assert _counts(r1, ["response_time_count", "response_time_invalid_count"]) == (1, 1)
    assert r1["response_time_median_hours"] == pytest.approx(3.0)


def test_signing_time(marts):
    c = marts["kpi_sales_cycle"]
    # February wins: OP1 26 d, OP2 10 d, OP3 15 d; OP5 -2 d invalid
    feb = _row(c, "month", "2024-02-01")
    assert _counts(feb, ["signing_time_count", "signing_time_invalid_count"]) == (3, 1)
    assert feb["signing_time_mean_days"] == pytest.approx(17.0)
    assert feb["signing_time_median_days"] == pytest.approx(15.0)
    # p90 of [10, 15, 26]: position 0.9 x 2 = 1.8 -> 15 + 0.8 x 11 = 23.8
    assert feb["signing_time_p90_days"] == pytest.approx(23.8)
    # opportunity owner: r2 has OP1, OP2; r3 has OP3 and the invalid OP5; team t2 = r3
    r2 = _row(c, "month", "2024-02-01", "rep", "r2")
    assert r2["signing_time_median_days"] == pytest.approx(18.0) and int(r2["signing_time_count"]) == 2
    t2 = _row(c, "month", "2024-02-01", "team", "t2")
    assert _counts(t2, ["signing_time_count", "signing_time_invalid_count"]) == (1, 1)
    assert t2["signing_time_mean_days"] == pytest.approx(15.0)


def test_delivery_time_median_and_p90_by_hand(marts):
    c = marts["kpi_sales_cycle"]
    # March deliveries of live orders: o1 1, o2 2 (latest delivered), o3 3, o4 4, o5 10; o6 -1 invalid;
    # o7 cancelled
    mar = _row(c, "month", "2024-03-01")
    assert _counts(mar, ["delivery_time_count", "delivery_time_invalid_count"]) == (5, 1)
    assert mar["delivery_time_mean_days"] == pytest.approx(4.0)
    assert mar["delivery_time_median_days"] == pytest.approx(3.0)
    # p90 of [1, 2, 3, 4, 10]: position 0.9 x 4 = 3.6 -> 4 + 0.6 x (10 - 4) = 7.6
    assert mar["delivery_time_p90_days"] == pytest.approx(7.6)
    # order rep r2: [1, 2, 3, 4] + o6 invalid -> median 2.5, p90 3 + 0.7 x 1 = 3.7
    r2 = _row(c, "month", "2024-03-01", "rep", "r2")
    assert _counts(r2, ["delivery_time_count", "delivery_time_invalid_count"]) == (4, 1)
    assert r2["delivery_time_median_days"] == pytest.approx(2.5)
    assert r2["delivery_time_p90_days"] == pytest.approx(3.7)
    r3 = _row(c, "month", "2024-03-01", "rep", "r3")
    assert int(r3["delivery_time_count"]) == 1 and r3["delivery_time_p90_days"] == pytest.approx(10.0)


def test_lead_to_cash(marts):
    c = marts["kpi_sales_cycle"]
    # won leads with a delivered order, in the month of the delivery (March), owner r1:
    # L1 0.125 + 26 + 1 (o1) = 27.125; L2 1 + 10 + 2 (o2) = 13; L3 has no response time (excluded)
    mar = _row(c, "month", "2024-03-01")
    assert _counts(mar, ["lead_to_cash_count", "lead_to_cash_invalid_count"]) == (2, 0)
    assert mar["lead_to_cash_mean_days"] == pytest.approx((27.125 + 13) / 2)
    assert int(_row(c, "month", "2024-03-01", "rep", "r1")["lead_to_cash_count"]) == 2
    # empty periods are published with zero counts and NULL statistics
    may = _row(c, "month", "2024-05-01")
    assert int(may["signing_time_count"]) == 0 and pd.isna(may["signing_time_median_days"])
    assert pd.isna(may["lead_to_cash_mean_days"])


# --------------------------------------------------------------------------- quantile methods
# kpi_sales_cycle's statistics come from one model per grain and slice (macros/sales_cycle.sql)
CYCLE_PASSES = [f"int_cycle_stats_{g}_{s}" for g in ("month", "quarter", "year") for s in ("company", "team", "rep")]


def _compiled_passes(target):
    """{model: compiled SQL} of the nine int_cycle_stats_<grain>_<slice> models in dbt target ``target``."""
    folder = target / "compiled/salespulse/models/intermediate/sales_cycle"
    return {name: (folder / f"{name}.sql").read_text() for name in CYCLE_PASSES}


def _rebuild_cycle(build_db, target, extra_vars):
    """``dbt run`` of kpi_sales_cycle and its nine statistics models on ``build_db`` with ``extra_vars``;
    (mart, {model: compiled SQL})."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from salespulse.environ import temporary_environ
    from salespulse.project import DBT_PROJECT_DIR, dbt_env
    from salespulse.settings import load_settings

    with temporary_environ({"SALESPULSE_FISCAL_YEAR_START_MONTH": "4", "SALESPULSE_KPI__FUNNEL_MATURITY_DAYS": "30"}):
        settings = load_settings(build_db=build_db, as_of=AS_OF)
    dbt = Path(sys.executable).with_name("dbt")
    out = subprocess.run(
        [str(dbt), "run", "--select", "path:models/intermediate/sales_cycle", "kpi_sales_cycle",
         "--vars", json.dumps({**settings.dbt_cli_vars(), **extra_vars}),
         "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(target), "--log-path", str(target)],
        cwd=DBT_PROJECT_DIR, env={**os.environ, **dbt_env(settings)}, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    return query(build_db, "select * from marts.kpi_sales_cycle"), _compiled_passes(target)


@pytest.fixture(scope="module")
def cycle_by_method(marts):
    """kpi_sales_cycle by each exact quantile method, on the same build warehouse.

    At this size DuckDB's 'auto' takes quantile aggregates (macros/quantiles.sql); with
    quantile_bytes_per_value so large that no value fits in memory, 'auto' must rank.
    Returns {method: (mart, {statistics model: compiled SQL})}."""
    from salespulse.environ import temporary_environ
    from salespulse.project import run_target_dir
    from salespulse.settings import load_settings

    build_db = marts["build_db"]
    with temporary_environ({"SALESPULSE_FISCAL_YEAR_START_MONTH": "4", "SALESPULSE_KPI__FUNNEL_MATURITY_DAYS": "30"}):
        settings = load_settings(build_db=build_db, as_of=AS_OF)
    out = {"aggregate": (marts["kpi_sales_cycle"], _compiled_passes(run_target_dir(settings)))}
    out["rank"] = _rebuild_cycle(build_db, build_db.parent / "dbt-rank", {"quantile_bytes_per_value": 10**15})
    return out


def _same_mart(a, b):
    keys = ["period_type", "period_start", "slice", "slice_value"]
    a = a.sort_values(keys, na_position="first").reset_index(drop=True)
    b = b.sort_values(keys, na_position="first").reset_index(drop=True)
    b["period_start"] = b["period_start"].astype(a["period_start"].dtype)
    b["period_end"] = b["period_end"].astype(a["period_end"].dtype)
    pd.testing.assert_frame_equal(a, b[a.columns], check_dtype=False, rtol=1e-12)


def test_every_quantile_method_gives_the_hand_worked_quantiles(cycle_by_method):
    # the refresh took aggregates in each of the nine statistics models; the rebuild without memory
    # for them ranks, by the group key's hash
    for name in CYCLE_PASSES:
        agg, rank = cycle_by_method["aggregate"][1][name], cycle_by_method["rank"][1][name]
        assert "quantile_cont(" in agg and "row_number()" not in agg, name
        assert "row_number() over (partition by group_hash order by valid_days)" in rank, name
        assert "quantile_cont(" not in rank, name
    for mart, _ in cycle_by_method.values():
        jan = _row(mart, "month", "2024-01-01")
        assert jan["response_time_median_days"] == pytest.approx(0.5625)
        assert jan["response_time_p90_days"] == pytest.approx(0.9125)
        assert _row(mart, "quarter", "2024-01-01")["response_time_p90_days"] == pytest.approx(5.2)
        assert _row(mart, "month", "2024-02-01")["signing_time_p90_days"] == pytest.approx(23.8)
        mar = _row(mart, "month", "2024-03-01")
        assert mar["delivery_time_median_days"] == pytest.approx(3.0)
        assert mar["delivery_time_p90_days"] == pytest.approx(7.6)
        r2 = _row(mart, "month", "2024-03-01", "rep", "r2")
        assert r2["delivery_time_median_days"] == pytest.approx(2.5)
        assert r2["delivery_time_p90_days"] == pytest.approx(3.7)
    # and every other cell agrees: same rows, same values
    _same_mart(cycle_by_method["aggregate"][0], cycle_by_method["rank"][0])


@pytest.mark.parametrize("method", ["aggregate", "rank"])
def test_both_quantile_methods_equal_numpy_on_many_values_with_ties_and_zeros(marts, tmp_path, method):
    """Each quantile method against numpy's linear quantiles, on 24,000 synthetic durations.

    A copy of the build warehouse gets a synthetic int_cycle_durations: per rep and month of
    January - March 2024, about 2,700 values per measure (zeros, whole days with many ties,
    log-normal fractions from seconds to years, a few negative = invalid), so that groups span
    wide ranges and wanted ranks fall inside runs of equal values."""
    import shutil

    import duckdb
    import numpy as np

    rng = np.random.default_rng(7)
    n = 24_000
    kind = rng.choice(3, size=n, p=[0.08, 0.32, 0.60])
    days = np.where(kind == 0, 0.0, np.where(kind == 1, rng.integers(1, 31, size=n).astype(float),
                                              rng.lognormal(mean=0.0, sigma=2.5, size=n)))
    invalid = rng.random(n) < 0.02
    days = np.where(invalid, -days - 1.0, days)
    reps = rng.choice(["r1", "r2", "r3"], size=n)
    frame = pd.DataFrame({
        "measure": rng.choice(["response_time", "signing_time", "delivery_time"], size=n),
        "event_id": [f"e{i}" for i in range(n)],
        "rep_id": reps,
        "team_id": np.where(reps == "r3", "t2", "t1"),
        "duration_days": days,
        "is_invalid": invalid,
        "end_on": pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 91, size=n), unit="D"),
    })
    build_db = tmp_path / "build.duckdb"
    shutil.copyfile(marts["build_db"], build_db)
    con = duckdb.connect(str(build_db))
    try:
        con.register("synthetic", frame)
        con.execute("create or replace table intermediate.int_cycle_durations as "
                    "select measure, event_id, rep_id, team_id, duration_days, is_invalid, "
                    "cast(end_on as date) as end_on "
                    "from synthetic")
    finally:
        con.close()
    mart, compiled = _rebuild_cycle(build_db, tmp_path / "dbt", {"quantile_method": method})
    assert all(("quantile_cont(" in sql) == (method == "aggregate") for sql in compiled.values())

    valid = frame[~frame["is_invalid"]].copy()
    month = valid["end_on"].dt.to_period("M").dt.start_time
    groups = {
        ("month", "company"): [month], ("month", "rep"): [month, valid["rep_id"]],
        ("month", "team"): [month, valid["team_id"]],
        ("quarter", "company"): [valid["end_on"].dt.to_period("Q").dt.start_time],  # fiscal Q4 = Jan - Mar
        ("year", "rep"): [valid["rep_id"]],  # all in fiscal year 2023 (April 2023 - March 2024)
    }
    checked = 0
    for (grain, slice_), by in groups.items():
        for keys, part in valid.groupby([*by, valid["measure"]]):
            *group, measure = keys if isinstance(keys, tuple) else (keys,)
            start = "2023-04-01" if grain == "year" else str(group[0])[:10]
            value = None if slice_ == "company" else group[-1]
            row = _row(mart, grain, start, slice_, value)
            values = part["duration_days"].to_numpy()
            assert int(row[f"{measure}_count"]) == len(values)
            for name, q in (("median", 0.5), ("p90", 0.9)):
                want = np.quantile(values, q, method="linear")
                assert row[f"{measure}_{name}_days"] == pytest.approx(want, rel=1e-12, abs=1e-12), (grain, keys, name)
                checked += 1
    assert checked == 2 * 3 * (3 + 9 + 6 + 1 + 3)
