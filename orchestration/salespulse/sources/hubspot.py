"""HubSpot source: CRM API v3 records or Fivetran-synced tables -> canonical landing CSVs.

Two input shapes are accepted in ``input_dir`` (detected by file name):

* **CRM API v3 JSON**, as :func:`fetch_hubspot` saves it (or as the list endpoints return it):
  ``deals.json``, ``contacts.json``, ``companies.json``, ``owners.json`` (``/crm/v3/owners``) and
  ``pipelines.json`` (``/crm/v3/pipelines/deals``), each ``{"results": [...]}``, a bare list or
  ``.jsonl``. Objects are ``{"id", "properties": {...}, "createdAt", "updatedAt", "archived"}``;
  deals may carry ``propertiesWithHistory.dealstage: [{value, timestamp}]`` and
  ``associations: {"companies": {"results": [{"id", "type"}]}, "contacts": {...}}``.
* **Fivetran tables** (``deal[_data].csv`` with ``property_*`` columns, ``company``, ``contact``,
  ``owner``, ``deal_pipeline_stage`` (is_closed, closed_won, probability), ``deal_stage``,
  ``deal_property_history``, and when synced ``deal_company`` / ``deal_contact``).

Mapping (every choice below is configurable, see ``hubspot_defaults.yaml``):

* **reps** = owners. Primary team (else the first) -> team_id/team_name, else a default team;
  region and role from per-team maps or defaults; hired_on = the owner's creation day; an archived
  owner left on its last update day. Records without an owner point at a placeholder rep
  (``unassigned_owner_id``), written when used.
* **customers** = companies. Channel = ``hs_analytics_source`` through ``channel_map``; segment,
  region, industry, country, e-mail and phone from properties or documented defaults.
* **leads** = one per contact. created_at = ``hs_lifecyclestage_lead_date`` else ``createdate``;
  first_contacted_at = ``hs_first_outreach_date`` else ``hs_sa_first_engagement_date``;
  qualified_at = ``hs_lifecyclestage_salesqualifiedlead_date`` else the opportunity-stage date.
  A contact that reached a customer lifecycle stage (``hs_lifecyclestage_customer_date`` or
  ``lifecyclestage`` in ``converted_lifecycle_stages``) is converted: converted_customer_id = its
  company (``associatedcompanyid``, else the first associated company), converted_opportunity_id
  = its oldest associated deal (lowest id).
* **opportunities** = deals. The stage id is looked up in the pipelines: closed = the stage's
  ``isClosed``; won = closed with probability 1.0 (Fivetran: ``closed_won``); a deal's
  ``hs_is_closed`` / ``hs_is_closed_won`` override when present. A stage id found in no pipeline
  is a :class:`SourceError`. closed_at = ``closedate`` (else the time the deal entered its
  current stage, else its last update); expected_close_on = the closedate's day (else the
  creation day); currency = ``deal_currency_code`` else ``default_currency``; customer = the
  first associated company; lead = the lowest associated contact id.
* **opportunity_stage_history** = ``dealstage`` history (``propertiesWithHistory``, Fivetran
  ``deal_stage`` / ``deal_property_history`` rows named ``dealstage``).
* **orders**: HubSpot (without Commerce Hub) keeps no orders, so one order per won deal is
  synthesized: ``order_id = <order_id_prefix><deal id>``, signed at the deal's close, for its
  amount and currency. A deal whose history shows a won stage but is no longer won gets a
  deleted order (``is_deleted = true``) so a reopened deal's booking disappears.

Every value is derived from its own record (never from other records of the drop), so the same
record version always converts to the same row. Timestamps without an offset are UTC (HubSpot's
API returns UTC; Fivetran stores UTC). The fetcher :func:`fetch_hubspot` pages the CRM search
endpoint incrementally on the last-modified date with a persisted high-water mark.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import json
import logging
import os
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from ..contract import CHANNELS, TABLES
from .base import SourceError, SourceResult, write_landing_table

__all__ = [
    "DEFAULTS_FILE", "HubSpotConfig", "HubSpotHTTPError", "convert_hubspot", "fetch_hubspot",
]

log = logging.getLogger("salespulse.sources.hubspot")

DEFAULTS_FILE = Path(__file__).with_name("hubspot_defaults.yaml")
OBJECTS = ("companies", "contacts", "deals")
#: The last-modified property the CRM search filters and sorts on, per object.
MODIFIED_PROPERTY = {"deals": "hs_lastmodifieddate", "companies": "hs_lastmodifieddate",
                     "contacts": "lastmodifieddate"}
#: Associations fetched and saved per object (from -> to).
ASSOCIATIONS = {"deals": ("companies", "contacts"), "contacts": ("companies", "deals")}
SINGULAR = {"companies": "company", "contacts": "contact", "deals": "deal"}
SEGMENTS = TABLES["customers"].accepted_values["segment"]
ROLES = TABLES["reps"].accepted_values["role"]
PLACEHOLDER_TS = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # fixed version of placeholder records


# =========================================================================== configuration
def _deep_merge(base: dict, over: Mapping) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _paths(data: Mapping, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in data.items():
        path = f"{prefix}{key}"
        out.add(path)
        if isinstance(value, Mapping) and key not in ("channel_map", "segment_map", "team_regions", "team_roles"):
            out |= _paths(value, path + ".")
    return out


@dataclass
class HubSpotConfig:
    """The adapter's settings: ``hubspot_defaults.yaml`` merged with a user's file.

    ``data`` is the merged mapping (sections as in the YAML); ``user_keys`` the dotted keys the
    user's file set (properties named only by the defaults may be absent from an export; a
    property the user names must exist).
    """

    data: dict[str, Any]
    user_keys: frozenset[str] = frozenset()
    file: str = str(DEFAULTS_FILE.name)
    source: str = "hubspot"

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))

    @classmethod
    def from_dict(cls, overrides: Mapping[str, Any] | None = None, *, file: str = "<config>",
                  source: str = "hubspot") -> HubSpotConfig:
        overrides = dict(overrides or {})
        defaults = cls.defaults()
        unknown = sorted(_paths(overrides) - _paths(defaults))
        if unknown:
            raise SourceError(source, file, unknown[0], "not a HubSpot adapter setting",
                              f"use the keys of {DEFAULTS_FILE.name}: {', '.join(sorted(defaults))}")
        cfg = cls(_deep_merge(defaults, overrides), frozenset(_paths(overrides)), file, source)
        cfg.validate()
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path, *, source: str = "hubspot") -> HubSpotConfig:
        path = Path(path)
        if not path.is_file():
            raise SourceError(source, path, None, "the HubSpot config file does not exist",
                              "point sources[].config at a YAML file (keys of hubspot_defaults.yaml)")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, Mapping):
            raise SourceError(source, path, None, "the config is not a YAML mapping",
                              "write `key: value` lines as in hubspot_defaults.yaml")
        return cls.from_dict(data, file=str(path), source=source)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def section(self, name: str) -> dict[str, Any]:
        return self.data[name]

    def _err(self, key: str, problem: str, fix: str) -> SourceError:
        return SourceError(self.source, self.file, key, problem, fix)

    def validate(self) -> None:
        """Check the merged settings: required contract columns mapped, values in accepted sets."""
        d = self.data
        if not re.fullmatch(r"[A-Z]{3}", str(d.get("default_currency") or "")):
            raise self._err("default_currency", f"{d.get('default_currency')!r} is not an ISO-4217 code",
                            "set default_currency to the portal's currency, e.g. USD or CNY")
        if d["stage_value"] not in ("label", "id"):
            raise self._err("stage_value", f"{d['stage_value']!r} is not label or id", "use label or id")
        if d["history_unknown_stage"] not in ("error", "keep_id"):
            raise self._err("history_unknown_stage", f"{d['history_unknown_stage']!r} is not error or keep_id",
                            "use error or keep_id")
        if not d.get("unassigned_owner_id"):
            raise self._err("unassigned_owner_id", "required column owner_rep_id is left unmapped for "
                            "records without an owner", "set unassigned_owner_id to a placeholder rep id")
        try:
            Decimal(str(d["missing_amount"]))
        except InvalidOperation:
            raise self._err("missing_amount", f"{d['missing_amount']!r} is not a number",
                            "set missing_amount to a number such as 0") from None
        channels = {"default_channel": d["default_channel"],
                    **{f"channel_map.{k}": v for k, v in d["channel_map"].items()}}
        for key, value in channels.items():
            if value not in CHANNELS:
                raise self._err(key, f"{value!r} is not a contract channel", f"use one of {', '.join(CHANNELS)}")
        reps = d["reps"]
        for key, value in {"reps.default_role": reps["default_role"],
                           **{f"reps.team_roles.{k}": v for k, v in reps["team_roles"].items()}}.items():
            if value not in ROLES:
                raise self._err(key, f"{value!r} is not a rep role", f"use one of {', '.join(ROLES)}")
        cust = d["customers"]
        for key, value in {"customers.default_segment": cust["default_segment"],
                           **{f"customers.segment_map.{k}": v for k, v in cust["segment_map"].items()}}.items():
            if value not in SEGMENTS:
                raise self._err(key, f"{value!r} is not a segment", f"use one of {', '.join(SEGMENTS)}")
        for key in ("default_team_id", "default_team_name", "default_region"):
            if not reps.get(key):
                raise self._err(f"reps.{key}", "a required reps column is left unmapped",
                                f"set reps.{key} (used for owners without that information)")
        for key in ("default_region", "default_industry", "default_country", "default_email", "default_phone"):
            if not cust.get(key):
                raise self._err(f"customers.{key}", "a required customers column is left unmapped",
                                f"set customers.{key} (used when a company has no such value)")
        leads = d["leads"]
        for key in ("created_at", "first_contacted_at", "qualified_at", "disqualified_at", "converted_at"):
            if not isinstance(leads.get(key), list):
                raise self._err(f"leads.{key}", "not a list of HubSpot property names",
                                f"write leads.{key}: [property, ...]")
        if not leads["created_at"]:
            raise self._err("leads.created_at", "required contract column leads.created_at is left unmapped",
                            "list at least one contact date property, e.g. [hs_lifecyclestage_lead_date, "
                            "createdate]")
        if not d["orders"].get("order_id_prefix") and d["orders"].get("from_won_deals"):
            raise self._err("orders.order_id_prefix", "an empty prefix makes order ids equal deal ids",
                            "set orders.order_id_prefix, e.g. deal-")

    def user_named_properties(self) -> dict[str, list[tuple[str, str]]]:
        """{object: [(config key, property)]} of the properties the user's file names."""
        out: dict[str, list[tuple[str, str]]] = {"contacts": [], "companies": [], "deals": []}
        for key in ("created_at", "first_contacted_at", "qualified_at", "disqualified_at", "converted_at"):
            if f"leads.{key}" in self.user_keys:
                out["contacts"] += [(f"leads.{key}", p) for p in self.data["leads"][key]]
        if "channel_property" in self.user_keys:
            out["contacts"].append(("channel_property", self.data["channel_property"]))
            out["companies"].append(("channel_property", self.data["channel_property"]))
        for key in ("segment_property", "region_property"):
            if f"customers.{key}" in self.user_keys and self.data["customers"][key]:
                out["companies"].append((f"customers.{key}", self.data["customers"][key]))
        return out

    def fetch_properties(self) -> dict[str, list[str]]:
        """Properties the fetcher requests per object: the fetch list plus every one named above."""
        props = {k: list(v) for k, v in self.data["fetch"]["properties"].items()}
        leads = self.data["leads"]
        for key in ("created_at", "first_contacted_at", "qualified_at", "disqualified_at", "converted_at"):
            props["contacts"] += leads[key]
        for obj in ("contacts", "companies"):
            props[obj].append(self.data["channel_property"])
        for key in ("segment_property", "region_property"):
            if self.data["customers"][key]:
                props["companies"].append(self.data["customers"][key])
        for obj, prop in MODIFIED_PROPERTY.items():
            props[obj].append(prop)
        return {k: list(dict.fromkeys(v)) for k, v in props.items()}


