"""What every source adapter shares: the landing writer, id namespacing and its error type."""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..contract import TABLES

#: Columns holding ids (namespaced when several sources could collide).
ID_COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(c for c in t.columns if c.endswith("_id")) for name, t in TABLES.items()
}


class SourceError(ValueError):
    """A source that cannot be converted. The message names the source, file, field and the fix."""

    def __init__(self, source: str, file: str | Path | None, field: str | None, problem: str, fix: str):
        where = ", ".join(p for p in (f"source {source!r}", f"file {file}" if file else None,
                                      f"field {field!r}" if field else None) if p)
        super().__init__(f"{where}: {problem}. Fix: {fix}")
        self.source, self.file, self.field, self.problem, self.fix = source, file, field, problem, fix


@dataclass
class SourceResult:
    """What an adapter wrote: rows per contract table, the files, and warnings for the run log."""

    source: str
    out_dir: Path
    tables: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def format_value(value: Any) -> str:
    """A canonical landing text value: ISO-8601 timestamps (UTC when naive), YYYY-MM-DD dates,
    true/false booleans, plain decimals; None/NaN -> empty (NULL)."""
    if value is None:
        return ""
    if isinstance(value, float) and value != value:  # NaN
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    try:  # pandas NaT / NA
        import pandas as pd

        if value is pd.NaT or value is pd.NA:
            return ""
        if isinstance(value, pd.Timestamp):
            return format_value(value.to_pydatetime())
    except ImportError:  # pragma: no cover
        pass
    return str(value)


def namespaced(value: Any, namespace: str | None) -> Any:
    if namespace is None or value is None or value == "":
        return value
    return f"{namespace}:{value}"


def write_landing_table(
    out_dir: Path,
    table: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    namespace: str | None = None,
) -> tuple[Path, int]:
    """Write ``rows`` (dicts keyed by contract column; missing keys = NULL) as ``<out_dir>/<table>.csv``.

    Columns follow the contract's order; id columns are prefixed ``<namespace>:`` when a namespace
    is given. The file is written under a temporary name and renamed, so a loader never sees half.
    """
    if table not in TABLES:
        raise ValueError(f"{table!r} is not a raw contract table")
    cols = list(TABLES[table].columns)
    ids = set(ID_COLUMNS[table])
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"{table}.csv"
    tmp = out_dir / f".{table}.csv.tmp"
    n = 0
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(cols)
        for row in rows:
            unknown = set(row) - set(cols)
            if unknown:
                raise ValueError(f"{table}: not contract columns: {sorted(unknown)}")
            writer.writerow(
                [format_value(namespaced(row.get(c), namespace) if c in ids else row.get(c)) for c in cols]
            )
            n += 1
    os.replace(tmp, final)
    return final, n
