"""Predictive CLV mart: BG/NBD + Gamma-Gamma fitted on the live orders of the build warehouse.

The orders are reduced in DuckDB SQL (customer x day, then one RFM row per customer, then the
distinct (x, t_x, T) counts the BG/NBD fit needs), so memory stays bounded by the number of
customers, not orders. The model itself lives in :mod:`salespulse.clv_model`.
"""

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
    asset_check,
)

from .. import duck, progress
from ..clv_model import OUTPUT_COLUMNS, ClvFit, fit_models, predict_from_summary
from ..duck import DuckLimits
from ..engines import get_engine
from ..resources import SalespulseSettings

CLV_TABLE = "kpi_clv_predicted"
ORDERS_TABLE = "marts.fct_orders"
FIT_OK = "ok"

#: Column types of marts.kpi_clv_predicted, in order.
TABLE_COLUMNS: dict[str, str] = {
    "customer_id": "varchar",
    "frequency": "integer",
    "recency_days": "integer",
    "t_days": "integer",
    "monetary_value": "double",
    "p_alive": "double",
    "expected_orders_365d": "double",
    "expected_avg_order_value": "double",
    "clv_predicted_12m": "double",
    "bgnbd_r": "double",
    "bgnbd_alpha": "double",
    "bgnbd_a": "double",
    "bgnbd_b": "double",
    "gg_p": "double",
    "gg_q": "double",
    "gg_v": "double",
    "as_of": "date",
    "fit_status": "varchar",
}
assert tuple(TABLE_COLUMNS)[: len(OUTPUT_COLUMNS)] == OUTPUT_COLUMNS

#: Published column documentation: (description, Chinese label). The catalog and dashboards read it.
COLUMN_DOCS: dict[str, tuple[str, str]] = {
    "customer_id": ("Customer id (the CRM's account id).", "客户ID"),
    "frequency": ("Repeat purchase days: distinct order days after the first one.", "重复购买天数"),
    "recency_days": ("Days between the first and the last purchase day.", "最近购买间隔(天)"),
    "t_days": ("Days between the first purchase day and the as-of date (customer age).", "客户存续天数"),
    "monetary_value": ("Mean amount of the repeat purchase days, reporting currency (0 without repeats).",
                       "平均重复购买金额"),
    "p_alive": ("Probability that the customer is still active (BG/NBD).", "存活概率"),
    "expected_orders_365d": ("Expected purchase days in the next 365 days (BG/NBD).", "未来365天预期购买次数"),
    "expected_avg_order_value": ("Expected average order value (Gamma-Gamma), reporting currency.",
                                 "预期平均订单金额"),
    "clv_predicted_12m": ("Predicted 12-month CLV: expected monthly purchases x expected order value, "
                          "discounted monthly by clv_monthly_discount_rate.", "预测12个月客户终身价值"),
    "bgnbd_r": ("Fitted BG/NBD shape r of the purchase-rate gamma distribution.", "BG/NBD参数r"),
    "bgnbd_alpha": ("Fitted BG/NBD scale alpha (days).", "BG/NBD参数alpha"),
    "bgnbd_a": ("Fitted BG/NBD dropout beta parameter a.", "BG/NBD参数a"),
    "bgnbd_b": ("Fitted BG/NBD dropout beta parameter b.", "BG/NBD参数b"),
    "gg_p": ("Fitted Gamma-Gamma parameter p.", "Gamma-Gamma参数p"),
    "gg_q": ("Fitted Gamma-Gamma parameter q.", "Gamma-Gamma参数q"),
    "gg_v": ("Fitted Gamma-Gamma parameter v.", "Gamma-Gamma参数v"),
    "as_of": ("As-of date of the fit (orders up to this local day).", "数据截止日期"),
    "fit_status": ("'ok', or why the data could not support a fit (then predictions are NULL).", "拟合状态"),
}
assert set(COLUMN_DOCS) == set(TABLE_COLUMNS)

# One row per live customer: repeat purchase days, recency and age in days, mean repeat-day amount.
# A day whose amounts are all NULL (unconverted currency) still counts as a purchase day but is
# left out of the mean spend.
_RFM_SQL = f"""
create or replace temp table clv_rfm as
with days as (
    -- exact DECIMAL sums (not doubles): parallel float addition would make reruns differ in the
    -- last bits and the maximum-likelihood fit amplify that
    select customer_id, signed_on as day, sum(amount_rpt) as amount
    from {ORDERS_TABLE}
    where is_live and signed_on <= $as_of and customer_id is not null and signed_on is not null
    group by customer_id, signed_on
),
flagged as (
    select *, day > min(day) over (partition by customer_id) as is_repeat from days
)
select
    cast(customer_id as varchar) as customer_id,
    (count(*) - 1)::integer as frequency,
    date_diff('day', min(day), max(day))::integer as recency,
    date_diff('day', min(day), $as_of)::integer as "T",
    coalesce(avg(amount) filter (where is_repeat), 0)::double as monetary_value
from flagged
group by customer_id
"""