# =========================================================================== input model
@dataclass
class _Record:
    """A HubSpot object in either input shape."""

    id: str
    props: dict[str, str]
    file: str
    created: str | None = None
    updated: str | None = None
    archived: bool = False
    history: list[tuple[str, str]] = field(default_factory=list)  # dealstage (value, timestamp)
    assoc: dict[str, list[str]] = field(default_factory=dict)     # companies/contacts/deals -> ids


@dataclass
class _Stage:
    id: str
    label: str
    pipeline_id: str
    is_closed: bool
    is_won: bool


@dataclass
class _Owner:
    id: str
    email: str | None
    first: str | None
    last: str | None
    teams: list[dict[str, Any]]
    archived: bool
    created: str | None
    updated: str | None
    file: str


@dataclass
class _Input:
    shape: str
    owners: list[_Owner] = field(default_factory=list)
    stages: dict[str, _Stage] = field(default_factory=dict)
    deals: list[_Record] = field(default_factory=list)
    contacts: list[_Record] = field(default_factory=list)
    companies: list[_Record] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # object -> file name
    present: dict[str, set[str]] = field(default_factory=dict)  # object -> property names seen
    orphan_history: int = 0
    history_file: str | None = None


def _is_one(probability: Any) -> bool:
    """A stage probability of 1 (won); unreadable or missing -> False."""
    try:
        return Decimal(str(probability).strip()) == 1
    except (InvalidOperation, ValueError):
        return False


