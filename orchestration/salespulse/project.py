"""The dbt project as Dagster sees it, and the preparation of its manifest.

``DbtProject.prepare_if_dev()`` only parses under ``dagster dev``. Every other entry point (the
CLI, tests, CI, ``dagster definitions validate``) goes through :func:`ensure_manifest`, which runs
``dbt parse`` when the manifest is missing or older than any file of the dbt project.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from dagster_dbt import DbtProject

if TYPE_CHECKING:
    from .settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = Path(os.environ.get("SALESPULSE_DBT_PROJECT_DIR", REPO_ROOT / "dbt_project")).resolve()
DEFAULT_DBT_THREADS = 2  # settings.dbt_threads unset: see assets/dbt.py choose_dbt_threads

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

_WATCHED = ("models", "macros", "tests", "snapshots", "seeds", "analyses")


def _newest_source_mtime() -> float:
    newest = (DBT_PROJECT_DIR / "dbt_project.yml").stat().st_mtime
    for folder in _WATCHED:
        base = DBT_PROJECT_DIR / folder
        if base.is_dir():
            for path in base.rglob("*"):
                if path.is_file():
                    newest = max(newest, path.stat().st_mtime)
    return newest


def semantic_manifest_path() -> Path:
    """``target/semantic_manifest.json``: what MetricFlow reads, written by the same ``dbt parse``."""
    return dbt_project.manifest_path.with_name("semantic_manifest.json")


def manifest_is_stale() -> bool:
    newest = _newest_source_mtime()
    return any(
        not path.exists() or path.stat().st_mtime < newest
        for path in (dbt_project.manifest_path, semantic_manifest_path())
    )


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment of a dbt invocation for ``settings`` (``profiles.yml`` reads these), including the
    connection of the engine's target (postgres / spark)."""
    from .engines import get_engine

    return {
        "SALESPULSE_BUILD_DB": str(settings.build_db),
        "SALESPULSE_DBT_AS_OF": settings.effective_as_of.isoformat(),  # macros/time.sql as_of_date()
        "SALESPULSE_DBT_THREADS": str(settings.dbt_threads or DEFAULT_DBT_THREADS),
        "SALESPULSE_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "DBT_LOG_LEVEL_FILE": os.environ.get("DBT_LOG_LEVEL_FILE", "info"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **get_engine(settings).dbt_env(),
    }


def run_target_dir(settings: Settings) -> Path:
    """The dbt target folder of the builds of one warehouse (stable across runs).

    dbt keeps ``partial_parse.msgpack`` there: a build whose vars and connection match the last
    parse skips the full re-parse of the project (seconds on every refresh).
    """
    digest = hashlib.sha1(str(Path(settings.build_db).resolve()).encode()).hexdigest()[:12]
    return dbt_project.manifest_path.parent / "runs" / digest


#: The file of a run target folder naming the build warehouse it serves.
RUN_DIR_OWNER = "warehouse.txt"
#: A folder whose warehouse folder is gone is removed once unused this long (a first build creates
#: its target folder before its warehouse folder may exist) ...
RUN_DIR_GRACE_SECONDS = 3600.0
#: ... and a folder without an owner record (made by an older version) once unused this long.
RUN_DIR_UNOWNED_SECONDS = 30 * 86400.0


def prepare_run_target_dir(settings: Settings) -> Path:
    """Create :func:`run_target_dir`, record the warehouse it serves, and prune the others.

    Every warehouse ever built leaves a target folder (~10 MB: manifest, partial parse, compiled
    SQL, logs); a test suite or a bench makes hundreds. A folder goes when the folder of its build
    warehouse no longer exists (see :func:`prune_run_target_dirs`).
    """
    target = run_target_dir(settings)
    target.mkdir(parents=True, exist_ok=True)
    owner = str(Path(settings.build_db).resolve())
    record = target / RUN_DIR_OWNER
    if not record.exists() or record.read_text(encoding="utf-8") != owner:
        tmp = target / f".{RUN_DIR_OWNER}.{os.getpid()}.tmp"
        tmp.write_text(owner, encoding="utf-8")
        os.replace(tmp, record)
    prune_run_target_dirs(target.parent, keep=target)
    return target


