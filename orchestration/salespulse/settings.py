"""One typed settings object: a YAML file plus environment overrides.

Resolution order (later wins): defaults < ``salespulse.yaml`` (or the file named by
``SALESPULSE_CONFIG``) < environment variables ``SALESPULSE_<FIELD>`` (nested fields with ``__``,
e.g. ``SALESPULSE_KPI__CHURN_INACTIVITY_DAYS=180``) < explicit keyword overrides (CLI flags).
Relative paths are resolved against the folder of the YAML file, or the working directory.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_ENV = "SALESPULSE_CONFIG"
DEFAULT_CONFIG_FILE = "salespulse.yaml"


class KpiParameters(BaseModel):
    """The tunable parameters of shared/spec/metrics.md."""

    churn_inactivity_days: int = Field(365, ge=1)
    funnel_maturity_days: int = Field(90, ge=0)
    max_lifespan_years: float = Field(10.0, gt=0)
    default_gross_margin: float | None = Field(None, ge=0, le=1)
    clv_monthly_discount_rate: float = Field(0.01, ge=0)


class DemoSettings(BaseModel):
    """The embedded demo CRM used when the landing folder holds no data."""

    auto_generate: bool = True
    scale: int = Field(2000, ge=50, description="number of orders to generate")
    seed: int = 42


class SourceSettings(BaseModel):
    """One CRM source converted into the landing folder before each load (see sources/)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="becomes _source_system and the landing sub-folder")
    kind: Literal["canonical", "salesforce", "hubspot", "jiandaoyun", "mapping"]
    input_dir: Path = Field(description="the CRM export (or fetched API records) to convert")
    mapping: Path | None = Field(None, description="mapping YAML (kinds mapping and jiandaoyun)")
    config: Path | None = Field(None, description="adapter YAML overriding its defaults (stage maps, ...)")
    fetch: Path | None = Field(
        None, description="API fetch config YAML (hubspot, jiandaoyun): fetch new records before converting"
    )
    api_base_url: str | None = Field(None, description="override the CRM API's base URL (proxies, tests)")
    namespace: str | None = Field(None, description="prefix ids with '<namespace>:' where sources collide")
    reference_namespaces: dict[str, str | None] = Field(
        default_factory=dict,
        description="id columns that refer to another source's records, e.g. {customer_id: crm} for an "
        "ERP whose orders name CRM customers (null: leave unprefixed)",
    )


class FreshnessSettings(BaseModel):
    """Non-blocking freshness check: newest record of each raw table within N days of the as-of date."""

    default_days: int = Field(2, ge=0)
    # Tables that arrive less often than daily; null disables the check for a table.
    tables: dict[str, int | None] = {"sales_compensation": 62, "targets": None, "fx_rates": 7}


