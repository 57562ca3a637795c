"""``salespulse dashboard``: render the KPI dashboard from the published reporting database."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .render import LANGUAGES


def dashboard_language(settings) -> str:
    """``settings.dashboard_language``, else ``$SALESPULSE_DASHBOARD_LANGUAGE``, else ``zh``."""
    value = getattr(settings, "dashboard_language", None) or os.environ.get("SALESPULSE_DASHBOARD_LANGUAGE") or "zh"
    value = str(value).strip().lower()
    if value not in LANGUAGES:
        raise ValueError(f"setting dashboard_language must be one of {', '.join(LANGUAGES)}, got {value!r}")
    return value


def default_output(reporting_db: Path) -> Path:
    """Where the dashboard goes by default: ``dashboard.html`` beside the reporting database."""
    return Path(reporting_db).parent / "dashboard.html"


def add_dashboard_parser(sub) -> argparse.ArgumentParser:
    """Add ``dashboard`` to the ``salespulse`` sub-commands."""
    from ..cli import _add_settings_args

    p = sub.add_parser(
        "dashboard",
        help="render the KPI dashboard (one self-contained HTML file) from the reporting database",
    )
    _add_settings_args(p)
    p.add_argument("--language", choices=LANGUAGES, help="labels in Chinese or English "
                   "(default: setting dashboard_language, else zh)")
    p.add_argument("--currency", help="ISO-4217 code of the amounts (default: setting reporting_currency)")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="output file (default: dashboard.html beside the reporting database)")
    p.set_defaults(func=cmd_dashboard)
    return p


def cmd_dashboard(args: argparse.Namespace) -> int:
    from ..cli import _settings
    from .render import render_dashboard

    settings = _settings(args)
    language = args.language or dashboard_language(settings)
    currency = args.currency or settings.reporting_currency
    out = (args.out or default_output(settings.reporting_db)).resolve()
    path = render_dashboard(settings.reporting_db, out, language=language, currency=currency)
    print(f"dashboard written to {path} ({path.stat().st_size / 1e6:.1f} MB, works offline)\n"
          f"open it:    {path.as_uri()}", file=sys.stdout)
    return 0
