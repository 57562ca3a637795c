"""Load canonical landing files into the append-only ``raw`` schema of the build warehouse.

A landing drop holds one file per raw table (``<table>.parquet|.csv|.csv.gz|.jsonl``), either at
the top of the landing folder or in sub-folders (one per daily drop, say). Every file is read with
DuckDB's readers as text with an explicit column list, checked against the contract, cast to the
contract types and appended to ``raw.<table>`` with the loader's metadata columns, in one
transaction together with its entry in ``raw._load_log``. A file whose content hash was already
loaded for a table is skipped, so re-running a refresh on the same files is idempotent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from .contract import LANDING_SUFFIXES, METADATA_COLUMNS, TABLES, RawTable

log = logging.getLogger("salespulse.loader")

LOAD_LOG = "raw._load_log"


class LandingFileError(ValueError):
    """A landing file that cannot be loaded; the message names the file, row and column."""


@dataclass
class FileLoad:
    path: Path
    sha256: str
    rows: int = 0
    skipped: bool = False
    batch_id: int | None = None


@dataclass
class TableLoad:
    table: str
    files: list[FileLoad] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows for f in self.files if not f.skipped)

    @property
    def files_loaded(self) -> int:
        return sum(1 for f in self.files if not f.skipped)

    @property
    def files_skipped(self) -> int:
        return sum(1 for f in self.files if f.skipped)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def table_for_file(path: Path) -> str | None:
    """The contract table a landing file belongs to, from its name (``orders.csv.gz`` -> orders)."""
    name = path.name
    for suffix in sorted(LANDING_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            return stem if stem in TABLES else None
    return None


def find_landing_files(landing_dir: Path) -> dict[str, list[Path]]:
    """Landing files per contract table, oldest drop first (sorted by relative path)."""
    found: dict[str, list[Path]] = {name: [] for name in TABLES}
    if not landing_dir.is_dir():
        return found
    for path in sorted(p for p in landing_dir.rglob("*") if p.is_file()):
        if any(part.startswith((".", "_")) for part in path.relative_to(landing_dir).parts):
            continue  # hidden files and temporary files of a writer in progress
        table = table_for_file(path)
        if table is not None:
            found[table].append(path)
    return found


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema, one table per contract table, and the load log (idempotent)."""
    con.execute("create schema if not exists raw")
    for table in TABLES.values():
        cols = [f"{quote(c)} {t}" for c, t in table.columns.items()]
        cols += [f"{quote(c)} {t}" for c, t in METADATA_COLUMNS.items()]
        con.execute(f"create table if not exists raw.{quote(table.name)} ({', '.join(cols)})")
    con.execute(
        f"""create table if not exists {LOAD_LOG} (
            batch_id bigint primary key,
            table_name varchar not null,
            source_system varchar not null,
            source_file varchar not null,
            content_sha256 varchar not null,
            row_count bigint not null,
            loaded_at timestamptz not null
        )"""
    )


def _csv_header(path: Path) -> list[str]:
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:  # type: ignore[operator]
        import csv

        try:
            return next(csv.reader(fh))
        except StopIteration:
            return []
        except UnicodeDecodeError as exc:
            raise LandingFileError(
                f"{path}: not valid UTF-8 text (byte {exc.start}); re-export the file as UTF-8"
            ) from exc


def _read_as_text(con: duckdb.DuckDBPyConnection, path: Path, table: RawTable) -> list[str]:
    """Read ``path`` into the temp table ``_landing`` (all VARCHAR) and return its columns."""
    con.execute("drop table if exists _landing")
    name = path.name
    if name.endswith(".parquet"):
        rel = f"read_parquet({sql_str(str(path))})"
        cols = [r[0] for r in con.execute(f"describe select * from {rel}").fetchall()]
        select = ", ".join(f"cast({quote(c)} as varchar) as {quote(c)}" for c in cols)
        con.execute(f"create temp table _landing as select {select} from {rel}")
        return cols
    if name.endswith(".jsonl"):
        rel = f"read_json({sql_str(str(path))}, format='newline_delimited', records=true)"
        cols = [r[0] for r in con.execute(f"describe select * from {rel}").fetchall()]
        select = ", ".join(f"cast({quote(c)} as varchar) as {quote(c)}" for c in cols)
        con.execute(f"create temp table _landing as select {select} from {rel}")
        return cols
    # CSV (optionally gzip-compressed): header read by Python so the column list is explicit.
    header = [h.strip() for h in _csv_header(path)]
    if not header:
        raise LandingFileError(f"{path}: the file is empty (no header row)")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise LandingFileError(f"{path}: duplicate column(s) in the header: {', '.join(dupes)}")
    columns = "{" + ", ".join(f"{sql_str(h)}: 'VARCHAR'" for h in header) + "}"
    try:
        con.execute(
            f"""create temp table _landing as select * from read_csv({sql_str(str(path))},
                header=true, columns={columns}, delim=',', quote='"', escape='"',
                strict_mode=true, null_padding=false, nullstr='')"""
        )
    except duckdb.Error as exc:
        raise LandingFileError(f"{path}: malformed CSV: {str(exc).splitlines()[0]}") from exc
    return header