def _text(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def _bool(value: Any) -> bool | None:
    s = (_text(value) or "").lower()
    if s in ("true", "t", "1", "yes"):
        return True
    if s in ("false", "f", "0", "no"):
        return False
    return None


_TS_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}):(\d{2})(.*)$")


def _parse_ts(value: Any) -> dt.datetime | None:
    """A HubSpot/Fivetran timestamp: ISO-8601 (Z or offset; naive = UTC), 'YYYY-MM-DD H:MM:SS',
    a date, or epoch milliseconds. None when empty; ValueError when unreadable."""
    s = _text(value)
    if s is None:
        return None
    if s.isdigit():
        n = int(s)
        return dt.datetime.fromtimestamp(n / 1000 if len(s) >= 12 else n, dt.UTC)
    m = _TS_RE.match(s)
    if m:
        s = f"{m.group(1)}T{int(m.group(2)):02d}:{m.group(3)}{m.group(4)}"
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    out = dt.datetime.fromisoformat(s)
    if out.tzinfo is None:
        out = out.replace(tzinfo=dt.UTC)
    return out.astimezone(dt.UTC)


def _read_json_objects(path: Path, source: str) -> list[dict[str, Any]]:
    try:
        if path.suffix == ".jsonl":
            lines = path.read_text(encoding="utf-8-sig").splitlines()
            items: Any = [json.loads(line) for line in lines if line.strip()]
        else:
            items = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceError(source, path, None, f"not valid JSON: {exc}",
                          "save the API responses unchanged (fetch_hubspot writes them)") from None
    if isinstance(items, Mapping):
        items = items.get("results")
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise SourceError(source, path, "results", "expected a list of objects or {\"results\": [...]}",
                          "save the CRM API v3 list/search responses' results")
    return [dict(i) for i in items]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [dict(r) for r in csv.DictReader(fh)]


def _find(input_dir: Path, names: Iterable[str], suffixes: Iterable[str]) -> Path | None:
    for name in names:
        for suffix in suffixes:
            p = input_dir / f"{name}{suffix}"
            if p.is_file():
                return p
    return None


def _assoc_ids(obj: Mapping[str, Any], kind: str) -> list[str]:
    block = (obj.get("associations") or {}).get(kind) or {}
    items = block.get("results", []) if isinstance(block, Mapping) else block
    ids = []
    for item in items or []:
        if isinstance(item, Mapping):
            i = item.get("id", item.get("toObjectId"))
        else:
            i = item
        if _text(i):
            ids.append(str(i).strip())
    return list(dict.fromkeys(ids))


def _v3_record(obj: Mapping[str, Any], file: str, source: str) -> _Record:
    oid = _text(obj.get("id"))
    if oid is None:
        raise SourceError(source, file, "id", "an object without an id", "save the API objects unchanged")
    props = {k: v for k, v in (obj.get("properties") or {}).items()}
    hist = []
    for h in ((obj.get("propertiesWithHistory") or {}).get("dealstage") or []):
        if _text(h.get("value")):
            hist.append((str(h["value"]).strip(), h.get("timestamp")))
    return _Record(
        id=oid, props=props, file=file, created=_text(obj.get("createdAt")), updated=_text(obj.get("updatedAt")),
        archived=bool(_bool(obj.get("archived"))), history=hist,
        assoc={k: _assoc_ids(obj, k) for k in ("companies", "contacts", "deals")},
    )


def _read_v3(input_dir: Path, source: str) -> _Input:
    inp = _Input(shape="v3")
    for obj in (*OBJECTS, "owners", "pipelines"):
        path = _find(input_dir, [obj], [".json", ".jsonl"])
        if path is None:
            continue
        inp.files[obj] = path.name
        items = _read_json_objects(path, source)
        if obj == "owners":
            for o in items:
                inp.owners.append(_Owner(
                    id=str(o.get("id")), email=_text(o.get("email")), first=_text(o.get("firstName")),
                    last=_text(o.get("lastName")), teams=list(o.get("teams") or []),
                    archived=bool(_bool(o.get("archived"))), created=_text(o.get("createdAt")),
                    updated=_text(o.get("updatedAt")), file=path.name))
        elif obj == "pipelines":
            for p in items:
                for s in p.get("stages") or []:
                    meta = s.get("metadata") or {}
                    closed = bool(_bool(meta.get("isClosed")))
                    won = closed and _is_one(meta.get("probability"))
                    inp.stages[str(s.get("id"))] = _Stage(str(s.get("id")), _text(s.get("label")) or str(s.get("id")),
                                                          str(p.get("id")), closed, won)
        else:
            records = [_v3_record(o, path.name, source) for o in items]
            setattr(inp, obj, records)
            inp.present[obj] = {k for r in records for k in r.props}
    return inp


