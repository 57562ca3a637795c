"""The raw loader: explicit types, clear errors naming file/row/column, idempotence."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from salespulse.contract import METADATA_COLUMNS, TABLES
from salespulse.loader import LandingFileError, load_landing

from conftest import write_csv

ORDER = {
    "order_id": "o1", "customer_id": "c1", "opportunity_id": None, "rep_id": "r1",
    "signed_at": "2024-01-31T16:30:00Z", "amount": "100.50", "cost": "60", "currency": "CNY",
    "status": "active", "updated_at": "2024-01-31T16:30:00", "is_deleted": "false",
}


def _raw(db, sql):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_loads_typed_rows_with_metadata_and_is_idempotent(tmp_path):
    landing, db = tmp_path / "landing", tmp_path / "build.duckdb"
    write_csv(
        landing / "orders.csv", "orders",
        [ORDER, {**ORDER, "order_id": "o2", "signed_at": "2024-02-01 08:00:00+08:00"}],
    )
    res = load_landing(db, landing, source_system="test")
    assert res["orders"].rows_loaded == 2
    assert res["customers"].files == []  # absent input: nothing loaded, table exists empty

    rows = _raw(db, "select order_id, signed_at, amount, cost, is_deleted, _batch_id, _source_system, "
                    "_source_file from raw.orders order by order_id")
    o1, o2 = rows
    # A timestamp without an offset (or with Z) is UTC; +08:00 is converted to the same instant in UTC.
    assert o1[1] == dt.datetime(2024, 1, 31, 16, 30, tzinfo=dt.UTC)
    assert o2[1] == dt.datetime(2024, 2, 1, 0, 0, tzinfo=dt.UTC)
    assert o1[2] == Decimal("100.5000") and o1[3] == Decimal("60.0000") and o1[4] is False
    assert o1[5] == o2[5] == 1 and o1[6] == "test" and o1[7].endswith("orders.csv")

    types = dict(_raw(db, "select column_name, data_type from information_schema.columns "
                          "where table_schema='raw' and table_name='orders'"))
    assert types["signed_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["amount"] == "DECIMAL(18,4)"
    assert set(types) == set(TABLES["orders"].columns) | set(METADATA_COLUMNS)

    # Same file again: skipped by content hash, nothing duplicated.
    again = load_landing(db, landing, source_system="test")
    assert again["orders"].rows_loaded == 0 and again["orders"].files_skipped == 1
    assert _raw(db, "select count(*) from raw.orders") == [(2,)]

    # A new drop in a sub-folder with a later version is appended with a later batch id.
    write_csv(
        landing / "2024-02-02" / "orders.csv", "orders",
        [{**ORDER, "amount": "120", "updated_at": "2024-02-02T00:00:00Z"}],
    )
    load_landing(db, landing, source_system="test")
    assert _raw(db, "select count(*), max(_batch_id) from raw.orders where order_id = 'o1'") == [(2, 2)]


def test_bad_amount_names_file_row_and_column(tmp_path):
    landing, db = tmp_path / "landing", tmp_path / "build.duckdb"
    write_csv(
        landing / "orders.csv", "orders",
        [ORDER, {**ORDER, "order_id": "o2"}, {**ORDER, "order_id": "o3", "amount": "abc"}],
    )
    with pytest.raises(LandingFileError) as err:
        load_landing(db, landing, source_system="test")
    msg = str(err.value)
    assert "orders.csv" in msg and "'amount'" in msg and "row 3" in msg and "'abc'" in msg
    # Nothing of the bad file was loaded.
    assert _raw(db, "select count(*) from raw.orders") == [(0,)]


def test_missing_required_column_and_missing_value(tmp_path):
    landing, db = tmp_path / "landing", tmp_path / "build.duckdb"
    path = landing / "payments.csv"
    path.parent.mkdir(parents=True)
    path.write_text("payment_id,order_id,paid_at,amount\np1,o1,2024-01-01,10\n", encoding="utf-8")
    with pytest.raises(LandingFileError, match=r"payments\.csv: missing required column\(s\) currency"):
        load_landing(db, landing, source_system="test")

    path.write_text("payment_id,order_id,paid_at,amount,currency\np1,,2024-01-01,10,CNY\n", encoding="utf-8")
    with pytest.raises(LandingFileError, match=r"required column 'order_id' is empty in row\(s\) 1"):
        load_landing(db, landing, source_system="test")


def test_extra_column_warns_and_bom_is_accepted(tmp_path):
    landing, db = tmp_path / "landing", tmp_path / "build.duckdb"
    path = landing / "payments.csv"
    path.parent.mkdir(parents=True)
    path.write_text("payment_id,order_id,paid_at,amount,currency,note\np1,o1,2024-01-01,10,CNY,备注\n",
                    encoding="utf-8-sig")
    res = load_landing(db, landing, source_system="test")
    assert res["payments"].rows_loaded == 1
    assert any("ignoring unknown column(s) note" in w for w in res["payments"].warnings)
    assert _raw(db, "select payment_id, amount from raw.payments") == [("p1", Decimal("10.0000"))]


def test_wrong_field_count_and_empty_files(tmp_path):
    landing, db = tmp_path / "landing", tmp_path / "build.duckdb"
    path = landing / "deliveries.csv"
    path.parent.mkdir(parents=True)
    path.write_text("delivery_id,order_id,delivered_at,status\nd1,o1,2024-01-01,delivered,extra\n")
    with pytest.raises(LandingFileError, match=r"deliveries\.csv: malformed CSV"):
        load_landing(db, landing, source_system="test")
    path.write_text("")
    with pytest.raises(LandingFileError, match=r"deliveries\.csv: the file is empty"):
        load_landing(db, landing, source_system="test")
