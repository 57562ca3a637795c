"""HubSpot source adapter (salespulse.sources.hubspot): conversion, loading, the v3 fetcher, a full run.

Data: hand-made CRM API v3 records in the documented shapes (objects with ``properties``,
owners with ``teams``, deal pipelines with stage ``metadata``, ``propertiesWithHistory.dealstage``
and ``associations``), and Fivetran's HubSpot seed tables in ../shared/data/hubspot_shape.
The fetcher runs against a fake HubSpot server on 127.0.0.1 in a thread.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import json
import logging
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from salespulse.loader import LoadOptions, load_landing
from salespulse.sources.base import SourceError
from salespulse.sources.hubspot import (
    HubSpotConfig,
    HubSpotHTTPError,
    convert_hubspot,
    fetch_hubspot,
)

from conftest import SHARED_DATA, query, run_refresh

HUBSPOT_SHAPE = SHARED_DATA / "hubspot_shape"
TOKEN = "pat-na1-TEST-SECRET-0d5e1c"
CONFIG = {"default_currency": "CNY"}


# =========================================================================== hand-made v3 records
def _obj(oid, props, created, updated, **extra):
    return {"id": oid, "properties": props, "createdAt": created, "updatedAt": updated, "archived": False, **extra}


def _assoc(kind, link, *ids):
    return {kind: {"results": [{"id": i, "type": link} for i in ids]}}


PIPELINES = [{
    "id": "default", "label": "Sales Pipeline", "displayOrder": 0, "archived": False,
    "stages": [
        {"id": "appointmentscheduled", "label": "Appointment Scheduled", "displayOrder": 0,
         "metadata": {"isClosed": "false", "probability": "0.2"}},
        {"id": "qualifiedtobuy", "label": "Qualified To Buy", "displayOrder": 1,
         "metadata": {"isClosed": "false", "probability": "0.4"}},
        {"id": "closedwon", "label": "Closed Won", "displayOrder": 5,
         "metadata": {"isClosed": "true", "probability": "1.0"}},
        {"id": "closedlost", "label": "Closed Lost", "displayOrder": 6,
         "metadata": {"isClosed": "true", "probability": "0.0"}},
    ],
}]
OWNERS = [
    {"id": "101", "email": "ann@example.com", "firstName": "Ann", "lastName": "Lee", "userId": 1,
     "teams": [{"id": "7", "name": "East", "primary": True}], "archived": False,
     "createdAt": "2023-01-05T09:00:00Z", "updatedAt": "2024-01-02T00:00:00Z"},
    {"id": "102", "email": "bob@example.com", "firstName": "Bob", "lastName": "Wu", "userId": 2,
     "teams": [], "archived": False, "createdAt": "2023-02-01T09:00:00Z", "updatedAt": "2024-01-03T00:00:00Z"},
]
COMPANIES = [
    _obj("501", {"name": "Acme", "industry": "MANUFACTURING", "country": "China", "phone": "+86 10 1234",
                 "createdate": "2024-01-10T02:00:00Z", "hs_lastmodifieddate": "2024-03-10T05:00:00Z",
                 "hubspot_owner_id": "101", "hs_analytics_source": "PAID_SEARCH"},
         "2024-01-10T02:00:00Z", "2024-03-10T05:00:00Z"),
    _obj("502", {"name": "Beta", "industry": None, "country": None, "phone": None,
                 "createdate": "2024-02-01T00:00:00Z", "hs_lastmodifieddate": "2024-02-02T00:00:00Z",
                 "hubspot_owner_id": "102", "hs_analytics_source": "REFERRALS"},
         "2024-02-01T00:00:00Z", "2024-02-02T00:00:00Z"),
]
CONTACTS = [
    _obj("9001", {"email": "a@acme.example", "createdate": "2024-01-08T01:00:00Z",
                  "hs_lifecyclestage_lead_date": "2024-01-09T03:00:00Z",
                  "hs_sa_first_engagement_date": "2024-01-09T08:00:00Z",
                  "hs_lifecyclestage_salesqualifiedlead_date": "2024-01-20T00:00:00Z",
                  "hs_lifecyclestage_customer_date": "2024-03-10T06:00:00Z", "lifecyclestage": "customer",
                  "associatedcompanyid": "501", "hubspot_owner_id": "101", "hs_analytics_source": "PAID_SEARCH",
                  "lastmodifieddate": "2024-03-10T06:00:00Z"},
         "2024-01-08T01:00:00Z", "2024-03-10T06:00:00Z", associations=_assoc("deals", "contact_to_deal", "7001")),
    _obj("9002", {"email": "b@beta.example", "createdate": "2024-02-01T00:00:00Z",
                  "hs_lifecyclestage_lead_date": None, "lifecyclestage": "salesqualifiedlead",
                  "hs_lifecyclestage_salesqualifiedlead_date": "2024-02-05T00:00:00Z",
                  "associatedcompanyid": "502", "hubspot_owner_id": None, "hs_analytics_source": "",
                  "lastmodifieddate": "2024-02-05T00:00:00Z"},
         "2024-02-01T00:00:00Z", "2024-02-05T00:00:00Z", associations=_assoc("deals", "contact_to_deal", "7002")),
]


def _deal(oid, stage, amount, created, closedate, modified, owner, company, contact, history=(), **props):
    return _obj(
        oid,
        {"dealname": f"Deal {oid}", "amount": amount, "closedate": closedate, "createdate": created,
         "dealstage": stage, "pipeline": "default", "hubspot_owner_id": owner, "hs_lastmodifieddate": modified,
         **props},
        created, modified,
        propertiesWithHistory={"dealstage": [
            {"value": v, "timestamp": t, "sourceType": "CRM_UI"} for v, t in history]},
        associations={**_assoc("companies", "deal_to_company", company),
                      **(_assoc("contacts", "deal_to_contact", contact) if contact else {})},
    )


DEALS = [
    _deal("7001", "closedwon", "1200.50", "2024-01-21T00:00:00Z", "2024-03-10T04:00:00Z", "2024-03-10T05:00:00Z",
          "101", "501", "9001",
          history=[("closedwon", "2024-03-10T04:00:00Z"), ("qualifiedtobuy", "2024-02-01T00:00:00Z"),
                   ("appointmentscheduled", "2024-01-21T00:00:00Z")],
          deal_currency_code="CNY"),
    _deal("7002", "closedlost", "800", "2024-02-06T00:00:00Z", "2024-03-20T04:00:00Z", "2024-03-20T05:00:00Z",
          "102", "502", "9002",
          history=[("closedlost", "2024-03-20T04:00:00Z"), ("appointmentscheduled", "2024-02-06T00:00:00Z")],
          closed_lost_reason="Budget"),
    _deal("7003", "closedwon", "500", "2024-03-01T00:00:00Z", "2024-04-05T04:00:00Z", "2024-04-05T05:00:00Z",
          "102", "502", None),
    _deal("7004", "appointmentscheduled", "300", "2024-04-10T00:00:00Z", "2024-05-31T00:00:00Z",
          "2024-04-10T00:00:00Z", "101", "501", None),
]


def write_v3(folder: Path, **override) -> Path:
    """Save the hand-made records as fetch_hubspot does: <object>.json = {"results": [...]}."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"deals": DEALS, "contacts": CONTACTS, "companies": COMPANIES, "owners": OWNERS,
            "pipelines": PIPELINES, **override}
    for name, results in data.items():
        (folder / f"{name}.json").write_text(json.dumps({"results": results}), encoding="utf-8")
    return folder


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def fetch(db: Path, sql: str) -> list[tuple]:
    """Rows of ``sql`` on a DuckDB file opened read-only, as tuples (NULL stays None)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def by_id(rows, key):
    return {r[key]: r for r in rows}


def cfg(**over):
    return HubSpotConfig.from_dict({**CONFIG, **over}, file="test.yaml")


# =========================================================================== conversion: exact rows
def test_v3_won_and_lost_deals_convert_to_exact_rows(tmp_path):
    result = convert_hubspot(write_v3(tmp_path / "in"), tmp_path / "out", config=cfg())
    out = tmp_path / "out"
    assert result.tables == {"reps": 3, "customers": 2, "leads": 2, "opportunities": 4,
                             "opportunity_stage_history": 5, "orders": 2}
    assert result.warnings == []
    opps = by_id(read_rows(out / "opportunities.csv"), "opportunity_id")
    assert opps["7001"] == {
        "opportunity_id": "7001", "customer_id": "501", "lead_id": "9001", "owner_rep_id": "101",
        "created_at": "2024-01-21T00:00:00+00:00", "stage": "Closed Won", "amount": "1200.50", "currency": "CNY",
        "expected_close_on": "2024-03-10", "closed_at": "2024-03-10T04:00:00+00:00", "is_closed": "true",
        "is_won": "true", "loss_reason": "", "updated_at": "2024-03-10T05:00:00+00:00", "is_deleted": "false",
    }
    assert opps["7002"] == {
        "opportunity_id": "7002", "customer_id": "502", "lead_id": "9002", "owner_rep_id": "102",
        "created_at": "2024-02-06T00:00:00+00:00", "stage": "Closed Lost", "amount": "800", "currency": "CNY",
        "expected_close_on": "2024-03-20", "closed_at": "2024-03-20T04:00:00+00:00", "is_closed": "true",
        "is_won": "false", "loss_reason": "Budget", "updated_at": "2024-03-20T05:00:00+00:00",
        "is_deleted": "false",
    }
    # open deal: not closed, expected close = closedate's day
    assert (opps["7004"]["is_closed"], opps["7004"]["is_won"], opps["7004"]["closed_at"],
            opps["7004"]["expected_close_on"], opps["7004"]["lead_id"]) == ("false", "false", "", "2024-05-31", "")
    history = read_rows(out / "opportunity_stage_history.csv")
    assert history == [
        {"opportunity_id": "7001", "stage": "Appointment Scheduled", "entered_at": "2024-01-21T00:00:00+00:00"},
        {"opportunity_id": "7001", "stage": "Qualified To Buy", "entered_at": "2024-02-01T00:00:00+00:00"},
        {"opportunity_id": "7001", "stage": "Closed Won", "entered_at": "2024-03-10T04:00:00+00:00"},
        {"opportunity_id": "7002", "stage": "Appointment Scheduled", "entered_at": "2024-02-06T00:00:00+00:00"},
        {"opportunity_id": "7002", "stage": "Closed Lost", "entered_at": "2024-03-20T04:00:00+00:00"},
    ]
    orders = read_rows(out / "orders.csv")
    assert orders[0] == {
        "order_id": "deal-7001", "customer_id": "501", "opportunity_id": "7001", "rep_id": "101",
        "signed_at": "2024-03-10T04:00:00+00:00", "amount": "1200.50", "cost": "", "currency": "CNY",
        "status": "active", "updated_at": "2024-03-10T05:00:00+00:00", "is_deleted": "false",
    }
    assert [o["order_id"] for o in orders] == ["deal-7001", "deal-7003"]  # no order for the lost deal
    leads = by_id(read_rows(out / "leads.csv"), "lead_id")
    assert leads["9001"] == {
        "lead_id": "9001", "created_at": "2024-01-09T03:00:00+00:00", "channel": "paid_search",
        "campaign_id": "", "owner_rep_id": "101", "first_contacted_at": "2024-01-09T08:00:00+00:00",
        "qualified_at": "2024-01-20T00:00:00+00:00", "disqualified_at": "", "converted_customer_id": "501",
        "converted_opportunity_id": "7001", "email": "a@acme.example", "updated_at": "2024-03-10T06:00:00+00:00",
        "is_deleted": "false",
    }
    # no lead date -> createdate; empty source -> default channel; no owner -> placeholder rep;
    # not a customer yet -> not converted
    assert leads["9002"] == {
        "lead_id": "9002", "created_at": "2024-02-01T00:00:00+00:00", "channel": "other", "campaign_id": "",
        "owner_rep_id": "hubspot_unassigned", "first_contacted_at": "", "qualified_at": "2024-02-05T00:00:00+00:00",
        "disqualified_at": "", "converted_customer_id": "", "converted_opportunity_id": "",
        "email": "b@beta.example", "updated_at": "2024-02-05T00:00:00+00:00", "is_deleted": "false",
    }
    reps = by_id(read_rows(out / "reps.csv"), "rep_id")
    assert reps["101"] == {"rep_id": "101", "rep_name": "Ann Lee", "email": "ann@example.com", "team_id": "7",
                           "team_name": "East", "region": "unknown", "manager_rep_id": "", "role": "rep",
                           "hired_on": "2023-01-05", "left_on": "", "updated_at": "2024-01-02T00:00:00+00:00"}
    assert (reps["102"]["team_id"], reps["102"]["team_name"]) == ("hubspot_no_team", "No team")
    assert reps["hubspot_unassigned"]["updated_at"] == "1970-01-01T00:00:00+00:00"
    customers = by_id(read_rows(out / "customers.csv"), "customer_id")
    assert customers["501"] == {
        "customer_id": "501", "customer_name": "Acme", "segment": "smb", "industry": "MANUFACTURING",
        "region": "unknown", "country": "China", "acquisition_channel": "paid_search",
        "referred_by_customer_id": "", "owner_rep_id": "101", "created_at": "2024-01-10T02:00:00+00:00",
        "churned_at": "", "email": "unknown", "phone": "+86 10 1234", "updated_at": "2024-03-10T05:00:00+00:00",
        "is_deleted": "false",
    }
    assert (customers["502"]["industry"], customers["502"]["country"], customers["502"]["acquisition_channel"]) \
        == ("unknown", "unknown", "referral")


def test_v3_namespace_and_config_maps(tmp_path):
    config = cfg(reps={"team_roles": {"East": "manager"}, "team_regions": {"7": "north"}},
                 stage_value="id", orders={"order_id_prefix": "hs-order-"})
    convert_hubspot(write_v3(tmp_path / "in"), tmp_path / "out", config=config, namespace="hs")
    reps = by_id(read_rows(tmp_path / "out" / "reps.csv"), "rep_id")
    assert (reps["hs:101"]["role"], reps["hs:101"]["region"], reps["hs:101"]["team_id"]) == ("manager", "north", "hs:7")
    opp = by_id(read_rows(tmp_path / "out" / "opportunities.csv"), "opportunity_id")["hs:7001"]
    assert (opp["stage"], opp["customer_id"], opp["owner_rep_id"]) == ("closedwon", "hs:501", "hs:101")
    assert read_rows(tmp_path / "out" / "orders.csv")[0]["order_id"] == "hs:hs-order-7001"


def test_reopened_deal_gets_a_deleted_order(tmp_path):
    """A deal that was won (history) and is open again: its synthesized order is deleted."""
    reopened = copy.deepcopy(DEALS[0])
    reopened["properties"].update(dealstage="qualifiedtobuy", hs_lastmodifieddate="2024-03-15T00:00:00Z")
    reopened["propertiesWithHistory"]["dealstage"].insert(0, {"value": "qualifiedtobuy",
                                                              "timestamp": "2024-03-15T00:00:00Z"})
    convert_hubspot(write_v3(tmp_path / "in", deals=[reopened]), tmp_path / "out", config=cfg())
    (order,) = read_rows(tmp_path / "out" / "orders.csv")
    assert (order["order_id"], order["is_deleted"], order["signed_at"], order["updated_at"]) == (
        "deal-7001", "true", "2024-03-10T04:00:00+00:00", "2024-03-15T00:00:00+00:00")


def test_hs_is_closed_won_property_overrides_stage_metadata(tmp_path):
    deal = copy.deepcopy(DEALS[3])
    deal["properties"].update(hs_is_closed="true", hs_is_closed_won="true")
    convert_hubspot(write_v3(tmp_path / "in", deals=[deal]), tmp_path / "out", config=cfg())
    (opp,) = read_rows(tmp_path / "out" / "opportunities.csv")
    assert (opp["is_closed"], opp["is_won"], opp["closed_at"]) == ("true", "true", "2024-05-31T00:00:00+00:00")


# =========================================================================== conversion: errors
def _assert_names(exc: SourceError, source, file, fld, fix_words):
    msg = str(exc)
    assert f"source {source!r}" in msg and f"file {file}" in msg and f"field {fld!r}" in msg, msg
    assert "Fix:" in msg and all(w in msg.split("Fix:")[1] for w in fix_words), msg


def test_stage_missing_from_pipelines_is_an_error(tmp_path):
    deal = copy.deepcopy(DEALS[0])
    deal["properties"]["dealstage"] = "12345678"
    with pytest.raises(SourceError) as err:
        convert_hubspot(write_v3(tmp_path / "in", deals=[deal]), tmp_path / "out", config=cfg(), source="crm-hs")
    _assert_names(err.value, "crm-hs", "deals.json", "dealstage", ["/crm/v3/pipelines/deals", "pipelines.json"])
    assert "'12345678'" in str(err.value) and "deal 7001" in str(err.value)


def test_history_stage_missing_from_pipelines_is_an_error_unless_kept(tmp_path):
    deal = copy.deepcopy(DEALS[0])
    deal["propertiesWithHistory"]["dealstage"].append({"value": "oldstage", "timestamp": "2024-01-20T00:00:00Z"})
    with pytest.raises(SourceError) as err:
        convert_hubspot(write_v3(tmp_path / "in", deals=[deal]), tmp_path / "out", config=cfg())
    _assert_names(err.value, "hubspot", "deals.json", "dealstage", ["history_unknown_stage: keep_id"])
    convert_hubspot(tmp_path / "in", tmp_path / "out", config=cfg(history_unknown_stage="keep_id"))
    assert read_rows(tmp_path / "out" / "opportunity_stage_history.csv")[0]["stage"] == "oldstage"


def test_channel_value_map_miss_is_an_error(tmp_path):
    contact = copy.deepcopy(CONTACTS[0])
    contact["properties"]["hs_analytics_source"] = "TRADE_SHOW"
    with pytest.raises(SourceError) as err:
        convert_hubspot(write_v3(tmp_path / "in", contacts=[contact]), tmp_path / "out", config=cfg())
    _assert_names(err.value, "hubspot", "contacts.json", "hs_analytics_source", ["TRADE_SHOW:", "channel_map"])


def test_config_naming_an_unknown_property_is_an_error(tmp_path):
    config = cfg(leads={"first_contacted_at": ["hs_first_outreach_dat"]})
    with pytest.raises(SourceError) as err:
        convert_hubspot(write_v3(tmp_path / "in"), tmp_path / "out", config=config)
    _assert_names(err.value, "hubspot", "contacts.json", "hs_first_outreach_dat", ["leads.first_contacted_at"])
    assert "unknown field" in str(err.value)


def test_required_column_left_unmapped_is_an_error(tmp_path):
    with pytest.raises(SourceError) as err:
        cfg(leads={"created_at": []})
    _assert_names(err.value, "hubspot", "test.yaml", "leads.created_at", ["createdate"])
    with pytest.raises(SourceError) as err:
        cfg(reps={"default_role": "closer"})
    _assert_names(err.value, "hubspot", "test.yaml", "reps.default_role", ["rep, sdr, manager"])
    with pytest.raises(SourceError) as err:
        cfg(customer={"default_segment": "smb"})  # typo of a section
    _assert_names(err.value, "hubspot", "test.yaml", "customer", ["hubspot_defaults.yaml"])


def test_config_from_yaml(tmp_path):
    path = tmp_path / "hubspot.yaml"
    path.write_text("default_currency: EUR\nchannel_map:\n  TRADE_SHOW: event\n", encoding="utf-8")
    config = HubSpotConfig.from_yaml(path)
    assert config["default_currency"] == "EUR"
    assert config["channel_map"]["TRADE_SHOW"] == "event" and config["channel_map"]["PAID_SEARCH"] == "paid_search"


# =========================================================================== Fivetran shape + load
@pytest.mark.skipif(not HUBSPOT_SHAPE.is_dir(), reason=f"HubSpot shape data not found at {HUBSPOT_SHAPE}")
def test_fivetran_shape_converts_and_loads(tmp_path):
    """Fivetran's seed tables: 100 owners, 24 companies, 22 contacts, 44 deals.

    The seeds are samples of unrelated tables: every deal lacks a stage (deal_pipeline_stage_id
    is empty), an amount and a company (no deal_company table is seeded), and deal_stage_data
    names 14 deals that are not in deal_data. So the adapter skips those 14 history rows with a
    warning, writes the deals with amount 0 and empty stage / customer_id, and the loader
    quarantines all 44 deals (missing required stage and customer_id). Everything else loads.
    """
    result = convert_hubspot(HUBSPOT_SHAPE, tmp_path / "landing", config=cfg(default_currency="USD"))
    # 100 owners + the placeholder rep (companies, contacts and 22 deals have no owner)
    assert result.tables == {"reps": 101, "customers": 24, "leads": 22, "opportunities": 44}
    assert result.warnings == [
        "deal_data.csv: 44 deal(s) without a deal stage: the loader quarantines them (missing stage)",
        "deal_data.csv: 44 deal(s) without an amount, written as 0",
        "deal_data.csv: 44 deal(s) without an associated company: the loader quarantines them "
        "(missing customer_id)",
        "deal_stage_data.csv: 14 stage-history row(s) of deals not in deal_data.csv skipped",
    ]
    opps = by_id(read_rows(tmp_path / "landing" / "opportunities.csv"), "opportunity_id")
    assert opps["2392872971"]["owner_rep_id"] == "35252170"
    assert opps["2392872971"]["created_at"] == "2020-07-09T20:15:11+00:00"
    reps = by_id(read_rows(tmp_path / "landing" / "reps.csv"), "rep_id")
    assert (reps["44023296"]["hired_on"], reps["44023296"]["updated_at"]) == (
        "2020-02-13", "2020-02-13T18:19:32.860000+00:00")
    leads = by_id(read_rows(tmp_path / "landing" / "leads.csv"), "lead_id")
    # Fivetran's naive UTC timestamps; updated_at falls back to _fivetran_synced ('2021-04-02 11:16:05')
    assert (leads["78971951"]["created_at"], leads["78971951"]["updated_at"]) == (
        "2021-04-01T17:32:47+00:00", "2021-04-02T11:16:05+00:00")

    db = tmp_path / "build.duckdb"
    loads = load_landing(db, tmp_path / "landing",
                         options=LoadOptions(source_system="hubspot", reporting_currency="USD",
                                             now=dt.datetime(2021, 6, 1, tzinfo=dt.UTC)))
    summary = {t: (r.rows_loaded, r.rows_quarantined) for t, r in loads.items() if r.files}
    assert summary == {"reps": (101, 0), "customers": (24, 0), "leads": (22, 0), "opportunities": (0, 44)}
    reasons = query(db, "select _column, _reason, count(*) n from quarantine.opportunities group by all order by 1")
    assert reasons.to_dict("records") == [
        {"_column": "customer_id", "_reason": "missing required value", "n": 44},
        {"_column": "is_closed", "_reason": "missing required value", "n": 44},
        {"_column": "is_won", "_reason": "missing required value", "n": 44},
        {"_column": "stage", "_reason": "missing required value", "n": 44},
    ]


def test_v3_records_load_without_quarantine(tmp_path):
    convert_hubspot(write_v3(tmp_path / "in"), tmp_path / "landing", config=cfg())
    loads = load_landing(tmp_path / "build.duckdb", tmp_path / "landing",
                         options=LoadOptions(source_system="hubspot", now=dt.datetime(2024, 5, 1, tzinfo=dt.UTC)))
    assert {t: (r.rows_loaded, r.rows_quarantined) for t, r in loads.items() if r.files} == {
        "reps": (3, 0), "customers": (2, 0), "leads": (2, 0), "opportunities": (4, 0),
        "opportunity_stage_history": (5, 0), "orders": (2, 0)}


# =========================================================================== fetcher vs a fake server
def _ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


class FakeHubSpot:
    """HubSpot's CRM API v3 on loopback: search, batch read, v4 associations, owners, pipelines."""

    MODIFIED = {"deals": "hs_lastmodifieddate", "companies": "hs_lastmodifieddate", "contacts": "lastmodifieddate"}

    def __init__(self):
        self.objects = {
            name: [{k: v for k, v in copy.deepcopy(o).items() if k not in ("propertiesWithHistory", "associations")}
                   for o in objs]
            for name, objs in (("deals", DEALS), ("contacts", CONTACTS), ("companies", COMPANIES))
        }
        self.history = {d["id"]: copy.deepcopy(d["propertiesWithHistory"]) for d in DEALS}
        self.assoc = {}
        for name, objs in (("deals", DEALS), ("contacts", CONTACTS)):
            for o in objs:
                for to, block in o.get("associations", {}).items():
                    self.assoc[(name, o["id"], to)] = [r["id"] for r in block["results"]]
        self.faults: list[tuple[str, int, dict]] = []  # (path prefix, status, headers): served once each
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def handle(self, method, path, body, auth):
        with self.lock:
            self.requests.append({"method": method, "path": path, "body": body, "auth": auth})
            for i, (prefix, status, headers) in enumerate(self.faults):
                if path.startswith(prefix):
                    del self.faults[i]
                    return status, headers, {"status": "error", "message": "injected"}
        if auth != f"Bearer {TOKEN}":
            return 401, {}, {"status": "error", "category": "INVALID_AUTHENTICATION"}
        route, _, qs = path.partition("?")
        parts = route.strip("/").split("/")
        if method == "POST" and route.endswith("/search"):
            obj = parts[3]
            prop = self.MODIFIED[obj]
            rows = sorted(self.objects[obj], key=lambda o: _ms(o["properties"][prop]))
            for group in body.get("filterGroups", []):
                for f in group["filters"]:
                    assert f["propertyName"] == prop and f["operator"] in ("GT", "GTE")
                    if f["operator"] == "GT":
                        rows = [o for o in rows if _ms(o["properties"][prop]) > int(f["value"])]
                    else:
                        rows = [o for o in rows if _ms(o["properties"][prop]) >= int(f["value"])]
            after, limit = int(body.get("after", 0)), int(body["limit"])
            page = rows[after:after + limit]
            out = {"total": len(rows), "results": page}
            if after + limit < len(rows):
                out["paging"] = {"next": {"after": str(after + limit), "link": "?after=..."}}
            return 200, {}, out
        if method == "POST" and route == "/crm/v3/objects/deals/batch/read":
            assert body["propertiesWithHistory"] == ["dealstage"]
            return 200, {}, {"status": "COMPLETE", "results": [
                {"id": i["id"], "properties": {}, "propertiesWithHistory": self.history.get(i["id"], {})}
                for i in body["inputs"]]}
        if method == "POST" and parts[:2] == ["crm", "v4"]:
            frm, to = parts[3], parts[4]
            results = [{"from": {"id": i["id"]}, "to": [
                {"toObjectId": int(t), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 1}]}
                for t in self.assoc.get((frm, i["id"], to), [])]}
                for i in body["inputs"] if self.assoc.get((frm, i["id"], to))]
            return 207 if len(results) < len(body["inputs"]) else 200, {}, {"status": "COMPLETE", "results": results}
        if method == "GET" and route == "/crm/v3/owners":
            params = dict(p.split("=", 1) for p in qs.split("&") if p)
            owners = [o for o in OWNERS if str(o["archived"]).lower() == params.get("archived", "false")]
            after = int(params.get("after", 0))
            out = {"results": owners[after:after + 1]}  # one owner per page: several pages
            if after + 1 < len(owners):
                out["paging"] = {"next": {"after": str(after + 1)}}
            return 200, {}, out
        if method == "GET" and route == "/crm/v3/pipelines/deals":
            return 200, {}, {"results": PIPELINES}
        return 404, {}, {"status": "error", "message": f"no route {method} {route}"}


