"""Engine parity: the same small demo through DuckDB, PostgreSQL and Spark gives the same KPI values
in every published mart.

Each engine's refresh runs once per test session (fixtures in engine_fixtures.py). Tables are
compared sorted by the mart's key (``meta.key`` of its expectation suite), column by column, by the
column's type in the DuckDB reference:

- integers (counts) and DECIMAL (sums of amounts): exact (DECIMAL compared at the column's scale),
- DOUBLE (ratios, averages, quantiles, CLV): within 1e-9 relative (1e-12 absolute near zero).
  Every engine computes exact quantiles (``quantile_exact``: DuckDB quantile_cont, PostgreSQL
  percentile_cont, Spark percentile), so p90 and medians get the same tolerance,
- ``kpi_clv_predicted``'s fitted values (one numerical optimisation on each engine's fct_orders):
  within 1e-6 relative (``CLV_FIT_REL``),
- text, dates, booleans, timestamps (UTC): equal.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from engine_fixtures import failed_steps

pytestmark = [pytest.mark.postgres, pytest.mark.spark, pytest.mark.slow]

RATIO_REL = 1e-9
RATIO_ABS = 1e-12
CLV_FIT_REL = 1e-6
CLV_FIT_COLUMNS_MART = "kpi_clv_predicted"


def _marts() -> list[str]:
    from salespulse.assets.reporting import KPI_MARTS

    return KPI_MARTS


def _key(mart: str) -> list[str]:
    from salespulse.quality.gx import suite_path

    path = suite_path("marts", mart)
    return list(json.loads(path.read_text())["meta"].get("key") or []) if path.is_file() else []


def _reference_types(run, mart: str) -> dict[str, str]:
    import duckdb

    con = duckdb.connect(str(run.reporting_db), read_only=True)
    try:
        return {r[0]: r[1] for r in con.execute(f'describe main."{mart}"').fetchall()}
    finally:
        con.close()


def _norm_scalar(v):
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return (v.tz_convert("UTC") if v.tzinfo else v.tz_localize("UTC")).isoformat()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, np.bool_ | bool):
        return bool(v)
    return v


def _sorted(df: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    cols = key or list(df.columns)
    tmp = df.copy()
    sort_cols = []
    for c in cols:
        tmp[f"__s_{c}"] = [str(_norm_scalar(v)) for v in tmp[c]]
        sort_cols.append(f"__s_{c}")
    return tmp.sort_values(sort_cols).drop(columns=sort_cols).reset_index(drop=True)


def compare_mart(mart: str, ref: pd.DataFrame, other: pd.DataFrame, types: dict[str, str], engine: str) -> list[str]:
    """Differences between the DuckDB reference and another engine's published mart (empty: equal)."""
    problems: list[str] = []
    if set(other.columns) != set(ref.columns):
        return [f"{mart} on {engine}: columns differ: only duckdb {sorted(set(ref.columns) - set(other.columns))}, "
                f"only {engine} {sorted(set(other.columns) - set(ref.columns))}"]
    if len(other) != len(ref):
        return [f"{mart} on {engine}: {len(other)} rows, duckdb has {len(ref)}"]
    key = _key(mart)
    a, b = _sorted(ref, key), _sorted(other[list(ref.columns)], key)
    for col in ref.columns:
        t = types[col].upper()
        x, y = a[col].tolist(), b[col].tolist()
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            u, v = _norm_scalar(u), _norm_scalar(v)
            if u is None or v is None:
                ok = u is None and v is None
            elif t.startswith("DECIMAL"):
                scale = int(t.rstrip(")").split(",")[1])
                ok = round(float(u), scale) == round(float(v), scale)
            elif t in ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "UBIGINT"):
                ok = int(u) == int(v)
            elif t in ("DOUBLE", "FLOAT"):
                rel = CLV_FIT_REL if mart == CLV_FIT_COLUMNS_MART else RATIO_REL
                ok = math.isclose(float(u), float(v), rel_tol=rel, abs_tol=RATIO_ABS)
            else:
                ok = u == v
            if not ok:
                row = {k: _norm_scalar(a[k].iloc[i]) for k in key} if key else i
                problems.append(f"{mart}.{col} ({t}) on {engine} at {row}: duckdb {u!r} != {v!r}")
                break
    return problems


def test_every_engine_builds_and_publishes(duckdb_run, postgres_run, spark_run):
    for run in (duckdb_run, postgres_run, spark_run):
        assert run.result.success, f"{run.engine}: {failed_steps(run.result)}"
    print(f"\n[engine timing] refresh of the demo: duckdb {duckdb_run.seconds:.0f} s, postgres "
          f"{postgres_run.seconds:.0f} s, spark {spark_run.seconds:.0f} s")


def test_kpi_marts_equal_on_duckdb_postgres_spark(duckdb_run, postgres_run, spark_run, spark_tables):
    for run in (duckdb_run, postgres_run, spark_run):
        assert run.result.success, f"{run.engine}: {failed_steps(run.result)}"
    marts = _marts()
    reference = {m: duckdb_run.engine_obj().read_published(m) for m in marts}
    empty = [m for m, df in reference.items() if df.empty]
    assert not empty, f"the demo is too small to exercise these marts: {empty}"
    spark_frames, _ = spark_tables
    others = {
        "postgres": {m: postgres_run.engine_obj().read_published(m) for m in marts},
        "spark": {m: spark_frames[f"reporting.{m}"] for m in marts},
    }
    problems: list[str] = []
    for mart in marts:
        types = _reference_types(duckdb_run, mart)
        for engine, tables in others.items():
            problems += compare_mart(mart, reference[mart], tables[mart], types, engine)
    assert not problems, "\n".join(problems)


def test_compare_mart_tolerances():
    """The comparison itself: exact sums and counts, 1e-9 relative ratios (no engine needed)."""
    types = {"k": "VARCHAR", "n": "BIGINT", "amount": "DECIMAL(18,4)", "rate": "DOUBLE"}
    ref = pd.DataFrame({"k": ["a", "b"], "n": [1, 2], "amount": [10.1234, 5.0], "rate": [0.5, 1 / 3]})
    same = pd.DataFrame({"k": ["b", "a"], "n": [2, 1], "amount": [5.0, 10.1234], "rate": [1 / 3 * (1 + 1e-12), 0.5]})
    assert compare_mart("m", ref, same, types, "x") == []
    off_sum = same.assign(amount=[5.0, 10.1235])
    assert compare_mart("m", ref, off_sum, types, "x")
    off_ratio = same.assign(rate=[1 / 3 * (1 + 1e-7), 0.5])
    assert compare_mart("m", ref, off_ratio, types, "x")
    assert compare_mart("m", ref, same.iloc[:1], types, "x")
