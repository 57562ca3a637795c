"""Predictive customer lifetime value: BG/NBD purchase counts and Gamma-Gamma spend.

Pure numpy/scipy/pandas, no Dagster. The conventions are those of the ``lifetimes`` package
(shared/spec/metrics.md, "Customer lifetime value", last bullet):

* time unit one day; a *purchase* is a distinct order day, so two orders on the same day are one
  purchase whose amount is the sum of both;
* ``frequency`` (x) = number of repeat purchase days (distinct order days after the first),
  ``recency`` (t_x) = days from the first to the last purchase day, ``T`` = days from the first
  purchase day to the end of the observation period, ``monetary_value`` = mean amount of the repeat
  purchase days (0 when x = 0);
* BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way", Marketing Science
  24(2); log-likelihood of their section 7 / http://brucehardie.com/notes/004/;
* Gamma-Gamma: Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base
  Analysis", JMR 42(4); likelihood of http://brucehardie.com/notes/025/ (lifetimes'
  ``GammaGammaFitter``), fitted on the customers with x > 0;
* ``clv_predicted`` = sum over months m = 1..M of (expected purchases in months (m-1, m], a month =
  30 days) x expected average order value / (1 + d)^m (lifetimes' ``customer_lifetime_value``).

Both fits scale the data first (time by the mean T, spend by the mean monetary value); the scale
parameters alpha and v are equivariant under that scaling and are converted back exactly, so the
optimiser always works on well-conditioned O(1) log-parameters.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.linalg import eigh_tridiagonal
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

#: Fewer customers than this cannot support a BG/NBD fit.
MIN_CUSTOMERS = 10
#: Fewer repeat purchasers (x > 0 with positive spend) than this cannot support a fit.
MIN_REPEAT_CUSTOMERS = 3
#: Days per month in the CLV sum (lifetimes' ``freq="D"`` convention).
DAYS_PER_MONTH = 30
#: Log-parameter bounds of the optimiser (on the scaled data). An optimum on a bound is a limiting
#: model (e.g. a, b -> infinity: one dropout probability for everyone), still fine for prediction.
_LOG_BOUND = 18.0
#: Largest |gradient| of the mean log-likelihood (log-parameters) accepted as an optimum.
_GTOL_ACCEPT = 1e-4
#: Above this a, the dropout Beta(a, b + x) is so concentrated (relative sd < 1/sqrt(a)) that the
#: hypergeometric form overflows and a short Gauss rule is exact to machine precision.
_CONCENTRATED_BETA = 1e3
#: Gauss-Jacobi nodes of the quadrature path of ``expected_purchases`` (concentrated Beta: fewer).
_QUAD_NODES = 64
_QUAD_NODES_CONCENTRATED = 24
#: Rows per block of the quadrature path (bounds its memory to rows x nodes doubles).
_QUAD_BLOCK = 32768

OUTPUT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "frequency",
    "recency_days",
    "t_days",
    "monetary_value",
    "p_alive",
    "expected_orders_365d",
    "expected_avg_order_value",
    "clv_predicted_12m",
    "bgnbd_r",
    "bgnbd_alpha",
    "bgnbd_a",
    "bgnbd_b",
    "gg_p",
    "gg_q",
    "gg_v",
)


class BGNBDParams(NamedTuple):
    """BG/NBD parameters: purchase rate ~ Gamma(r, alpha), dropout probability ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


class GammaGammaParams(NamedTuple):
    """Gamma-Gamma parameters: spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, v)."""

    p: float
    q: float
    v: float


class ClvFit(NamedTuple):
    """Both fitted models plus fit diagnostics."""

    bgnbd: BGNBDParams
    gamma_gamma: GammaGammaParams
    bgnbd_log_likelihood: float
    gg_log_likelihood: float
    customers: int
    repeat_customers: int


