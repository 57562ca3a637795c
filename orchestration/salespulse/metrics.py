"""The metrics layer: MetricFlow queries on a read-only snapshot, and the metric catalog.

Every KPI of ``metrics.md`` is defined once, in the dbt semantic layer
(``dbt_project/models/marts/semantic/``: ``semantic_models.yml`` + ``metrics.yml``). This module

* keeps ``dbt_project/target/semantic_manifest.json`` current (:func:`ensure_semantic_manifest`,
  also what ``mf`` reads);
* publishes the **semantic snapshot** (:func:`publish_semantic_snapshot`): after a successful
  refresh, the facts and dimensions the semantic models read (PII-free; ``customer_name`` dropped)
  and the time spine are copied from the build warehouse into ``warehouse/semantic.duckdb``,
  together with the semantic manifest they were built with, and swapped in atomically like the
  reporting database. ``salespulse metrics`` only ever opens that file read-only, so it never
  waits for or blocks a running refresh (DuckDB allows one writer on the build warehouse);
* runs MetricFlow queries on it (:func:`query_metrics`) through a small DuckDB ``SqlClient``;
* builds the metric catalog (:func:`build_catalog`, rendered to ``docs/metrics.md``) from the dbt
  manifest: every metric with its 中文 name, definition, formula, grain, slices, source models,
  caveats and the published mart columns it reproduces, plus the published KPI columns that no
  metric reproduces, with the reason (``config.meta.unmapped_columns`` of the semantic models).
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from .duck import DuckLimits
from .loader import quote, sql_str

SNAPSHOT_NAME = "semantic.duckdb"
MANIFEST_TABLE = "_semantic_manifest"
#: Columns never copied into the snapshot (names of people / companies stay in the build warehouse).
PII_COLUMNS = frozenset({"customer_name", "email", "phone", "contact_name", "rep_name"})
#: Columns of the published KPI marts that locate a row (grain, slice, entity), not measures.
KEY_COLUMNS = frozenset({
    "period_type", "period_start", "period_end", "is_partial", "slice", "slice_value",
    "window_start", "window_end", "customer_id",
})
KPI_PREFIX = "kpi_"
SPEC_AREAS = [  # catalog sections, in metrics.md order: (title, metric name prefixes / names)
    ("Revenue (销售额)", ["bookings", "orders", "ordering_customers", "aov", "cash_collected",
                        "known_gross_profit", "orders_missing_gross_profit", "gross_profit"]),
    ("Customers (客户)", ["new_customers", "referred_new_customers", "referral_rate", "referring_customers",
                        "repeat_customers", "repurchase_rate"]),
    ("Customer acquisition cost (获客成本)", ["ad_spend", "other_marketing", "sales_compensation",
                                        "total_acquisition_cost", "cac_blended", "channel_spend", "cac_paid"]),
    ("Customer lifetime value, trailing 12 months (客户终身价值)", ["*_12m", "cac_payback_months"]),
    ("Sales cycle (销售周期)", ["response_time_*", "signing_time_*", "delivery_time_*", "lead_to_cash_*"]),
    ("Funnel conversion (销售漏斗转化率)", ["leads", "contacted", "qualified", "won", "*_rate",
                                    "lead_to_won_conversion",
                                    "first_contacts_made", "qualifications", "wins"]),
    ("Win rate (赢单率)", ["*_opportunities", "win_rate*", "won_amount", "closed_amount", "avg_won_deal_size"]),
]


# --------------------------------------------------------------------------- semantic manifest
def _project():
    from .project import DBT_PROJECT_DIR, dbt_project

    return DBT_PROJECT_DIR, dbt_project


def semantic_manifest_path() -> Path:
    from . import project

    return project.semantic_manifest_path()


def ensure_semantic_manifest(force: bool = False) -> Path:
    """``target/semantic_manifest.json``, re-parsed (with ``manifest.json``) when the dbt project changed."""
    from . import project

    project.ensure_manifest(force=force)
    return project.semantic_manifest_path()


def parse_semantic_manifest(text: str):
    from metricflow_semantics.model.dbt_manifest_parser import parse_manifest_from_dbt_generated_manifest

    return parse_manifest_from_dbt_generated_manifest(manifest_json_string=text)


def validate_semantic_manifest(text: str):
    """What ``mf validate-configs --skip-dw`` checks; returns the validation results."""
    from metricflow_semantic_interfaces.validations.semantic_manifest_validator import SemanticManifestValidator

    manifest = parse_semantic_manifest(text)
    return SemanticManifestValidator().validate_semantic_manifest(manifest)


def _relations(semantic_manifest: dict) -> list[tuple[str, str, str]]:
    """(database, schema, table) of every semantic model and time spine, sorted, unique."""
    rels = {(sm["node_relation"]["database"], sm["node_relation"]["schema_name"], sm["node_relation"]["alias"])
            for sm in semantic_manifest["semantic_models"]}
    for spine in semantic_manifest.get("project_configuration", {}).get("time_spines", []):
        r = spine["node_relation"]
        rels.add((r["database"], r["schema_name"], r["alias"]))
    return sorted(rels)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _column_refs(con: duckdb.DuckDBPyConnection, expr: str) -> set[str] | None:
    """Names of the columns an SQL expression reads (DuckDB's parser); None if it does not parse."""
    tree = json.loads(con.execute("select json_serialize_sql(?)", [f"select {expr}"]).fetchone()[0])
    if tree.get("error"):
        return None
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("class") == "COLUMN_REF":
                found.add(node["column_names"][-1])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    return found


def _used_columns(semantic_manifest: dict) -> dict[tuple[str, str], set[str] | None]:
    """{(schema, table): names the semantic models may read from it} (None: every column).

    Every ``expr``, ``name``, ``agg_time_dimension`` and ``window_groupings`` string of a semantic
    model counts (names that are no column of the table are dropped later): generous, so that a
    MetricFlow query never misses a column. An expression DuckDB cannot parse keeps the whole table.
    """
    con = duckdb.connect()
    try:
        used: dict[tuple[str, str], set[str] | None] = {}
        for sm in semantic_manifest["semantic_models"]:
            key = (sm["node_relation"]["schema_name"], sm["node_relation"]["alias"])
            # a table read by several semantic models needs the columns of all of them
            prior = used.get(key, set())
            cols: set[str] | None = None if prior is None else set(prior)
            for text in _texts([sm.get(part) for part in ("dimensions", "measures", "entities", "defaults")]):
                refs = {text} if _IDENTIFIER.fullmatch(text) else _column_refs(con, text)
                if refs is None or cols is None:
                    cols = None
                    break
                cols |= refs | {text}
            used[key] = cols
        return used
    finally:
        con.close()


def _texts(node: Any) -> list[str]:
    """Every ``expr``, ``name`` and ``agg_time_dimension`` string and ``window_groupings`` item in ``node``."""
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("expr", "name", "agg_time_dimension") and isinstance(v, str):
                out.append(v)
            elif k == "window_groupings" and isinstance(v, list):
                out.extend(x for x in v if isinstance(x, str))
            else:
                out.extend(_texts(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_texts(v))
    return out


# --------------------------------------------------------------------------- snapshot
@dataclass
class Snapshot:
    path: Path
    tables: dict[str, int]
    published_at: dt.datetime


def publish_semantic_snapshot(
    build_db: Path, out_path: Path, semantic_manifest: Path | None = None, limits: DuckLimits | None = None
) -> Snapshot:
    """Copy the tables the semantic models read from ``build_db`` into ``out_path`` (atomically).

    Call it after a successful publication; ``build_db`` is opened read-only. The snapshot holds
    each ``<schema>.<table>`` under its own name and the semantic manifest in ``_semantic_manifest``
    so that queries use the definitions the data was built with. Only the columns the semantic
    models reference are copied (:func:`_used_columns`; the time spine whole), never PII columns:
    at 10 million orders the facts are most of the refresh's after-dbt time.
    """
    from .publish import atomic_duckdb_copy

    text = Path(semantic_manifest or ensure_semantic_manifest()).read_text(encoding="utf-8")
    manifest = json.loads(text)
    relations = _relations(manifest)
    used = _used_columns(manifest)
    published_at = dt.datetime.now(dt.UTC)
    counts: dict[str, int] = {}
    with atomic_duckdb_copy(build_db, out_path, limits=limits) as con:
        for _database, schema, table in relations:
            cols = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_catalog = 'build' "
                "and table_schema = ? and table_name = ? order by ordinal_position", [schema, table]).fetchall()]
            if not cols:
                raise RuntimeError(f"semantic snapshot: {schema}.{table} is missing from {build_db}")
            wanted = used.get((schema, table))
            keep = ", ".join(quote(c) for c in cols if c not in PII_COLUMNS and (wanted is None or c in wanted))
            con.execute(f"create schema if not exists out.{quote(schema)}")
            con.execute(f"create table out.{quote(schema)}.{quote(table)} as "
                        f"select {keep} from build.{quote(schema)}.{quote(table)}")
            counts[f"{schema}.{table}"] = con.execute(
                f"select count(*) from out.{quote(schema)}.{quote(table)}").fetchone()[0]
        con.execute(f"create table out.main.{MANIFEST_TABLE} (semantic_manifest varchar, published_at timestamptz)")
        con.execute(f"insert into out.main.{MANIFEST_TABLE} values (?, ?)", [text, published_at])
    return Snapshot(out_path, counts, published_at)


