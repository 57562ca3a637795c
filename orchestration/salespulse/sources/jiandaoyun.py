"""简道云 (Jiandaoyun): API v5 records or Excel/CSV exports of the CRM forms -> canonical landing CSVs.

Two ways in, one mapping (``salespulse/mappings/jiandaoyun_crm.yaml``, keyed by the forms' field
labels, i.e. the Chinese column headers of an export):

* **Exports**: put each form's export in the input folder named after the form (``客户.csv``,
  ``商机.xlsx``, ``合同.csv``, ``回款.csv``, ``跟进记录.csv``; ``<form>_<anything>`` works too), in
  UTF-8, UTF-8 with BOM or GBK, and convert with :func:`convert_jiandaoyun`.
* **API v5**: :func:`fetch_jiandaoyun` pages through ``POST /api/v5/app/entry/data/list`` per form
  (``data_id`` = the last record's ``_id``, ``limit`` 100, until a page has fewer than ``limit``
  records), only records with ``updateTime`` after the form's persisted high-water mark, and writes
  them as ``<form>.jsonl`` in the same label-keyed shape as an export: widget names
  (``_widget_...`` or aliases) become labels (from ``/api/v5/app/entry/widget/list``, or the
  config's ``field_names``); ``_id`` -> ``数据ID``, ``createTime`` -> ``提交时间``, ``updateTime`` ->
  ``更新时间``, ``creator`` -> ``提交人``; member/department objects (``{"username", "name"}``) become
  their ``name`` (so the owner ``负责人`` is the same text as in an export). Then convert as above.
  The token comes from the environment variable ``token_env`` (default ``JIANDAOYUN_API_TOKEN``)
  and is never logged or stored. The high-water mark is saved only after the form's records were
  written.

Config (YAML, :class:`JiandaoyunConfig`)::

    source: jiandaoyun
    base_url: https://api.jiandaoyun.com
    token_env: JIANDAOYUN_API_TOKEN
    app_id: 6500000000000000000000aa
    state_file: state/jiandaoyun.json       # high-water marks, default <out_dir>/.jiandaoyun_state.json
    forms:                                  # form name (= file name of its records) -> entry
      客户: {entry_id: 6500000000000000000000c1}
      商机: {entry_id: 6500000000000000000000c2, field_names: {_widget_1700000000001: 商机阶段}}

Owners -> reps: the shipped mapping takes ``rep_id`` = ``rep_name`` = the owner's display name
(``负责人``; ``跟进人`` on follow-ups), which an export and the API both carry. Edit a copy of the
mapping to use ``负责人.username`` (member id) instead if names are not unique in your company and
you only use the API; see the mapping file for the other decisions (ids, stages, channels).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .base import SourceError, SourceResult
from .fetch import HttpClient, RetryPolicy, StateStore, paginate

__all__ = [
    "DEFAULT_MAPPING",
    "SYSTEM_FIELDS",
    "JiandaoyunForm",
    "JiandaoyunConfig",
    "FetchSummary",
    "normalise_record",
    "fetch_jiandaoyun",
    "convert_jiandaoyun",
]

log = logging.getLogger(__name__)

DEFAULT_MAPPING = Path(__file__).resolve().parents[1] / "mappings" / "jiandaoyun_crm.yaml"
DATA_LIST = "/api/v5/app/entry/data/list"
WIDGET_LIST = "/api/v5/app/entry/widget/list"

#: System fields of an API record -> the header an export gives them.
SYSTEM_FIELDS: dict[str, str] = {
    "_id": "数据ID",
    "createTime": "提交时间",
    "updateTime": "更新时间",
    "creator": "提交人",
    "updater": "修改人",
}
_DROPPED = {"appId", "entryId", "deleter", "deleteTime", "__v", "formName"}


class JiandaoyunForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entry_id: str
    file: str | None = None  # records file name without suffix (default: the form name)
    field_names: dict[str, str] = {}  # widget name or alias -> label (wins over the widget list)


class JiandaoyunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = "jiandaoyun"
    base_url: str = "https://api.jiandaoyun.com"
    token_env: str = "JIANDAOYUN_API_TOKEN"
    app_id: str
    forms: dict[str, JiandaoyunForm]
    state_file: Path | None = None
    use_labels: bool = True  # rename widgets to labels via the widget list API
    limit: int = 100
    max_retries: int = 5
    backoff_base: float = 1.0
    timeout: float = 30.0

    @classmethod
    def from_yaml(cls, path: Path) -> JiandaoyunConfig:
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            return cls.model_validate(raw)
        except (OSError, yaml.YAMLError) as exc:
            raise SourceError("jiandaoyun", path, None, f"cannot read the config ({exc})",
                              "check the path and the YAML syntax") from exc
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise SourceError("jiandaoyun", path, loc or None, f"invalid config: {err['msg']}",
                              "correct this key as salespulse/sources/jiandaoyun.py describes") from exc


@dataclass
class FetchSummary:
    """Records written per form, the files, and the new high-water marks."""

    records: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    high_water_marks: dict[str, str | None] = field(default_factory=dict)


def _flatten_member(value: Any) -> Any:
    """Member / department objects -> their display name (lists -> names joined by ',')."""
    if isinstance(value, dict) and "name" in value and ("username" in value or "dept_no" in value):
        return value["name"]
    if isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v
                                                 and ("username" in v or "dept_no" in v) for v in value):
        return ",".join(str(v["name"]) for v in value)
    return value


def normalise_record(record: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """An API v5 record keyed like an export: labels for widgets, export names for system fields."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key in _DROPPED:
            continue
        name = SYSTEM_FIELDS.get(key) or labels.get(key) or key
        out[name] = _flatten_member(value)
    return out


