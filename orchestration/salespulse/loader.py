"""Load canonical landing files into the append-only ``raw`` schema of the build warehouse.

A landing drop holds one file per raw table (``<table>.parquet|.csv|.csv.gz|.jsonl``), either at
the top of the landing folder or in sub-folders (one per daily drop, say). Every file is read with
DuckDB's readers as text with an explicit column list and checked against the contract:

* **File-level problems** (0-byte or header-less file, missing required column, undecodable text,
  unreadable format) stop that table's load with a :class:`LandingFileError` naming the file.
* **Row-level violations** (malformed CSV row, unparseable value, missing key or required value,
  value outside the accepted set, negative amount, duplicate key with the same ``updated_at``,
  orphan reference, currency without an fx rate, timestamp in the future) send the row to
  ``quarantine.<table>`` with the file, row number, column and reason. Every other row is appended
  to ``raw.<table>``: nothing is lost, and the quality gate decides whether to publish.

The good rows, the quarantined rows and the file's ``raw._load_log`` entry are written in one
transaction, so a crash never leaves half a file. A file whose content hash was already loaded for
a table is skipped, which makes re-running a refresh on the same files idempotent.
"""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
import hashlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from . import faults
from .contract import LANDING_SUFFIXES, METADATA_COLUMNS, TABLES, RawTable
from .duck import DuckLimits, sql_str

log = logging.getLogger("salespulse.loader")

LOAD_LOG = "raw._load_log"
QUARANTINE_SCHEMA = "quarantine"
QUARANTINE_COLUMNS: dict[str, str] = {
    "_row_number": "BIGINT",  # data row in the file, 1 = the first row after the header
    "_column": "VARCHAR",
    "_reason": "VARCHAR",
    "_raw_line": "VARCHAR",  # the text of a malformed CSV line
    "_batch_id": "BIGINT",
    "_source_system": "VARCHAR",
    "_source_file": "VARCHAR",
    "_quarantined_at": "TIMESTAMPTZ",
    "_resolved_at": "TIMESTAMPTZ",  # set by `salespulse quarantine resolve`
}

# Foreign keys checked at load time: child column -> (parent table, parent key). A reference is
# an orphan when the parent table has rows but none with that key (in any version).
FOREIGN_KEYS: dict[str, list[tuple[str, str, str]]] = {
    "customers": [("owner_rep_id", "reps", "rep_id")],
    "leads": [("owner_rep_id", "reps", "rep_id")],
    "opportunities": [("customer_id", "customers", "customer_id"), ("owner_rep_id", "reps", "rep_id")],
    "opportunity_stage_history": [("opportunity_id", "opportunities", "opportunity_id")],
    "activities": [("rep_id", "reps", "rep_id")],
    "orders": [("customer_id", "customers", "customer_id"), ("rep_id", "reps", "rep_id")],
    "payments": [("order_id", "orders", "order_id")],
    "deliveries": [("order_id", "orders", "order_id")],
    "sales_compensation": [("rep_id", "reps", "rep_id")],
}

# Money columns and the date their fx rate is looked up on (a timestamp's local date or a date).
CURRENCY_DATES: dict[str, str] = {
    "orders": "signed_at",
    "payments": "paid_at",
    "opportunities": "created_at",
    "marketing_spend": "spend_date",
    "sales_compensation": "month",
    "targets": "period_start",
}

# Parents load before children, fx rates before anything priced in a currency.
LOAD_ORDER: tuple[str, ...] = (
    "fx_rates", "reps", "customers", "leads", "opportunities", "opportunity_stage_history",
    "activities", "orders", "payments", "deliveries", "marketing_spend", "sales_compensation", "targets",
)
assert sorted(LOAD_ORDER) == sorted(TABLES)

FUTURE_TOLERANCE = dt.timedelta(days=1)


class LandingFileError(ValueError):
    """A landing file that cannot be loaded at all; the message names the file (and row/column)."""


@dataclass(frozen=True)
class LoadOptions:
    source_system: str = "unknown"
    reporting_currency: str = "CNY"
    timezone: str = "Asia/Shanghai"
    encoding: str = "auto"  # auto (UTF-8, UTF-8 with BOM, else GB18030/GBK) or a Python codec name
    now: dt.datetime | None = None  # "now" for the future-timestamp rule (default: wall clock)
    # Configured source names: a file under <landing>/<name>/ is tagged _source_system = name.
    source_names: tuple[str, ...] = ()
    limits: DuckLimits = DuckLimits()  # memory_limit and threads of the load (default: DuckDB's own)