def _fivetran_props(row: Mapping[str, str]) -> dict[str, str]:
    return {k[len("property_"):]: v for k, v in row.items() if k.startswith("property_")}


def _read_fivetran(input_dir: Path, source: str) -> _Input:
    inp = _Input(shape="fivetran")

    def find(name: str) -> Path | None:
        return _find(input_dir, [name, f"{name}_data"], [".csv"])

    synced = ("_fivetran_synced",)
    if p := find("owner"):
        inp.files["owners"] = p.name
        for r in _read_csv(p):
            active = _bool(r.get("is_active"))
            inp.owners.append(_Owner(
                id=r["owner_id"], email=_text(r.get("email")), first=_text(r.get("first_name")),
                last=_text(r.get("last_name")), teams=[], archived=active is False,
                created=_text(r.get("created_at")), updated=_text(r.get("updated_at")), file=p.name))
    if p := find("deal_pipeline_stage"):
        inp.files["pipelines"] = p.name
        for r in _read_csv(p):
            closed = bool(_bool(r.get("is_closed")))
            won = _bool(r.get("closed_won"))
            if won is None:
                won = closed and _is_one(r.get("probability"))
            inp.stages[r["stage_id"]] = _Stage(r["stage_id"], _text(r.get("label")) or r["stage_id"],
                                               r.get("pipeline_id") or "", closed, bool(won and closed))
    for obj, name, id_col, deleted in (("companies", "company", "id", "is_deleted"),
                                       ("contacts", "contact", "id", "_fivetran_deleted"),
                                       ("deals", "deal", "deal_id", "is_deleted")):
        p = find(name)
        if p is None:
            continue
        inp.files[obj] = p.name
        records = []
        for r in _read_csv(p):
            props = _fivetran_props(r)
            if obj == "deals":
                for col, prop in (("deal_pipeline_stage_id", "dealstage"), ("deal_pipeline_id", "pipeline"),
                                  ("owner_id", "hubspot_owner_id")):
                    if col in r and not _text(props.get(prop)):
                        props[prop] = r[col]
            deleted_flag = _bool(r.get(deleted)) or _bool(r.get("_fivetran_deleted")) or False
            records.append(_Record(id=r[id_col], props=props, file=p.name, created=None,
                                   updated=next((_text(r.get(c)) for c in synced if _text(r.get(c))), None),
                                   archived=bool(deleted_flag)))
        setattr(inp, obj, records)
        inp.present[obj] = {k for r in records for k in r.props}
    deals = {d.id: d for d in inp.deals}
    for name, col, kind in (("deal_company", "company_id", "companies"), ("deal_contact", "contact_id", "contacts")):
        if p := find(name):
            for r in sorted(_read_csv(p), key=lambda r: r.get(col) or ""):
                if r.get("deal_id") in deals and _text(r.get(col)):
                    deals[r["deal_id"]].assoc.setdefault(kind, []).append(r[col])
    history: list[tuple[str, str, str, str]] = []  # (deal, value, ts, file)
    if p := find("deal_stage"):
        inp.history_file = p.name
        history += [(r["deal_id"], r.get("value") or "", r.get("date_entered") or "", p.name) for r in _read_csv(p)]
    if p := find("deal_property_history"):
        inp.history_file = inp.history_file or p.name
        history += [(r["deal_id"], r.get("value") or "", r.get("timestamp") or "", p.name)
                    for r in _read_csv(p) if r.get("name") == "dealstage"]
    for deal_id, value, ts, _file in history:
        if deal_id not in deals:
            inp.orphan_history += 1
        elif _text(value):
            deals[deal_id].history.append((value.strip(), ts))
    return inp


