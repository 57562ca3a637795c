"""kpi_revenue against an independent pandas computation over the landing files.

The data is built by hand to hit the traps of metrics.md: an order just before midnight UTC on a
month's last day (it belongs to the next month in Asia/Shanghai), a cancelled order, a superseded
version, a soft delete, a non-CNY order converted with the latest earlier fx rate, an order and a
record version after the as-of date (both ignored), and an order without cost (gross profit NULL).
The expected values are computed by ``independent_revenue`` below — plain pandas over the CSVs,
sharing no code with the dbt models — and a few are also worked out by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from conftest import query, run_refresh, write_csv

AS_OF = "2024-03-15"
TZ = "Asia/Shanghai"

REPS = [
    {"rep_id": "r1", "rep_name": "Li Lei", "email": "r1@example.com", "team_id": "t1", "team_name": "East",
     "region": "east", "role": "rep", "hired_on": "2022-01-01", "updated_at": "2022-01-01T00:00:00Z"},
    {"rep_id": "r2", "rep_name": "Han Mei", "email": "r2@example.com", "team_id": "t2", "team_name": "South",
     "region": "south", "role": "rep", "hired_on": "2022-01-01", "updated_at": "2022-01-01T00:00:00Z"},
]


def _customer(cid, region, channel, segment):
    return {"customer_id": cid, "customer_name": cid.upper(), "segment": segment, "industry": "retail",
            "region": region, "country": "CN", "acquisition_channel": channel, "owner_rep_id": "r1",
            "created_at": "2023-01-01T00:00:00Z", "email": f"{cid}@example.com", "phone": "123",
            "updated_at": "2023-01-01T00:00:00Z", "is_deleted": "false"}


CUSTOMERS = [
    _customer("c1", "east", "paid_search", "smb"),
    _customer("c2", "south", "referral", "enterprise"),
    _customer("c3", "east", "organic", "mid_market"),
]


def _order(oid, cid, rep, signed, amount, cost, currency="CNY", status="active", updated=None, deleted="false"):
    return {"order_id": oid, "customer_id": cid, "rep_id": rep, "signed_at": signed, "amount": amount,
            "cost": cost, "currency": currency, "status": status, "updated_at": updated or signed,
            "is_deleted": deleted}


ORDERS = [
    _order("o1", "c1", "r1", "2023-02-10T02:00:00Z", "1000", "600"),
    # a correction after the as-of date: ignored for as_of = 2024-03-15
    _order("o1", "c1", "r1", "2023-02-10T02:00:00Z", "9999", "600", updated="2024-03-20T00:00:00Z"),
    _order("o2", "c2", "r2", "2023-03-05T03:00:00Z", "2000", "1500"),
    _order("o8", "c3", "r2", "2023-06-11T03:00:00Z", "400", None),  # no cost: 2023 Q2 gross profit NULL
    _order("o11", "c2", "r2", "2024-02-10T03:00:00Z", "800", "500"),
    # 16:30 UTC on Jan 31 = 00:30 on Feb 1 in Shanghai: a February order
    _order("o3", "c1", "r1", "2024-01-31T16:30:00Z", "500", "200"),
    # USD on 2024-01-20 (local): latest earlier rate is 2024-01-15's 7.2 -> 720, cost 360
    _order("o4", "c3", "r2", "2024-01-20T03:00:00Z", "100", "50", currency="USD"),
    # USD on 2024-01-05: latest earlier rate is 2023-01-01's 7.0 -> 70, cost 35
    _order("o7", "c1", "r2", "2024-01-05T03:00:00Z", "10", "5", currency="USD"),
    _order("o5", "c2", "r1", "2024-01-10T03:00:00Z", "300", "100", status="cancelled"),
    # superseded version: 100 -> 150
    _order("o6", "c3", "r1", "2024-02-20T03:00:00Z", "100", "60", updated="2024-02-20T03:00:00Z"),
    _order("o6", "c3", "r1", "2024-02-20T03:00:00Z", "150", "100", updated="2024-02-21T03:00:00Z"),
    # soft-deleted in its latest version
    _order("o9", "c2", "r2", "2024-03-01T03:00:00Z", "700", "300"),
    _order("o9", "c2", "r2", "2024-03-01T03:00:00Z", "700", "300", updated="2024-03-02T00:00:00Z", deleted="true"),
    _order("o12", "c1", "r1", "2024-03-10T03:00:00Z", "250", "100"),
    # signed after the as-of date: ignored
    _order("o10", "c1", "r1", "2024-03-20T03:00:00Z", "5000", "100"),
]

PAYMENTS = [
    {"payment_id": "p1", "order_id": "o1", "paid_at": "2023-02-15T02:00:00Z", "amount": "1000", "currency": "CNY"},
    {"payment_id": "p2", "order_id": "o4", "paid_at": "2024-01-25T02:00:00Z", "amount": "50", "currency": "USD"},
    # 16:30 UTC on Feb 29 = Mar 1 local
    {"payment_id": "p3", "order_id": "o3", "paid_at": "2024-02-29T16:30:00Z", "amount": "200", "currency": "CNY"},
]

FX = [
    {"rate_date": "2023-01-01", "currency": "USD", "rate_to_reporting": "7.0"},
    {"rate_date": "2024-01-15", "currency": "USD", "rate_to_reporting": "7.2"},
]


@pytest.fixture(scope="module")
def revenue(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("revenue")
    landing = tmp / "landing"
    write_csv(landing / "reps.csv", "reps", REPS)
    write_csv(landing / "customers.csv", "customers", CUSTOMERS)
    write_csv(landing / "orders.csv", "orders", ORDERS)
    write_csv(landing / "payments.csv", "payments", PAYMENTS)
    write_csv(landing / "fx_rates.csv", "fx_rates", FX)
    result, reporting = run_refresh(tmp, landing, AS_OF)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    mart = query(reporting, "select * from kpi_revenue")
    return mart, independent_revenue(landing)


# --------------------------------------------------------------------------- independent method
def independent_revenue(landing) -> pd.DataFrame:
    """Revenue per metrics.md, computed with pandas from the landing CSVs alone."""
    cutoff = pd.Timestamp(AS_OF, tz=TZ) + pd.Timedelta(days=1)
    as_of = pd.Timestamp(AS_OF)

    def ts(s):
        return pd.to_datetime(s, utc=True, format="ISO8601")

    orders = pd.read_csv(landing / "orders.csv", dtype=str, keep_default_na=False).replace("", None)
    orders["updated_at"] = ts(orders["updated_at"])
    orders = orders[orders["updated_at"] < cutoff]
    orders = orders.sort_values("updated_at").groupby("order_id").tail(1)
    orders = orders[(orders["is_deleted"] == "false") & (orders["status"] == "active")]
    orders["local"] = ts(orders["signed_at"]).dt.tz_convert(TZ)
    orders = orders[orders["local"] < cutoff]
    orders["amount"] = orders["amount"].astype(float)
    orders["cost"] = orders["cost"].astype(float)

    pays = pd.read_csv(landing / "payments.csv", dtype=str)
    pays["local"] = ts(pays["paid_at"]).dt.tz_convert(TZ)
    pays = pays[pays["local"] < cutoff]
    pays["amount"] = pays["amount"].astype(float)

    fx = pd.read_csv(landing / "fx_rates.csv", dtype={"rate_to_reporting": float})
    fx["rate_date"] = pd.to_datetime(fx["rate_date"])

    def convert(df, cols):
        df = df.copy()
        df["day"] = df["local"].dt.tz_localize(None).dt.normalize()
        rates = []
        for _, row in df.iterrows():
            if row["currency"] == "CNY":
                rates.append(1.0)
            else:
                cand = fx[(fx["currency"] == row["currency"]) & (fx["rate_date"] <= row["day"])]
                rates.append(cand.sort_values("rate_date")["rate_to_reporting"].iloc[-1])
        for c in cols:
            df[c] = df[c] * np.array(rates)
        return df

    orders = convert(orders, ["amount", "cost"])
    pays = convert(pays, ["amount"])
    reps = pd.read_csv(landing / "reps.csv", dtype=str).set_index("rep_id")
    orders["team"] = orders["rep_id"].map(reps["team_id"])
    # payments of live orders only: cancelled and refunded orders count nowhere (metrics.md)
    pays = pays.merge(orders[["order_id", "rep_id", "team"]], on="order_id", how="inner")

    first = min(orders["day"].min(), pays["day"].min())
    rows = []
    for grain, freq in (("month", "MS"), ("quarter", "QS"), ("year", "YS")):
        starts = pd.date_range(first.to_period(freq[0]).start_time, as_of, freq=freq)
        for start in starts:
            end = (start + pd.tseries.frequencies.to_offset(freq)) - pd.Timedelta(days=1)
            for slice_, col, values in (("company", None, [None]), ("team", "team", ["t1", "t2"]),
                                        ("rep", "rep_id", ["r1", "r2"])):
                for v in values:
                    o = orders[(orders["day"] >= start) & (orders["day"] <= end)]
                    p = pays[(pays["day"] >= start) & (pays["day"] <= end)]
                    if col:
                        o, p = o[o[col] == v], p[p[col] == v]
                    gp = None if o["cost"].isna().any() else float((o["amount"] - o["cost"]).sum())
                    rows.append({
                        "period_type": grain, "period_start": start.date(),
                        "period_end": min(end, as_of).date(), "is_partial": end > as_of,
                        "slice": slice_, "slice_value": v,
                        "bookings": float(o["amount"].sum()), "orders": len(o),
                        "ordering_customers": o["customer_id"].nunique(),
                        "aov": float(o["amount"].sum()) / len(o) if len(o) else None,
                        "cash_collected": float(p["amount"].sum()), "gross_profit": gp,
                    })
    exp = pd.DataFrame(rows)
    # growth: prior period of the same grain, and the same period one year earlier
    exp["key"] = exp["slice"] + ":" + exp["slice_value"].fillna("")
    exp = exp.sort_values(["period_type", "key", "period_start"])
    lookup = {(r.period_type, r.key, r.period_start): r.bookings for r in exp.itertuples()}

    def growth(r, months):
        prior_start = (pd.Timestamp(r.period_start) - pd.DateOffset(months=months)).date()
        prior = lookup.get((r.period_type, r.key, prior_start))
        return None if not prior else (r.bookings - prior) / prior

    step = {"month": 1, "quarter": 3, "year": 12}
    exp["bookings_mom"] = [growth(r, 1) if r.period_type == "month" else None for r in exp.itertuples()]
    exp["bookings_qoq"] = [growth(r, 3) if r.period_type == "quarter" else None for r in exp.itertuples()]
    exp["bookings_yoy"] = [growth(r, 12) for r in exp.itertuples()]
    assert step  # grains covered
    return exp.drop(columns="key")


def _row(df, grain, start, slice_="company", value=None):
    sel = df[(df["period_type"] == grain) & (df["period_start"].astype(str) == start) & (df["slice"] == slice_)]
    sel = sel[sel["slice_value"].isna()] if value is None else sel[sel["slice_value"] == value]
    assert len(sel) == 1, f"expected one {grain} {start} {slice_}={value} row, got {len(sel)}"
    return sel.iloc[0]


def _close(a, b):
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None or pd.isna(a)
    return a is not None and not pd.isna(a) and abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))


# --------------------------------------------------------------------------- tests
def test_hand_computed_values(revenue):
    mart, _ = revenue
    # January 2024: o4 100 USD x 7.2 = 720 plus o7 10 USD x 7.0 = 70 (o5 cancelled, o3 is February)
    jan = _row(mart, "month", "2024-01-01")
    assert float(jan["bookings"]) == pytest.approx(790.0) and jan["orders"] == 2
    assert float(jan["aov"]) == pytest.approx(395.0)
    # cash: p2 50 USD x 7.2 = 360
    assert float(jan["cash_collected"]) == pytest.approx(360.0)
    # gross profit: (720 - 360) + (70 - 35) = 395
    assert float(jan["gross_profit"]) == pytest.approx(395.0)
    # February 2024: o3 500 (local Feb 1) + o6 latest version 150 + o11 800 = 1450
    feb = _row(mart, "month", "2024-02-01")
    assert float(feb["bookings"]) == pytest.approx(1450.0) and feb["orders"] == 3
    assert feb["ordering_customers"] == 3
    # mom: (1450 - 790) / 790
    assert float(feb["bookings_mom"]) == pytest.approx(660 / 790)
    # March 2024 is partial (as of the 15th): o12 250; o9 deleted, o10 after the as-of date
    mar = _row(mart, "month", "2024-03-01")
    assert bool(mar["is_partial"]) and str(mar["period_end"])[:10] == AS_OF
    assert float(mar["bookings"]) == pytest.approx(250.0)
    assert float(mar["cash_collected"]) == pytest.approx(200.0)  # p3 paid 16:30 UTC Feb 29 = Mar 1 local
    # February 2023: o1 at its pre-as-of version, 1000 (the 9999 correction is after the as-of date)
    assert float(_row(mart, "month", "2023-02-01")["bookings"]) == pytest.approx(1000.0)
    # Q2 2023 holds o8 without cost: gross profit NULL, never 0
    assert pd.isna(_row(mart, "quarter", "2023-04-01")["gross_profit"])
    # yoy of Q1 2024 vs Q1 2023: (790 + 1450 + 250 - 3000) / 3000
    q1 = _row(mart, "quarter", "2024-01-01")
    assert float(q1["bookings"]) == pytest.approx(2490.0)
    assert float(q1["bookings_yoy"]) == pytest.approx((2490 - 3000) / 3000)
    # months without orders are present with zero bookings and a NULL aov
    may = _row(mart, "month", "2023-05-01")
    assert float(may["bookings"]) == 0 and may["orders"] == 0 and pd.isna(may["aov"])
    # growth against a zero prior is NULL: June 2023 vs May 2023 (0)
    assert pd.isna(_row(mart, "month", "2023-06-01")["bookings_mom"])


@pytest.mark.parametrize("slice_, values", [("company", [None]), ("team", ["t1", "t2"]), ("rep", ["r1", "r2"])])
def test_every_period_matches_independent_computation(revenue, slice_, values):
    mart, exp = revenue
    exp = exp[exp["slice"] == slice_]
    checked = 0
    for r in exp.itertuples():
        value = None if pd.isna(r.slice_value) else r.slice_value
        if value not in values:
            continue
        got = _row(mart, r.period_type, str(r.period_start), slice_, value)
        assert str(got["period_end"])[:10] == str(r.period_end)
        assert bool(got["is_partial"]) == bool(r.is_partial)
        for col in ("bookings", "orders", "ordering_customers", "aov", "cash_collected", "gross_profit",
                    "bookings_mom", "bookings_qoq", "bookings_yoy"):
            assert _close(got[col], getattr(r, col)), (
                f"{col} {r.period_type} {r.period_start} {slice_}={r.slice_value}: "
                f"mart {got[col]!r} != independent {getattr(r, col)!r}"
            )
        checked += 1
    # 14 months (2023-02 .. 2024-03), 5 quarters, 2 years per slice value
    assert checked == 21 * len(values)


def test_other_slices_present(revenue):
    mart, _ = revenue
    feb = mart[(mart["period_type"] == "month") & (mart["period_start"].astype(str) == "2024-02-01")]
    by = {(r.slice, r.slice_value): float(r.bookings) for r in feb.itertuples()}
    # region / channel / segment are the customer's: o3 (c1 east paid_search smb) 500,
    # o6 (c3 east organic mid_market) 150, o11 (c2 south referral enterprise) 800
    assert by[("region", "east")] == pytest.approx(650.0)
    assert by[("region", "south")] == pytest.approx(800.0)
    assert by[("channel", "paid_search")] == pytest.approx(500.0)
    assert by[("segment", "enterprise")] == pytest.approx(800.0)
    keys = mart[["period_type", "period_start", "slice", "slice_value"]].astype(str)
    assert not keys.duplicated().any()