@dataclass
class FileLoad:
    path: Path
    sha256: str
    rows: int = 0
    quarantined_rows: int = 0
    skipped: bool = False
    batch_id: int | None = None
    encoding: str | None = None


@dataclass
class TableLoad:
    table: str
    files: list[FileLoad] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # a file-level problem that stopped this table's load

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows for f in self.files if not f.skipped)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.quarantined_rows for f in self.files if not f.skipped)

    @property
    def files_loaded(self) -> int:
        return sum(1 for f in self.files if not f.skipped)

    @property
    def files_skipped(self) -> int:
        return sum(1 for f in self.files if f.skipped)

    @property
    def batch_ids(self) -> list[int]:
        return list(self.batch_rows)

    @property
    def batch_rows(self) -> dict[int, int]:
        """Rows appended to ``raw.<table>`` per batch loaded now (quarantined rows excluded)."""
        return {f.batch_id: f.rows for f in self.files if not f.skipped and f.batch_id is not None}


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
    """Create the raw and quarantine schemas, their tables and the load log (idempotent)."""
    con.execute("create schema if not exists raw")
    con.execute(f"create schema if not exists {QUARANTINE_SCHEMA}")
    for table in TABLES.values():
        cols = [f"{quote(c)} {t}" for c, t in table.columns.items()]
        cols += [f"{quote(c)} {t}" for c, t in METADATA_COLUMNS.items()]
        con.execute(f"create table if not exists raw.{quote(table.name)} ({', '.join(cols)})")
        qcols = [f"{quote(c)} VARCHAR" for c in table.columns]
        qcols += [f"{quote(c)} {t}" for c, t in QUARANTINE_COLUMNS.items()]
        con.execute(f"create table if not exists {QUARANTINE_SCHEMA}.{quote(table.name)} ({', '.join(qcols)})")
    con.execute(
        f"""create table if not exists {LOAD_LOG} (
            batch_id bigint primary key,
            table_name varchar not null,
            source_system varchar not null,
            source_file varchar not null,
            content_sha256 varchar not null,
            row_count bigint not null,
            quarantined_count bigint not null,
            encoding varchar,
            loaded_at timestamptz not null
        )"""
    )


# --------------------------------------------------------------------------- reading
def _open_text(path: Path, encoding: str):
    opener = gzip.open if path.name.endswith(".gz") else open
    return opener(path, "rt", encoding=encoding, newline="")  # type: ignore[operator]


def detect_encoding(path: Path, configured: str = "auto") -> str:
    """``utf-8-sig`` for UTF-8 (with or without BOM), else GB18030 (a superset of GBK) if it decodes.

    A configured encoding other than ``auto`` is used as is (a typo names the file and the codec).
    """
    if configured != "auto":
        try:
            codecs.lookup(configured)
        except LookupError as exc:
            raise LandingFileError(f"{path}: unknown encoding {configured!r} in the settings") from exc
        return configured
    for candidate in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(candidate)()
        try:
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rb") as fh:  # type: ignore[operator]
                for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return candidate
        except UnicodeDecodeError:
            continue
        except (OSError, EOFError) as exc:
            raise LandingFileError(f"{path}: cannot read the file: {exc}") from exc
    raise LandingFileError(
        f"{path}: the text is neither UTF-8 nor GBK/GB18030; re-export it as UTF-8 or set "
        "`landing_encoding` in the settings"
    )


def _csv_header(path: Path, encoding: str) -> list[str]:
    import csv

    with _open_text(path, encoding) as fh:
        try:
            return [h.strip() for h in next(csv.reader(fh))]
        except StopIteration:
            return []
        except (UnicodeDecodeError, csv.Error) as exc:
            raise LandingFileError(f"{path}: cannot read the header row: {exc}") from exc


def _utf8_copy(path: Path, encoding: str, workdir: Path) -> Path:
    """A UTF-8 copy of a CSV in another encoding (DuckDB's reader wants UTF-8), streamed."""
    target = workdir / (path.name.removesuffix(".gz"))
    with _open_text(path, encoding) as src, target.open("w", encoding="utf-8", newline="") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return target


@dataclass
class _Read:
    columns: list[str]
    rejects: list[tuple[int, int, str | None, str, str]]  # (row, line, column, reason, raw line)
    encoding: str | None = None
    typed: frozenset[str] = frozenset()  # columns read in their contract type (typed Parquet), not as text


# DuckDB's DESCRIBE spelling of a contract type, when it differs from the contract's.
_DESCRIBED = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


