"""The pandas reference: the headline KPIs the way an analyst would compute them with pandas.

    python bench/pandas_ref.py --landing DIR --as-of D [--out DIR] [--check REPORTING_DB]

Reads the landing parquet files (only the needed columns; all drops under DIR, recursively, so a
next-day drop is included) and computes, for the as-of date D, in the reporting currency CNY and
the reporting time zone Asia/Shanghai (shared/spec/metrics.md):

* latest version per key (``updated_at`` before the as-of cutoff, the later row wins a tie),
  soft deletes dropped, events after the cutoff ignored;
* monthly bookings by rep: live orders (status active) by the local month of ``signed_at`` and the
  order's rep, converted with the fx rate of the local date (or the latest earlier one);
* new customers per month: customers by the local month of their first live order;
* funnel cohort rates: leads by created month -> contacted / qualified / won shares (the lead's
  opportunity: its converted one, else one naming the lead, won first then oldest);
* blended CAC per month: (marketing spend + sales compensation) / new customers.

Prints a JSON summary (seconds per phase, row counts) on stdout. ``--out`` writes the four results
as parquet; ``--check`` compares them with the pipeline's marts (kpi_revenue, kpi_customers,
kpi_funnel, kpi_cac) in a reporting database and reports the mismatches.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TZ = "Asia/Shanghai"
CCY = "CNY"


def read(landing: Path, table: str, columns: list[str]) -> pd.DataFrame:
    """All landing files of a table (oldest drop first), decimals as float64."""
    frames = []
    for path in sorted(landing.rglob(f"{table}.parquet")):
        t = pq.read_table(path, columns=columns)
        for i, f in enumerate(t.schema):
            if pa.types.is_decimal(f.type):
                t = t.set_column(i, f.name, t.column(i).cast(pa.float64()))
        frames.append(t.to_pandas())
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def latest(df: pd.DataFrame, key: list[str], cutoff: pd.Timestamp) -> pd.DataFrame:
    df = df[df["updated_at"] < cutoff]
    df = df.sort_values("updated_at", kind="stable")  # ties: the later-loaded row stays last
    df = df.drop_duplicates(key, keep="last")
    if "is_deleted" in df:
        df = df[~df["is_deleted"].fillna(False).astype(bool)]
    return df


def local_date(ts: pd.Series) -> pd.Series:
    return ts.dt.tz_convert(TZ).dt.tz_localize(None).dt.normalize()


def month_of(day: pd.Series) -> pd.Series:
    return day.dt.to_period("M").dt.to_timestamp()


def to_cny(df: pd.DataFrame, amount_cols: list[str], day_col: str, fx: pd.DataFrame) -> pd.DataFrame:
    """Multiply amount columns by the rate of ``day_col`` (on or before) for each row's currency."""
    df = df.reset_index(drop=True)
    df["_row"] = np.arange(len(df))
    df["currency"] = df["currency"].str.strip().str.upper()
    rate = pd.Series(np.nan, index=df.index)
    rate[df["currency"] == CCY] = 1.0
    other = df[df["currency"] != CCY].sort_values(day_col)
    if len(other):
        m = pd.merge_asof(
            other[["_row", day_col, "currency"]].astype({day_col: "datetime64[us]"}),
            fx.astype({"rate_date": "datetime64[us]"}),
            left_on=day_col, right_on="rate_date", by="currency", direction="backward",
        )
        rate[m["_row"].to_numpy()] = m["rate_to_reporting"].to_numpy()
    for c in amount_cols:
        df[c + "_cny"] = (df[c] * rate).round(4)
    return df.drop(columns="_row")


