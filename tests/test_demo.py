"""Tests of the demo CRM generator (salespulse.demo): shape, contract rules, determinism, realism."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import pytest

from salespulse.contract import TABLE_NAMES, TABLES, TS
from salespulse.demo import generate_demo

AS_OF = dt.date(2025, 6, 15)
SCALE = 1500
END_TS = "TIMESTAMPTZ '{d} 15:59:59+00'"  # end of the as-of day in Asia/Shanghai

# (child table, column, parent table, parent column)
FOREIGN_KEYS = [
    ("reps", "manager_rep_id", "reps", "rep_id"),
    ("customers", "referred_by_customer_id", "customers", "customer_id"),
    ("customers", "owner_rep_id", "reps", "rep_id"),
    ("leads", "owner_rep_id", "reps", "rep_id"),
    ("leads", "converted_customer_id", "customers", "customer_id"),
    ("leads", "converted_opportunity_id", "opportunities", "opportunity_id"),
    ("opportunities", "customer_id", "customers", "customer_id"),
    ("opportunities", "lead_id", "leads", "lead_id"),
    ("opportunities", "owner_rep_id", "reps", "rep_id"),
    ("opportunity_stage_history", "opportunity_id", "opportunities", "opportunity_id"),
    ("activities", "rep_id", "reps", "rep_id"),
    ("activities", "lead_id", "leads", "lead_id"),
    ("activities", "opportunity_id", "opportunities", "opportunity_id"),
    ("activities", "customer_id", "customers", "customer_id"),
    ("orders", "customer_id", "customers", "customer_id"),
    ("orders", "opportunity_id", "opportunities", "opportunity_id"),
    ("orders", "rep_id", "reps", "rep_id"),
    ("payments", "order_id", "orders", "order_id"),
    ("deliveries", "order_id", "orders", "order_id"),
    ("sales_compensation", "rep_id", "reps", "rep_id"),
]

# Money events whose currency needs an fx rate on or before the event's date.
FX_EVENTS = [
    ("orders", "signed_at"), ("payments", "paid_at"), ("opportunities", "created_at"),
    ("marketing_spend", "spend_date"), ("sales_compensation", "month"),
]


# ----------------------------------------------------------------------------- fixtures / helpers
def _connect(folder: Path, fmt: str = "parquet") -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per contract table over the landing files."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, spec in TABLES.items():
        path = folder / f"{name}.{fmt}"
        if fmt == "parquet":
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
        else:
            cols = ", ".join(f"'{c}': '{t}'" for c, t in spec.columns.items())
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_csv('{path}', header = true, "
                        f"columns = {{{cols}}}, nullstr = '')")
    return con


def _one(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchone()[0]


def _generate(folder: Path, **kwargs) -> tuple[Path, dict[str, int]]:
    counts = generate_demo(folder, **kwargs)
    return folder, counts


@pytest.fixture(scope="module")
def main_run(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    return _generate(tmp_path_factory.mktemp("demo_main"), scale=SCALE, seed=42, as_of=AS_OF)


@pytest.fixture(scope="module")
def leap_run(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """A small run on a leap day with another seed, to exercise edge dates."""
    return _generate(tmp_path_factory.mktemp("demo_leap"), scale=300, seed=7, as_of=dt.date(2024, 2, 29))


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    return _generate(tmp_path_factory.mktemp("demo_csv"), scale=400, seed=42, as_of=AS_OF, fmt="csv")


@pytest.fixture(params=["main", "leap", "csv"])
def any_run(request, main_run, leap_run, csv_run):
    """(connection, as_of, counts) of each generated drop, for the contract-rule tests."""
    folder, counts = {"main": main_run, "leap": leap_run, "csv": csv_run}[request.param]
    as_of = dt.date(2024, 2, 29) if request.param == "leap" else AS_OF
    con = _connect(folder, "csv" if request.param == "csv" else "parquet")
    yield con, as_of, counts
    con.close()


def _fingerprints(folder: Path) -> dict[str, str]:
    """An md5 of each table's full content in key order."""
    con = _connect(folder)
    out = {}
    for name, spec in TABLES.items():
        key = ", ".join(list(spec.primary_key) + (["updated_at"] if spec.has_versions else []))
        out[name] = _one(con, f"SELECT md5(coalesce(string_agg(t::VARCHAR, '|' ORDER BY {key}), '')) "
                              f"FROM {name} t")
    con.close()
    return out