def _drop_landing(con: duckdb.DuckDBPyConnection) -> None:
    kind = con.execute(
        "select table_type from information_schema.tables where table_catalog = 'temp' and table_name = '_landing'"
    ).fetchone()
    if kind:
        con.execute(f"drop {'view' if kind[0] == 'VIEW' else 'table'} _landing")


def _text(col: str, read_typed: frozenset[str]) -> str:
    """SQL text of column ``col`` of ``_landing`` (typed columns are cast for messages)."""
    return f"cast({quote(col)} as varchar)" if col in read_typed else quote(col)


def _read_as_text(
    con: duckdb.DuckDBPyConnection, path: Path, opts: LoadOptions, workdir: Path, table: RawTable | None = None
) -> _Read:
    """Make ``_landing`` the rows of ``path`` (in file order), with ``rowid`` their 0-based position.

    CSV and JSON columns are read as VARCHAR and cast by the contract rules. A Parquet column
    whose type already is the contract type is kept typed: nothing to parse, and the rules that
    only text can break (unreadable values) do not apply to it. Any other Parquet column is read
    as text like a CSV column.

    CSV and JSON are parsed once into a temp table. A Parquet file is already columnar and typed:
    ``_landing`` is a temp view over it (``rowid`` = ``file_row_number``), so the rules read only the
    columns they test and the insert reads the file directly, instead of writing a copy of the
    whole file first (which spilled at tens of millions of rows).
    """
    _drop_landing(con)
    name = path.name
    if name.endswith((".parquet", ".jsonl")):
        if name.endswith(".parquet"):
            rel = f"read_parquet({sql_str(str(path))})"
        else:
            rel = f"read_json({sql_str(str(path))}, format='newline_delimited', records=true)"
        try:
            described = con.execute(f"describe select * from {rel}").fetchall()
            cols = [r[0] for r in described]
            typed: set[str] = set()
            if table is not None and name.endswith(".parquet"):
                for col, typ, *_ in described:
                    want = table.columns.get(col)
                    if want is not None and want != "VARCHAR" and typ == _DESCRIBED.get(want, want):
                        typed.add(col)
            select = ", ".join(
                quote(c) if c in typed else f"cast({quote(c)} as varchar) as {quote(c)}" for c in cols
            )
            if name.endswith(".parquet"):
                rel = f"read_parquet({sql_str(str(path))}, file_row_number = true)"
                con.execute(f"create temp view _landing as select file_row_number as rowid, {select} from {rel}")
            else:
                con.execute(f"create temp table _landing as select {select} from {rel}")
        except duckdb.Error as exc:
            raise LandingFileError(f"{path}: cannot read the file: {str(exc).splitlines()[0]}") from exc
        return _Read(cols, [], typed=frozenset(typed))

    # CSV (optionally gzip-compressed): the header is read by Python so the column list is explicit,
    # malformed rows are collected by DuckDB's rejects table instead of failing the file.
    encoding = detect_encoding(path, opts.encoding)
    header = _csv_header(path, encoding)
    if not header or header == [""]:
        raise LandingFileError(f"{path}: the file is empty (no header row)")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise LandingFileError(f"{path}: duplicate column(s) in the header: {', '.join(dupes)}")
    source = path
    if encoding not in ("utf-8-sig", "utf-8"):
        source = _utf8_copy(path, encoding, workdir)
    columns = "{" + ", ".join(f"{sql_str(h)}: 'VARCHAR'" for h in header) + "}"
    con.execute("drop table if exists _rejects")
    con.execute("drop table if exists _rejects_scan")
    try:
        con.execute(
            f"""create temp table _landing as select * from read_csv({sql_str(str(source))},
                auto_detect=false, header=true, columns={columns}, delim=',', quote='"', escape='"',
                strict_mode=true, null_padding=false, nullstr='', store_rejects=true,
                rejects_table='_rejects', rejects_scan='_rejects_scan')"""
        )
        rejects = con.execute(
            "select line, column_name, error_type, error_message, csv_line from _rejects order by line"
        ).fetchall()
    except duckdb.Error as exc:
        raise LandingFileError(f"{path}: malformed CSV: {str(exc).splitlines()[0]}") from exc
    out = []
    for line, column, etype, message, raw in rejects:
        reason = f"malformed CSV row ({etype.lower()}): {message}"
        out.append((line - 1, line, column, reason, raw))
    return _Read(header, out, encoding)


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


