"""When a dbt build may be incremental, and when it must be a full refresh.

The large staging inputs (``base_<table>``: the latest version of every key of a raw table) are
dbt incremental models (``dbt_project/macros/incremental.sql``): a daily build recomputes only the
keys with new raw rows or with a version that the advancing as-of cutoff has just made visible. The
four largest facts are incremental on top of them (``dbt_project/macros/incremental_facts.sql``).
That is only right while the cutoff moves forward and nothing else that shapes those rows changed.
This module keeps, beside the build warehouse, what the last build was started with and decides:

* **full refresh** when there is no record (first build, or the record was removed), when the
  as-of date is earlier than the latest as-of date any build of this warehouse started with (a
  rerun of an earlier day: rows past the earlier cutoff would stay), when a dbt var other than
  ``as_of`` changed (time zone, currency, fiscal year, KPI parameters), when the macros or the SQL
  the incremental models are computed from changed, or when the user asked (``--full-refresh``);
* **incremental** otherwise.

The record is written *before* the build starts, with the as-of high-water mark, so a build that
fails halfway (some incremental tables already advanced) is still accounted for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: dbt project files whose change invalidates the incremental tables: every macro, and the SQL of
#: the models the incremental base_ models and fct_ facts are computed from (staging, the dims, the
#: exchange-rate ranges; the intermediate folder whole, for simplicity). Property files (tests,
#: docs) do not change a row.
_FINGERPRINTED = ("macros", "models/staging", "models/intermediate", "models/marts/core")


@dataclass(frozen=True)
class BuildState:
    as_of_high_water: dt.date
    vars_without_as_of: dict[str, Any]
    fingerprint: str

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of_high_water": self.as_of_high_water.isoformat(),
            "vars_without_as_of": self.vars_without_as_of,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BuildState:
        return cls(
            as_of_high_water=dt.date.fromisoformat(data["as_of_high_water"]),
            vars_without_as_of=dict(data["vars_without_as_of"]),
            fingerprint=str(data["fingerprint"]),
        )


def state_path(build_db: Path) -> Path:
    """``<warehouse>/<build db name>.incremental.json``, beside the build warehouse."""
    build_db = Path(build_db)
    return build_db.with_name(build_db.name + ".incremental.json")


def project_fingerprint(project_dir: Path) -> str:
    """SHA-256 over the macros and the SQL the incremental models depend on (paths and contents)."""
    digest = hashlib.sha256()
    for folder in _FINGERPRINTED:
        base = Path(project_dir) / folder
        if not base.is_dir():
            continue
        files = (p for p in base.rglob("*")
                 if p.is_file() and (folder == "macros" or p.suffix == ".sql"))
        for path in sorted(files):
            digest.update(str(path.relative_to(project_dir)).encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def load_state(build_db: Path) -> BuildState | None:
    path = state_path(build_db)
    try:
        return BuildState.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return None  # unreadable record: treated as absent (a full refresh is always safe)


def save_state(build_db: Path, state: BuildState) -> None:
    path = state_path(build_db)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _vars_without_as_of(dbt_vars: dict[str, Any]) -> dict[str, Any]:
    """The vars but ``as_of``, as they read back from the state file (JSON types: tuples become
    lists, keys strings), so a comparison with a saved state sees no false change."""
    return json.loads(json.dumps({k: v for k, v in dbt_vars.items() if k != "as_of"}))


def full_refresh_reason(
    previous: BuildState | None, dbt_vars: dict[str, Any], fingerprint: str, requested: bool = False
) -> str | None:
    """Why this build must be a full refresh, or None when it may be incremental."""
    as_of = dt.date.fromisoformat(str(dbt_vars["as_of"]))
    others = _vars_without_as_of(dbt_vars)
    if requested:
        return "requested (--full-refresh)"
    if previous is None:
        return "first build of this warehouse"
    if as_of < previous.as_of_high_water:
        return f"as-of {as_of} is before {previous.as_of_high_water}, the latest as-of built"
    if others != previous.vars_without_as_of:
        changed = sorted(k for k in set(others) | set(previous.vars_without_as_of)
                         if others.get(k) != previous.vars_without_as_of.get(k))
        return f"setting(s) changed: {', '.join(changed)}"
    if fingerprint != previous.fingerprint:
        return "the dbt macros or incremental models changed"
    return None


def plan_build(
    build_db: Path, dbt_vars: dict[str, Any], project_dir: Path, requested_full: bool = False
) -> str | None:
    """Decide incremental vs full refresh and record this build's state; returns the full-refresh
    reason (None: incremental)."""
    fingerprint = project_fingerprint(project_dir)
    previous = load_state(build_db)
    reason = full_refresh_reason(previous, dbt_vars, fingerprint, requested_full)
    as_of = dt.date.fromisoformat(str(dbt_vars["as_of"]))
    high_water = as_of if reason is not None or previous is None else max(as_of, previous.as_of_high_water)
    save_state(build_db, BuildState(high_water, _vars_without_as_of(dbt_vars), fingerprint))
    return reason
