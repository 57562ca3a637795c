"""Any export with a mapping: CSV / Parquet / Excel / JSON lines + a mapping YAML -> canonical landing CSVs.

A mapping file says, per raw-contract table, which input file(s) feed it and how each contract
column is computed from an input record. It is validated (pydantic) before anything is read, the
input fields it names are checked against the files' real fields, and every required contract
column must be mapped. Shipped examples: ``salespulse/mappings/olist.yaml`` (the Olist funnel) and
``salespulse/mappings/jiandaoyun_crm.yaml`` (简道云 standard CRM forms).

Format (every key below is optional unless marked *required*)::

    version: 1
    source: olist                   # *required*: the source name used in errors and the run log
    namespace: null                 # prefix id columns "<ns>:<id>" (the caller's argument wins)
    defaults:
      timezone: UTC                 # zone of naive timestamps (and of dates taken from timestamps)
      currency: CNY                 # fills every unmapped ``currency`` column
      encoding: auto                # CSV text: auto (UTF-8, UTF-8 with BOM, else GBK/GB18030) or a codec
    inputs:                         # named input files, globs relative to the input folder
      mqls: {file: "olist_marketing_qualified_leads_dataset.csv"}
      deals:
        file: ["deals*.csv", "deals*.xlsx"]   # one glob or a list; all matching files are read
        format: csv                 # csv | parquet | xlsx | jsonl (default: from the suffix)
        encoding: gbk               # CSV only (default: defaults.encoding)
        sheet: 0                    # xlsx only: sheet name or index
        delimiter: ","              # CSV only
        optional: false             # true: no matching file = the tables fed by it are not written
    tables:
      leads:                        # a raw-contract table
        from: mqls                  # *required* (unless ``union``): the input whose records become rows
        join:                       # fields of another input, looked up by key (``deal.sr_id``)
          - {input: deals, on: {mql_id: mql_id}, as: deal, how: left}   # how: left | inner
        filter:                     # keep only records meeting every condition
          - {column: origin, not_empty: true}
        distinct_on: [lead_id]      # one row per key: columns take the first value, or min/max (agg)
        columns:                    # contract column -> spec (a bare string = ``{column: <field>}``)
          lead_id: mql_id
          channel: {column: origin, value_map: {organic_search: organic}, default: other}
          created_at: {column: first_contact_date, date_format: "%Y-%m-%d", timezone: Asia/Shanghai}
          owner_rep_id: {column: deal.sdr_id, default: unassigned}
          email: {template: "{mql_id}@example.invalid"}
          updated_at: {greatest: [first_contact_date, deal.won_date]}
          is_deleted: {const: false}
      reps:                         # several parts appended, e.g. distinct ids of two columns
        columns: {team_id: {const: olist}}     # shared by every part (a part's own columns win)
        union:
          - {from: deals, columns: {rep_id: sr_id, role: {const: rep}}}
          - {columns: {rep_id: {const: placeholder}, role: {const: sdr}}}   # no ``from``: one row
        distinct_on: [rep_id]

A column spec takes exactly one value source -- ``column`` (an input field; ``a.b`` reads a joined
input's field or a nested JSON value), ``const``, ``template`` (``"{mql_id}-opp"``; a format spec
like ``{id:.8}`` truncates), ``concat`` (fields joined by ``sep``), ``coalesce`` (the first
non-empty field), ``greatest`` / ``least`` (of timestamps/numbers, ignoring empty ones) -- then:

* ``in`` / ``not_in`` / ``not_empty``: a derived true/false flag (``is_won: {column: stage, in: [won, 赢单]}``);
* ``when``: a condition (same keys as a filter); the value is empty where it does not hold;
* ``value_map`` (``{input value: contract value}``; ``ignore_case``): a value not in the map is an
  error naming the value, field and row unless ``default`` is given;
* ``default``: the value when the result is empty (and for value-map misses);
* ``date_format`` (strptime) and ``timezone`` (naive timestamps) for timestamp and date columns;
  without a format, ISO-8601 is read. Date columns from aware timestamps take the day in ``timezone``;
* ``optional: true``: the field may be absent from a file (then empty) instead of an error;
* ``agg: first | min | max``: how ``distinct_on`` merges a column.

Values are converted to the contract type of the column (timestamps, dates, booleans, decimals).
A value that cannot be parsed is passed through as text with a warning: the loader quarantines
that row, naming it. Errors of the mapping itself (unknown field, required column unmapped,
value-map miss, invalid YAML) raise :class:`~salespulse.sources.base.SourceError` naming the
source, file, field and the fix.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..contract import BOOL, DATE, MONEY, TABLES, TS
from .base import SourceError, SourceResult, write_landing_table

__all__ = [
    "MappingFile",
    "ColumnSpec",
    "InputSpec",
    "TableSpec",
    "load_mapping",
    "read_input",
    "convert_with_mapping",
]

_VALUE_SOURCES = ("column", "const", "template", "concat", "coalesce", "greatest", "least")
_FLAG_KEYS = ("in_", "not_in", "not_empty")


# --------------------------------------------------------------------------- the mapping format
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _keys_as_text(values: Any) -> Any:
    """YAML reads ``yes:``/``1:`` keys as bool/int; value maps compare text."""
    if isinstance(values, dict):
        return {_text_key(k): v for k, v in values.items()}
    return values


def _text_key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value).strip()


class Condition(_Model):
    """A test on one input field, for ``filter``, ``when`` and the derived flags."""

    column: str
    in_: list[Any] | None = Field(default=None, alias="in")
    not_in: list[Any] | None = None
    equals: Any = None
    not_empty: bool | None = None
    empty: bool | None = None
    ignore_case: bool = False

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        tests = [k for k in ("in_", "not_in", "equals", "not_empty", "empty") if k in self.model_fields_set]
        if len(tests) != 1:
            raise ValueError("a condition needs exactly one of: in, not_in, equals, not_empty, empty")
        return self


class ColumnSpec(_Model):
    """How one contract column is computed from an input record (see the module docstring)."""

    column: str | None = None
    const: Any = None
    template: str | None = None
    concat: list[str] | None = None
    sep: str = ""
    coalesce: list[str] | None = None
    greatest: list[str] | None = None
    least: list[str] | None = None
    in_: list[Any] | None = Field(default=None, alias="in")
    not_in: list[Any] | None = None
    not_empty: bool | None = None
    when: Condition | None = None
    value_map: dict[str, Any] | None = None
    ignore_case: bool = False
    default: Any = None
    date_format: str | None = None
    timezone: str | None = None
    optional: bool = False
    agg: Literal["first", "min", "max"] = "first"

    _normalise_map = field_validator("value_map", mode="before")(lambda cls, v: _keys_as_text(v))

    @model_validator(mode="after")
    def _check(self) -> ColumnSpec:
        sources = [k for k in _VALUE_SOURCES if k in self.model_fields_set]
        if len(sources) != 1:
            raise ValueError(
                f"a column spec needs exactly one of {', '.join(_VALUE_SOURCES)} (got {sources or 'none'})"
            )
        flags = [k for k in _FLAG_KEYS if k in self.model_fields_set]
        if len(flags) > 1:
            raise ValueError("use only one of in, not_in, not_empty")
        if flags and "value_map" in self.model_fields_set:
            raise ValueError("a derived flag (in/not_in/not_empty) and a value_map exclude each other")
        if self.timezone:
            _zone(self.timezone)
        return self

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set

    def fields(self) -> list[str]:
        """The input fields this spec reads."""
        out: list[str] = []
        if self.column:
            out.append(self.column)
        if self.template:
            out.extend(name for name, _ in _template_fields(self.template))
        for names in (self.concat, self.coalesce, self.greatest, self.least):
            out.extend(names or [])
        if self.when:
            out.append(self.when.column)
        return out


ColumnValue = ColumnSpec | str


class InputSpec(_Model):
    file: str | list[str]
    format: Literal["csv", "parquet", "xlsx", "jsonl"] | None = None
    encoding: str | None = None
    sheet: str | int | None = None
    delimiter: str = ","
    optional: bool = False

    @property
    def globs(self) -> list[str]:
        return [self.file] if isinstance(self.file, str) else list(self.file)


class JoinSpec(_Model):
    input: str
    on: dict[str, str]
    as_: str = Field(alias="as")
    how: Literal["left", "inner"] = "left"


class TablePart(_Model):
    from_: str | None = Field(default=None, alias="from")
    join: list[JoinSpec] = []
    filter: list[Condition] = []
    columns: dict[str, ColumnValue] = {}


class TableSpec(TablePart):
    union: list[TablePart] | None = None
    distinct_on: list[str] | None = None

    @model_validator(mode="after")
    def _shape(self) -> TableSpec:
        if self.union is not None and (self.from_ or self.join or self.filter):
            raise ValueError("a table with `union` takes from/join/filter in each part, not at the table level")
        if self.union is None and not self.from_:
            raise ValueError("a table needs `from: <input name>` (or `union:` of parts)")
        return self

    def parts(self) -> list[TablePart]:
        """Each part with the table-level columns merged in (the part's own win)."""
        if self.union is None:
            return [TablePart(**{"from": self.from_, "join": self.join, "filter": self.filter,
                                 "columns": self.columns})]
        return [p.model_copy(update={"columns": {**self.columns, **p.columns}}) for p in self.union]


class Defaults(_Model):
    timezone: str = "UTC"
    currency: str | None = None
    encoding: str = "auto"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        _zone(v)
        return v


class MappingFile(_Model):
    version: Literal[1] = 1
    source: str
    namespace: str | None = None
    description: str | None = None
    defaults: Defaults = Defaults()
    inputs: dict[str, InputSpec]
    tables: dict[str, TableSpec]

    @model_validator(mode="after")
    def _references(self) -> MappingFile:
        for name, table in self.tables.items():
            if name not in TABLES:
                raise ValueError(f"tables.{name}: not a raw contract table (one of {', '.join(TABLES)})")
            contract = TABLES[name].columns
            unknown = [c for c in table.columns if c not in contract]
            for part in table.union or []:
                unknown += [c for c in part.columns if c not in contract]
            if unknown:
                raise ValueError(f"tables.{name}: {sorted(set(unknown))} not columns of {name} "
                                 f"(its columns: {', '.join(contract)})")
            for col in table.distinct_on or []:
                if col not in contract:
                    raise ValueError(f"tables.{name}.distinct_on: {col!r} is not a column of {name}")
            for part in table.parts():
                refs = ([part.from_] if part.from_ else []) + [j.input for j in part.join]
                for ref in refs:
                    if ref not in self.inputs:
                        raise ValueError(f"tables.{name}: input {ref!r} is not defined under `inputs` "
                                         f"(defined: {', '.join(self.inputs) or 'none'})")
        return self


def _zone(name: str) -> dt.tzinfo:
    if name.upper() == "UTC":
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name like Asia/Shanghai or UTC)") from exc


