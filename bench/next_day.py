"""Build a next-day landing drop (day D+1) from a demo landing folder that ends on day D.

Usage: python bench/next_day.py --landing DIR --as-of D --out NEW_DIR [--timezone Asia/Shanghai]

Everything is DuckDB SQL over the parquet files of the landing folder:

* per-day tables (customers, leads, opportunities, opportunity_stage_history, activities, orders,
  payments, deliveries): the rows whose event timestamp falls on the local day D (reporting time
  zone) are copied with every timestamp/date shifted by +1 day and their ids suffixed ``-d1``.
  References follow: a shifted child points to its shifted parent when that parent was copied
  too, otherwise to the original parent (which is already loaded).
* updates: ~0.1 % of the existing orders (live ones become ``cancelled``) and of the existing
  opportunities (amount +5 %) get a new version: same key, ``updated_at`` on D+1.
* dimension-like tables: ``fx_rates`` and ``marketing_spend`` rows of D are copied to D+1;
  reps, sales_compensation and targets are not delivered again (unchanged).

The output folder is written atomically (a temporary ``_tmp`` folder, renamed at the end).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
from pathlib import Path

import duckdb

SUFFIX = "-d1"

# table -> (event timestamp selecting the rows of day D, id columns -> the table each one refers to
# (None = the table's own key), timestamp/date columns shifted by one day)
PER_DAY: dict[str, tuple[str, dict[str, str | None], list[str]]] = {
    "customers": (
        "created_at",
        {"customer_id": None, "referred_by_customer_id": "customers"},
        ["created_at", "churned_at", "updated_at"],
    ),
    "leads": (
        "created_at",
        {"lead_id": None, "converted_customer_id": "customers", "converted_opportunity_id": "opportunities"},
        ["created_at", "first_contacted_at", "qualified_at", "disqualified_at", "updated_at"],
    ),
    "opportunities": (
        "created_at",
        {"opportunity_id": None, "customer_id": "customers", "lead_id": "leads"},
        ["created_at", "expected_close_on", "closed_at", "updated_at"],
    ),
    "opportunity_stage_history": (
        "entered_at",
        {"opportunity_id": "opportunities"},
        ["entered_at"],
    ),
    "activities": (
        "occurred_at",
        {"activity_id": None, "lead_id": "leads", "opportunity_id": "opportunities", "customer_id": "customers"},
        ["occurred_at", "updated_at"],
    ),
    "orders": (
        "signed_at",
        {"order_id": None, "customer_id": "customers", "opportunity_id": "opportunities"},
        ["signed_at", "updated_at"],
    ),
    "payments": ("paid_at", {"payment_id": None, "order_id": "orders"}, ["paid_at"]),
    "deliveries": ("delivered_at", {"delivery_id": None, "order_id": "orders"}, ["delivered_at"]),
}
KEYS = {"customers": "customer_id", "leads": "lead_id", "opportunities": "opportunity_id", "orders": "order_id"}


def build_next_day(landing: Path, as_of: dt.date, out: Path, timezone: str = "Asia/Shanghai",
                   update_share: float = 0.001) -> dict[str, int]:
    if out.exists():
        raise SystemExit(f"{out} exists already: the next-day drop must be a new folder")
    tmp = out.with_name("_tmp_" + out.name)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    day = as_of.isoformat()
    lo = f"timezone('{timezone}', timestamp '{day} 00:00:00')"
    hi = f"timezone('{timezone}', timestamp '{day} 00:00:00' + interval 1 day)"
    src = {p.stem: f"read_parquet('{p}')" for p in landing.glob("*.parquet")}
    missing = [t for t in PER_DAY if t not in src]
    if missing:
        raise SystemExit(f"{landing}: missing landing files for {missing}")

    # the ids of day D of each parent table (these are the ones shifted)
    for table, key in KEYS.items():
        ts = PER_DAY[table][0]
        con.execute(
            f"create temp table shifted_{table} as select distinct {key} as id from {src[table]} "
            f"where {ts} >= {lo} and {ts} < {hi}"
        )

    counts: dict[str, int] = {}
    for table, (ts, ids, shifted_cols) in PER_DAY.items():
        cols = [r[0] for r in con.execute(f"describe select * from {src[table]}").fetchall()]
        select = []
        for c in cols:
            if c in ids:
                ref = ids[c] or table
                if ids[c] is None and table not in KEYS:
                    select.append(f"{c} || '{SUFFIX}' as {c}")  # own key of a leaf table: always new
                else:
                    select.append(
                        f"case when {c} in (select id from shifted_{ref}) then {c} || '{SUFFIX}' else {c} end as {c}"
                    )
            elif c in shifted_cols:
                kind = con.execute(f"select typeof({c}) from {src[table]} limit 1").fetchone()[0]
                if kind == "DATE":
                    select.append(f"cast({c} + interval 1 day as date) as {c}")
                else:
                    select.append(f"{c} + interval 1 day as {c}")
            else:
                select.append(c)
        query = f"select {', '.join(select)} from {src[table]} where {ts} >= {lo} and {ts} < {hi}"
        if table == "orders":
            query += " union all " + _order_updates(src, lo, hi, day, timezone, update_share)
        elif table == "opportunities":
            query += " union all " + _opportunity_updates(src, lo, hi, day, timezone, update_share)
        counts[table] = _write(con, query, tmp / f"{table}.parquet")

    counts["fx_rates"] = _write(
        con,
        f"select cast(rate_date + interval 1 day as date) as rate_date, currency, rate_to_reporting "
        f"from {src['fx_rates']} where rate_date = date '{day}'",
        tmp / "fx_rates.parquet",
    )
    if "marketing_spend" in src:
        counts["marketing_spend"] = _write(
            con,
            f"select spend_id || '{SUFFIX}' as spend_id, cast(spend_date + interval 1 day as date) as spend_date, "
            f"channel, campaign_id, category, amount, currency from {src['marketing_spend']} "
            f"where spend_date = date '{day}'",
            tmp / "marketing_spend.parquet",
        )
    con.close()
    tmp.rename(out)
    return counts


def _latest(src: dict[str, str], table: str, key: str) -> str:
    return (
        f"select * from (select *, row_number() over (partition by {key} order by updated_at desc) as _n "
        f"from {src[table]}) where _n = 1"
    )


def _sample(key: str, share: float) -> str:
    modulo = max(1, round(1 / share))
    return f"hash({key} || '#update') % {modulo} = 0"


def _update_time(day: str, timezone: str, key: str) -> str:
    # a time on D+1 (local): 09:00 + up to 8 hours, spread by key
    return (
        f"timezone('{timezone}', timestamp '{day} 09:00:00' + interval 1 day "
        f"+ to_seconds(cast(hash({key}) % 28800 as bigint)))"
    )


def _order_updates(src, lo, hi, day, timezone, share) -> str:
    return (
        f"select order_id, customer_id, opportunity_id, rep_id, signed_at, amount, cost, currency, "
        f"case when status = 'active' then 'cancelled' else status end as status, "
        f"{_update_time(day, timezone, 'order_id')} as updated_at, is_deleted "
        f"from ({_latest(src, 'orders', 'order_id')}) "
        f"where not coalesce(is_deleted, false) and signed_at < {lo} and {_sample('order_id', share)}"
    )


def _opportunity_updates(src, lo, hi, day, timezone, share) -> str:
    return (
        f"select opportunity_id, customer_id, lead_id, owner_rep_id, created_at, stage, "
        f"cast(round(amount * 1.05, 2) as decimal(18, 4)) as amount, currency, expected_close_on, closed_at, "
        f"is_closed, is_won, loss_reason, {_update_time(day, timezone, 'opportunity_id')} as updated_at, is_deleted "
        f"from ({_latest(src, 'opportunities', 'opportunity_id')}) "
        f"where not coalesce(is_deleted, false) and created_at < {lo} and {_sample('opportunity_id', share)}"
    )


def _write(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> int:
    con.execute(f"copy ({query}) to '{path}' (format parquet)")
    return con.execute(f"select count(*) from read_parquet('{path}')").fetchone()[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--landing", type=Path, required=True, help="folder with the demo's <table>.parquet files")
    p.add_argument("--as-of", type=dt.date.fromisoformat, required=True, help="the last day D of the landing data")
    p.add_argument("--out", type=Path, required=True, help="new folder for the D+1 drop")
    p.add_argument("--timezone", default="Asia/Shanghai")
    p.add_argument("--update-share", type=float, default=0.001)
    args = p.parse_args(argv)
    counts = build_next_day(args.landing, args.as_of, args.out, args.timezone, args.update_share)
    for t, n in counts.items():
        print(f"{t:28s} {n:>10,}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
