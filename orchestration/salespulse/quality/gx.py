"""Great Expectations (GX Core 1.x) validation of pandas frames and DuckDB queries, plus SQL checks.

- :func:`load_suite` reads a suite kept as JSON under ``expectations/<kind>/<name>.json``.
- :func:`validate_frame` validates one in-memory DataFrame with GX's pandas engine.
- :func:`validate_query_in_chunks` streams a DuckDB query as DataFrames of about ``chunk_rows``
  rows, validates each and merges the outcomes, so a table of tens of millions of rows is never
  in memory at once. Row-wise expectations add up exactly across chunks. Uniqueness cannot be
  decided chunk by chunk, so ``expect_compound_columns_to_be_unique`` and
  ``expect_column_values_to_be_unique`` are evaluated by DuckDB over the whole query instead
  (a ``group by`` that spills to disk if it must), with GX's semantics: every row of a duplicated
  key counts as unexpected, rows whose key columns are all NULL are ignored.
- :func:`validate_raw_batch` runs the raw suite of a table on one loaded batch (one landing file).
  Primary-key (+ ``updated_at``) uniqueness is decided within that batch; across batches the
  contract allows the same version to arrive again (a daily full extract re-sends unchanged
  records: "ties go to the later load"), which :func:`sql_duplicate_keys` reports over the whole
  table.
- :func:`sql_fx_coverage` finds money rows whose currency has no ``fx_rates`` rate on or before
  the event's local date (metrics.md: never a silent 1.0).

GX is imported lazily, once per process (the import takes seconds), with usage analytics and its
tqdm progress bars turned off. GX's SQL datasources are not used (broken on DuckDB 2.0 through
duckdb-engine): DuckDB always hands GX pandas frames.
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import json
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from ..contract import TABLES

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from great_expectations import ExpectationSuite

REPO_ROOT = Path(__file__).resolve().parents[3]
EXPECTATIONS_ENV = "SALESPULSE_EXPECTATIONS_DIR"
SUITE_KINDS = ("raw", "marts")
SAMPLE_LIMIT = 5
DEFAULT_CHUNK_ROWS = 500_000
DEFAULT_RAW_SAMPLE_ROWS = 200_000

#: Expectations decided over the whole query by DuckDB in :func:`validate_query_in_chunks`.
UNIQUENESS_TYPES = frozenset({"expect_compound_columns_to_be_unique", "expect_column_values_to_be_unique"})

# A source table, its key columns, its money-event date expression (local date in the reporting
# time zone, ``{tz}`` / ``{as_of}`` filled in), whether it is versioned, whether it soft-deletes.
_FX_EVENTS: dict[str, tuple[tuple[str, ...], str]] = {
    "orders": (("order_id",), "cast(timezone({tz}, signed_at) as date)"),
    "payments": (("payment_id",), "cast(timezone({tz}, paid_at) as date)"),
    # fct_opportunities converts at the local close day, open opportunities at the as-of date.
    "opportunities": (("opportunity_id",), "coalesce(cast(timezone({tz}, closed_at) as date), {as_of})"),
    "marketing_spend": (("spend_id",), "spend_date"),
    "sales_compensation": (("rep_id", "month"), "month"),
    "targets": (("target_id",), "period_start"),
}


# --------------------------------------------------------------------------- GX, lazily
_lock = threading.RLock()
_state: dict[str, Any] = {}


def _gx() -> dict[str, Any]:
    """The GX module, an ephemeral context and a whole-DataFrame batch definition (made once)."""
    with _lock:
        if not _state:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            ctx = gx.get_context(mode="ephemeral")
            # No "Calculating Metrics" tqdm bars in pipeline output.
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            source = ctx.data_sources.add_pandas("salespulse_frames")
            batch_definition = source.add_dataframe_asset("frame").add_batch_definition_whole_dataframe("whole")
            _state.update(gx=gx, context=ctx, batch_definition=batch_definition)
        return _state


# --------------------------------------------------------------------------- suites
def expectations_dir() -> Path:
    """The folder holding the suites: ``$SALESPULSE_EXPECTATIONS_DIR`` or ``<repo>/expectations``."""
    explicit = os.environ.get(EXPECTATIONS_ENV)
    return Path(explicit).resolve() if explicit else REPO_ROOT / "expectations"


def suite_path(kind: str, name: str) -> Path:
    if kind not in SUITE_KINDS:
        raise ValueError(f"unknown suite kind {kind!r} (expected one of {', '.join(SUITE_KINDS)})")
    return expectations_dir() / kind / f"{name}.json"


def suite_from_dict(data: dict[str, Any]) -> ExpectationSuite:
    """A GX suite from the JSON ``ExpectationSuite.to_json_dict()`` produces."""
    gx = _gx()["gx"]
    return gx.ExpectationSuite(**copy.deepcopy(data))  # GX writes into the meta dict it is given


def load_suite(kind: str, name: str) -> ExpectationSuite:
    """The suite ``expectations/<kind>/<name>.json`` (kind ``raw`` or ``marts``)."""
    path = suite_path(kind, name)
    if not path.is_file():
        raise FileNotFoundError(
            f"no expectation suite {path} for {kind} {name!r}; run `python -m salespulse.quality.build_suites`"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    return suite_from_dict(data)


# --------------------------------------------------------------------------- outcomes
def _json_safe(value: Any) -> Any:
    """A JSON-serialisable, readable version of a sample value from pandas / numpy / GX."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    try:
        import pandas as pd

        if value is pd.NaT or value is pd.NA:
            return None
        if isinstance(value, pd.Timestamp):
            return value.isoformat()
    except Exception:  # noqa: BLE001, S110 - pandas is always there; be defensive in a reporter
        pass
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return _json_safe(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def _exception_messages(info: Any) -> list[str]:
    """Messages of GX ``exception_info`` (flat, or keyed by metric id)."""
    if not isinstance(info, dict):
        return []
    if info.get("raised_exception") and info.get("exception_message"):
        return [str(info["exception_message"])]
    messages: list[str] = []
    for value in info.values():
        if isinstance(value, dict):
            messages.extend(m for m in _exception_messages(value) if m not in messages)
    return messages


def _columns_of(kwargs: dict[str, Any]) -> tuple[str, ...]:
    if "column" in kwargs:
        return (str(kwargs["column"]),)
    if "column_list" in kwargs:
        return tuple(str(c) for c in kwargs["column_list"])
    if "column_A" in kwargs:
        return (str(kwargs["column_A"]), str(kwargs["column_B"]))
    return ()


def _expectation_key(type_: str, kwargs: dict[str, Any]) -> str:
    clean = {k: v for k, v in kwargs.items() if k not in ("batch_id", "result_format")}
    return type_ + json.dumps(clean, sort_keys=True, default=str)


@dataclass
class Failure:
    """One failing expectation (merged over every chunk)."""

    expectation: str
    columns: tuple[str, ...]
    unexpected_count: int | None = None
    samples: list[Any] = field(default_factory=list)
    sample_rows: list[int] = field(default_factory=list)
    observed: Any = None
    error: str | None = None
    rule: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "expectation": self.expectation,
            "columns": list(self.columns),
            "rule": self.rule,
            "unexpected_count": self.unexpected_count,
            "samples": _json_safe(self.samples),
            "sample_rows": list(self.sample_rows),
            "observed": _json_safe(self.observed),
            "error": self.error,
            "kwargs": _json_safe(self.kwargs),
        }

    def describe(self) -> str:
        cols = ", ".join(self.columns) or "(table)"
        what = f"{self.expectation} on {cols}"
        if self.unexpected_count is not None:
            what += f": {self.unexpected_count:,} unexpected"
        if self.samples:
            what += f", e.g. {', '.join(_short(s) for s in self.samples)}"
        if self.observed is not None and self.unexpected_count is None:
            what += f": observed {_short(self.observed, 200)}"
        if self.error:
            what += f" (error: {self.error})"
        return what

    def _merge(self, other: Failure) -> None:
        if self.unexpected_count is None:
            self.unexpected_count = other.unexpected_count
        elif other.unexpected_count is not None:
            self.unexpected_count += other.unexpected_count
        room = SAMPLE_LIMIT - len(self.samples)
        if room > 0:
            self.samples.extend(other.samples[:room])
        room = SAMPLE_LIMIT - len(self.sample_rows)
        if room > 0:
            self.sample_rows.extend(other.sample_rows[:room])
        if self.observed is None:
            self.observed = other.observed
        if self.error is None:
            self.error = other.error


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(_json_safe(value), ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


@dataclass
class ValidationOutcome:
    """The result of validating a suite on a frame or on a whole query (all chunks merged)."""

    suite: str
    passed: bool
    rows: int
    expectations: int
    failures: list[Failure] = field(default_factory=list)
    chunks: int = 1
    seconds: float = 0.0
    population: int | None = None  # rows the sample was drawn from (None: every row was validated)

    @property
    def unexpected_total(self) -> int:
        return sum(f.unexpected_count or 0 for f in self.failures)

    def failure(self, expectation: str, columns: str | Sequence[str] | None = None) -> Failure | None:
        """The failure of ``expectation`` (on ``columns``, a name or a sequence), if any."""
        want = None if columns is None else ((columns,) if isinstance(columns, str) else tuple(columns))
        for f in self.failures:
            if f.expectation == expectation and (want is None or f.columns == want):
                return f
        return None

    def add(self, failure: Failure) -> None:
        """Record a failure found elsewhere (e.g. by an SQL check); the outcome no longer passes."""
        self.failures.append(failure)
        self.passed = False

    def summary(self) -> str:
        if self.passed:
            return f"{self.suite}: all {self.expectations} expectations passed on {self.rows:,} rows"
        return f"{self.suite}: {len(self.failures)} of {self.expectations} expectations failed on " \
            f"{self.rows:,} rows: " + "; ".join(f.describe() for f in self.failures)

    def markdown(self) -> str:
        if not self.failures:
            return f"All {self.expectations} expectations of `{self.suite}` passed on {self.rows:,} rows."
        lines = [
            "| expectation | column(s) | rule | unexpected | sample values | note |",
            "|---|---|---|---:|---|---|",
        ]
        for f in self.failures:
            count = "" if f.unexpected_count is None else f"{f.unexpected_count:,}"
            samples = ", ".join(_short(s) for s in f.samples)
            note = f.error or ("" if f.observed is None else f"observed {_short(f.observed, 200)}")
            lines.append(
                "| " + " | ".join(_md_cell(x) for x in (
                    f"`{f.expectation}`", ", ".join(f.columns), f.rule or "", count, samples, note,
                )) + " |"
            )
        return "\n".join(lines)

    def to_metadata(self) -> dict[str, Any]:
        """Dagster metadata: counts, a Markdown table of the failures and the failures as JSON."""
        from dagster import MetadataValue

        return {
            "suite": self.suite,
            "passed": self.passed,
            "rows_validated": self.rows,
            "rows_in_batch": self.population if self.population is not None else self.rows,
            "chunks": self.chunks,
            "expectations_evaluated": self.expectations,
            "expectations_failed": len(self.failures),
            "unexpected_values": self.unexpected_total,
            "failed_expectations": MetadataValue.md(self.markdown()),
            "failures": MetadataValue.json([f.as_dict() for f in self.failures]),
            "seconds": round(self.seconds, 3),
        }


# --------------------------------------------------------------------------- validation
def _suite_dict(suite: ExpectationSuite) -> dict[str, Any]:
    return suite.to_json_dict()


def _failure_from_result(result: Any) -> Failure:
    config = result.expectation_config
    kwargs = dict(config.kwargs)
    res = result.result or {}
    observed = res.get("observed_value")
    details = res.get("details")
    if config.type == "expect_table_columns_to_match_set" and isinstance(details, dict):
        observed = {"mismatched": details.get("mismatched"), "columns": observed}
    messages = _exception_messages(result.exception_info)
    return Failure(
        expectation=config.type,
        columns=_columns_of(kwargs),
        unexpected_count=None if res.get("unexpected_count") is None else int(res["unexpected_count"]),
        samples=[_json_safe(v) for v in (res.get("partial_unexpected_list") or [])[:SAMPLE_LIMIT]],
        sample_rows=[int(i) if isinstance(i, int) or hasattr(i, "item") else i
                     for i in (res.get("partial_unexpected_index_list") or [])[:SAMPLE_LIMIT]],
        observed=_json_safe(observed),
        error="; ".join(messages) or None,
        rule=(config.meta or {}).get("rule"),
        kwargs={k: v for k, v in kwargs.items() if k != "batch_id"},
    )


# SUMMARY, not COMPLETE: COMPLETE returns every unexpected value and index (unbounded memory).
_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_LIMIT}