class _YamlLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false (YAML 1.1 reads ``on:``, ``yes``, ``no`` as booleans)."""


_YamlLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_mapping(mapping_path: Path, *, source: str | None = None) -> MappingFile:
    """Read and validate a mapping YAML; errors name the file, the key path and the fix."""
    mapping_path = Path(mapping_path)
    name = source or mapping_path.stem
    try:
        raw = yaml.load(mapping_path.read_text(encoding="utf-8"), Loader=_YamlLoader)  # noqa: S506 - safe subclass
    except OSError as exc:
        raise SourceError(name, mapping_path, None, f"cannot read the mapping file ({exc})",
                          "check the path of the mapping YAML") from exc
    except yaml.YAMLError as exc:
        raise SourceError(name, mapping_path, None, f"the mapping is not valid YAML ({exc})",
                          "fix the YAML syntax at the position shown") from exc
    if not isinstance(raw, dict):
        raise SourceError(name, mapping_path, None, "the mapping must be a YAML mapping (key: value)",
                          "start from salespulse/mappings/olist.yaml")
    if source:
        raw["source"] = source
    name = str(raw.get("source") or name)
    raw.setdefault("source", name)
    try:
        return MappingFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("function-", "str")))
        problem = err["msg"].removeprefix("Value error, ")
        prefix = re.match(r"^(tables[\w.]*): ", problem)
        if not loc and prefix:  # a cross-reference problem found by MappingFile._references
            loc = prefix.group(1)
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise SourceError(name, mapping_path, loc or None, f"invalid mapping: {problem}{more}",
                          "correct this key as the format in salespulse/sources/mapping.py describes") from exc


# --------------------------------------------------------------------------- reading inputs
@dataclass
class Record:
    """One input record: its fields, the file it came from and its 1-based data row."""

    values: dict[str, Any]
    file: Path
    row: int


@dataclass
class InputData:
    name: str
    records: list[Record] = field(default_factory=list)
    fields: dict[Path, list[str]] = field(default_factory=dict)  # per file

    @property
    def all_fields(self) -> list[str]:
        seen: dict[str, None] = {}
        for names in self.fields.values():
            seen.update(dict.fromkeys(names))
        return list(seen)


def _format_of(path: Path, spec: InputSpec) -> str:
    if spec.format:
        return spec.format
    name = path.name.lower()
    for suffix, fmt in ((".csv", "csv"), (".txt", "csv"), (".parquet", "parquet"), (".xlsx", "xlsx"),
                        (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl")):
        if name.endswith(suffix):
            return fmt
    return "csv"


def _clean(value: Any) -> Any:
    """Strip text; empty text, NaN, NaT and pandas NA become None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float) and value != value:
        return None
    try:
        import pandas as pd

        if value is pd.NaT or value is pd.NA:
            return None
    except ImportError:  # pragma: no cover
        pass
    return value