# =========================================================================== conversion
class _Converter:
    def __init__(self, inp: _Input, cfg: HubSpotConfig, source: str):
        self.inp, self.cfg, self.source = inp, cfg, source
        self.warnings: list[str] = []
        self.placeholder_rep_used = False
        self.placeholder_customer_used = False

    # ----------------------------------------------------------------- helpers
    def ts(self, value: Any, file: str, fld: str, rid: str) -> dt.datetime | None:
        try:
            return _parse_ts(value)
        except ValueError:
            raise SourceError(self.source, file, fld, f"record {rid}: cannot read {value!r} as a timestamp",
                              "export ISO-8601 timestamps (e.g. 2024-03-10T08:00:00Z) or epoch milliseconds") \
                from None

    def first_ts(self, rec: _Record, props: Iterable[str], key: str) -> dt.datetime | None:
        for prop in props:
            value = self.ts(rec.props.get(prop), rec.file, prop, rec.id)
            if value is not None:
                return value
        return None

    def updated(self, rec: _Record, prop: str) -> dt.datetime | None:
        return (self.ts(rec.props.get(prop), rec.file, prop, rec.id)
                or self.ts(rec.updated, rec.file, "updatedAt", rec.id)
                or self.ts(rec.props.get("createdate"), rec.file, "createdate", rec.id)
                or self.ts(rec.created, rec.file, "createdAt", rec.id))

    def owner(self, rec: _Record) -> str:
        owner = _text(rec.props.get("hubspot_owner_id"))
        if owner is None:
            self.placeholder_rep_used = True
            return self.cfg["unassigned_owner_id"]
        return owner

    def channel(self, rec: _Record) -> str:
        prop = self.cfg["channel_property"]
        value = _text(rec.props.get(prop))
        if value is None:
            return self.cfg["default_channel"]
        mapped = self.cfg["channel_map"].get(value, self.cfg["channel_map"].get(value.upper()))
        if mapped is None:
            raise SourceError(self.source, rec.file, prop, f"record {rec.id}: value {value!r} is not in channel_map",
                              f"add `{value}: <one of {', '.join(CHANNELS)}>` under channel_map in your "
                              "HubSpot config")
        return mapped

    def stage_label(self, stage: _Stage) -> str:
        return stage.label if self.cfg["stage_value"] == "label" else stage.id

    def check_user_properties(self) -> None:
        for obj, named in self.cfg.user_named_properties().items():
            records = getattr(self.inp, obj)
            if not records:
                continue
            present = self.inp.present.get(obj, set())
            for key, prop in named:
                if prop not in present:
                    raise SourceError(
                        self.source, self.inp.files.get(obj), prop,
                        f"unknown field: the config key {key} names property {prop!r}, which no {obj} record has",
                        f"use a HubSpot internal property name of {obj} (Settings > Properties) or remove it "
                        f"from {key} in {self.cfg.file}; fetch_hubspot requests every property the config names")

    # ----------------------------------------------------------------- tables
    def reps(self) -> list[dict[str, Any]]:
        rc = self.cfg.section("reps")
        rows = []
        for o in self.inp.owners:
            teams = o.teams
            team = next((t for t in teams if _bool(t.get("primary"))), teams[0] if teams else None)
            team_id = _text(team.get("id")) if team else None
            team_name = _text(team.get("name")) if team else None
            team_id, team_name = team_id or rc["default_team_id"], team_name or team_id or rc["default_team_name"]

            def by_team(m: Mapping[str, str], default: str, tid=team_id, tname=team_name) -> str:
                return m.get(tid, m.get(tname, default))

            created = self.ts(o.created, o.file, "createdAt", o.id)
            updated = self.ts(o.updated, o.file, "updatedAt", o.id) or created or PLACEHOLDER_TS
            name = " ".join(p for p in (o.first, o.last) if p) or o.email or f"HubSpot owner {o.id}"
            rows.append({
                "rep_id": o.id, "rep_name": name, "email": o.email or "unknown",
                "team_id": team_id, "team_name": team_name,
                "region": by_team(rc["team_regions"], rc["default_region"]),
                "role": by_team(rc["team_roles"], rc["default_role"]),
                "hired_on": (created or updated).date(), "left_on": updated.date() if o.archived else None,
                "updated_at": updated,
            })
        if self.placeholder_rep_used and self.cfg["unassigned_owner_id"] not in {r["rep_id"] for r in rows}:
            rows.append({
                "rep_id": self.cfg["unassigned_owner_id"], "rep_name": "Unassigned (HubSpot)", "email": "unknown",
                "team_id": rc["default_team_id"], "team_name": rc["default_team_name"],
                "region": rc["default_region"], "role": rc["default_role"], "hired_on": PLACEHOLDER_TS.date(),
                "updated_at": PLACEHOLDER_TS,
            })
        return rows

    def customers(self) -> list[dict[str, Any]]:
        cc = self.cfg.section("customers")
        rows = []
        for c in self.inp.companies:
            p = c.props
            segment = cc["default_segment"]
            if cc["segment_property"] and _text(p.get(cc["segment_property"])):
                value = _text(p.get(cc["segment_property"]))
                if value not in cc["segment_map"]:
                    raise SourceError(self.source, c.file, cc["segment_property"],
                                      f"company {c.id}: value {value!r} is not in customers.segment_map",
                                      f"add `{value}: <one of {', '.join(SEGMENTS)}>` under customers.segment_map")
                segment = cc["segment_map"][value]
            region = _text(p.get(cc["region_property"])) if cc["region_property"] else None
            created = (self.ts(p.get("createdate"), c.file, "createdate", c.id)
                       or self.ts(c.created, c.file, "createdAt", c.id))
            updated = self.updated(c, "hs_lastmodifieddate")
            rows.append({
                "customer_id": c.id, "customer_name": _text(p.get("name")) or f"HubSpot company {c.id}",
                "segment": segment, "industry": _text(p.get("industry")) or cc["default_industry"],
                "region": region or cc["default_region"], "country": _text(p.get("country")) or cc["default_country"],
                "acquisition_channel": self.channel(c), "owner_rep_id": self.owner(c),
                "created_at": created or updated, "email": cc["default_email"],
                "phone": _text(p.get("phone")) or cc["default_phone"], "updated_at": updated or created,
                "is_deleted": c.archived,
            })
        placeholder = self.cfg["missing_company_customer_id"]
        if self.placeholder_customer_used and placeholder not in {r["customer_id"] for r in rows}:
            self.placeholder_rep_used = True
            rows.append({
                "customer_id": placeholder, "customer_name": "No company (HubSpot)", "segment": cc["default_segment"],
                "industry": cc["default_industry"], "region": cc["default_region"], "country": cc["default_country"],
                "acquisition_channel": self.cfg["default_channel"], "owner_rep_id": self.cfg["unassigned_owner_id"],
                "created_at": PLACEHOLDER_TS, "email": cc["default_email"], "phone": cc["default_phone"],
                "updated_at": PLACEHOLDER_TS, "is_deleted": False,
            })
        return rows

    def leads(self) -> list[dict[str, Any]]:
        lc = self.cfg.section("leads")
        stages = {s.lower() for s in lc["converted_lifecycle_stages"]}
        rows = []
        for c in self.inp.contacts:
            p = c.props
            created = self.first_ts(c, lc["created_at"], "leads.created_at") or self.ts(
                c.created, c.file, "createdAt", c.id)
            converted_at = self.first_ts(c, lc["converted_at"], "leads.converted_at")
            converted = converted_at is not None or (_text(p.get("lifecyclestage")) or "").lower() in stages
            company = _text(p.get("associatedcompanyid")) or next(iter(c.assoc.get("companies", [])), None)
            deals = sorted(c.assoc.get("deals", []), key=lambda i: (len(i), i))
            rows.append({
                "lead_id": c.id, "created_at": created, "channel": self.channel(c), "owner_rep_id": self.owner(c),
                "first_contacted_at": self.first_ts(c, lc["first_contacted_at"], "leads.first_contacted_at"),
                "qualified_at": self.first_ts(c, lc["qualified_at"], "leads.qualified_at"),
                "disqualified_at": self.first_ts(c, lc["disqualified_at"], "leads.disqualified_at"),
                "converted_customer_id": company if converted else None,
                "converted_opportunity_id": deals[0] if converted and deals else None,
                "email": _text(p.get("email")) or "unknown",
                "updated_at": self.updated(c, "lastmodifieddate") or created, "is_deleted": c.archived,
            })
        return rows

    def _deal_stage(self, d: _Record) -> _Stage | None:
        stage_id = _text(d.props.get("dealstage"))
        if stage_id is None:
            return None
        stage = self.inp.stages.get(stage_id)
        if stage is None:
            pipelines = self.inp.files.get("pipelines", "pipelines.json")
            raise SourceError(
                self.source, d.file, "dealstage",
                f"deal {d.id}: stage id {stage_id!r} is in no pipeline of {pipelines} "
                f"(pipeline {_text(d.props.get('pipeline')) or '?'})",
                f"save the deal pipelines with every stage (GET /crm/v3/pipelines/deals into {pipelines}, or "
                "Fivetran's deal_pipeline_stage table) in the same input folder")
        return stage

    def opportunities(self) -> tuple[list[dict], list[dict], list[dict]]:
        opps, history, orders = [], [], []
        missing_amount = Decimal(str(self.cfg["missing_amount"]))
        no_amount = no_stage = no_company = 0
        oc = self.cfg.section("orders")
        for d in self.inp.deals:
            p = d.props
            stage = self._deal_stage(d)
            entries: list[tuple[_Stage | None, str, dt.datetime]] = []
            for value, ts in d.history:
                st = self.inp.stages.get(value)
                if st is None and self.cfg["history_unknown_stage"] == "error":
                    raise SourceError(
                        self.source, self.inp.history_file or d.file, "dealstage",
                        f"deal {d.id}: stage-history value {value!r} is in no pipeline",
                        "save the deal pipelines with every stage (deleted stages too), or set "
                        "history_unknown_stage: keep_id to keep the raw stage id")
                when = self.ts(ts, self.inp.history_file or d.file, "dealstage.timestamp", d.id)
                if when is not None:
                    entries.append((st, value, when))
            entries.sort(key=lambda e: e[2])
            seen = set()
            for st, value, when in entries:
                key = (self.stage_label(st) if st else value, when)
                if key not in seen:
                    seen.add(key)
                    history.append({"opportunity_id": d.id, "stage": key[0], "entered_at": when})

            closed_prop, won_prop = _bool(p.get("hs_is_closed")), _bool(p.get("hs_is_closed_won"))
            is_closed = closed_prop if closed_prop is not None else (stage.is_closed if stage else None)
            is_won = won_prop if won_prop is not None else (stage.is_won if stage else None)
            if is_won:
                is_closed = True
            if stage is None:
                no_stage += 1
            created = (self.ts(p.get("createdate"), d.file, "createdate", d.id)
                       or self.ts(d.created, d.file, "createdAt", d.id))
            updated = self.updated(d, "hs_lastmodifieddate") or created
            closedate = self.ts(p.get("closedate"), d.file, "closedate", d.id)
            closed_at = None
            if is_closed:
                entered = [e[2] for e in entries if stage and e[1] == stage.id]
                closed_at = closedate or (max(entered) if entered else None) or updated
            amount_text = _text(p.get("amount"))
            if amount_text is None:
                no_amount += 1
                amount = missing_amount
            else:
                try:
                    amount = Decimal(amount_text)
                except InvalidOperation:
                    raise SourceError(self.source, d.file, "amount", f"deal {d.id}: {amount_text!r} is not a number",
                                      "export amounts as plain numbers (HubSpot's amount property)") from None
            currency = (_text(p.get("deal_currency_code")) or self.cfg["default_currency"]).upper()
            company = next(iter(d.assoc.get("companies", [])), None)
            if company is None:
                no_company += 1
                if self.cfg["missing_company_customer_id"]:
                    company = self.cfg["missing_company_customer_id"]
                    self.placeholder_customer_used = True
            contacts = sorted(d.assoc.get("contacts", []), key=lambda i: (len(i), i))
            owner = self.owner(d)
            opps.append({
                "opportunity_id": d.id, "customer_id": company, "lead_id": contacts[0] if contacts else None,
                "owner_rep_id": owner, "created_at": created,
                "stage": self.stage_label(stage) if stage else None, "amount": amount, "currency": currency,
                "expected_close_on": (closedate or created).date() if (closedate or created) else None,
                "closed_at": closed_at, "is_closed": is_closed, "is_won": is_won,
                "loss_reason": _text(p.get("closed_lost_reason")) if is_closed and not is_won else None,
                "updated_at": updated, "is_deleted": d.archived,
            })
            was_won = [e[2] for e in entries if e[0] is not None and e[0].is_won]
            if oc["from_won_deals"] and (is_won or was_won):
                orders.append({
                    "order_id": f"{oc['order_id_prefix']}{d.id}", "customer_id": company, "opportunity_id": d.id,
                    "rep_id": owner, "signed_at": closed_at if is_won else max(was_won), "amount": amount,
                    "currency": currency, "status": "active", "updated_at": updated,
                    "is_deleted": d.archived or not is_won,
                })
        deals_file = self.inp.files.get("deals")
        if no_stage:
            self.warnings.append(f"{deals_file}: {no_stage} deal(s) without a deal stage: the loader "
                                 "quarantines them (missing stage)")
        if no_amount:
            self.warnings.append(f"{deals_file}: {no_amount} deal(s) without an amount, written as {missing_amount}")
        if no_company:
            what = ("the loader quarantines them (missing customer_id)" if not self.cfg["missing_company_customer_id"]
                    else f"assigned to the placeholder customer {self.cfg['missing_company_customer_id']!r}")
            self.warnings.append(f"{deals_file}: {no_company} deal(s) without an associated company: {what}")
        if self.inp.orphan_history:
            self.warnings.append(f"{self.inp.history_file}: {self.inp.orphan_history} stage-history row(s) of deals "
                                 f"not in {deals_file} skipped")
        return opps, history, orders