# --------------------------------------------------------------------------------------- RFM summary
def rfm_summary(
    transactions: pd.DataFrame,
    *,
    customer_col: str = "customer_id",
    date_col: str = "signed_on",
    amount_col: str = "amount_rpt",
    observation_end: dt.date,
) -> pd.DataFrame:
    """Per-customer ``frequency``, ``recency``, ``T`` and ``monetary_value`` (time unit one day).

    Transactions after ``observation_end`` are ignored; timestamps are floored to the day. Several
    transactions on one day form one purchase whose amount is their sum. Returns one row per
    customer with columns ``customer_col, frequency, recency, T, monetary_value`` (floats, the
    lifetimes conventions; see the module docstring), sorted by customer.
    """
    missing = {customer_col, date_col, amount_col} - set(transactions.columns)
    if missing:
        raise ValueError(f"transactions lack column(s): {', '.join(sorted(missing))}")
    end = pd.Timestamp(observation_end)
    tx = pd.DataFrame(
        {
            "cid": transactions[customer_col].to_numpy(),
            "day": pd.to_datetime(transactions[date_col]).dt.floor("D").to_numpy(),
            "amount": pd.to_numeric(transactions[amount_col]).astype("float64").to_numpy(),
        }
    )
    tx = tx[tx["day"].notna() & tx["cid"].notna() & (tx["day"] <= end)]
    days = tx.groupby(["cid", "day"], sort=True, as_index=False)["amount"].sum(min_count=1)
    first = days.groupby("cid", sort=True)["day"].transform("min")
    days["repeat_amount"] = days["amount"].where(days["day"] > first)
    per = days.groupby("cid", sort=True).agg(
        n_days=("day", "size"),
        first=("day", "min"),
        last=("day", "max"),
        monetary_value=("repeat_amount", "mean"),
    )
    one_day = np.timedelta64(1, "D")
    out = pd.DataFrame(
        {
            customer_col: per.index.to_numpy(),
            "frequency": (per["n_days"] - 1).astype("float64").to_numpy(),
            "recency": ((per["last"] - per["first"]) / one_day).astype("float64").to_numpy(),
            "T": ((end - per["first"]) / one_day).astype("float64").to_numpy(),
            "monetary_value": per["monetary_value"].fillna(0.0).astype("float64").to_numpy(),
        }
    )
    return out.reset_index(drop=True)


