"""The ``row_rules`` generic dbt test (one scan per model for all its row-level rules) on a tiny dbt
project with hand-counted violations, and the explanation of a failed test by rule."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from salespulse import row_rules

REPO = Path(__file__).resolve().parents[1]
GENERIC = REPO / "dbt_project" / "tests" / "generic" / "row_rules.sql"
DBT = Path(sys.executable).with_name("dbt")

# id, kind, amount, qty; hand count of the broken rules below:
#   not_null(id): row 4                      -> 1
#   not_null(kind): row 2                    -> 1
#   non_negative(amount): row 2 (-1; NULL passes)  -> 1
#   accepted_values(kind): 'z' (row 3; NULL passes) -> 1
#   expression(qty >= 5): rows 2 and 4       -> 2
#   expression(amount < 100): NULL passes, all < 100 -> 0
ROWS = "(1, 'a', 5.0, 10), (2, null, -1.0, 3), (3, 'z', null, 7), (null, 'b', 2.0, 1)"


def _project(tmp: Path, arguments: str, severity: str = "error") -> Path:
    proj = tmp / "proj"
    (proj / "models").mkdir(parents=True)
    (proj / "tests" / "generic").mkdir(parents=True)
    shutil.copy(GENERIC, proj / "tests" / "generic" / "row_rules.sql")
    (proj / "dbt_project.yml").write_text(textwrap.dedent("""\
        name: rr
        version: "1.0"
        profile: rr
        model-paths: [models]
        test-paths: [tests]
        """))
    (proj / "profiles.yml").write_text(textwrap.dedent(f"""\
        rr:
          target: dev
          outputs:
            dev:
              type: duckdb
              path: "{tmp / 'rr.duckdb'}"
              threads: 1
        """))
    (proj / "models" / "things.sql").write_text(
        f"select * from (values {ROWS}) as t(id, kind, amount, qty)\n"
    )
    (proj / "models" / "things.yml").write_text(
        "version: 2\nmodels:\n  - name: things\n    data_tests:\n      - row_rules:\n          name: row_rules_things\n"
        "          arguments:\n" + textwrap.indent(textwrap.dedent(arguments), " " * 12)
        + f"          config:\n            severity: {severity}\n"
    )
    return proj


def _build(proj: Path) -> tuple[int, dict]:
    env = {**os.environ, "DBT_PROFILES_DIR": str(proj), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    res = subprocess.run([str(DBT), "build", "--project-dir", str(proj)], capture_output=True, text=True, env=env,
                         cwd=proj)
    results = json.loads((proj / "target" / "run_results.json").read_text())
    test = next(r for r in results["results"] if r["unique_id"].startswith("test."))
    return res.returncode, test


ALL_RULES = """\
    not_null: [id, kind]
    non_negative: [amount]
    accepted_values:
      kind: [a, b]
    expressions:
      - "qty >= 5"
      - "amount < 100"
    """


def test_counts_failing_rows_per_rule_and_names_them(tmp_path):
    proj = _project(tmp_path, ALL_RULES)
    rc, test = _build(proj)
    assert rc == 1  # an error-severity test failed
    assert (test["status"], test["failures"]) == ("fail", 6)  # 1 + 1 + 1 + 1 + 2 failing rows

    con = duckdb.connect(str(tmp_path / "rr.duckdb"), read_only=True)
    try:
        query = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        why = row_rules.explain(proj / "target" / "run_results.json", ["row_rules_things", "unique_x"], query)
    finally:
        con.close()
    assert why == {"row_rules_things": "not_null(id): 1 row; not_null(kind): 1 row; non_negative(amount): 1 row; "
                                       "accepted_values(kind): 1 row; expression(qty >= 5): 2 rows"}


def test_passes_when_no_rule_breaks_and_warn_severity_does_not_fail(tmp_path):
    # NULLs pass accepted_values, non_negative and expressions, as in the one-rule tests
    ok = _project(tmp_path / "ok", """\
        not_null: [qty]
        non_negative: [qty]
        accepted_values:
          kind: [a, b, z]
        expressions:
          - "amount < 100"
        """)
    rc, test = _build(ok)
    assert (rc, test["status"], test["failures"]) == (0, "pass", 0)

    warn = _project(tmp_path / "warn", ALL_RULES, severity="warn")
    rc, test = _build(warn)
    assert (rc, test["status"], test["failures"]) == (0, "warn", 6)


def test_no_rules_is_a_compile_error(tmp_path):
    proj = _project(tmp_path, "not_null: []\n")
    env = {**os.environ, "DBT_PROFILES_DIR": str(proj), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    res = subprocess.run([str(DBT), "build", "--project-dir", str(proj)], capture_output=True, text=True, env=env,
                         cwd=proj)
    assert res.returncode != 0
    assert "no rules given" in res.stdout


def test_explain_reports_what_it_cannot_query(tmp_path):
    rr = tmp_path / "run_results.json"
    rr.write_text(json.dumps({"results": [
        {"unique_id": "test.p.row_rules_a.1", "compiled_code": "select 1"},
        {"unique_id": "test.p.row_rules_b.2", "compiled_code": None},
    ]}))
    why = row_rules.explain(rr, ["row_rules_a", "row_rules_b"], lambda sql: None)
    assert why["row_rules_a"].startswith("rules unknown on this engine")
    assert why["row_rules_b"] == "rules unknown (no compiled SQL in run_results.json)"

    def boom(sql):
        raise RuntimeError("database is locked")

    locked = row_rules.explain(rr, ["row_rules_a"], boom)
    assert locked == {"row_rules_a": "rules unknown (RuntimeError: database is locked)"}
    missing = row_rules.explain(tmp_path / "missing.json", ["row_rules_a"], boom)
    assert missing["row_rules_a"].startswith("rules unknown")


@pytest.mark.parametrize("value", ["it's", "a,b"])
def test_accepted_values_are_quoted(tmp_path, value):
    proj = _project(tmp_path, f"""\
        accepted_values:
          kind: [{json.dumps(value)}]
        """)
    rc, test = _build(proj)
    # 'a', 'z', 'b' are not the accepted value; NULL passes: 3 failing rows, and the quote compiles
    assert (test["status"], test["failures"]) == ("fail", 3)
