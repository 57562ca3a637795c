"""Which rules of a failed ``row_rules`` dbt test broke, and on how many rows.

``row_rules`` (``dbt_project/tests/generic/row_rules.sql``) checks every row-level rule of a model
in one scan: one dbt test instead of one per column and rule. dbt itself only reports the total
of failing rows; the test's query returns one row per broken rule, so after a failed build the
compiled query (in ``run_results.json``) is run again on the build target to name the rules.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

Query = Callable[[str], "list[tuple] | None"]


def is_row_rules(test_name: str) -> bool:
    return test_name.startswith("row_rules_")


def explain(run_results: Path, failed_tests: list[str], query: Query) -> dict[str, str]:
    """{test name: "not_null(order_id): 3 rows; expression(a >= b): 1 row"} for the failed
    ``row_rules`` tests among ``failed_tests``. A test whose rules cannot be queried (no compiled
    SQL, an engine that cannot run a query from here, a query error) is explained as such."""
    wanted = [t for t in failed_tests if is_row_rules(t)]
    if not wanted:
        return {}
    try:
        results = json.loads(run_results.read_text())["results"]
    except (OSError, ValueError, KeyError) as exc:
        return {t: f"rules unknown ({run_results} unreadable: {exc})" for t in wanted}
    compiled = {}
    for r in results:
        uid = r.get("unique_id", "")
        if uid.startswith("test."):
            compiled[uid.split(".")[2]] = r.get("compiled_code")
    out = {}
    for test in wanted:
        sql = compiled.get(test)
        if not sql:
            out[test] = "rules unknown (no compiled SQL in run_results.json)"
            continue
        try:
            rows = query(sql)
        except Exception as exc:  # noqa: BLE001 - an explanation must not hide the failure itself
            out[test] = f"rules unknown ({type(exc).__name__}: {exc})"
            continue
        if rows is None:
            out[test] = "rules unknown on this engine; run the test's compiled SQL to list them"
        else:
            out[test] = "; ".join(f"{rule}: {int(n):,} row{'s' if int(n) != 1 else ''}" for rule, n in rows) \
                or "no broken rule found on re-query"
    return out
