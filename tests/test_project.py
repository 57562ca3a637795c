"""The per-warehouse dbt target folders (``dbt_project/target/runs/<digest>``): each records the
warehouse it serves, and the folders of warehouses that are gone are pruned."""

from __future__ import annotations

import os
import time
from pathlib import Path

from salespulse import project
from salespulse.project import (
    RUN_DIR_GRACE_SECONDS,
    RUN_DIR_OWNER,
    RUN_DIR_UNOWNED_SECONDS,
    prepare_run_target_dir,
    prune_run_target_dirs,
)
from salespulse.settings import load_settings

NOW = 2_000_000_000.0  # a fixed "now" for the age arithmetic


def _run_dir(root: Path, name: str, owner: Path | None, age_s: float) -> Path:
    """A run folder with a file in it, last used ``age_s`` seconds before NOW."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "run_results.json").write_text("{}", encoding="utf-8")
    if owner is not None:
        (folder / RUN_DIR_OWNER).write_text(str(owner), encoding="utf-8")
    used = NOW - age_s
    for entry in folder.iterdir():
        os.utime(entry, (used, used))
    os.utime(folder, (used, used))
    return folder


def test_prune_removes_only_old_folders_of_warehouses_that_are_gone(tmp_path):
    root = tmp_path / "runs"
    live_wh = tmp_path / "live" / "warehouse"
    live_wh.mkdir(parents=True)
    gone_wh = tmp_path / "deleted" / "warehouse"  # never created: its warehouse folder is gone
    hour = RUN_DIR_GRACE_SECONDS
    folders = {
        "live_old": _run_dir(root, "live_old", live_wh / "build.duckdb", 100 * 86400),
        "gone_old": _run_dir(root, "gone_old", gone_wh / "build.duckdb", hour + 60),
        "gone_recent": _run_dir(root, "gone_recent", gone_wh / "build.duckdb", hour - 60),
        "unowned_old": _run_dir(root, "unowned_old", None, RUN_DIR_UNOWNED_SECONDS + 60),
        "unowned_recent": _run_dir(root, "unowned_recent", None, RUN_DIR_UNOWNED_SECONDS - 60),
        "kept": _run_dir(root, "kept", gone_wh / "build.duckdb", 100 * 86400),
    }
    (root / "stray_file").write_text("not a folder", encoding="utf-8")

    removed = prune_run_target_dirs(root, keep=folders["kept"], now=NOW)

    assert sorted(p.name for p in removed) == ["gone_old", "unowned_old"]
    assert sorted(p.name for p in root.iterdir()) == [
        "gone_recent", "kept", "live_old", "stray_file", "unowned_recent",
    ]


def test_a_folder_in_use_is_not_pruned_by_its_age_alone(tmp_path):
    # the folder itself is old, but dbt rewrote a file in it a minute ago: it is in use
    root = tmp_path / "runs"
    folder = _run_dir(root, "busy", tmp_path / "gone" / "build.duckdb", 10 * RUN_DIR_GRACE_SECONDS)
    fresh = NOW - 60
    os.utime(folder / "run_results.json", (fresh, fresh))
    assert prune_run_target_dirs(root, now=NOW) == []
    assert folder.is_dir()


def test_prune_of_a_missing_root_is_a_no_op(tmp_path):
    assert prune_run_target_dirs(tmp_path / "nothing_here", now=NOW) == []


def test_prepare_records_the_warehouse_and_prunes_orphans(tmp_path, monkeypatch):
    root = tmp_path / "target" / "runs"
    build_db = tmp_path / "wh" / "build.duckdb"
    settings = load_settings(build_db=build_db)
    mine = root / "mine"
    monkeypatch.setattr(project, "run_target_dir", lambda _settings: mine)
    two_hours_ago = NOW - (time.time() - 2 * RUN_DIR_GRACE_SECONDS)
    orphan = _run_dir(root, "orphan", tmp_path / "removed" / "build.duckdb", two_hours_ago)

    assert prepare_run_target_dir(settings) == mine

    assert (mine / RUN_DIR_OWNER).read_text(encoding="utf-8") == str(build_db.resolve())
    assert not orphan.exists()
    # its own folder stays although its warehouse folder does not exist yet (a first build) ...
    assert mine.is_dir()
    # ... and once the warehouse folder exists, no age makes it an orphan
    build_db.parent.mkdir()
    assert prune_run_target_dirs(root, now=time.time() + 100 * 86400) == []
