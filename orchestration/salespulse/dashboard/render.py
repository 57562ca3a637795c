"""Render the KPI dashboard: one self-contained HTML file from the published reporting database.

The page holds everything it needs - the data of the three grains (month, fiscal quarter, fiscal
year) as JSON, the chart library (Apache ECharts, vendored in ``vendor/``) and the page script -
so it opens offline, from a file, a share or a mail attachment. The grain switch re-renders every
chart and the scorecard from the embedded data.

Only the published reporting database is read (read-only, like any BI client), never the build
warehouse: a file without the ``_publication`` table that publication writes is refused.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import os
import re
import uuid
from pathlib import Path
from typing import Any

import duckdb

LANGUAGES = ("zh", "en")
GRAINS = ("month", "quarter", "year")
HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "templates" / "dashboard.html"
SCRIPT = HERE / "templates" / "dashboard.js"
ECHARTS = HERE / "vendor" / "echarts.min.js"

# Column labels. The Chinese ones are the marts' own ``meta.label_zh`` (dbt YAML of
# dbt_project/models/marts/kpi; tests/test_dashboard.py checks they stay equal); keys are
# ``<mart>.<column>``.
COLUMN_LABELS: dict[str, dict[str, str]] = {
    "kpi_revenue.bookings": {"zh": "销售额(签约额)", "en": "Bookings"},
    "kpi_revenue.bookings_prior_year": {"zh": "销售额(签约额)-去年同期", "en": "Bookings, prior year"},
    "kpi_revenue.bookings_yoy": {"zh": "销售额(签约额)-同比", "en": "Bookings YoY"},
    "kpi_attainment.bookings_actual": {"zh": "销售额-实际", "en": "Bookings actual"},
    "kpi_attainment.bookings_target": {"zh": "销售额-目标", "en": "Bookings target"},
    "kpi_attainment.bookings_attainment": {"zh": "销售额-达成率", "en": "Bookings attainment"},
    "kpi_funnel.leads": {"zh": "线索数(批次)", "en": "Leads (cohort)"},
    "kpi_funnel.lead_to_contact_rate": {"zh": "潜在客户转化率", "en": "Lead to contact"},
    "kpi_funnel.contact_to_qualified_rate": {"zh": "初次接触转化率", "en": "Contact to qualified"},
    "kpi_funnel.qualified_to_won_rate": {"zh": "进一步沟通转化率", "en": "Qualified to won"},
    "kpi_funnel.lead_to_won_rate": {"zh": "线索赢单转化率", "en": "Lead to won"},
    "kpi_funnel.is_mature": {"zh": "是否成熟批次", "en": "Mature cohort"},
    "kpi_cac.ad_spend": {"zh": "广告投放费用", "en": "Ad spend"},
    "kpi_cac.other_marketing": {"zh": "其他营销费用", "en": "Other marketing"},
    "kpi_cac.sales_compensation": {"zh": "销售薪酬", "en": "Sales compensation"},
    "kpi_cac.cac_blended": {"zh": "综合获客成本", "en": "Blended CAC"},
    "kpi_cac.cac_paid": {"zh": "渠道付费获客成本", "en": "Paid CAC by channel"},
    "kpi_cac.channel_spend": {"zh": "渠道营销费用", "en": "Channel spend"},
    "kpi_clv.clv_simple": {"zh": "客户终身价值(简易)", "en": "CLV"},
    "kpi_clv.cac_blended_12m": {"zh": "近12个月综合获客成本", "en": "Blended CAC, 12 months"},
    "kpi_clv.ltv_to_cac": {"zh": "客户终身价值/获客成本", "en": "LTV:CAC"},
    "kpi_clv.cac_payback_months": {"zh": "获客成本回收期(月)", "en": "CAC payback (months)"},
    "kpi_sales_cycle.response_time_median_days": {
        "zh": "初次接触时间-中位数(天)", "en": "Response time, median (days)"},
    "kpi_sales_cycle.response_time_p90_days": {"zh": "初次接触时间-P90(天)", "en": "Response time, p90 (days)"},
    "kpi_sales_cycle.signing_time_median_days": {"zh": "签约时间-中位数(天)", "en": "Signing time, median (days)"},
    "kpi_sales_cycle.signing_time_p90_days": {"zh": "签约时间-P90(天)", "en": "Signing time, p90 (days)"},
    "kpi_sales_cycle.delivery_time_median_days": {"zh": "交付时间-中位数(天)", "en": "Delivery time, median (days)"},
    "kpi_sales_cycle.delivery_time_p90_days": {"zh": "交付时间-P90(天)", "en": "Delivery time, p90 (days)"},
    "kpi_customers.churn_rate": {"zh": "流失率", "en": "Churn rate"},
    "kpi_customers.repurchase_rate": {"zh": "复购率", "en": "Repurchase rate"},
    "kpi_customers.referral_rate": {"zh": "推荐率", "en": "Referral rate"},
    "kpi_customers.new_customers": {"zh": "新增客户数", "en": "New customers"},
    "kpi_scorecard.rank_in_company": {"zh": "公司内排名", "en": "Company rank"},
    "kpi_scorecard.rep_name": {"zh": "销售姓名", "en": "Rep"},
    "kpi_scorecard.team_id": {"zh": "团队ID", "en": "Team"},
    "kpi_scorecard.bookings": {"zh": "销售额", "en": "Bookings"},
    "kpi_scorecard.bookings_target": {"zh": "销售额目标", "en": "Bookings target"},
    "kpi_scorecard.attainment": {"zh": "达成率", "en": "Attainment"},
    "kpi_scorecard.rank_in_team": {"zh": "团队内排名", "en": "Team rank"},
    "kpi_scorecard.new_customers": {"zh": "新客户数", "en": "New customers"},
    "kpi_scorecard.new_customers_target": {"zh": "新客户目标", "en": "New customer target"},
    "kpi_scorecard.win_rate": {"zh": "赢单率", "en": "Win rate"},
    "kpi_scorecard.won_amount": {"zh": "赢单金额", "en": "Won amount"},
    "kpi_scorecard.median_signing_days": {"zh": "签约时间中位数(天)", "en": "Median signing (days)"},
    "kpi_scorecard.activities_logged": {"zh": "活动记录数", "en": "Activities"},
}

# Page texts that are not mart columns.
TEXTS: dict[str, dict[str, str]] = {
    "title": {"zh": "销售业绩仪表盘", "en": "Sales performance dashboard"},
    "as_of": {"zh": "数据截至", "en": "As of"},
    "published_at": {"zh": "发布时间", "en": "Published"},
    "currency": {"zh": "报告币种", "en": "Reporting currency"},
    "source": {"zh": "数据来源", "en": "Source"},
    "grain": {"zh": "周期", "en": "Grain"},
    "grain_month": {"zh": "月", "en": "Month"},
    "grain_quarter": {"zh": "季", "en": "Quarter"},
    "grain_year": {"zh": "年", "en": "Year"},
    "latest_period": {"zh": "最近周期", "en": "Latest period"},
    "partial_note": {"zh": "* 未完整周期(截至基准日)", "en": "* partial period (through the as-of date)"},
    "sec_bookings": {"zh": "销售额:月度趋势、目标与同比", "en": "Bookings: trend, target and YoY"},
    "sec_share": {"zh": "销售额构成", "en": "Bookings mix"},
    "share_channel": {"zh": "按获客渠道", "en": "By acquisition channel"},
    "share_segment": {"zh": "按客户细分", "en": "By customer segment"},
    "sec_attainment": {"zh": "目标达成:团队与销售", "en": "Target attainment by team and rep"},
    "attainment_team": {"zh": "团队", "en": "Teams"},
    "attainment_rep": {"zh": "销售", "en": "Reps"},
    "sec_funnel": {"zh": "销售漏斗转化率(按线索批次)", "en": "Funnel conversion by lead cohort"},
    "immature": {"zh": "未成熟批次", "en": "Immature cohorts"},
    "sec_cac": {"zh": "获客成本构成与综合获客成本", "en": "CAC components and blended CAC"},
    "sec_cac_channel": {"zh": "各渠道获客成本", "en": "CAC by channel"},
    "cac_channel_bar": {"zh": "渠道付费获客成本", "en": "Paid CAC"},
    "cac_channel_pie": {"zh": "渠道营销费用占比", "en": "Channel spend share"},
    "sec_clv": {
        "zh": "客户终身价值、LTV:CAC 与回收期(近12个月)", "en": "CLV, LTV:CAC and payback (trailing 12 months)"},
    "sec_cycle": {"zh": "销售周期:中位数与P90(天)", "en": "Sales cycle: median and p90 (days)"},
    "sec_customers": {"zh": "流失、复购与推荐趋势", "en": "Churn, repurchase and referral trends"},
    "sec_scorecard": {"zh": "销售评估记分卡", "en": "Rep scorecard"},
    "kpi_bookings": {"zh": "销售额", "en": "Bookings"},
    "kpi_attainment": {"zh": "目标达成率", "en": "Attainment"},
    "kpi_yoy": {"zh": "同比", "en": "YoY"},
    "kpi_new_customers": {"zh": "新增客户数", "en": "New customers"},
    "kpi_cac": {"zh": "综合获客成本", "en": "Blended CAC"},
    "kpi_ltv_cac": {"zh": "LTV:CAC", "en": "LTV:CAC"},
    "no_data": {"zh": "无数据", "en": "No data"},
    "unknown": {"zh": "未知", "en": "unknown"},
    "footer": {
        "zh": "由 salespulse 从已发布的报告库生成;图表库 Apache ECharts 已内嵌,离线可用。",
        "en": "Generated by salespulse from the published reporting database; chart library "
        "(Apache ECharts) embedded, works offline.",
    },
}

# The queries of each grain ($grain); $latest is the grain's latest company period of kpi_revenue.
_SQL: dict[str, str] = {
    "revenue": """
        select r.period_start, r.period_end, r.is_partial, r.bookings, r.bookings_prior_year, r.bookings_yoy,
               a.bookings_target, a.bookings_attainment
        from kpi_revenue r
        left join kpi_attainment a
          on a.period_type = r.period_type and a.period_start = r.period_start and a.slice = 'company'
        where r.period_type = $grain and r.slice = 'company'
        order by r.period_start""",
    "share_channel": """
        select coalesce(slice_value, 'unknown') as name, bookings as value from kpi_revenue
        where period_type = $grain and slice = 'channel' and period_start = $latest and bookings > 0
        order by bookings desc""",
    "share_segment": """
        select coalesce(slice_value, 'unknown') as name, bookings as value from kpi_revenue
        where period_type = $grain and slice = 'segment' and period_start = $latest and bookings > 0
        order by bookings desc""",
    "attainment": """
        select period_start, is_partial, slice, coalesce(slice_value, 'unknown') as id,
               bookings_actual, bookings_target, bookings_attainment
        from kpi_attainment
        where period_type = $grain and slice in ('team', 'rep')
          and period_start = (  -- the latest period with targets
              select coalesce(max(period_start) filter (where bookings_target is not null), max(period_start))
              from kpi_attainment where period_type = $grain and slice in ('team', 'rep'))
        order by slice, bookings_attainment desc nulls last, id""",
    "funnel": """
        select period_start, period_end, is_partial, is_mature, leads, contacted, qualified, won,
               lead_to_contact_rate, contact_to_qualified_rate, qualified_to_won_rate, lead_to_won_rate
        from kpi_funnel where period_type = $grain and slice = 'company' order by period_start""",
    "cac": """
        select period_start, period_end, is_partial, ad_spend, other_marketing, sales_compensation,
               total_acquisition_cost, new_customers, cac_blended
        from kpi_cac where period_type = $grain and slice = 'company' order by period_start""",
    "cac_channel": """
        select period_start, is_partial, coalesce(slice_value, 'unknown') as channel, channel_spend,
               channel_new_customers, cac_paid
        from kpi_cac
        where period_type = $grain and slice = 'channel'
          and period_start = (  -- the latest period with a paid CAC
              select coalesce(max(period_start) filter (where cac_paid is not null), max(period_start))
              from kpi_cac where period_type = $grain and slice = 'channel')
        order by channel_spend desc nulls last, channel""",
    "cycle": """
        select period_start, period_end, is_partial,
               response_time_median_days, response_time_p90_days,
               signing_time_median_days, signing_time_p90_days,
               delivery_time_median_days, delivery_time_p90_days
        from kpi_sales_cycle where period_type = $grain and slice = 'company' order by period_start""",
    "customers": """
        select period_start, period_end, is_partial, new_customers, churn_rate, repurchase_rate, referral_rate
        from kpi_customers where period_type = $grain and slice = 'company' order by period_start""",
    "scorecard": """
        select slice_value as rep_id, rep_name, team_id, rep_role, bookings, bookings_target, attainment,
               rank_in_team, rank_in_company, new_customers, new_customers_target, win_rate, won_amount,
               median_signing_days, activities_logged
        from kpi_scorecard
        where period_type = $grain and slice = 'rep'
          and period_start = (select max(period_start) from kpi_scorecard where period_type = $grain)
        order by rank_in_company nulls last, bookings desc, rep_name, rep_id""",
}

_CLV_SQL = """
    select period_start, period_end, is_partial, clv_simple, cac_blended_12m, ltv_to_cac, cac_payback_months
    from kpi_clv where slice = 'company' order by period_start"""


def _plain(value: Any) -> Any:
    """A JSON-ready value: dates as ISO text, decimals as floats, NaN / inf as null."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    used = {k: v for k, v in params.items() if f"${k}" in sql}
    cur = con.execute(sql, used)
    names = [d[0] for d in cur.description]
    return [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in cur.fetchall()]