@pytest.fixture
def fake_hubspot():
    fake = FakeHubSpot()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, headers, payload = fake.handle(self.command, self.path, body, self.headers.get("Authorization"))
            data = json.dumps(payload).encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args):  # keep pytest output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _fetch_config():
    return cfg(fetch={"page_limit": 2, "timeout_seconds": 5, "max_retries": 3, "backoff_seconds": 1.0,
                      "max_backoff_seconds": 30})


def test_fetcher_pages_retries_and_fetches_incrementally(fake_hubspot, tmp_path, monkeypatch, caplog):
    fake, base_url = fake_hubspot
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)
    waits: list[float] = []
    state = tmp_path / "state" / "hubspot.json"
    fake.faults = [("/crm/v3/objects/deals/search", 429, {"Retry-After": "7"}),
                   ("/crm/v3/owners", 500, {})]

    # ---- first run: everything, several pages (limit 2), a 429 and a 500 retried
    counts = fetch_hubspot(_fetch_config(), state, tmp_path / "drop1", base_url=base_url, sleep=waits.append)
    assert counts == {"companies": 2, "contacts": 2, "deals": 4, "owners": 2, "pipelines": 1}
    assert waits == [7.0, 1.0]  # Retry-After honoured, then backoff_seconds * 2**0 after the 500
    deal_searches = [r for r in fake.requests if r["path"] == "/crm/v3/objects/deals/search"]
    assert [r["body"].get("after") for r in deal_searches] == [None, None, "2"]  # 429, page 1, page 2
    assert deal_searches[1]["body"]["filterGroups"] == []  # no high-water mark yet
    assert deal_searches[1]["body"]["sorts"] == [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in fake.requests)
    marks = json.loads(state.read_text())["high_water_marks"]
    assert marks == {"companies": "2024-03-10T05:00:00Z", "contacts": "2024-03-10T06:00:00Z",
                     "deals": "2024-04-10T00:00:00Z"}
    # the saved drop converts exactly like the hand-made files (history and associations included)
    convert_hubspot(tmp_path / "drop1", tmp_path / "landing1", config=cfg())
    convert_hubspot(write_v3(tmp_path / "handmade"), tmp_path / "landing2", config=cfg())
    for table in ("opportunities", "opportunity_stage_history", "orders", "leads", "customers", "reps"):
        got = sorted(map(tuple, (r.values() for r in read_rows(tmp_path / "landing1" / f"{table}.csv"))))
        want = sorted(map(tuple, (r.values() for r in read_rows(tmp_path / "landing2" / f"{table}.csv"))))
        assert got == want, table

    # ---- second run: deal 7002 changed after the high-water mark: only it is fetched
    changed = next(d for d in fake.objects["deals"] if d["id"] == "7002")
    changed["properties"].update(hs_lastmodifieddate="2024-04-20T00:00:00Z", amount="900")
    fake.requests.clear()
    counts = fetch_hubspot(_fetch_config(), state, tmp_path / "drop2", base_url=base_url, sleep=waits.append)
    assert counts == {"companies": 0, "contacts": 0, "deals": 1, "owners": 2, "pipelines": 1}
    search = next(r for r in fake.requests if r["path"] == "/crm/v3/objects/deals/search")
    assert search["body"]["filterGroups"] == [{"filters": [
        {"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": str(_ms("2024-04-10T00:00:00Z"))}]}]
    saved = json.loads((tmp_path / "drop2" / "deals.json").read_text())["results"]
    assert [d["id"] for d in saved] == ["7002"] and saved[0]["properties"]["amount"] == "900"
    assert saved[0]["associations"]["companies"]["results"] == [{"id": "502", "type": "deal_to_company"}]
    assert json.loads(state.read_text())["high_water_marks"]["deals"] == "2024-04-20T00:00:00Z"
    result = convert_hubspot(tmp_path / "drop2", tmp_path / "landing3", config=cfg())
    assert result.tables == {"opportunities": 1, "opportunity_stage_history": 2, "reps": 2}
    assert read_rows(tmp_path / "landing3" / "opportunities.csv")[0]["amount"] == "900"

    # ---- a failed run leaves the high-water marks untouched
    before = state.read_text()
    fake.faults = [("/crm/v3/pipelines/deals", 403, {})]
    with pytest.raises(HubSpotHTTPError, match="HTTP 403"):
        fetch_hubspot(_fetch_config(), state, tmp_path / "drop3", base_url=base_url, sleep=waits.append)
    assert state.read_text() == before

    # ---- the token is in no saved file and no log line
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN not in path.read_text(encoding="utf-8", errors="replace"), path
    assert caplog.text and TOKEN not in caplog.text


