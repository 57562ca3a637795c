"""kpi_customers, kpi_cac, kpi_clv_customer and kpi_clv on a small hand-built CRM.

Two pipeline runs over the same landing data, as of 2024-06-15 (June 2024 is partial):
- run A: every input, churn_inactivity_days = 30, fiscal_year_start_month = 4;
- run B: no marketing_spend landing file (input absent), churn_inactivity_days = 30, calendar fiscal year.

With churn_inactivity_days N = 30 a live order signed on local day s makes its customer active on
s .. s + 29. All timestamps are 02:00Z = 10:00 in Asia/Shanghai (same local day) unless noted.

Customers (channel, segment, region, owner rep, referrer) and their live orders (amount / cost, CNY):
  c1 paid_search smb east r1        2023-05-20 1000/600, 2024-01-10 1000/500, 2024-02-05 500/200,
                                    2024-04-20 300/100
  c2 referral enterprise south r2   2023-05-25 2000/1500, 2024-03-10 800/300      (referred by c1)
  c3 organic mid_market east r1     2024-01-15 9999 CANCELLED, 2024-02-20 600/240  (referred by c1)
  c4 paid_search smb south r2       2024-01-31T16:30Z (= Feb 1 local) 400/100, 2024-02-15 300/100
                                                                                  (referred by c2)
  c5 social smb east r1             2024-01-20 500/200, 2024-02-05 500/200; churned_at 2024-02-10
  c6 event mid_market south r2      2023-05-15 500/200
  c7 display enterprise east r2     2024-04-10 100 USD / 50 USD (x 7.1 = 710 / 355),
                                    2024-06-05 200 USD, no cost (x 7.2 = 1440)
  c8 other smb east r1              2024-03-05 REFUNDED only: never acquired
  c9 organic smb east r1            2023-05-10 1000/400, 2023-06-05 500/200, 2024-05-20 1000/400

Activity spells (merged covers, cut the day before churned_at):
  c1 [2023-05-20, 06-18], [2024-01-10, 03-05] (02-05 + 29), [2024-04-20, 05-19]
  c2 [2023-05-25, 06-23], [2024-03-10, 04-08]
  c3 [2024-02-20, 03-20]      c4 [2024-02-01, 03-15]      c5 [2024-01-20, 02-09] (churned 02-10)
  c6 [2023-05-15, 06-13]      c7 [2024-04-10, 05-09], [2024-06-05, 07-04]
  c9 [2023-05-10, 07-04], [2024-05-20, 06-18]
Active on the boundary days:
  2023-05-31 {c1, c2, c6, c9}   2023-06-30 {c9}   2023-12-31 {}   2024-01-31 {c1, c5}
  2024-02-29 {c1, c3, c4}  (c5 would still be active without its churned_at)
  2024-03-31 {c2}   2024-04-30 {c1, c7}   2024-05-31 {c9}   2024-06-15 {c7, c9}
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from conftest import query, run_refresh, write_csv

AS_OF = "2024-06-15"
N_DAYS = 30

REPS = [
    {"rep_id": "r1", "rep_name": "Li Lei", "email": "r1@example.com", "team_id": "t1", "team_name": "East",
     "region": "east", "role": "rep", "hired_on": "2022-01-01", "updated_at": "2022-01-01T00:00:00Z"},
    {"rep_id": "r2", "rep_name": "Han Mei", "email": "r2@example.com", "team_id": "t2", "team_name": "South",
     "region": "south", "role": "rep", "hired_on": "2022-01-01", "updated_at": "2022-01-01T00:00:00Z"},
]


def _customer(cid, channel, segment, region, rep, referred_by=None, churned_at=None):
    return {"customer_id": cid, "customer_name": cid.upper(), "segment": segment, "industry": "retail",
            "region": region, "country": "CN", "acquisition_channel": channel,
            "referred_by_customer_id": referred_by, "owner_rep_id": rep,
            "created_at": "2023-01-01T00:00:00Z", "churned_at": churned_at, "email": f"{cid}@example.com",
            "phone": "123", "updated_at": "2023-01-01T00:00:00Z", "is_deleted": "false"}


CUSTOMERS = [
    _customer("c1", "paid_search", "smb", "east", "r1"),
    _customer("c2", "referral", "enterprise", "south", "r2", referred_by="c1"),
    _customer("c3", "organic", "mid_market", "east", "r1", referred_by="c1"),
    _customer("c4", "paid_search", "smb", "south", "r2", referred_by="c2"),
    _customer("c5", "social", "smb", "east", "r1", churned_at="2024-02-10T02:00:00Z"),
    _customer("c6", "event", "mid_market", "south", "r2"),
    _customer("c7", "display", "enterprise", "east", "r2"),
    _customer("c8", "other", "smb", "east", "r1"),
    _customer("c9", "organic", "smb", "east", "r1"),
]


def _order(oid, cid, signed, amount, cost, currency="CNY", status="active"):
    if "T" not in signed:
        signed = f"{signed}T02:00:00Z"
    return {"order_id": oid, "customer_id": cid, "rep_id": "r1", "signed_at": signed, "amount": amount,
            "cost": cost, "currency": currency, "status": status, "updated_at": signed, "is_deleted": "false"}


ORDERS = [
    _order("o01", "c1", "2023-05-20", "1000", "600"),
    _order("o02", "c1", "2024-01-10", "1000", "500"),
    _order("o03", "c1", "2024-02-05", "500", "200"),
    _order("o04", "c1", "2024-04-20", "300", "100"),
    _order("o05", "c2", "2023-05-25", "2000", "1500"),
    _order("o06", "c2", "2024-03-10", "800", "300"),
    _order("o07", "c3", "2024-01-15", "9999", "1", status="cancelled"),
    _order("o08", "c3", "2024-02-20", "600", "240"),
    _order("o09", "c4", "2024-01-31T16:30:00Z", "400", "100"),
    _order("o10", "c4", "2024-02-15", "300", "100"),
    _order("o11", "c5", "2024-01-20", "500", "200"),
    _order("o12", "c5", "2024-02-05", "500", "200"),
    _order("o13", "c6", "2023-05-15", "500", "200"),
    _order("o14", "c7", "2024-04-10", "100", "50", currency="USD"),
    _order("o15", "c7", "2024-06-05", "200", None, currency="USD"),
    _order("o16", "c8", "2024-03-05", "700", "100", status="refunded"),
    _order("o17", "c9", "2023-05-10", "1000", "400"),
    _order("o18", "c9", "2023-06-05", "500", "200"),
    _order("o19", "c9", "2024-05-20", "1000", "400"),
]

FX = [
    {"rate_date": "2024-01-01", "currency": "USD", "rate_to_reporting": "7.0"},
    {"rate_date": "2024-04-01", "currency": "USD", "rate_to_reporting": "7.1"},
    {"rate_date": "2024-06-01", "currency": "USD", "rate_to_reporting": "7.2"},
    {"rate_date": "2023-01-01", "currency": "USD", "rate_to_reporting": "6.9"},
]

SPEND = [
    {"spend_id": "s1", "spend_date": "2024-01-15", "channel": "paid_search", "category": "advertising",
     "amount": "1000", "currency": "CNY"},
    {"spend_id": "s2", "spend_date": "2024-02-10", "channel": "paid_search", "category": "promotion",
     "amount": "200", "currency": "CNY"},
    # 100 USD x 7.0 (rate of 2024-01-01) = 700
    {"spend_id": "s3", "spend_date": "2024-02-20", "channel": "social", "category": "advertising",
     "amount": "100", "currency": "USD"},
    {"spend_id": "s4", "spend_date": "2024-03-05", "channel": "organic", "category": "market_research",
     "amount": "300", "currency": "CNY"},
    {"spend_id": "s5", "spend_date": "2023-05-15", "channel": "paid_search", "category": "advertising",
     "amount": "5000", "currency": "CNY"},
    {"spend_id": "s6", "spend_date": "2024-06-01", "channel": "display", "category": "other_marketing",
     "amount": "400", "currency": "CNY"},
    # before the first order: still in the first trailing-12-month windows
    {"spend_id": "s7", "spend_date": "2023-04-20", "channel": "paid_search", "category": "advertising",
     "amount": "100", "currency": "CNY"},
]


def _pay(rep, month, base, commission, bonus):
    return {"rep_id": rep, "month": month, "base_salary": base, "commission": commission, "bonus": bonus,
            "currency": "CNY"}


COMPENSATION = [
    _pay("r1", "2023-05-01", "2000", "0", "0"),
    _pay("r1", "2024-01-01", "3000", "500", "0"),
    _pay("r2", "2024-02-01", "3000", "0", "1000"),
    _pay("r1", "2024-03-01", "3000", "200", "100"),
]

MARTS = ("kpi_customers", "kpi_cac", "kpi_clv_customer", "kpi_clv")


def _landing(root, with_spend: bool):
    write_csv(root / "reps.csv", "reps", REPS)
    write_csv(root / "customers.csv", "customers", CUSTOMERS)
    write_csv(root / "orders.csv", "orders", ORDERS)
    write_csv(root / "fx_rates.csv", "fx_rates", FX)
    write_csv(root / "sales_compensation.csv", "sales_compensation", COMPENSATION)
    if with_spend:
        write_csv(root / "marketing_spend.csv", "marketing_spend", SPEND)
    return root


def _run(tmp, with_spend, **env):
    landing = _landing(tmp / "landing", with_spend)
    result, reporting = run_refresh(tmp, landing, AS_OF, KPI__CHURN_INACTIVITY_DAYS=str(N_DAYS), **env)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return {m: query(reporting, f"select * from {m}") for m in MARTS}


@pytest.fixture(scope="module")
def run_a(tmp_path_factory):
    """All inputs, fiscal year starting in April."""
    return _run(tmp_path_factory.mktemp("cust_a"), True, FISCAL_YEAR_START_MONTH="4")


@pytest.fixture(scope="module")
def run_b(tmp_path_factory):
    """No marketing_spend landing file, calendar fiscal year."""
    return _run(tmp_path_factory.mktemp("cust_b"), False)


def _row(df, grain, start, slice_="company", value=None):
    sel = df[(df["period_type"] == grain) & (df["period_start"].astype(str).str[:10] == start)
             & (df["slice"] == slice_)]
    sel = sel[sel["slice_value"].isna()] if value is None else sel[sel["slice_value"] == value]
    assert len(sel) == 1, f"expected one {grain} {start} {slice_}={value} row, got {len(sel)}"
    return sel.iloc[0]


def _null(v):
    return v is None or pd.isna(v)


# --------------------------------------------------------------------------- customers
def test_new_customers_acquisition_and_month_boundary(run_a):
    cust = run_a["kpi_customers"]
    # January 2024: c5 only. c3's first order (Jan 15) was cancelled: acquired at its second (Feb 20);
    # c4's first order at 2024-01-31T16:30Z is 00:30 on Feb 1 in Shanghai: a February acquisition.
    assert _row(cust, "month", "2024-01-01")["new_customers"] == 1
    feb = _row(cust, "month", "2024-02-01")
    assert feb["new_customers"] == 2  # c3, c4
    # by slice: c3 organic / mid_market / east / r1, c4 paid_search / smb / south / r2
    assert _row(cust, "month", "2024-02-01", "channel", "organic")["new_customers"] == 1
    assert _row(cust, "month", "2024-02-01", "channel", "paid_search")["new_customers"] == 1
    assert _row(cust, "month", "2024-02-01", "segment", "mid_market")["new_customers"] == 1
    assert _row(cust, "month", "2024-02-01", "region", "south")["new_customers"] == 1
    assert _row(cust, "month", "2024-02-01", "rep", "r2")["new_customers"] == 1
    # March: c8's only order is refunded, c2's March order is a repeat: no new customer
    assert _row(cust, "month", "2024-03-01")["new_customers"] == 0
    # the as-of month ends on the as-of date and is partial
    jun = _row(cust, "month", "2024-06-01")
    assert bool(jun["is_partial"]) and str(jun["period_end"])[:10] == AS_OF
    # the spine starts at the first acquisition (c9, May 2023) and is dense
    months = cust[(cust["period_type"] == "month") & (cust["slice"] == "company")]
    assert str(months["period_start"].min())[:10] == "2023-05-01" and len(months) == 14
    assert _row(cust, "month", "2023-09-01")["new_customers"] == 0
    keys = cust[["period_type", "period_start", "slice", "slice_value"]].astype(str)
    assert not keys.duplicated().any()


def test_customers_at_start_churn_explicit_churn_and_reactivation(run_a):
    cust = run_a["kpi_customers"]
    expected = {
        # month: (customers_at_start, churned, churn_rate)
        # Jan: nobody active on 2023-12-31 -> rate NULL (zero denominator)
        "2024-01-01": (0, 0, None),
        # Feb: {c1, c5} active on Jan 31; c5 churned explicitly on Feb 10 -> not active Feb 29: 1 / 2.
        # (c3 and c4, acquired in February, are in neither count.)
        "2024-02-01": (2, 1, 0.5),
        # Mar: {c1, c3, c4} on Feb 29, none active on Mar 31 (c1 lapsed 03-05, c3 03-20, c4 03-15): 3 / 3.
        # c2 (last order 2023-05, lapsed) reactivates on Mar 10: active on Mar 31 but in neither count.
        "2024-03-01": (3, 3, 1.0),
        # Apr: {c2} on Mar 31, lapsed 04-08 -> churned 1 / 1; c1 reactivated on Apr 20 (not counted).
        "2024-04-01": (1, 1, 1.0),
        # May: {c1, c7} on Apr 30 (c1 active again after its March churn), both lapsed by May 31: 2 / 2.
        "2024-05-01": (2, 2, 1.0),
        # Jun (partial, ends Jun 15): {c9} on May 31, still active on Jun 15: 0 / 1.
        "2024-06-01": (1, 0, 0.0),
    }
    for start, (at_start, churned, rate) in expected.items():
        r = _row(cust, "month", start)
        assert (r["customers_at_start"], r["churned"]) == (at_start, churned), start
        assert _null(r["churn_rate"]) if rate is None else r["churn_rate"] == pytest.approx(rate), start
    # owner rep slice, Feb: r1 owns c1 and c5 -> 1 / 2; r2 had nobody active on Jan 31 -> NULL
    r1 = _row(cust, "month", "2024-02-01", "rep", "r1")
    assert (r1["customers_at_start"], r1["churned"], r1["churn_rate"]) == (2, 1, 0.5)
    r2 = _row(cust, "month", "2024-02-01", "rep", "r2")
    assert r2["customers_at_start"] == 0 and _null(r2["churn_rate"])


def test_repeat_customers_and_repurchase_rate(run_a):
    cust = run_a["kpi_customers"]
    # Feb ordering: c1 (3rd live order), c3 (1st: its cancelled order does not count), c4 (1st and 2nd),
    # c5 (2nd) -> repeat {c1, c4, c5} = 3 / 4
    feb = _row(cust, "month", "2024-02-01")
    assert (feb["ordering_customers"], feb["repeat_customers"]) == (4, 3)
    assert feb["repurchase_rate"] == pytest.approx(0.75)
    # Jan: c1 (2nd), c5 (1st) -> 1 / 2
    jan = _row(cust, "month", "2024-01-01")
    assert (jan["ordering_customers"], jan["repeat_customers"]) == (2, 1)
    # quarter Jan-Mar 2024 (fiscal Q4 of FY2024 with an April start), from its own counts:
    # ordering {c1, c2, c3, c4, c5}, repeat all but c3 -> 4 / 5 (not the mean of the monthly rates)
    q = _row(cust, "quarter", "2024-01-01")
    assert (q["ordering_customers"], q["repeat_customers"]) == (5, 4)
    assert q["repurchase_rate"] == pytest.approx(0.8)
    # a month without orders: ordering 0 -> rate NULL
    assert _null(_row(cust, "month", "2023-09-01")["repurchase_rate"])


def test_referral_rate_and_referring_customers(run_a):
    cust = run_a["kpi_customers"]
    # Feb: new c3 (referred by c1) and c4 (referred by c2): 2 / 2, referrers {c1, c2}
    feb = _row(cust, "month", "2024-02-01")
    assert (feb["referred_new_customers"], feb["referring_customers"]) == (2, 2)
    assert feb["referral_rate"] == pytest.approx(1.0)
    # Jan: c5, not referred: 0 / 1
    jan = _row(cust, "month", "2024-01-01")
    assert jan["referral_rate"] == pytest.approx(0.0) and jan["referring_customers"] == 0
    # fiscal year 2023-04-01 .. 2024-03-31 (April start): new {c9, c6, c1, c2, c5, c4, c3} = 7,
    # referred {c2 by c1, c3 by c1, c4 by c2} = 3, distinct referrers {c1, c2} = 2
    fy = _row(cust, "year", "2023-04-01")
    assert (fy["new_customers"], fy["referred_new_customers"], fy["referring_customers"]) == (7, 3, 2)
    assert fy["referral_rate"] == pytest.approx(3 / 7)
    # a month without new customers: referral rate NULL
    assert _null(_row(cust, "month", "2024-03-01")["referral_rate"])


def test_fiscal_quarter_and_year_bucketing(run_a, run_b):
    a, b = run_a["kpi_customers"], run_b["kpi_customers"]
    # April fiscal start: FY2024 = 2023-04-01 .. 2024-03-31 holds 7 acquisitions (above), FY2025 (partial,
    # ends on the as-of date) holds c7 only
    fy25 = _row(a, "year", "2024-04-01")
    assert fy25["new_customers"] == 1 and bool(fy25["is_partial"]) and str(fy25["period_end"])[:10] == AS_OF
    assert set(a.loc[a["period_type"] == "year", "period_start"].astype(str).str[:10]) == {"2023-04-01", "2024-04-01"}
    # calendar years (run B): 2023 = {c1, c2, c6, c9}, 2024 = {c3, c4, c5, c7}
    assert _row(b, "year", "2023-01-01")["new_customers"] == 4
    assert _row(b, "year", "2024-01-01")["new_customers"] == 4
    # churn at quarter grain is computed from the quarter's own boundaries, never summed from months:
    # Apr-Jun 2024 -> active on Mar 31 {c2}, on Jun 15 {c7, c9}: 1 / 1 (months hold 1 + 2 + 0 churned)
    q = _row(a, "quarter", "2024-04-01")
    assert (q["customers_at_start"], q["churned"]) == (1, 1) and q["churn_rate"] == pytest.approx(1.0)
    # FY2025 year (Apr 2024 ..): the same boundaries
    assert (fy25["customers_at_start"], fy25["churned"]) == (1, 1)
    # calendar year 2024 (run B): active on 2023-12-31 nobody -> churn rate NULL
    y24 = _row(b, "year", "2024-01-01")
    assert y24["customers_at_start"] == 0 and _null(y24["churn_rate"])


def _brute_active(day: dt.date) -> set[str]:
    """Customers active on ``day``, day by day from the raw rows (independent of the spells)."""
    churned = {c["customer_id"]: dt.date.fromisoformat(c["churned_at"][:10])
               for c in CUSTOMERS if c["churned_at"]}  # all churned_at are 02:00Z = same local day
    out = set()
    for o in ORDERS:
        if o["status"] != "active":
            continue
        ts = pd.Timestamp(o["signed_at"]).tz_convert("Asia/Shanghai")
        signed = ts.date()
        cid = o["customer_id"]
        if signed <= day <= signed + dt.timedelta(days=N_DAYS - 1) and not (cid in churned and churned[cid] <= day):
            out.add(cid)
    return out


def test_retention_matches_day_level_brute_force_at_every_grain(run_a):
    cust = run_a["kpi_customers"]
    rows = cust[cust["slice"] == "company"]
    assert len(rows) > 14
    for r in rows.itertuples():
        start = pd.Timestamp(r.period_start).date()
        end = pd.Timestamp(r.period_end).date()
        before = _brute_active(start - dt.timedelta(days=1))
        after = _brute_active(end)
        assert r.customers_at_start == len(before), (r.period_type, start)
        assert r.churned == len(before - after), (r.period_type, start)


# --------------------------------------------------------------------------- CAC
def test_cac_blended_components_and_zero_denominator(run_a):
    cac = run_a["kpi_cac"]
    # Jan 2024: ad 1000 (s1); other 0; compensation r1 3000 + 500 = 3500; total 4500; new {c5} -> 4500
    jan = _row(cac, "month", "2024-01-01")
    assert float(jan["ad_spend"]) == 1000 and float(jan["other_marketing"]) == 0
    assert float(jan["sales_compensation"]) == 3500 and float(jan["total_acquisition_cost"]) == 4500
    assert jan["new_customers"] == 1 and jan["cac_blended"] == pytest.approx(4500)
    assert _null(jan["missing_inputs"])
    # Feb: ad 100 USD x 7.0 = 700 (s3), promotion 200 (s2), compensation r2 3000 + 1000 = 4000;
    # total 4900 / new {c3, c4} = 2450
    feb = _row(cac, "month", "2024-02-01")
    assert float(feb["ad_spend"]) == pytest.approx(700) and float(feb["other_marketing"]) == 200
    assert float(feb["total_acquisition_cost"]) == pytest.approx(4900)
    assert feb["cac_blended"] == pytest.approx(2450)
    # Mar: market research 300 + compensation 3300 = 3600, but no new customer -> cac NULL (not 0)
    mar = _row(cac, "month", "2024-03-01")
    assert float(mar["total_acquisition_cost"]) == pytest.approx(3600) and mar["new_customers"] == 0
    assert _null(mar["cac_blended"])
    # Apr: inputs present, nothing spent: a real 0, and 0 / 1 new customer (c7) = 0
    apr = _row(cac, "month", "2024-04-01")
    assert float(apr["ad_spend"]) == 0 and float(apr["sales_compensation"]) == 0
    assert apr["cac_blended"] == pytest.approx(0.0)
    # fiscal year 2023-04 .. 2024-03: ad 100 + 5000 + 1000 + 700 = 6800, other 200 + 300 = 500,
    # compensation 2000 + 3500 + 4000 + 3300 = 12800; total 20100 / 7 new customers
    fy = _row(cac, "year", "2023-04-01")
    assert float(fy["ad_spend"]) == pytest.approx(6800) and float(fy["other_marketing"]) == pytest.approx(500)
    assert float(fy["sales_compensation"]) == pytest.approx(12800)
    assert fy["cac_blended"] == pytest.approx(20100 / 7)
    # April 2023: 100 spent before anyone was acquired -> the mart starts there, cac NULL
    apr23 = _row(cac, "month", "2023-04-01")
    assert float(apr23["total_acquisition_cost"]) == 100 and _null(apr23["cac_blended"])


def test_cac_paid_by_channel(run_a):
    cac = run_a["kpi_cac"]
    # Feb paid_search: promotion 200 / new {c4} = 200
    ps = _row(cac, "month", "2024-02-01", "channel", "paid_search")
    assert float(ps["channel_spend"]) == 200 and ps["channel_new_customers"] == 1
    assert ps["cac_paid"] == pytest.approx(200)
    assert _null(ps["cac_blended"]) and _null(ps["sales_compensation"])
    # Feb social: 700 spent, nobody acquired through social in Feb -> NULL
    soc = _row(cac, "month", "2024-02-01", "channel", "social")
    assert float(soc["channel_spend"]) == pytest.approx(700) and _null(soc["cac_paid"])
    # Jan social: nothing spent (input present), c5 acquired -> 0
    assert _row(cac, "month", "2024-01-01", "channel", "social")["cac_paid"] == pytest.approx(0.0)
    # quarter Jan-Mar 2024 paid_search: (1000 + 200) / {c4} = 1200
    assert _row(cac, "quarter", "2024-01-01", "channel", "paid_search")["cac_paid"] == pytest.approx(1200)
    # May 2023 paid_search: 5000 / {c1} = 5000
    assert _row(cac, "month", "2023-05-01", "channel", "paid_search")["cac_paid"] == pytest.approx(5000)
    # company rows carry no paid CAC
    assert _null(_row(cac, "month", "2024-02-01")["cac_paid"])


def test_cac_with_marketing_spend_absent(run_b):
    cac = run_b["kpi_cac"]
    # no marketing_spend landing file at all: spend components and every CAC NULL, and the mart says why
    jan = _row(cac, "month", "2024-01-01")
    assert _null(jan["ad_spend"]) and _null(jan["other_marketing"]) and _null(jan["total_acquisition_cost"])
    assert _null(jan["cac_blended"]) and jan["missing_inputs"] == "marketing_spend"
    # compensation is present: 3500 still published; new customers too
    assert float(jan["sales_compensation"]) == 3500 and jan["new_customers"] == 1
    # calendar year 2023 (run B): compensation 2000, CAC NULL
    y23 = _row(cac, "year", "2023-01-01")
    assert float(y23["sales_compensation"]) == 2000 and _null(y23["cac_blended"])
    assert y23["missing_inputs"] == "marketing_spend"
    ch = cac[cac["slice"] == "channel"]
    assert len(ch) > 0 and ch["cac_paid"].isna().all() and ch["channel_spend"].isna().all()
    assert (ch["missing_inputs"] == "marketing_spend").all()
    # kpi_clv: no acquisition cost either
    clv = _row(run_b["kpi_clv"], "month", "2024-05-01")
    assert _null(clv["acquisition_cost_12m"]) and _null(clv["cac_blended_12m"]) and _null(clv["ltv_to_cac"])
    assert clv["missing_inputs"] == "marketing_spend"


def test_no_missing_inputs_when_present(run_a):
    assert run_a["kpi_cac"]["missing_inputs"].isna().all()
    assert run_a["kpi_clv"]["missing_inputs"].isna().all()


# --------------------------------------------------------------------------- CLV
def test_clv_historical_per_customer(run_a):
    per = run_a["kpi_clv_customer"].set_index("customer_id")
    # c8 has no live order: not a customer of the CLV mart
    assert set(per.index) == {"c1", "c2", "c3", "c4", "c5", "c6", "c7", "c9"}
    assert "customer_name" not in per.columns and "email" not in per.columns
    # c1: 1000 + 1000 + 500 + 300 = 2800; gross profit 400 + 500 + 300 + 200 = 1400; lapsed (05-19)
    c1 = per.loc["c1"]
    assert c1["live_orders"] == 4 and float(c1["clv_historical_amount"]) == 2800
    assert float(c1["clv_historical_gross_profit"]) == 1400 and not c1["is_active_at_as_of"]
    assert str(c1["acquired_on"])[:10] == "2023-05-20" and str(c1["last_order_on"])[:10] == "2024-04-20"
    # c7 (USD): 100 x 7.1 + 200 x 7.2 = 710 + 1440 = 2150; the June order lacks cost -> gross profit NULL
    c7 = per.loc["c7"]
    assert float(c7["clv_historical_amount"]) == pytest.approx(2150)
    assert _null(c7["clv_historical_gross_profit"]) and c7["is_active_at_as_of"]
    # c3: only its live order counts (600, profit 360), acquired at it
    c3 = per.loc["c3"]
    assert float(c3["clv_historical_amount"]) == 600 and str(c3["acquired_on"])[:10] == "2024-02-20"
    # c4: acquired on Feb 1 local (16:30Z on Jan 31)
    assert str(per.loc["c4", "acquired_on"])[:10] == "2024-02-01"
    # c5 churned explicitly, c9 active on Jun 15
    assert not per.loc["c5", "is_active_at_as_of"] and per.loc["c9", "is_active_at_as_of"]


def test_trailing_12_month_clv_may_2024(run_a):
    clv = _row(run_a["kpi_clv"], "month", "2024-05-01")
    # window 2023-06-01 .. 2024-05-31. Live orders in it:
    #   c9 500/200 (2023-06-05) + 1000/400; c1 1000/500 + 500/200 + 300/100; c2 800/300; c3 600/240;
    #   c4 400/100 + 300/100; c5 500/200 + 500/200; c7 710/355
    #   bookings = 1500 + 1800 + 800 + 600 + 700 + 1000 + 710 = 7110, orders 12, customers 7
    #   (c6's only order, 2023-05-15, has left the window; c9 is counted once)
    #   gross profit = 900 + 1000 + 500 + 360 + 500 + 600 + 355 = 4215
    assert str(clv["window_start"])[:10] == "2023-06-01" and str(clv["window_end"])[:10] == "2024-05-31"
    assert float(clv["bookings_12m"]) == pytest.approx(7110)
    assert clv["orders_12m"] == 12 and clv["ordering_customers_12m"] == 7
    assert float(clv["gross_profit_12m"]) == pytest.approx(4215)
    assert clv["aov_12m"] == pytest.approx(7110 / 12)
    assert clv["purchase_frequency_12m"] == pytest.approx(12 / 7)
    assert clv["gross_margin_12m"] == pytest.approx(4215 / 7110)
    # active on 2023-05-31: {c1, c2, c6, c9}; on 2024-05-31: {c9} -> churned 3, annual churn 0.75,
    # lifespan 1 / 0.75 = 4/3 years
    assert (clv["customers_active_before_window"], clv["churned_in_window"]) == (4, 3)
    assert clv["annual_churn_12m"] == pytest.approx(0.75)
    assert clv["lifespan_years"] == pytest.approx(4 / 3)
    # clv_simple = 592.5 x 12/7 x 4215/7110 x 4/3 = 4215/7 x 4/3 = 16860/21
    clv_simple = 16860 / 21
    assert clv["clv_simple"] == pytest.approx(clv_simple)
    # acquisition cost Jun 2023 .. May 2024: 4500 (Jan) + 4900 (Feb) + 3600 (Mar) = 13000;
    # new customers in the window {c5, c3, c4, c7} = 4 -> cac 3250
    assert float(clv["acquisition_cost_12m"]) == pytest.approx(13000)
    assert clv["new_customers_12m"] == 4 and clv["cac_blended_12m"] == pytest.approx(3250)
    assert clv["ltv_to_cac"] == pytest.approx(clv_simple / 3250)
    # payback = 3250 / (4215 / 7 / 12) = 3250 x 84 / 4215
    assert clv["cac_payback_months"] == pytest.approx(3250 * 84 / 4215)


def test_trailing_12_month_clv_partial_month_slices_and_cap(run_a):
    clv = run_a["kpi_clv"]
    jun = _row(clv, "month", "2024-06-01")
    # the partial as-of month: window 2023-07-01 .. 2024-06-15
    assert bool(jun["is_partial"]) and str(jun["window_end"])[:10] == AS_OF
    # c7's June order (1440) has no cost: gross profit (and all that needs it) NULL
    assert float(jun["bookings_12m"]) == pytest.approx(7110 - 500 + 1440)  # c9's 2023-06-05 order left
    assert _null(jun["gross_profit_12m"]) and _null(jun["clv_simple"]) and _null(jun["cac_payback_months"])
    # active on 2023-06-30 {c9}, still active on Jun 15: annual churn 0 -> lifespan = cap (10 years)
    assert (jun["customers_active_before_window"], jun["churned_in_window"]) == (1, 0)
    assert jun["annual_churn_12m"] == 0 and jun["lifespan_years"] == pytest.approx(10.0)
    # channel organic in May: c9 (500/200 + 1000/400) and c3 (600/240): bookings 2100, 3 orders,
    # 2 customers, profit 1260; active on 2023-05-31 {c9} and still on 2024-05-31 -> churn 0, lifespan 10;
    # clv = 700 x 1.5 x 0.6 x 10 = 6300; no CAC on slice rows
    org = _row(clv, "month", "2024-05-01", "channel", "organic")
    assert float(org["bookings_12m"]) == pytest.approx(2100) and org["ordering_customers_12m"] == 2
    assert org["lifespan_years"] == pytest.approx(10.0) and org["clv_simple"] == pytest.approx(6300)
    assert _null(org["cac_blended_12m"])
    # distinct ordering customers per month (company): c1, c2, c6, c9 from May 2023; + c5 (Jan);
    # + c3, c4 (Feb); + c7 (Apr); - c6 in May 2024 (its only order, May 2023, leaves the window)
    company = clv[clv["slice"] == "company"].sort_values("period_start")
    got = dict(zip(company["period_start"].astype(str).str[:7], company["ordering_customers_12m"], strict=True))
    assert got["2023-05"] == 4 and got["2023-12"] == 4 and got["2024-01"] == 5 and got["2024-02"] == 7
    assert got["2024-03"] == 7 and got["2024-04"] == 8 and got["2024-05"] == 7 and got["2024-06"] == 7
    # the first month, with nobody active before its window: annual churn and lifespan NULL
    first = _row(clv, "month", "2023-05-01")
    assert first["customers_active_before_window"] == 0 and _null(first["lifespan_years"])
    # its acquisition cost includes the April 2023 spend before the first order:
    # 100 + 5000 (May ad) + 2000 (May compensation) = 7100 / new {c1, c2, c6, c9} = 1775
    assert float(first["acquisition_cost_12m"]) == pytest.approx(7100)
    assert first["cac_blended_12m"] == pytest.approx(1775)
