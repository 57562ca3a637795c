"""The quality gate end to end: quarantined rows over the threshold block publication, the previous
reporting file stays byte-identical, raw keeps every good row, and a corrected record unblocks."""

from __future__ import annotations

import hashlib

import pytest
from test_kpi_revenue import CUSTOMERS, FX, ORDERS, PAYMENTS, REPS

from conftest import query, run_refresh, write_csv

AS_OF = "2024-03-15"


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _failed_checks(result):
    out = []
    for e in result.all_events:
        if e.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = e.event_specific_data
            if not ev.passed and ev.severity.value == "ERROR":  # blocking failures, not freshness warnings
                out.append((ev.asset_key.to_user_string(), ev.check_name, ev.description))
    return out


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gate")
    landing = tmp / "landing"
    write_csv(landing / "reps.csv", "reps", REPS)
    write_csv(landing / "customers.csv", "customers", CUSTOMERS)
    write_csv(landing / "orders.csv", "orders", ORDERS)
    write_csv(landing / "payments.csv", "payments", PAYMENTS)
    write_csv(landing / "fx_rates.csv", "fx_rates", FX)
    result, reporting = run_refresh(tmp, landing, AS_OF)
    assert result.success
    return tmp, landing, reporting


def test_gate_blocks_then_threshold_then_correction(baseline):
    tmp, landing, reporting = baseline
    before = _sha(reporting)
    march = "select bookings from kpi_revenue where slice='company' and period_type='month' " \
            "and period_start = date '2024-03-01'"
    assert float(query(reporting, march)["bookings"].iloc[0]) == pytest.approx(250.0)

    good = {"order_id": "o20", "customer_id": "c1", "rep_id": "r1", "signed_at": "2024-03-12T03:00:00Z",
            "amount": "40", "cost": "10", "currency": "CNY", "status": "active",
            "updated_at": "2024-03-12T03:00:00Z", "is_deleted": "false"}
    bad = {**good, "order_id": "o21", "amount": "abc"}
    write_csv(landing / "d2" / "orders.csv", "orders", [good, bad])

    # 1 bad row of 17 (6 %) is over the 0.1 % default: the gate blocks, nothing is published
    result, _ = run_refresh(tmp, landing, AS_OF)
    assert not result.success
    failed = _failed_checks(result)
    assert [(k, c) for k, c, _ in failed] == [("raw/orders", "raw_contract")]
    assert "quarantine.orders, over the 0.10% allowed" in failed[0][2]
    assert _sha(reporting) == before  # byte-identical: the last good reporting file stays published
    build = tmp / "warehouse" / "build.duckdb"
    # raw kept the good row, quarantine holds the bad one with file, row, column and reason
    assert query(build, "select count(*) n from raw.orders where order_id = 'o20'")["n"].iloc[0] == 1
    q = query(build, "select order_id, _row_number, _column, _reason, _source_file from quarantine.orders")
    assert q[["order_id", "_row_number", "_column", "_reason"]].values.tolist() == [
        ["o21", 2, "amount", "cannot read 'abc' as DECIMAL(18,4)"]
    ]
    assert q["_source_file"].iloc[0].endswith("d2/orders.csv")
    # dbt never ran on the blocked load
    steps = {e.step_key for e in result.all_events if e.is_step_success}
    assert "dbt_models" not in steps

    # A looser threshold lets the good rows through (the bad one stays out)
    result, _ = run_refresh(tmp, landing, AS_OF, QUARANTINE_MAX_SHARE="0.1")
    assert result.success
    assert float(query(reporting, march)["bookings"].iloc[0]) == pytest.approx(290.0)  # 250 + o20's 40

    # The corrected record arrives in a later drop: the quarantine entry is resolved, the default
    # threshold passes again, and the corrected amount is published.
    write_csv(landing / "d3" / "orders.csv", "orders", [{**bad, "amount": "60", "updated_at": "2024-03-13T00:00:00Z"}])
    result, _ = run_refresh(tmp, landing, AS_OF)
    assert result.success, _failed_checks(result)
    assert float(query(reporting, march)["bookings"].iloc[0]) == pytest.approx(350.0)  # + o21's 60