def test_fetcher_gives_up_after_max_retries_and_needs_the_token(fake_hubspot, tmp_path, monkeypatch):
    fake, base_url = fake_hubspot
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    with pytest.raises(SourceError) as err:
        fetch_hubspot(_fetch_config(), tmp_path / "s.json", tmp_path / "d", base_url=base_url)
    msg = str(err.value)
    assert msg.startswith("source 'hubspot', field 'fetch.token_env=HUBSPOT_ACCESS_TOKEN'"), msg
    assert "Fix: export HUBSPOT_ACCESS_TOKEN=" in msg
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    fake.faults = [("/crm/v3/objects/companies/search", 503, {})] * 4
    waits: list[float] = []
    with pytest.raises(HubSpotHTTPError, match="gave up after 4 attempts"):
        fetch_hubspot(_fetch_config(), tmp_path / "s.json", tmp_path / "d", base_url=base_url, sleep=waits.append)
    assert waits == [1.0, 2.0, 4.0]  # exponential backoff
    assert not (tmp_path / "s.json").exists()


# =========================================================================== the whole pipeline
def test_full_refresh_win_rate_and_revenue(tmp_path):
    """Hand-made v3 records through the Dagster refresh job (reporting currency CNY, Asia/Shanghai).

    By hand: March 2024 closes deal 7001 won (1,200.50 CNY, 2024-03-10 12:00 local) and 7002 lost
    (800, 2024-03-20): win rate 1/2 = 0.5, value win rate 1200.50 / 2000.50; April closes 7003 won
    (500): win rate 1. Bookings (synthesized orders of won deals): March 1,200.50, April 500,
    Q1 2024 1,200.50; rep 101 books March, rep 102 April.
    """
    convert_hubspot(write_v3(tmp_path / "in"), tmp_path / "landing", config=cfg())
    result, reporting = run_refresh(tmp_path, tmp_path / "landing", "2024-04-30")
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    win = fetch(reporting, "select cast(period_start as varchar), slice, slice_value, won, lost, win_rate, "
                           "win_rate_value from kpi_win_rate where period_type = 'month' and period_start in "
                           "('2024-03-01', '2024-04-01') and slice in ('company', 'rep') order by 1, 2, 3")
    assert [r[:6] for r in win] == [
        ("2024-03-01", "company", None, 1, 1, Decimal("0.5")),
        ("2024-03-01", "rep", "101", 1, 0, Decimal("1")),
        ("2024-03-01", "rep", "102", 0, 1, Decimal("0")),
        ("2024-04-01", "company", None, 1, 0, Decimal("1")),
        ("2024-04-01", "rep", "101", 0, 0, None),  # nothing closed: no rate
        ("2024-04-01", "rep", "102", 1, 0, Decimal("1")),
    ]
    assert Decimal(win[0][6]).quantize(Decimal("0.000001")) == \
        (Decimal("1200.50") / Decimal("2000.50")).quantize(Decimal("0.000001"))
    rev = fetch(reporting, "select period_type, cast(period_start as varchar) p, slice_value, bookings, orders "
                           "from kpi_revenue where slice in ('company', 'rep') and bookings > 0 order by 1, 2, 3")
    assert [(t, p, v, Decimal(b), n) for t, p, v, b, n in rev] == [
        ("month", "2024-03-01", "101", Decimal("1200.5"), 1),
        ("month", "2024-03-01", None, Decimal("1200.5"), 1),
        ("month", "2024-04-01", "102", Decimal("500"), 1),
        ("month", "2024-04-01", None, Decimal("500"), 1),
        ("quarter", "2024-01-01", "101", Decimal("1200.5"), 1),
        ("quarter", "2024-01-01", None, Decimal("1200.5"), 1),
        ("quarter", "2024-04-01", "102", Decimal("500"), 1),
        ("quarter", "2024-04-01", None, Decimal("500"), 1),
        ("year", "2024-01-01", "101", Decimal("1200.5"), 1),
        ("year", "2024-01-01", "102", Decimal("500"), 1),
        ("year", "2024-01-01", None, Decimal("1200.5") + Decimal("500"), 2),
    ]