def _check_columns(path: Path, table: RawTable, cols: list[str], warnings: list[str]) -> None:
    missing = [c for c in table.columns if c not in cols]
    if missing:
        raise LandingFileError(
            f"{path}: missing required column(s) {', '.join(missing)} for raw table {table.name!r} "
            f"(expected columns: {', '.join(table.columns)})"
        )
    extra = [c for c in cols if c not in table.columns]
    if extra:
        msg = f"{path}: ignoring unknown column(s) {', '.join(extra)}"
        log.warning(msg)
        warnings.append(msg)


def _check_types(con: duckdb.DuckDBPyConnection, path: Path, table: RawTable) -> None:
    """Raise naming the first rows whose text does not cast to the contract type of a column."""
    for col, typ in table.columns.items():
        bad = con.execute(
            f"""select rowid + 1, {quote(col)} from _landing
                where {quote(col)} is not null and try_cast({quote(col)} as {typ}) is null
                order by rowid limit 3"""
        ).fetchall()
        if bad:
            samples = "; ".join(f"row {r}: {v!r}" for r, v in bad)
            raise LandingFileError(
                f"{path}: column {col!r} expects {typ}, cannot read {samples} "
                f"(rows counted from 1 after the header)"
            )
    for col in table.required:
        bad = con.execute(
            f"select rowid + 1 from _landing where {quote(col)} is null order by rowid limit 3"
        ).fetchall()
        if bad:
            rows = ", ".join(str(r[0]) for r in bad)
            raise LandingFileError(f"{path}: required column {col!r} is empty in row(s) {rows}")


def load_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: RawTable,
    *,
    source_system: str,
    warnings: list[str],
) -> FileLoad:
    sha = file_sha256(path)
    already = con.execute(
        f"select batch_id from {LOAD_LOG} where table_name = ? and content_sha256 = ?",
        [table.name, sha],
    ).fetchone()
    if already:
        return FileLoad(path=path, sha256=sha, skipped=True, batch_id=already[0])
    if path.stat().st_size == 0:
        raise LandingFileError(f"{path}: the file is empty (0 bytes)")

    cols = _read_as_text(con, path, table)
    _check_columns(path, table, cols, warnings)
    _check_types(con, path, table)

    con.execute("begin transaction")
    try:
        batch_id = con.execute(f"select coalesce(max(batch_id), 0) + 1 from {LOAD_LOG}").fetchone()[0]
        loaded_at = dt.datetime.now(dt.UTC)
        target_cols = list(table.columns) + list(METADATA_COLUMNS)
        select = [f"cast({quote(c)} as {t})" for c, t in table.columns.items()]
        select += ["?", "?", "?", "?"]
        con.execute(
            f"insert into raw.{quote(table.name)} ({', '.join(map(quote, target_cols))}) "
            f"select {', '.join(select)} from _landing order by rowid",
            [batch_id, loaded_at, source_system, str(path)],
        )
        rows = con.execute("select count(*) from _landing").fetchone()[0]
        con.execute(
            f"insert into {LOAD_LOG} values (?, ?, ?, ?, ?, ?, ?)",
            [batch_id, table.name, source_system, str(path), sha, rows, loaded_at],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.execute("drop table if exists _landing")
    return FileLoad(path=path, sha256=sha, rows=rows, batch_id=batch_id)


def connect_build(build_db: Path) -> duckdb.DuckDBPyConnection:
    build_db.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(build_db))
    except duckdb.IOException as exc:
        raise RuntimeError(
            f"cannot open the build warehouse {build_db} for writing: {exc}. Another refresh or a "
            "tool holding the file open is running; BI and analysts should use the reporting "
            "database instead."
        ) from exc
    con.execute("set TimeZone = 'UTC'")
    return con


def load_landing(
    build_db: Path,
    landing_dir: Path,
    *,
    source_system: str,
    tables: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, TableLoad]:
    """Load every new landing file of ``tables`` (default: all) into ``raw``; return what was done."""
    files = find_landing_files(landing_dir)
    wanted = list(tables) if tables is not None else list(TABLES)
    results: dict[str, TableLoad] = {}
    con = connect_build(build_db)
    try:
        ensure_raw_schema(con)
        for name in wanted:
            result = TableLoad(table=name)
            for path in files[name]:
                fl = load_file(con, path, TABLES[name], source_system=source_system, warnings=result.warnings)
                result.files.append(fl)
                if progress:
                    what = "already loaded, skipped" if fl.skipped else f"{fl.rows:,} rows"
                    progress(f"raw.{name}: {path.name} ({what})")
            results[name] = result
        con.execute("checkpoint")
    finally:
        con.close()
    return results