def _unfitted(summary: pd.DataFrame) -> pd.DataFrame:
    """The output frame with NULL predictions and parameters (the fit was impossible)."""
    out = pd.DataFrame(
        {
            "customer_id": summary["customer_id"],
            "frequency": summary["frequency"],
            "recency_days": summary["recency"],
            "t_days": summary["T"],
            "monetary_value": summary["monetary_value"],
        }
    )
    for col in OUTPUT_COLUMNS[len(out.columns) :]:
        out[col] = np.nan
    return out


def _write(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, as_of: dt.date, status: str) -> None:
    con.register("clv_frame", frame[list(OUTPUT_COLUMNS)])
    select = ",\n    ".join(
        f"cast({col} as {typ}) as {col}" for col, typ in TABLE_COLUMNS.items() if col in OUTPUT_COLUMNS
    )
    con.execute("create schema if not exists marts")
    con.execute(
        f"create or replace table marts.{CLV_TABLE} as\nselect\n    {select},\n"
        "    cast($as_of as date) as as_of,\n    cast($status as varchar) as fit_status\n"
        "from clv_frame order by customer_id",
        {"as_of": as_of, "status": status},
    )
    con.unregister("clv_frame")


@dataclass(frozen=True)
class ClvBuild:
    """What one rebuild of marts.kpi_clv_predicted did."""

    customers: int
    status: str
    fit_seconds: float
    fit: ClvFit | None


def build_clv_table(
    build_db: Path, as_of: dt.date, monthly_discount_rate: float, limits: DuckLimits | None = None
) -> ClvBuild:
    """Read the live orders, fit, and (re)write ``marts.kpi_clv_predicted``.

    A fit that the data cannot support does not raise: the table is written with NULL
    predictions and ``fit_status`` holding the reason.
    """
    con = duck.connect(build_db, limits=limits)
    try:
        con.execute(_RFM_SQL, {"as_of": as_of})
        summary = con.execute("select * from clv_rfm order by customer_id").df()
        counts = con.execute(
            'select frequency, recency, "T", count(*) as weight from clv_rfm group by all order by all'
        ).df()
        started = time.perf_counter()
        fit: ClvFit | None
        try:
            fit = fit_models(summary, bgnbd_counts=counts)
            frame = predict_from_summary(summary, fit, monthly_discount_rate=monthly_discount_rate)
            status = FIT_OK
        except ValueError as exc:
            fit, frame, status = None, _unfitted(summary), f"not fitted: {exc}"
        seconds = time.perf_counter() - started
        con.execute("begin transaction")
        _write(con, frame, as_of, status)
        con.execute("commit")
    finally:
        con.close()
    return ClvBuild(customers=len(summary), status=status, fit_seconds=seconds, fit=fit)


