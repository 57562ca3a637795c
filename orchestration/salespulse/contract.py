"""The canonical raw CRM contract (shared/spec/raw_contract.md) as data.

Every source lands in these tables in the warehouse schema ``raw``. This module is the one place
the loader, the demo generator, the quality checks and the tests read the contract from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# DuckDB types used for each logical contract type.
ID = "VARCHAR"
TEXT = "VARCHAR"
TS = "TIMESTAMPTZ"  # ISO-8601; a value without an offset is UTC
DATE = "DATE"
MONEY = "DECIMAL(18,4)"
BOOL = "BOOLEAN"

# Columns the loader adds to every raw row.
METADATA_COLUMNS: dict[str, str] = {
    "_batch_id": "BIGINT",
    "_loaded_at": "TIMESTAMPTZ",
    "_source_system": "VARCHAR",
    "_source_file": "VARCHAR",
}

CHANNELS = ("paid_search", "social", "display", "referral", "organic", "event", "outbound", "other")


@dataclass(frozen=True)
class RawTable:
    name: str
    primary_key: tuple[str, ...]
    columns: dict[str, str]
    nullable: frozenset[str] = frozenset()
    pii: frozenset[str] = frozenset()
    accepted_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Amount columns that must not be negative.
    non_negative: tuple[str, ...] = ()

    @property
    def has_versions(self) -> bool:
        """True when records carry ``updated_at`` (otherwise the latest load wins)."""
        return "updated_at" in self.columns

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in self.nullable)


def _t(name, pk, cols, nullable=(), pii=(), accepted=None, non_negative=()):
    return RawTable(
        name=name,
        primary_key=tuple(pk),
        columns=dict(cols),
        nullable=frozenset(nullable),
        pii=frozenset(pii),
        accepted_values=accepted or {},
        non_negative=tuple(non_negative),
    )


TABLES: dict[str, RawTable] = {
    t.name: t
    for t in [
        _t(
            "reps",
            ["rep_id"],
            [
                ("rep_id", ID), ("rep_name", TEXT), ("email", TEXT), ("team_id", ID),
                ("team_name", TEXT), ("region", TEXT), ("manager_rep_id", ID), ("role", TEXT),
                ("hired_on", DATE), ("left_on", DATE), ("updated_at", TS),
            ],
            nullable=["manager_rep_id", "left_on"],
            pii=["email"],
            accepted={"role": ("rep", "sdr", "manager")},
        ),
        _t(
            "customers",
            ["customer_id"],
            [
                ("customer_id", ID), ("customer_name", TEXT), ("segment", TEXT), ("industry", TEXT),
                ("region", TEXT), ("country", TEXT), ("acquisition_channel", TEXT),
                ("referred_by_customer_id", ID), ("owner_rep_id", ID), ("created_at", TS),
                ("churned_at", TS), ("email", TEXT), ("phone", TEXT), ("updated_at", TS),
                ("is_deleted", BOOL),
            ],
            nullable=["referred_by_customer_id", "churned_at"],
            pii=["email", "phone"],
            accepted={
                "segment": ("smb", "mid_market", "enterprise"),
                "acquisition_channel": CHANNELS,
            },
        ),
        _t(
            "leads",
            ["lead_id"],
            [
                ("lead_id", ID), ("created_at", TS), ("channel", TEXT), ("campaign_id", ID),
                ("owner_rep_id", ID), ("first_contacted_at", TS), ("qualified_at", TS),
                ("disqualified_at", TS), ("converted_customer_id", ID),
                ("converted_opportunity_id", ID), ("email", TEXT), ("updated_at", TS),
                ("is_deleted", BOOL),
            ],
            nullable=[
                "campaign_id", "first_contacted_at", "qualified_at", "disqualified_at",
                "converted_customer_id", "converted_opportunity_id",
            ],
            pii=["email"],
            accepted={"channel": CHANNELS},
        ),
        _t(
            "opportunities",
            ["opportunity_id"],
            [
                ("opportunity_id", ID), ("customer_id", ID), ("lead_id", ID), ("owner_rep_id", ID),
                ("created_at", TS), ("stage", TEXT), ("amount", MONEY), ("currency", TEXT),
                ("expected_close_on", DATE), ("closed_at", TS), ("is_closed", BOOL), ("is_won", BOOL),
                ("loss_reason", TEXT), ("updated_at", TS), ("is_deleted", BOOL),
            ],
            nullable=["lead_id", "closed_at", "loss_reason"],
            non_negative=["amount"],
        ),
        _t(
            "opportunity_stage_history",
            ["opportunity_id", "stage", "entered_at"],
            [("opportunity_id", ID), ("stage", TEXT), ("entered_at", TS)],
        ),
        _t(
            "activities",
            ["activity_id"],
            [
                ("activity_id", ID), ("activity_type", TEXT), ("direction", TEXT), ("occurred_at", TS),
                ("rep_id", ID), ("lead_id", ID), ("opportunity_id", ID), ("customer_id", ID),
                ("updated_at", TS),
            ],
            nullable=["rep_id", "lead_id", "opportunity_id", "customer_id"],
            accepted={
                "activity_type": ("call", "email", "meeting", "visit", "demo"),
                "direction": ("outbound", "inbound"),
            },
        ),
        _t(
            "orders",
            ["order_id"],
            [
                ("order_id", ID), ("customer_id", ID), ("opportunity_id", ID), ("rep_id", ID),
                ("signed_at", TS), ("amount", MONEY), ("cost", MONEY), ("currency", TEXT),
                ("status", TEXT), ("updated_at", TS), ("is_deleted", BOOL),
            ],
            nullable=["opportunity_id", "cost"],
            accepted={"status": ("active", "cancelled", "refunded")},
            non_negative=["amount", "cost"],
        ),
        _t(
            "payments",
            ["payment_id"],
            [("payment_id", ID), ("order_id", ID), ("paid_at", TS), ("amount", MONEY), ("currency", TEXT)],
            non_negative=["amount"],
        ),
        _t(
            "deliveries",
            ["delivery_id"],
            [("delivery_id", ID), ("order_id", ID), ("delivered_at", TS), ("status", TEXT)],
            accepted={"status": ("delivered", "partial", "returned")},
        ),
        _t(
            "marketing_spend",
            ["spend_id"],
            [
                ("spend_id", ID), ("spend_date", DATE), ("channel", TEXT), ("campaign_id", ID),
                ("category", TEXT), ("amount", MONEY), ("currency", TEXT),
            ],
            nullable=["campaign_id"],
            accepted={
                "channel": CHANNELS,
                "category": ("advertising", "promotion", "market_research", "other_marketing"),
            },
            non_negative=["amount"],
        ),
        _t(
            "sales_compensation",
            ["rep_id", "month"],
            [
                ("rep_id", ID), ("month", DATE), ("base_salary", MONEY), ("commission", MONEY),
                ("bonus", MONEY), ("currency", TEXT),
            ],
            non_negative=["base_salary", "commission", "bonus"],
        ),
        _t(
            "targets",
            ["target_id"],
            [
                ("target_id", ID), ("period_type", TEXT), ("period_start", DATE), ("scope", TEXT),
                ("scope_id", ID), ("metric", TEXT), ("target_value", MONEY), ("currency", TEXT),
            ],
            nullable=["scope_id", "currency"],
            accepted={
                "period_type": ("year", "quarter", "month"),
                "scope": ("company", "team", "rep"),
                "metric": ("bookings", "new_customers"),
            },
            non_negative=["target_value"],
        ),
        _t(
            "fx_rates",
            ["rate_date", "currency"],
            [("rate_date", DATE), ("currency", TEXT), ("rate_to_reporting", "DECIMAL(18,8)")],
        ),
    ]
}

TABLE_NAMES: tuple[str, ...] = tuple(TABLES)

# File endings a landing drop may use for a table, in the order they are looked for.
LANDING_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".jsonl")
