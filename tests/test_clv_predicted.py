"""Predictive CLV (BG/NBD + Gamma-Gamma): published CDNOW parameters, hand-worked formulas, the asset.

The CDNOW summaries come from the ``lifetimes`` 0.11.3 wheel on PyPI (downloaded once with pip and
cached under the pytest cache; lifetimes itself is never imported):
``cdnow_customers_summary.csv`` (ID, frequency, recency, T in weeks; 2,357 customers) for BG/NBD,
and ``cdnow_customers_summary_with_transactions.csv`` (ID, x, t_x, T, zbar), whose ``zbar`` is the
mean repeat-purchase spend the Gamma-Gamma fit needs (the plain summary has no monetary column).
"""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from dagster import materialize

from salespulse.assets.clv import CLV_TABLE, clv_predictions_valid, kpi_clv_predicted
from salespulse.clv_model import (
    OUTPUT_COLUMNS,
    BGNBDParams,
    GammaGammaParams,
    bgnbd_log_likelihood,
    clv_predicted,
    expected_avg_order_value,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    p_alive,
    predict_clv,
    rfm_summary,
)
from salespulse.resources import SalespulseSettings

from conftest import query

LIFETIMES = "lifetimes==0.11.3"
CDNOW_FILES = ("cdnow_customers_summary.csv", "cdnow_customers_summary_with_transactions.csv")


# ------------------------------------------------------------------------------------------ CDNOW
@pytest.fixture(scope="session")
def cdnow(request) -> dict[str, pd.DataFrame]:
    """The two CDNOW summaries of the lifetimes wheel, cached under the pytest cache dir."""
    cache_dir = Path(request.config.cache.mkdir("cdnow_lifetimes_0_11_3"))
    if not all((cache_dir / name).is_file() for name in CDNOW_FILES):
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", LIFETIMES,
                   "-d", tmp]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            wheels = sorted(Path(tmp).glob("*.whl"))
            if proc.returncode != 0 or not wheels:
                pytest.fail(
                    f"could not download the {LIFETIMES} wheel (it carries the CDNOW reference data) "
                    f"with `{' '.join(cmd)}`: is a package index reachable?\n{proc.stdout[-1500:]}"
                    f"\n{proc.stderr[-1500:]}",
                    pytrace=False,
                )
            with zipfile.ZipFile(wheels[0]) as wheel:
                for name in CDNOW_FILES:
                    data = wheel.read(f"lifetimes/datasets/{name}")
                    partial = cache_dir / (name + ".part")
                    partial.write_bytes(data)
                    partial.replace(cache_dir / name)
    return {name: pd.read_csv(cache_dir / name) for name in CDNOW_FILES}


def test_cdnow_bgnbd_reproduces_published_parameters(cdnow):
    summary = cdnow["cdnow_customers_summary.csv"]
    assert len(summary) == 2357
    params = fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
    # Fader, Hardie & Lee (2005), time unit one week.
    assert round(params.r, 3) == 0.243
    assert round(params.alpha, 3) == 4.414
    assert round(params.a, 3) == 0.793
    assert round(params.b, 3) == 2.426
    # Published log-likelihood -9582.4.
    ll = bgnbd_log_likelihood(params, summary["frequency"], summary["recency"], summary["T"])
    assert ll == pytest.approx(-9582.4, abs=0.05)
    # The paper's worked example: x = 2, t_x = 30.43, T = 38.86 -> 1.226 purchases in 39 weeks.
    assert expected_purchases(params, 39.0, [2], [30.43], [38.86])[0] == pytest.approx(1.226, abs=5e-4)


def test_cdnow_gamma_gamma_reproduces_published_parameters(cdnow):
    data = cdnow["cdnow_customers_summary_with_transactions.csv"]
    plain = cdnow["cdnow_customers_summary.csv"]
    # Same customers, same (x, t_x, T) as the BG/NBD summary; zbar is the mean repeat spend.
    assert np.array_equal(data[["x", "t_x", "T"]].to_numpy(), plain[["frequency", "recency", "T"]].to_numpy())
    assert int((data["x"] > 0).sum()) == 946
    params = fit_gamma_gamma(data["x"], data["zbar"])
    # lifetimes docs / Fader, Hardie & Lee "RFM and CLV": p 6.25, q 3.74, v 15.44.
    assert params.p == pytest.approx(6.25, rel=0.01)
    assert params.q == pytest.approx(3.74, rel=0.01)
    assert params.v == pytest.approx(15.44, rel=0.01)


