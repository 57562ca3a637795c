"""Dagster sensors: alert when a ``refresh`` run fails (runs launched by the UI or the schedule).

``refresh_failure_alert`` is a run failure sensor, evaluated by ``dagster-daemon``. For a failed
run of the ``refresh`` job it reads the run's event log (failed steps, failed asset checks with
their failed-row counts, materializations) into the summary of :mod:`salespulse.alerts`, logs it
and posts it to the configured webhook (``SALESPULSE_ALERT_WEBHOOK_URL``). ``salespulse refresh``
sends the same summary itself, since it runs without the daemon.
"""

from __future__ import annotations

from dagster import (
    DagsterEventType,
    DefaultSensorStatus,
    RunFailureSensorContext,
    SkipReason,
    run_failure_sensor,
)

from . import alerts

#: The job whose failures are reported (``definitions.REFRESH_JOB``; not imported from there,
#: since definitions.py imports this module).
REFRESH_JOB_NAME = "refresh"

_EVENT_TYPES = {
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_CHECK_EVALUATION,
    DagsterEventType.RUN_FAILURE,
}


def failure_summary(context: RunFailureSensorContext) -> dict:
    """The alert summary of the failed run behind ``context``, from its event log."""
    run = context.dagster_run
    records = context.instance.get_records_for_run(run_id=run.run_id, of_type=_EVENT_TYPES).records
    events = [r.event_log_entry.dagster_event for r in records]
    if context.dagster_event is not None and all(
        e is None or e.event_type != DagsterEventType.RUN_FAILURE for e in events
    ):
        events.append(context.dagster_event)
    return alerts.summary_from_events(run_id=run.run_id, job_name=run.job_name, events=events, origin="sensor")


@run_failure_sensor(
    name="refresh_failure_alert",
    description="Post a short JSON summary of every failed `refresh` run (failed steps, failed "
    "blocking checks, first error) to the webhook in SALESPULSE_ALERT_WEBHOOK_URL, and log it.",
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def refresh_failure_alert(context: RunFailureSensorContext):
    if context.dagster_run.job_name != REFRESH_JOB_NAME:
        return SkipReason(f"run of job {context.dagster_run.job_name!r}: only {REFRESH_JOB_NAME!r} is alerted")
    summary = failure_summary(context)
    alerts.notify_failure(summary, alerts.webhook_url(), context.log)
    return None