def convert_hubspot(
    input_dir: Path,
    out_dir: Path,
    *,
    config: HubSpotConfig | None = None,
    source: str = "hubspot",
    namespace: str | None = None,
) -> SourceResult:
    """Convert HubSpot CRM API v3 JSON or Fivetran tables in ``input_dir`` into landing CSVs.

    Writes reps, customers, leads, opportunities, opportunity_stage_history and orders (each only
    when its input is present) into ``out_dir``; ids are prefixed ``<namespace>:`` when given.
    Raises :class:`SourceError` naming the source, file, field and fix for mapping problems.
    """
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    cfg = config or HubSpotConfig.from_dict({}, source=source)
    cfg.source = source
    if not input_dir.is_dir():
        raise SourceError(source, input_dir, None, "the input folder does not exist",
                          "point the HubSpot source at the folder fetch_hubspot or Fivetran wrote")
    if _find(input_dir, ["deals", *OBJECTS, "owners", "pipelines"], [".json", ".jsonl"]):
        inp = _read_v3(input_dir, source)
    elif _find(input_dir, ["deal", "deal_data", "contact", "contact_data", "company", "company_data", "owner",
                           "owner_data"], [".csv"]):
        inp = _read_fivetran(input_dir, source)
    else:
        raise SourceError(source, input_dir, None, "no HubSpot files found",
                          "put deals.json/contacts.json/companies.json/owners.json/pipelines.json (CRM API v3) or "
                          "Fivetran's deal/contact/company/owner/deal_pipeline_stage CSVs in the folder")
    if inp.deals and not inp.stages:
        raise SourceError(source, input_dir, "dealstage", "deals without any pipeline stages",
                          "save GET /crm/v3/pipelines/deals as pipelines.json (or Fivetran's "
                          "deal_pipeline_stage table) next to the deals")
    conv = _Converter(inp, cfg, source)
    conv.check_user_properties()
    tables: dict[str, list[dict[str, Any]]] = {}
    if inp.deals:
        tables["opportunities"], tables["opportunity_stage_history"], tables["orders"] = conv.opportunities()
    if inp.contacts:
        tables["leads"] = conv.leads()
    if inp.companies or conv.placeholder_customer_used:
        tables["customers"] = conv.customers()
    if inp.owners or conv.placeholder_rep_used:
        tables["reps"] = conv.reps()
    result = SourceResult(source=source, out_dir=out_dir, warnings=conv.warnings)
    for table in ("reps", "customers", "leads", "opportunities", "opportunity_stage_history", "orders"):
        if table in tables and (tables[table] or table not in ("orders", "opportunity_stage_history")):
            path, n = write_landing_table(out_dir, table, tables[table], namespace=namespace)
            result.tables[table] = n
            result.files.append(path)
    for w in conv.warnings:
        log.warning("%s: %s", source, w)
    return result


