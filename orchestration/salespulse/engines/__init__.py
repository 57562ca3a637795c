"""Execution engines: where dbt builds the models and the marts are published (docs/engines.md)."""

from __future__ import annotations

from ..settings import Settings
from .base import DuckDBEngine, Engine, EnginePublication


def get_engine(settings: Settings) -> Engine:
    """The engine named by ``settings.engine`` (duckdb, postgres or spark)."""
    if settings.engine == "postgres":
        from .postgres import PostgresEngine

        return PostgresEngine(settings)
    if settings.engine == "spark":
        from .spark import SparkEngine

        return SparkEngine(settings)
    return DuckDBEngine(settings)


def skipped_on_engine(context, settings: Settings, step: str, why: str):
    """The result of a DuckDB-only step on another engine: logged, reported, in the metadata.

    ``step`` names the step in the progress line (``"dashboard"``); ``why`` says what needs DuckDB."""
    from dagster import MaterializeResult

    from .. import progress

    reason = f"skipped on engine {settings.engine}: {why} (docs/engines.md)"
    context.log.info(f"{step} {reason}")
    progress.report(f"{step}: {reason}")
    return MaterializeResult(metadata={"skipped": reason})


__all__ = ["Engine", "EnginePublication", "get_engine", "skipped_on_engine"]