def read_input(path: Path, spec: InputSpec, *, source: str, default_encoding: str = "auto"
               ) -> tuple[list[str], list[dict[str, Any]]]:
    """(field names, records) of one input file; CSV text in UTF-8, UTF-8 with BOM or GBK/GB18030."""
    fmt = _format_of(path, spec)
    if fmt == "csv":
        from ..loader import LandingFileError, detect_encoding

        try:
            encoding = detect_encoding(path, spec.encoding or default_encoding)
        except LandingFileError as exc:
            raise SourceError(source, path, "encoding", str(exc).split(": ", 1)[-1],
                              "re-export as UTF-8 or set `encoding:` on this input (e.g. gbk)") from exc
        try:
            with path.open(encoding=encoding, newline="") as fh:
                reader = csv.reader(fh, delimiter=spec.delimiter)
                header = [h.strip() for h in next(reader, [])]
                rows = [{h: _clean(v) for h, v in zip(header, line, strict=False)} for line in reader
                        if any(v.strip() for v in line)]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise SourceError(source, path, None, f"cannot read the CSV ({exc})",
                              "re-export the file as CSV or set `encoding:`/`delimiter:` on this input") from exc
        return header, rows
    if fmt == "jsonl":
        rows = []
        names: dict[str, None] = {}
        with path.open(encoding="utf-8-sig") as fh:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SourceError(source, path, None, f"line {n} is not JSON ({exc.msg})",
                                      "write one JSON object per line (JSON lines)") from exc
                if not isinstance(obj, dict):
                    raise SourceError(source, path, None, f"line {n} is not a JSON object",
                                      "write one JSON object per line (JSON lines)")
                names.update(dict.fromkeys(obj))
                rows.append({k: _clean(v) for k, v in obj.items()})
        return list(names), rows
    import pandas as pd

    if fmt == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types
            raise SourceError(source, path, None, f"cannot read the Parquet file ({exc})",
                              "check that the file is a complete Parquet file") from exc
    else:  # xlsx
        try:
            import openpyxl  # noqa: F401
        except ImportError as exc:
            raise SourceError(source, path, None,
                              "reading Excel .xlsx files needs the Python package 'openpyxl', which is not "
                              "installed", "pip install openpyxl, or save the sheet as CSV (UTF-8) instead") from exc
        try:
            frame = pd.read_excel(path, sheet_name=spec.sheet if spec.sheet is not None else 0, dtype=object)
        except (ValueError, KeyError, OSError) as exc:
            raise SourceError(source, path, "sheet", f"cannot read the workbook ({exc})",
                              "check the file and the `sheet:` name or index of this input") from exc
    header = [str(c).strip() for c in frame.columns]
    frame.columns = header
    records = [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    return header, [r for r in records if any(v is not None for v in r.values())]


def _load_inputs(mapping: MappingFile, input_dir: Path, names: set[str]) -> dict[str, InputData | None]:
    """Read every named input (None: an optional input without files)."""
    out: dict[str, InputData | None] = {}
    for name in sorted(names):
        spec = mapping.inputs[name]
        files = sorted({p for g in spec.globs for p in input_dir.glob(g) if p.is_file()})
        if not files:
            if spec.optional:
                out[name] = None
                continue
            raise SourceError(mapping.source, input_dir / spec.globs[0], f"inputs.{name}.file",
                              f"no file matches {spec.globs} in {input_dir}",
                              "put the export there, correct the file glob, or mark the input `optional: true`")
        data = InputData(name)
        for path in files:
            header, rows = read_input(path, spec, source=mapping.source, default_encoding=mapping.defaults.encoding)
            data.fields[path] = header
            data.records.extend(Record(r, path, i) for i, r in enumerate(rows, start=1))
        out[name] = data
    return out


# --------------------------------------------------------------------------- values
_TEMPLATE = re.compile(r"\{([^{}:]+)(?::([^{}]*))?\}")


def _template_fields(template: str) -> list[tuple[str, str]]:
    return [(m.group(1).strip(), m.group(2) or "") for m in _TEMPLATE.finditer(template)]


def _get(values: dict[str, Any], name: str) -> Any:
    """A field by name; ``a.b`` walks a joined record or nested JSON objects/lists."""
    if name in values:
        return values[name]
    current: Any = values
    for seg in name.split("."):
        if isinstance(current, dict) and seg in current:
            current = current[seg]
        elif isinstance(current, list) and seg.isdigit() and int(seg) < len(current):
            current = current[int(seg)]
        else:
            return None
    return _clean(current)


def _field_known(name: str, fields: set[str], joins: dict[str, set[str]]) -> bool:
    if name in fields:
        return True
    head, _, rest = name.partition(".")
    if head in joins and rest:
        return rest in joins[head] or rest.partition(".")[0] in joins[head]
    return bool(rest) and head in fields  # nested JSON value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (list, dict, str)) and not value)


def _key(value: Any, ignore_case: bool) -> str:
    text = _text_key(value)
    return text.lower() if ignore_case else text


def _test(cond: Condition, values: dict[str, Any]) -> bool:
    value = _get(values, cond.column)
    if cond.not_empty is not None:
        return (not _empty(value)) == cond.not_empty
    if cond.empty is not None:
        return _empty(value) == cond.empty
    key = _key(value, cond.ignore_case)
    if cond.in_ is not None:
        return key in {_key(v, cond.ignore_case) for v in cond.in_}
    if cond.not_in is not None:
        return key not in {_key(v, cond.ignore_case) for v in cond.not_in}
    return key == _key(cond.equals, cond.ignore_case)


class _Unparsed(ValueError):
    pass


def _to_datetime(value: Any, fmt: str | None, zone: dt.tzinfo) -> dt.datetime:
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        out = value
    elif isinstance(value, dt.date):
        out = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            out = dt.datetime.strptime(value, fmt) if fmt else dt.datetime.fromisoformat(value.replace("/", "-"))
        except ValueError as exc:
            raise _Unparsed(f"{value!r} does not match " + (f"date_format {fmt!r}" if fmt else "ISO-8601")) from exc
    else:
        raise _Unparsed(f"{value!r} is not a timestamp")
    return out if out.tzinfo is not None else out.replace(tzinfo=zone)


def _to_date(value: Any, fmt: str | None, zone: dt.tzinfo) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    moment = _to_datetime(value, fmt, zone)
    return moment.astimezone(zone).date()


_TRUE = {"true", "t", "yes", "y", "1", "是", "真", "on"}
_FALSE = {"false", "f", "no", "n", "0", "否", "假", "off"}


def _convert(value: Any, ctype: str, spec: ColumnSpec, zone: dt.tzinfo) -> Any:
    """``value`` as the contract type ``ctype`` (raises _Unparsed)."""
    if value is None:
        return None
    if ctype == TS:
        return _to_datetime(value, spec.date_format, zone)
    if ctype == DATE:
        return _to_date(value, spec.date_format, zone)
    if ctype == BOOL:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise _Unparsed(f"{value!r} is not true/false")
    if ctype == MONEY or ctype.startswith("DECIMAL"):
        if isinstance(value, bool):
            raise _Unparsed(f"{value!r} is not a number")
        text = str(value).strip().replace(",", "").replace("¥", "").replace("￥", "").replace(" ", "")
        try:
            return Decimal(text)
        except InvalidOperation as exc:
            raise _Unparsed(f"{value!r} is not a number") from exc
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # ids read from Excel as 12.0
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value if isinstance(value, str) else str(value)


@dataclass
class _Context:
    source: str
    table: str
    column: str
    zone: dt.tzinfo
    warnings: list[str]


def _value(spec: ColumnSpec, rec: Record, ctype: str, ctx: _Context) -> Any:
    values = rec.values
    zone = _zone(spec.timezone) if spec.timezone else ctx.zone
    where = f"tables.{ctx.table}.columns.{ctx.column}"
    field_name = spec.column or ctx.column

    def typed(raw: Any) -> Any:
        try:
            return _convert(raw, ctype, spec, zone)
        except _Unparsed as exc:
            ctx.warnings.append(f"{rec.file.name} row {rec.row}, field {field_name!r} -> {ctx.table}.{ctx.column}: "
                                f"{exc}; passed through for the loader to quarantine (set date_format?)")
            return str(raw)

    if "const" in spec.model_fields_set:
        raw = spec.const
    elif spec.column:
        raw = _get(values, spec.column)
    elif spec.template is not None:
        parts = {}
        for name, fmt in _template_fields(spec.template):
            v = _get(values, name)
            if _empty(v):
                parts = None
                break
            parts[(name, fmt)] = format(v, fmt) if fmt else _text_key(v)
        raw = None if parts is None else _TEMPLATE.sub(
            lambda m: parts[(m.group(1).strip(), m.group(2) or "")], spec.template)
    elif spec.concat is not None:
        items = [_text_key(v) for v in (_get(values, n) for n in spec.concat) if not _empty(v)]
        raw = spec.sep.join(items) if items else None
    elif spec.coalesce is not None:
        raw = next((v for v in (_get(values, n) for n in spec.coalesce) if not _empty(v)), None)
    else:
        names = spec.greatest if spec.greatest is not None else spec.least or []
        items = [typed(v) for v in (_get(values, n) for n in names) if not _empty(v)]
        items = [v for v in items if not isinstance(v, str)]
        raw = (max(items) if spec.greatest is not None else min(items)) if items else None

    if spec.when is not None and not _test(spec.when, values):
        raw = None
    if spec.in_ is not None or spec.not_in is not None or spec.not_empty is not None:
        if spec.not_empty is not None:
            return (not _empty(raw)) == spec.not_empty
        members = {_key(v, spec.ignore_case) for v in (spec.in_ if spec.in_ is not None else spec.not_in or [])}
        hit = _key(raw, spec.ignore_case) in members
        return hit if spec.in_ is not None else not hit
    if spec.value_map is not None:
        key = _key(raw, spec.ignore_case)
        table = {(_key(k, spec.ignore_case)): v for k, v in spec.value_map.items()}
        if key in table:
            raw = table[key]
        elif _empty(raw):
            raw = spec.default if spec.has_default else None
        elif spec.has_default:
            raw = spec.default
        else:
            raise SourceError(
                ctx.source, rec.file, field_name,
                f"value {_text_key(raw)!r} in row {rec.row} is not in the value_map of {where}",
                f"add `{_text_key(raw)}: <contract value>` to that value_map, or give it a `default:`",
            )
    if _empty(raw) and spec.has_default:
        raw = spec.default
    if isinstance(raw, (dt.datetime, dt.date, Decimal, bool)) and ctype in (TS, DATE, BOOL, MONEY):
        return raw if ctype != DATE or not isinstance(raw, dt.datetime) else raw.astimezone(zone).date()
    return typed(_clean(raw))


# --------------------------------------------------------------------------- conversion
def _as_spec(value: ColumnValue) -> ColumnSpec:
    return ColumnSpec(column=value) if isinstance(value, str) else value


def _check_part(mapping: MappingFile, mapping_path: Path, table: str, part: TablePart,
                inputs: dict[str, InputData | None]) -> dict[str, ColumnSpec]:
    """The part's column specs; raise for a required column left unmapped or an unknown field."""
    contract = TABLES[table]
    specs = {c: _as_spec(v) for c, v in part.columns.items()}
    if "currency" in contract.columns and "currency" not in specs and mapping.defaults.currency:
        specs["currency"] = ColumnSpec(const=mapping.defaults.currency)
    for col in contract.required:
        if col not in specs:
            example = "{const: false}" if contract.columns[col] == BOOL else "{column: <input field>}"
            raise SourceError(
                mapping.source, mapping_path, f"tables.{table}.columns.{col}",
                f"the required contract column {table}.{col} is not mapped",
                f"map it from an input field (`{col}: {example}`) or give a constant (`{col}: {{const: ...}}`)",
            )
    base = inputs.get(part.from_) if part.from_ else None
    joins = {j.as_: set((inputs.get(j.input) or InputData(j.input)).all_fields) for j in part.join}
    checks: list[tuple[str, str]] = [(f"tables.{table}.columns.{c}", f) for c, s in specs.items()
                                     for f in s.fields() if not s.optional]
    checks += [(f"tables.{table}.filter", c.column) for c in part.filter]
    for j in part.join:
        checks += [(f"tables.{table}.join.{j.as_}", left) for left in j.on]
        right = inputs.get(j.input)
        for r in j.on.values():
            if right is not None and right.records and r not in right.all_fields:
                raise SourceError(mapping.source, next(iter(right.fields)), r,
                                  f"the join key {r!r} of input {j.input!r} is not a field of its file "
                                  f"(fields: {', '.join(right.all_fields)})",
                                  "correct the `on:` of this join")
    if base is None:
        for where, name in checks:
            if not _field_known(name, set(), joins):
                raise SourceError(mapping.source, mapping_path, name,
                                  f"{where} reads a field but the table has no `from:` input",
                                  "use `const:` in a part without `from:`, or add `from: <input>`")
        return specs
    for path, names in base.fields.items():
        if path.suffix.lower() in (".jsonl", ".ndjson", ".json") and not names:
            continue  # no records: nothing to convert, nothing to check
        fields = set(names)
        for where, name in checks:
            if not _field_known(name, fields, joins):
                available = sorted(fields) + sorted(f"{a}.{f}" for a, fs in joins.items() for f in fs)
                shown = ", ".join(available[:60]) + (" ..." if len(available) > 60 else "")
                raise SourceError(
                    mapping.source, path, name,
                    f"{where} names the input field {name!r}, which the file does not have "
                    f"(available fields: {shown})",
                    "correct the field name in the mapping (a copy of the shipped YAML), or mark the "
                    "column `optional: true` if the field is only sometimes present",
                )
    return specs


def _rows_of_part(mapping: MappingFile, table: str, part: TablePart, specs: dict[str, ColumnSpec],
                  inputs: dict[str, InputData | None], zone: dt.tzinfo, warnings: list[str]
                  ) -> Iterator[dict[str, Any]]:
    base = inputs.get(part.from_) if part.from_ else None
    records = base.records if base is not None else [Record({}, Path("<const>"), 1)]
    indexes = []
    for j in part.join:
        right = inputs.get(j.input)
        index: dict[tuple[str, ...], dict[str, Any]] = {}
        dupes = 0
        for r in right.records if right is not None else []:
            k = tuple(_text_key(_get(r.values, f)) for f in j.on.values())
            if k in index:
                dupes += 1
                continue
            index[k] = r.values
        if dupes:
            warnings.append(f"{table}: join {j.as_!r} on input {j.input!r}: {dupes} duplicate key(s), "
                            "the first record of each key is used")
        indexes.append((j, index))
    contract = TABLES[table]
    for rec in records:
        values = rec.values
        if indexes:
            values = dict(values)
            skip = False
            for j, index in indexes:
                match = index.get(tuple(_text_key(_get(rec.values, f)) for f in j.on))
                if match is None and j.how == "inner":
                    skip = True
                    break
                values[j.as_] = match
            if skip:
                continue
            rec = Record(values, rec.file, rec.row)
        if not all(_test(c, values) for c in part.filter):
            continue
        yield {
            col: _value(spec, rec, contract.columns[col], _Context(mapping.source, table, col, zone, warnings))
            for col, spec in specs.items()
        }


def _distinct(rows: list[dict[str, Any]], keys: list[str], specs: dict[str, ColumnSpec]) -> list[dict[str, Any]]:
    merged: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        k = tuple(_text_key(row.get(c)) for c in keys)
        if k not in merged:
            merged[k] = dict(row)
            continue
        kept = merged[k]
        for col, value in row.items():
            agg = specs[col].agg if col in specs else "first"
            if value is None:
                continue
            if kept.get(col) is None:
                kept[col] = value
            elif agg != "first":
                try:
                    kept[col] = min(kept[col], value) if agg == "min" else max(kept[col], value)
                except TypeError:
                    pass
    return list(merged.values())


def convert_with_mapping(
    mapping_path: Path,
    input_dir: Path,
    out_dir: Path,
    *,
    source: str | None = None,
    namespace: str | None = None,
) -> SourceResult:
    """Convert the exports in ``input_dir`` into canonical ``<table>.csv`` files in ``out_dir``.

    ``source`` overrides the mapping's ``source`` name; ``namespace`` (else the mapping's) prefixes
    id columns. Tables fed only by optional inputs without files are not written.
    """
    mapping_path, input_dir, out_dir = Path(mapping_path), Path(input_dir), Path(out_dir)
    mapping = load_mapping(mapping_path, source=source)
    ns = namespace if namespace is not None else mapping.namespace
    if not input_dir.is_dir():
        raise SourceError(mapping.source, input_dir, None, "the input folder does not exist",
                          "point the source at the folder holding the export files")
    needed = {n for t in mapping.tables.values() for p in t.parts()
              for n in ([p.from_] if p.from_ else []) + [j.input for j in p.join]}
    inputs = _load_inputs(mapping, input_dir, needed)
    zone = _zone(mapping.defaults.timezone)
    result = SourceResult(source=mapping.source, out_dir=out_dir)
    for table, spec in mapping.tables.items():
        parts = [p for p in spec.parts() if p.from_ is None or inputs.get(p.from_) is not None]
        if not parts or all(p.from_ is None for p in parts) and any(p.from_ for p in spec.parts()):
            result.warnings.append(f"{table}: not written (its optional input files are absent)")
            continue
        rows: list[dict[str, Any]] = []
        all_specs: dict[str, ColumnSpec] = {}
        for part in parts:
            specs = _check_part(mapping, mapping_path, table, part, inputs)
            all_specs.update(specs)
            rows.extend(_rows_of_part(mapping, table, part, specs, inputs, zone, result.warnings))
        if spec.distinct_on:
            rows = _distinct(rows, spec.distinct_on, all_specs)
        path, n = write_landing_table(out_dir, table, rows, namespace=ns)
        result.tables[table] = n
        result.files.append(path)
    return result
