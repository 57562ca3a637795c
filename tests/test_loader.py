"""The raw loader: explicit types, quarantine of bad rows with file/row/column/reason, file-level
errors naming the file, encodings, idempotence. Every case checks that raw kept every good row."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from salespulse.contract import METADATA_COLUMNS, TABLES
from salespulse.loader import LoadOptions, load_landing

from conftest import write_csv

ORDER = {
    "order_id": "o1", "customer_id": "c1", "opportunity_id": None, "rep_id": "r1",
    "signed_at": "2024-01-31T16:30:00Z", "amount": "100.50", "cost": "60", "currency": "CNY",
    "status": "active", "updated_at": "2024-01-31T16:30:00", "is_deleted": "false",
}
NOW = dt.datetime(2024, 6, 30, tzinfo=dt.UTC)
OPTS = LoadOptions(source_system="test", now=NOW)


def _raw(db, sql):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _quarantine(db, table):
    return _raw(db, f"select _row_number, _column, _reason from quarantine.{table} order by _row_number, _column")


def test_loads_typed_rows_with_metadata_and_is_idempotent(tmp_path):
    landing, db = tmp_path / "landing", tmp_path / "build.duckdb"
    write_csv(
        landing / "orders.csv", "orders",
        [ORDER, {**ORDER, "order_id": "o2", "signed_at": "2024-02-01 08:00:00+08:00"}],
    )
    res = load_landing(db, landing, options=OPTS)
    assert res["orders"].rows_loaded == 2 and res["orders"].rows_quarantined == 0
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
    again = load_landing(db, landing, options=OPTS)
    assert again["orders"].rows_loaded == 0 and again["orders"].files_skipped == 1
    assert _raw(db, "select count(*) from raw.orders") == [(2,)]

    # A new drop in a sub-folder with a later version is appended with a later batch id.
    write_csv(
        landing / "2024-02-02" / "orders.csv", "orders",
        [{**ORDER, "amount": "120", "updated_at": "2024-02-02T00:00:00Z"}],
    )
    load_landing(db, landing, options=OPTS)
    assert _raw(db, "select count(*), max(_batch_id) from raw.orders where order_id = 'o1'") == [(2, 2)]
    assert _raw(db, "select count(*) from raw._load_log") == [(2,)]


def _orders_with(tmp_path, bad: dict, *, extra_tables=None):
    """Load customers c1/c2 and reps r1, then orders.csv = [good o1, good o2, bad row (o3)]."""
    landing, db = tmp_path / "landing", tmp_path / "build.duckdb"
    if extra_tables:
        for table, rows in extra_tables.items():
            write_csv(landing / f"{table}.csv", table, rows)
    rows = [ORDER, {**ORDER, "order_id": "o2"}, {**ORDER, "order_id": "o3", **bad}]
    write_csv(landing / "orders.csv", "orders", rows)
    res = load_landing(db, landing, options=OPTS)
    return res["orders"], db


@pytest.mark.parametrize(
    "bad, column, reason",
    [
        ({"amount": "abc"}, "amount", "cannot read 'abc' as DECIMAL(18,4)"),
        ({"amount": "-5"}, "amount", "negative amount -5"),
        ({"signed_at": "31/01/2024 10:00"}, "signed_at", "cannot read '31/01/2024 10:00' as TIMESTAMPTZ"),
        ({"order_id": None}, "order_id", "missing key"),
        # blank = only what trim() removes: spaces, and non-ASCII spaces (NBSP, ideographic space)
        ({"order_id": "   "}, "order_id", "missing key"),
        ({"order_id": "\u00a0\u3000 "}, "order_id", "missing key"),
        ({"rep_id": "\u3000"}, "rep_id", "missing required value"),
        ({"status": "shipped"}, "status", "'shipped' is not one of: active, cancelled, refunded"),
        ({"signed_at": "2031-01-01T00:00:00Z"}, "signed_at", "timestamp 2031-01-01T00:00:00Z is in the future"),
        ({"currency": "GBP"}, "currency", "no fx rate for GBP on or before 2024-02-01"),
    ],
)
def test_row_level_violations_are_quarantined_and_good_rows_kept(tmp_path, bad, column, reason):
    load, db = _orders_with(tmp_path, bad)
    assert load.error is None
    assert load.rows_loaded == 2 and load.rows_quarantined == 1
    assert _raw(db, "select order_id from raw.orders order by 1") == [("o1",), ("o2",)]
    q = _quarantine(db, "orders")
    assert (3, column, reason) in q, q
    src = _raw(db, "select distinct _source_file, _batch_id from quarantine.orders")
    assert src[0][0].endswith("orders.csv") and src[0][1] == 1
    assert any("1 row(s) quarantined in quarantine.\"orders\"" in w and "row 3" in w for w in load.warnings)


def test_orphan_reference_is_quarantined(tmp_path):
    customers = [{"customer_id": "c1", "customer_name": "A", "segment": "smb", "industry": "x", "region": "east",
                  "country": "CN", "acquisition_channel": "organic", "owner_rep_id": "r1",
                  "created_at": "2023-01-01", "email": "a@example.com", "phone": "1",
                  "updated_at": "2023-01-01", "is_deleted": "false"}]
    load, db = _orders_with(tmp_path, {"customer_id": "c404"}, extra_tables={"customers": customers})
    # reps were not delivered at all: rep_id is not checked; customers were, so c404 is an orphan
    assert _quarantine(db, "orders") == [(3, "customer_id", "orphan reference: no customers with customer_id = 'c404'")]
    assert load.rows_loaded == 2


def test_duplicate_key_with_same_updated_at(tmp_path):
    load, db = _orders_with(tmp_path, {"order_id": "o1", "amount": "999"})
    assert _quarantine(db, "orders") == [(3, "order_id", "duplicate key + updated_at (first at row 1)")]
    # a later file repeating o1 with the same updated_at but other values: conflicting correction
    write_csv(tmp_path / "landing" / "d2" / "orders.csv", "orders", [{**ORDER, "amount": "1"}])
    res = load_landing(db, tmp_path / "landing", options=OPTS)
    assert res["orders"].rows_quarantined == 1
    assert ("o1", "1") in _raw(db, "select order_id, amount from quarantine.orders where _batch_id = 2")
    assert _raw(db, "select count(*) from raw.orders") == [(2,)]


def test_usd_order_with_rate_is_accepted(tmp_path):
    fx = [{"rate_date": "2024-01-15", "currency": "USD", "rate_to_reporting": "7.2"}]
    # signed 2024-01-31T16:30Z = Feb 1 local: the Jan 15 rate covers it
    load, db = _orders_with(tmp_path, {"currency": "usd"}, extra_tables={"fx_rates": fx})
    assert load.rows_quarantined == 0 and load.rows_loaded == 3
    # but a USD order before the first rate is quarantined
    write_csv(tmp_path / "landing" / "d2" / "orders.csv", "orders",
              [{**ORDER, "order_id": "o9", "currency": "USD", "signed_at": "2024-01-10T00:00:00Z",
                "updated_at": "2024-01-10T00:00:00Z"}])
    res = load_landing(db, tmp_path / "landing", options=OPTS)
    assert res["orders"].rows_quarantined == 1
    assert _raw(db, "select _reason from quarantine.orders") == [("no fx rate for USD on or before 2024-01-10",)]


def test_timestamp_after_as_of_is_kept_in_raw(tmp_path):
    # Past the as-of date but not in the future: kept (a later as-of needs it); staging ignores it.
    load, db = _orders_with(tmp_path, {"signed_at": "2024-06-29T00:00:00Z", "updated_at": "2024-06-29T00:00:00Z"})
    assert load.rows_quarantined == 0 and load.rows_loaded == 3


def _write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


PAY_HEADER = "payment_id,order_id,paid_at,amount,currency\n"


def test_malformed_rows_wrong_field_count_and_truncation(tmp_path):
    landing, db = tmp_path / "landing", tmp_path / "build.duckdb"
    _write(landing / "payments.csv", PAY_HEADER
           + "p1,o1,2024-01-01,10,CNY\n"
           + "p2,o1,2024-01-02,20,CNY,extra\n"   # row 2: one field too many
           + "p3,o1,2024-01-03,30,CNY\n"
           + "p4,o1,2024-01-0")                   # row 4: file truncated mid-row
    res = load_landing(db, landing, options=OPTS)["payments"]
    assert res.error is None and res.rows_loaded == 2 and res.rows_quarantined == 2
    assert _raw(db, "select payment_id from raw.payments order by 1") == [("p1",), ("p3",)]
    q = _raw(db, "select distinct _row_number, _reason, _raw_line from quarantine.payments order by 1")
    assert q[0][0] == 2 and "too many columns" in q[0][1] and q[0][2].startswith("p2,o1")
    assert q[1][0] == 4 and "missing columns" in q[1][1] and q[1][2].startswith("p4,o1,2024-01-0")


def test_file_level_problems_stop_the_table_and_name_the_file(tmp_path):
    landing, db = tmp_path / "landing", tmp_path / "build.duckdb"
    _write(landing / "payments.csv", "payment_id,order_id,paid_at,amount\np1,o1,2024-01-01,10\n")
    _write(landing / "deliveries.csv", "")
    res = load_landing(db, landing, options=OPTS)
    assert "payments.csv: missing required column(s) currency" in res["payments"].error
    assert "deliveries.csv: the file is empty (0 bytes)" in res["deliveries"].error
    assert _raw(db, "select count(*) from raw.payments") == [(0,)]
    assert _raw(db, "select count(*) from raw._load_log") == [(0,)]


def test_header_only_file_is_an_empty_drop(tmp_path):
    landing, db = tmp_path / "landing", tmp_path / "build.duckdb"
    _write(landing / "payments.csv", PAY_HEADER)
    res = load_landing(db, landing, options=OPTS)["payments"]
    assert res.error is None and res.files_loaded == 1 and res.rows_loaded == 0


def test_extra_column_warns_and_bom_is_accepted(tmp_path):
    landing, db = tmp_path / "landing", tmp_path / "build.duckdb"
    _write(landing / "payments.csv", "payment_id,order_id,paid_at,amount,currency,note\n"
           "p1,o1,2024-01-01,10,CNY,备注\n", encoding="utf-8-sig")
    res = load_landing(db, landing, options=OPTS)["payments"]
    assert res.rows_loaded == 1
    assert any("ignoring unknown column(s) note" in w for w in res.warnings)
    assert _raw(db, "select payment_id, amount from raw.payments") == [("p1", Decimal("10.0000"))]


def test_gbk_file_with_chinese_text_is_detected(tmp_path):
    landing, db = tmp_path / "landing", tmp_path / "build.duckdb"
    rows = ("rep_id,rep_name,email,team_id,team_name,region,manager_rep_id,role,hired_on,left_on,updated_at\n"
            "r1,王小明,r1@example.com,t1,华东一组,华东,,rep,2023-01-01,,2023-01-01T00:00:00Z\n")
    _write(landing / "reps.csv", rows, encoding="gbk")
    res = load_landing(db, landing, options=OPTS)["reps"]
    assert res.rows_loaded == 1 and res.files[0].encoding == "gb18030"
    assert _raw(db, "select rep_name, team_name, region from raw.reps") == [("王小明", "华东一组", "华东")]
    assert _raw(db, "select encoding from raw._load_log") == [("gb18030",)]
    # a configured wrong encoding is a file-level error naming the file
    _write(landing / "d2" / "reps.csv", rows.replace("r1,", "r2,", 1), encoding="gbk")
    res = load_landing(db, landing, options=LoadOptions(source_system="t", encoding="utf-8", now=NOW))["reps"]
    assert res.error is not None and "reps.csv" in res.error


def test_quarantine_cli_lists_and_resolves(tmp_path, capsys, tmp_settings_env):
    from salespulse.cli import main
    from salespulse.loader import connect_build, unresolved_quarantine

    load, db = _orders_with(tmp_path, {"amount": "abc"})
    assert main(["quarantine", "list", "--build-db", str(db)]) == 0
    out, err = capsys.readouterr()
    assert "orders\t" in out and "orders.csv\trow 3\tamount\tcannot read 'abc' as DECIMAL(18,4)" in out
    assert "1 unresolved quarantined row(s)" in err
    con = connect_build(db)
    try:
        assert unresolved_quarantine(con, "orders") == (1, 2)
    finally:
        con.close()
    assert main(["quarantine", "resolve", "--table", "orders", "--build-db", str(db)]) == 0
    con = connect_build(db)
    try:
        assert unresolved_quarantine(con, "orders") == (0, 2)
    finally:
        con.close()
    # the rows stay in quarantine (nothing is lost), only marked resolved
    assert _raw(db, "select count(*) from quarantine.orders where _resolved_at is not null") == [(1,)]


def test_typed_parquet_is_checked_without_text_round_trip(tmp_path):
    """A Parquet file typed like the contract keeps its types; the rules that apply to typed values
    (required, accepted values, amounts, future timestamps, orphans) still quarantine by row/column,
    and a Parquet column of another type is read as text and cast like CSV."""
    landing = tmp_path / "landing"
    landing.mkdir()
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"""
        copy (
            select * from (values
                ('o1', 'c1', null, 'r1', timestamptz '2024-01-31 16:30:00+00', 100.5::decimal(18,4),
                 60::decimal(18,4), 'CNY', 'active', timestamptz '2024-01-31 16:30:00+00', false),
                (null, 'c1', null, 'r1', timestamptz '2024-02-01 00:00:00+00', 5::decimal(18,4),
                 null, 'CNY', 'active', timestamptz '2024-02-01 00:00:00+00', false),
                ('o3', 'c1', null, 'r1', timestamptz '2024-02-01 00:00:00+00', -5::decimal(18,4),
                 null, 'CNY', 'active', timestamptz '2024-02-01 00:00:00+00', false),
                ('o4', 'c1', null, 'r1', timestamptz '2031-01-01 00:00:00+00', 5::decimal(18,4),
                 null, 'CNY', 'Shipped', timestamptz '2024-02-01 00:00:00+00', false)
            ) t({', '.join(TABLES['orders'].columns)})
        ) to '{landing / "orders.parquet"}' (format parquet)""")
    # amounts delivered as text in this file: read as text, one of them unreadable
    con.execute(f"""
        copy (select 'p1' as payment_id, 'o1' as order_id, timestamptz '2024-02-02 00:00:00+00' as paid_at,
                     '12.5' as amount, 'CNY' as currency
              union all
              select 'p2', 'o1', timestamptz '2024-02-03 00:00:00+00', 'abc', 'CNY')
        to '{landing / "payments.parquet"}' (format parquet)""")
    db = tmp_path / "build.duckdb"
    res = load_landing(db, landing, options=OPTS)
    assert res["orders"].error is None and res["orders"].rows_loaded == 1
    assert _raw(db, "select order_id, amount, signed_at from raw.orders") == [
        ("o1", Decimal("100.5000"), dt.datetime(2024, 1, 31, 16, 30, tzinfo=dt.UTC))]
    assert _quarantine(db, "orders") == [
        (2, "order_id", "missing key"),
        (3, "amount", "negative amount -5.0000"),
        (4, "signed_at", "timestamp 2031-01-01 00:00:00+00 is in the future"),
        (4, "status", "'Shipped' is not one of: active, cancelled, refunded"),
    ]
    assert _raw(db, "select order_id, amount from quarantine.orders where _row_number = 3") == [("o3", "-5.0000")]
    assert _raw(db, "select payment_id, amount from raw.payments") == [("p1", Decimal("12.5000"))]
    assert _quarantine(db, "payments") == [(2, "amount", "cannot read 'abc' as DECIMAL(18,4)")]