# ------------------------------------------------------------------------------ hand-worked formulas
SMALL = BGNBDParams(r=0.5, alpha=3.0, a=0.8, b=2.5)
SMALL_DATA = [  # (x, t_x, T)
    (0, 0.0, 6.0),
    (1, 2.0, 6.0),
    (3, 5.5, 8.0),
    (2, 1.0, 10.0),
]


def _ln_beta(p: float, q: float) -> float:
    return math.lgamma(p) + math.lgamma(q) - math.lgamma(p + q)


def _bgnbd_likelihood_eq6(params: BGNBDParams, x: int, t_x: float, T: float) -> float:
    """Likelihood of FHL (2005) equation (6), term by term with math.lgamma."""
    r, alpha, a, b = params
    gamma_part = math.exp(math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha))
    survive = math.exp(_ln_beta(a, b + x) - _ln_beta(a, b)) * gamma_part / (alpha + T) ** (r + x)
    if x == 0:
        return survive
    dropped = math.exp(_ln_beta(a + 1, b + x - 1) - _ln_beta(a, b)) * gamma_part / (alpha + t_x) ** (r + x)
    return survive + dropped


def test_bgnbd_log_likelihood_matches_closed_form():
    x, tx, big_t = (np.array(col, dtype=float) for col in zip(*SMALL_DATA, strict=True))
    expected = sum(math.log(_bgnbd_likelihood_eq6(SMALL, *row)) for row in SMALL_DATA)
    assert bgnbd_log_likelihood(SMALL, x, tx, big_t) == pytest.approx(expected, rel=1e-12)
    # By hand for the x = 0 row: L = (alpha / (alpha + T))^r = (3/9)^0.5, ln L = -0.549306...
    assert bgnbd_log_likelihood(SMALL, [0], [0.0], [6.0]) == pytest.approx(0.5 * math.log(1 / 3), rel=1e-12)
    assert 0.5 * math.log(1 / 3) == pytest.approx(-0.549306, abs=1e-6)
    # Weights count rows.
    assert bgnbd_log_likelihood(SMALL, x, tx, big_t, weights=[2, 1, 1, 3]) == pytest.approx(
        sum(w * math.log(_bgnbd_likelihood_eq6(SMALL, *row)) for w, row in zip([2, 1, 1, 3], SMALL_DATA,
                                                                               strict=True)),
        rel=1e-12,
    )


def test_p_alive_closed_form():
    x, tx, big_t = (np.array(col, dtype=float) for col in zip(*SMALL_DATA, strict=True))
    got = p_alive(SMALL, x, tx, big_t)
    r, alpha, a, b = SMALL
    assert got[0] == 1.0  # BG/NBD: nobody can have dropped out before a repeat purchase
    for value, (xi, txi, ti) in zip(got[1:], SMALL_DATA[1:], strict=True):
        closed = 1.0 / (1.0 + a / (b + xi - 1) * ((alpha + ti) / (alpha + txi)) ** (r + xi))
        assert value == pytest.approx(closed, rel=1e-12)
    # Bought on the last day observed: x = 1, t_x = T -> 1 / (1 + a / b).
    assert p_alive(SMALL, [1], [6.0], [6.0])[0] == pytest.approx(1 / (1 + 0.8 / 2.5), rel=1e-12)


def test_expected_values_and_clv_sum():
    gg = GammaGammaParams(p=6.0, q=4.0, v=15.0)
    x, tx, big_t = (np.array(col, dtype=float) for col in zip(*SMALL_DATA, strict=True))
    money = np.array([0.0, 40.0, 10.0, 25.0])
    aov = expected_avg_order_value(gg, x, money)
    assert aov[0] == pytest.approx(6.0 * 15.0 / 3.0)  # x = 0: population mean p v / (q - 1)
    w = 6.0 * 3 / (6.0 * 3 + 3.0)
    assert aov[2] == pytest.approx((1 - w) * 30.0 + w * 10.0)
    # Undiscounted 12-month CLV = E[purchases in 360 days] x AOV.
    flat = clv_predicted(SMALL, gg, x, tx, big_t, money, monthly_discount_rate=0.0)
    np.testing.assert_allclose(flat, expected_purchases(SMALL, 360.0, x, tx, big_t) * aov, rtol=1e-12)
    # Discounted: the monthly increments, each divided by 1.01^m.
    cum = [expected_purchases(SMALL, 30.0 * m, x, tx, big_t) for m in range(13)]
    manual = sum((cum[m] - cum[m - 1]) * aov / 1.01**m for m in range(1, 13))
    np.testing.assert_allclose(clv_predicted(SMALL, gg, x, tx, big_t, money), manual, rtol=1e-12)
    assert np.all(expected_purchases(SMALL, 0.0, x, tx, big_t) == 0.0)