# =========================================================================== HTTP fetcher
class HubSpotHTTPError(RuntimeError):
    """A HubSpot API call that failed for good (the message never holds the token)."""

    def __init__(self, status: int | None, method: str, path: str, detail: str):
        super().__init__(f"HubSpot API {method} {path} failed" + (f" with HTTP {status}" if status else "")
                         + f": {detail}")
        self.status = status


class _Client:
    """Minimal HubSpot HTTP client on urllib: bearer token, JSON, retries on 429 and 5xx."""

    def __init__(self, base_url: str, token: str, *, timeout: float, max_retries: int, backoff: float,
                 max_backoff: float, sleep: Callable[[float], None]):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout, self.max_retries = timeout, max_retries
        self.backoff, self.max_backoff, self.sleep = backoff, max_backoff, sleep
        self.requests = 0

    def _wait(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(max(float(retry_after), 0.0), self.max_backoff)
            except ValueError:
                pass
        return min(self.backoff * (2 ** attempt), self.max_backoff)

    def call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
             body: Any = None) -> dict[str, Any]:
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
        data = json.dumps(body).encode("utf-8") if body is not None else None
        for attempt in range(self.max_retries + 1):
            req = urllib.request.Request(url, data=data, method=method)
            req.add_header("Authorization", f"Bearer {self._token}")
            req.add_header("Accept", "application/json")
            if data is not None:
                req.add_header("Content-Type", "application/json")
            self.requests += 1
            status, retry_after, detail = None, None, ""
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 (https/loopback)
                    return json.loads(resp.read().decode("utf-8") or "{}")
            except urllib.error.HTTPError as exc:
                status, retry_after = exc.code, exc.headers.get("Retry-After")
                detail = exc.read(500).decode("utf-8", "replace")
                if status != 429 and status < 500:
                    raise HubSpotHTTPError(status, method, path, detail) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                detail = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            if attempt == self.max_retries:
                raise HubSpotHTTPError(status, method, path, f"gave up after {attempt + 1} attempts: {detail}")
            wait = self._wait(attempt, retry_after if status == 429 else None)
            log.warning("HubSpot %s %s: %s, retrying in %.1fs", method, path, status or detail, wait)
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


def _atomic_write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _epoch_ms(ts: dt.datetime) -> str:
    return str(int(ts.timestamp() * 1000))


