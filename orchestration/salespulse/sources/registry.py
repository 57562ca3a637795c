"""Run the configured CRM sources' adapters: each writes a landing drop for the raw loader."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..settings import Settings, SourceSettings
from .base import SourceError, SourceResult


def drop_dir(settings: Settings, source: SourceSettings, now: dt.datetime | None = None) -> Path:
    """``<landing>/<source>/<UTC timestamp>/``: one folder per extraction, oldest first by name."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return settings.landing_dir / source.name / stamp


def convert_source(source: SourceSettings, out_dir: Path) -> SourceResult:
    """Convert one source's export into canonical landing CSVs in ``out_dir``."""
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
