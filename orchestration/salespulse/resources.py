"""Dagster resources: the settings object and the dbt CLI."""


import datetime as dt
import shutil
import sys
from functools import cached_property
from importlib import metadata
from pathlib import Path

from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource
from packaging import version

from .project import dbt_project
from .settings import Settings, load_settings


class SalespulseSettings(ConfigurableResource):
    """Exposes :class:`~salespulse.settings.Settings` to assets.

    Fields left empty fall back to the YAML file and the environment (see settings.py); a run
    launched by ``salespulse refresh --as-of ...`` fills them from the command line.
    """

    as_of: str | None = None
    landing_dir: str | None = None
    build_db: str | None = None
    reporting_db: str | None = None
    full_refresh: bool | None = None
    engine: str | None = None  # duckdb | postgres | spark (docs/engines.md); default: YAML / SALESPULSE_ENGINE

    def get(self) -> Settings:
        return load_settings(
            engine=self.engine,
            as_of=dt.date.fromisoformat(self.as_of) if self.as_of else None,
            landing_dir=self.landing_dir,
            build_db=self.build_db,
            reporting_db=self.reporting_db,
            full_refresh=self.full_refresh,
        )


def dbt_executable() -> str:
    """The dbt installed beside this Python (works without an activated venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    if beside.exists():
        return str(beside)
    return shutil.which("dbt") or "dbt"


class SalespulseDbtCli(DbtCliResource):
    """``DbtCliResource`` without two start-up costs we never use (4-5 s of every refresh).

    dagster-dbt 0.29's ``cli()`` first runs ``dbt --version`` in a subprocess to tell dbt Core
    from dbt Fusion (~2 s), then loads the profile, project and adapter in this process (~2.5 s)
    for ``fetch_row_counts()`` / ``fetch_column_metadata()``, which salespulse does not call. The
    dbt executable is the one installed beside this Python (:func:`dbt_executable`), so its version
    is the installed dbt-core's. Overrides private methods of a pinned dagster-dbt: the tests run
    a real build through it."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ANN001 - dagster-dbt's signature
        return None


def build_resources() -> dict[str, object]:
    return {
        "settings": SalespulseSettings(),
        "dbt": SalespulseDbtCli(project_dir=dbt_project, dbt_executable=dbt_executable()),
    }