def period_label(grain: str, start: dt.date, fiscal_start_month: int) -> str:
    """``2025-06`` (month), ``2025Q2`` / ``FY2025Q1`` (quarter), ``2025`` / ``FY2025`` (year).

    A fiscal year not starting in January is named by the calendar year it starts in.
    """
    if grain == "month":
        return f"{start:%Y-%m}"
    fy_year = start.year if start.month >= fiscal_start_month else start.year - 1
    prefix = "" if fiscal_start_month == 1 else "FY"
    if grain == "quarter":
        q = ((start.month - fiscal_start_month) % 12) // 3 + 1
        return f"{prefix}{fy_year}Q{q}"
    return f"{prefix}{fy_year}"


def _label_periods(rows: list[dict[str, Any]], grain: str, fiscal_start_month: int) -> None:
    for r in rows:
        label = period_label(grain, dt.date.fromisoformat(r["period_start"]), fiscal_start_month)
        r["label"] = label + ("*" if r.get("is_partial") else "")


def _check_published(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, Any]:
    tables = {r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = 'main' "
        "and table_catalog = current_database()"
    ).fetchall()}
    if "_publication" not in tables:
        raise ValueError(
            f"{path} is not a published reporting database (no _publication table): the dashboard reads "
            "the reporting database (default warehouse/reporting.duckdb), never the build warehouse"
        )
    needed = {"kpi_revenue", "kpi_attainment", "kpi_funnel", "kpi_cac", "kpi_clv", "kpi_sales_cycle",
              "kpi_customers", "kpi_scorecard"}
    missing = sorted(needed - tables)
    if missing:
        raise ValueError(f"{path} lacks the KPI mart(s) {', '.join(missing)}: run `salespulse refresh`")
    as_of, published_at = con.execute("select max(as_of), max(published_at) from _publication").fetchone()
    return {"as_of": _plain(as_of), "published_at": _plain(published_at)}


