"""Salesforce -> canonical landing files.

Accepts, file by file, both shapes a Salesforce org is commonly extracted in:

* **Data Export / Bulk API CSVs** named by object (``Account.csv``, ``Opportunity.csv``, ...) with the
  API field names (``Id``, ``AccountId``, ``StageName``, ``IsWon``, ``CurrencyIsoCode``, ...);
* **Fivetran-synced tables** in snake_case (``opportunity.csv`` or the seed names ``sf_opportunity_data.csv``;
  ``id``, ``account_id``, ``stage_name``, ``is_won``, ``_fivetran_synced``, ...), including history-mode
  tables (``_fivetran_start``/``_fivetran_active``: the latest version of each record is used, and the
  versions of ``opportunity_history`` / ``lead_history`` give the stage and status history).

Field names are matched shape-blind: ``StageName``, ``stage_name`` and ``STAGENAME`` are the same field
(lower case, underscores removed), so custom fields (``Loss_Reason__c`` / ``loss_reason_c``) work too.

Objects used (every one optional; a table whose object is absent is simply not written):

======================  =====================================================================
User, UserRole          reps (team = role, manager = ManagerId, role manager/sdr/rep, left_on)
Account (+ Contact)     customers (segment bands, channel of the converted lead, contact email)
Lead (+ LeadHistory,    leads (channel from LeadSource, first contact = the earliest outbound
 Task, Event,           Task/Event on the lead or its converted contact on/after creation,
 CampaignMember)        qualified/disqualified from the status history or the status map)
Opportunity,            opportunities (won/lost from IsWon/IsClosed, mapped stage, currency) and
 OpportunityHistory     opportunity_stage_history (first entry of each run of a mapped stage)
Task, Event             activities (type from Type/TaskSubtype, direction from CallType/Subject)
Order                   orders (Status map; won opportunities without an Order are synthesised)
Campaign                marketing_spend (ActualCost by StartDate, channel from Type)
======================  =====================================================================

Defaults for what Salesforce lacks: text ``unknown`` (industry, region, country, email, phone), amount
0 for an opportunity or order without one, ``is_deleted`` false without IsDeleted, ``updated_at`` from
LastModifiedDate, else SystemModstamp, else ``_fivetran_synced``; ``created_at`` from CreatedDate, else
``_fivetran_synced``; ``hired_on`` from the user's CreatedDate, else ``_fivetran_synced``. Ids are
kept as given (15- or 18-character). Timestamps without an offset are UTC, as the API returns them.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..contract import CHANNELS
from .base import SourceError, SourceResult, write_landing_table

DEFAULTS_FILE = Path(__file__).with_name("salesforce_defaults.yaml")

Channel = Literal["paid_search", "social", "display", "referral", "organic", "event", "outbound", "other"]
Milestone = Literal["new", "contacted", "qualified", "converted", "disqualified"]
ActivityType = Literal["call", "email", "meeting", "visit", "demo", "skip"]
Direction = Literal["outbound", "inbound", "skip"]
OrderStatus = Literal["active", "cancelled", "refunded", "skip"]
Segment = Literal["smb", "mid_market", "enterprise"]

#: Mapping sections of the config, merged entry by entry over the defaults.
MAP_SECTIONS = ("stages", "lead_statuses", "lead_sources", "campaign_types", "activity_types",
                "order_statuses", "call_types")


# --------------------------------------------------------------------------- configuration
class SegmentBands(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mid_market: float = Field(ge=0)
    enterprise: float = Field(ge=0)


class SegmentRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    employees: SegmentBands | None = None
    annual_revenue: SegmentBands | None = None
    types: dict[str, Segment] = {}
    default: Segment = "smb"


class SalesforceConfig(BaseModel):
    """The adapter's settings: ``salesforce_defaults.yaml`` merged with an optional user YAML."""

    model_config = ConfigDict(extra="forbid")

    default_currency: str = Field(pattern=r"^[A-Z]{3}$")
    date_timezone: str = "UTC"
    stages: dict[str, str]
    lead_statuses: dict[str, Milestone]
    lead_sources: dict[str, Channel]
    campaign_types: dict[str, Channel]
    unknown_channel: Literal["error"] | Channel = "error"
    campaign_category: Literal["advertising", "promotion", "market_research", "other_marketing"] = "advertising"
    activity_types: dict[str, ActivityType]
    call_types: dict[str, Direction]
    direction_fields: list[str] = ["CallType"]
    inbound_subject_patterns: list[str] = []
    default_direction: Literal["outbound", "inbound"] = "outbound"
    order_statuses: dict[str, OrderStatus]
    synthesize_orders_from_won_opportunities: bool = True
    segment: SegmentRules = SegmentRules()
    sdr_role_pattern: str = r"(?i)\b(sdr|bdr)\b"
    loss_reason_field: str | None = None
    customer_region_field: str | None = None
    rep_region_field: str | None = None
    unknown_text: str = Field("unknown", min_length=1)

    @field_validator("stages")
    @classmethod
    def _stage_codes(cls, value: dict[str, str]) -> dict[str, str]:
        for k, v in value.items():
            if not isinstance(v, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", v):
                raise ValueError(f"stage {k!r} maps to {v!r}: use a lower-case code such as 'proposal'")
        return value

    @field_validator("inbound_subject_patterns", "sdr_role_pattern")
    @classmethod
    def _regex(cls, value: Any) -> Any:
        for pattern in value if isinstance(value, list) else [value]:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from exc
        return value

    @field_validator("date_timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    # ------------------------------------------------------------------ construction
    @classmethod
    def defaults(cls) -> SalesforceConfig:
        return cls.from_dict({})

    @classmethod
    def from_dict(cls, overrides: dict[str, Any], *, file: str | Path | None = None,
                  source: str = "salesforce") -> SalesforceConfig:
        """The defaults with ``overrides`` merged over them (see the head of the defaults YAML)."""
        base = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))
        if not isinstance(overrides, dict):
            raise SourceError(source, file, None, "the configuration is not a YAML mapping",
                              "write `key: value` pairs, e.g. `default_currency: EUR`")
        merged = dict(base)
        for key, value in overrides.items():
            if key in MAP_SECTIONS and isinstance(value, dict) and isinstance(base.get(key), dict):
                section = dict(base[key])
                for k, v in value.items():
                    if v is None:
                        section.pop(k, None)
                    else:
                        section[k] = v
                merged[key] = section
            else:
                merged[key] = value
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            known = ", ".join(cls.model_fields)
            fix = (f"remove or rename it (known keys: {known})" if err["type"] == "extra_forbidden"
                   else "correct the value in the YAML")
            raise SourceError(source, file or DEFAULTS_FILE, loc, err["msg"], fix) from exc

    @classmethod
    def from_yaml(cls, path: str | Path, *, source: str = "salesforce") -> SalesforceConfig:
        """Read a user YAML and merge it over the shipped defaults."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise SourceError(source, path, None, f"cannot read the configuration: {exc}",
                              "point sources[].config at an existing YAML file") from exc
        except yaml.YAMLError as exc:
            raise SourceError(source, path, None, f"invalid YAML: {exc}", "fix the YAML syntax") from exc
        return cls.from_dict(data, file=path, source=source)


# --------------------------------------------------------------------------- reading
def _norm(name: str) -> str:
    """Shape-blind field key: ``StageName`` / ``stage_name`` -> ``stagename``."""
    return name.strip().lower().replace("_", "")


#: Object names the adapter reads, by normalised file stem.
OBJECTS = {
    _norm(n): n
    for n in ("Account", "Contact", "Lead", "LeadHistory", "Opportunity", "OpportunityHistory", "Task",
              "Event", "User", "UserRole", "Order", "Campaign", "CampaignMember")
}


def _object_of(path: Path) -> str | None:
    stem = path.name.lower()
    for suffix in (".csv.gz", ".csv"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    else:
        return None
    stem = stem.removeprefix("sf_").removesuffix("_data")
    return OBJECTS.get(_norm(stem))


@dataclass
class SfFile:
    """One object's rows, keyed by normalised field name (empty string = no value)."""

    obj: str
    path: Path
    shape: Literal["api", "fivetran"]
    header: dict[str, str]  # normalised -> as written in the file
    rows: list[dict[str, str]]

    def has(self, *fields: str) -> bool:
        return all(_norm(f) in self.header for f in fields)

    def field_name(self, name: str) -> str:
        """The field as this file spells it (for messages)."""
        return self.header.get(_norm(name), name)

    @staticmethod
    def get(row: dict[str, str], *fields: str) -> str:
        """The first non-empty value of ``fields`` in ``row`` ('' when none)."""
        for f in fields:
            v = row.get(_norm(f), "")
            if v != "":
                return v
        return ""