def _run(suite: ExpectationSuite, df: pd.DataFrame) -> dict[str, Failure]:
    """Failures of one GX validation, keyed by expectation identity."""
    state = _gx()
    with _lock:
        batch = state["batch_definition"].get_batch(batch_parameters={"dataframe": df})
        res = batch.validate(suite, result_format=_RESULT_FORMAT)
    failures: dict[str, Failure] = {}
    for r in res.results:
        if not r.success:
            failures[_expectation_key(r.expectation_config.type, dict(r.expectation_config.kwargs))] = \
                _failure_from_result(r)
    return failures


def _ordered(suite: ExpectationSuite, failures: dict[str, Failure]) -> list[Failure]:
    order = {
        _expectation_key(e["type"], e.get("kwargs", {})): n
        for n, e in enumerate(_suite_dict(suite).get("expectations", []))
    }
    return [f for _, f in sorted(failures.items(), key=lambda kv: order.get(kv[0], len(order)))]


def validate_frame(suite: ExpectationSuite, df: pd.DataFrame) -> ValidationOutcome:
    """Validate ``df`` (all in memory) against ``suite``; sample rows are ``df``'s index labels."""
    start = time.perf_counter()
    failures = _run(suite, df)
    return ValidationOutcome(
        suite=suite.name,
        passed=not failures,
        rows=len(df),
        expectations=len(suite.expectations),
        failures=_ordered(suite, failures),
        chunks=1,
        seconds=time.perf_counter() - start,
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_uniqueness(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None, type_: str, kwargs: dict[str, Any],
    meta: dict[str, Any],
) -> Failure | None:
    """GX's uniqueness expectations over a whole query, in DuckDB."""
    cols = [kwargs["column"]] if type_ == "expect_column_values_to_be_unique" else list(kwargs["column_list"])
    qcols = ", ".join(_quote(c) for c in cols)
    # GX ignores rows whose key columns are all missing (compound) / a missing value (single column).
    keep = " or ".join(f"{_quote(c)} is not null" for c in cols)
    kept = f"with _q as ({sql.strip().rstrip(';')}) select * from _q where {keep}"
    args = list(params or [])
    # As many distinct 64-bit hashes of the key as rows proves the key unique (equal keys, NULLs
    # included, hash equal); the exact grouping that names the duplicates runs only otherwise. At
    # 48 million activities: 3.4 s against 6.1 s.
    hashes_short = con.execute(f"select count(*) - count(distinct hash({qcols})) from ({kept})", args).fetchone()[0]
    if not hashes_short:
        return None
    dupes = f"select {qcols}, count(*) as _rows from ({kept}) group by all having count(*) > 1"
    rows = con.execute(
        f"select *, sum(_rows) over () as _total from ({dupes}) order by _rows desc, {qcols} limit {SAMPLE_LIMIT}",
        args,
    ).fetchall()
    if not rows:
        return None
    samples = [
        (_json_safe(r[0]) if type_ == "expect_column_values_to_be_unique"
         else {c: _json_safe(v) for c, v in zip(cols, r[: len(cols)], strict=True)})
        for r in rows
    ]
    return Failure(
        expectation=type_,
        columns=tuple(cols),
        unexpected_count=int(rows[0][-1]),
        samples=samples,
        observed={"duplicated_keys_sample_row_counts": [int(r[len(cols)]) for r in rows]},
        rule=meta.get("rule"),
        kwargs=dict(kwargs),
    )


def validate_query_in_chunks(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    suite: ExpectationSuite,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    *,
    params: Sequence[Any] | None = None,
    uniqueness_sql: str | None = None,
) -> ValidationOutcome:
    """Validate the result of ``sql`` (with ``params``) chunk by chunk and merge the outcomes.

    ``uniqueness_sql`` (same ``params``; default ``sql``) is the query the uniqueness expectations
    are decided on, e.g. the whole batch when ``sql`` is a sample of it.

    The result is streamed with ``fetch_df_chunk``: each chunk holds ``chunk_rows`` rounded up to
    whole DuckDB vectors (2,048 rows), so memory is bounded by the chunk, not by the query.
    Unexpected counts are summed over chunks, samples are the first ones found; sample rows are
    positions in the query result (0-based). Uniqueness expectations run in DuckDB over the whole
    query (see the module docstring). An empty result is still validated once (column checks).
    """
    import pandas as pd

    if chunk_rows < 1:
        raise ValueError("chunk_rows must be positive")
    start = time.perf_counter()
    gx = _gx()["gx"]
    data = _suite_dict(suite)
    row_wise = [e for e in data.get("expectations", []) if e["type"] not in UNIQUENESS_TYPES]
    uniqueness = [e for e in data.get("expectations", []) if e["type"] in UNIQUENESS_TYPES]
    chunk_suite = gx.ExpectationSuite(name=suite.name, expectations=row_wise, meta=data.get("meta") or {})
    vectors = max(1, math.ceil(chunk_rows / duckdb.__standard_vector_size__))

    merged: dict[str, Failure] = {}
    rows = chunks = 0
    result = con.execute(sql, list(params or []))
    while True:
        df = result.fetch_df_chunk(vectors)
        if df is None or (len(df) == 0 and chunks > 0):
            break
        df.index = pd.RangeIndex(rows, rows + len(df))
        for key, failure in _run(chunk_suite, df).items():
            if key in merged:
                merged[key]._merge(failure)
            else:
                merged[key] = failure
        rows += len(df)
        chunks += 1
        if len(df) == 0:
            break
        del df
    # ``result`` is ``con`` itself (DuckDB's execute returns the connection): do not close it.

    for e in uniqueness:
        failure = _sql_uniqueness(
            con, uniqueness_sql or sql, params, e["type"], e.get("kwargs", {}), e.get("meta") or {}
        )
        if failure is not None:
            merged[_expectation_key(e["type"], e.get("kwargs", {}))] = failure

    return ValidationOutcome(
        suite=suite.name,
        passed=not merged,
        rows=rows,
        expectations=len(data.get("expectations", [])),
        failures=_ordered(suite, merged),
        chunks=chunks,
        seconds=time.perf_counter() - start,
    )


def validate_raw_batch(
    con: duckdb.DuckDBPyConnection,
    table: str,
    batch_id: int,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    *,
    sample_rows: int = DEFAULT_RAW_SAMPLE_ROWS,
    rows: int | None = None,
) -> ValidationOutcome:
    """Validate the rows of one loaded batch (``raw.<table>`` where ``_batch_id = batch_id``).

    ``rows``: the batch's row count when the caller knows it (the loader does), saving a scan.

    A batch of more than ``sample_rows`` rows (0: no limit) is validated by GX on a repeatable
    reservoir sample of that many rows; its uniqueness expectations are still decided on every row
    by DuckDB. Every row of the batch has already passed the loader's row-level contract rules
    (types, required values, accepted values, amounts, keys, references, fx coverage) in SQL, so the
    sample is an independent second opinion, not the only check; GX's pandas engine costs a few
    microseconds a row, minutes at tens of millions of rows.
    """
    if table not in TABLES:
        raise ValueError(f"unknown raw table {table!r}")
    if sample_rows < 0:
        raise ValueError("sample_rows must be 0 (no sampling) or positive")
    raw = f"raw.{_quote(table)}"
    whole = f"select * from {raw} where _batch_id = $1"
    population = rows if rows is not None else con.execute(f"select count(*) from ({whole})", [batch_id]).fetchone()[0]
    sql = whole
    if sample_rows and population > sample_rows:
        # The reservoir draws row ids, then only those rows are read whole (in table order):
        # sampling `select *` decompressed every column of every row, 3.3x slower.
        sql = (
            f"select * from {raw} where _batch_id = $1 and rowid in ("
            f"select rowid from (select rowid from {raw} where _batch_id = $1) "
            f"using sample reservoir({int(sample_rows)} rows) repeatable (42)) order by rowid"
        )
    outcome = validate_query_in_chunks(
        con, sql, load_suite("raw", table), chunk_rows, params=[batch_id], uniqueness_sql=whole
    )
    if sql != whole:
        outcome.population = population
    return outcome


# --------------------------------------------------------------------------- SQL-only checks
def _key_columns(table: str) -> list[str]:
    t = TABLES[table]
    return list(t.primary_key) + (["updated_at"] if t.has_versions else [])


def sql_duplicate_keys(
    con: duckdb.DuckDBPyConnection, table: str, *, within_batch: bool = False, limit: int = SAMPLE_LIMIT
) -> tuple[int, list[dict[str, Any]]]:
    """Rows of ``raw.<table>`` sharing their primary key (+ ``updated_at`` when versioned).

    Default: across ALL batches of the table. Note that the contract resolves such ties (the
    later load wins) and a daily full extract legitimately re-sends unchanged versions, so
    across batches this is informative; ``within_batch=True`` counts duplicates inside one load,
    which nothing can resolve. Returns (rows in duplicated keys, up to ``limit`` samples: the key
    values, ``rows`` and the ``batch_ids`` involved).
    """
    if table not in TABLES:
        raise ValueError(f"unknown raw table {table!r}")
    cols = _key_columns(table) + (["_batch_id"] if within_batch else [])
    qcols = ", ".join(_quote(c) for c in cols)
    rows = con.execute(
        f"""with d as (
                select {qcols}, count(*) as _rows, list(distinct _batch_id order by _batch_id) as _batches
                from raw.{_quote(table)}
                group by {qcols}
                having count(*) > 1
            )
            select *, sum(_rows) over () as _total from d order by _rows desc, {qcols} limit {int(limit)}"""
    ).fetchall()
    if not rows:
        return 0, []
    samples = [
        {**{c: _json_safe(v) for c, v in zip(cols, r[: len(cols)], strict=True)},
         "rows": int(r[len(cols)]), "batch_ids": [int(b) for b in r[len(cols) + 1]]}
        for r in rows
    ]
    return int(rows[0][-1]), samples


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()[0])


