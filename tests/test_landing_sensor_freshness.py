"""The landing sensor (new content starts a run, re-sent content does not) and freshness checks."""

from __future__ import annotations

import shutil

import pytest
from dagster import RunRequest, SkipReason, build_sensor_context

from salespulse.definitions import defs
from salespulse.landing_sensor import evaluate
from salespulse.settings import load_settings

from conftest import write_csv

PAY = {"payment_id": "p1", "order_id": "o1", "paid_at": "2024-01-01T00:00:00Z", "amount": "1", "currency": "CNY"}


def test_sensor_requests_runs_only_for_new_content(tmp_settings_env, monkeypatch):
    landing = tmp_settings_env / "landing"
    monkeypatch.setenv("SALESPULSE_LANDING_DIR", str(landing))
    sensor = defs.resolve_sensor_def("landing_files_sensor")

    ctx = build_sensor_context(cursor=None)
    assert isinstance(sensor(ctx), SkipReason)  # nothing there yet

    write_csv(landing / "d1" / "payments.csv", "payments", [PAY])
    ctx = build_sensor_context(cursor=ctx.cursor)
    first = sensor(ctx)
    assert isinstance(first, RunRequest) and first.tags["salespulse/new_files"] == "1"

    ctx = build_sensor_context(cursor=ctx.cursor)
    assert isinstance(sensor(ctx), SkipReason)  # unchanged

    # the same content re-sent in another drop: already seen, no run
    shutil.copy(landing / "d1" / "payments.csv", (landing / "d2").mkdir() or landing / "d2" / "payments.csv")
    ctx = build_sensor_context(cursor=ctx.cursor)
    assert isinstance(sensor(ctx), SkipReason)

    # a later version of the record: new content, new run with another run key
    write_csv(landing / "d3" / "payments.csv", "payments", [{**PAY, "amount": "2"}])
    ctx = build_sensor_context(cursor=ctx.cursor)
    later = sensor(ctx)
    assert isinstance(later, RunRequest) and later.run_key != first.run_key


def test_evaluate_ignores_hidden_and_unknown_files(tmp_settings_env, monkeypatch):
    landing = tmp_settings_env / "landing"
    monkeypatch.setenv("SALESPULSE_LANDING_DIR", str(landing))
    write_csv(landing / ".tmp" / "payments.csv", "payments", [PAY])   # a writer in progress
    (landing / "notes.txt").write_text("hello")
    new, _ = evaluate(load_settings(), None)
    assert new == []


@pytest.mark.parametrize("days_old, passed", [(2, True), (3, False)])
def test_freshness_check_warns_when_stale(tmp_path, days_old, passed):
    import datetime as dt

    from salespulse.assets.raw import freshness_check
    from salespulse.loader import LoadOptions, connect_build, load_landing

    landing, db = tmp_path / "landing", tmp_path / "build.duckdb"
    # newest payment paid on 2024-06-28 local (Shanghai) when days_old = 2 before as-of 2024-06-30
    paid = dt.datetime(2024, 6, 30 - days_old, 12, tzinfo=dt.UTC).isoformat()
    write_csv(landing / "payments.csv", "payments", [{**PAY, "paid_at": paid}])
    load_landing(db, landing, options=LoadOptions(source_system="t"))
    cfg = load_settings(as_of=dt.date(2024, 6, 30), build_db=db)
    con = connect_build(db)
    try:
        res = freshness_check(con, "payments", cfg)
        empty = freshness_check(con, "orders", cfg)
        disabled = freshness_check(con, "targets", cfg)
    finally:
        con.close()
    assert res.passed is passed and res.metadata["age_days"].value == days_old
    assert res.severity.value == "WARN"
    if not passed:
        assert "raw.payments is stale: newest paid_at is 2024-06-27 (3 days before 2024-06-30); allowed 2 days" \
            == res.description
    assert not empty.passed and "no records" in empty.description
    assert disabled.passed


@pytest.mark.parametrize("paid_utc, newest", [
    # 2024-06-30 15:59 UTC = 23:59 local on the as-of day: fresh, 0 days old
    ("2024-06-30T15:59:00+00:00", "2024-06-30"),
    # 2024-06-30 16:00 UTC = 2024-07-01 00:00 local, after the as-of day: ignored, 06-29 is newest
    ("2024-06-30T16:00:00+00:00", "2024-06-29"),
])
def test_freshness_counts_local_days_up_to_the_as_of_day(tmp_path, paid_utc, newest):
    """The newest record is the newest on or before the as-of day in the reporting time zone
    (Asia/Shanghai, UTC+8); later records are not evidence of freshness."""
    import datetime as dt

    from salespulse.assets.raw import freshness_check
    from salespulse.loader import LoadOptions, connect_build, load_landing

    landing, db = tmp_path / "landing", tmp_path / "build.duckdb"
    rows = [{**PAY, "payment_id": "p-old", "paid_at": "2024-06-29T03:00:00+00:00"},  # 06-29 11:00 local
            {**PAY, "payment_id": "p-new", "paid_at": paid_utc}]
    write_csv(landing / "payments.csv", "payments", rows)
    load_landing(db, landing, options=LoadOptions(source_system="t"))
    cfg = load_settings(as_of=dt.date(2024, 6, 30), build_db=db)
    con = connect_build(db)
    try:
        res = freshness_check(con, "payments", cfg)
    finally:
        con.close()
    assert res.metadata["newest"].value == newest
    assert res.metadata["age_days"].value == (dt.date(2024, 6, 30) - dt.date.fromisoformat(newest)).days
