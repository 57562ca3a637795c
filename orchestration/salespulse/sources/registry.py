"""Run the configured CRM sources' adapters: each writes a landing drop for the raw loader."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

from ..settings import SourceSettings
from .base import ID_COLUMNS, SourceError, SourceResult, write_landing_table


def fetch_source(source: SourceSettings, out_dir: Path, state_path: Path) -> dict[str, int]:
    """Fetch the records changed since the last run through the CRM's API into ``out_dir``.

    The high-water mark lives in ``state_path`` and advances only after a complete fetch. The API
    token is read from the environment variable the fetch config names, never from a file.
    """
    if source.fetch is None:
        raise SourceError(source.name, None, "fetch", "no fetch config", "set sources[].fetch to a YAML file")
    if source.kind == "hubspot":
        from .hubspot import HubSpotConfig, fetch_hubspot

        extra = {"base_url": source.api_base_url} if source.api_base_url else {}
        return fetch_hubspot(HubSpotConfig.from_yaml(source.fetch, source=source.name), state_path, out_dir, **extra)
    if source.kind == "jiandaoyun":
        from .jiandaoyun import JiandaoyunConfig, fetch_jiandaoyun

        config = JiandaoyunConfig.from_yaml(source.fetch)
        if source.api_base_url:
            config = config.model_copy(update={"base_url": source.api_base_url})
        summary = fetch_jiandaoyun(config, out_dir, state_path=state_path)
        return dict(summary.records)
    raise SourceError(source.name, source.fetch, "fetch", f"kind {source.kind!r} has no API fetcher",
                      "fetch with your own tool into input_dir, or use kind hubspot or jiandaoyun")


def extract(source: SourceSettings, landing_dir: Path, state_dir: Path, now: dt.datetime | None = None) -> SourceResult:
    """One extraction of a source into ``<landing>/<source>/<stamp>/``: fetch (if configured), convert.

    The drop folder stays hidden (``.<stamp>``) until complete, so the loader never reads half a drop.
    """
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    final = landing_dir / source.name / stamp
    tmp = final.with_name("." + stamp)
    if source.fetch is not None:
        fetched = source.input_dir / stamp
        fetch_source(source, fetched, state_dir / f"{source.name}.json")
        source = source.model_copy(update={"input_dir": fetched})
    try:
        result = convert_source(source, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    tmp.rename(final)
    result.out_dir = final
    result.files = [final / p.name for p in result.files]
    return result


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