def sql_fx_coverage(
    con: duckdb.DuckDBPyConnection,
    reporting_currency: str,
    *,
    timezone: str = "Asia/Shanghai",
    as_of: dt.date | None = None,
    limit: int = SAMPLE_LIMIT,
) -> tuple[int, list[dict[str, Any]]]:
    """Money rows whose (non-reporting) currency has no ``raw.fx_rates`` rate on or before the event's
    local date in ``timezone`` (metrics.md "Reporting currency").

    Checked rows: the current version of each record of orders (signed_at), payments (paid_at),
    opportunities (closed_at, or the as-of date while open - the rate fct_opportunities uses),
    marketing_spend (spend_date), sales_compensation (month) and targets (period_start; count
    targets without currency are skipped); soft-deleted records are skipped. With ``as_of``,
    events after it are ignored, as in the dbt models. Returns (rows, up to ``limit`` samples:
    table, record key, currency, event date, first rate date of the currency or None).
    """
    reporting = reporting_currency.strip().upper()
    as_of_sql = f"date '{as_of.isoformat()}'" if as_of else f"cast(timezone({_lit(timezone)}, now()) as date)"
    if not _table_exists(con, "raw", "fx_rates"):
        fx = "select cast(null as varchar) as currency, cast(null as date) as first_rate_on where false"
    else:
        fx = """select upper(trim(currency)) as currency, min(rate_date) as first_rate_on
                from raw.fx_rates where rate_date is not null and rate_to_reporting is not null group by 1"""
    parts = []
    for table, (key, date_expr) in _FX_EVENTS.items():
        if not _table_exists(con, "raw", table):
            continue
        t = TABLES[table]
        order = ("updated_at desc nulls last, " if t.has_versions else "") + "_batch_id desc nulls last"
        deleted = "coalesce(is_deleted, false)" if "is_deleted" in t.columns else "false"
        key_expr = " || '|' || ".join(f"coalesce(cast({_quote(c)} as varchar), '')" for c in key)
        event = date_expr.format(tz=_lit(timezone), as_of=as_of_sql)
        parts.append(
            f"""select '{table}' as table_name, {key_expr} as record_key,
                       upper(trim(currency)) as currency, {event} as event_on
                from (select *, {deleted} as _deleted from raw.{_quote(table)}
                      qualify row_number() over (partition by {', '.join(map(_quote, key))} order by {order}) = 1)
                where not _deleted"""
        )
    if not parts:
        return 0, []
    after = f"and e.event_on <= {as_of_sql}" if as_of else ""
    rows = con.execute(
        f"""with fx as ({fx}),
            events as ({' union all '.join(parts)}),
            uncovered as (
                select e.table_name, e.record_key, e.currency, e.event_on, fx.first_rate_on
                from events e left join fx on fx.currency = e.currency
                where e.currency is not null and e.currency <> {_lit(reporting)} and e.event_on is not null
                  and (fx.first_rate_on is null or e.event_on < fx.first_rate_on) {after}
            )
            select *, count(*) over () as _total from uncovered
            order by table_name, event_on, record_key limit {int(limit)}"""
    ).fetchall()
    if not rows:
        return 0, []
    samples = [
        {"table": r[0], "key": r[1], "currency": r[2], "event_on": _json_safe(r[3]), "first_rate_on": _json_safe(r[4])}
        for r in rows
    ]
    return int(rows[0][-1]), samples


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
