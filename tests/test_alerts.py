"""Failure alerts: the run failure sensor and the CLI post a short, secret-free JSON summary."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    MaterializeResult,
    SkipReason,
    asset,
    asset_check,
    build_run_status_sensor_context,
    define_asset_job,
)

from salespulse import alerts
from salespulse.sensors import refresh_failure_alert

from conftest import write_csv

SECRET = "supersecret-123"
EXE = Path(sys.executable).with_name("salespulse")


class _Hook:
    """A local webhook receiver: records each POST; answers with the next queued status (default 200)."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.raw: list[bytes] = []
        self.statuses: list[int] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                length = min(int(self.headers.get("Content-Length", "0")), 1 << 20)
                data = self.rfile.read(length)
                hook.raw.append(data)
                hook.bodies.append(json.loads(data))
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.timeout = 5
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/salespulse"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def hook():
    with _Hook() as h:
        yield h


# --------------------------------------------------------------------------- a tiny failing "refresh"
@asset
def good_table() -> MaterializeResult:
    return MaterializeResult(metadata={"rows": 3})


@asset_check(asset=good_table, blocking=True, name="amounts_non_negative")
def amounts_non_negative() -> AssetCheckResult:
    return AssetCheckResult(
        passed=False, severity=AssetCheckSeverity.ERROR, description="2 rows with a negative amount",
        metadata={"dagster_dbt/failed_row_count": 2},
    )


@asset(deps=[good_table])
def broken_table() -> None:
    raise ValueError(f"cannot read landing/orders.csv row 7 (token={SECRET})")


