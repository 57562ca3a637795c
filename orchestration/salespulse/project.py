"""The dbt project as Dagster sees it, and the preparation of its manifest.

``DbtProject.prepare_if_dev()`` only parses under ``dagster dev``. Every other entry point (the
CLI, tests, CI, ``dagster definitions validate``) goes through :func:`ensure_manifest`, which runs
``dbt parse`` when the manifest is missing or older than any file of the dbt project.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from dagster_dbt import DbtProject

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = Path(os.environ.get("SALESPULSE_DBT_PROJECT_DIR", REPO_ROOT / "dbt_project")).resolve()

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


def ensure_manifest(force: bool = False) -> Path:
    """Parse the dbt project (``dbt parse``) when its manifest (or semantic manifest) is missing or out
    of date; both are swapped in atomically."""
    if force or manifest_is_stale():
        manifest = dbt_project.manifest_path
        manifest.parent.mkdir(parents=True, exist_ok=True)
        # Parse into a private target folder, then swap the manifest in atomically, so that
        # concurrent processes never read a half-written manifest.
        with tempfile.TemporaryDirectory(dir=manifest.parent, prefix=".parse-") as tmp:
            dbt = Path(sys.executable).with_name("dbt")
            cmd = [str(dbt) if dbt.exists() else "dbt", "parse", "--quiet",
                   "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                   "--target-path", tmp, "--log-path", tmp]
            env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
            proc = subprocess.run(cmd, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(
                    f"dbt parse failed for {DBT_PROJECT_DIR} (exit {proc.returncode}):\n"
                    f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
                )
            os.replace(Path(tmp) / "semantic_manifest.json", semantic_manifest_path())
            os.replace(Path(tmp) / "manifest.json", manifest)
    return dbt_project.manifest_path