def _search_all(client: _Client, obj: str, props: list[str], hwm: dt.datetime | None, limit: int) -> list[dict]:
    """Every object modified after ``hwm``, oldest first, through the CRM search endpoint.

    The search endpoint pages at most 10,000 results per query: past that, a new query starts at
    the last modified date seen (GTE, duplicates dropped by id).
    """
    modified = MODIFIED_PROPERTY[obj]
    found: dict[str, dict] = {}
    op, floor = "GT", hwm
    while True:
        after: str | None = None
        served = 0
        last_seen: dt.datetime | None = None
        while True:
            body: dict[str, Any] = {
                "filterGroups": ([{"filters": [{"propertyName": modified, "operator": op,
                                               "value": _epoch_ms(floor)}]}] if floor else []),
                "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
                "properties": props, "limit": limit,
            }
            if after is not None:
                body["after"] = after
            page = client.call("POST", f"/crm/v3/objects/{obj}/search", body=body)
            for item in page.get("results", []):
                found[str(item["id"])] = item
                seen = _parse_ts((item.get("properties") or {}).get(modified) or item.get("updatedAt"))
                last_seen = max(filter(None, (last_seen, seen)), default=None)
            served += len(page.get("results", []))
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if after is None or int(after) >= 10_000:
                break
        if after is None or last_seen is None or served == 0:
            return list(found.values())
        op, floor = "GTE", last_seen  # restart past the search endpoint's 10,000-result window


def _chunks(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def fetch_hubspot(
    config: HubSpotConfig | None,
    state_path: Path,
    out_dir: Path,
    *,
    base_url: str = "https://api.hubapi.com",
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, int]:
    """Fetch HubSpot records changed since the last run into ``out_dir`` (input of convert_hubspot).

    companies, contacts and deals come from ``POST /crm/v3/objects/<object>/search`` filtered on
    the last-modified property ``GT`` the high-water mark and sorted ascending, ``limit`` 100,
    paging by ``paging.next.after``; deals' stage history from ``POST /crm/v3/objects/deals/batch/read``
    (``propertiesWithHistory=dealstage``, which search does not return), associations from
    ``POST /crm/v4/associations/<from>/<to>/batch/read`` (saved in the list endpoint's
    ``associations`` shape). Owners (``/crm/v3/owners``, active and archived) and deal pipelines
    are small and fetched whole every run. The high-water marks (``state_path``, JSON) are saved
    atomically, and only after every file of the run is written. Returns records saved per file.
    """
    cfg = config or HubSpotConfig.from_dict({})
    fc = cfg.section("fetch")
    token = os.environ.get(fc["token_env"] or "")
    if not token:
        raise SourceError(cfg.source, None, f"fetch.token_env={fc['token_env']}",
                          f"the environment variable {fc['token_env']!r} holding the HubSpot token is not set",
                          f"export {fc['token_env']}=<private app access token> (scopes crm.objects.*.read, "
                          "crm.objects.owners.read)")
    state_path, out_dir = Path(state_path), Path(out_dir)
    state: dict[str, Any] = json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else {}
    marks = dict(state.get("high_water_marks") or {})
    client = _Client(base_url, token, timeout=float(fc["timeout_seconds"]), max_retries=int(fc["max_retries"]),
                     backoff=float(fc["backoff_seconds"]), max_backoff=float(fc["max_backoff_seconds"]), sleep=sleep)
    limit = int(fc["page_limit"])
    props = cfg.fetch_properties()
    saved: dict[str, list[dict]] = {}
    new_marks = dict(marks)
    for obj in OBJECTS:
        hwm = _parse_ts(marks.get(obj)) if marks.get(obj) else None
        records = _search_all(client, obj, props[obj], hwm, limit)
        ids = [str(r["id"]) for r in records]
        if obj == "deals" and ids:
            history: dict[str, Any] = {}
            for chunk in _chunks(ids, 100):
                page = client.call("POST", "/crm/v3/objects/deals/batch/read", body={
                    "inputs": [{"id": i} for i in chunk], "properties": ["dealstage"],
                    "propertiesWithHistory": ["dealstage"]})
                for item in page.get("results", []):
                    history[str(item["id"])] = item.get("propertiesWithHistory") or {}
            for r in records:
                r["propertiesWithHistory"] = history.get(str(r["id"]), {})
        for to in ASSOCIATIONS.get(obj, ()):
            assoc: dict[str, list[dict[str, str]]] = {}
            for chunk in _chunks(ids, 100):
                page = client.call("POST", f"/crm/v4/associations/{obj}/{to}/batch/read",
                                   body={"inputs": [{"id": i} for i in chunk]})
                for item in page.get("results", []):
                    assoc.setdefault(str(item["from"]["id"]), []).extend(
                        {"id": str(t.get("toObjectId", t.get("id"))), "type": f"{SINGULAR[obj]}_to_{SINGULAR[to]}"}
                        for t in item.get("to", []))
            for r in records:
                r.setdefault("associations", {})[to] = {"results": assoc.get(str(r["id"]), [])}
        saved[obj] = records
        stamps = [_parse_ts((r.get("properties") or {}).get(MODIFIED_PROPERTY[obj]) or r.get("updatedAt"))
                  for r in records]
        stamps = [s for s in stamps if s is not None]
        if stamps:
            new_marks[obj] = max(stamps + ([hwm] if hwm else [])).isoformat().replace("+00:00", "Z")
    owners: list[dict] = []
    for archived in ("false", "true"):
        after = None
        while True:
            page = client.call("GET", "/crm/v3/owners", params={"limit": limit, "after": after, "archived": archived})
            owners += page.get("results", [])
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if after is None:
                break
    saved["owners"] = owners
    saved["pipelines"] = client.call("GET", "/crm/v3/pipelines/deals").get("results", [])
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, records in saved.items():
        _atomic_write_json(out_dir / f"{name}.json", {"results": records})
    _atomic_write_json(state_path, {"high_water_marks": new_marks,
                                    "last_run_at": dt.datetime.now(dt.UTC).isoformat()})
    counts = {name: len(records) for name, records in saved.items()}
    log.info("HubSpot fetch: %s (%d requests)", counts, client.requests)
    return counts
