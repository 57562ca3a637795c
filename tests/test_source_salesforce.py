"""Salesforce adapter: the Fivetran shape data, hand-made Data Export / Bulk API CSVs, mapping errors.

The hand-made org (API field names, multi-currency in USD, warehouse reporting in CNY at 7.2):

* users: Ann (manages Bob and Cid), Bob (account executive), Cid (SDR, inactive since 2024-02-20);
* lead 00QA (Web) created 2024-01-05 09:00Z: an outbound call BEFORE its creation (ignored), an
  inbound call on 01-06, then an outbound email on 01-08 15:30Z = its first contact; LeadHistory says
  qualified on 01-15 10:00Z; converted on 2024-01-20 into account 001A and opportunity 006W;
* 006W won (USD 10,000, CloseDate 2024-02-10) with OpportunityHistory Prospecting -> Needs Analysis ->
  Value Proposition -> Proposal/Price Quote -> Closed Won; 006L lost (USD 5,000, 2024-02-15);
  006O open in the custom stage "Technical Evaluation" (mapped by a user YAML);
* Order 801A activated 2024-03-05 for USD 2,000 (no opportunity) and a Draft order (skipped); 006W has
  no Order, so one is synthesised from it.

By hand, in CNY: February 2024 closes = 1 won (72,000) + 1 lost (36,000): win rate 0.5, value win rate
72,000 / 108,000 = 2/3; bookings February 72,000 (the synthesised order), March 14,400 (801A).
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from salespulse.loader import LoadOptions, load_landing
from salespulse.sources.base import SourceError
from salespulse.sources.salesforce import SalesforceConfig, convert_salesforce

from conftest import SHARED_DATA, query, run_refresh, write_csv

SHAPE = SHARED_DATA / "salesforce_shape"
NOW = dt.datetime(2024, 3, 16, tzinfo=dt.UTC)


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    cols: list[str] = []
    for row in rows:
        cols += [c for c in row if c not in cols]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


# --------------------------------------------------------------------------- hand-made API export
def _api_org(folder: Path) -> Path:
    ts = "T00:00:00.000+0000"
    _write(folder / "UserRole.csv", [
        {"Id": "00EA", "Name": "Sales Manager - East"},
        {"Id": "00EB", "Name": "Account Executive"},
        {"Id": "00EC", "Name": "SDR - East"},
    ])
    _write(folder / "User.csv", [
        {"Id": "005A", "Name": "Ann Lee", "Email": "ann@example.com", "UserRoleId": "00EA", "ManagerId": "",
         "IsActive": "true", "Country": "US", "CreatedDate": "2023-01-02" + ts,
         "LastModifiedDate": "2023-06-01" + ts},
        {"Id": "005B", "Name": "Bob Ray", "Email": "bob@example.com", "UserRoleId": "00EB", "ManagerId": "005A",
         "IsActive": "true", "Country": "US", "CreatedDate": "2023-02-01" + ts,
         "LastModifiedDate": "2023-06-01" + ts},
        {"Id": "005C", "Name": "Cid Roe", "Email": "cid@example.com", "UserRoleId": "00EC", "ManagerId": "005A",
         "IsActive": "false", "Country": "US", "CreatedDate": "2023-03-01" + ts,
         "LastModifiedDate": "2024-02-20T10:00:00.000Z"},
    ])
    _write(folder / "Account.csv", [
        {"Id": "001A", "Name": "Acme", "NumberOfEmployees": "1500", "AnnualRevenue": "", "Industry": "Technology",
         "BillingState": "CA", "BillingCountry": "United States", "BillingCountryCode": "US", "Phone": "",
         "OwnerId": "005B", "AccountSource": "", "CreatedDate": "2024-01-20T09:00:00.000Z",
         "LastModifiedDate": "2024-01-20T09:00:00.000Z", "IsDeleted": "false"},
        {"Id": "001B", "Name": "Beta", "NumberOfEmployees": "", "AnnualRevenue": "20000000", "Industry": "",
         "BillingState": "", "BillingCountry": "", "BillingCountryCode": "", "Phone": "+1 555 0100",
         "OwnerId": "005B", "AccountSource": "Trade Show", "CreatedDate": "2023-11-01T09:00:00.000Z",
         "LastModifiedDate": "2023-11-01T09:00:00.000Z", "IsDeleted": "false"},
    ])
    _write(folder / "Contact.csv", [
        {"Id": "003A", "AccountId": "001A", "Email": "ceo@acme.example", "Phone": "+1 555 0199",
         "CreatedDate": "2024-01-20T09:00:00.000Z", "LastModifiedDate": "2024-01-20T09:00:00.000Z",
         "IsDeleted": "false"},
    ])
    _write(folder / "Lead.csv", [
        {"Id": "00QA", "CreatedDate": "2024-01-05T09:00:00.000Z", "LastModifiedDate": "2024-01-20T09:00:00.000Z",
         "OwnerId": "005C", "LeadSource": "Web", "Status": "Closed - Converted", "IsConverted": "true",
         "ConvertedDate": "2024-01-20", "ConvertedAccountId": "001A", "ConvertedOpportunityId": "006W",
         "ConvertedContactId": "003A", "Email": "lead@acme.example", "IsDeleted": "false"},
        {"Id": "00QB", "CreatedDate": "2024-01-10T09:00:00.000Z", "LastModifiedDate": "2024-01-12T15:00:00.000Z",
         "OwnerId": "005C", "LeadSource": "Purchased List", "Status": "Working - Contacted", "IsConverted": "false",
         "ConvertedDate": "", "ConvertedAccountId": "", "ConvertedOpportunityId": "", "ConvertedContactId": "",
         "Email": "", "IsDeleted": "false"},
    ])
    _write(folder / "LeadHistory.csv", [
        {"Id": "017A", "LeadId": "00QA", "Field": "Status", "OldValue": "Open - Not Contacted",
         "NewValue": "Working - Contacted", "CreatedDate": "2024-01-08T16:00:00.000Z", "IsDeleted": "false"},
        {"Id": "017B", "LeadId": "00QA", "Field": "Status", "OldValue": "Working - Contacted",
         "NewValue": "Qualified", "CreatedDate": "2024-01-15T10:00:00.000Z", "IsDeleted": "false"},
        {"Id": "017C", "LeadId": "00QA", "Field": "Rating", "OldValue": "", "NewValue": "Hot",
         "CreatedDate": "2024-01-16T10:00:00.000Z", "IsDeleted": "false"},
        {"Id": "017D", "LeadId": "00QA", "Field": "Status", "OldValue": "Qualified",
         "NewValue": "Closed - Converted", "CreatedDate": "2024-01-20T09:00:00.000Z", "IsDeleted": "false"},
    ])

    def task(tid, who, what, typ, subtype, call_type, done, account="", subject="Follow up"):
        return {"Id": tid, "WhoId": who, "WhatId": what, "AccountId": account, "OwnerId": "005C",
                "Type": typ, "TaskSubtype": subtype, "CallType": call_type, "Subject": subject,
                "ActivityDate": done[:10], "CompletedDateTime": done, "CreatedDate": done,
                "LastModifiedDate": done, "IsDeleted": "false"}

    _write(folder / "Task.csv", [
        task("00TC", "00QA", "", "Call", "Call", "Outbound", "2024-01-04T08:00:00.000Z"),  # before creation
        task("00TA", "00QA", "", "Call", "Call", "Inbound", "2024-01-06T10:00:00.000Z"),
        task("00TB", "00QA", "", "Email", "Email", "", "2024-01-08T15:30:00.000Z", subject="Intro"),
        task("00TD", "00QA", "", "", "Task", "", "2024-01-09T15:30:00.000Z", subject="Prepare deck"),  # to-do
        task("00TE", "003A", "006W", "Call", "Call", "Outbound", "2024-01-25T10:00:00.000Z", account="001A"),
    ])
    _write(folder / "Event.csv", [
        {"Id": "00UA", "WhoId": "00QB", "WhatId": "", "AccountId": "", "OwnerId": "005C", "Type": "Demo",
         "EventSubtype": "Event", "Subject": "Product demo", "StartDateTime": "2024-01-12T14:00:00.000Z",
         "ActivityDateTime": "2024-01-12T14:00:00.000Z", "ActivityDate": "2024-01-12",
         "CreatedDate": "2024-01-11T09:00:00.000Z", "LastModifiedDate": "2024-01-12T15:00:00.000Z",
         "IsDeleted": "false"},
    ])

    def opp(oid, account, stage, amount, close, closed, won, created, loss=""):
        return {"Id": oid, "AccountId": account, "OwnerId": "005B", "Name": oid, "StageName": stage,
                "Amount": amount, "CurrencyIsoCode": "USD", "CloseDate": close, "IsClosed": closed, "IsWon": won,
                "Loss_Reason__c": loss, "CreatedDate": created, "LastModifiedDate": created.replace("01-2", "02-2"),
                "IsDeleted": "false"}

    _write(folder / "Opportunity.csv", [
        opp("006W", "001A", "Closed Won", "10000", "2024-02-10", "true", "true", "2024-01-20T09:00:00.000Z"),
        opp("006L", "001B", "Closed Lost", "5000", "2024-02-15", "true", "false", "2024-01-22T09:00:00.000Z",
            loss="Price"),
        opp("006O", "001B", "Technical Evaluation", "3000", "2024-04-30", "false", "false",
            "2024-01-25T09:00:00.000Z"),
    ])
    _write(folder / "OpportunityHistory.csv", [
        {"Id": "008A", "OpportunityId": "006W", "StageName": "Prospecting", "Amount": "8000",
         "CreatedDate": "2024-01-20T09:00:00.000Z", "IsDeleted": "false"},
        {"Id": "008B", "OpportunityId": "006W", "StageName": "Needs Analysis", "Amount": "8000",
         "CreatedDate": "2024-01-25T09:00:00.000Z", "IsDeleted": "false"},
        {"Id": "008C", "OpportunityId": "006W", "StageName": "Value Proposition", "Amount": "10000",
         "CreatedDate": "2024-01-28T09:00:00.000Z", "IsDeleted": "false"},
        {"Id": "008D", "OpportunityId": "006W", "StageName": "Proposal/Price Quote", "Amount": "10000",
         "CreatedDate": "2024-02-01T09:00:00.000Z", "IsDeleted": "false"},
        {"Id": "008E", "OpportunityId": "006W", "StageName": "Closed Won", "Amount": "10000",
         "CreatedDate": "2024-02-10T17:00:00.000Z", "IsDeleted": "false"},
        {"Id": "008F", "OpportunityId": "006W", "StageName": "Closed Won", "Amount": "10000",  # amount edit
         "CreatedDate": "2024-02-11T08:00:00.000Z", "IsDeleted": "false"},
        {"Id": "008G", "OpportunityId": "006L", "StageName": "Prospecting", "Amount": "5000",
         "CreatedDate": "2024-01-22T09:00:00.000Z", "IsDeleted": "false"},
        {"Id": "008H", "OpportunityId": "006L", "StageName": "Closed Lost", "Amount": "5000",
         "CreatedDate": "2024-02-15T11:00:00.000Z", "IsDeleted": "false"},
    ])
    _write(folder / "Order.csv", [
        {"Id": "801A", "AccountId": "001B", "OpportunityId": "", "OwnerId": "005B", "EffectiveDate": "2024-03-05",
         "TotalAmount": "2000", "CurrencyIsoCode": "USD", "Status": "Activated",
         "CreatedDate": "2024-03-05T08:00:00.000Z", "LastModifiedDate": "2024-03-05T08:00:00.000Z",
         "IsDeleted": "false"},
        {"Id": "801D", "AccountId": "001B", "OpportunityId": "", "OwnerId": "005B", "EffectiveDate": "2024-03-06",
         "TotalAmount": "999", "CurrencyIsoCode": "USD", "Status": "Draft",
         "CreatedDate": "2024-03-06T08:00:00.000Z", "LastModifiedDate": "2024-03-06T08:00:00.000Z",
         "IsDeleted": "false"},
    ])
    return folder


def _user_yaml(tmp: Path, extra: str = "") -> Path:
    path = tmp / "salesforce.yaml"
    path.write_text("stages:\n  Technical Evaluation: proposal\nloss_reason_field: Loss_Reason__c\n" + extra,
                    encoding="utf-8")
    return path


FX = [{"rate_date": "2024-01-01", "currency": "USD", "rate_to_reporting": "7.2"}]


@pytest.fixture
def api_org(tmp_path) -> Path:
    return _api_org(tmp_path / "export")


def _convert(tmp_path: Path, export: Path, **kw):
    config = SalesforceConfig.from_yaml(_user_yaml(tmp_path))
    landing = tmp_path / "landing"
    result = convert_salesforce(export, landing, config=config, **kw)
    return result, landing


def test_api_export_converts_to_exact_rows(tmp_path, api_org):
    result, landing = _convert(tmp_path, api_org)
    assert result.tables == {"reps": 3, "customers": 2, "leads": 2, "opportunities": 3,
                             "opportunity_stage_history": 6, "activities": 5, "orders": 2}

    reps = _read(landing / "reps.csv").set_index("rep_id")
    assert reps.loc["005A", ["role", "team_name", "manager_rep_id", "left_on"]].tolist() == [
        "manager", "Sales Manager - East", "", ""]
    assert reps.loc["005B", ["role", "team_id", "manager_rep_id", "hired_on"]].tolist() == [
        "rep", "00EB", "005A", "2023-02-01"]
    assert reps.loc["005C", ["role", "left_on", "region"]].tolist() == ["sdr", "2024-02-20", "US"]

    cust = _read(landing / "customers.csv").set_index("customer_id")
    # Acme: 1,500 employees, channel of the converted lead (Web), email of its first contact
    assert cust.loc["001A", ["segment", "industry", "region", "country", "acquisition_channel", "email", "phone"]
                    ].tolist() == ["enterprise", "Technology", "CA", "US", "organic", "ceo@acme.example",
                                   "+1 555 0199"]
    # Beta: revenue 20 M -> mid_market, AccountSource Trade Show -> event, no industry -> unknown
    assert cust.loc["001B", ["segment", "industry", "region", "acquisition_channel", "email"]].tolist() == [
        "mid_market", "unknown", "unknown", "event", "unknown"]

    leads = _read(landing / "leads.csv").set_index("lead_id")
    a = leads.loc["00QA"]
    assert a["channel"] == "organic"
    assert a["first_contacted_at"] == "2024-01-08T15:30:00+00:00"  # the outbound email, not the inbound call
    assert a["qualified_at"] == "2024-01-15T10:00:00+00:00"  # LeadHistory, not ConvertedDate
    assert (a["converted_customer_id"], a["converted_opportunity_id"]) == ("001A", "006W")
    b = leads.loc["00QB"]
    assert (b["channel"], b["first_contacted_at"], b["qualified_at"], b["email"]) == (
        "outbound", "2024-01-12T14:00:00+00:00", "", "unknown")

    opps = _read(landing / "opportunities.csv").set_index("opportunity_id")
    assert opps.loc["006W", ["stage", "is_won", "is_closed", "closed_at", "amount", "currency", "lead_id"]
                    ].tolist() == ["closed_won", "true", "true", "2024-02-10T12:00:00+00:00", "10000", "USD", "00QA"]
    assert opps.loc["006L", ["stage", "is_won", "is_closed", "loss_reason", "expected_close_on"]].tolist() == [
        "closed_lost", "false", "true", "Price", "2024-02-15"]
    assert opps.loc["006O", ["stage", "is_closed", "closed_at", "loss_reason"]].tolist() == [
        "proposal", "false", "", ""]

    hist = _read(landing / "opportunity_stage_history.csv")
    assert hist.values.tolist() == [
        ["006W", "prospecting", "2024-01-20T09:00:00+00:00"],
        ["006W", "qualification", "2024-01-25T09:00:00+00:00"],
        ["006W", "proposal", "2024-01-28T09:00:00+00:00"],
        ["006W", "closed_won", "2024-02-10T17:00:00+00:00"],
        ["006L", "prospecting", "2024-01-22T09:00:00+00:00"],
        ["006L", "closed_lost", "2024-02-15T11:00:00+00:00"],
    ]

    acts = _read(landing / "activities.csv").set_index("activity_id")
    assert "00TD" not in acts.index  # a to-do task is not a customer touch
    assert acts.loc["00TA", ["activity_type", "direction", "lead_id"]].tolist() == ["call", "inbound", "00QA"]
    assert acts.loc["00TB", ["activity_type", "direction"]].tolist() == ["email", "outbound"]
    # the converted contact's call belongs to the lead, the opportunity and the account
    assert acts.loc["00TE", ["lead_id", "opportunity_id", "customer_id"]].tolist() == ["00QA", "006W", "001A"]
    assert acts.loc["00UA", ["activity_type", "direction", "occurred_at"]].tolist() == [
        "demo", "outbound", "2024-01-12T14:00:00+00:00"]

    orders = _read(landing / "orders.csv").set_index("order_id")
    assert sorted(orders.index) == ["801A", "opp-006W"]  # the Draft order is not signed yet
    assert orders.loc["opp-006W", ["customer_id", "opportunity_id", "rep_id", "signed_at", "amount", "currency",
                                   "status"]].tolist() == [
        "001A", "006W", "005B", "2024-02-10T12:00:00+00:00", "10000", "USD", "active"]
    assert orders.loc["801A", ["signed_at", "amount", "status", "opportunity_id"]].tolist() == [
        "2024-03-05T12:00:00+00:00", "2000", "active", ""]


def test_api_export_loads_without_quarantine(tmp_path, api_org):
    _result, landing = _convert(tmp_path, api_org, namespace="sf")
    write_csv(landing / "fx_rates.csv", "fx_rates", FX)
    assert _read(landing / "orders.csv")["order_id"].tolist()[-1] == "sf:opp-006W"
    loads = load_landing(tmp_path / "build.duckdb", landing,
                         options=LoadOptions(source_system="salesforce", now=NOW))
    assert {t: (r.rows_loaded, r.rows_quarantined) for t, r in loads.items() if r.files} == {
        "fx_rates": (1, 0), "reps": (3, 0), "customers": (2, 0), "leads": (2, 0), "opportunities": (3, 0),
        "opportunity_stage_history": (6, 0), "activities": (5, 0), "orders": (2, 0)}
    assert all(r.error is None for r in loads.values())


def test_unknown_stage_names_source_file_field_and_fix(tmp_path, api_org):
    with pytest.raises(SourceError) as err:
        convert_salesforce(api_org, tmp_path / "landing", source="crm_sf")  # no user YAML
    msg = str(err.value)
    assert "'crm_sf'" in msg and "Opportunity.csv" in msg and "'StageName'" in msg
    assert "'Technical Evaluation'" in msg and "under stages" in msg and "Fix:" in msg
    assert not (tmp_path / "landing").exists()  # nothing half-written


def test_required_field_missing_names_the_contract_column(tmp_path, api_org):
    df = _read(api_org / "Opportunity.csv").drop(columns=["AccountId"])
    df.to_csv(api_org / "Opportunity.csv", index=False)
    with pytest.raises(SourceError) as err:
        _convert(tmp_path, api_org)
    msg = str(err.value)
    assert "Opportunity.csv" in msg and "'AccountId'" in msg and "opportunities.customer_id" in msg
    assert "Fix: include AccountId" in msg


def test_value_map_misses_name_the_section(tmp_path, api_org):
    df = _read(api_org / "Lead.csv")
    df.loc[1, "LeadSource"] = "Carrier Pigeon"
    df.to_csv(api_org / "Lead.csv", index=False)
    with pytest.raises(SourceError) as err:
        _convert(tmp_path, api_org)
    msg = str(err.value)
    assert "Lead.csv" in msg and "'LeadSource'" in msg and "under lead_sources" in msg

    df.loc[1, "LeadSource"] = "Web"
    df.loc[1, "Status"] = "Sleeping"
    df.to_csv(api_org / "Lead.csv", index=False)
    with pytest.raises(SourceError) as err:
        _convert(tmp_path, api_org)
    assert "'Status'" in str(err.value) and "under lead_statuses" in str(err.value)


def test_config_errors_name_file_field_and_fix(tmp_path, api_org):
    # a field the export does not have
    path = _user_yaml(tmp_path)
    path.write_text("stages:\n  Technical Evaluation: proposal\nloss_reason_field: Why_Lost__c\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        convert_salesforce(api_org, tmp_path / "landing", config=SalesforceConfig.from_yaml(path))
    msg = str(err.value)
    assert "Opportunity.csv" in msg and "'Why_Lost__c'" in msg and "loss_reason_field" in msg
    # an unknown key and a bad value in the YAML itself
    path.write_text("stage_map: {}\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        SalesforceConfig.from_yaml(path)
    assert "salesforce.yaml" in str(err.value) and "'stage_map'" in str(err.value) and "known keys" in str(err.value)
    path.write_text("lead_sources:\n  Web: website\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        SalesforceConfig.from_yaml(path)
    assert "'lead_sources.Web'" in str(err.value)


def test_user_yaml_merges_over_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("default_currency: EUR\nstages:\n  Closed Won: won\n  Prospecting: null\n", encoding="utf-8")
    cfg = SalesforceConfig.from_yaml(path)
    assert cfg.default_currency == "EUR"
    assert cfg.stages["Closed Won"] == "won" and "Prospecting" not in cfg.stages
    assert cfg.stages["Closed Lost"] == "closed_lost"  # other defaults kept
    assert SalesforceConfig.defaults().default_currency == "USD"


def test_api_export_full_refresh_win_rate_and_revenue(tmp_path, api_org):
    _result, landing = _convert(tmp_path, api_org)
    write_csv(landing / "fx_rates.csv", "fx_rates", FX)
    result, reporting = run_refresh(tmp_path, landing, "2024-03-15")
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    win = query(reporting, "select won, lost, win_rate, won_amount, closed_amount, win_rate_value from kpi_win_rate "
                           "where period_type = 'month' and period_start = date '2024-02-01' and slice = 'company'")
    assert len(win) == 1
    w = win.iloc[0]
    assert (int(w["won"]), int(w["lost"])) == (1, 1)
    assert float(w["win_rate"]) == pytest.approx(0.5)
    assert float(w["won_amount"]) == pytest.approx(72000)
    assert float(w["closed_amount"]) == pytest.approx(108000)
    assert float(w["win_rate_value"]) == pytest.approx(2 / 3)
    rev = query(reporting, "select period_start, bookings, orders from kpi_revenue where period_type = 'month' "
                           "and slice = 'company' and period_start >= date '2024-02-01' order by period_start")
    assert [(str(r.period_start)[:10], float(r.bookings), int(r.orders)) for r in rev.itertuples()] == [
        ("2024-02-01", 72000.0, 1), ("2024-03-01", 14400.0, 1)]


# --------------------------------------------------------------------------- the Fivetran shape data
SHAPE_CONFIG = """\
# the seed data's StageName values are hashed: map them (their IsWon/IsClosed tell which is which)
stages:
  GavUFuuf4DrnQAoiRGlWpQ==: closed_won
  tXi3M8u3iPxq0ggxTSxMKw==: closed_lost
  9RN9J3tlxr89gDctReax5w==: negotiation