def _last_used(folder: Path) -> float:
    """Newest mtime of the folder and its direct entries (dbt rewrites its files every build)."""
    newest = folder.stat().st_mtime
    for entry in folder.iterdir():
        try:
            newest = max(newest, entry.stat().st_mtime)
        except FileNotFoundError:
            continue
    return newest


def prune_run_target_dirs(root: Path, keep: Path | None = None, now: float | None = None) -> list[Path]:
    """Remove the run target folders under ``root`` whose warehouse folder is gone.

    A folder is removed when its owner record names a build warehouse whose folder no longer exists
    and it is unused for ``RUN_DIR_GRACE_SECONDS``, or when it has no owner record and is unused for
    ``RUN_DIR_UNOWNED_SECONDS``. Removing one only costs a full ``dbt parse`` if the warehouse is
    built again. Returns the folders removed; a folder that vanishes meanwhile is skipped.
    """
    now = time.time() if now is None else now
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or (keep is not None and folder.resolve() == keep.resolve()):
            continue
        try:
            record = folder / RUN_DIR_OWNER
            if record.exists():
                orphan = not Path(record.read_text(encoding="utf-8").strip()).parent.exists()
                limit = RUN_DIR_GRACE_SECONDS
            else:
                orphan, limit = True, RUN_DIR_UNOWNED_SECONDS
            if orphan and now - _last_used(folder) > limit:
                shutil.rmtree(folder)
                removed.append(folder)
        except FileNotFoundError:
            continue
    return removed


def _dbt_parse(target: Path, extra_args: list[str], env: dict[str, str]) -> None:
    dbt = Path(sys.executable).with_name("dbt")
    cmd = [str(dbt) if dbt.exists() else "dbt", "parse", "--quiet",
           "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
           "--target-path", str(target), "--log-path", str(target), *extra_args]
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **env}
    proc = subprocess.run(cmd, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"dbt parse failed for {DBT_PROJECT_DIR} (exit {proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )


def ensure_manifest(force: bool = False, settings: Settings | None = None) -> Path:
    """Parse the dbt project (``dbt parse``) when its manifest (or semantic manifest) is missing or out
    of date; both are swapped in atomically.

    With ``settings`` (the CLI's refresh), the parse uses that run's vars and connection and leaves
    its partial-parse state in :func:`run_target_dir`, so the build that follows re-uses the parse
    instead of parsing the whole project a second time.
    """
    if force or manifest_is_stale():
        manifest = dbt_project.manifest_path
        manifest.parent.mkdir(parents=True, exist_ok=True)
        # Parse into a private target folder, then swap the manifest in atomically, so that
        # concurrent processes never read a half-written manifest.
        with tempfile.TemporaryDirectory(dir=manifest.parent, prefix=".parse-") as tmp:
            extra: list[str] = []
            env: dict[str, str] = {}
            if settings is not None:  # exactly the vars, target and connection of the build
                from .engines import get_engine

                extra = ["--vars", json.dumps(settings.dbt_cli_vars()), "--target", get_engine(settings).dbt_target]
                env = dbt_env(settings)
            _dbt_parse(Path(tmp), extra, env)
            if settings is not None:
                run_dir = prepare_run_target_dir(settings)
                shutil.copy2(Path(tmp) / "partial_parse.msgpack", run_dir / ".partial_parse.msgpack.tmp")
                os.replace(run_dir / ".partial_parse.msgpack.tmp", run_dir / "partial_parse.msgpack")
            os.replace(Path(tmp) / "semantic_manifest.json", semantic_manifest_path())
            os.replace(Path(tmp) / "manifest.json", manifest)
    return dbt_project.manifest_path
