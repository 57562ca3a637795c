"""Any export with a mapping (salespulse.sources.mapping): the transforms on hand-made CSV, Parquet and
JSON lines inputs with exact values, each mapping error's message, a load through the raw loader,
and the shipped Olist worked example (row-for-row equal to the hand-written converter, then the
whole pipeline reproducing the figures of shared/data/README.md)."""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from salespulse.loader import LoadOptions, load_landing
from salespulse.sources.base import SourceError
from salespulse.sources.mapping import convert_with_mapping, load_mapping

from conftest import SHARED_DATA, query, run_refresh

MAPPINGS = Path(__file__).resolve().parents[1] / "orchestration" / "salespulse" / "mappings"
OLIST = SHARED_DATA / "olist_funnel"
needs_olist = pytest.mark.skipif(
    not (OLIST / "olist_marketing_qualified_leads_dataset.csv").is_file(),
    reason=f"Olist data not found at {OLIST} (shared/data is not part of the repository: CC BY-NC-SA)",
)


def _csv(path: Path, header: list[str], rows: list[list[object]], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _mapping(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- hand-made inputs
MAPPING = """\
    version: 1
    source: erp
    defaults: {timezone: Asia/Shanghai, currency: CNY}
    inputs:
      deals: {file: "deals*.csv"}
      accounts: {file: accounts.parquet}
      people: {file: people.jsonl}
    tables:
      customers:
        from: accounts
        columns:
          customer_id: acct
          customer_name: name
          segment: {column: size, value_map: {S: smb, M: mid_market, L: enterprise}, ignore_case: true}
          industry: {column: industry, default: unknown}
          region: {const: EMEA}
          country: {const: DE}
          acquisition_channel: {column: source, value_map: {web: organic, fair: event}, default: other}
          owner_rep_id: {column: owner}
          created_at: {column: opened, date_format: "%d.%m.%Y %H:%M", timezone: Europe/Berlin}
          email: {column: mail, default: n/a}
          phone: {const: n/a}
          updated_at: {column: opened, date_format: "%d.%m.%Y %H:%M", timezone: Europe/Berlin}
          is_deleted: {column: status, in: [deleted, gelöscht]}
      opportunities:
        from: deals
        join:
          - {input: accounts, on: {account: acct}, as: acc, how: inner}
        filter:
          - {column: stage, not_empty: true}
        columns:
          opportunity_id: {template: "{account}-{no}"}
          customer_id: acc.acct
          owner_rep_id: {coalesce: [owner, acc.owner]}
          created_at: created
          stage: {column: stage, value_map: {won: closed_won, lost: closed_lost, open: proposal}, ignore_case: true}
          amount: amount
          expected_close_on: {column: close, date_format: "%d/%m/%Y"}
          closed_at: {column: updated, when: {column: stage, in: [won, lost], ignore_case: true}}
          is_closed: {column: stage, in: [won, lost], ignore_case: true}
          is_won: {column: stage, in: [won]}
          loss_reason: {concat: [reason, note], sep: " / "}
          updated_at: {greatest: [created, updated]}
          is_deleted: {const: false}
      reps:
        columns:
          team_id: {const: t1}
          team_name: {const: Team 1}
          region: {const: EMEA}
          role: {const: rep}
        union:
          - from: people
            columns:
              rep_id: login
              rep_name: profile.name
              email: {template: "{login:.3}@example.com"}
              hired_on: {column: hired, agg: min}
              updated_at: {column: changed, agg: max}
        distinct_on: [rep_id]
    """


@pytest.fixture
def erp(tmp_path):
    inp = tmp_path / "in"
    _csv(inp / "deals_1.csv", ["no", "account", "owner", "created", "stage", "amount", "close", "updated",
                               "reason", "note"], [
        [1, "A1", "r1", "2024-01-05 09:00:00", "won", "1,200.50", "31/01/2024", "2024-01-20T10:00:00Z", "", ""],
        [2, "A1", "", "2024-01-06", "Lost", "300", "28/02/2024", "2024-02-01 12:00", "price", "too dear"],
        [3, "A2", "r2", "2024-01-07", "", "5", "28/02/2024", "2024-02-01", "", ""],  # filtered: no stage
        [4, "ZZ", "r2", "2024-01-07", "open", "5", "28/02/2024", "2024-02-01", "", ""],  # no account: inner join
    ])
    _csv(inp / "deals_2.csv", ["no", "account", "owner", "created", "stage", "amount", "close", "updated",
                               "reason", "note"], [
        [5, "A2", "r2", "2024-03-01 08:00:00+01:00", "open", "99.9", "30/04/2024", "", "", ""],
    ])
    pd.DataFrame({
        "acct": ["A1", "A2"], "name": ["Acme", "Beta"], "size": ["m", "L"], "industry": ["tools", None],
        "source": ["web", "tv"], "owner": ["r1", "r2"], "opened": ["02.01.2024 10:30", "03.01.2024 23:30"],
        "mail": ["a@acme.test", None], "status": ["active", "gelöscht"],
    }).to_parquet(inp / "accounts.parquet")
    with (inp / "people.jsonl").open("w", encoding="utf-8") as fh:
        for rec in [
            {"login": "r1", "profile": {"name": "Rita"}, "hired": "2023-05-01", "changed": "2024-01-01T00:00:00Z"},
            {"login": "r2", "profile": {"name": "Rolf"}, "hired": "2023-07-01", "changed": "2024-01-01T00:00:00Z"},
            {"login": "r1", "profile": {"name": "Rita"}, "hired": "2023-04-01", "changed": "2024-02-01T00:00:00Z"},
        ]:
            fh.write(json.dumps(rec) + "\n")
    return inp, _mapping(tmp_path, MAPPING)


def test_transforms_give_exact_values(erp, tmp_path):
    inp, mapping = erp
    res = convert_with_mapping(mapping, inp, tmp_path / "out")
    assert res.source == "erp" and res.tables == {"customers": 2, "opportunities": 3, "reps": 2}
    assert res.warnings == []
    cust = {r["customer_id"]: r for r in _read(tmp_path / "out" / "customers.csv")}
    assert list(cust["A1"].values()) == [
        "A1", "Acme", "mid_market", "tools", "EMEA", "DE", "organic", "", "r1",
        "2024-01-02T10:30:00+01:00", "", "a@acme.test", "n/a", "2024-01-02T10:30:00+01:00", "false"]
    b = cust["A2"]
    assert (b["segment"], b["industry"], b["acquisition_channel"], b["email"], b["is_deleted"]) == (
        "enterprise", "unknown", "other", "n/a", "true")
    opps = {r["opportunity_id"]: r for r in _read(tmp_path / "out" / "opportunities.csv")}
    assert sorted(opps) == ["A1-1", "A1-2", "A2-5"]
    won = opps["A1-1"]
    assert (won["amount"], won["currency"], won["stage"], won["is_won"], won["is_closed"]) == (
        "1200.50", "CNY", "closed_won", "true", "true")
    # naive timestamps are Asia/Shanghai (the default zone), an explicit Z/offset is kept
    assert won["created_at"] == "2024-01-05T09:00:00+08:00"
    assert won["closed_at"] == "2024-01-20T10:00:00+00:00" and won["updated_at"] == "2024-01-20T10:00:00+00:00"
    assert won["expected_close_on"] == "2024-01-31" and won["loss_reason"] == ""
    lost = opps["A1-2"]
    assert (lost["owner_rep_id"], lost["stage"], lost["is_won"], lost["is_closed"]) == (
        "r1", "closed_lost", "false", "true")  # owner from the account (coalesce); 'Lost' ignoring case
    assert lost["loss_reason"] == "price / too dear" and lost["closed_at"] == "2024-02-01T12:00:00+08:00"
    open_ = opps["A2-5"]
    assert (open_["closed_at"], open_["is_closed"], open_["updated_at"]) == (
        "", "false", "2024-03-01T08:00:00+01:00")
    reps = {r["rep_id"]: r for r in _read(tmp_path / "out" / "reps.csv")}
    assert (reps["r1"]["rep_name"], reps["r1"]["email"], reps["r1"]["hired_on"], reps["r1"]["updated_at"]) == (
        "Rita", "r1@example.com", "2023-04-01", "2024-02-01T00:00:00+00:00")  # min / max over the records


def test_namespace_prefixes_ids_and_the_result_loads(erp, tmp_path):
    inp, mapping = erp
    out = tmp_path / "out"
    convert_with_mapping(mapping, inp, out, namespace="erp", source="erp_eu")
    opp = {r["opportunity_id"]: r for r in _read(out / "opportunities.csv")}["erp:A1-1"]
    assert (opp["customer_id"], opp["owner_rep_id"]) == ("erp:A1", "erp:r1")
    loads = load_landing(tmp_path / "build.duckdb", out, options=LoadOptions(source_system="erp_eu"))
    assert {t: (x.rows_loaded, x.rows_quarantined) for t, x in loads.items() if x.files} == {
        "reps": (2, 0), "customers": (2, 0), "opportunities": (3, 0)}
    assert all(x.error is None for x in loads.values())


def test_an_unparseable_value_is_passed_through_for_the_loader_to_quarantine(erp, tmp_path):
    inp, mapping = erp
    _csv(inp / "deals_2.csv", ["no", "account", "owner", "created", "stage", "amount", "close", "updated",
                               "reason", "note"], [[5, "A2", "r2", "yesterday", "open", "1", "30/04/2024", "", "", ""]])
    res = convert_with_mapping(mapping, inp, tmp_path / "out")
    assert any("deals_2.csv row 1" in w and "'created'" in w and "yesterday" in w for w in res.warnings)
    loads = load_landing(tmp_path / "build.duckdb", tmp_path / "out")
    assert loads["opportunities"].rows_quarantined == 1


# --------------------------------------------------------------------------- errors
def _err(excinfo) -> str:
    return str(excinfo.value)


def test_unknown_input_field_lists_the_available_ones(erp, tmp_path):
    inp, mapping = erp
    mapping.write_text(mapping.read_text().replace("amount: amount", "amount: amout"), encoding="utf-8")
    with pytest.raises(SourceError) as exc:
        convert_with_mapping(mapping, inp, tmp_path / "out")
    msg = _err(exc)
    assert exc.value.source == "erp" and exc.value.field == "amout"
    assert "deals_1.csv" in msg and "'amout'" in msg and "tables.opportunities.columns.amount" in msg
    assert "available fields: account, amount, close, created, no, note" in msg and "acc.acct" in msg
    assert "Fix: correct the field name" in msg


def test_required_column_left_unmapped(erp, tmp_path):
    inp, mapping = erp
    mapping.write_text(mapping.read_text().replace("      country: {const: DE}\n", ""), encoding="utf-8")
    with pytest.raises(SourceError) as exc:
        convert_with_mapping(mapping, inp, tmp_path / "out")
    msg = _err(exc)
    assert exc.value.field == "tables.customers.columns.country" and str(mapping) in msg
    assert "required contract column customers.country is not mapped" in msg
    assert "Fix: map it from an input field (`country: {column: <input field>}`) or give a constant" in msg


def test_value_map_miss_names_value_field_and_row(erp, tmp_path):
    inp, mapping = erp
    _csv(inp / "deals_2.csv", ["no", "account", "owner", "created", "stage", "amount", "close", "updated",
                               "reason", "note"], [
        [5, "A2", "r2", "2024-03-01", "open", "1", "30/04/2024", "", "", ""],
        [6, "A2", "r2", "2024-03-01", "stalled", "1", "30/04/2024", "", "", ""]])
    with pytest.raises(SourceError) as exc:
        convert_with_mapping(mapping, inp, tmp_path / "out")
    msg = _err(exc)
    assert exc.value.field == "stage" and "deals_2.csv" in msg
    assert "value 'stalled' in row 2 is not in the value_map of tables.opportunities.columns.stage" in msg
    assert "Fix: add `stalled: <contract value>` to that value_map, or give it a `default:`" in msg


@pytest.mark.parametrize("edit, field, words", [
    (("tables:\n", "tables:\n  widgets: {from: deals, columns: {}}\n"), "tables",
     "tables.widgets: not a raw contract table"),
    (("region: {const: EMEA}\n      country", "regio: {const: EMEA}\n      country"), "tables",
     "['regio'] not columns of customers"),
    (("from: accounts", "from: acounts"), "tables", "input 'acounts' is not defined under `inputs`"),
    (("{column: owner}", "{column: owner, const: x}"), "tables.customers.columns.owner_rep_id",
     "exactly one of column, const"),
    (("source: erp", "source: erp\nsurce: typo"), "surce", "Extra inputs are not permitted"),
])
def test_invalid_mapping_yaml(erp, tmp_path, edit, field, words):
    inp, mapping = erp
    text = mapping.read_text()
    assert edit[0] in text
    mapping.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(SourceError) as exc:
        convert_with_mapping(mapping, inp, tmp_path / "out")
    assert exc.value.source == "erp" and str(exc.value.file) == str(mapping)
    assert exc.value.field.startswith(field), exc.value.field
    assert words in str(exc.value) and "Fix:" in str(exc.value)


def test_yaml_syntax_error_and_yaml11_booleans(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: x\ntables: [\n", encoding="utf-8")
    with pytest.raises(SourceError, match="not valid YAML"):
        load_mapping(bad)
    # `on:` / `yes:` stay text keys (YAML 1.1 would read them as booleans)
    m = _mapping(tmp_path, """\
        source: x
        inputs: {a: {file: a.csv}, b: {file: b.csv}}
        tables:
          payments:
            from: a
            join: [{input: b, on: {k: k}, as: bb}]
            columns: {payment_id: k, order_id: k, paid_at: t, amount: {column: x, value_map: {yes: 1, no: 0}}}
        """)
    spec = load_mapping(m).tables["payments"]
    assert spec.join[0].on == {"k": "k"} and spec.columns["amount"].value_map == {"yes": 1, "no": 0}


def test_missing_input_file_and_optional_inputs(erp, tmp_path):
    inp, mapping = erp
    (inp / "people.jsonl").unlink()
    with pytest.raises(SourceError) as exc:
        convert_with_mapping(mapping, inp, tmp_path / "out")
    assert exc.value.field == "inputs.people.file" and "mark the input `optional: true`" in str(exc.value)
    mapping.write_text(mapping.read_text().replace("people: {file: people.jsonl}",
                                                   "people: {file: people.jsonl, optional: true}"), encoding="utf-8")
    res = convert_with_mapping(mapping, inp, tmp_path / "out")
    assert "reps" not in res.tables and any(w.startswith("reps: not written") for w in res.warnings)


def test_excel_input(tmp_path):
    import openpyxl  # a project dependency: this test fails, never skips, without it

    inp = tmp_path / "in"
    inp.mkdir()
    m = _mapping(tmp_path, """\
        source: sheet
        defaults: {currency: CNY}
        inputs: {p: {file: pay.xlsx}}
        tables:
          payments: {from: p, columns: {payment_id: id, order_id: order, paid_at: paid, amount: amt}}
        """)
    wb = openpyxl.Workbook()
    wb.active.append(["id", "order", "paid", "amt"])
    wb.active.append(["p1", "o1", "2024-01-02 10:00:00", 12.5])
    wb.save(inp / "pay.xlsx")
    convert_with_mapping(m, inp, tmp_path / "out")
    row = _read(tmp_path / "out" / "payments.csv")[0]
    assert row["payment_id"] == "p1" and row["order_id"] == "o1" and row["amount"] == "12.5"
    assert row["paid_at"].startswith("2024-01-02")


# --------------------------------------------------------------------------- the Olist worked example
@needs_olist
def test_olist_mapping_equals_the_hand_written_converter(tmp_path):
    from salespulse.examples.olist import olist_to_landing

    res = convert_with_mapping(MAPPINGS / "olist.yaml", OLIST, tmp_path / "mapped")
    assert res.tables == {"leads": 8000, "opportunities": 842, "customers": 842, "reps": 42}
    assert res.warnings == []
    olist_to_landing(OLIST, tmp_path / "reference")
    for table in res.tables:
        with (tmp_path / "mapped" / f"{table}.csv").open(encoding="utf-8") as a, \
                (tmp_path / "reference" / f"{table}.csv").open(encoding="utf-8") as b:
            mapped, reference = list(csv.reader(a)), list(csv.reader(b))
        assert mapped[0] == reference[0]
        assert sorted(mapped[1:]) == sorted(reference[1:]), table


@needs_olist
def test_olist_mapping_through_the_pipeline_gives_the_readme_figures(tmp_path):
    landing = tmp_path / "landing"
    convert_with_mapping(MAPPINGS / "olist.yaml", OLIST, landing)
    result, reporting = run_refresh(tmp_path, landing, "2018-12-31", FISCAL_YEAR_START_MONTH="12")
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    funnel = query(reporting, "select slice, slice_value, sum(leads) leads, sum(won) won from kpi_funnel "
                              "where period_type = 'month' group by all")
    company = funnel[funnel["slice"] == "company"].iloc[0]
    assert (int(company["leads"]), int(company["won"])) == (8000, 842)
    assert round(100 * company["won"] / company["leads"], 3) == 10.525
    by_channel = funnel[funnel["slice"] == "channel"].set_index("slice_value")
    social = by_channel.loc["social"]
    assert int(social["leads"]) == 1350 and round(100 * social["won"] / social["leads"], 2) == 5.56
    paid = by_channel.loc["paid_search"]
    assert round(100 * paid["won"] / paid["leads"], 2) == 12.30
    closing = query(reporting, "select count(distinct slice_value) n from kpi_win_rate "
                               "where slice = 'rep' and period_type = 'month' and won > 0")
    assert int(closing["n"].iloc[0]) == 22
