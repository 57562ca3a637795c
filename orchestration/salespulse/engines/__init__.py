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


__all__ = ["Engine", "EnginePublication", "get_engine"]
