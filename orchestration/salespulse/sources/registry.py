"""Run the configured CRM sources' adapters: each writes a landing drop for the raw loader."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from ..settings import Settings, SourceSettings
from .base import ID_COLUMNS, SourceError, SourceResult, write_landing_table


def drop_dir(settings: Settings, source: SourceSettings, now: dt.datetime | None = None) -> Path:
    """``<landing>/<source>/<UTC timestamp>/``: one folder per extraction, oldest first by name."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return settings.landing_dir / source.name / stamp


def convert_source(source: SourceSettings, out_dir: Path) -> SourceResult:
    """Convert one source's export into canonical landing CSVs in ``out_dir``, ids namespaced."""
    result = _convert(source.model_copy(update={"namespace": None}), out_dir)
    if source.namespace or source.reference_namespaces:
        apply_namespaces(out_dir, source.namespace, source.reference_namespaces)
    return result


def apply_namespaces(out_dir: Path, namespace: str | None, references: dict[str, str | None]) -> None:
    """Prefix the id columns of every landing CSV in ``out_dir``: ``<namespace>:<id>``.

    A column named in ``references`` takes that namespace instead (ids of another source's records,
    e.g. an ERP's orders naming CRM customers); ``None`` there leaves the column as it is.
    """
    for path in sorted(out_dir.glob("*.csv")):
        table = path.name.removesuffix(".csv")
        if table not in ID_COLUMNS:
            continue
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        prefix = {c: references.get(c, namespace) if c in references else namespace for c in ID_COLUMNS[table]}
        write_landing_table(
            out_dir, table,
            ({k: (f"{prefix[k]}:{v}" if k in prefix and prefix[k] and v else v) for k, v in row.items()}
             for row in rows),
        )


def _convert(source: SourceSettings, out_dir: Path) -> SourceResult:
    if not source.input_dir.exists():
        raise SourceError(source.name, source.input_dir, None, "the input folder does not exist",
                          "point sources[].input_dir at the CRM export or fetched records")
    kind = source.kind
    if kind == "canonical":
        raise SourceError(source.name, None, "kind", "canonical sources need no conversion",
                          "drop canonical <table>.csv|.parquet files straight into the landing folder")
    if kind == "salesforce":
        from .salesforce import SalesforceConfig, convert_salesforce

        config = SalesforceConfig.from_yaml(source.config) if source.config else None
        return convert_salesforce(source.input_dir, out_dir, config=config, source=source.name,
                                  namespace=source.namespace)
    if kind == "hubspot":
        from .hubspot import HubSpotConfig, convert_hubspot

        config = HubSpotConfig.from_yaml(source.config) if source.config else None
        return convert_hubspot(source.input_dir, out_dir, config=config, source=source.name,
                               namespace=source.namespace)
    if kind == "jiandaoyun":
        from .jiandaoyun import convert_jiandaoyun

        return convert_jiandaoyun(source.input_dir, out_dir, mapping=source.mapping, source=source.name,
                                  namespace=source.namespace)
    if kind == "mapping":
        from .mapping import convert_with_mapping

        if source.mapping is None:
            raise SourceError(source.name, None, "mapping", "a mapping source needs a mapping YAML",
                              "set sources[].mapping to your mapping file")
        return convert_with_mapping(source.mapping, source.input_dir, out_dir, source=source.name,
                                    namespace=source.namespace)
    raise SourceError(source.name, None, "kind", f"unknown source kind {kind!r}",
                      "use one of canonical, salesforce, hubspot, jiandaoyun, mapping")
