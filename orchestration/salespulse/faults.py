"""Fault-injection points for crash tests (inactive unless SALESPULSE_FAULT_PAUSE is set).

A crash test starts a refresh with ``SALESPULSE_FAULT_PAUSE=<point>`` and
``SALESPULSE_FAULT_MARKER=<file>``: when the refresh reaches that point it creates the marker file
and sleeps, so the test can SIGKILL it at exactly that moment. Points: ``raw_load`` (inside a raw
file's transaction, after its rows were inserted), ``dbt`` (while dbt is building), ``publish``
(after the new reporting file was written, before it is swapped in).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

POINTS = ("raw_load", "dbt", "publish")


def pause_point(name: str) -> None:
    """Block forever at ``name`` when a crash test asked for it; a no-op otherwise."""
    if os.environ.get("SALESPULSE_FAULT_PAUSE") != name:
        return
    marker = os.environ.get("SALESPULSE_FAULT_MARKER")
    if marker:
        Path(marker).write_text(f"{os.getpid()}\n")
    while True:  # pragma: no cover - killed by the test
        time.sleep(0.1)