def _read_file(path: Path, obj: str, source: str) -> SfFile:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:  # type: ignore[operator]
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header:
                raise SourceError(source, path, None, "the file is empty (no header row)",
                                  "re-export the object with its header row")
            keys = [_norm(h) for h in header]
            rows = []
            for line in reader:
                if not any(v.strip() for v in line):
                    continue
                rows.append({k: v.strip() for k, v in zip(keys, line, strict=False)})
    except UnicodeDecodeError as exc:
        raise SourceError(source, path, None, f"the file is not UTF-8 ({exc.reason})",
                          "export it as UTF-8 (Salesforce Data Export and the Bulk API write UTF-8)") from exc
    except csv.Error as exc:
        raise SourceError(source, path, None, f"malformed CSV: {exc}", "re-export the file") from exc
    shape: Literal["api", "fivetran"] = (
        "fivetran" if "Id" not in header and ("id" in header or any(h.startswith("_fivetran") for h in header))
        else "api"
    )
    return SfFile(obj, path, shape, {_norm(h): h for h in header}, rows)


# --------------------------------------------------------------------------- values
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


class _Values:
    """Typed readers that raise SourceError naming the source, file, field and row."""

    def __init__(self, source: str, tz: ZoneInfo):
        self.source = source
        self.tz = tz

    def _fail(self, f: SfFile, fld: str, row_no: int | None, value: str, what: str, fix: str) -> SourceError:
        at = f" (data row {row_no})" if row_no else ""
        return SourceError(self.source, f.path, f.field_name(fld), f"cannot read {value!r} as {what}{at}", fix)

    def ts(self, f: SfFile, row: dict[str, str], *fields: str, row_no: int | None = None) -> dt.datetime | None:
        """A timestamp (ISO-8601; no offset = UTC)."""
        for fld in fields:
            v = row.get(_norm(fld), "")
            if not v:
                continue
            try:
                parsed = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError as exc:
                raise self._fail(f, fld, row_no, v, "an ISO-8601 timestamp",
                                 "export timestamps as ISO-8601, e.g. 2024-01-31T09:30:00.000Z") from exc
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        return None

    def day(self, f: SfFile, row: dict[str, str], *fields: str, row_no: int | None = None) -> dt.datetime | None:
        """A date-only field as noon of that day in ``date_timezone`` (a value with a time keeps it)."""
        for fld in fields:
            v = row.get(_norm(fld), "")
            if not v:
                continue
            try:
                parsed = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError as exc:
                raise self._fail(f, fld, row_no, v, "a date",
                                 "export dates as YYYY-MM-DD") from exc
            if parsed.time() == dt.time(0) and (parsed.tzinfo is None or parsed.utcoffset() == dt.timedelta(0)):
                return dt.datetime.combine(parsed.date(), dt.time(12), tzinfo=self.tz)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        return None

    def boolean(self, f: SfFile, row: dict[str, str], fld: str, row_no: int | None = None) -> bool:
        v = row.get(_norm(fld), "").lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
        raise self._fail(f, fld, row_no, v, "a boolean", "use true/false")

    def number(self, f: SfFile, row: dict[str, str], fld: str, row_no: int | None = None) -> Decimal | None:
        v = row.get(_norm(fld), "").replace(",", "")
        if not v:
            return None
        try:
            return Decimal(v)
        except InvalidOperation as exc:
            raise self._fail(f, fld, row_no, v, "a number", "export plain decimal numbers") from exc