# --------------------------------------------------------------------------- MetricFlow on DuckDB
class DuckDbSqlClient:
    """MetricFlow ``SqlClient`` over one DuckDB connection (the snapshot, attached read-only)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        from metricflow.sql.render.duckdb_renderer import DuckDbSqlPlanRenderer

        self._con = con
        self._renderer = DuckDbSqlPlanRenderer()

    @property
    def sql_engine_type(self):
        from metricflow.protocols.sql_client import SqlEngine

        return SqlEngine.DUCKDB

    @property
    def sql_plan_renderer(self):
        return self._renderer

    def _params(self, bind) -> dict:
        return {k: v.value if hasattr(v, "value") else v for k, v in (bind.param_dict or {}).items()} if bind else {}

    def query(self, stmt: str, sql_bind_parameter_set=None):
        from metricflow.data_table.mf_table import MetricFlowDataTable

        cur = self._con.execute(stmt, self._params(sql_bind_parameter_set) or None)
        names = [d[0] for d in cur.description]
        return MetricFlowDataTable.create_from_rows(column_names=names, rows=cur.fetchall())

    def execute(self, stmt: str, sql_bind_parameter_set=None) -> None:
        self._con.execute(stmt, self._params(sql_bind_parameter_set) or None)

    def dry_run(self, stmt: str, sql_bind_parameter_set=None) -> None:
        self._con.execute(f"explain {stmt}", self._params(sql_bind_parameter_set) or None)

    def close(self) -> None:
        self._con.close()

    def render_bind_parameter_key(self, bind_parameter_key: str) -> str:
        return f"${bind_parameter_key}"


class SnapshotMissing(RuntimeError):
    exit_code = 2


class MetricsLayer:
    """MetricFlow over a semantic snapshot opened read-only."""

    def __init__(self, snapshot: Path) -> None:
        if not snapshot.exists():
            raise SnapshotMissing(
                f"no semantic snapshot at {snapshot}: run `salespulse refresh` first (a successful refresh "
                "publishes it beside the reporting database)")
        from metricflow.engine.metricflow_engine import MetricFlowEngine
        from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

        self.con = duckdb.connect()
        self.con.execute(f"attach {sql_str(str(snapshot))} as snapshot (read_only)")
        text, self.published_at = self.con.execute(
            f"select semantic_manifest, published_at from snapshot.main.{MANIFEST_TABLE}").fetchone()
        self.con.execute("detach snapshot")
        databases = sorted({r[0] for r in _relations(json.loads(text))})
        if len(databases) != 1:
            raise RuntimeError(f"semantic snapshot {snapshot}: expected one catalog, got {databases}")
        # the relations name the build warehouse's catalog: attach the snapshot under that name
        self.con.execute(f"attach {sql_str(str(snapshot))} as {quote(databases[0])} (read_only)")
        self.manifest = parse_semantic_manifest(text)
        self.engine = MetricFlowEngine(SemanticManifestLookup(self.manifest), DuckDbSqlClient(self.con))

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> MetricsLayer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _request(self, metrics, group_by, where, order_by, limit, start, end):
        from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

        return MetricFlowQueryRequest.create(
            metric_names=list(metrics), group_by_names=list(group_by or []) or None,
            where_constraints=list(where or []) or None, order_by_names=list(order_by or []) or None,
            limit=limit, time_constraint_start=start, time_constraint_end=end)

    def sql(self, metrics: Sequence[str], group_by: Sequence[str] = (), where: Sequence[str] = (),
            order_by: Sequence[str] = (), limit: int | None = None,
            start: dt.datetime | None = None, end: dt.datetime | None = None) -> str:
        """The SQL MetricFlow generates for the query."""
        request = self._request(metrics, group_by, where, order_by, limit, start, end)
        return self.engine.explain(request).sql_statement.sql

    def query(self, metrics: Sequence[str], group_by: Sequence[str] = (), where: Sequence[str] = (),
              order_by: Sequence[str] = (), limit: int | None = None,
              start: dt.datetime | None = None, end: dt.datetime | None = None):
        """Run a MetricFlow query; returns a pandas DataFrame."""
        return self.con.execute(self.sql(metrics, group_by, where, order_by, limit, start, end)).df()


def query_metrics(snapshot: Path, metrics: Sequence[str], group_by: Sequence[str] = (), **kwargs):
    with MetricsLayer(snapshot) as layer:
        return layer.query(metrics, group_by, **kwargs)


# --------------------------------------------------------------------------- catalog
@dataclass
class CatalogEntry:
    name: str
    label: str
    label_zh: str
    description: str
    metric_type: str
    formula: str
    grain: str
    slices: list[str]
    source_models: list[str]
    caveats: str
    published_as: list[str]
    area: str = ""


@dataclass
class Catalog:
    metrics: list[CatalogEntry]
    unmapped: dict[str, str]                 # published column pattern -> reason
    kpi_columns: dict[str, dict[str, Any]]   # "kpi_x.col" -> {description, label_zh}
    issues: list[str] = field(default_factory=list)

    def entry_for(self, column: str) -> str | None:
        """How a published KPI column is catalogued: a metric name, 'unmapped: <pattern>', or None."""
        for m in self.metrics:
            if column in m.published_as:
                return m.name
        for pattern in self.unmapped:
            if fnmatch.fnmatchcase(column, pattern):
                return f"unmapped: {pattern}"
        return None

    def uncatalogued(self) -> list[str]:
        return [c for c in sorted(self.kpi_columns) if self.entry_for(c) is None]


def _meta(node: dict) -> dict:
    return {**(node.get("meta") or {}), **((node.get("config") or {}).get("meta") or {})}


def _formula(metric: dict) -> str:
    tp = metric["type_params"]
    kind = metric["type"]
    if kind == "simple":
        m = tp["measure"]
        fill = m.get("fill_nulls_with")
        return f"measure {m['name']}" + (f" (NULL → {fill})" if fill is not None else "")
    if kind == "ratio":
        return f"{tp['numerator']['name']} / {tp['denominator']['name']}"
    if kind == "derived":
        parts = []
        for inp in tp.get("metrics") or []:
            alias = inp.get("alias")
            if alias:
                window = inp.get("offset_window") or {}
                shift = (f"{window.get('count')} {window.get('granularity')}" if isinstance(window, dict)
                         else str(window))
                parts.append(f"{alias} = {inp['name']} offset by {shift}")
        return tp["expr"].strip() + (f" where {'; '.join(parts)}" if parts else "")
    if kind == "cumulative":
        c = tp.get("cumulative_type_params") or {}
        m = (tp.get("measure") or {}).get("name")
        if c.get("grain_to_date"):
            return f"Σ {m} from the start of the {c['grain_to_date']} (grain_to_date), period_agg {c.get('period_agg')}"
        w = c.get("window") or {}
        return f"Σ {m} over a {w.get('count')} {w.get('granularity')} window, period_agg {c.get('period_agg')}"
    if kind == "conversion":
        c = tp["conversion_type_params"]
        return (f"conversion of {c['base_measure']['name']} into {c['conversion_measure']['name']} per "
                f"{c['entity']} ({c['calculation']})")
    return kind


def _area(name: str) -> str:
    for title, patterns in SPEC_AREAS:
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            return title
    return "Other"


def build_catalog(manifest: dict) -> Catalog:
    """The catalog from a dbt ``manifest.json`` (metrics, semantic models, published KPI marts)."""
    semantic_models = {sm["name"]: sm for sm in manifest.get("semantic_models", {}).values()}
    measure_model = {}
    unmapped: dict[str, str] = {}
    for sm in semantic_models.values():
        model = sm.get("node_relation", {}).get("alias") or sm["name"]
        for measure in sm.get("measures", []):
            measure_model[measure["name"]] = model
        unmapped.update({k: " ".join(str(v).split()) for k, v in (_meta(sm).get("unmapped_columns") or {}).items()})
    metrics = {m["name"]: m for m in manifest.get("metrics", {}).values()}

    def sources(name: str, seen: frozenset = frozenset()) -> set[str]:
        m = metrics.get(name)
        if m is None or name in seen:
            return set()
        tp = m["type_params"]
        out = {measure_model.get(x["name"]) for x in (tp.get("input_measures") or [])}
        for key in ("numerator", "denominator"):
            if tp.get(key):
                out |= sources(tp[key]["name"], seen | {name})
        for inp in tp.get("metrics") or []:
            out |= sources(inp["name"], seen | {name})
        return {x for x in out if x}

    entries = []
    for name in sorted(metrics):
        m = metrics[name]
        meta = _meta(m)
        slices = list(meta.get("slices") or [])
        entries.append(CatalogEntry(
            name=name, label=m.get("label") or name, label_zh=str(meta.get("label_zh") or ""),
            description=" ".join((m.get("description") or "").split()), metric_type=m["type"], formula=_formula(m),
            grain=str(meta.get("grain") or "metric_time__day / week / month / quarter / year, "
                                            "metric_time__fiscal_quarter / fiscal_year"),
            slices=["company"] + slices, source_models=sorted(sources(name)),
            caveats=" ".join(str(meta.get("caveats") or "").split()), published_as=list(meta.get("published_as") or []),
            area=_area(name)))
    kpi_columns: dict[str, dict[str, Any]] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model" or not node["name"].startswith(KPI_PREFIX):
            continue
        for col, spec in (node.get("columns") or {}).items():
            if col not in KEY_COLUMNS:
                kpi_columns[f"{node['name']}.{col}"] = {
                    "description": " ".join((spec.get("description") or "").split()),
                    "label_zh": _meta(spec).get("label_zh", "")}
    catalog = Catalog(entries, unmapped, kpi_columns)
    for e in entries:
        if not e.label_zh:
            catalog.issues.append(f"metric {e.name} has no config.meta.label_zh")
        for col in e.published_as:
            if col not in kpi_columns:
                catalog.issues.append(f"metric {e.name}: published_as {col} is not a documented KPI column")
    return catalog


def load_manifest() -> dict:
    from .project import ensure_manifest

    return json.loads(Path(ensure_manifest()).read_text(encoding="utf-8"))


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_catalog_markdown(catalog: Catalog) -> str:
    """``docs/metrics.md``: generated, deterministic (no timestamps)."""
    lines = [
        "# Metric catalog (指标目录)",
        "",
        "Generated by `salespulse metrics --catalog docs/metrics.md` from the dbt semantic layer",
        "(`dbt_project/models/marts/semantic/`); do not edit by hand. Definitions follow",
        "`shared/spec/metrics.md`. Query any metric at any grain and slice:",
        "",
        "```bash",
        "salespulse metrics --metrics bookings,aov --group-by metric_time__month,team",
        "```",
        "",
        "Grains: `metric_time__month`, `__quarter`, `__year` (calendar), `__fiscal_quarter`, `__fiscal_year`",
        "(fiscal, from `fiscal_year_start_month`). Slices (group-by items): `team`, `rep`, `channel`,",
        "`customer__region`, `customer__segment`, `customer__owner_rep_id`; no group-by is company-wide.",
        "metric_time is the event's local date in the reporting time zone.",
        "",
    ]
    by_area: dict[str, list[CatalogEntry]] = {}
    for e in catalog.metrics:
        by_area.setdefault(e.area, []).append(e)
    order = [t for t, _ in SPEC_AREAS] + ["Other"]
    for area in order:
        if area not in by_area:
            continue
        lines += [f"## {area}", "",
                  "| metric | 中文 | type | definition | formula | slices | source models | published as | caveats |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for e in by_area[area]:
            lines.append("| " + " | ".join(_cell(x) for x in [
                f"`{e.name}`", e.label_zh, e.metric_type, e.description, f"`{e.formula}`",
                ", ".join(e.slices), ", ".join(e.source_models),
                ", ".join(f"`{c}`" for c in e.published_as) or "—", e.caveats or "—"]) + " |")
        lines.append("")
    lines += ["## Published KPI columns not in the semantic layer", "",
              "Columns of the published `kpi_*` marts that no metric reproduces, and why (the marts stay the",
              "reference for them).", "", "| column(s) | reason |", "|---|---|"]
    for pattern in sorted(catalog.unmapped):
        lines.append(f"| `{_cell(pattern)}` | {_cell(catalog.unmapped[pattern])} |")
    lines += ["", "## Published KPI columns → definition", "",
              "| column | 中文 | catalogued as |", "|---|---|---|"]
    for col in sorted(catalog.kpi_columns):
        entry = catalog.entry_for(col) or "**missing**"
        shown = f"`{entry}`" if not entry.startswith("unmapped") and entry != "**missing**" else entry
        lines.append(f"| `{col}` | {_cell(catalog.kpi_columns[col]['label_zh'])} | {shown} |")
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI
def default_snapshot(settings) -> Path:
    return Path(settings.reporting_db).with_name(SNAPSHOT_NAME)


def _split(values: Iterable[str] | None) -> list[str]:
    return [v.strip() for item in (values or []) for v in item.split(",") if v.strip()]


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def add_metrics_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("metrics",
                       help="query the metrics layer (MetricFlow) read-only, list metrics, write the catalog")
    p.add_argument("--metrics", action="append", help="metric names, comma-separated (see --list)")
    p.add_argument("--group-by", action="append",
                   help="e.g. metric_time__month,team "
                        "(grains: metric_time__month|quarter|year|fiscal_quarter|fiscal_year)")
    p.add_argument("--where", action="append",
                   help="MetricFlow filter, e.g. \"{{ Dimension('customer__segment') }} = 'smb'\"")
    p.add_argument("--order-by", action="append", help="order by these (prefix - for descending)")
    p.add_argument("--limit", type=int)
    p.add_argument("--start-time", help="first metric_time (YYYY-MM-DD)")
    p.add_argument("--end-time", help="last metric_time (YYYY-MM-DD)")
    p.add_argument("--explain", action="store_true", help="print the generated SQL instead of running it")
    p.add_argument("--csv", type=Path, help="write the result to this CSV file")
    p.add_argument("--list", action="store_true", help="list the metrics with their 中文 names")
    p.add_argument("--catalog", type=Path, metavar="PATH", help="write the metric catalog (Markdown) to PATH")
    p.add_argument("--snapshot", type=Path, help="semantic snapshot (default: semantic.duckdb beside the reporting db)")
    p.add_argument("--config", type=Path, help="settings YAML (default: ./salespulse.yaml if present)")
    p.add_argument("--reporting-db", type=Path, help="reporting database (the snapshot sits beside it)")
    p.set_defaults(func=cmd_metrics)
    return p


def cmd_metrics(args: argparse.Namespace) -> int:
    if args.catalog or args.list:
        catalog = build_catalog(load_manifest())
        if args.catalog:
            args.catalog.parent.mkdir(parents=True, exist_ok=True)
            args.catalog.write_text(render_catalog_markdown(catalog), encoding="utf-8")
            print(f"wrote {args.catalog} ({len(catalog.metrics)} metrics)")
        if args.list:
            for e in catalog.metrics:
                print(f"{e.name:34} {e.metric_type:10} {e.label_zh}")
        missing = catalog.uncatalogued()
        if missing:
            print("published KPI columns without a catalog entry: " + ", ".join(missing), file=sys.stderr)
            return 1
        return 0
    metrics = _split(args.metrics)
    if not metrics:
        print("salespulse metrics: give --metrics (or --list / --catalog)", file=sys.stderr)
        return 2
    snapshot = args.snapshot
    if snapshot is None:
        from .settings import load_settings

        if getattr(args, "config", None):
            os.environ["SALESPULSE_CONFIG"] = str(args.config.resolve())
        overrides = {"reporting_db": args.reporting_db} if args.reporting_db else {}
        snapshot = default_snapshot(load_settings(**overrides))
    try:
        with MetricsLayer(snapshot) as layer:
            kwargs = dict(group_by=_split(args.group_by), where=args.where or (), order_by=_split(args.order_by),
                          limit=args.limit, start=_time(args.start_time), end=_time(args.end_time))
            if args.explain:
                print(layer.sql(metrics, **kwargs))
                return 0
            df = layer.query(metrics, **kwargs)
    except SnapshotMissing as exc:
        print(f"salespulse metrics: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # MetricFlow's query errors explain themselves (unknown metric, bad group-by)
        print(f"salespulse metrics: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.csv:
        df.to_csv(args.csv, index=False)
        print(f"wrote {len(df)} rows to {args.csv}")
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", 500, "display.max_columns", 50, "display.width", 200):
            print(df.to_string(index=False))
    return 0
