"""Failure alerts: a short JSON summary of a failed refresh, logged and posted to a webhook.

Both ways a refresh runs send the same summary: ``salespulse refresh`` (in process, no daemon)
builds it from the run's result, and the ``refresh_failure_alert`` run failure sensor
(:mod:`salespulse.sensors`, evaluated by ``dagster-daemon``) builds it from the failed run's event
log. The webhook URL comes from the setting ``alert_webhook_url`` (environment variable
``SALESPULSE_ALERT_WEBHOOK_URL``); without one the summary is only logged.

The summary holds the run id, the job, the failed steps with the first line of their root error,
the failed checks (with failed-row counts where known) and a few counts; never credentials or
environment values. Values of secret-looking environment variables, URL passwords and
``token=...`` pairs are masked in every string before it leaves the process.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

WEBHOOK_ENV = "SALESPULSE_ALERT_WEBHOOK_URL"
TIMEOUT_SECONDS = 10
RETRIES = 2
MAX_ERROR_CHARS = 300
MAX_ITEMS = 20
MASK = "***"

_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW|PWD|API_?KEY|ACCESS_?KEY|PRIVATE|CREDENTIAL|AUTH|WEBHOOK|DSN|COOKIE|SESSION", re.IGNORECASE
)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@")
_KEY_VALUE = re.compile(
    r"(?P<key>(?:access_?|api_?|auth_?|refresh_?|secret_?|client_?)?(?:token|secret|password|passwd|pwd|api_?key)"
    r"\s*[=:]\s*)(?P<q>['\"]?)(?P<value>[^\s'\"&,;)\]}]+)",
    re.IGNORECASE,
)


def _secret_values() -> list[str]:
    """Values of environment variables whose names look like credentials (long enough to match safely)."""
    values = {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and v and len(v) >= 6}
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with credentials masked: secret env values, URL passwords, ``token=...`` pairs."""
    if not text:
        return text
    for value in _secret_values():
        text = text.replace(value, MASK)
    text = _URL_USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", text)
    return _KEY_VALUE.sub(lambda m: m.group("key") + m.group("q") + MASK, text)


def _redact_tree(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _redact_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_tree(v) for v in value]
    return value


def first_line(text: str | None, limit: int = MAX_ERROR_CHARS) -> str:
    """The first non-empty line of ``text``, cut to ``limit`` characters."""
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def root_error(error) -> Any:
    """The innermost cause of a Dagster ``SerializableErrorInfo`` (the user's error, not the wrapper)."""
    while error is not None and getattr(error, "cause", None) is not None:
        error = error.cause
    return error


def user_error(error) -> Any:
    """The first error of the chain that is not one of Dagster's wrappers (the step's own error)."""
    current = error
    while current is not None:
        if not str(getattr(current, "cls_name", "") or "").startswith("Dagster"):
            return current
        current = getattr(current, "cause", None)
    return root_error(error)


def _error_text(error) -> str:
    err = user_error(error)
    if err is None:
        return ""
    message = first_line(getattr(err, "message", "") or "")
    cls = getattr(err, "cls_name", None)
    if cls and message and not message.startswith(cls):
        message = f"{cls}: {message}"
    return first_line(message)