def _lookup(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k.strip().lower(): v for k, v in mapping.items()}


def _prefix(sf_id: str) -> str:
    return sf_id[:3]


# Salesforce key prefixes (the first 3 characters of an id) of the objects activities point to.
LEAD_PREFIX, CONTACT_PREFIX, ACCOUNT_PREFIX, OPPORTUNITY_PREFIX = "00Q", "003", "001", "006"


@dataclass
class _LeadInfo:
    row: dict[str, str]
    created_at: dt.datetime
    converted_contact: str


@dataclass
class _Activity:
    row: dict[str, str]
    activity_type: str
    direction: str
    occurred_at: dt.datetime
    who: str


@dataclass
class _Converter:
    source: str
    config: SalesforceConfig
    files: dict[str, SfFile]
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.v = _Values(self.source, ZoneInfo(self.config.date_timezone))
        self.stage_map = _lookup(self.config.stages)
        self.status_map = _lookup(self.config.lead_statuses)
        self.source_map = _lookup(self.config.lead_sources)
        self.campaign_map = _lookup(self.config.campaign_types)
        self.activity_map = _lookup(self.config.activity_types)
        self.call_map = _lookup(self.config.call_types)
        self.order_map = _lookup(self.config.order_statuses)
        self.inbound = [re.compile(p) for p in self.config.inbound_subject_patterns]
        self.sdr = re.compile(self.config.sdr_role_pattern)

    # ------------------------------------------------------------------ helpers
    def require(self, f: SfFile, contract: str, *fields: str) -> None:
        """Each of ``fields`` must be a column of ``f`` (it feeds the required contract column)."""
        for fld in fields:
            if not f.has(fld):
                raise SourceError(
                    self.source, f.path, fld,
                    f"the {f.obj} export has no {fld} column, needed for the required contract column {contract}",
                    f"include {fld} in the {f.obj} export (Data Export / Bulk API field {fld}, "
                    f"Fivetran column {re.sub(r'(?<!^)(?=[A-Z])', '_', fld).lower()})",
                )

    def optional_field(self, f: SfFile, key: str, configured: str | None) -> str | None:
        """A field named in the config must exist in the file."""
        if configured is None:
            return None
        if not f.has(configured):
            raise SourceError(
                self.source, f.path, configured,
                f"the configuration's {key} names a field the {f.obj} export does not have",
                f"set {key} to one of the file's columns, add the field to the export, or set it to null",
            )
        return configured

    def updated_at(self, f: SfFile, row: dict[str, str], n: int) -> dt.datetime:
        value = self.v.ts(f, row, "LastModifiedDate", "SystemModstamp", "_fivetran_synced", "CreatedDate", row_no=n)
        if value is None:
            raise SourceError(self.source, f.path, "LastModifiedDate",
                              f"data row {n} has no LastModifiedDate, SystemModstamp or _fivetran_synced",
                              "include LastModifiedDate in the export (it becomes updated_at)")
        return value

    def created_at(self, f: SfFile, row: dict[str, str], n: int) -> dt.datetime:
        value = self.v.ts(f, row, "CreatedDate", "_fivetran_synced", row_no=n)
        if value is None:
            raise SourceError(self.source, f.path, "CreatedDate", f"data row {n} has no CreatedDate",
                              "include CreatedDate in the export")
        return value

    def deleted(self, f: SfFile, row: dict[str, str], n: int) -> bool:
        flag = self.v.boolean(f, row, "IsDeleted", n) if f.has("IsDeleted") else False
        if f.has("_fivetran_deleted"):
            flag = flag or self.v.boolean(f, row, "_fivetran_deleted", n)
        return flag

    def latest(self, f: SfFile, key: str = "Id") -> list[tuple[int, dict[str, str]]]:
        """One row per record (with its 1-based data row number): the latest version.

        History-mode tables (``_fivetran_start``) and concatenated extracts may hold several versions
        of a record; the latest by ``_fivetran_start``, else last-modified, wins. A history-mode record
        whose latest version is no longer active was deleted in Salesforce.
        """
        self.require(f, f"{key} (primary key)", key)
        best: dict[str, tuple[tuple[str, str, int], int, dict[str, str]]] = {}
        for n, row in enumerate(f.rows, start=1):
            rid = f.get(row, key)
            if not rid:
                continue
            order = (f.get(row, "_fivetran_start"),
                     f.get(row, "LastModifiedDate", "SystemModstamp", "_fivetran_synced"), n)
            if rid not in best or order >= best[rid][0]:
                best[rid] = (order, n, row)
        out = []
        for _order, n, row in best.values():
            if f.has("_fivetran_start") and f.has("_fivetran_active") and not self.v.boolean(
                    f, row, "_fivetran_active", n):
                row = {**row, _norm("IsDeleted"): "true"}
            out.append((n, row))
        return out

    def channel(self, value: str, f: SfFile, fld: str, section: str) -> str:
        if not value:
            return "other"
        table = self.campaign_map if section == "campaign_types" else self.source_map
        hit = table.get(value.strip().lower())
        if hit is not None:
            return hit
        if self.config.unknown_channel != "error":
            return self.config.unknown_channel
        raise SourceError(
            self.source, f.path, f.field_name(fld),
            f"{fld} value {value!r} has no channel mapping",
            f"add `{value}: <channel>` under {section} in your Salesforce config YAML (channels: "
            f"{', '.join(CHANNELS)}) or set `unknown_channel: other`",
        )

    def stage(self, value: str, f: SfFile, fld: str, n: int) -> str:
        hit = self.stage_map.get(value.strip().lower())
        if hit is None:
            raise SourceError(
                self.source, f.path, f.field_name(fld),
                f"stage {value!r} (data row {n}) has no mapping",
                f"add `{value}: <stage>` under stages in your Salesforce config YAML "
                "(e.g. prospecting, qualification, proposal, negotiation, closed_won, closed_lost)",
            )
        return hit

    def milestone(self, value: str, f: SfFile, fld: str, n: int) -> str:
        hit = self.status_map.get(value.strip().lower())
        if hit is None:
            raise SourceError(
                self.source, f.path, f.field_name(fld),
                f"lead status {value!r} (data row {n}) has no mapping",
                f"add `{value}: <milestone>` under lead_statuses in your Salesforce config YAML "
                "(new, contacted, qualified, converted or disqualified)",
            )
        return hit

    def currency(self, f: SfFile, row: dict[str, str]) -> str:
        return (f.get(row, "CurrencyIsoCode") or self.config.default_currency).upper()

    # ------------------------------------------------------------------ reps
    def reps(self) -> list[dict[str, Any]]:
        f = self.files.get("User")
        if f is None:
            return []
        roles: dict[str, str] = {}
        if (rf := self.files.get("UserRole")) is not None:
            for _n, row in self.latest(rf):
                roles[rf.get(row, "Id")] = rf.get(row, "Name", "DeveloperName")
        users = self.latest(f)
        managers = {f.get(row, "ManagerId") for _n, row in users} - {""}
        region_field = self.optional_field(f, "rep_region_field", self.config.rep_region_field)
        unknown = self.config.unknown_text
        out = []
        for n, row in users:
            uid = f.get(row, "Id")
            role_id = f.get(row, "UserRoleId")
            role_name = roles.get(role_id, "")
            name = f.get(row, "Name") or " ".join(p for p in (f.get(row, "FirstName"), f.get(row, "LastName")) if p)
            region = (f.get(row, region_field) if region_field
                      else f.get(row, "Division", "Country", "CountryCode") or role_name)
            if uid in managers:
                role = "manager"
            elif role_name and self.sdr.search(role_name):
                role = "sdr"
            else:
                role = "rep"
            updated = self.updated_at(f, row, n)
            hired = self.v.ts(f, row, "CreatedDate", "_fivetran_synced", row_no=n) or updated
            active = self.v.boolean(f, row, "IsActive", n) if f.has("IsActive") and f.get(row, "IsActive") else True
            left = None
            if not active:
                left = self.v.ts(f, row, "LastModifiedDate", "SystemModstamp", "_fivetran_synced", row_no=n)
            out.append({
                "rep_id": uid,
                "rep_name": name or uid,
                "email": f.get(row, "Email") or unknown,
                "team_id": role_id or "no_role",
                "team_name": role_name or (role_id if role_id else "No role"),
                "region": region or unknown,
                "manager_rep_id": f.get(row, "ManagerId") or None,
                "role": role,
                "hired_on": hired.date(),
                "left_on": left.date() if left else None,
                "updated_at": updated,
            })
        return out

    # ------------------------------------------------------------------ leads and activities
    def lead_infos(self) -> dict[str, _LeadInfo]:
        f = self.files.get("Lead")
        if f is None:
            return {}
        if not f.has("_fivetran_synced"):
            self.require(f, "leads.created_at", "CreatedDate")
        return {
            f.get(row, "Id"): _LeadInfo(row, self.created_at(f, row, n), f.get(row, "ConvertedContactId"))
            for n, row in self.latest(f)
        }

    def activities_raw(self) -> list[tuple[SfFile, int, _Activity]]:
        """Tasks and Events that are customer touches (typed, directed), deleted ones dropped."""
        out: list[tuple[SfFile, int, _Activity]] = []
        skipped = 0
        for obj in ("Task", "Event"):
            f = self.files.get(obj)
            if f is None:
                continue
            for n, row in self.latest(f):
                if self.deleted(f, row, n):
                    continue
                kind = None
                for value in (f.get(row, "Type"), f.get(row, "TaskSubtype", "EventSubtype")):
                    hit = self.activity_map.get(value.lower()) if value else None
                    if hit is not None:
                        kind = hit
                        break
                if kind is None and obj == "Event":
                    kind = "meeting"
                if kind is None or kind == "skip":
                    skipped += 1
                    continue
                direction = None
                for fld in self.config.direction_fields:
                    value = f.get(row, fld)
                    if value and value.lower() in self.call_map:
                        direction = self.call_map[value.lower()]
                        break
                if direction is None:
                    subject = f.get(row, "Subject")
                    inbound = any(p.search(subject) for p in self.inbound) if subject else False
                    direction = "inbound" if inbound else self.config.default_direction
                if direction == "skip":
                    skipped += 1
                    continue
                if obj == "Task":
                    occurred = (self.v.ts(f, row, "CompletedDateTime", row_no=n)
                                or self.v.day(f, row, "ActivityDate", row_no=n))
                else:
                    occurred = (self.v.ts(f, row, "StartDateTime", "ActivityDateTime", row_no=n)
                                or self.v.day(f, row, "ActivityDate", row_no=n))
                occurred = occurred or self.created_at(f, row, n)
                out.append((f, n, _Activity(row, kind, direction, occurred, f.get(row, "WhoId"))))
        if skipped:
            self.warnings.append(
                f"{skipped} Task/Event record(s) skipped: to-dos or internal calls (no Type/TaskSubtype "
                "mapped to an activity type in activity_types, or a call_types value of skip)"
            )
        return out

    def leads(self, infos: dict[str, _LeadInfo], acts: list[tuple[SfFile, int, _Activity]]) -> list[dict[str, Any]]:
        f = self.files.get("Lead")
        if f is None:
            return []
        self.require(f, "leads.owner_rep_id", "OwnerId")
        # who ids (the lead, and its contact after conversion: Salesforce moves the lead's activities
        # to the converted contact) -> lead id
        who_to_lead: dict[str, str] = {}
        for lid, info in infos.items():
            who_to_lead[lid] = lid
            if info.converted_contact:
                who_to_lead.setdefault(info.converted_contact, lid)
        first_contact: dict[str, dt.datetime] = {}
        for _f, _n, act in acts:
            lid = who_to_lead.get(act.who)
            if lid is None or act.direction != "outbound":
                continue
            if act.occurred_at < infos[lid].created_at:
                continue
            if lid not in first_contact or act.occurred_at < first_contact[lid]:
                first_contact[lid] = act.occurred_at
        history = self.lead_status_history()
        campaigns = self.lead_campaigns()
        out = []
        for n, row in self.latest(f):
            lid = f.get(row, "Id")
            info = infos[lid]
            created = info.created_at
            status = f.get(row, "Status")
            current = self.milestone(status, f, "Status", n) if status else "new"
            converted = bool(f.get(row, "ConvertedOpportunityId", "ConvertedAccountId")) or (
                f.has("IsConverted") and self.v.boolean(f, row, "IsConverted", n))
            updated = self.updated_at(f, row, n)
            steps = history.get(lid, [])
            hist_first = {m: min((t for s, t in steps if s == m), default=None) for m in
                          ("contacted", "qualified", "converted", "disqualified")}

            def first_of(*ms: str, steps_first: dict[str, dt.datetime | None] = hist_first) -> dt.datetime | None:
                found = [steps_first[m] for m in ms if steps_first[m] is not None]
                return min(found) if found else None

            qualified = first_of("qualified", "converted")
            if qualified is None and converted:
                qualified = self.v.day(f, row, "ConvertedDate", row_no=n) or updated
            if qualified is None and current == "qualified":
                qualified = updated
            disqualified = None
            if current == "disqualified":
                disq = [t for s, t in steps if s == "disqualified"]
                disqualified = max(disq) if disq else updated
            contacted = first_contact.get(lid) or first_of("contacted", "qualified", "converted")
            out.append({
                "lead_id": lid,
                "created_at": created,
                "channel": self.channel(f.get(row, "LeadSource"), f, "LeadSource", "lead_sources"),
                "campaign_id": campaigns.get(lid),
                "owner_rep_id": f.get(row, "OwnerId"),
                "first_contacted_at": contacted,
                "qualified_at": max(qualified, created) if qualified else None,
                "disqualified_at": max(disqualified, created) if disqualified else None,
                "converted_customer_id": f.get(row, "ConvertedAccountId") or None,
                "converted_opportunity_id": f.get(row, "ConvertedOpportunityId") or None,
                "email": f.get(row, "Email") or self.config.unknown_text,
                "updated_at": updated,
                "is_deleted": self.deleted(f, row, n),
            })
        return out

    def lead_status_history(self) -> dict[str, list[tuple[str, dt.datetime]]]:
        """Lead id -> [(milestone entered, when)], from LeadHistory (Field = Status) or its history mode."""
        f = self.files.get("LeadHistory")
        out: dict[str, list[tuple[str, dt.datetime]]] = defaultdict(list)
        if f is None:
            return out
        if f.has("LeadId", "Field", "NewValue"):  # the LeadHistory object: one row per field change
            for n, row in enumerate(f.rows, start=1):
                if f.get(row, "Field").lower() not in ("status", "leadstatus") or not f.get(row, "NewValue"):
                    continue
                if f.has("IsDeleted") and self.v.boolean(f, row, "IsDeleted", n):
                    continue
                when = self.created_at(f, row, n)
                out[f.get(row, "LeadId")].append((self.milestone(f.get(row, "NewValue"), f, "NewValue", n), when))
        elif f.has("Id", "Status", "_fivetran_start"):  # Fivetran history mode of Lead: versions
            for lid, runs in self._runs(f, "Status", lambda v, n: self.milestone(v, f, "Status", n)).items():
                out[lid].extend(runs)
        else:
            self.warnings.append(f"{f.path}: neither LeadHistory rows (LeadId, Field, NewValue) nor "
                                 "history-mode Lead versions (id, status, _fivetran_start); ignored")
        return out

    def _runs(self, f: SfFile, fld: str, mapper) -> dict[str, list[tuple[str, dt.datetime]]]:
        """History-mode versions -> the first version of each run of the same mapped value, per id."""
        versions: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
        for n, row in enumerate(f.rows, start=1):
            value = f.get(row, fld)
            start = self.v.ts(f, row, "_fivetran_start", row_no=n)
            if value and start is not None:
                versions[f.get(row, "Id")].append((start, mapper(value, n)))
        out: dict[str, list[tuple[str, dt.datetime]]] = {}
        for rid, vs in versions.items():
            runs, last = [], None
            for start, mapped in sorted(vs):
                if mapped != last:
                    runs.append((mapped, start))
                last = mapped
            out[rid] = runs
        return out

    def lead_campaigns(self) -> dict[str, str]:
        """Lead id -> its first campaign (CampaignMember, earliest CreatedDate)."""
        f = self.files.get("CampaignMember")
        if f is None or not f.has("LeadId", "CampaignId"):
            return {}
        firsts: dict[str, tuple[dt.datetime, str]] = {}
        for n, row in enumerate(f.rows, start=1):
            lid = f.get(row, "LeadId")
            if not lid or (f.has("IsDeleted") and self.v.boolean(f, row, "IsDeleted", n)):
                continue
            when = self.created_at(f, row, n)
            if lid not in firsts or when < firsts[lid][0]:
                firsts[lid] = (when, f.get(row, "CampaignId"))
        return {lid: cid for lid, (_w, cid) in firsts.items()}

    def activities(self, infos: dict[str, _LeadInfo], acts: list[tuple[SfFile, int, _Activity]]) -> list[dict]:
        who_to_lead = {lid: lid for lid in infos}
        for lid, info in infos.items():
            if info.converted_contact:
                who_to_lead.setdefault(info.converted_contact, lid)
        out = []
        for f, n, act in acts:
            row = act.row
            what = f.get(row, "WhatId")
            lead = who_to_lead.get(act.who) or (act.who if _prefix(act.who) == LEAD_PREFIX else None)
            account = f.get(row, "AccountId") or (what if _prefix(what) == ACCOUNT_PREFIX else "")
            out.append({
                "activity_id": f.get(row, "Id"),
                "activity_type": act.activity_type,
                "direction": act.direction,
                "occurred_at": act.occurred_at,
                "rep_id": f.get(row, "OwnerId") or None,
                "lead_id": lead,
                "opportunity_id": what if _prefix(what) == OPPORTUNITY_PREFIX else None,
                "customer_id": account or None,
                "updated_at": self.updated_at(f, row, n),
            })
        return out

    # ------------------------------------------------------------------ customers
    def customers(self) -> list[dict[str, Any]]:
        f = self.files.get("Account")
        if f is None:
            return []
        self.require(f, "customers.customer_name", "Name")
        self.require(f, "customers.owner_rep_id", "OwnerId")
        region_field = self.optional_field(f, "customer_region_field", self.config.customer_region_field)
        # channel of the converted lead (the earliest one converted into the account)
        lead_channel: dict[str, tuple[dt.datetime, str]] = {}
        if (lf := self.files.get("Lead")) is not None:
            for n, row in self.latest(lf):
                acc = lf.get(row, "ConvertedAccountId")
                if not acc:
                    continue
                when = self.created_at(lf, row, n)
                if acc not in lead_channel or when < lead_channel[acc][0]:
                    lead_channel[acc] = (when, self.channel(lf.get(row, "LeadSource"), lf, "LeadSource",
                                                            "lead_sources"))
        contact: dict[str, tuple[str, str, str]] = {}  # account -> (created, email, phone) of the first contact
        if (cf := self.files.get("Contact")) is not None:
            for n, row in self.latest(cf):
                acc = cf.get(row, "AccountId")
                if not acc or self.deleted(cf, row, n):
                    continue
                key = (cf.get(row, "CreatedDate", "_fivetran_synced"), cf.get(row, "Email"),
                       cf.get(row, "Phone", "MobilePhone"))
                if acc not in contact or key[0] < contact[acc][0]:
                    contact[acc] = key
        unknown = self.config.unknown_text
        out = []
        for n, row in self.latest(f):
            aid = f.get(row, "Id")
            if aid in lead_channel:
                channel = lead_channel[aid][1]
            else:
                channel = self.channel(f.get(row, "AccountSource"), f, "AccountSource", "lead_sources")
            first = contact.get(aid, ("", "", ""))
            region = (f.get(row, region_field) if region_field
                      else f.get(row, "BillingState", "ShippingState", "BillingCountry"))
            out.append({
                "customer_id": aid,
                "customer_name": f.get(row, "Name") or aid,
                "segment": self.segment(f, row, n),
                "industry": f.get(row, "Industry") or unknown,
                "region": region or unknown,
                "country": f.get(row, "BillingCountryCode", "BillingCountry", "ShippingCountryCode",
                                 "ShippingCountry") or unknown,
                "acquisition_channel": channel,
                "referred_by_customer_id": None,
                "owner_rep_id": f.get(row, "OwnerId"),
                "created_at": self.created_at(f, row, n),
                "churned_at": None,
                "email": first[1] or unknown,
                "phone": f.get(row, "Phone") or first[2] or unknown,
                "updated_at": self.updated_at(f, row, n),
                "is_deleted": self.deleted(f, row, n),
            })
        return out

    def segment(self, f: SfFile, row: dict[str, str], n: int) -> str:
        rules = self.config.segment
        for fld, bands in (("NumberOfEmployees", rules.employees), ("AnnualRevenue", rules.annual_revenue)):
            value = self.v.number(f, row, fld, n) if bands is not None else None
            if value is not None:
                if value >= Decimal(str(bands.enterprise)):
                    return "enterprise"
                if value >= Decimal(str(bands.mid_market)):
                    return "mid_market"
                return "smb"
        types = _lookup(rules.types)
        return types.get(f.get(row, "Type").lower(), rules.default)

    # ------------------------------------------------------------------ opportunities
    def stage_history(self) -> dict[str, list[tuple[str, dt.datetime]]]:
        """Opportunity id -> [(mapped stage, entered at)]: the first entry of each run of a stage."""
        f = self.files.get("OpportunityHistory")
        if f is None:
            return {}
        if f.has("OpportunityId", "StageName"):  # the OpportunityHistory object
            entries: dict[str, list[tuple[dt.datetime, int, str]]] = defaultdict(list)
            for n, row in enumerate(f.rows, start=1):
                if f.has("IsDeleted") and self.v.boolean(f, row, "IsDeleted", n):
                    continue
                name = f.get(row, "StageName")
                if not name:
                    continue
                entries[f.get(row, "OpportunityId")].append(
                    (self.created_at(f, row, n), n, self.stage(name, f, "StageName", n)))
            out: dict[str, list[tuple[str, dt.datetime]]] = {}
            for oid, es in entries.items():
                runs, last = [], None
                for when, _n, stage in sorted(es):
                    if stage != last:
                        runs.append((stage, when))
                    last = stage
                out[oid] = runs
            return out
        if f.has("Id", "StageName", "_fivetran_start"):  # Fivetran history mode of Opportunity
            return self._runs(f, "StageName", lambda v, n: self.stage(v, f, "StageName", n))
        raise SourceError(self.source, f.path, "StageName",
                          "the file is neither OpportunityHistory (OpportunityId, StageName, CreatedDate) "
                          "nor history-mode Opportunity versions (id, stage_name, _fivetran_start)",
                          "export OpportunityHistory with OpportunityId, StageName and CreatedDate")

    def opportunities(self, history: dict[str, list[tuple[str, dt.datetime]]]) -> list[dict[str, Any]]:
        f = self.files.get("Opportunity")
        if f is None:
            return []
        self.require(f, "opportunities.customer_id", "AccountId")
        self.require(f, "opportunities.stage", "StageName")
        self.require(f, "opportunities.owner_rep_id", "OwnerId")
        self.require(f, "opportunities.expected_close_on", "CloseDate")
        loss_field = self.optional_field(f, "loss_reason_field", self.config.loss_reason_field)
        lead_of: dict[str, tuple[dt.datetime, str]] = {}
        if (lf := self.files.get("Lead")) is not None:
            for n, row in self.latest(lf):
                oid = lf.get(row, "ConvertedOpportunityId")
                if oid:
                    when = self.created_at(lf, row, n)
                    if oid not in lead_of or when < lead_of[oid][0]:
                        lead_of[oid] = (when, lf.get(row, "Id"))
        out = []
        no_amount = 0
        for n, row in self.latest(f):
            oid = f.get(row, "Id")
            stage = self.stage(f.get(row, "StageName"), f, "StageName", n)
            is_closed = (self.v.boolean(f, row, "IsClosed", n) if f.has("IsClosed")
                         else stage in ("closed_won", "closed_lost"))
            is_won = self.v.boolean(f, row, "IsWon", n) if f.has("IsWon") else stage == "closed_won"
            is_won = is_won and is_closed
            closed_at = None
            if is_closed:
                closed_at = self.v.day(f, row, "CloseDate", row_no=n)
                if closed_at is None:
                    closed = [t for s, t in history.get(oid, []) if s == stage]
                    closed_at = max(closed) if closed else self.updated_at(f, row, n)
            close_day = self.v.day(f, row, "CloseDate", row_no=n) or closed_at or self.created_at(f, row, n)
            amount = self.v.number(f, row, "Amount", n)
            if amount is None:
                no_amount += 1
            out.append({
                "opportunity_id": oid,
                "customer_id": f.get(row, "AccountId"),
                "lead_id": lead_of[oid][1] if oid in lead_of else None,
                "owner_rep_id": f.get(row, "OwnerId"),
                "created_at": self.created_at(f, row, n),
                "stage": stage,
                "amount": amount if amount is not None else Decimal(0),
                "currency": self.currency(f, row),
                "expected_close_on": close_day.astimezone(self.v.tz).date(),
                "closed_at": closed_at,
                "is_closed": is_closed,
                "is_won": is_won,
                "loss_reason": (f.get(row, loss_field) or None) if loss_field and is_closed and not is_won else None,
                "updated_at": self.updated_at(f, row, n),
                "is_deleted": self.deleted(f, row, n),
            })
        if no_amount:
            self.warnings.append(f"{f.path}: {no_amount} opportunity(ies) without Amount written with amount 0")
        return out

    # ------------------------------------------------------------------ orders and spend
    def orders(self, opportunities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        ordered: set[str] = set()
        f = self.files.get("Order")
        if f is not None:
            self.require(f, "orders.customer_id", "AccountId")
            self.require(f, "orders.status", "Status")
            self.require(f, "orders.signed_at", "EffectiveDate")
            for n, row in self.latest(f):
                oid = f.get(row, "OpportunityId")
                if oid:
                    ordered.add(oid)
                status_value = f.get(row, "Status")
                status = self.order_map.get(status_value.lower())
                if status is None:
                    raise SourceError(
                        self.source, f.path, f.field_name("Status"),
                        f"order status {status_value!r} (data row {n}) has no mapping",
                        f"add `{status_value}: <status>` under order_statuses in your Salesforce config YAML "
                        "(active, cancelled, refunded, or skip for orders not signed yet)",
                    )
                if status == "skip":
                    continue
                signed = (self.v.day(f, row, "EffectiveDate", row_no=n)
                          or self.v.ts(f, row, "ActivatedDate", row_no=n) or self.created_at(f, row, n))
                amount = self.v.number(f, row, "TotalAmount", n)
                out.append({
                    "order_id": f.get(row, "Id"),
                    "customer_id": f.get(row, "AccountId"),
                    "opportunity_id": oid or None,
                    "rep_id": f.get(row, "OwnerId", "ActivatedById", "CreatedById"),
                    "signed_at": signed,
                    "amount": amount if amount is not None else Decimal(0),
                    "cost": None,
                    "currency": self.currency(f, row),
                    "status": status,
                    "updated_at": self.updated_at(f, row, n),
                    "is_deleted": self.deleted(f, row, n),
                })
        if self.config.synthesize_orders_from_won_opportunities:
            synthesized = 0
            for opp in opportunities:
                if not opp["is_won"] or opp["opportunity_id"] in ordered:
                    continue
                synthesized += 1
                out.append({
                    "order_id": f"opp-{opp['opportunity_id']}",
                    "customer_id": opp["customer_id"],
                    "opportunity_id": opp["opportunity_id"],
                    "rep_id": opp["owner_rep_id"],
                    "signed_at": opp["closed_at"],
                    "amount": opp["amount"],
                    "cost": None,
                    "currency": opp["currency"],
                    "status": "active",
                    "updated_at": opp["updated_at"],
                    "is_deleted": opp["is_deleted"],
                })
            if synthesized:
                self.warnings.append(f"{synthesized} order(s) synthesised from won opportunities without an "
                                     "Order (synthesize_orders_from_won_opportunities)")
        return out

    def marketing_spend(self) -> list[dict[str, Any]]:
        f = self.files.get("Campaign")
        if f is None:
            return []
        out = []
        for n, row in self.latest(f):
            cost = self.v.number(f, row, "ActualCost", n)
            if cost is None or cost == 0 or self.deleted(f, row, n):
                continue
            when = self.v.day(f, row, "StartDate", row_no=n) or self.created_at(f, row, n)
            out.append({
                "spend_id": f.get(row, "Id"),
                "spend_date": when.astimezone(self.v.tz).date(),
                "channel": self.channel(f.get(row, "Type"), f, "Type", "campaign_types"),
                "campaign_id": f.get(row, "Id"),
                "category": self.config.campaign_category,
                "amount": cost,
                "currency": self.currency(f, row),
            })
        return out


def _stage_history_rows(history: dict[str, list[tuple[str, dt.datetime]]],
                        opportunity_ids: set[str]) -> Iterable[dict[str, Any]]:
    for oid, runs in history.items():
        if opportunity_ids and oid not in opportunity_ids:
            continue
        for stage, when in runs:
            yield {"opportunity_id": oid, "stage": stage, "entered_at": when}


def discover(input_dir: Path, source: str = "salesforce") -> tuple[dict[str, SfFile], list[str]]:
    """Read every object file of ``input_dir`` (either shape); return them and the names ignored."""
    files: dict[str, SfFile] = {}
    ignored: list[str] = []
    if not input_dir.is_dir():
        raise SourceError(source, input_dir, None, "the input folder does not exist",
                          "point the Salesforce source at the folder of the exported CSV files")
    for path in sorted(p for p in input_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
        obj = _object_of(path)
        if obj is None:
            ignored.append(path.name)
            continue
        if obj in files:
            raise SourceError(source, path, None,
                              f"a second file for the {obj} object (the first is {files[obj].path.name})",
                              "keep one file per object in the input folder (merge the extracts)")
        files[obj] = _read_file(path, obj, source)
    return files, ignored


def convert_salesforce(
    input_dir: Path,
    out_dir: Path,
    *,
    config: SalesforceConfig | None = None,
    source: str = "salesforce",
    namespace: str | None = None,
) -> SourceResult:
    """Convert a folder of Salesforce object CSVs (API or Fivetran shape) into canonical landing CSVs.

    Raises :class:`SourceError` (naming the source, file, field and the fix) for a missing required
    field, an unmapped stage, lead status, order status or channel, or an unreadable value.
    """
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    config = config or SalesforceConfig.defaults()
    files, ignored = discover(input_dir, source)
    if not files:
        raise SourceError(source, input_dir, None, "no Salesforce object CSV found",
                          "export objects as <Object>.csv (Account.csv, Opportunity.csv, ...) or Fivetran "
                          "tables (account.csv, sf_opportunity_data.csv, ...)")
    conv = _Converter(source, config, files)
    result = SourceResult(source=source, out_dir=out_dir)
    if ignored:
        result.warnings.append(f"files not used by the Salesforce adapter: {', '.join(ignored)}")

    # Build every table before writing any, so a mapping error leaves no half-written drop.
    infos = conv.lead_infos()
    acts = conv.activities_raw()
    history = conv.stage_history()
    opportunities = conv.opportunities(history)
    tables: dict[str, list[dict[str, Any]]] = {
        "reps": conv.reps(),
        "customers": conv.customers(),
        "leads": conv.leads(infos, acts),
        "opportunities": opportunities,
        "opportunity_stage_history": list(_stage_history_rows(
            history, {o["opportunity_id"] for o in opportunities})),
        "activities": conv.activities(infos, acts),
        "orders": conv.orders(opportunities),
        "marketing_spend": conv.marketing_spend(),
    }
    present = {
        "reps": "User", "customers": "Account", "leads": "Lead", "opportunities": "Opportunity",
        "opportunity_stage_history": "OpportunityHistory", "activities": None, "orders": None,
        "marketing_spend": "Campaign",
    }
    for table, rows in tables.items():
        obj = present[table]
        if table == "activities":
            wanted = "Task" in files or "Event" in files
        elif table == "orders":
            wanted = "Order" in files or bool(rows)
        else:
            wanted = obj in files
        if not wanted:
            continue
        path, count = write_landing_table(out_dir, table, rows, namespace=namespace)
        result.tables[table] = count
        result.files.append(path)
    result.warnings.extend(conv.warnings)
    return result
