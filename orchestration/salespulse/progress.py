"""Progress lines for long work: printed by the CLI, and written to the Dagster run log."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("salespulse.progress")
_START = time.monotonic()


def _dagster_log():
    """The log of the Dagster step being executed, if any."""
    try:
        from dagster import OpExecutionContext

        return OpExecutionContext.get().log
    except Exception:  # noqa: BLE001 - outside a run there is no context
        return None


def report(message: str) -> None:
    """One progress line: ``[  12.3s] stage: message`` on the terminal (CLI) and the run log."""
    log.info("[%6.1fs] %s", time.monotonic() - _START, message)
    dlog = _dagster_log()
    if dlog is not None:
        dlog.info(message)


def enable_console(stream=None) -> None:
    """Print progress lines to the terminal (used by the CLI)."""
    global _START
    _START = time.monotonic()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