class PostgresSettings(BaseModel):
    """Connection of the PostgreSQL engine (``engine: postgres``); see docs/engines.md."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str | None = Field(None, description="a secret: set SALESPULSE_POSTGRES__PASSWORD, not the YAML")
    database: str = "salespulse"
    sslmode: str = "prefer"
    reporting_schema: str = Field("reporting", pattern=r"^[a-z_][a-z0-9_]*$")
    bi_role: str = Field(
        "salespulse_bi", pattern=r"^[a-z_][a-z0-9_]*$",
        description="read-only role granted SELECT on the reporting schema (created NOLOGIN if missing)",
    )


class SparkSettings(BaseModel):
    """The Apache Spark engine (``engine: spark``): dbt-spark ``session`` on a local or cluster pyspark."""

    warehouse_dir: Path | None = Field(None, description="default: <build_db folder>/spark")
    master: str = "local[2]"
    driver_memory: str = "2g"
    shuffle_partitions: int = Field(4, ge=1)
    conf: dict[str, str] = Field(default_factory=dict, description="extra Spark conf (key: value)")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SALESPULSE_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    engine: Literal["duckdb", "postgres", "spark"] = Field(
        "duckdb", description="where dbt builds the models and the marts are published (docs/engines.md)"
    )
    landing_dir: Path = Path("landing/demo")
    build_db: Path = Path("warehouse/build.duckdb")
    reporting_db: Path = Path("warehouse/reporting.duckdb")
    source_system: str = "demo"
    reporting_currency: str = "CNY"
    timezone: str = "Asia/Shanghai"
    fiscal_year_start_month: int = Field(1, ge=1, le=12)
    as_of: dt.date | None = Field(None, description="default: today in the reporting time zone")
    dbt_threads: int | None = Field(
        None, ge=1,
        description="models dbt builds at once. Default: 2; on DuckDB 1 when the raw tables hold more than "
        "10 million rows per GB of duckdb_memory_limit, where the memory-heavy marts must not share the cap",
    )
    landing_encoding: str = Field("auto", description="auto (UTF-8 / UTF-8 BOM / GBK) or a codec name")
    quarantine_max_share: float = Field(
        0.001, ge=0, le=1, description="largest share of a raw table's rows that may sit in quarantine"
    )
    raw_gx_sample_rows: int = Field(
        200_000, ge=0,
        description="Great Expectations validates a loaded batch on a repeatable sample of this many rows "
        "(uniqueness on every row; the loader's SQL contract rules always see every row); 0 = every row",
    )
    duckdb_memory_limit: str = Field(
        "2GB", description="memory_limit of every DuckDB connection of a refresh (loader, dbt, checks); "
        "DuckDB spills to disk beyond it. 2GB keeps the refresh's process tree under 4 GB at 10 million "
        "orders (DuckDB's cap plus dbt's and the orchestrator's Python)"
    )
    duckdb_threads: int | None = Field(None, ge=1, description="DuckDB threads (default: all cores)")
    full_refresh: bool = Field(
        False, description="rebuild the incremental dbt models from all raw rows (`salespulse refresh "
        "--full-refresh`); a refresh decides this by itself when it must (earlier as-of, changed settings)"
    )
    kpi: KpiParameters = KpiParameters()
    demo: DemoSettings = DemoSettings()
    sources: list[SourceSettings] = []
    alert_webhook_url: str | None = Field(
        None,
        description="POST a JSON summary of a failed refresh here (SALESPULSE_ALERT_WEBHOOK_URL); a secret: "
        "set it in the environment, not in a committed YAML",
    )
    dashboard_language: Literal["zh", "en"] = Field(
        "zh", description="labels of `salespulse dashboard` and the dashboard asset"
    )
    refresh_lock_timeout_seconds: float = Field(
        0, ge=0, description="how long `salespulse refresh` waits for another refresh (0 = fail at once)"
    )
    freshness: FreshnessSettings = FreshnessSettings()
    postgres: PostgresSettings = PostgresSettings()
    spark: SparkSettings = SparkSettings()

    @field_validator("reporting_currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        v = v.strip().upper()
        if len(v) != 3 or not v.isalpha():
            raise ValueError(f"reporting_currency must be an ISO-4217 code such as CNY, got {v!r}")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from exc
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    # ----------------------------------------------------------------- derived values
    @property
    def effective_as_of(self) -> dt.date:
        if self.as_of is not None:
            return self.as_of
        return dt.datetime.now(ZoneInfo(self.timezone)).date()

    def dbt_vars(self) -> dict[str, Any]:
        """The ``--vars`` every dbt invocation gets (names match dbt_project.yml)."""
        return {
            "as_of": self.effective_as_of.isoformat(),
            "reporting_currency": self.reporting_currency,
            "reporting_timezone": self.timezone,
            "fiscal_year_start_month": self.fiscal_year_start_month,
            "churn_inactivity_days": self.kpi.churn_inactivity_days,
            "funnel_maturity_days": self.kpi.funnel_maturity_days,
            "max_lifespan_years": self.kpi.max_lifespan_years,
            "default_gross_margin": self.kpi.default_gross_margin,
            "clv_monthly_discount_rate": self.kpi.clv_monthly_discount_rate,
        }

    def dbt_cli_vars(self) -> dict[str, Any]:
        """The ``--vars`` of the orchestrator's dbt invocations: all of :meth:`dbt_vars` but
        ``as_of``, which travels as ``SALESPULSE_DBT_AS_OF`` (:func:`salespulse.project.dbt_env`).
        dbt re-parses the whole project (~5 s) whenever ``--vars`` change, and the as-of date
        changes every day; a changed environment variable only re-parses the models using it."""
        return {k: v for k, v in self.dbt_vars().items() if k != "as_of"}


def config_file() -> Path | None:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"{CONFIG_ENV}={explicit} does not name a file")
        return path
    path = Path(DEFAULT_CONFIG_FILE)
    return path if path.is_file() else None


class _YamlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field, field_name):  # pragma: no cover - unused, required by the ABC
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = config_file()
        if path is None:
            return {}
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of settings at the top level")
        base = path.resolve().parent

        def resolve(obj: dict, keys: tuple[str, ...]) -> None:
            for key in keys:
                if obj.get(key) is not None and not Path(obj[key]).is_absolute():
                    obj[key] = str(base / obj[key])

        resolve(data, ("landing_dir", "build_db", "reporting_db"))
        if isinstance(data.get("spark"), dict):
            resolve(data["spark"], ("warehouse_dir",))
        for source in data.get("sources") or []:
            if isinstance(source, dict):
                resolve(source, ("input_dir", "mapping", "config", "fetch"))
        return data


def load_settings(**overrides: Any) -> Settings:
    """Settings from defaults, the YAML file, the environment and ``overrides`` (None = not given)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    settings = Settings(**given)
    for key in ("landing_dir", "build_db", "reporting_db"):
        setattr(settings, key, Path(getattr(settings, key)).expanduser().resolve())
    if settings.spark.warehouse_dir is None:
        settings.spark.warehouse_dir = settings.build_db.parent / "spark"
    settings.spark.warehouse_dir = Path(settings.spark.warehouse_dir).expanduser().resolve()
    return settings