def load_dashboard_data(reporting_db: Path) -> dict[str, Any]:
    """Every number the page shows, per grain, read read-only from the published database."""
    reporting_db = Path(reporting_db)
    if not reporting_db.exists():
        raise FileNotFoundError(f"no reporting database at {reporting_db}: run `salespulse refresh` first")
    con = duckdb.connect(str(reporting_db), read_only=True)
    try:
        meta = _check_published(con, reporting_db)
        fy = con.execute(
            "select month(min(period_start)) from kpi_revenue where period_type = 'year' and slice = 'company'"
        ).fetchone()[0]
        # Fiscal year start: the month the year periods start in, unless the first year is cut by the
        # data's start (then the quarter starts tell it: a quarter starts 0, 3, 6 or 9 months later).
        q_month = con.execute(
            "select month(max(period_start)) from kpi_revenue where period_type = 'quarter' and slice = 'company'"
        ).fetchone()[0]
        fiscal_start_month = int(fy or 1)
        if q_month is not None and (q_month - fiscal_start_month) % 3:
            fiscal_start_month = 1
        rep_names = dict(con.execute(
            "select slice_value, arg_max(rep_name, period_start) from kpi_scorecard "
            "where slice = 'rep' and rep_name is not null group by 1"
        ).fetchall())
        clv_months = _rows(con, _CLV_SQL, {})
        grains: dict[str, Any] = {}
        for grain in GRAINS:
            latest = con.execute(
                "select max(period_start) from kpi_revenue where period_type = ? and slice = 'company'", [grain]
            ).fetchone()[0]
            params = {"grain": grain, "latest": latest}
            g = {name: _rows(con, sql, params) for name, sql in _SQL.items()}
            # CLV is a trailing-12-month value per month: a quarter / year shows its last month's value.
            periods = g["revenue"]
            clv = []
            for p in periods:
                inside = [m for m in clv_months if p["period_start"] <= m["period_start"] <= p["period_end"]]
                if inside:
                    row = dict(inside[-1])
                    row.update(period_start=p["period_start"], period_end=p["period_end"],
                               is_partial=p["is_partial"])
                    clv.append(row)
            g["clv"] = clv
            for name in ("revenue", "funnel", "cac", "cycle", "customers", "clv"):
                _label_periods(g[name], grain, fiscal_start_month)
            for r in g["attainment"]:
                r["name"] = rep_names.get(r["id"], r["id"]) if r["slice"] == "rep" else r["id"]
            sc_period = con.execute(
                "select max(period_start), bool_or(is_partial) from kpi_scorecard where period_type = ? "
                "and period_start = (select max(period_start) from kpi_scorecard where period_type = ?)",
                [grain, grain],
            ).fetchone()
            for key in ("attainment", "cac_channel"):
                first = g[key][0] if g[key] else None
                g[f"{key}_label"] = (
                    period_label(grain, dt.date.fromisoformat(first["period_start"]), fiscal_start_month)
                    + ("*" if first["is_partial"] else "")
                    if first else None
                )
            g["latest_label"] = (
                period_label(grain, latest, fiscal_start_month) if latest is not None else None
            )
            g["scorecard_label"] = (
                period_label(grain, sc_period[0], fiscal_start_month) + ("*" if sc_period[1] else "")
                if sc_period[0] is not None else None
            )
            grains[grain] = g
    finally:
        con.close()
    return {**meta, "fiscal_start_month": fiscal_start_month, "source": reporting_db.name, "grains": grains}