def compute(landing: Path, as_of: dt.date) -> tuple[dict[str, pd.DataFrame], dict]:
    timings: dict[str, float] = {}
    t = time.perf_counter()
    cutoff = pd.Timestamp(as_of + dt.timedelta(days=1)).tz_localize(TZ)
    as_of_ts = pd.Timestamp(as_of)

    orders = read(landing, "orders", ["order_id", "customer_id", "rep_id", "signed_at", "amount", "currency",
                                      "status", "updated_at", "is_deleted"])
    customers = read(landing, "customers", ["customer_id", "created_at", "updated_at", "is_deleted"])
    leads = read(landing, "leads", ["lead_id", "created_at", "first_contacted_at", "qualified_at",
                                    "converted_opportunity_id", "updated_at", "is_deleted"])
    opps = read(landing, "opportunities", ["opportunity_id", "lead_id", "created_at", "closed_at", "is_closed",
                                           "is_won", "updated_at", "is_deleted"])
    spend = read(landing, "marketing_spend", ["spend_id", "spend_date", "amount", "currency"])
    comp = read(landing, "sales_compensation", ["rep_id", "month", "base_salary", "commission", "bonus",
                                                "currency"])
    fx = read(landing, "fx_rates", ["rate_date", "currency", "rate_to_reporting"])
    timings["read_s"] = time.perf_counter() - t
    rows_read = sum(len(x) for x in (orders, customers, leads, opps, spend, comp, fx))

    # ---- fx: latest load per (date, currency), dates up to the as-of date
    t = time.perf_counter()
    fx["currency"] = fx["currency"].str.strip().str.upper()
    fx["rate_date"] = pd.to_datetime(fx["rate_date"])
    fx = fx[fx["rate_date"] <= as_of_ts].drop_duplicates(["rate_date", "currency"], keep="last")
    fx = fx[fx["currency"] != CCY].sort_values("rate_date")

    # ---- orders: latest version, live, signed by the cutoff
    orders = latest(orders, ["order_id"], cutoff)
    orders = orders[orders["signed_at"] < cutoff]
    orders = orders[orders["status"].str.strip().str.lower() == "active"]
    orders["signed_on"] = local_date(orders["signed_at"])
    orders = to_cny(orders, ["amount"], "signed_on", fx)
    orders["month"] = month_of(orders["signed_on"])
    bookings = (
        orders.groupby(["month", "rep_id"], as_index=False)
        .agg(bookings=("amount_cny", "sum"), orders=("order_id", "size"))
    )
    timings["bookings_s"] = time.perf_counter() - t

    # ---- new customers: first live order of each (current, not deleted) customer
    t = time.perf_counter()
    customers = latest(customers, ["customer_id"], cutoff)
    customers = customers[customers["created_at"] < cutoff]
    first = orders.groupby("customer_id", as_index=False)["signed_at"].min()
    first = first[first["customer_id"].isin(customers["customer_id"])]
    first["month"] = month_of(local_date(first["signed_at"]))
    new_customers = first.groupby("month", as_index=False).size().rename(columns={"size": "new_customers"})
    timings["new_customers_s"] = time.perf_counter() - t

    # ---- funnel cohorts
    t = time.perf_counter()
    leads = latest(leads, ["lead_id"], cutoff)
    leads = leads[leads["created_at"] < cutoff].copy()
    for c in ("first_contacted_at", "qualified_at"):
        leads[c] = leads[c].where(leads[c] < cutoff)
    opps = latest(opps, ["opportunity_id"], cutoff)
    opps = opps[opps["created_at"] < cutoff].copy()
    closed = opps["is_closed"].fillna(False).astype(bool) & (opps["closed_at"].isna() | (opps["closed_at"] < cutoff))
    opps["won"] = closed & opps["is_won"].fillna(False).astype(bool)
    links = pd.concat([
        leads.loc[leads["converted_opportunity_id"].notna(), ["lead_id", "converted_opportunity_id"]]
        .rename(columns={"converted_opportunity_id": "opportunity_id"}).assign(priority=0),
        opps.loc[opps["lead_id"].notna(), ["lead_id", "opportunity_id"]].assign(priority=1),
    ], ignore_index=True)
    links = links.merge(opps[["opportunity_id", "won", "created_at"]], on="opportunity_id", how="inner")
    links["not_won"] = ~links["won"]
    links = links.sort_values(["lead_id", "priority", "not_won", "created_at", "opportunity_id"])
    links = links.drop_duplicates("lead_id", keep="first")
    leads = leads.merge(links[["lead_id", "won"]], on="lead_id", how="left")
    leads["won"] = leads["won"].fillna(False).astype(bool)
    leads["qualified"] = leads["qualified_at"].notna() | leads["won"]
    leads["contacted"] = leads["first_contacted_at"].notna() | leads["qualified"]
    leads["month"] = month_of(local_date(leads["created_at"]))
    funnel = leads.groupby("month", as_index=False).agg(
        leads=("lead_id", "size"), contacted=("contacted", "sum"), qualified=("qualified", "sum"),
        won=("won", "sum"),
    )
    funnel["lead_to_contact_rate"] = funnel["contacted"] / funnel["leads"]
    funnel["contact_to_qualified_rate"] = funnel["qualified"] / funnel["contacted"].replace(0, np.nan)
    funnel["qualified_to_won_rate"] = funnel["won"] / funnel["qualified"].replace(0, np.nan)
    funnel["lead_to_won_rate"] = funnel["won"] / funnel["leads"]
    timings["funnel_s"] = time.perf_counter() - t

    # ---- blended CAC
    t = time.perf_counter()
    spend = spend.drop_duplicates("spend_id", keep="last")
    spend["spend_date"] = pd.to_datetime(spend["spend_date"])
    spend = spend[spend["spend_date"] <= as_of_ts]
    spend = to_cny(spend, ["amount"], "spend_date", fx)
    spend["month"] = month_of(spend["spend_date"])
    comp = comp.drop_duplicates(["rep_id", "month"], keep="last")
    comp["month"] = pd.to_datetime(comp["month"])
    comp = comp[comp["month"] <= as_of_ts]
    comp = to_cny(comp, ["base_salary", "commission", "bonus"], "month", fx)
    comp["compensation"] = comp["base_salary_cny"] + comp["commission_cny"] + comp["bonus_cny"]
    comp["month"] = month_of(comp["month"])
    cac = (
        spend.groupby("month")["amount_cny"].sum().rename("marketing_spend").to_frame()
        .join(comp.groupby("month")["compensation"].sum().rename("sales_compensation"), how="outer")
        .join(new_customers.set_index("month")["new_customers"], how="outer")
        .fillna({"marketing_spend": 0.0, "sales_compensation": 0.0, "new_customers": 0})
        .reset_index()
    )
    cac["cac_blended"] = (cac["marketing_spend"] + cac["sales_compensation"]) / cac["new_customers"].replace(0, np.nan)
    timings["cac_s"] = time.perf_counter() - t

    results = {"bookings_by_rep": bookings, "new_customers": new_customers, "funnel": funnel, "cac": cac}
    info = {"rows_read": rows_read, **{f"{k}_rows": len(v) for k, v in results.items()}, **timings}
    return results, info