def _normalise_type(t: str) -> str:
    return {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ"}.get(t, t)


# ----------------------------------------------------------------------------- shape
def test_all_tables_columns_and_types(main_run):
    folder, counts = main_run
    assert set(counts) == set(TABLE_NAMES)
    con = duckdb.connect()
    for name, spec in TABLES.items():
        path = folder / f"{name}.parquet"
        assert path.is_file(), name
        described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
        got = [(row[0], _normalise_type(row[1])) for row in described]
        assert got == list(spec.columns.items()), name
        assert _one(con, f"SELECT count(*) FROM read_parquet('{path}')") == counts[name] > 0, name
    # no temporary files are left behind
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.parquet" for n in TABLE_NAMES)


def test_csv_format(csv_run):
    folder, counts = csv_run
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.csv" for n in TABLE_NAMES)
    for name, spec in TABLES.items():
        with (folder / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == list(spec.columns), name
        assert len(rows) - 1 == counts[name], name
        for i, (col, typ) in enumerate(spec.columns.items()):
            values = [r[i] for r in rows[1:] if r[i] != ""]
            if typ == TS:
                assert all(v.endswith("+00:00") and v[10] == "T" for v in values), (name, col)
                for v in values[:50]:
                    assert dt.datetime.fromisoformat(v).utcoffset() == dt.timedelta(0)
            elif typ == "DATE":
                for v in values[:50]:
                    dt.date.fromisoformat(v)
            elif typ == "BOOLEAN":
                assert set(values) <= {"true", "false"}, (name, col)
            if col not in spec.nullable:
                assert len(values) == len(rows) - 1, (name, col)
    # every file parses with the contract's types
    con = _connect(folder, "csv")
    for name in TABLES:
        assert _one(con, f"SELECT count(*) FROM {name}") == counts[name]


def test_proportions(main_run):
    folder, counts = main_run
    con = _connect(folder)
    orders = _one(con, "SELECT count(DISTINCT order_id) FROM orders")
    assert abs(orders - SCALE) <= 0.1 * SCALE
    customers = _one(con, "SELECT count(DISTINCT customer_id) FROM customers")
    assert SCALE / 5 <= customers <= SCALE / 2
    leads = _one(con, "SELECT count(DISTINCT lead_id) FROM leads")
    assert 2.5 * customers <= leads <= 5 * customers
    assert counts["payments"] >= orders and counts["deliveries"] >= 0.8 * orders
    assert counts["activities"] >= 2 * leads


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_data_different_seed_differs(main_run, tmp_path):
    folder, counts = main_run
    again, counts2 = _generate(tmp_path / "again", scale=SCALE, seed=42, as_of=AS_OF)
    other, _ = _generate(tmp_path / "other", scale=SCALE, seed=43, as_of=AS_OF)
    assert counts == counts2
    first, second, third = _fingerprints(folder), _fingerprints(again), _fingerprints(other)
    assert first == second
    for name in TABLE_NAMES:
        assert first[name] != third[name], name
        # files are written in key order, so the parquet bytes are reproducible too
        assert (folder / f"{name}.parquet").read_bytes() == (again / f"{name}.parquet").read_bytes(), name


@pytest.mark.parametrize("as_of", [dt.date(2023, 1, 1), dt.date(2026, 12, 31)])
def test_tiny_scale_and_edge_dates(tmp_path, as_of):
    counts = generate_demo(tmp_path, scale=50, seed=1, as_of=as_of)
    assert all(counts[name] > 0 for name in TABLE_NAMES)
    con = _connect(tmp_path)
    assert abs(_one(con, "SELECT count(DISTINCT order_id) FROM orders") - 50) <= 10
    end = END_TS.format(d=as_of.isoformat())
    assert _one(con, f"SELECT count(*) FROM orders WHERE updated_at > {end}") == 0
    assert _one(con, "SELECT max(rate_date) FROM fx_rates") == as_of


# ----------------------------------------------------------------------------- contract rules
def test_primary_keys_unique(any_run):
    con, _, _ = any_run
    for name, spec in TABLES.items():
        key = list(spec.primary_key) + (["updated_at"] if spec.has_versions else [])
        cols = ", ".join(key)
        dupes = _one(con, f"SELECT count(*) FROM (SELECT {cols} FROM {name} GROUP BY ALL "
                          "HAVING count(*) > 1)")
        assert dupes == 0, (name, key)


def test_required_columns_not_null(any_run):
    con, _, _ = any_run
    for name, spec in TABLES.items():
        for col in spec.required:
            assert _one(con, f"SELECT count(*) FROM {name} WHERE {col} IS NULL") == 0, (name, col)


def test_accepted_values_and_non_negative(any_run):
    con, _, _ = any_run
    for name, spec in TABLES.items():
        for col, accepted in spec.accepted_values.items():
            sql = f"SELECT DISTINCT {col} FROM {name} WHERE {col} IS NOT NULL"
            got = {r[0] for r in con.execute(sql).fetchall()}
            assert got <= set(accepted), (name, col, got - set(accepted))
        for col in spec.non_negative:
            assert _one(con, f"SELECT count(*) FROM {name} WHERE {col} < 0") == 0, (name, col)
    # stages and currencies are plausible codes
    stages = {r[0] for r in con.execute("SELECT DISTINCT stage FROM opportunities").fetchall()}
    assert stages <= {"prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"}
    for table in ("orders", "payments", "opportunities", "marketing_spend", "sales_compensation"):
        got = {r[0] for r in con.execute(f"SELECT DISTINCT currency FROM {table}").fetchall()}
        assert got <= {"CNY", "USD", "EUR"}, table


def test_foreign_keys_resolve(any_run):
    con, _, _ = any_run
    for child, col, parent, pcol in FOREIGN_KEYS:
        missing = _one(con, f"SELECT count(*) FROM {child} c WHERE c.{col} IS NOT NULL "
                            f"AND c.{col} NOT IN (SELECT {pcol} FROM {parent})")
        assert missing == 0, (child, col)
    assert _one(con, """SELECT count(*) FROM targets WHERE
        (scope = 'company' AND scope_id IS NOT NULL)
        OR (scope = 'rep' AND scope_id NOT IN (SELECT rep_id FROM reps))
        OR (scope = 'team' AND scope_id NOT IN (SELECT team_id FROM reps))""") == 0
    assert _one(con, """SELECT count(*) FROM targets WHERE
        (metric = 'bookings' AND currency IS DISTINCT FROM 'CNY')
        OR (metric = 'new_customers' AND currency IS NOT NULL)""") == 0


def test_fx_rates_cover_every_foreign_money_event(any_run):
    con, _, _ = any_run
    assert _one(con, "SELECT count(*) FROM fx_rates WHERE currency = 'CNY'") == 0
    for table, col in FX_EVENTS:
        missing = _one(con, f"""
            SELECT count(*) FROM {table} e WHERE e.currency <> 'CNY' AND NOT EXISTS (
                SELECT 1 FROM fx_rates r WHERE r.currency = e.currency
                  AND r.rate_date <= (timezone('Asia/Shanghai', e.{col}::TIMESTAMPTZ))::DATE)""")
        assert missing == 0, table
    # daily, gap-free and plausible
    for cur, lo, hi in (("USD", 6.8, 7.6), ("EUR", 7.2, 8.4)):
        n, first, last, rmin, rmax = con.execute(f"""
            SELECT count(*), min(rate_date), max(rate_date), min(rate_to_reporting), max(rate_to_reporting)
            FROM fx_rates WHERE currency = '{cur}'""").fetchone()
        assert n == (last - first).days + 1
        assert lo <= rmin <= rmax <= hi
        assert first <= _one(con, "SELECT min(signed_at)::DATE FROM orders")


def test_nothing_after_as_of_and_three_years_of_history(any_run):
    con, as_of, _ = any_run
    end = END_TS.format(d=as_of.isoformat())
    for name, spec in TABLES.items():
        for col, typ in spec.columns.items():
            if typ == TS:
                assert _one(con, f"SELECT count(*) FROM {name} WHERE {col} > {end}") == 0, (name, col)
            elif typ == "DATE":
                late = _one(con, f"SELECT count(*) FROM {name} WHERE {col} > DATE '{as_of}'")
                assert late == 0, (name, col)
    first = _one(con, "SELECT min(signed_at) FROM orders")
    assert (as_of - first.date()).days >= 3 * 365
    first_lead = _one(con, "SELECT min(created_at) FROM leads")
    assert (as_of - first_lead.date()).days >= 3 * 365 + 60


def test_versions_are_consistent(any_run):
    con, _, _ = any_run
    checks = {
        "customer updated before created": "SELECT count(*) FROM customers WHERE updated_at < created_at",
        "lead updated before created": "SELECT count(*) FROM leads WHERE updated_at < created_at",
        "opportunity updated before created":
            "SELECT count(*) FROM opportunities WHERE updated_at < created_at",
        "order updated before signed": "SELECT count(*) FROM orders WHERE updated_at < signed_at",
        "activity updated before occurred": "SELECT count(*) FROM activities WHERE updated_at < occurred_at",
        "lead events before creation": """SELECT count(*) FROM leads WHERE first_contacted_at <= created_at
            OR qualified_at < first_contacted_at OR disqualified_at < created_at""",
        "lead event visible after its version": """SELECT count(*) FROM leads
            WHERE greatest(first_contacted_at, qualified_at, disqualified_at) > updated_at""",
        "closed flags": """SELECT count(*) FROM opportunities WHERE
            (is_closed <> (closed_at IS NOT NULL))
            OR (is_won AND NOT is_closed)
            OR (is_closed AND stage NOT IN ('closed_won', 'closed_lost'))
            OR (NOT is_closed AND stage IN ('closed_won', 'closed_lost'))
            OR (is_won <> (stage = 'closed_won'))
            OR ((loss_reason IS NOT NULL) <> (stage = 'closed_lost'))
            OR closed_at < created_at OR closed_at > updated_at""",
        "stage history before creation": """SELECT count(*) FROM opportunity_stage_history h
            JOIN (SELECT DISTINCT opportunity_id, created_at FROM opportunities) o USING (opportunity_id)
            WHERE h.entered_at < o.created_at""",
        "payments before signing": """SELECT count(*) FROM payments p
            JOIN (SELECT DISTINCT order_id, signed_at FROM orders) o USING (order_id) WHERE p.paid_at <
                o.signed_at""",
        "deliveries before signing": """SELECT count(*) FROM deliveries d
            JOIN (SELECT DISTINCT order_id, signed_at FROM orders) o USING (order_id)
            WHERE d.delivered_at < o.signed_at""",
        "customer created after its first order": """SELECT count(*) FROM customers c
            JOIN (SELECT customer_id, min(signed_at) AS s FROM orders GROUP BY 1) o USING (customer_id)
            WHERE c.created_at > o.s""",
        "rep left before hired": "SELECT count(*) FROM reps WHERE left_on < hired_on",
    }
    for label, sql in checks.items():
        assert _one(con, sql) == 0, label


# ----------------------------------------------------------------------------- realism / mess
def _latest(table: str, key: str) -> str:
    return (f"(SELECT * FROM {table} "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY updated_at DESC) = 1)")


def test_mess_exists(main_run):
    con = _connect(main_run[0])
    for table, key in (("orders", "order_id"), ("customers", "customer_id"), ("leads", "lead_id"),
                       ("opportunities", "opportunity_id")):
        versions = _one(con, f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY 1 "
                             "HAVING count(*) >= 2)")
        keys = _one(con, f"SELECT count(DISTINCT {key}) FROM {table}")
        assert 0.03 * keys <= versions <= 0.4 * keys, table
        deleted = _one(con, f"SELECT count(*) FROM {_latest(table, key)} WHERE is_deleted")
        assert 0 < deleted <= 0.03 * keys, table
    latest_orders = _latest("orders", "order_id")
    n = _one(con, "SELECT count(DISTINCT order_id) FROM orders")
    cancelled = _one(con, f"SELECT count(*) FROM {latest_orders} WHERE status = 'cancelled'")
    refunded = _one(con, f"SELECT count(*) FROM {latest_orders} WHERE status = 'refunded'")
    assert 0.01 * n <= cancelled <= 0.06 * n
    assert 0.005 * n <= refunded <= 0.04 * n
    # a corrected order: the amount changes between versions
    assert _one(con, "SELECT count(*) FROM (SELECT order_id FROM orders GROUP BY 1 "
                     "HAVING count(DISTINCT amount) > 1)")
    # an opportunity advancing its stage between versions
    assert _one(con, """SELECT count(*) FROM (SELECT opportunity_id FROM opportunities GROUP BY 1
                        HAVING count(DISTINCT stage) > 1)""")
    # every order has a cost (gross profit is never NULL)
    assert _one(con, "SELECT count(*) FROM orders WHERE cost IS NULL") == 0
    assert _one(con, "SELECT count(*) FROM orders WHERE cost > amount") == 0


def test_currencies_and_payments(main_run):
    con = _connect(main_run[0])
    shares = dict(con.execute(f"""SELECT currency, count(*) / sum(count(*)) OVER ()
                                  FROM {_latest('orders', 'order_id')} GROUP BY 1""").fetchall())
    assert shares["CNY"] > 0.75 and 0.03 < shares["USD"] < 0.15 and 0.01 < shares["EUR"] < 0.09
    # payments are in the order's currency and never exceed the (final) order amount
    assert _one(con, f"""
        SELECT count(*) FROM (SELECT order_id, sum(amount) AS paid, any_value(currency) AS cur
                              FROM payments GROUP BY 1) p
        JOIN {_latest('orders', 'order_id')} o USING (order_id)
        WHERE p.paid > o.amount OR p.cur <> o.currency""") == 0
    per_order = dict(con.execute("""SELECT n, count(*) FROM (SELECT order_id, count(*) AS n FROM payments
                                    GROUP BY 1) GROUP BY 1""").fetchall())
    assert per_order.get(1) and per_order.get(2) and per_order.get(3)
    # some live orders are not fully paid as of the as-of date
    unpaid = _one(con, f"""SELECT count(*) FROM {_latest('orders', 'order_id')} o
        LEFT JOIN (SELECT order_id, sum(amount) AS paid FROM payments GROUP BY 1) p USING (order_id)
        WHERE o.status = 'active' AND NOT o.is_deleted AND coalesce(p.paid, 0) < o.amount""")
    assert unpaid > 0
    statuses = {r[0] for r in con.execute("SELECT DISTINCT status FROM deliveries").fetchall()}
    assert statuses == {"delivered", "partial", "returned"}


def test_reps_teams_and_leavers(main_run):
    con = _connect(main_run[0])
    reps = _latest("reps", "rep_id")
    roles = dict(con.execute(f"SELECT role, count(*) FROM {reps} GROUP BY 1").fetchall())
    teams = _one(con, f"SELECT count(DISTINCT team_id) FROM {reps}")
    assert 3 <= teams <= 6 and roles["manager"] == teams and roles["sdr"] >= teams and roles["rep"] >= teams
    # every non-manager reports to the manager of their own team
    assert _one(con, f"""SELECT count(*) FROM {reps} r LEFT JOIN {reps} m ON m.rep_id = r.manager_rep_id
        WHERE (r.role = 'manager') <> (r.manager_rep_id IS NULL)
           OR (r.role <> 'manager' AND (m.role <> 'manager' OR m.team_id <> r.team_id))""") == 0
    leavers = _one(con, f"SELECT count(*) FROM {reps} WHERE left_on IS NOT NULL")
    hires = _one(con, f"SELECT count(*) FROM {reps} "
                      "WHERE hired_on > (SELECT min(created_at)::DATE FROM leads)")
    assert leavers > 0 and hires > 0
    # a leaver gets no new leads or orders after left_on
    for table, col, rep_col in (("leads", "created_at", "owner_rep_id"), ("orders", "signed_at", "rep_id"),
                                ("opportunities", "created_at", "owner_rep_id")):
        late = _one(con, f"""SELECT count(*) FROM {table} t JOIN {reps} r ON r.rep_id = t.{rep_col}
                             WHERE r.left_on IS NOT NULL AND t.{col}::DATE > r.left_on""")
        assert late == 0, table
    # nor is anyone working before being hired
    assert _one(con, f"""SELECT count(*) FROM orders o JOIN {reps} r ON r.rep_id = o.rep_id
                        WHERE o.signed_at::DATE < r.hired_on""") == 0
    # sales compensation: every rep employed in a month, with commission linked to bookings
    comp = _one(con, f"""SELECT count(*) FROM sales_compensation c JOIN {reps} r USING (rep_id)
        WHERE c.month < date_trunc('month', r.hired_on) OR c.month > coalesce(r.left_on, DATE '9999-12-31')
           OR c.month <> date_trunc('month', c.month)""")
    assert comp == 0
    assert _one(con, "SELECT count(*) FROM sales_compensation WHERE commission > 0") > 0
    assert _one(con, "SELECT count(*) FROM sales_compensation WHERE bonus > 0") > 0


def test_customers_referrals_repeat_and_churn(main_run):
    con = _connect(main_run[0])
    customers = _latest("customers", "customer_id")
    referred = _one(con, f"SELECT count(*) FROM {customers} WHERE referred_by_customer_id IS NOT NULL")
    assert referred > 0
    # referrers were created earlier; referred customers came through the referral channel
    assert _one(con, f"""SELECT count(*) FROM {customers} c JOIN {customers} r
        ON r.customer_id = c.referred_by_customer_id
        WHERE r.created_at >= c.created_at OR c.acquisition_channel <> 'referral'""") == 0
    assert _one(con, f"SELECT count(*) FROM {customers} WHERE churned_at IS NOT NULL") > 0
    # no order after an explicit churn
    assert _one(con, f"""SELECT count(*) FROM orders o JOIN {customers} c USING (customer_id)
                        WHERE o.signed_at > c.churned_at""") == 0
    per_customer = [r[0] for r in con.execute("""SELECT count(DISTINCT order_id) FROM orders GROUP BY
        customer_id
                                                  ORDER BY 1 DESC""").fetchall()]
    assert per_customer[0] >= 10 and sum(1 for n in per_customer if n >= 2) > 0.3 * len(per_customer)
    # the channels differ in volume and conversion
    conv = con.execute(f"""SELECT channel, count(*) AS leads, avg((converted_customer_id IS NOT NULL)::INT)
        AS rate
                          FROM {_latest('leads', 'lead_id')} GROUP BY 1""").fetchall()
    assert len(conv) == 8
    assert max(r[2] for r in conv) > 2 * min(r[2] for r in conv)
    assert max(r[1] for r in conv) > 3 * min(r[1] for r in conv)


def test_funnel_hangs_together(main_run):
    con = _connect(main_run[0])
    leads, opps = _latest("leads", "lead_id"), _latest("opportunities", "opportunity_id")
    # converted leads point at their own opportunity and customer
    assert _one(con, f"""SELECT count(*) FROM {leads} l JOIN {opps} o ON o.opportunity_id =
        l.converted_opportunity_id
        WHERE o.lead_id <> l.lead_id OR o.customer_id <> l.converted_customer_id
           OR l.qualified_at IS NULL OR o.created_at < l.qualified_at""") == 0
    # every won opportunity has an order signed at its close; every order's opportunity is won
    assert _one(con, f"""SELECT count(*) FROM {opps} o WHERE o.is_won AND NOT o.is_deleted AND NOT EXISTS (
        SELECT 1 FROM orders s WHERE s.opportunity_id = o.opportunity_id AND s.signed_at =
            o.closed_at)""") == 0
    assert _one(con, f"""SELECT count(*) FROM orders s JOIN {opps} o USING (opportunity_id)
        WHERE NOT o.is_won OR s.customer_id <> o.customer_id""") == 0
    assert _one(con, "SELECT count(*) FROM orders WHERE opportunity_id IS NULL") > 0
    # open pipeline exists at the as-of date, and some deals skip a stage
    assert _one(con, f"SELECT count(*) FROM {opps} WHERE NOT is_closed") > 0
    assert _one(con, """SELECT count(*) FROM opportunity_stage_history h WHERE h.stage = 'closed_won'
        AND NOT EXISTS (SELECT 1 FROM opportunity_stage_history q WHERE q.opportunity_id = h.opportunity_id
                        AND q.stage = 'qualification')""") > 0
    # the stage history ends in the opportunity's current stage
    assert _one(con, f"""SELECT count(*) FROM {opps} o JOIN (
        SELECT opportunity_id, arg_max(stage, entered_at) AS stage FROM opportunity_stage_history GROUP BY 1
        ) h USING (opportunity_id) WHERE h.stage <> o.stage""") == 0
    # a lead's first outbound activity happens at first_contacted_at
    assert _one(con, f"""SELECT count(*) FROM {leads} l LEFT JOIN (
        SELECT lead_id, min(occurred_at) AS first_out FROM activities WHERE direction = 'outbound' GROUP BY 1
        ) a USING (lead_id) WHERE l.first_contacted_at IS NOT NULL AND a.first_out IS DISTINCT FROM
            l.first_contacted_at
        """) == 0
    assert _one(con, f"SELECT count(*) FROM {leads} WHERE first_contacted_at IS NULL") > 0
    assert _one(con, f"SELECT count(*) FROM {leads} WHERE disqualified_at IS NOT NULL") > 0


def test_seasonality_growth_spend_and_targets(main_run):
    con = _connect(main_run[0])
    live = f"(SELECT * FROM {_latest('orders', 'order_id')} WHERE status = 'active' AND NOT is_deleted)"
    by_year = dict(con.execute(f"SELECT year(signed_at), count(*) FROM {live} GROUP BY 1").fetchall())
    assert by_year[2024] > by_year[2023] > 0
    by_month = dict(con.execute(f"""SELECT month(signed_at), count(*) FROM {live}
                                   WHERE year(signed_at) BETWEEN 2023 AND 2024 GROUP BY 1""").fetchall())
    assert by_month[12] > by_month[2] and by_month[3] > by_month[2]
    # spend: every channel, paid channels cost more per lead than organic
    spend = dict(con.execute("SELECT channel, sum(amount) FROM marketing_spend WHERE currency = 'CNY' "
                             "GROUP BY 1").fetchall())
    assert set(spend) == set(TABLES["marketing_spend"].accepted_values["channel"])
    assert spend["paid_search"] > 5 * spend["organic"]
    cats = {r[0] for r in con.execute("SELECT DISTINCT category FROM marketing_spend").fetchall()}
    assert cats == set(TABLES["marketing_spend"].accepted_values["category"])
    # targets: a company year target per year of history, plus team quarter and rep month targets
    years = {r[0] for r in con.execute("""SELECT year(period_start) FROM targets WHERE scope = 'company'
        AND period_type = 'year' AND metric = 'bookings'""").fetchall()}
    assert years == set(range(2022, 2026))
    sql = "SELECT DISTINCT period_type, scope, metric FROM targets"
    kinds = {tuple(r) for r in con.execute(sql).fetchall()}
    assert kinds == {("year", "company", "bookings"), ("year", "company", "new_customers"),
                     ("quarter", "team", "bookings"), ("month", "rep", "bookings")}


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        generate_demo(tmp_path, scale=2000, as_of=AS_OF, fmt="xlsx")
    with pytest.raises(TypeError):
        generate_demo(tmp_path, scale=2000, as_of="2025-06-15")  # type: ignore[arg-type]