# ------------------------------------------------------------------------------------------ helpers
def _as_float(values: ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_rft(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> tuple[FloatArray, ...]:
    x, tx, big_t = _as_float(frequency, "frequency"), _as_float(recency, "recency"), _as_float(T, "T")
    if not (x.shape == tx.shape == big_t.shape):
        raise ValueError("frequency, recency and T must have the same length")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ValueError("frequency must be non-negative whole numbers")
    if np.any(tx < 0) or np.any(tx > big_t):
        raise ValueError("recency must satisfy 0 <= recency <= T")
    if np.any((x > 0) & (tx <= 0)):
        raise ValueError("customers with repeat purchases must have recency > 0")
    return x, tx, big_t


def _weights(weights: ArrayLike | None, n: int) -> FloatArray:
    if weights is None:
        return np.ones(n)
    w = _as_float(weights, "weights")
    if w.shape != (n,) or np.any(w < 0):
        raise ValueError("weights must be non-negative, one per row")
    return w


def _aggregate(*columns: FloatArray, weights: FloatArray) -> tuple[tuple[FloatArray, ...], FloatArray]:
    """Collapse identical rows of ``columns`` into one row carrying the summed weight."""
    stacked = np.column_stack(columns)
    uniq, inverse = np.unique(stacked, axis=0, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=weights, minlength=len(uniq))
    return tuple(uniq[:, i].copy() for i in range(uniq.shape[1])), summed


# --------------------------------------------------------------------------------------- BG/NBD
class _BgnbdData(NamedTuple):
    """(x, t_x, T, weight) rows plus the distinct x values, so x-only special functions run once."""

    x: FloatArray
    tx: FloatArray
    big_t: FloatArray
    w: FloatArray
    x_unique: FloatArray
    x_index: npt.NDArray[np.intp]
    w_per_x: FloatArray  # total weight of each distinct x

    @classmethod
    def of(cls, x: FloatArray, tx: FloatArray, big_t: FloatArray, w: FloatArray) -> _BgnbdData:
        x_unique, x_index = np.unique(x, return_inverse=True)
        x_index = x_index.ravel()
        w_per_x = np.bincount(x_index, weights=w, minlength=len(x_unique))
        return cls(x, tx, big_t, w, x_unique, x_index, w_per_x)


class _BgnbdTerms(NamedTuple):
    head: FloatArray  # per distinct x: ln G(r+x) - ln G(r) + r ln alpha + ln B(a, b+x) - ln B(a, b)
    rows: FloatArray  # per row: the rest, ln[(alpha+T)^-(r+x) + 1{x>0} a/(b+x-1) (alpha+t_x)^-(r+x)]
    w4: FloatArray  # per row: share of the "dropped after the last purchase" term (0 when x = 0)
    log_at: FloatArray  # ln(alpha + T)
    log_ax: FloatArray  # ln(alpha + t_x)


def _bgnbd_terms(params: BGNBDParams, d: _BgnbdData) -> _BgnbdTerms:
    """The BG/NBD log-likelihood split into per-x and per-row parts (FHL 2005, section 7).

    With A3 = -(r+x) ln(alpha+T) and A4 = ln a - ln(b+x-1) - (r+x) ln(alpha+t_x), the row part is
    A3 + ln(1 + exp(A4 - A3)); on x = 0 rows A4 = -inf, so only A3 remains.
    """
    r, alpha, a, b = params
    xu = d.x_unique
    head = (
        gammaln(r + xu) - gammaln(r) + r * np.log(alpha)
        + gammaln(a + b) + gammaln(b + xu) - gammaln(b) - gammaln(a + b + xu)
    )
    # b + x - 1 > 0 for every x >= 1.
    log_dropout = np.where(xu > 0, np.log(a) - np.log(b + np.maximum(xu, 1.0) - 1.0), -np.inf)
    log_at = np.log(alpha + d.big_t)
    log_ax = np.log(alpha + d.tx)
    rx = r + d.x
    delta = log_dropout[d.x_index] - rx * (log_ax - log_at)  # A4 - A3
    rows = -rx * log_at + np.logaddexp(0.0, delta)
    return _BgnbdTerms(head, rows, expit(delta), log_at, log_ax)


def bgnbd_log_likelihood(
    params: BGNBDParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
) -> float:
    """Total BG/NBD log-likelihood of the data (each row counted ``weights`` times).

    ln L_i = ln G(r+x) - ln G(r) + r ln(alpha) + ln B(a, b+x) - ln B(a, b)
             + ln[ (alpha+T)^-(r+x) + 1{x>0} a/(b+x-1) (alpha+t_x)^-(r+x) ].
    """
    x, tx, big_t = _check_rft(frequency, recency, T)
    w = _weights(weights, len(x))
    d = _BgnbdData.of(x, tx, big_t, w)
    terms = _bgnbd_terms(BGNBDParams(*map(float, params)), d)
    return float(np.dot(d.w_per_x, terms.head) + np.dot(w, terms.rows))


def _bgnbd_objective(log_params: FloatArray, d: _BgnbdData) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood and its gradient in the log-parameters.

    Sums of x-only terms are taken over the distinct x with their total weights; the per-row work
    is a handful of vector operations.
    """
    params = BGNBDParams(*np.exp(log_params))
    r, alpha, a, b = params
    t = _bgnbd_terms(params, d)
    xu, wx, w = d.x_unique, d.w_per_x, d.w
    total_w = w.sum()
    ww4 = w * t.w4
    rx = r + d.x
    inv_at = 1.0 / (alpha + d.big_t)
    psi_ab = digamma(a + b) - digamma(a + b + xu)
    d_r = (
        np.dot(wx, digamma(r + xu) - digamma(r)) + total_w * np.log(alpha)
        - np.dot(w, t.log_at) - np.dot(ww4, t.log_ax - t.log_at)
    )
    d_alpha = r * total_w / alpha - np.dot(w * rx, inv_at) - np.dot(ww4 * rx, 1.0 / (alpha + d.tx) - inv_at)
    d_a = np.dot(wx, psi_ab) + ww4.sum() / a
    inv_bx1 = 1.0 / (b + np.maximum(xu, 1.0) - 1.0)  # w4 = 0 on the x = 0 rows
    d_b = np.dot(wx, psi_ab + digamma(b + xu) - digamma(b)) - np.dot(ww4, inv_bx1[d.x_index])
    value = -float(np.dot(wx, t.head) + np.dot(w, t.rows)) / total_w
    # Chain rule d/d(log theta) = theta d/d(theta).
    grad = -np.array([d_r, d_alpha, d_a, d_b]) / total_w * np.exp(log_params)
    if not np.isfinite(value) or not np.all(np.isfinite(grad)):
        return 1e300, np.zeros(4)
    return value, grad


def _minimize(
    objective: Callable[..., tuple[float, FloatArray]], starts: list[FloatArray], args: tuple, what: str
) -> FloatArray:
    """L-BFGS-B (analytic gradient) from ``starts[0]``; the next starts are tried only while the
    previous runs did not converge, and the best optimum wins. ValueError if none is usable.
    """
    best: tuple[float, FloatArray] | None = None
    n = len(starts[0])
    for start in starts:
        res = minimize(
            objective,
            start,
            args=args,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-_LOG_BOUND, _LOG_BOUND)] * n,
            options={"maxiter": 1000, "ftol": 1e-12, "gtol": 1e-8},
        )
        if np.isfinite(res.fun) and res.fun < 1e299 and (best is None or res.fun < best[0]):
            best = (float(res.fun), np.asarray(res.x, dtype=np.float64))
        # L-BFGS-B may stop on a line-search failure at an optimum, where the objective is flat to
        # rounding (common on a ridge such as a, b -> infinity); a tiny gradient counts as converged.
        converged = res.success or float(np.max(np.abs(res.jac))) < _GTOL_ACCEPT
        if converged and best is not None:
            break
    if best is None:
        raise ValueError(f"{what} fit failed: the likelihood could not be evaluated on this data")
    return best[1]


def fit_bgnbd(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None = None,
) -> BGNBDParams:
    """Maximum-likelihood BG/NBD parameters (the time unit of ``recency``/``T`` gives alpha's unit).

    ``weights`` counts how many customers share each (frequency, recency, T) row (default one
    each); identical rows are aggregated either way, so large inputs fit fast. Raises ValueError
    when the data cannot support a fit: fewer than ``MIN_CUSTOMERS`` customers, no repeat
    purchaser, nobody observed for a positive time, or a likelihood that cannot be evaluated.
    """
    x, tx, big_t = _check_rft(frequency, recency, T)
    w = _weights(weights, len(x))
    keep = w > 0
    x, tx, big_t, w = x[keep], tx[keep], big_t[keep], w[keep]
    n_customers = float(w.sum())
    if n_customers < MIN_CUSTOMERS:
        raise ValueError(f"BG/NBD needs at least {MIN_CUSTOMERS} customers, got {n_customers:g}")
    if not np.any(x > 0):
        raise ValueError("BG/NBD needs at least one repeat purchaser (frequency > 0), found none")
    if not np.any(big_t > 0):
        raise ValueError("BG/NBD needs customers observed for a positive time (T > 0)")
    scale = float(np.dot(w, big_t) / n_customers)
    (x, tx, big_t), w = _aggregate(x, tx / scale, big_t / scale, weights=w)
    # Starting values: moment-style guesses on the unit time scale, plus the all-ones start.
    rate = max(float(np.dot(w, x) / np.dot(w, big_t)), 1e-3)
    starts = [np.array([0.0, -np.log(rate), 0.0, np.log(2.0)]), np.zeros(4)]
    best = _minimize(_bgnbd_objective, starts, (_BgnbdData.of(x, tx, big_t, w),), "BG/NBD")
    r, alpha, a, b = np.exp(best)
    return BGNBDParams(float(r), float(alpha * scale), float(a), float(b))


def p_alive(params: BGNBDParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
    """P(customer still alive | x, t_x, T); exactly 1 for x = 0 (no dropout chance yet).

    For x > 0: 1 / (1 + a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)) (Fader, Hardie & Lee, note 021).
    """
    x, tx, big_t = _check_rft(frequency, recency, T)
    r, alpha, a, b = params
    log_odds_dead = (r + x) * (np.log(alpha + big_t) - np.log(alpha + tx)) + np.log(a) - np.log(
        b + np.maximum(x, 1.0) - 1.0
    )
    return np.where(x > 0, expit(-log_odds_dead), 1.0)


@functools.lru_cache(maxsize=4096)
def _beta_gauss_rule(a: float, b: float, n: int) -> tuple[FloatArray, FloatArray]:
    """Gauss rule for E[f(p)], p ~ Beta(a, b): nodes in (0, 1) and weights summing to one.

    Golub-Welsch on the Jacobi recurrence (weight (1-u)^(b-1) (1+u)^(a-1) on [-1, 1], p = (1+u)/2);
    the weights are the squared first eigenvector components, so no Beta function is evaluated
    and huge a, b (a nearly degenerate Beta) cannot underflow.
    """
    al, be = b - 1.0, a - 1.0
    k = np.arange(n, dtype=np.float64)
    s = 2.0 * k + al + be
    with np.errstate(divide="ignore", invalid="ignore"):
        diag = (be - al) * (be + al) / (s * (s + 2.0))
    diag[0] = (be - al) / (al + be + 2.0)
    k1 = k[1:]
    s1 = s[1:]
    off = np.sqrt(4.0 * k1 * (k1 + al) * (k1 + be) * (k1 + al + be) / (s1 * s1 * (s1 + 1.0) * (s1 - 1.0)))
    u, vectors = eigh_tridiagonal(diag, off)
    weights = vectors[0] ** 2
    nodes = np.clip((1.0 + u) / 2.0, 0.0, 1.0)
    weights = weights / weights.sum()
    nodes.flags.writeable = False  # cached: shared between calls
    weights.flags.writeable = False
    return nodes, weights


def _expected_purchases_quadrature(
    params: BGNBDParams, t: FloatArray, x: FloatArray, tx: FloatArray, big_t: FloatArray
) -> FloatArray:
    """E[Y(t) | x, t_x, T] = P(alive) E[(1 - (1 + p t/(alpha+T))^-(r+x)) / p], p ~ Beta(a, b+x).

    Given alive, the posterior is lambda ~ Gamma(r+x, alpha+T), p ~ Beta(a, b+x), independent;
    E[Y(t) | lambda, p] = (1 - exp(-lambda p t)) / p (FHL 2005 eq. 7), and the lambda integral is
    closed-form. The remaining smooth integral over p uses a Gauss rule per distinct x.
    """
    r, alpha, a, b = params
    out = np.empty_like(x)
    alive = p_alive(params, x, tx, big_t)
    scale = t / (alpha + big_t)
    n_nodes = _QUAD_NODES_CONCENTRATED if a > _CONCENTRATED_BETA else _QUAD_NODES
    for xv in np.unique(x):
        nodes, weights = _beta_gauss_rule(float(a), float(b + xv), n_nodes)
        rows = np.flatnonzero(x == xv)
        for start in range(0, len(rows), _QUAD_BLOCK):
            idx = rows[start : start + _QUAD_BLOCK]
            pc = np.outer(scale[idx], nodes)
            # (1 - (1 + p c)^-(r+x)) / p, with the p -> 0 limit (r+x) c.
            with np.errstate(divide="ignore", invalid="ignore"):
                g = -np.expm1(-(r + xv) * np.log1p(pc)) / nodes
            g = np.where(nodes > 0, g, (r + xv) * scale[idx, None])
            out[idx] = alive[idx] * (g @ weights)
    return out


def _expected_purchases_hypergeometric(
    params: BGNBDParams, t: FloatArray, x: FloatArray, tx: FloatArray, big_t: FloatArray
) -> FloatArray:
    """FHL (2005) equation (10), with 2F1 after Euler's transformation (NaN/inf where it fails)."""
    r, alpha, a, b = params
    z = t / (alpha + big_t + t)
    c = a + b + x - 1.0
    hyp = hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # 1 - (1-z)^(a-1) 2F1(...), as -expm1(log) to keep precision for small t.
        bracket = -np.expm1((a - 1.0) * np.log1p(-z) + np.log(hyp))
        numerator = (c / (a - 1.0)) * bracket
        # P(dead)/P(alive); overflows to inf (expected purchases -> 0) for long-silent heavy buyers.
        log_ratio = np.log(alpha + big_t) - np.log(alpha + tx)
        odds_dead = np.exp((r + x) * log_ratio) * a / (b + np.maximum(x, 1.0) - 1.0)
        denominator = 1.0 + np.where(x > 0, odds_dead, 0.0)
        return numerator / denominator


def expected_purchases(
    params: BGNBDParams,
    t: float | ArrayLike,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    method: Literal["auto", "hypergeometric", "quadrature"] = "auto",
) -> FloatArray:
    """E[number of purchases in the next ``t`` time units | x, t_x, T] (FHL 2005 equation 10).

    ``hypergeometric``: the closed form, with the Gauss hypergeometric function evaluated after
    Euler's transformation, (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z) =
    (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), whose parameters do not grow with x.
    ``quadrature``: the same expectation as P(alive) times a one-dimensional Beta integral over
    the dropout probability, by Gauss quadrature (robust when a + b is huge, i.e. the fit found
    nearly homogeneous dropout, where 2F1 overflows). ``auto`` (default) uses quadrature when
    a > 1000 and otherwise the closed form, falling back to quadrature on rows where it fails.
    Raises ValueError rather than return a non-finite value.
    """
    x, tx, big_t = _check_rft(frequency, recency, T)
    t_arr = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape).copy()
    if np.any(t_arr < 0) or not np.all(np.isfinite(t_arr)):
        raise ValueError("t must be finite and non-negative")
    if method not in ("auto", "hypergeometric", "quadrature"):
        raise ValueError(f"unknown method {method!r}")
    if method == "quadrature" or (method == "auto" and params.a > _CONCENTRATED_BETA):
        out = _expected_purchases_quadrature(params, t_arr, x, tx, big_t)
    else:
        out = _expected_purchases_hypergeometric(params, t_arr, x, tx, big_t)
        failed = ~np.isfinite(out) | (out < 0)
        if method == "auto" and np.any(failed):
            out[failed] = _expected_purchases_quadrature(
                params, t_arr[failed], x[failed], tx[failed], big_t[failed]
            )
    out = np.where(t_arr == 0, 0.0, out)
    if not np.all(np.isfinite(out)):
        bad = int(np.sum(~np.isfinite(out)))
        raise ValueError(f"expected purchases are not finite for {bad} customer(s) (params {params})")
    return np.maximum(out, 0.0)


# ------------------------------------------------------------------------------------ Gamma-Gamma
def _gg_prepare(frequency: ArrayLike, monetary_value: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x = _as_float(frequency, "frequency")
    m = _as_float(monetary_value, "monetary_value")
    if x.shape != m.shape:
        raise ValueError("frequency and monetary_value must have the same length")
    keep = (x > 0) & (m > 0)
    return x[keep], m[keep]


class _GgData(NamedTuple):
    """(x, m-bar, weight) rows of the repeat purchasers plus per-distinct-x totals."""

    x: FloatArray
    m: FloatArray
    w: FloatArray
    log_m: FloatArray
    x_unique: FloatArray
    x_index: npt.NDArray[np.intp]
    w_per_x: FloatArray

    @classmethod
    def of(cls, x: FloatArray, m: FloatArray, w: FloatArray) -> _GgData:
        x_unique, x_index = np.unique(x, return_inverse=True)
        x_index = x_index.ravel()
        w_per_x = np.bincount(x_index, weights=w, minlength=len(x_unique))
        return cls(x, m, w, np.log(m), x_unique, x_index, w_per_x)


def _gg_total_ll(params: GammaGammaParams, d: _GgData) -> float:
    """Sum over customers of (Hardie, note 025; lifetimes' GammaGammaFitter)
    ln G(px+q) - ln G(px) - ln G(q) + q ln v + (px-1) ln m + px ln x - (px+q) ln(x m + v).
    """
    p, q, v = params
    pxu = p * d.x_unique
    per_x = gammaln(pxu + q) - gammaln(pxu) - gammaln(q) + q * np.log(v) + pxu * np.log(d.x_unique)
    px = p * d.x
    per_row = (px - 1.0) * d.log_m - (px + q) * np.log(d.x * d.m + v)
    return float(np.dot(d.w_per_x, per_x) + np.dot(d.w, per_row))


def gamma_gamma_log_likelihood(
    params: GammaGammaParams, frequency: ArrayLike, monetary_value: ArrayLike
) -> float:
    """Total Gamma-Gamma log-likelihood over the customers with frequency > 0 and positive spend."""
    x, m = _gg_prepare(frequency, monetary_value)
    return _gg_total_ll(GammaGammaParams(*map(float, params)), _GgData.of(x, m, np.ones(len(x))))


def _gg_objective(log_params: FloatArray, d: _GgData) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood and its gradient in the log-parameters."""
    p, q, v = np.exp(log_params)
    xu, wx, w = d.x_unique, d.w_per_x, d.w
    total_w = w.sum()
    psi_pxq = digamma(p * xu + q)
    log_xmv = np.log(d.x * d.m + v)
    d_p = np.dot(wx, xu * (psi_pxq - digamma(p * xu) + np.log(xu))) + np.dot(w * d.x, d.log_m - log_xmv)
    d_q = np.dot(wx, psi_pxq - digamma(q) + np.log(v)) - np.dot(w, log_xmv)
    d_v = q * total_w / v - np.dot(w, (p * d.x + q) / (d.x * d.m + v))
    value = -_gg_total_ll(GammaGammaParams(p, q, v), d) / total_w
    grad = -np.array([d_p, d_q, d_v]) / total_w * np.array([p, q, v])
    if not np.isfinite(value) or not np.all(np.isfinite(grad)):
        return 1e300, np.zeros(3)
    return value, grad


def fit_gamma_gamma(frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters on the customers with frequency > 0.

    Customers with x = 0 (no repeat purchase) or non-positive mean spend are left out, as in
    lifetimes. Raises ValueError with fewer than ``MIN_REPEAT_CUSTOMERS`` such customers, when
    their spend does not vary, or when q <= 1 (the population mean spend p v / (q - 1) would be
    undefined).
    """
    x, m = _gg_prepare(frequency, monetary_value)
    if len(x) < MIN_REPEAT_CUSTOMERS:
        raise ValueError(
            f"Gamma-Gamma needs at least {MIN_REPEAT_CUSTOMERS} repeat purchasers with positive spend, "
            f"got {len(x)}"
        )
    if np.ptp(m) == 0:
        raise ValueError("Gamma-Gamma needs variation in spend between customers; all are equal")
    scale = float(m.mean())
    (x, m), w = _aggregate(x, m / scale, weights=np.ones(len(x)))
    starts = [np.array([np.log(2.0), np.log(3.0), np.log(2.0)]), np.zeros(3)]
    best = _minimize(_gg_objective, starts, (_GgData.of(x, m, w),), "Gamma-Gamma")
    p, q, v = np.exp(best)
    if q <= 1.0:
        raise ValueError(f"Gamma-Gamma fit has q = {q:.4g} <= 1: the mean spend per purchase is undefined")
    return GammaGammaParams(float(p), float(q), float(v * scale))


def expected_avg_order_value(
    params: GammaGammaParams, frequency: ArrayLike, monetary_value: ArrayLike
) -> FloatArray:
    """E[mean spend per purchase | x, m-bar] = (1-w) p v/(q-1) + w m-bar, w = p x / (p x + q - 1).

    For x = 0 this is the population mean p v / (q - 1). A non-positive observed mean (only
    possible with refunds netted into a day) is floored at 0, so the value is never negative.
    """
    p, q, v = params
    if q <= 1.0:
        raise ValueError(f"Gamma-Gamma q = {q:.4g} <= 1: the mean spend per purchase is undefined")
    x = _as_float(frequency, "frequency")
    m = np.maximum(_as_float(monetary_value, "monetary_value"), 0.0)
    weight = p * x / (p * x + q - 1.0)
    population_mean = p * v / (q - 1.0)
    return (1.0 - weight) * population_mean + weight * m


def clv_predicted(
    bgnbd: BGNBDParams,
    gamma_gamma: GammaGammaParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    *,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    days_per_month: float = DAYS_PER_MONTH,
) -> FloatArray:
    """Discounted expected spend over the next ``months`` months (data in days, a month = 30 days).

    sum_{m=1..months} (E[Y(m*30)] - E[Y((m-1)*30)]) * E[AOV] / (1 + d)^m, lifetimes'
    ``customer_lifetime_value`` with ``freq="D"``.
    """
    if months < 1:
        raise ValueError("months must be at least 1")
    if monthly_discount_rate < 0 or not np.isfinite(monthly_discount_rate):
        raise ValueError("monthly_discount_rate must be finite and non-negative")
    aov = expected_avg_order_value(gamma_gamma, frequency, monetary_value)
    total = np.zeros_like(aov)
    previous = np.zeros_like(aov)
    for month in range(1, months + 1):
        cumulative = expected_purchases(bgnbd, month * days_per_month, frequency, recency, T)
        total += (cumulative - previous) * aov / (1.0 + monthly_discount_rate) ** month
        previous = cumulative
    return total


# ------------------------------------------------------------------------------------ one call
def fit_models(summary: pd.DataFrame, *, bgnbd_counts: pd.DataFrame | None = None) -> ClvFit:
    """Fit BG/NBD and Gamma-Gamma on an RFM summary (columns frequency, recency, T, monetary_value).

    ``bgnbd_counts`` (columns frequency, recency, T, weight), when given, are the pre-aggregated
    (x, t_x, T) counts of the same customers (e.g. from SQL); the BG/NBD fit then uses them.
    """
    if bgnbd_counts is None:
        bg_x, bg_tx, bg_t = summary["frequency"], summary["recency"], summary["T"]
        bg_w: pd.Series | None = None
    else:
        bg_x, bg_tx, bg_t = bgnbd_counts["frequency"], bgnbd_counts["recency"], bgnbd_counts["T"]
        bg_w = bgnbd_counts["weight"]
    bg = fit_bgnbd(bg_x, bg_tx, bg_t, weights=bg_w)
    freq = summary["frequency"].to_numpy(dtype=np.float64)
    money = summary["monetary_value"].to_numpy(dtype=np.float64)
    gg = fit_gamma_gamma(freq, money)
    return ClvFit(
        bgnbd=bg,
        gamma_gamma=gg,
        bgnbd_log_likelihood=bgnbd_log_likelihood(bg, bg_x, bg_tx, bg_t, bg_w),
        gg_log_likelihood=gamma_gamma_log_likelihood(gg, freq, money),
        customers=len(summary),
        repeat_customers=int(np.sum((freq > 0) & (money > 0))),
    )


def predict_from_summary(
    summary: pd.DataFrame,
    fit: ClvFit,
    *,
    monthly_discount_rate: float,
    customer_col: str = "customer_id",
) -> pd.DataFrame:
    """The prediction frame (``OUTPUT_COLUMNS``) for every customer of an RFM summary."""
    x = summary["frequency"].to_numpy(dtype=np.float64)
    tx = summary["recency"].to_numpy(dtype=np.float64)
    big_t = summary["T"].to_numpy(dtype=np.float64)
    money = summary["monetary_value"].to_numpy(dtype=np.float64)
    bg, gg = fit.bgnbd, fit.gamma_gamma
    out = pd.DataFrame(
        {
            "customer_id": summary[customer_col].to_numpy(),
            "frequency": x.astype(np.int64),
            "recency_days": tx,
            "t_days": big_t,
            "monetary_value": money,
            "p_alive": p_alive(bg, x, tx, big_t),
            "expected_orders_365d": expected_purchases(bg, 365.0, x, tx, big_t),
            "expected_avg_order_value": expected_avg_order_value(gg, x, money),
            "clv_predicted_12m": clv_predicted(
                bg, gg, x, tx, big_t, money, months=12, monthly_discount_rate=monthly_discount_rate
            ),
            "bgnbd_r": bg.r,
            "bgnbd_alpha": bg.alpha,
            "bgnbd_a": bg.a,
            "bgnbd_b": bg.b,
            "gg_p": gg.p,
            "gg_q": gg.q,
            "gg_v": gg.v,
        }
    )
    predicted = out[["p_alive", "expected_orders_365d", "expected_avg_order_value", "clv_predicted_12m"]]
    if not np.all(np.isfinite(predicted.to_numpy(dtype=np.float64))):
        raise ValueError("the fitted models produced non-finite predictions")
    return out


def predict_clv(
    transactions_df: pd.DataFrame,
    observation_end: dt.date,
    monthly_discount_rate: float = 0.01,
    *,
    customer_col: str = "customer_id",
    date_col: str = "signed_on",
    amount_col: str = "amount_rpt",
) -> pd.DataFrame:
    """Fit both models on ``transactions_df`` up to ``observation_end`` and predict per customer.

    Returns one row per customer with columns ``OUTPUT_COLUMNS``: customer_id, frequency,
    recency_days, t_days, monetary_value, p_alive, expected_orders_365d (expected repeat purchase
    days in the next 365 days), expected_avg_order_value, clv_predicted_12m and the fitted
    parameters bgnbd_r, bgnbd_alpha (days), bgnbd_a, bgnbd_b, gg_p, gg_q, gg_v as constant columns.
    Raises ValueError when the data cannot support a fit.
    """
    summary = rfm_summary(
        transactions_df,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        observation_end=observation_end,
    )
    fit = fit_models(summary)
    return predict_from_summary(
        summary, fit, monthly_discount_rate=monthly_discount_rate, customer_col=customer_col
    )