def _failed_run(job_name: str):
    job = define_asset_job(job_name, selection=[good_table, broken_table])
    defs = Definitions(assets=[good_table, broken_table], asset_checks=[amounts_non_negative], jobs=[job])
    instance = DagsterInstance.ephemeral()
    result = defs.resolve_job_def(job_name).execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.RUN_FAILURE)
    context = build_run_status_sensor_context(
        sensor_name="refresh_failure_alert", dagster_event=failure, dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()
    return result, context


def test_sensor_posts_summary_of_failed_refresh_run(hook, tmp_settings_env, monkeypatch):
    monkeypatch.setenv("SALESPULSE_ALERT_WEBHOOK_URL", hook.url)
    monkeypatch.setenv("SALESPULSE_HUBSPOT_TOKEN", SECRET)
    result, context = _failed_run("refresh")

    assert refresh_failure_alert(context) is None
    assert len(hook.bodies) == 1
    body = hook.bodies[0]
    assert body["job"] == "refresh" and body["run_id"] == result.run_id and body["origin"] == "sensor"
    # the blocking check failed its step, so the downstream step never ran
    assert [s["step"] for s in body["failed_steps"]] == ["good_table_amounts_non_negative"]
    assert "blocking asset check failed" in body["failed_steps"][0]["error"]
    check = next(c for c in body["failed_checks"] if c["check"] == "amounts_non_negative")
    assert check == {
        "asset": "good_table", "check": "amounts_non_negative", "severity": "ERROR", "blocking": True,
        "failed_rows": 2, "description": "2 rows with a negative amount",
    }
    assert body["counts"]["checks_failed_blocking"] == 1
    assert body["first_error"] and body["text"].startswith("salespulse: job refresh FAILED")
    assert SECRET not in hook.raw[0].decode()


def test_sensor_reports_step_error_first_line_without_secrets(hook, tmp_settings_env, monkeypatch):
    monkeypatch.setenv("SALESPULSE_ALERT_WEBHOOK_URL", hook.url)
    monkeypatch.setenv("SALESPULSE_HUBSPOT_TOKEN", SECRET)

    @asset(name="lonely")
    def lonely() -> None:
        raise ValueError(f"cannot read landing/orders.csv row 7 (token={SECRET})\nsecond line")

    job = define_asset_job("refresh", selection=[lonely])
    instance = DagsterInstance.ephemeral()
    result = Definitions(assets=[lonely], jobs=[job]).resolve_job_def("refresh").execute_in_process(
        instance=instance, raise_on_error=False
    )
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.RUN_FAILURE)
    context = build_run_status_sensor_context(
        sensor_name="refresh_failure_alert", dagster_event=failure, dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()
    refresh_failure_alert(context)
    body = hook.bodies[0]
    assert body["failed_steps"] == [
        {"step": "lonely", "error": "ValueError: cannot read landing/orders.csv row 7 (token=***)"}
    ]
    assert body["counts"]["steps_failed"] == 1 and body["first_error"] == body["failed_steps"][0]["error"]
    assert SECRET not in hook.raw[0].decode()


def test_sensor_ignores_other_jobs(hook, tmp_settings_env, monkeypatch):
    monkeypatch.setenv("SALESPULSE_ALERT_WEBHOOK_URL", hook.url)
    _, context = _failed_run("some_other_job")
    assert isinstance(refresh_failure_alert(context), SkipReason)
    assert hook.bodies == []


def test_notify_retries_then_gives_up_without_raising(hook, caplog):
    log = logging.getLogger("test.alerts")
    hook.statuses = [503, 200]
    with caplog.at_level(logging.INFO, logger="test.alerts"):
        assert alerts.notify_failure({"job": "refresh", "run_id": "r1"}, hook.url, log, backoff=0)
    assert len(hook.bodies) == 2 and hook.bodies[-1]["run_id"] == "r1"
    assert "failure alert posted to http://127.0.0.1" in caplog.text
    assert "/hooks/salespulse" not in caplog.text  # the webhook path (often a token) is never logged

    hook.statuses = [500, 500, 500, 500]
    assert not alerts.notify_failure({"job": "refresh"}, hook.url, log, backoff=0)
    assert len(hook.bodies) == 2 + 3  # one try and two retries
    # unreachable receiver: logged, not raised; no webhook: only logged
    assert not alerts.notify_failure({"job": "refresh"}, "http://127.0.0.1:9/x", log, backoff=0, timeout=2)
    assert not alerts.notify_failure({"job": "refresh"}, None, log)
    assert not alerts.notify_failure({"job": "refresh"}, "file:///etc/passwd", log)
    assert "salespulse failure alert:" in caplog.text


def test_redact_masks_credentials(monkeypatch):
    monkeypatch.setenv("SALESPULSE_HUBSPOT_TOKEN", SECRET)
    text = alerts.redact(
        f"token {SECRET} failed; postgres://etl:hunter2@db/crm api_key=abc123 password: 'pw-9' ok"
    )
    assert SECRET not in text and "hunter2" not in text and "abc123" not in text and "pw-9" not in text
    assert "postgres://***@db/crm" in text and "ok" in text


# --------------------------------------------------------------------------- the CLI path
def test_failing_cli_refresh_posts_alert_without_secrets(hook, tmp_path):
    """`salespulse refresh` on a landing file that misses a required column: the alert arrives."""
    landing = tmp_path / "landing" / "demo"
    rows = [{"order_id": "SO1", "customer_id": "C1", "rep_id": "R1", "signed_at": "2025-06-01T10:00:00+08:00",
             "amount": "10", "currency": "CNY", "status": "active", "updated_at": "2025-06-01T10:00:00+08:00",
             "is_deleted": "false"}]
    csv = write_csv(landing / "orders.csv", "orders", rows)
    header, *lines = csv.read_text().splitlines()
    cols = header.split(",")
    drop = cols.index("amount")  # the required column goes missing
    csv.write_text("\n".join(",".join(v for i, v in enumerate(line.split(",")) if i != drop)
                             for line in [header, *lines]) + "\n")

    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESPULSE_")}
    env.update({
        "DAGSTER_HOME": str(home), "SALESPULSE_ALERT_WEBHOOK_URL": hook.url, "SALESPULSE_HUBSPOT_TOKEN": SECRET,
    })
    proc = subprocess.run([str(EXE), "refresh", "--as-of", "2025-06-30"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "refresh FAILED" in proc.stderr and "alert: failure alert posted to http://127.0.0.1" in proc.stderr

    assert len(hook.bodies) == 1, output
    body, raw = hook.bodies[0], hook.raw[0].decode()
    assert body["job"] == "refresh" and body["origin"] == "cli" and len(body["run_id"]) >= 32
    assert "raw_tables" in [s["step"] for s in body["failed_steps"]], body
    assert "missing required column" in raw and "amount" in raw, body
    assert body["first_error"]
    if body["failed_checks"]:  # the raw contract gate, when the loader reports file errors as a check
        assert any(c["asset"] == "raw/orders" for c in body["failed_checks"])

    # no secret anywhere: the alert, the terminal, the refresh log, the Dagster run storage
    assert SECRET not in raw and SECRET not in output
    stored = [p for p in list(home.rglob("*")) + list((tmp_path / "warehouse").rglob("*")) if p.is_file()]
    assert any(body["run_id"].encode() in p.read_bytes() for p in stored), "run not persisted in DAGSTER_HOME"
    for p in stored:
        assert SECRET.encode() not in p.read_bytes(), p

    from dagster._serdes import serialize_value

    instance = DagsterInstance.from_config(str(home))
    try:
        records = instance.all_logs(body["run_id"])
        assert records
        assert SECRET not in serialize_value(list(records))
        run = instance.get_run_by_id(body["run_id"])
        assert SECRET not in serialize_value(run)
    finally:
        instance.dispose()
