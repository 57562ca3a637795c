"""salespulse.duck: the memory cap and thread count every DuckDB connection of a refresh gets."""

from __future__ import annotations

import duckdb
import pytest

from salespulse.duck import DuckLimits, connect
from salespulse.settings import Settings


def _setting(con, name):
    return con.execute(f"select current_setting('{name}')").fetchone()[0]


def test_limits_are_applied_to_file_and_in_memory_connections(tmp_path):
    db = tmp_path / "w.duckdb"
    duckdb.connect(str(db)).close()
    limits = DuckLimits("123MB", 1)
    opens = (lambda: connect(db, limits=limits), lambda: connect(db, read_only=True, limits=limits),
             lambda: connect(limits=limits))
    for open_ in opens:
        con = open_()
        try:
            # DuckDB reads 123MB as 123,000,000 bytes and shows it in MiB
            assert _setting(con, "memory_limit") == "117.3 MiB"
            assert _setting(con, "threads") == 1
        finally:
            con.close()
    with connect(db, read_only=True) as con, pytest.raises(duckdb.Error):
        con.execute("create table t (x int)")  # read-only is passed through


def test_limits_come_from_the_settings(tmp_path):
    limits = DuckLimits.of(Settings(duckdb_memory_limit="2GB", duckdb_threads=2))
    assert limits == DuckLimits("2GB", 2)
    assert DuckLimits.of(Settings()).memory_limit == "2GB"  # the documented default
    con = connect(limits=DuckLimits())  # no limits: DuckDB's defaults stay
    try:
        default = _setting(con, "memory_limit")
    finally:
        con.close()
    assert default != "2.7 GiB"
