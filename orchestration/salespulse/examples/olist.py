"""Convert the Olist Marketing Funnel (Kaggle, CC BY-NC-SA 4.0) into canonical landing CSVs.

The Olist files are real, anonymised B2B funnel data: 8,000 marketing-qualified leads
(``olist_marketing_qualified_leads_dataset.csv``: mql_id, first_contact_date, landing_page_id,
origin) and the 842 that signed (``olist_closed_deals_dataset.csv``: mql_id, seller_id, sdr_id,
sr_id, won_date, business_segment, ...). The licence forbids copying them into this repository:
read them where they are and write the landing files to a scratch folder.

Mapping onto the raw contract (shared/spec/raw_contract.md):

* ``leads``: one per MQL. lead_id = mql_id; created_at = first_contacted_at = first_contact_date
  at 00:00 (Olist records no earlier creation, so response time is 0); channel = origin mapped by
  ``ORIGIN_TO_CHANNEL``; owner_rep_id = the deal's sdr_id for signed leads, else the placeholder
  rep ``UNASSIGNED_REP`` (Olist does not say who worked the unsigned leads); qualified_at and
  disqualified_at are unknown (NULL: a won lead still counts as qualified, stage skipping);
  converted_opportunity_id = mql_id and converted_customer_id = seller_id for signed leads.
* ``opportunities``: one per closed deal, all won. opportunity_id = lead_id = mql_id,
  customer_id = seller_id, owner_rep_id = sr_id (the closing rep), created_at = the first
  contact, closed_at = won_date. Olist publishes no deal value: amount = 0 in ``currency``
  (the reporting currency, so no fx_rates are needed; value-based win rates are NULL).
* ``customers``: one per seller (the signed lead's channel as acquisition_channel, segment
  ``smb``, industry = business_segment, owner = sr_id, created at won_date).
* ``reps``: every sdr_id and sr_id plus the placeholder, all in team ``olist``; role ``rep`` for
  an id that ever closed a deal (sr_id; 13 ids appear as both), else ``sdr``.

Times: Olist's first_contact_date (a date) and won_date (a naive timestamp) are wall-clock times
of one zone. Both are written as wall-clock times of ``timezone`` (default the reporting zone
Asia/Shanghai) with its UTC offset, so that (a) the local calendar day of every event in the
reporting zone is Olist's own date, and (b) won_date - first_contact_date is the plain naive
difference Olist's published figures use (first contact -> won median 14.651 days).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

from salespulse.contract import CHANNELS, TABLES

__all__ = ["LEADS_FILE", "DEALS_FILE", "ORIGIN_TO_CHANNEL", "UNASSIGNED_REP", "olist_to_landing"]

LEADS_FILE = "olist_marketing_qualified_leads_dataset.csv"
DEALS_FILE = "olist_closed_deals_dataset.csv"

# Olist origin -> contract channel. Olist's paid_search, social, referral and display exist in the
# contract as they are; organic_search is organic. direct_traffic (typed-in visits), email
# (newsletter traffic), other_publicities, other, unknown and a missing origin have no contract
# channel of their own and become 'other'. Any origin not listed here is 'other' too.
ORIGIN_TO_CHANNEL: dict[str, str] = {
    "paid_search": "paid_search",
    "social": "social",
    "organic_search": "organic",
    "referral": "referral",
    "display": "display",
    "direct_traffic": "other",
    "email": "other",
    "other_publicities": "other",
    "other": "other",
    "unknown": "other",
}

assert set(ORIGIN_TO_CHANNEL.values()) <= set(CHANNELS)

UNASSIGNED_REP = "olist_unassigned_sdr"
TEAM_ID = "olist"
TEAM_NAME = "Olist"


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _write(out_dir: Path, table: str, rows: Iterable[Mapping[str, object]]) -> int:
    columns = list(TABLES[table].columns)
    n = 0
    with (out_dir / f"{table}.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            unknown = set(row) - set(columns)
            if unknown:
                raise ValueError(f"{table}: columns not in the contract: {sorted(unknown)}")
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
            n += 1
    return n


def _channel(origin: str | None) -> str:
    return ORIGIN_TO_CHANNEL.get((origin or "").strip().lower(), "other")


def olist_to_landing(olist_dir: Path, out_dir: Path, *, timezone: str = "Asia/Shanghai",
                     currency: str = "CNY") -> dict[str, int]:
    """Write reps, customers, leads and opportunities landing CSVs from the Olist files.

    ``timezone`` is the zone Olist's wall-clock times are read in (use the reporting zone);
    ``currency`` the currency of the (zero) deal amounts (use the reporting currency: no fx_rates
    file is written). Returns the number of rows written per table.
    """
    olist_dir, out_dir = Path(olist_dir), Path(out_dir)
    zone = ZoneInfo(timezone)
    mqls = _read(olist_dir / LEADS_FILE)
    deals = {d["mql_id"]: d for d in _read(olist_dir / DEALS_FILE)}
    missing = sorted(set(deals) - {m["mql_id"] for m in mqls})
    if missing:
        raise ValueError(f"{DEALS_FILE}: {len(missing)} deal(s) without a lead, e.g. {missing[0]}")

    def at(value: str) -> dt.datetime:
        # 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS', wall-clock time in the zone
        return dt.datetime.fromisoformat(value.strip()).replace(tzinfo=zone)

    def iso(value: dt.datetime) -> str:
        return value.isoformat()

    first_contact = {m["mql_id"]: at(m["first_contact_date"]) for m in mqls}
    channel = {m["mql_id"]: _channel(m.get("origin")) for m in mqls}
    won_at = {mql_id: at(d["won_date"]) for mql_id, d in deals.items()}
    data_start = min(first_contact.values())

    leads = []
    for m in mqls:
        mql_id = m["mql_id"]
        deal = deals.get(mql_id)
        contact = first_contact[mql_id]
        leads.append({
            "lead_id": mql_id,
            "created_at": iso(contact),
            "channel": channel[mql_id],
            "owner_rep_id": deal["sdr_id"] if deal else UNASSIGNED_REP,
            "first_contacted_at": iso(contact),
            "converted_customer_id": deal["seller_id"] if deal else None,
            "converted_opportunity_id": mql_id if deal else None,
            "email": f"{mql_id}@olist.invalid",  # PII column of the contract: a placeholder
            "updated_at": iso(max(contact, won_at[mql_id]) if deal else contact),
            "is_deleted": "false",
        })

    opportunities, customers = [], []
    for mql_id, deal in deals.items():
        contact, won = first_contact[mql_id], won_at[mql_id]
        opportunities.append({
            "opportunity_id": mql_id,
            "customer_id": deal["seller_id"],
            "lead_id": mql_id,
            "owner_rep_id": deal["sr_id"],
            "created_at": iso(contact),
            "stage": "closed_won",
            "amount": "0",
            "currency": currency,
            "expected_close_on": won.date().isoformat(),
            "closed_at": iso(won),
            "is_closed": "true",
            "is_won": "true",
            "updated_at": iso(max(contact, won)),
            "is_deleted": "false",
        })
        customers.append({
            "customer_id": deal["seller_id"],
            "customer_name": f"Olist seller {deal['seller_id'][:8]}",
            "segment": "smb",
            "industry": (deal.get("business_segment") or "").strip() or "unknown",
            "region": "unknown",
            "country": "BR",
            "acquisition_channel": channel[mql_id],
            "owner_rep_id": deal["sr_id"],
            "created_at": iso(won),
            "email": f"{deal['seller_id']}@olist.invalid",
            "phone": "n/a",
            "updated_at": iso(won),
            "is_deleted": "false",
        })

    closers = {d["sr_id"] for d in deals.values()}
    rep_ids = sorted(closers | {d["sdr_id"] for d in deals.values()}) + [UNASSIGNED_REP]
    reps = []
    for rep_id in rep_ids:
        role = "rep" if rep_id in closers else "sdr"
        reps.append({
            "rep_id": rep_id,
            "rep_name": f"Olist {role} {rep_id[:8]}",
            "email": f"{rep_id}@olist.invalid",
            "team_id": TEAM_ID,
            "team_name": TEAM_NAME,
            "region": "BR",
            "role": role,
            "hired_on": data_start.date().isoformat(),
            "updated_at": iso(data_start),
        })

    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "reps": _write(out_dir, "reps", reps),
        "customers": _write(out_dir, "customers", customers),
        "leads": _write(out_dir, "leads", leads),
        "opportunities": _write(out_dir, "opportunities", opportunities),
    }