@asset(
    key=AssetKey([CLV_TABLE]),
    deps=[AssetKey(["fct_orders"])],
    group_name="marts",
    kinds={"duckdb", "python"},
    description="marts.kpi_clv_predicted: predictive CLV per customer (BG/NBD purchase days and "
    "Gamma-Gamma spend, time unit one day, fitted on every live order up to the as-of date): "
    "p_alive, expected_orders_365d, expected_avg_order_value, clv_predicted_12m (monthly discount "
    "rate kpi.clv_monthly_discount_rate), with the fitted parameters as columns. When the data "
    "cannot support a fit the predictions are NULL and fit_status says why.",
)
def kpi_clv_predicted(context: AssetExecutionContext, settings: SalespulseSettings) -> MaterializeResult:
    cfg = settings.get()
    as_of = cfg.effective_as_of
    progress.report(f"clv: fitting BG/NBD + Gamma-Gamma on live orders up to {as_of} in {cfg.build_db}")
    build = build_clv_table(cfg.build_db, as_of, cfg.kpi.clv_monthly_discount_rate, DuckLimits.of(cfg))
    engine = get_engine(cfg)
    if engine.name != "duckdb":  # a Python-built mart: write it to the target's marts schema too
        rows = engine.push_mart(CLV_TABLE)
        progress.report(f"clv: {rows:,} rows written to marts.{CLV_TABLE} on {engine.name}")
    fit = build.fit
    metadata: dict[str, object] = {
        "customers": build.customers,
        "as_of": as_of.isoformat(),
        "fit_status": build.status,
        "fit_seconds": round(build.fit_seconds, 3),
        "monthly_discount_rate": cfg.kpi.clv_monthly_discount_rate,
    }
    if fit is None:
        context.log.warning("kpi_clv_predicted: predictions are NULL (%s)", build.status)
        progress.report(f"clv: {build.status}")
    else:
        metadata.update(
            {
                "repeat_customers": fit.repeat_customers,
                "bgnbd_params": MetadataValue.json({k: float(v) for k, v in fit.bgnbd._asdict().items()}),
                "gamma_gamma_params": MetadataValue.json(
                    {k: float(v) for k, v in fit.gamma_gamma._asdict().items()}
                ),
                "bgnbd_log_likelihood": fit.bgnbd_log_likelihood,
                "gamma_gamma_log_likelihood": fit.gg_log_likelihood,
            }
        )
        progress.report(
            f"clv: {build.customers:,} customers fitted in {build.fit_seconds:.2f}s (r={fit.bgnbd.r:.4g}, "
            f"alpha={fit.bgnbd.alpha:.4g}, a={fit.bgnbd.a:.4g}, b={fit.bgnbd.b:.4g})"
        )
    metadata["dagster/column_schema"] = TableSchema(
        columns=[TableColumn(c, TABLE_COLUMNS[c], description=f"{d} ({zh})") for c, (d, zh) in COLUMN_DOCS.items()]
    )
    return MaterializeResult(metadata=metadata)


_CHECK_SQL = f"""
with t as (select * from marts.{CLV_TABLE}),
expected as (
    select count(distinct customer_id) as n
    from {ORDERS_TABLE}
    where is_live and customer_id is not null
      and signed_on <= (select max(as_of) from t)
)
select
    (select count(*) from t) as row_count,
    (select count(distinct customer_id) from t) as distinct_customers,
    (select count(*) from t where customer_id is null) as null_customer_ids,
    (select n from expected) as expected_customers,
    (select count(*) from t where p_alive < 0 or p_alive > 1) as p_alive_out_of_range,
    (select count(*) from t
     where expected_orders_365d < 0 or expected_avg_order_value < 0 or clv_predicted_12m < 0
        or isnan(expected_orders_365d) or isnan(expected_avg_order_value) or isnan(clv_predicted_12m)
        or isnan(p_alive)) as negative_or_nan_values,
    (select count(*) from t
     where fit_status = '{FIT_OK}'
       and (p_alive is null or expected_orders_365d is null or expected_avg_order_value is null
            or clv_predicted_12m is null)) as null_predictions_of_fitted,
    (select count(distinct fit_status) from t) as fit_statuses,
    (select min(fit_status) from t) as fit_status
"""


@asset_check(
    asset=kpi_clv_predicted,
    name="clv_predictions_valid",
    blocking=True,
    description="p_alive within [0, 1]; expected orders, average order value and CLV non-negative "
    "and not NaN (NULL only when the fit was impossible); exactly one row per live customer.",
)
def clv_predictions_valid(settings: SalespulseSettings) -> AssetCheckResult:
    cfg = settings.get()
    con = duck.connect(cfg.build_db, read_only=True, limits=DuckLimits.of(cfg))
    try:
        row = con.execute(_CHECK_SQL).df().iloc[0].to_dict()
    finally:
        con.close()
    facts = {k: (v if isinstance(v, str) or v is None else int(v)) for k, v in row.items()}
    problems = []
    if facts["row_count"] != facts["distinct_customers"] or facts["null_customer_ids"]:
        problems.append("customer_id is not unique and non-null")
    if facts["row_count"] and facts["distinct_customers"] != facts["expected_customers"]:
        problems.append(
            f"{facts['distinct_customers']} customers in the mart, "
            f"{facts['expected_customers']} live in fct_orders"
        )
    if facts["p_alive_out_of_range"]:
        problems.append(f"{facts['p_alive_out_of_range']} p_alive outside [0, 1]")
    if facts["negative_or_nan_values"]:
        problems.append(f"{facts['negative_or_nan_values']} rows with negative or NaN predictions")
    if facts["null_predictions_of_fitted"]:
        problems.append(f"{facts['null_predictions_of_fitted']} fitted rows with NULL predictions")
    if facts["fit_statuses"] and facts["fit_statuses"] > 1:
        problems.append("more than one fit_status in the table")
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            **{k: v for k, v in facts.items() if v is not None},
            "problems": "; ".join(problems) or "none",
        },
    )
