"""A sensor that starts a refresh when new landing files (or new CRM exports) appear.

The cursor remembers every file's size, mtime and content hash, and every content hash seen. A run
is requested only for content never seen before: a copied or re-sent file with an already-seen
hash starts nothing (and the loader would skip it anyway).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dagster import RunRequest, SensorEvaluationContext, SkipReason, sensor

from .loader import file_sha256, find_landing_files
from .settings import Settings, load_settings


def watched_files(settings: Settings) -> list[Path]:
    """Landing files, and the files of every configured source's input folder."""
    files = [p for paths in find_landing_files(settings.landing_dir).values() for p in paths]
    for source in settings.sources:
        if source.input_dir.is_dir():
            files += sorted(p for p in source.input_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    return files


def evaluate(settings: Settings, cursor: str | None) -> tuple[list[str], str]:
    """(content hashes never seen before, new cursor)."""
    state = json.loads(cursor) if cursor else {"files": {}, "hashes": []}
    known_files: dict[str, list] = state["files"]
    seen = set(state["hashes"])
    new_hashes: list[str] = []
    files: dict[str, list] = {}
    for path in watched_files(settings):
        stat = path.stat()
        key = str(path)
        prev = known_files.get(key)
        if prev and prev[0] == stat.st_size and prev[1] == stat.st_mtime_ns:
            files[key] = prev
            continue
        sha = file_sha256(path)
        files[key] = [stat.st_size, stat.st_mtime_ns, sha]
        if sha not in seen:
            seen.add(sha)
            new_hashes.append(sha)
    return new_hashes, json.dumps({"files": files, "hashes": sorted(seen)})


def make_landing_sensor(job_name: str):
    @sensor(
        name="landing_files_sensor",
        job_name=job_name,
        minimum_interval_seconds=60,
        description="Starts a refresh when a landing file or CRM export with new content appears.",
    )
    def landing_files_sensor(context: SensorEvaluationContext):
        new, cursor = evaluate(load_settings(), context.cursor)
        context.update_cursor(cursor)
        if not new:
            return SkipReason("no landing file with new content")
        run_key = hashlib.sha256("".join(sorted(new)).encode()).hexdigest()[:16]
        tags = {"salespulse/trigger": "landing_files", "salespulse/new_files": str(len(new))}
        return RunRequest(run_key=run_key, tags=tags)

    return landing_files_sensor