def _metadata_number(metadata: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        if key in metadata:
            value = getattr(metadata[key], "value", metadata[key])
            try:
                return int(value)
            except (TypeError, ValueError):
                continue
    return None


def summary_from_events(
    *, run_id: str, job_name: str, events: Iterable[Any], origin: str = "dagster"
) -> dict[str, Any]:
    """Build the failure summary from a run's ``DagsterEvent`` objects (a result's or the event log's)."""
    failed_steps: list[dict[str, str]] = []
    failed_checks: list[dict[str, Any]] = []
    counts = {
        "steps_succeeded": 0,
        "steps_failed": 0,
        "assets_materialized": 0,
        "raw_rows_loaded": 0,
        "checks_passed": 0,
        "checks_failed_blocking": 0,
        "checks_failed_warning": 0,
    }
    from dagster import DagsterEventType as T

    run_error = ""
    for event in events:
        if event is None:
            continue
        kind = getattr(event, "event_type", None)
        if kind == T.STEP_SUCCESS:
            counts["steps_succeeded"] += 1
        elif kind == T.STEP_FAILURE:
            counts["steps_failed"] += 1
            error = event.step_failure_data.error if event.step_failure_data else None
            text = _error_text(error) or first_line(event.message)
            failed_steps.append({"step": event.step_key or "?", "error": text})
        elif kind == T.ASSET_MATERIALIZATION:
            counts["assets_materialized"] += 1
            mat = event.event_specific_data.materialization
            if mat.asset_key.path[0] == "raw":
                counts["raw_rows_loaded"] += _metadata_number(mat.metadata, "rows_loaded") or 0
        elif kind == T.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if evaluation.passed:
                counts["checks_passed"] += 1
                continue
            severity = getattr(evaluation.severity, "value", str(evaluation.severity))
            # dbt error-severity tests stop the build: blocking, whatever the evaluation's flag says.
            blocking = bool(evaluation.blocking) or severity == "ERROR"
            counts["checks_failed_blocking" if blocking else "checks_failed_warning"] += 1
            check: dict[str, Any] = {
                "asset": evaluation.asset_key.to_user_string(),
                "check": evaluation.check_name,
                "severity": severity,
                "blocking": blocking,
            }
            if evaluation.description:
                check["description"] = first_line(evaluation.description)
            failed_rows = _metadata_number(evaluation.metadata, "dagster_dbt/failed_row_count", "failed_row_count",
                                           "failed_rows", "unexpected_count")
            if failed_rows is not None:
                check["failed_rows"] = failed_rows
            failed_checks.append(check)
        elif kind == T.RUN_FAILURE:
            data = event.event_specific_data
            run_error = _error_text(getattr(data, "error", None)) or first_line(event.message)

    failed_checks.sort(key=lambda c: (not c["blocking"], c["asset"], c["check"]))
    first_error = failed_steps[0]["error"] if failed_steps else run_error
    if not first_error and failed_checks:
        c = failed_checks[0]
        first_error = f"check {c['check']} failed on {c['asset']}"
    steps_text = ", ".join(s["step"] for s in failed_steps) or "none"
    summary = {
        "text": f"salespulse: job {job_name} FAILED (run {run_id[:8]}); failed steps: {steps_text}; "
        f"failed blocking checks: {counts['checks_failed_blocking']}. {first_error}".strip(),
        "source": "salespulse",
        "event": "run_failure",
        "origin": origin,
        "job": job_name,
        "run_id": run_id,
        "host": socket.gethostname(),
        "failed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "failed_steps": failed_steps[:MAX_ITEMS],
        "failed_checks": failed_checks[:MAX_ITEMS],
        "counts": {**counts, "failed_checks_listed": min(len(failed_checks), MAX_ITEMS)},
        "first_error": first_error,
    }
    return _redact_tree(summary)


def summary_from_exception(*, job_name: str, step: str, exc: BaseException, run_id: str = "",
                           origin: str = "cli") -> dict[str, Any]:
    """The failure summary of an error raised outside the Dagster run (preparing it, say)."""
    error = first_line(f"{type(exc).__name__}: {exc}")
    summary = {
        "text": f"salespulse: job {job_name} FAILED before or outside its run ({step}). {error}",
        "source": "salespulse",
        "event": "run_failure",
        "origin": origin,
        "job": job_name,
        "run_id": run_id,
        "host": socket.gethostname(),
        "failed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "failed_steps": [{"step": step, "error": error}],
        "failed_checks": [],
        "counts": {"steps_failed": 1},
        "first_error": error,
    }
    return _redact_tree(summary)


def _describe_url(url: str) -> str:
    """``scheme://host[:port]`` only: webhook paths often embed a token."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


def _log(log, level: str, message: str) -> None:
    target = log if log is not None else logging.getLogger("salespulse.alerts")
    getattr(target, level)(message)


def notify_failure(
    summary: Mapping[str, Any], webhook_url: str | None, log=None, *, retries: int = RETRIES,
    timeout: float = TIMEOUT_SECONDS, backoff: float = 1.0,
) -> bool:
    """Log the summary and POST it as JSON to ``webhook_url`` (when set). True when delivered.

    ``log`` is anything with ``info``/``warning``/``error`` taking one string (a ``logging.Logger``,
    a Dagster log). Delivery is tried ``1 + retries`` times with a ``timeout`` each (waiting
    ``backoff``, then twice that, between tries); a failed delivery is logged, never raised: an
    alert must not mask the failure it reports.
    """
    payload = _redact_tree(dict(summary))
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)
    _log(log, "error", f"salespulse failure alert: {body}")
    if not webhook_url:
        _log(log, "warning", f"no alert webhook configured ({WEBHOOK_ENV}); the failure summary was only logged")
        return False
    where = _describe_url(webhook_url)
    if urllib.parse.urlsplit(webhook_url).scheme not in ("http", "https"):
        _log(log, "error", f"alert webhook {where} ignored: only http(s) URLs are allowed")
        return False
    data = body.encode("utf-8")
    last = ""
    for attempt in range(1 + max(retries, 0)):
        if attempt and backoff > 0:
            time.sleep(min(backoff * 2.0 ** (attempt - 1), 30.0))
        request = urllib.request.Request(
            webhook_url, data=data, method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "salespulse-alerts/1"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only
                status = response.status
            if 200 <= status < 300:
                _log(log, "info", f"failure alert posted to {where} (HTTP {status})")
                return True
            last = f"HTTP {status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                break  # the receiver refuses this request: retrying will not help
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            last = type(exc).__name__ + (f": {exc.reason}" if isinstance(exc, urllib.error.URLError) else "")
    _log(log, "warning", f"could not post the failure alert to {where}: {redact(last)}")
    return False


def webhook_url(settings=None) -> str | None:
    """The configured alert webhook: ``settings.alert_webhook_url``, else ``$SALESPULSE_ALERT_WEBHOOK_URL``."""
    if settings is None:
        try:
            from .settings import load_settings

            settings = load_settings()
        except Exception:  # noqa: BLE001 - a broken config must not silence the alert
            settings = None
    url = getattr(settings, "alert_webhook_url", None) if settings is not None else None
    return (str(url) if url else None) or os.environ.get(WEBHOOK_ENV) or None