def test_expected_purchases_quadrature_path():
    # The Beta-integral form agrees with the closed form (equation 10) on ordinary parameters...
    params = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    x, tx, big_t = [0.0, 1.0, 2.0, 7.0, 30.0], [0.0, 1.71, 30.43, 35.0, 38.0], [38.86] * 5
    for t in (1.0, 39.0, 78.0):
        np.testing.assert_allclose(
            expected_purchases(params, t, x, tx, big_t, method="quadrature"),
            expected_purchases(params, t, x, tx, big_t, method="hypergeometric"),
            rtol=1e-9,
        )
    # ...and stays finite where 2F1 overflows: a, b huge = one dropout probability p for everyone,
    # whose limit is P(alive) (1 - (1 + p t / (alpha + T))^-(r + x)) / p.
    ridge = BGNBDParams(r=0.7, alpha=26.0, a=1.2e6, b=8.9e6)
    x, tx, big_t = np.array([0.0, 2.0, 5.0]), np.array([0.0, 50.0, 200.0]), np.array([30.0, 100.0, 300.0])
    with pytest.raises(ValueError, match="not finite"):
        expected_purchases(ridge, 365.0, x, tx, big_t, method="hypergeometric")
    p = ridge.a / (ridge.a + ridge.b)
    limit = p_alive(ridge, x, tx, big_t) * (1 - (1 + p * 365.0 / (26.0 + big_t)) ** -(0.7 + x)) / p
    np.testing.assert_allclose(expected_purchases(ridge, 365.0, x, tx, big_t), limit, rtol=1e-5)


# ------------------------------------------------------------------------------------ RFM summary
def test_rfm_summary_by_hand():
    tx = pd.DataFrame(
        [
            ("A", "2024-01-01 09:00", 100.0),
            ("A", "2024-01-01 17:30", 50.0),  # same day as the first: one purchase day of 150
            ("A", "2024-01-11 23:59", 200.0),
            ("A", "2024-01-31 08:00", 40.0),
            ("A", "2024-01-31 10:00", 60.0),  # one purchase day of 100
            ("B", "2024-02-20 10:00", 10.0),
            ("B", "2024-02-20 11:00", 20.0),  # only one purchase day
            ("C", "2024-02-01 12:00", 30.0),
            ("C", "2024-03-05 12:00", 999.0),  # after the observation end: ignored
            ("D", "2024-03-02 00:00", 5.0),  # only after the end: not a customer yet
        ],
        columns=["cust", "when", "amt"],
    )
    got = rfm_summary(tx, customer_col="cust", date_col="when", amount_col="amt",
                      observation_end=dt.date(2024, 3, 1))
    assert list(got.columns) == ["cust", "frequency", "recency", "T", "monetary_value"]
    got = got.set_index("cust")
    assert list(got.index) == ["A", "B", "C"]
    # A: purchase days Jan 1 (150), Jan 11 (200), Jan 31 (100) -> 2 repeat days; last - first = 30 days;
    #    Jan 1 -> Mar 1 2024 (leap year) = 31 + 29 = 60 days; mean repeat-day amount (200 + 100) / 2.
    assert got.loc["A"].to_dict() == {"frequency": 2.0, "recency": 30.0, "T": 60.0, "monetary_value": 150.0}
    # B: one purchase day (two orders) -> no repeat; Feb 20 -> Mar 1 = 10 days; monetary 0.
    assert got.loc["B"].to_dict() == {"frequency": 0.0, "recency": 0.0, "T": 10.0, "monetary_value": 0.0}
    # C: the March 5 order is after the end -> one purchase day; Feb 1 -> Mar 1 = 29 days.
    assert got.loc["C"].to_dict() == {"frequency": 0.0, "recency": 0.0, "T": 29.0, "monetary_value": 0.0}


def test_fit_refuses_unsupported_data():
    with pytest.raises(ValueError, match="at least 10 customers"):
        fit_bgnbd([1, 0, 2], [3.0, 0.0, 5.0], [10.0, 10.0, 10.0])
    with pytest.raises(ValueError, match="repeat purchaser"):
        fit_bgnbd(np.zeros(20), np.zeros(20), np.full(20, 30.0))
    with pytest.raises(ValueError, match="Gamma-Gamma needs at least"):
        fit_gamma_gamma([0, 0, 1], [0.0, 0.0, 5.0])


# --------------------------------------------------------------------------------------- the asset
AS_OF = dt.date(2024, 6, 30)