# --------------------------------------------------------------------------- row-level rules
def _blank(c: str) -> str:
    """SQL: text column ``c`` holds only whitespace (``trim(c) = ''``), in a form whose first part
    DuckDB tests against each row group's min/max: every character ``trim`` removes is a space
    (U+0020) or not ASCII, so a blank value sorts below ``'!'`` or at ``chr(128)`` and above. A key
    column of ids skips every row group; ``trim`` over all of 48.8 million activity ids took 3 s."""
    return f"(({c} < '!' or {c} >= chr(128)) and trim({c}) = '')"


def _violation_queries(
    con: duckdb.DuckDBPyConnection, table: RawTable, opts: LoadOptions, typed: frozenset[str] = frozenset()
) -> list[str]:
    """SQL selects of (rid, column, reason) over ``_landing``, one per rule (``typed``: columns read
    in their contract type, see :func:`_read_as_text`)."""
    q: list[str] = []
    now = opts.now or dt.datetime.now(dt.UTC)
    horizon = (now + FUTURE_TOLERANCE).isoformat()
    for col, typ in table.columns.items():
        c = quote(col)
        t = _text(col, typed)
        if col not in typed:
            q.append(
                f"select rowid, '{col}', 'cannot read ' || quote_text({c}) || ' as {typ}' from _landing "
                f"where {c} is not null and try_cast({c} as {typ}) is null"
            )
        if col not in table.nullable:
            kind = "missing key" if col in table.primary_key else "missing required value"
            blank = "" if col in typed else f" or {_blank(c)}"
            q.append(f"select rowid, '{col}', '{kind}' from _landing where {c} is null{blank}")
        if col in table.accepted_values:
            allowed = ", ".join(sql_str(v) for v in table.accepted_values[col])
            listed = sql_str(" is not one of: " + ", ".join(table.accepted_values[col]))
            q.append(
                f"select rowid, '{col}', quote_text({t}) || {listed} from _landing "
                f"where {c} is not null and lower(trim({t})) not in ({allowed})"
            )
        if col in table.non_negative:
            q.append(
                f"select rowid, '{col}', 'negative amount ' || {t} from _landing "
                f"where try_cast({c} as {typ}) < 0"
            )
        if typ == "TIMESTAMPTZ":
            q.append(
                f"select rowid, '{col}', 'timestamp ' || {t} || ' is in the future' from _landing "
                f"where try_cast({c} as timestamptz) > timestamptz '{horizon}'"
            )
    # duplicate key (+ updated_at) inside the file: later rows are quarantined
    key = list(table.primary_key) + (["updated_at"] if table.has_versions else [])
    keys = ", ".join(quote(k) for k in key)
    what = "key + updated_at" if table.has_versions else "key"
    present = " and ".join(f"{quote(k)} is not null" for k in key)
    # A distinct count of the keys' 64-bit hashes says whether any key may repeat: equal keys have
    # equal hashes, so as many hashes as rows proves every key distinct (half the time of a
    # distinct count of the keys themselves, a quarter of the window sort). The window sort that
    # names every repeated row and its first occurrence runs only otherwise; after a mere hash
    # collision it finds nothing.
    repeats = con.execute(f"select count(*) - count(distinct hash({keys})) from _landing where {present}").fetchone()[0]
    if repeats:
        q.append(
            f"""select rowid, '{key[0]}', 'duplicate {what} (first at row ' || first_row || ')' from (
                  select rowid, min(rowid) over (partition by {keys}) + 1 as first_row,
                         row_number() over (partition by {keys} order by rowid) as n
                  from _landing where {present}
                ) where n > 1"""
        )
    # same key + updated_at already in raw with different values: a conflicting correction
    if table.has_versions:
        cols = [c for c in table.columns]
        differs = " or ".join(
            f"r.{quote(c)} is distinct from try_cast(l.{quote(c)} as {table.columns[c]})" for c in cols
        )
        join = " and ".join(
            f"r.{quote(k)} = try_cast(l.{quote(k)} as {table.columns[k]})" for k in key
        )
        q.append(
            f"""select l.rowid, '{key[0]}', 'duplicate {what} already loaded with different values'
                from _landing l join raw.{quote(table.name)} r on {join} where {differs}"""
        )
    # orphan references
    for col, parent, pkey in FOREIGN_KEYS.get(table.name, []):
        if con.execute(f"select count(*) from raw.{quote(parent)}").fetchone()[0] == 0:
            continue  # the source delivers no such table: nothing to check against
        q.append(
            f"""select rowid, '{col}', 'orphan reference: no {parent} with {pkey} = ' || quote_text({_text(col, typed)})
                from _landing l where {quote(col)} is not null and not exists (
                    select 1 from raw.{quote(parent)} p where p.{quote(pkey)} = l.{quote(col)})"""
        )
    # currency without an fx rate on or before the event's local date
    if table.name in CURRENCY_DATES and "currency" in table.columns:
        dcol = CURRENCY_DATES[table.name]
        if table.columns[dcol] == "DATE":
            day = f"try_cast(l.{quote(dcol)} as date)"
        else:
            day = f"cast(timezone({sql_str(opts.timezone)}, try_cast(l.{quote(dcol)} as timestamptz)) as date)"
        # A rate on or before the day exists iff the currency's first rate is on or before it: an
        # equi-join on the currency instead of a range join (minutes at millions of rows).
        q.append(
            f"""select rowid, 'currency', 'no fx rate for ' || upper(trim(l.currency)) || ' on or before '
                       || coalesce(cast({day} as varchar), '?') from _landing l
                left join (select currency, min(rate_date) as first_rate from raw.fx_rates group by currency) f
                       on f.currency = upper(trim(l.currency))
                where l.currency is not null and upper(trim(l.currency)) <> {sql_str(opts.reporting_currency)}
                  and (f.first_rate is null or {day} is null or f.first_rate > {day})"""
        )
    return q