def _i18n(language: str) -> dict[str, str]:
    out = {key: labels[language] for key, labels in TEXTS.items()}
    out.update({key: labels[language] for key, labels in COLUMN_LABELS.items()})
    return out


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element (no ``</script>``, no HTML comment openers)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _inline_js(text: str) -> str:
    return text.replace("</script", "<\\/script")


def _check_options(language: str, currency: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"dashboard language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    currency = currency.strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValueError(f"currency must be an ISO-4217 code such as CNY, got {currency!r}")
    return currency


def render_html(data: dict[str, Any], *, language: str = "zh", currency: str = "CNY") -> str:
    """The dashboard page for ``data`` (from :func:`load_dashboard_data`)."""
    currency = _check_options(language, currency)
    config = {"language": language, "locale": "zh-CN" if language == "zh" else "en-US", "currency": currency}
    page = TEMPLATE.read_text(encoding="utf-8")
    replacements = {
        "__LANG__": "zh-CN" if language == "zh" else "en",
        "__TITLE__": TEXTS["title"][language],
        "/*__ECHARTS__*/": _inline_js(ECHARTS.read_text(encoding="utf-8")),
        "/*__SCRIPT__*/": _inline_js(SCRIPT.read_text(encoding="utf-8")),
        "__DATA_JSON__": _script_json(data),
        "__I18N_JSON__": _script_json(_i18n(language)),
        "__CONFIG_JSON__": _script_json(config),
    }
    # One pass over the template only: inserted text (the library, the data) is never searched again.
    pattern = re.compile("|".join(re.escape(k) for k in replacements))
    return pattern.sub(lambda m: replacements[m.group(0)], page)


def render_dashboard(reporting_db: Path, out_path: Path, *, language: str = "zh", currency: str = "CNY") -> Path:
    """Write the dashboard of ``reporting_db`` to ``out_path`` (atomically) and return its path."""
    _check_options(language, currency)
    html = render_html(load_dashboard_data(Path(reporting_db)), language=language, currency=currency)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out_path