def test_configured_source_fetches_then_converts_each_run_into_a_new_drop(fake_hubspot, tmp_path, monkeypatch):
    """The landing asset's path: fetch the changes through the API, convert them into a landing drop."""
    import datetime as dt

    import yaml

    from salespulse.loader import LoadOptions, load_landing
    from salespulse.settings import SourceSettings
    from salespulse.sources.registry import extract

    fake, base_url = fake_hubspot
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    config = tmp_path / "hubspot.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "fetch": {"page_limit": 2, "max_retries": 3, "backoff_seconds": 0.01}}))
    source = SourceSettings(name="hs", kind="hubspot", input_dir=tmp_path / "api", config=config, fetch=config,
                            api_base_url=base_url)
    landing, state = tmp_path / "landing", tmp_path / "state"
    first = extract(source, landing, state, now=dt.datetime(2024, 4, 11, tzinfo=dt.UTC))
    assert first.out_dir == landing / "hs" / "20240411T000000Z" and first.tables["opportunities"] == 4
    changed = next(d for d in fake.objects["deals"] if d["id"] == "7002")
    changed["properties"].update(hs_lastmodifieddate="2024-04-20T00:00:00Z", amount="900")
    second = extract(source, landing, state, now=dt.datetime(2024, 4, 21, tzinfo=dt.UTC))
    assert second.tables["opportunities"] == 1  # only the deal changed since the high-water mark
    assert TOKEN not in (state / "hs.json").read_text()
    db = tmp_path / "build.duckdb"
    opts = LoadOptions(source_names=("hs",), now=dt.datetime(2024, 4, 21, tzinfo=dt.UTC))
    loads = load_landing(db, landing, options=opts)
    assert loads["opportunities"].rows_loaded == 5 and loads["opportunities"].rows_quarantined == 0
    rows = fetch(db, "select amount, _source_system from raw.opportunities where opportunity_id = '7002' "
                     "order by updated_at")
    assert [(float(a), s) for a, s in rows] == [(float(rows[0][0]), "hs"), (900.0, "hs")]
