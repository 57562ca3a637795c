"""One Spark step of the orchestrator, in its own short-lived process (see engines/spark.py).

Reads a JSON request on stdin: ``{"job": ..., "conf": {...}, "result": "<path>", ...}`` and writes
its JSON answer to ``result``. Jobs: ``register_raw``, ``export``, ``import``, ``publish``, ``list``.
Each starts a JVM and opens the embedded metastore: a few seconds to half a minute.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def q(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"unexpected identifier {name!r}")
    return f"`{name}`"


def session(conf: dict[str, str]):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("salespulse").enableHiveSupport()
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def tables_of(spark, database: str) -> list[str]:
    if not spark.catalog.databaseExists(database):
        return []
    return sorted(t.name for t in spark.catalog.listTables(database))


def register_python_marts(spark, req: dict) -> None:
    """External tables over the marts written as Parquet by Python steps (kpi_clv_predicted)."""
    marts = req.get("python_marts") or {}
    if marts:
        spark.sql(f"create database if not exists {q('marts')}")
    for table, location in marts.items():
        spark.sql(f"drop table if exists marts.{q(table)}")
        spark.sql(f"create table marts.{q(table)} using parquet location '{location}'")


def register_raw(spark, req: dict) -> dict:
    spark.sql(f"create database if not exists {q('raw')}")
    counts = {}
    for table, location in req["tables"].items():
        # external tables: dropping one never deletes its Parquet files; re-creating picks up new
        # batch files and column changes
        spark.sql(f"drop table if exists raw.{q(table)}")
        spark.sql(f"create table raw.{q(table)} using parquet location '{location}'")
        counts[table] = spark.table(f"raw.{q(table)}").count()
    register_python_marts(spark, req)
    return {"counts": counts}


def export(spark, req: dict) -> dict:
    """Write tables as Parquet for the orchestrator: ``database`` + ``tables`` (all when empty), or
    ``qualified``: a list of [database, table] (answers keyed ``database.table``)."""
    if req.get("qualified"):
        pairs = [(d, t, f"{d}.{t}") for d, t in req["qualified"]]
    else:
        database = req["database"]
        pairs = [(database, t, t) for t in (req.get("tables") or tables_of(spark, database))]
    out = {}
    for database, table, name in pairs:
        path = f"{req['folder']}/{database}/{table}"
        spark.table(f"{q(database)}.{q(table)}").coalesce(1).write.mode("overwrite").parquet(path)
        out[name] = path
    listing = {d: tables_of(spark, d) for d in {p[0] for p in pairs}}
    return {"tables": out, "listing": listing}


def import_(spark, req: dict) -> dict:
    database, table = req["database"], req["table"]
    spark.sql(f"create database if not exists {q(database)}")
    spark.sql(f"drop table if exists {q(database)}.{q(table)}")
    spark.sql(f"create table {q(database)}.{q(table)} using parquet as select * from parquet.`{req['folder']}`")
    return {"rows": spark.table(f"{q(database)}.{q(table)}").count()}


def publish(spark, req: dict) -> dict:
    """Copy the marts into a fresh ``<target>_v<stamp>`` database, then point ``<target>``'s views at it."""
    source, target = req["source"], req["target"]
    register_python_marts(spark, req)
    version = f"{target}_v{dt.datetime.now(dt.UTC).strftime('%Y%m%d%H%M%S%f')}"
    spark.sql(f"create database {q(version)}")
    counts = {}
    for table in req["tables"]:
        spark.sql(f"create table {q(version)}.{q(table)} using parquet as select * from {q(source)}.{q(table)}")
        counts[table] = spark.table(f"{q(version)}.{q(table)}").count()
    rows = ", ".join(
        f"('{t}', {n}, date'{req['as_of']}', timestamp'{req['published_at'][:26].replace('T', ' ')}', "
        f"{repr(req['run_id']) if req.get('run_id') else 'null'})"
        for t, n in counts.items()
    )
    spark.sql(
        f"create table {q(version)}._publication using parquet as select * from values {rows} "
        "as t(table_name, row_count, as_of, published_at, run_id)"
    )
    # only a complete version is switched to
    spark.sql(f"create database if not exists {q(target)}")
    published = [*counts, "_publication"]
    for table in published:
        spark.sql(f"create or replace view {q(target)}.{q(table)} as select * from {q(version)}.{q(table)}")
    for table in tables_of(spark, target):
        if table not in published:
            spark.sql(f"drop view if exists {q(target)}.{q(table)}")
    for db in spark.catalog.listDatabases():
        if db.name.startswith(f"{target}_v") and db.name != version:
            spark.sql(f"drop database if exists {q(db.name)} cascade")
    return {"counts": counts, "version": version}


def list_(spark, req: dict) -> dict:
    return {"tables": tables_of(spark, req["database"])}


JOBS = {"register_raw": register_raw, "export": export, "import": import_, "publish": publish, "list": list_}


def main() -> int:
    req = json.loads(sys.stdin.read())
    spark = session(req["conf"])
    spark.sparkContext.setLogLevel("ERROR")
    try:
        answer = JOBS[req["job"]](spark, req)
    finally:
        spark.stop()
    with open(req["result"], "w", encoding="utf-8") as fh:
        json.dump(answer, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