unknown_channel: other   # hashed AccountSource values
"""


@pytest.fixture
def shape(tmp_path):
    if not SHAPE.is_dir():
        pytest.skip(f"shared Salesforce shape data not found at {SHAPE}")
    cfg = tmp_path / "shape.yaml"
    cfg.write_text(SHAPE_CONFIG, encoding="utf-8")
    landing = tmp_path / "landing"
    result = convert_salesforce(SHAPE, landing, config=SalesforceConfig.from_yaml(cfg))
    return result, landing


def test_fivetran_shape_converts(shape):
    result, landing = shape
    # 10 Tasks are to-dos (Type 'X'/empty, TaskSubtype 'Task'); 10 Events are Calls and Meetings;
    # 10 Orders + 5 orders synthesised from the 5 won opportunities (no Order names an opportunity)
    assert result.tables == {"reps": 10, "customers": 10, "leads": 1, "opportunities": 10,
                             "opportunity_stage_history": 10, "activities": 10, "orders": 15}
    assert any("sf_product_2_data.csv" in w for w in result.warnings)
    opps = _read(landing / "opportunities.csv")
    assert opps["stage"].value_counts().to_dict() == {"closed_won": 5, "closed_lost": 4, "negotiation": 1}
    assert opps["is_deleted"].eq("true").all() and opps["currency"].eq("USD").all()
    lead = _read(landing / "leads.csv").iloc[0]
    assert (lead["lead_id"], lead["converted_customer_id"], lead["qualified_at"]) == (
        "00Q1G00000nDnM5UAK", "0011G00000tLWKnQAO", "2019-11-11T17:23:34+00:00")
    reps = _read(landing / "reps.csv").set_index("rep_id")
    assert reps.loc["005q0000004k6QEAAY", "left_on"] == "2019-04-04"  # is_active false
    # TLZtnkcZltX8lijWYSQqRg== manages 6 users but is not itself a user: nobody in the file is a manager
    assert set(reps["role"]) == {"rep"}


def test_fivetran_shape_loads_with_exactly_the_orphans_of_unrelated_seeds(tmp_path, shape):
    """The seed tables come from unrelated fixtures: no owner id of an account, lead, opportunity,
    activity or order is a user id of sf_user_data, and opportunity account ids are hashed. Every
    quarantined row is such an orphan reference; nothing else (types, accepted values, required
    values) is rejected."""
    _result, landing = shape
    loads = load_landing(tmp_path / "build.duckdb", landing,
                         options=LoadOptions(source_system="salesforce", reporting_currency="USD", now=NOW))
    assert {t: (r.rows_loaded, r.rows_quarantined) for t, r in loads.items() if r.files} == {
        "reps": (10, 0), "customers": (0, 10), "leads": (0, 1), "opportunities": (0, 10),
        "opportunity_stage_history": (10, 0), "activities": (0, 10), "orders": (0, 15)}
    reasons = query(tmp_path / "build.duckdb", """
        select 'customers' as t, _column, _reason from quarantine.customers union all
        select 'leads', _column, _reason from quarantine.leads union all
        select 'opportunities', _column, _reason from quarantine.opportunities union all
        select 'activities', _column, _reason from quarantine.activities union all
        select 'orders', _column, _reason from quarantine.orders""")
    assert reasons["_reason"].str.startswith("orphan reference: no reps with rep_id").all()
    assert set(reasons["_column"]) == {"owner_rep_id", "rep_id"}

    # Without the users every FK to reps is unchecked: customers, leads and activities load whole;
    # opportunities and orders point at accounts that are not in sf_account_data.
    (landing / "reps.csv").unlink()
    loads = load_landing(tmp_path / "build2.duckdb", landing,
                         options=LoadOptions(source_system="salesforce", reporting_currency="USD", now=NOW))
    assert {t: (r.rows_loaded, r.rows_quarantined) for t, r in loads.items() if r.files} == {
        "customers": (10, 0), "leads": (1, 0), "opportunities": (0, 10),
        "opportunity_stage_history": (10, 0), "activities": (10, 0), "orders": (0, 15)}
    cols = query(tmp_path / "build2.duckdb", "select distinct _column, _reason like 'orphan reference: no customers%' "
                                             "as orphan from quarantine.orders union select distinct _column, "
                                             "_reason like 'orphan reference: no customers%' from "
                                             "quarantine.opportunities")
    assert cols.values.tolist() == [["customer_id", True]]