def synthetic_orders(n_customers: int, seed: int = 7) -> pd.DataFrame:
    """Orders from a BG/NBD-like process in days, with same-day repeats, cancellations and late orders."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, dt.date, float, bool]] = []
    for i in range(n_customers):
        cid = f"c{i:04d}"
        day = AS_OF - dt.timedelta(days=int(rng.integers(0, 540)))
        rate = rng.gamma(2.0, 1 / 60)  # purchases per day
        drop = rng.beta(2.0, 8.0)
        spend = rng.gamma(5.0, 40.0)
        first = True
        while True:
            rows.append((cid, day, round(float(rng.gamma(4.0, spend / 4.0)), 2), True))
            if rng.random() < 0.1:
                rows.append((cid, day, 12.5, True))  # a second order the same day
            if rng.random() < 0.05:
                rows.append((cid, day, 500.0, False))  # a cancelled order: ignored
            if not first and rng.random() < drop:  # BG/NBD: dropout only after a repeat purchase
                break
            first = False
            day += dt.timedelta(days=1 + int(rng.exponential(1 / rate)))
            if day > AS_OF + dt.timedelta(days=60):
                break
    return pd.DataFrame(rows, columns=["customer_id", "signed_on", "amount_rpt", "is_live"])


def make_build_db(path: Path, orders: pd.DataFrame) -> Path:
    con = duckdb.connect(str(path))
    try:
        con.register("orders_df", orders)
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_orders as select cast(customer_id as varchar) as customer_id, "
            "cast(signed_on as date) as signed_on, cast(amount_rpt as decimal(18, 4)) as amount_rpt, "
            "cast(is_live as boolean) as is_live from orders_df"
        )
    finally:
        con.close()
    return path


def _run(build_db: Path):
    return materialize(
        [kpi_clv_predicted, clv_predictions_valid],
        resources={"settings": SalespulseSettings(build_db=str(build_db), as_of=AS_OF.isoformat())},
        raise_on_error=False,
    )


def test_asset_end_to_end(tmp_settings_env):
    orders = synthetic_orders(200)
    db = make_build_db(tmp_settings_env / "build.duckdb", orders)
    result = _run(db)
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [("clv_predictions_valid", True)]

    table = query(db, f"select * from marts.{CLV_TABLE} order by customer_id")
    assert list(table.columns) == [*OUTPUT_COLUMNS, "as_of", "fit_status"]
    live = orders[orders["is_live"] & (orders["signed_on"] <= AS_OF)]
    assert len(table) == table["customer_id"].nunique() == live["customer_id"].nunique()
    assert set(table["fit_status"]) == {"ok"}
    assert set(table["as_of"].astype(str).str[:10]) == {AS_OF.isoformat()}
    assert table["p_alive"].between(0, 1).all()
    for col in ("expected_orders_365d", "expected_avg_order_value", "clv_predicted_12m"):
        assert table[col].notna().all() and (table[col] >= 0).all(), col
    assert table["bgnbd_r"].nunique() == 1 and table["gg_q"].iloc[0] > 1

    # The SQL path agrees with the pure-pandas path.
    reference = predict_clv(live, AS_OF, 0.01).set_index("customer_id").sort_index()
    got = table.set_index("customer_id")
    for col in ("frequency", "recency_days", "t_days", "monetary_value"):
        np.testing.assert_allclose(got[col].astype(float), reference[col].astype(float), rtol=1e-9)
    for col in ("p_alive", "expected_orders_365d", "clv_predicted_12m", "bgnbd_alpha", "gg_v"):
        np.testing.assert_allclose(got[col], reference[col], rtol=1e-5)

    meta = result.asset_materializations_for_node("kpi_clv_predicted")[0].metadata
    assert meta["customers"].value == len(table)
    assert meta["fit_status"].value == "ok"
    assert {"bgnbd_params", "gamma_gamma_params", "bgnbd_log_likelihood", "fit_seconds"} <= set(meta)


def test_asset_writes_null_predictions_when_fit_impossible(tmp_settings_env):
    orders = synthetic_orders(5, seed=3)
    db = make_build_db(tmp_settings_env / "build.duckdb", orders)
    result = _run(db)
    assert result.success
    assert [c.passed for c in result.get_asset_check_evaluations()] == [True]
    table = query(db, f"select * from marts.{CLV_TABLE}")
    live = orders[orders["is_live"] & (orders["signed_on"] <= AS_OF)]
    assert len(table) == live["customer_id"].nunique()
    assert table["fit_status"].str.startswith("not fitted: BG/NBD needs at least 10 customers").all()
    assert table[["p_alive", "clv_predicted_12m", "bgnbd_r", "gg_v"]].isna().all().all()
    assert table["frequency"].notna().all()