def _labels(client: HttpClient, config: JiandaoyunConfig, form: JiandaoyunForm) -> dict[str, str]:
    labels: dict[str, str] = {}
    if config.use_labels:
        body = client.request_json("POST", WIDGET_LIST, body={"app_id": config.app_id, "entry_id": form.entry_id})
        for widget in (body or {}).get("widgets", []):
            if widget.get("name") and widget.get("label"):
                labels[str(widget["name"])] = str(widget["label"])
    labels.update(form.field_names)
    return labels


def fetch_jiandaoyun(
    config: JiandaoyunConfig,
    out_dir: Path,
    *,
    state_path: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
    forms: list[str] | None = None,
) -> FetchSummary:
    """Fetch each form's records updated after its high-water mark into ``<out_dir>/<form>.jsonl``.

    A form's file is replaced on every run (it holds that run's increment; an increment with no
    records gives an empty file). The mark (the greatest ``updateTime`` seen) is saved after the
    file is written; a failed fetch raises and leaves the mark where it was.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = StateStore(state_path or config.state_file or out_dir / ".jiandaoyun_state.json")
    client = HttpClient(
        config.base_url, token_env=config.token_env, source=config.source, sleep=sleep,
        policy=RetryPolicy(max_retries=config.max_retries, backoff_base=config.backoff_base,
                           timeout=config.timeout),
    )
    summary = FetchSummary()
    for name, form in config.forms.items():
        if forms is not None and name not in forms:
            continue
        key = f"{config.source}/{name}"
        since = state.get(key)
        labels = _labels(client, config, form)
        base_body: dict[str, Any] = {"app_id": config.app_id, "entry_id": form.entry_id, "limit": config.limit}
        if since:
            base_body["filter"] = {"rel": "and", "cond": [{"field": "updateTime", "method": "gt", "value": [since]}]}

        def page(cursor: str | None, base_body: dict[str, Any] = base_body) -> tuple[list[dict], str | None]:
            body = dict(base_body)
            if cursor:
                body["data_id"] = cursor
            data = (client.request_json("POST", DATA_LIST, body=body) or {}).get("data") or []
            nxt = str(data[-1]["_id"]) if len(data) >= config.limit and data and "_id" in data[-1] else None
            return data, nxt

        records = list(paginate(page))
        mark = max((str(r["updateTime"]) for r in records if r.get("updateTime")), default=since)
        path = out_dir / f"{form.file or name}.jsonl"
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(normalise_record(r, labels), ensure_ascii=False) + "\n")
        os.replace(tmp, path)
        if mark and mark != since:
            state.set(key, mark)
            state.save()
        log.info("%s: form %s: %d record(s) updated after %s", config.source, name, len(records), since or "the start")
        summary.records[name] = len(records)
        summary.files.append(path)
        summary.high_water_marks[name] = mark
    return summary


def convert_jiandaoyun(
    input_dir: Path,
    out_dir: Path,
    *,
    mapping: Path | None = None,
    source: str = "jiandaoyun",
    namespace: str | None = None,
) -> SourceResult:
    """Convert exports / fetched records in ``input_dir`` with ``mapping`` (default: the shipped one)."""
    from .mapping import convert_with_mapping

    return convert_with_mapping(mapping or DEFAULT_MAPPING, input_dir, out_dir, source=source, namespace=namespace)
