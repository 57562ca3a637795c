"""Security: no PII in the reporting database, read-only SQL access, credentials only from the env."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from test_faults import published_demo

from salespulse.cli import main
from salespulse.settings import Settings

REPO = Path(__file__).resolve().parents[1]
REPORTING = Path("warehouse/reporting.duckdb")

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(
    r"(?<![\w.])\+\d{1,3}[\s-]?\(?\d{1,4}\)?(?:[\s-]?\d){6,}(?!\w)"  # international: +86 555 000000001
    r"|(?<!\d)1[3-9]\d{9}(?!\d)"  # mainland China mobile: 13800138000
    r"|(?<!\d)\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}(?!\d)"  # North American: (555) 123-4567, 555-123-4567
)
PII_COLUMN = re.compile(r"e_?mail|phone|mobile|^tel$|telephone|wechat|whatsapp|id_card|passport|address|birth",
                        re.IGNORECASE)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return published_demo(tmp_path_factory)


def _landing_pii(demo: Path) -> tuple[set[str], set[str]]:
    """The demo CRM's emails and phone numbers, from every text column of every landing file."""
    con = duckdb.connect()
    emails: set[str] = set()
    phones: set[str] = set()
    try:
        for path in sorted((demo / "landing" / "demo").glob("*.parquet")):
            cols = con.execute(f"describe select * from read_parquet('{path}')").fetchall()
            for name, typ, *_ in cols:
                if typ != "VARCHAR":
                    continue
                values = [r[0] for r in con.execute(
                    f"select distinct \"{name}\" from read_parquet('{path}') where \"{name}\" is not null").fetchall()]
                emails.update(v for v in values if EMAIL.fullmatch(v))
                phones.update(v for v in values if PHONE.search(v))
    finally:
        con.close()
    return emails, phones


def test_reporting_db_holds_no_pii(demo):
    reporting = demo / REPORTING
    emails, phones = _landing_pii(demo)
    # the scanner's positive control: the raw demo data does hold emails and phone numbers
    assert len(emails) > 50 and len(phones) > 50, (len(emails), len(phones))

    con = duckdb.connect(str(reporting), read_only=True)
    findings: list[str] = []
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_catalog = current_database()").fetchall()]
        assert "kpi_revenue" in tables
        for table in tables:
            cols = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_catalog = current_database() and table_name = ?", [table]).fetchall()
            for name, typ in cols:
                if PII_COLUMN.search(name):
                    findings.append(f"{table}.{name}: a PII column name")
                values = con.execute(
                    f'select distinct cast("{name}" as varchar) from "{table}" where "{name}" is not null'
                ).fetchall()
                for (value,) in values:
                    if EMAIL.search(value):
                        findings.append(f"{table}.{name}: email-like value {value[:40]!r}")
                    elif typ.upper() in ("VARCHAR", "BIGINT", "HUGEINT", "INTEGER") and PHONE.search(value):
                        findings.append(f"{table}.{name}: phone-like value {value[:40]!r}")
    finally:
        con.close()
    assert not findings, "\n".join(findings[:50])

    data = reporting.read_bytes()
    leaked = [e for e in emails if e.encode() in data] + [p for p in phones if p.encode() in data]
    assert not leaked, leaked[:10]


def test_sql_command_is_read_only(demo, tmp_settings_env, capsys):
    reporting = demo / REPORTING
    before = reporting.read_bytes()
    for statement in (
        "create table hack (a int)",
        "delete from kpi_revenue",
        "update kpi_revenue set bookings = 0",
        "drop table kpi_revenue",
    ):
        assert main(["sql", statement, "--reporting-db", str(reporting)]) == 1, statement
        err = capsys.readouterr().err
        assert "is opened read-only: it cannot be changed here" in err, err
        assert "salespulse refresh" in err
    assert reporting.read_bytes() == before
    assert main(["sql", "select count(*) as n from kpi_revenue", "--reporting-db", str(reporting)]) == 0
    assert "n" in capsys.readouterr().out