def check(results: dict[str, pd.DataFrame], reporting_db: Path) -> dict:
    """Compare with the published marts (company / rep slices, month grain)."""
    import duckdb

    con = duckdb.connect(str(reporting_db), read_only=True)

    def mart(sql: str) -> pd.DataFrame:
        df = con.sql(sql).df()
        df["month"] = pd.to_datetime(df["month"])
        return df

    out: dict[str, dict] = {}

    def compare(name: str, ours: pd.DataFrame, theirs: pd.DataFrame, keys: list[str], cols: list[str]):
        m = ours.merge(theirs, on=keys, how="outer", suffixes=("_pandas", "_mart"), indicator=True)
        only_pandas = int((m["_merge"] == "left_only").sum())
        only_mart = int((m["_merge"] == "right_only").sum())
        both = m[m["_merge"] == "both"]
        bad = 0
        worst = 0.0
        for c in cols:
            a = both[c + "_pandas"].astype(float)
            b = both[c + "_mart"].astype(float)
            diff = (a - b).abs() / b.abs().clip(lower=1.0)
            nan_mismatch = a.isna() != b.isna()
            bad_rows = (diff > 1e-6) | nan_mismatch
            bad += int(bad_rows.sum())
            if diff.notna().any():
                worst = max(worst, float(diff.max()))
        out[name] = {"rows_compared": len(both), "only_in_pandas": only_pandas, "only_in_mart": only_mart,
                     "mismatched_values": bad, "max_rel_diff": worst,
                     "match": bad == 0 and only_pandas == 0}

    rev = mart("select period_start as month, slice_value as rep_id, bookings, orders from kpi_revenue "
               "where period_type = 'month' and slice = 'rep' and orders > 0")
    compare("monthly_bookings_by_rep", results["bookings_by_rep"], rev, ["month", "rep_id"], ["bookings", "orders"])
    comp_b = results["bookings_by_rep"].groupby("month", as_index=False)["bookings"].sum()
    rev_c = mart("select period_start as month, bookings from kpi_revenue where period_type = 'month' "
                 "and slice = 'company' and orders > 0")
    compare("monthly_bookings_company", comp_b, rev_c, ["month"], ["bookings"])
    cus = mart("select period_start as month, new_customers from kpi_customers where period_type = 'month' "
               "and slice = 'company' and new_customers > 0")
    compare("new_customers", results["new_customers"], cus, ["month"], ["new_customers"])
    fun = mart("select period_start as month, leads, contacted, qualified, won, lead_to_contact_rate, "
               "contact_to_qualified_rate, qualified_to_won_rate, lead_to_won_rate from kpi_funnel "
               "where period_type = 'month' and slice = 'company' and leads > 0")
    compare("funnel_cohorts", results["funnel"], fun, ["month"],
            ["leads", "contacted", "qualified", "won", "lead_to_contact_rate", "contact_to_qualified_rate",
             "qualified_to_won_rate", "lead_to_won_rate"])
    cac = mart("select period_start as month, ad_spend + other_marketing as marketing_spend, sales_compensation, "
               "new_customers, cac_blended from kpi_cac where period_type = 'month' and slice = 'company'")
    ours = results["cac"]
    ours = ours[ours["month"].isin(cac["month"])]
    compare("cac_blended", ours, cac, ["month"], ["marketing_spend", "sales_compensation", "cac_blended"])
    con.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--landing", type=Path, required=True)
    p.add_argument("--as-of", type=dt.date.fromisoformat, required=True)
    p.add_argument("--out", type=Path, help="write the results as <out>/<name>.parquet")
    p.add_argument("--check", type=Path, metavar="REPORTING_DB", help="compare with the pipeline's marts")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    results, info = compute(args.landing, args.as_of)
    info["total_s"] = time.perf_counter() - t0
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, df in results.items():
            df.to_parquet(args.out / f"{name}.parquet")
    if args.check:
        info["check"] = check(results, args.check)
    print(json.dumps(info, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