def _row_ordinal(rid: int, reject_rows: list[int]) -> int:
    """Data-row number in the file of the ``rid``-th parsed row (0-based), skipping rejected rows."""
    n = rid + 1
    for r in reject_rows:
        if r <= n:
            n += 1
        else:
            break
    return n


def _quote_text_macro(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create or replace temp macro quote_text(v) as '''' || coalesce(v, 'NULL') || ''''")


def load_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: RawTable,
    opts: LoadOptions,
    *,
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

    with tempfile.TemporaryDirectory(prefix="salespulse-load-") as workdir:
        read = _read_as_text(con, path, opts, Path(workdir), table)
    _check_columns(path, table, read.columns, warnings)
    _quote_text_macro(con)
    con.execute("drop table if exists _violations")
    con.execute("create temp table _violations (rid bigint, col varchar, reason varchar)")
    for rule in _violation_queries(con, table, opts, read.typed):
        con.execute(f"insert into _violations {rule}")
    violations = con.execute("select rid, col, reason from _violations order by rid, col").fetchall()
    reject_rows = sorted(r[0] for r in read.rejects)

    con.execute("begin transaction")
    try:
        batch_id = con.execute(f"select coalesce(max(batch_id), 0) + 1 from {LOAD_LOG}").fetchone()[0]
        loaded_at = dt.datetime.now(dt.UTC)
        meta = [batch_id, loaded_at, opts.source_system, str(path)]
        target_cols = list(table.columns) + list(METADATA_COLUMNS)
        select = [f"cast({quote(c)} as {t})" for c, t in table.columns.items()] + ["?", "?", "?", "?"]
        # Rows keep their file order (a plain scan preserves it; the anti-join needs the sort).
        good = "where rowid not in (select rid from _violations) order by rowid" if violations else ""
        con.execute(
            f"insert into raw.{quote(table.name)} ({', '.join(map(quote, target_cols))}) "
            f"select {', '.join(select)} from _landing {good}",
            meta,
        )
        rows = con.execute(f"select count(*) from _landing {good.replace(' order by rowid', '')}").fetchone()[0]
        qtable = f"{QUARANTINE_SCHEMA}.{quote(table.name)}"
        qcols = ", ".join(quote(c) for c in list(table.columns) + list(QUARANTINE_COLUMNS))
        contract_cols = ", ".join(f"cast(l.{quote(c)} as varchar)" for c in table.columns)
        for rid, column, reason in violations:
            con.execute(
                f"insert into {qtable} ({qcols}) select {contract_cols}, ?, ?, ?, NULL, ?, ?, ?, ?, NULL "
                f"from _landing l where l.rowid = ?",
                [_row_ordinal(rid, reject_rows), column, reason, batch_id, opts.source_system, str(path),
                 loaded_at, rid],
            )
        nulls = ", ".join("NULL" for _ in table.columns)
        for row, _line, column, reason, raw in read.rejects:
            con.execute(
                f"insert into {qtable} ({qcols}) values ({nulls}, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                [row, column, reason, raw, batch_id, opts.source_system, str(path), loaded_at],
            )
        quarantined = len({r[0] for r in violations}) + len({r[0] for r in read.rejects})
        faults.pause_point("raw_load")
        con.execute(
            f"insert into {LOAD_LOG} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [batch_id, table.name, opts.source_system, str(path), sha, rows, quarantined, read.encoding, loaded_at],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        _drop_landing(con)
        con.execute("drop table if exists _violations")
    if violations or read.rejects:
        first = read.rejects[0] if read.rejects else None
        sample = (
            f"row {first[0]}, column {first[2]!r}: {first[3]}" if first
            else f"row {_row_ordinal(violations[0][0], reject_rows)}, column {violations[0][1]!r}: {violations[0][2]}"
        )
        msg = f"{path}: {quarantined} row(s) quarantined in {qtable}, e.g. {sample}"
        log.warning(msg)
        warnings.append(msg)
    if read.encoding and read.encoding not in ("utf-8-sig", "utf-8"):
        warnings.append(f"{path}: read as {read.encoding} (not UTF-8)")
    return FileLoad(path=path, sha256=sha, rows=rows, quarantined_rows=quarantined, batch_id=batch_id,
                    encoding=read.encoding)


def connect_build(build_db: Path, limits: DuckLimits | None = None) -> duckdb.DuckDBPyConnection:
    """The build warehouse opened for writing, in UTC, with ``limits`` applied."""
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
    return (limits or DuckLimits()).apply(con)


def load_landing(
    build_db: Path,
    landing_dir: Path,
    *,
    source_system: str = "unknown",
    tables: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
    options: LoadOptions | None = None,
) -> dict[str, TableLoad]:
    """Load every new landing file of ``tables`` (default: all) into ``raw``; return what was done.

    A file-level problem stops that table's load (recorded in ``TableLoad.error``; the table's
    earlier files stay loaded) and the other tables go on; the caller decides to fail the run.
    """
    opts = options or LoadOptions(source_system=source_system)
    files = find_landing_files(landing_dir)
    wanted = set(tables) if tables is not None else set(TABLES)
    results: dict[str, TableLoad] = {}
    con = connect_build(build_db, opts.limits)
    try:
        ensure_raw_schema(con)
        for name in (t for t in LOAD_ORDER if t in wanted):
            result = TableLoad(table=name)
            results[name] = result
            for path in files[name]:
                top = path.relative_to(landing_dir).parts[0]
                file_opts = replace(opts, source_system=top) if top in opts.source_names else opts
                try:
                    fl = load_file(con, path, TABLES[name], file_opts, warnings=result.warnings)
                except LandingFileError as exc:
                    result.error = str(exc)
                    log.error(str(exc))
                    if progress:
                        progress(f"raw.{name}: ERROR {exc}")
                    break
                result.files.append(fl)
                if progress:
                    what = "already loaded, skipped" if fl.skipped else f"{fl.rows:,} rows"
                    if fl.quarantined_rows:
                        what += f", {fl.quarantined_rows:,} quarantined"
                    progress(f"raw.{name}: {path.name} ({what})")
        con.execute("checkpoint")
    finally:
        con.close()
    return results


def unresolved_quarantine(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, int]:
    """(quarantined rows still unresolved, rows in raw) for a table.

    A quarantined row is resolved by ``salespulse quarantine resolve`` or, automatically, when a
    later batch delivered a row with the same primary key (the corrected record arrived).
    """
    t = TABLES[table]
    qt = f"{QUARANTINE_SCHEMA}.{quote(table)}"
    join = " and ".join(f"r.{quote(k)} = try_cast(q.{quote(k)} as {t.columns[k]})" for k in t.primary_key)
    unresolved = con.execute(
        f"""select count(*) from (select distinct _source_file, _row_number from {qt} q
            where _resolved_at is null and not exists (
                select 1 from raw.{quote(table)} r where {join} and r._batch_id > q._batch_id))"""
    ).fetchone()[0]
    raw_rows = con.execute(f"select count(*) from raw.{quote(table)}").fetchone()[0]
    return unresolved, raw_rows


def quarantine_samples(con: duckdb.DuckDBPyConnection, table: str, limit: int = 5) -> list[dict]:
    qt = f"{QUARANTINE_SCHEMA}.{quote(table)}"
    rows = con.execute(
        f"select _source_file, _row_number, _column, _reason from {qt} where _resolved_at is null "
        f"order by _batch_id desc, _row_number limit {int(limit)}"
    ).fetchall()
    return [{"file": f, "row": r, "column": c, "reason": why} for f, r, c, why in rows]