# --------------------------------------------------------------------------- credentials
_KNOWN_TOKENS = re.compile(
    r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|\bsk-[A-Za-z0-9_-]{20,}|\bAKIA[0-9A-Z]{16}\b"
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}|-----BEGIN [A-Z ]*PRIVATE KEY-----|\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\."
    r"|hooks\.slack\.com/services/T[A-Za-z0-9]+/|\bAIza[0-9A-Za-z_-]{35}\b|pat[a-zA-Z0-9]{14}\.[a-f0-9]{64}"
)
_SECRET_KEY = (
    r"[\w-]*(?:token|secret|password|passwd|pwd|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret)[\w-]*"
)
# key: value / key = "value" with a literal of 8+ characters that is not a reference to the environment
_YAML_ASSIGN = re.compile(rf"^\s*[\"']?{_SECRET_KEY}[\"']?\s*:\s*[\"']?(?P<v>[^\s\"'#]{{8,}})", re.IGNORECASE | re.M)
_CODE_ASSIGN = re.compile(
    rf"\b{_SECRET_KEY}\b\s*(?::\s*[\w\[\]|. ]+)?=\s*[rbuf]?(?P<q>[\"'])(?P<v>[^\"'\s]{{8,}})(?P=q)", re.IGNORECASE
)
_REFERENCE = re.compile(r"^(?:\{\{|\$\{|\$[A-Z_]|env_var|<|xxx|changeme|your[_-]|example|placeholder)", re.IGNORECASE)
_SKIP_DIRS = {".git", "target", "logs", "dbt_packages", ".venv", "venv", "node_modules", "__pycache__",
              ".pytest_cache", ".ruff_cache", "salespulse.egg-info", "tests", "landing", "warehouse"}
_SUFFIXES = {".py", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".json", ".sql", ".env", ".sh", ".md", ".txt"}


def _config_and_code_files() -> list[Path]:
    files = []
    for path in REPO.rglob("*"):
        rel = path.relative_to(REPO)
        if any(part in _SKIP_DIRS for part in rel.parts[:-1]) or not path.is_file():
            continue
        if path.suffix in _SUFFIXES or path.name in (".env", "profiles.yml", "dagster.yaml", "run"):
            files.append(path)
    return files


def test_no_hard_coded_credentials_in_code_or_config():
    files = _config_and_code_files()
    assert any(p.name == "profiles.yml" for p in files) and any(p.name == "settings.py" for p in files)
    findings = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in _KNOWN_TOKENS.finditer(text):
            findings.append(f"{path.relative_to(REPO)}: token-like value {m.group(0)[:12]}…")
        pattern = _YAML_ASSIGN if path.suffix in (".yml", ".yaml", ".env", ".toml", ".cfg", ".ini") else _CODE_ASSIGN
        for m in pattern.finditer(text):
            value = m.group("v")
            # the NAME of an environment variable holding the secret (token_env: HUBSPOT_ACCESS_TOKEN)
            names_env_var = re.fullmatch(r"[A-Z][A-Z0-9_]{2,}", value) is not None
            if not _REFERENCE.match(value) and not names_env_var:
                findings.append(f"{path.relative_to(REPO)}: {m.group(0).strip()[:60]!r}")
    assert not findings, "hard-coded credentials?\n" + "\n".join(findings)


def test_settings_defaults_hold_no_credentials():
    secretish = re.compile(r"token|secret|password|key|webhook|credential|dsn", re.IGNORECASE)
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    for name, default in defaults.items():
        if secretish.search(name):
            assert default in (None, ""), f"setting {name} has a default value: credentials come from the env"
        if isinstance(default, str):
            assert not _KNOWN_TOKENS.search(default), name
            assert not re.fullmatch(r"[A-Za-z0-9_\-]{24,}", default), f"setting {name}: token-like default"
    # the dbt profile reads the warehouse path from the environment, and nothing secret is in it
    profile = (REPO / "dbt_project" / "profiles.yml").read_text()
    assert "env_var(" in profile
