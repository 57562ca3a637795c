"""The built-in demo CRM: a deterministic, realistic generator of the 13 canonical raw tables.

``generate_demo`` writes one landing file per contract table (``<table>.parquet`` or ``.csv``)
that the loader ingests exactly like a real CRM drop. The data is built for the KPIs of
shared/spec/metrics.md to mean something:

* three-plus years of history ending on ``as_of`` with monthly seasonality (March and Q4 peaks,
  a Chinese-New-Year and Golden-Week dip, weekends quiet) and year-on-year growth;
* eight acquisition channels that differ in lead volume, contact / qualification / win rates and
  cost per lead, with matching daily / weekly / monthly marketing spend;
* reps of different skill in 3-6 regional teams, each with a manager, SDRs, hires and leavers
  (a leaver gets no new leads, opportunities or orders after ``left_on``; their accounts move to
  a colleague, which shows up as a new customer version);
* a funnel that hangs together: lead -> first contact -> qualification -> conversion into a customer
  and an opportunity -> stages -> won (an order signed at ``closed_at``) or lost; open pipeline
  at the as-of date;
* repeat purchases with heavy-tailed frequencies, churn (most customers simply stop ordering,
  some have an explicit ``churned_at``), referrals between customers;
* multi-currency orders (CNY, ~8% USD, ~4% EUR) with daily fx rates, instalment and late
  payments, deliveries (partial, returned), monthly compensation and company/team/rep targets;
* the everyday mess staging must handle: several versions of a record, soft deletes, cancelled
  and refunded orders -- but never a contract violation.

Everything is computed inside DuckDB from ``range()`` and hash-derived pseudo-random numbers
(``hash(key, salt, seed)``), never ``random()``, so a seed reproduces the same table contents (and,
as every file is written ``ORDER BY`` its key, the same bytes) on any thread count. No Python list
ever holds rows: 10 million orders are generated with bounded memory (DuckDB spills to a scratch
folder inside ``out_dir``; each table is written and dropped as soon as it is complete).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from salespulse.contract import CHANNELS, TABLE_NAMES, TABLES, TS

__all__ = ["generate_demo"]

FORMATS = ("parquet", "csv")

# ----------------------------------------------------------------------------- model parameters
# Channels: share of lead volume, P(contacted), mean response time (hours), P(qualified | contacted),
# base P(won | opportunity), marketing cost per lead (CNY) and the campaign code (None = no campaigns).
_CHANNEL_PARAMS: dict[str, tuple[float, float, float, float, float, float, str | None]] = {
    "paid_search": (0.22, 0.92, 6.0, 0.33, 0.50, 1600.0, "CMP-PS"),
    "social": (0.16, 0.85, 12.0, 0.25, 0.42, 1100.0, "CMP-SO"),
    "display": (0.10, 0.80, 18.0, 0.18, 0.36, 800.0, "CMP-DI"),
    "referral": (0.08, 0.97, 4.0, 0.55, 0.65, 400.0, None),
    "organic": (0.18, 0.90, 8.0, 0.35, 0.52, 200.0, None),
    "event": (0.07, 0.93, 24.0, 0.40, 0.48, 4500.0, "CMP-EV"),
    "outbound": (0.14, 0.70, 2.0, 0.20, 0.40, 600.0, None),
    "other": (0.05, 0.75, 30.0, 0.22, 0.40, 300.0, None),
}
assert tuple(_CHANNEL_PARAMS) == CHANNELS

# Segments: share of customers, mean sales cycle (days), typical first-deal size (CNY),
# mean customer lifetime (days), typical delivery time (days).
_SEGMENT_PARAMS: dict[str, tuple[float, float, float, float, float]] = {
    "smb": (0.62, 18.0, 18_000.0, 700.0, 5.0),
    "mid_market": (0.28, 40.0, 80_000.0, 1_100.0, 14.0),
    "enterprise": (0.10, 85.0, 320_000.0, 1_600.0, 30.0),
}

# Monthly seasonality (B2B China: March and Q4 peaks, Jan/Feb Chinese New Year slump).
_MONTH_SEASON = {1: 0.95, 2: 0.82, 3: 1.18, 4: 0.98, 5: 0.96, 6: 1.08, 7: 0.92, 8: 0.90,
                 9: 1.06, 10: 0.95, 11: 1.14, 12: 1.30}
_WEEKEND_FACTOR = 0.35
_ANNUAL_GROWTH = 1.30  # lead volume grows 30 % a year
# Chinese New Year (first day of the lunar year); other years fall back to Feb 1.
_CNY_DATES = {
    2015: (2, 19), 2016: (2, 8), 2017: (1, 28), 2018: (2, 16), 2019: (2, 5), 2020: (1, 25),
    2021: (2, 12), 2022: (2, 1), 2023: (1, 22), 2024: (2, 10), 2025: (1, 29), 2026: (2, 17),
    2027: (2, 6), 2028: (1, 26), 2029: (2, 13), 2030: (2, 3), 2031: (1, 23), 2032: (2, 11),
    2033: (1, 31), 2034: (2, 19), 2035: (2, 8),
}

# Teams: id, name, region. The first ``n_teams`` are used.
_TEAMS = (
    ("T01", "华东销售一部", "华东"),
    ("T02", "华南销售部", "华南"),
    ("T03", "华北销售部", "华北"),
    ("T04", "华东销售二部", "华东"),
    ("T05", "西南销售部", "西南"),
    ("T06", "华中销售部", "华中"),
)
_REGIONS = ("华东", "华南", "华北", "西南", "华中")
_INDUSTRIES = ("manufacturing", "retail", "technology", "healthcare", "education", "finance",
               "logistics", "energy")
_SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡",
             "郭", "何", "林", "罗", "高")
_GIVEN = ("伟", "芳", "娜", "敏", "静", "磊", "强", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明",
          "超", "秀英", "晨", "浩然", "子涵", "欣怡", "宇轩", "思远", "嘉怡", "俊杰")
_LOSS_REASONS = ("price", "competitor", "no_budget", "no_decision", "timing", "product_fit")
# Typical conversion rates into the reporting currency, used to price non-CNY deals.
_FX_MEAN = {"USD": 7.20, "EUR": 7.80}


@dataclass(frozen=True)
class _Plan:
    """Sizes and dates of one generation run."""

    scale: int
    seed: int
    as_of: dt.date
    start: dt.date
    n_leads: int
    n_reps: int
    n_teams: int

    @property
    def end_ts(self) -> str:
        """End of the as-of day in Asia/Shanghai (23:59:59 +08:00), as a UTC TIMESTAMP literal."""
        return f"TIMESTAMP '{self.as_of.isoformat()} 15:59:59'"

    @property
    def d_start(self) -> str:
        return f"DATE '{self.start.isoformat()}'"

    @property
    def d_asof(self) -> str:
        return f"DATE '{self.as_of.isoformat()}'"


def _prand(seed: int, *parts: object) -> float:
    """A uniform number in [0, 1) from a stable hash (for the few values computed in Python)."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _plan(scale: int, seed: int, as_of: dt.date) -> _Plan:
    # History: as_of minus 3 years and 3 months, at the first of that month.
    months = as_of.year * 12 + (as_of.month - 1) - 39
    start = dt.date(months // 12, months % 12 + 1, 1)
    # Customers (converted leads) ~ scale / 3; leads from the expected lead -> customer rate.
    conversion = sum(w * pc * pq for w, pc, _, pq, _, _, _ in _CHANNEL_PARAMS.values())
    n_leads = max(30, math.ceil(scale / 3 / (conversion * 0.97)))
    n_reps = min(2000, max(20, scale // 5000))
    n_teams = min(6, max(3, n_reps // 10))
    return _Plan(scale, seed, as_of, start, n_leads, n_reps, n_teams)


# ----------------------------------------------------------------------------- small Python tables
def _days_table(plan: _Plan) -> pa.Table:
    """One row per day of history with two cumulative distributions used for sampling dates:
    ``g_*`` (seasonality x weekday x growth: leads) and ``s_*`` (seasonality x weekday: repeat orders)."""
    days: list[dt.date] = []
    d = plan.start
    while d <= plan.as_of:
        days.append(d)
        d += dt.timedelta(days=1)
    season: list[float] = []
    growth: list[float] = []
    for i, day in enumerate(days):
        w = _MONTH_SEASON[day.month] * (_WEEKEND_FACTOR if day.weekday() >= 5 else 1.0)
        cny = dt.date(day.year, *_CNY_DATES.get(day.year, (2, 1)))
        if -3 <= (day - cny).days <= 7:
            w *= 0.25  # Spring Festival holiday
        if day.month == 10 and day.day <= 7:
            w *= 0.4  # Golden Week
        season.append(w)
        growth.append(w * _ANNUAL_GROWTH ** (i / 365.25))

    def cdf(ws: list[float]) -> tuple[list[float], list[float], list[float]]:
        total = math.fsum(ws)
        lo, hi, acc = [], [], 0.0
        for w in ws:
            lo.append(acc / total)
            acc += w
            hi.append(acc / total)
        hi[-1] = 1.0
        return lo, hi, [w / total for w in ws]

    g_lo, g_hi, gw = cdf(growth)
    s_lo, s_hi, _ = cdf(season)
    return pa.table({"d": days, "g_lo": g_lo, "g_hi": g_hi, "gw": gw, "s_lo": s_lo, "s_hi": s_hi})


def _channels_table() -> pa.Table:
    names = list(_CHANNEL_PARAMS)
    weights = [p[0] for p in _CHANNEL_PARAMS.values()]
    total = math.fsum(weights)
    cols = list(zip(*_CHANNEL_PARAMS.values(), strict=True))
    return pa.table({
        "channel": names, "weight": [w / total for w in weights],
        "p_contact": cols[1], "resp_h": cols[2], "p_qual": cols[3], "p_win": cols[4],
        "cpl": cols[5], "camp": cols[6],
    })


def _segments_table() -> pa.Table:
    names = list(_SEGMENT_PARAMS)
    cols = list(zip(*_SEGMENT_PARAMS.values(), strict=True))
    return pa.table({
        "segment": names, "cycle_days": cols[1], "amount_base": cols[2],
        "life_days": cols[3], "deliv_days": cols[4],
    })


def _fx_table(plan: _Plan) -> pa.Table:
    """Daily USD and EUR rates (CNY per unit) drifting smoothly, from the first day of history."""
    phases = [2 * math.pi * _prand(plan.seed, "fx", i) for i in range(4)]
    dates, currencies, rates = [], [], []
    d, i = plan.start, 0
    while d <= plan.as_of:
        usd = 7.20 + 0.09 * math.sin(2 * math.pi * i / 420 + phases[0]) \
            + 0.025 * math.sin(2 * math.pi * i / 73 + phases[1])
        eur = 7.80 + 0.17 * math.sin(2 * math.pi * i / 510 + phases[2]) \
            + 0.04 * math.sin(2 * math.pi * i / 91 + phases[3])
        for cur, rate in (("EUR", eur), ("USD", usd)):
            dates.append(d)
            currencies.append(cur)
            rates.append(round(rate, 4))
        d += dt.timedelta(days=1)
        i += 1
    return pa.table({"rate_date": dates, "currency": currencies, "rate": rates})


def _cdf(weights: list[float]) -> list[float]:
    total = math.fsum(weights)
    out, acc = [], 0.0
    for w in weights:
        out.append(acc / total)
        acc += w
    return out


def _channel_cdf() -> list[tuple[str, float]]:
    return list(zip(_CHANNEL_PARAMS, _cdf([p[0] for p in _CHANNEL_PARAMS.values()]), strict=True))


def _segment_cdf() -> list[tuple[str, float]]:
    return list(zip(_SEGMENT_PARAMS, _cdf([p[0] for p in _SEGMENT_PARAMS.values()]), strict=True))


def _case_pick(u: str, cdf: list[tuple[str, float]]) -> str:
    """A CASE expression mapping a uniform ``u`` to a category through its cumulative shares."""
    # category i covers [cdf[i], cdf[i + 1]); the last one takes the rest
    pairs = zip([name for name, _ in cdf], [lo for _, lo in cdf[1:]], strict=False)
    whens = " ".join(f"WHEN {u} < {hi!r} THEN '{name}'" for name, hi in pairs)
    return f"(CASE {whens} ELSE '{cdf[-1][0]}' END)"


def _sql_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


# ----------------------------------------------------------------------------- the generator
class _Generator:
    """Builds the 13 tables as ``out_<table>`` in DuckDB and writes each one to ``stage_dir`` as soon
    as it is complete (then drops it, to keep memory bounded)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, plan: _Plan, say: Callable[[str], None],
                 stage_dir: Path, fmt: str):
        self.con = con
        self.p = plan
        self.say = say
        self.stage_dir = stage_dir
        self.fmt = fmt
        self.counts: dict[str, int] = {}

    def sql(self, query: str) -> None:
        self.con.execute(query)

    def run(self) -> None:
        steps = [
            ("helpers", self.helpers), ("reps", self.reps), ("leads", self.leads),
            ("opportunities", self.new_business), ("repeat orders", self.repeat_orders),
            ("orders", self.orders), ("expansion opportunities", self.expansion),
            ("opportunity tables", self.opportunity_tables), ("order versions", self.order_versions),
            ("customers", self.customers),
            ("lead versions", self.lead_versions), ("payments", self.payments),
            ("deliveries", self.deliveries), ("marketing spend", self.marketing_spend),
            ("compensation", self.compensation), ("targets", self.targets), ("fx rates", self.fx_rates),
            ("activities", self.activities),
        ]
        for label, step in steps:
            self.say(f"demo: generating {label}")
            step()
            self.flush()
        missing = set(TABLE_NAMES) - set(self.counts)
        if missing:  # pragma: no cover - a programming error
            raise RuntimeError(f"demo tables not generated: {sorted(missing)}")

    def flush(self) -> None:
        """Write every finished ``out_<table>`` to its staged file and free it (bounded memory)."""
        for table in TABLE_NAMES:
            if table in self.counts:
                continue
            if self.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
                                [f"out_{table}"]).fetchone()[0]:
                self.say(f"demo: writing {table}.{self.fmt}")
                self.counts[table] = _write_table(self.con, table, self.stage_dir, self.fmt)
                self.sql(f"DROP TABLE out_{table}")

    # ------------------------------------------------------------------ helpers and reference data
    def helpers(self) -> None:
        p = self.p
        seed = int(p.seed)
        self.sql(f"""
            CREATE MACRO rnd(k, s) AS ((hash(k, s, {seed}) % 1000003)::DOUBLE / 1000003.0);
            CREATE MACRO rnd2(k, j, s) AS ((hash(k, j, s, {seed}) % 1000003)::DOUBLE / 1000003.0);
            CREATE MACRO expo(x) AS (-ln(1.0 - (x)));
            CREATE MACRO gauss(k, s) AS
                (sqrt(-2.0 * ln(1.0 - rnd(k, s || 'a'))) * cos(2.0 * pi() * rnd(k, s || 'b')));
            CREATE MACRO plus_days(t, x) AS (t + to_seconds(floor((x) * 86400.0)::BIGINT));
            CREATE MACRO bh(d, x) AS
                (d::TIMESTAMP + INTERVAL 1 HOUR + to_seconds(floor((x) * 36000.0)::BIGINT));
            CREATE MACRO days_between(a, b) AS ((epoch(b) - epoch(a)) / 86400.0);
            CREATE MACRO money(x) AS (round(x, 2)::DECIMAL(18,4));
            CREATE MACRO rep_at(orig, left_on, alt, t) AS
                (CASE WHEN left_on IS NULL OR (t)::DATE < left_on THEN orig ELSE alt END);
            -- zero-padded ids that never truncate (lpad would cut longer numbers)
            CREATE MACRO pid(prefix, n, w) AS
                (prefix || lpad(n::VARCHAR, greatest(w, length(n::VARCHAR))::INTEGER, '0'));
            CREATE MACRO rep_id(ri) AS pid('R', ri, 5);
            CREATE MACRO fx_mean(cur) AS
                (CASE cur WHEN 'USD' THEN {_FX_MEAN['USD']} WHEN 'EUR' THEN {_FX_MEAN['EUR']} ELSE 1.0 END);
            CREATE MACRO price_growth(t) AS (1.0 + 0.05 * days_between({p.end_ts} - INTERVAL 1200 DAY, t) /
                365.25);
        """)
        for name, table in (
            ("days", _days_table(p)), ("channels", _channels_table()),
            ("segments", _segments_table()), ("fx", _fx_table(p)),
        ):
            self.con.register(f"_{name}_arrow", table)
            self.sql(f"CREATE TABLE {name} AS SELECT * FROM _{name}_arrow")
            self.con.unregister(f"_{name}_arrow")
        teams = ", ".join(f"({i + 1}, '{t}', '{n}', '{r}')" for i, (t, n, r) in enumerate(_TEAMS))
        self.sql(f"""
            CREATE TABLE teams AS SELECT * FROM (VALUES {teams}) v(team, team_id, team_name, region)
                WHERE team <= {p.n_teams};
            CREATE TABLE months AS
                SELECT m::DATE AS m, (m + INTERVAL 1 MONTH)::DATE - 1 AS m_end
                FROM unnest(generate_series({p.d_start}, {p.d_asof}, INTERVAL 1 MONTH)) t(m);
        """)

    # ------------------------------------------------------------------ reps
    def reps(self) -> None:
        p = self.p
        T = p.n_teams
        span = (p.as_of - p.start).days
        self.sql(f"""
            CREATE TABLE rep_x AS
            WITH b AS (
                SELECT range + 1 AS ri FROM range({p.n_reps})
            ), r AS (
                SELECT ri,
                    1 + ((ri - 1) % {T}) AS team,
                    CASE WHEN ri <= {T} THEN 'manager' WHEN ri <= {2 * T} THEN 'rep'
                         WHEN ri <= {3 * T} THEN 'sdr'
                         WHEN rnd(ri, 'role') < 0.2 THEN 'sdr' ELSE 'rep' END AS role,
                    ri <= {3 * T} AS core,                     -- managers + one rep and one SDR per team
                    0.6 + 0.8 * rnd(ri, 'skill') AS skill      -- drives win rate and deal size
                FROM b
            ), h AS (
                SELECT *,
                    CASE WHEN core OR rnd(ri, 'early') < 0.55
                         THEN {p.d_start} - (30 + floor(rnd(ri, 'hire') * 1500))::INTEGER
                         ELSE {p.d_start} + floor(rnd(ri, 'hire') * {span - 90})::INTEGER END AS hired_on
                FROM r
            ), l AS (
                SELECT *,
                    greatest(hired_on + 120, {p.d_start} + 60) AS leave_lo,
                    {p.d_asof} - 14 AS leave_hi
                FROM h
            )
            SELECT l.ri, l.team, l.role, l.core, l.skill, l.hired_on,
                CASE WHEN NOT core AND rnd(ri, 'leave') < 0.25 AND leave_lo < leave_hi
                     THEN leave_lo + floor(rnd(ri, 'left') * (leave_hi - leave_lo))::INTEGER END AS left_on
            FROM l;

            -- Monthly pools of reps that may receive new work: active for the whole month.
            -- 'stay' reps never leave: a leaver's accounts and open deals move to one of them.
            CREATE TABLE pool AS
            SELECT m.m, p.pool, r.ri,
                row_number() OVER (PARTITION BY m.m, p.pool ORDER BY r.ri) - 1 AS k
            FROM months m
            CROSS JOIN (VALUES ('sdr'), ('rep'), ('stay')) p(pool)
            JOIN rep_x r ON r.hired_on <= m.m AND (
                (p.pool = 'sdr' AND r.role = 'sdr' AND (r.left_on IS NULL OR r.left_on > m.m_end))
                OR (p.pool = 'rep' AND r.role = 'rep' AND (r.left_on IS NULL OR r.left_on > m.m_end))
                OR (p.pool = 'stay' AND r.role = 'rep' AND r.left_on IS NULL));
            CREATE TABLE pool_n AS SELECT m, pool, count(*) AS n FROM pool GROUP BY m, pool;

            CREATE TABLE out_reps AS
            WITH names AS (
                SELECT r.*, t.team_id, t.team_name, t.region,
                    {_sql_list(_SURNAMES)}[1 + floor(rnd(ri, 'sn') * {len(_SURNAMES)})::INTEGER]
                    || {_sql_list(_GIVEN)}[1 + floor(rnd(ri, 'gn') * {len(_GIVEN)})::INTEGER] AS rep_name
                FROM rep_x r JOIN teams t USING (team)
            ), v AS (
                SELECT *, hired_on::TIMESTAMP + INTERVAL 1 HOUR AS t FROM names
                UNION ALL
                SELECT *, left_on::TIMESTAMP + INTERVAL 10 HOUR AS t FROM names WHERE left_on IS NOT NULL
            )
            SELECT rep_id(ri) AS rep_id, rep_name,
                pid('rep', ri, 5) || '@example.com' AS email,
                team_id, team_name, region,
                CASE WHEN role = 'manager' THEN NULL ELSE rep_id(team) END AS manager_rep_id,
                role, hired_on,
                CASE WHEN left_on::TIMESTAMP <= t THEN left_on END AS left_on,
                t AS updated_at
            FROM v;
        """)

    def _pick(self, alias: str, pool: str, month: str, u: str) -> str:
        """JOIN clauses picking one rep (``{alias}.ri``) from a monthly pool with uniform ``u``."""
        return f"""
            LEFT JOIN pool_n {alias}_n ON {alias}_n.m = ({month}) AND {alias}_n.pool = ({pool})
            LEFT JOIN pool {alias} ON {alias}.m = {alias}_n.m AND {alias}.pool = {alias}_n.pool
                AND {alias}.k = floor(({u}) * {alias}_n.n)::BIGINT"""

    # ------------------------------------------------------------------ leads
    def leads(self) -> None:
        p = self.p
        self.sql(f"""
            CREATE TABLE lead_a AS
            WITH s AS (
                SELECT range + 1 AS li, (range + rnd(range + 1, 'lt')) / {p.n_leads} AS ut,
                    rnd(range + 1, 'ch') AS uc, rnd(range + 1, 'seg') AS us
                FROM range({p.n_leads})
            ), d AS (
                SELECT s.*, d.d AS day FROM s ASOF JOIN days d ON s.ut >= d.g_lo
            ), c AS (
                SELECT d.*, {_case_pick('d.uc', _channel_cdf())} AS channel,
                    {_case_pick('d.us', _segment_cdf())} AS segment
                FROM d
            )
            SELECT c.li, c.channel, ch.p_contact, ch.resp_h, ch.p_qual, ch.p_win, ch.camp,
                c.segment, bh(c.day, rnd(c.li, 'tod')) AS created_at,
                CASE WHEN rnd(c.li, 'opool') < 0.65 THEN 'sdr' ELSE 'rep' END AS opool
            FROM c JOIN channels ch USING (channel);

            CREATE TABLE leads_x AS
            WITH o AS (
                SELECT a.*, own.ri AS orig_ri
                FROM lead_a a
                {self._pick('own', 'a.opool', "date_trunc('month', a.created_at)::DATE", "rnd(a.li, 'own')")}
            ), f AS (
                SELECT o.*, r.left_on AS orig_left,
                    rnd(li, 'ct') < p_contact AS will_contact,
                    rnd(li, 'q') < p_qual AS will_qualify,
                    plus_days(created_at, (0.05 + expo(rnd(li, 'resp')) * resp_h) / 24.0) AS fc0
                FROM o JOIN rep_x r ON r.ri = o.orig_ri
            ), g AS (
                SELECT f.*,
                    CASE WHEN will_contact AND will_qualify
                         THEN plus_days(fc0, 0.5 + expo(rnd(li, 'qt')) * 4.0) END AS q0,
                    CASE WHEN will_contact AND NOT will_qualify AND rnd(li, 'dq') < 0.7
                         THEN plus_days(fc0, 1.0 + rnd(li, 'dqt') * 29.0)
                         WHEN NOT will_contact AND rnd(li, 'dq') < 0.4
                         THEN plus_days(created_at, 3.0 + rnd(li, 'dqt') * 37.0) END AS dq0
                FROM f
            ), h AS (
                SELECT g.*, plus_days(q0, 0.05 + rnd(li, 'cv') * 2.0) AS conv0 FROM g
            )
            SELECT h.li, h.channel, h.p_win, h.segment, h.created_at, h.orig_ri, h.orig_left,
                alt.ri AS alt_ri,
                CASE WHEN camp IS NOT NULL AND rnd(li, 'camp') < 0.9
                     THEN (CASE WHEN channel = 'paid_search' AND rnd(li, 'intl') < 0.1
                                THEN 'CMP-PSI' ELSE camp END)
                          || '-' || strftime(created_at, '%Y') || 'Q' || quarter(created_at) END
                    AS campaign_id,
                CASE WHEN will_contact AND fc0 <= {p.end_ts} THEN fc0 END AS fc,
                CASE WHEN q0 <= {p.end_ts} THEN q0 END AS qual,
                CASE WHEN dq0 <= {p.end_ts} THEN dq0 END AS disq,
                CASE WHEN conv0 <= {p.end_ts} THEN conv0 END AS conv_at
            FROM h
            {self._pick('alt', "'stay'", "date_trunc('month', h.orig_left)::DATE", "rnd(h.li, 'alt')")};
            DROP TABLE lead_a;
        """)

    # ------------------------------------------------------------------ new-business opportunities
    def new_business(self) -> None:
        """Every converted lead becomes a customer (ci) and an opportunity; outcome and stage times."""
        p = self.p
        self.sql(f"""
            CREATE TABLE nb AS
            WITH c AS (
                SELECT l.li, l.channel, l.p_win, l.segment, l.conv_at AS created_at,
                    row_number() OVER (ORDER BY l.conv_at, l.li) AS ci
                FROM leads_x l WHERE l.conv_at IS NOT NULL
            ), o AS (
                SELECT c.*, own.ri AS orig_ri FROM c
                {self._pick('own', "'rep'", "date_trunc('month', c.created_at)::DATE", "rnd(c.ci, 'own')")}
            ), r AS (
                SELECT o.*, rx.left_on AS orig_left, rx.skill, rx.team, sg.cycle_days, sg.amount_base,
                    rnd(ci, 'win') < least(0.9, p_win * rx.skill) AS won,
                    sg.cycle_days * (0.3 + 0.7 * expo(rnd(ci, 'cyc'))) + 1.0 AS total,
                    1 + floor(rnd(ci, 'lr') * 4)::INTEGER AS lost_r,
                    rnd(ci, 'sk2') < 0.12 AS skip2,
                    rnd(ci, 'sk4') < 0.10 AS skip4,
                    0.12 + 0.06 * rnd(ci, 'f2') AS f2,
                    0.38 + 0.10 * rnd(ci, 'f3') AS f3,
                    0.68 + 0.10 * rnd(ci, 'f4') AS f4,
                    CASE WHEN rnd(ci, 'cur') < 0.08 THEN 'USD' WHEN rnd(ci, 'cur') < 0.12 THEN 'EUR'
                         ELSE 'CNY' END AS currency
                FROM o JOIN rep_x rx ON rx.ri = o.orig_ri JOIN segments sg USING (segment)
            ), t AS (
                SELECT r.*,
                    plus_days(created_at, total * f2) AS e2,
                    plus_days(created_at, total * f3) AS e3,
                    plus_days(created_at, total * f4) AS e4,
                    plus_days(created_at, total * CASE
                        WHEN won OR lost_r = 4 THEN 1.0 WHEN lost_r = 1 THEN f2
                        WHEN lost_r = 2 THEN f3 ELSE f4 END) AS close0,
                    amount_base * exp(0.45 * gauss(ci, 'amt')) * (0.75 + 0.25 * skill)
                        * price_growth(created_at) AS value_cny
                FROM r
            )
            SELECT t.*,
                (won OR lost_r >= 2) AND NOT skip2 AS s2,
                won OR lost_r >= 3 AS s3,
                (won OR lost_r = 4) AND NOT skip4 AS s4,
                close0 <= {p.end_ts} AS is_closed,
                money(value_cny / fx_mean(currency)) AS amount,
                money(value_cny * (1.0 + 0.15 * (rnd(ci, 'a0') - 0.5)) / fx_mean(currency)) AS amount0,
                least((created_at + to_days(round(cycle_days * (0.8 + 0.4 * rnd(ci, 'ecd')))::INTEGER))::DATE,
                      {p.d_asof}) AS expected_close_on,
                alt.ri AS alt_ri
            FROM t
            {self._pick('alt', "'stay'", "date_trunc('month', t.orig_left)::DATE", "rnd(t.ci, 'alt')")};
        """)

    # ------------------------------------------------------------------ repeat orders
    def repeat_orders(self) -> None:
        """First orders come from won deals; repeat orders fill the customer's active lifetime."""
        p = self.p
        self.sql(f"""
            CREATE TABLE buyers AS
            WITH b AS (
                SELECT n.ci, n.segment, n.close0 AS a, n.currency,
                    sg.life_days * expo(rnd(n.ci, 'life')) AS life,
                    pow(expo(rnd(n.ci, 'freq')), 1.5) AS f      -- heavy-tailed purchase frequency
                FROM nb n JOIN segments sg USING (segment)
                WHERE n.won AND n.is_closed
            )
            SELECT b.*, least(plus_days(a, life), {p.end_ts}) AS span_end,
                plus_days(a, life) < {p.end_ts} AS lapsed,
                floor(f * greatest(days_between(a, least(plus_days(a, life), {p.end_ts})) - 2.0, 0.0)
                      * 1000.0)::BIGINT AS w
            FROM b;
        """)
        n_first, total_w = self.con.execute("SELECT count(*), coalesce(sum(w), 0) FROM buyers").fetchone()
        base = max(0, p.scale - n_first) / total_w if total_w else 0.0
        self.sql(f"""
            CREATE TABLE buyers_k AS SELECT *, floor(w * {base!r} + rnd(ci, 'kr'))::BIGINT AS k FROM buyers;
            DROP TABLE buyers;
            ALTER TABLE buyers_k RENAME TO buyers;
        """)
        self.sql("""
            CREATE TABLE rep_orders AS
            WITH x AS (
                SELECT ci, unnest(range(k)) AS j, a, span_end FROM buyers WHERE k > 0
            ), y AS (
                SELECT x.*, dl.s_lo + rnd2(x.ci, x.j, 'rt') * (dh.s_hi - dl.s_lo) AS pos
                FROM x JOIN days dl ON dl.d = x.a::DATE + 1 JOIN days dh ON dh.d = x.span_end::DATE
            )
            SELECT y.ci, y.j, y.a, bh(d.d, rnd2(y.ci, y.j, 'rtod')) AS signed_at
            FROM y ASOF JOIN days d ON y.pos >= d.s_lo;
        """)

    # ------------------------------------------------------------------ orders
    def orders(self) -> None:
        p = self.p
        self.sql(f"""
            CREATE TABLE orders_x AS
            WITH u AS (
                SELECT n.ci, -1::BIGINT AS j, n.close0 AS signed_at, n.amount, n.currency, TRUE AS from_nb
                FROM nb n WHERE n.won AND n.is_closed
                UNION ALL
                SELECT r.ci, r.j, r.signed_at,
                    money(sg.amount_base * 0.45 * exp(0.5 * gauss(hash(r.ci, r.j), 'ra'))
                          * price_growth(r.signed_at) / fx_mean(b.currency)),
                    b.currency, FALSE
                FROM rep_orders r JOIN buyers b USING (ci) JOIN segments sg USING (segment)
            ), n AS (
                SELECT u.*, row_number() OVER (ORDER BY signed_at, ci, j) AS oi FROM u
            ), k AS (
                SELECT n.*, c.orig_ri, c.orig_left, c.alt_ri,
                    rnd(oi, 'st') AS ust,
                    money(n.amount * (0.55 + 0.20 * rnd(oi, 'cost'))) AS cost,
                    1.05 + 0.2 * rnd(oi, 'infl') AS infl
                FROM n JOIN nb c USING (ci)
            ), s AS (
                SELECT k.*,
                    CASE WHEN ust < 0.03 THEN 'cancelled' WHEN ust < 0.05 THEN 'refunded'
                         WHEN ust < 0.11 THEN 'corrected'
                         WHEN rnd(oi, 'del') < 0.0056 THEN 'deleted' ELSE 'plain' END AS kind
                FROM k
            ), t AS (
                SELECT s.*,
                    CASE kind WHEN 'cancelled' THEN plus_days(signed_at, 1.0 + 19.0 * rnd(oi, 'ts'))
                              WHEN 'refunded' THEN plus_days(signed_at, 20.0 + 70.0 * rnd(oi, 'ts')) END AS
                                  t_status,
                    CASE WHEN kind = 'corrected' THEN plus_days(signed_at, 0.5 + 9.5 * rnd(oi, 'tc')) END AS
                        t_corr0,
                    CASE WHEN kind = 'deleted' THEN plus_days(signed_at, 0.2 + 5.0 * rnd(oi, 'td')) END AS
                        t_del0
                FROM s
            )
            SELECT oi, ci, j, from_nb, signed_at, amount, cost, currency, kind,
                pid('SO', oi, 10) AS order_id,
                rep_at(orig_ri, orig_left, alt_ri, signed_at) AS rep_ri,
                CASE WHEN kind = 'corrected' THEN money(amount * infl) END AS amount_infl,
                CASE WHEN kind = 'corrected' THEN money(cost * infl) END AS cost_infl,
                CASE WHEN t_status <= {p.end_ts} THEN t_status END AS t_status,
                CASE WHEN t_corr0 <= {p.end_ts} THEN t_corr0 END AS t_corr,
                CASE WHEN t_del0 <= {p.end_ts} THEN t_del0 END AS t_del,
                -- live at the as-of date (counts for bookings and commissions)
                NOT ((kind IN ('cancelled', 'refunded') AND t_status <= {p.end_ts})
                     OR (kind = 'deleted' AND t_del0 <= {p.end_ts})) AS live,
                money(amount * fx_mean(currency)) AS amount_cny,
                -- repeat orders that went through an (expansion) opportunity
                NOT from_nb AND rnd2(ci, j, 'xo') < 0.25 AS has_xo
            FROM t;
            DROP TABLE rep_orders;
        """)

    # ------------------------------------------------------------------ expansion opportunities
    def expansion(self) -> None:
        """Repeat orders that went through the pipeline get a won opportunity without a lead; some
        repeat orders are preceded by a lost upsell attempt (a lost opportunity without a lead)."""
        p = self.p
        self.sql(f"""
            CREATE TABLE xo AS
            WITH o AS (
                SELECT o.oi, o.ci, o.signed_at, o.amount, o.currency, b.a,
                    n.orig_ri, n.orig_left, n.alt_ri,  -- the account owner over time
                    least(3.0 + 15.0 * expo(rnd(o.oi, 'xc')), 0.8 * days_between(b.a, o.signed_at)) AS cyc
                FROM orders_x o JOIN buyers b ON b.ci = o.ci JOIN nb n ON n.ci = o.ci WHERE o.has_xo
            )
            SELECT o.*, plus_days(signed_at, -cyc) AS created_at,
                plus_days(signed_at, -cyc * (1.0 - 0.35 - 0.1 * rnd(oi, 'x3'))) AS e3,
                plus_days(signed_at, -cyc * (1.0 - 0.70 - 0.1 * rnd(oi, 'x4'))) AS e4,
                rnd(oi, 'xs4') < 0.3 AS skip4,
                least((plus_days(signed_at, -cyc) + to_days(round(cyc * (0.8 + 0.5 * rnd(oi,
                    'xe')))::INTEGER))::DATE,
                      signed_at::DATE + 20) AS expected_close0
            FROM o;

            CREATE TABLE xl AS
            WITH o AS (
                SELECT o.oi, o.ci, o.signed_at, o.amount, o.currency, n.orig_ri, n.orig_left, n.alt_ri,
                    least(10.0 + 20.0 * expo(rnd(o.oi, 'yc')), 0.8 * days_between(b.a, o.signed_at)) AS cyc
                FROM orders_x o JOIN buyers b ON b.ci = o.ci JOIN nb n ON n.ci = o.ci
                WHERE NOT o.from_nb AND rnd2(o.ci, o.j, 'yl') < 0.12
            )
            SELECT o.*, plus_days(signed_at, -cyc) AS created_at,
                plus_days(signed_at, -0.6 * cyc) AS e3, rnd(oi, 'y3') < 0.5 AS s3,
                plus_days(signed_at, -0.2 * cyc) AS close0,
                money(amount * (0.8 + 0.8 * rnd(oi, 'ya'))) AS lost_amount,
                least((plus_days(signed_at, -cyc) + to_days(round(0.9 * cyc)::INTEGER))::DATE,
                      {p.d_asof}) AS expected_close0
            FROM o;
        """)

    # ------------------------------------------------------------------ opportunities + history
    def opportunity_tables(self) -> None:
        p = self.p
        self.sql(f"""
            -- All opportunities in one frame: new business N (keyed by customer), won expansion X
            -- and lost upsell attempts Y (keyed by the repeat order they belong to).
            CREATE TABLE opp_x AS
            WITH u AS (
                SELECT 'N' AS kind, n.ci AS src, n.ci, n.li, n.created_at, n.e2, n.e3, n.e4,
                    n.close0, n.won, n.is_closed, n.lost_r, TRUE AS s1, n.s2, n.s3, n.s4,
                    n.amount, n.amount0, n.currency, least(n.expected_close_on, {p.d_asof}) AS
                        expected_close_on,
                    n.orig_ri, n.orig_left, n.alt_ri, NULL::BIGINT AS oi
                FROM nb n
                UNION ALL
                SELECT 'X', x.oi, x.ci, NULL, x.created_at, NULL, x.e3, x.e4,
                    x.signed_at, TRUE, TRUE, 4, TRUE, FALSE, TRUE, NOT x.skip4,
                    x.amount, x.amount, x.currency, least(x.expected_close0, {p.d_asof}),
                    x.orig_ri, x.orig_left, x.alt_ri, x.oi
                FROM xo x
                UNION ALL
                SELECT 'Y', y.oi, y.ci, NULL, y.created_at, NULL, y.e3, NULL,
                    y.close0, FALSE, TRUE, 3, TRUE, FALSE, y.s3, FALSE,
                    y.lost_amount, y.lost_amount, y.currency, y.expected_close0,
                    y.orig_ri, y.orig_left, y.alt_ri, NULL
                FROM xl y
            )
            SELECT u.*,
                row_number() OVER (ORDER BY created_at, kind, src) AS opi,
                CASE WHEN is_closed THEN close0 END AS closed_at
            FROM u;

            CREATE TABLE stage_hist AS
            WITH h AS (
                SELECT opi, 1 AS sk, 'prospecting' AS stage, created_at AS entered_at FROM opp_x
                UNION ALL SELECT opi, 2, 'qualification', e2 FROM opp_x WHERE s2
                UNION ALL SELECT opi, 3, 'proposal', e3 FROM opp_x WHERE s3
                UNION ALL SELECT opi, 4, 'negotiation', e4 FROM opp_x WHERE s4
                UNION ALL SELECT opi, 5, CASE WHEN won THEN 'closed_won' ELSE 'closed_lost' END, close0 FROM
                    opp_x
            )
            SELECT h.*, row_number() OVER (PARTITION BY opi ORDER BY entered_at DESC) AS rn_desc
            FROM h WHERE entered_at <= {p.end_ts};

            CREATE TABLE out_opportunity_stage_history AS
            SELECT pid('OP', opi, 10) AS opportunity_id, stage, entered_at, opi AS _k1, sk AS _k2
            FROM stage_hist;

            CREATE TABLE out_opportunities AS
            WITH last AS (
                SELECT opi, entered_at AS last_at FROM stage_hist WHERE rn_desc = 1
            ), v AS (
                -- the current version, shortly after the last stage change
                SELECT opi, least(last_at + to_seconds(60 + floor(rnd(opi, 'vt') * 1800)::BIGINT),
                                  {p.end_ts}) AS t, 0 AS vr
                FROM last
                UNION ALL  -- ~12 % also keep one or two earlier versions (earlier stage)
                SELECT opi, entered_at + INTERVAL 30 SECOND, 1 FROM stage_hist
                WHERE rnd(opi, 'ver') < 0.12 AND (rn_desc = 2 OR (rn_desc = 3 AND rnd(opi, 'ver3') < 0.4))
                UNION ALL  -- soft-deleted lost deals
                SELECT opi, plus_days(close0, 2.0 + 30.0 * rnd(opi, 'dt')), 2 FROM opp_x
                WHERE NOT won AND close0 <= {p.end_ts} - INTERVAL 40 DAY AND rnd(opi, 'del') < 0.01
            ), s AS (
                SELECT o.*, v.t, v.vr,
                    CASE WHEN o.close0 <= v.t THEN (CASE WHEN o.won THEN 'closed_won' ELSE 'closed_lost' END)
                         WHEN o.s4 AND o.e4 <= v.t THEN 'negotiation'
                         WHEN o.s3 AND o.e3 <= v.t THEN 'proposal'
                         WHEN o.s2 AND o.e2 <= v.t THEN 'qualification'
                         ELSE 'prospecting' END AS stage_t,
                    o.close0 <= v.t AS closed_t,
                    v.vr = 2 AS deleted_t
                FROM v JOIN opp_x o USING (opi)
            )
            SELECT pid('OP', opi, 10) AS opportunity_id,
                pid('C', ci, 9) AS customer_id,
                CASE WHEN li IS NOT NULL THEN pid('L', li, 10) END AS lead_id,
                rep_id(rep_at(orig_ri, orig_left, alt_ri, least(t, close0))) AS owner_rep_id,
                created_at, stage_t AS stage,
                CASE WHEN s3 AND e3 <= t THEN amount ELSE amount0 END AS amount,
                currency, expected_close_on,
                CASE WHEN closed_t THEN close0 END AS closed_at,
                closed_t AS is_closed,
                closed_t AND won AS is_won,
                CASE WHEN closed_t AND NOT won
                     THEN {_sql_list(_LOSS_REASONS)}[1 + floor(rnd(opi, 'loss') *
                         {len(_LOSS_REASONS)})::INTEGER]
                     END AS loss_reason,
                t AS updated_at,
                deleted_t AS is_deleted,
                opi AS _k1
            FROM s;
            DROP TABLE stage_hist;
        """)

    # ------------------------------------------------------------------ order versions
    def order_versions(self) -> None:
        self.sql("""
            CREATE TABLE out_orders AS
            -- Versions: signing, then at most one of correction / status change / deletion, each at
            -- least hours later, so (order_id, updated_at) is unique by construction.
            WITH v AS (
                SELECT oi, signed_at AS t, 0 AS vr FROM orders_x
                UNION ALL SELECT oi, t_corr, 1 FROM orders_x WHERE t_corr IS NOT NULL
                UNION ALL SELECT oi, t_status, 2 FROM orders_x WHERE t_status IS NOT NULL
                UNION ALL SELECT oi, t_del, 3 FROM orders_x WHERE t_del IS NOT NULL
            )
            SELECT o.order_id, pid('C', o.ci, 9) AS customer_id,
                CASE WHEN xn.opi IS NOT NULL THEN pid('OP', xn.opi, 10)
                     WHEN xx.opi IS NOT NULL THEN pid('OP', xx.opi, 10) END AS opportunity_id,
                rep_id(o.rep_ri) AS rep_id, o.signed_at,
                CASE WHEN o.kind = 'corrected' AND (o.t_corr IS NULL OR v.t < o.t_corr)
                     THEN o.amount_infl ELSE o.amount END AS amount,
                CASE WHEN o.kind = 'corrected' AND (o.t_corr IS NULL OR v.t < o.t_corr)
                     THEN o.cost_infl ELSE o.cost END AS cost,
                o.currency,
                CASE WHEN o.t_status IS NOT NULL AND v.t >= o.t_status THEN o.kind ELSE 'active' END AS
                    status,
                v.t AS updated_at,
                o.t_del IS NOT NULL AND v.t >= o.t_del AS is_deleted,
                o.oi AS _k1
            FROM v JOIN orders_x o USING (oi)
            -- the won opportunity that produced the order (new business, or expansion)
            LEFT JOIN opp_x xn ON o.from_nb AND xn.kind = 'N' AND xn.ci = o.ci
            LEFT JOIN opp_x xx ON xx.kind = 'X' AND xx.oi = o.oi;
        """)

    # ------------------------------------------------------------------ customers
    def customers(self) -> None:
        p = self.p
        self.sql(f"""
            CREATE TABLE cust_x AS
            WITH c AS (
                SELECT n.ci, n.li, n.channel, n.segment, n.created_at, n.currency, n.orig_ri, n.orig_left,
                    n.alt_ri, b.a IS NOT NULL AS buyer, b.span_end, b.lapsed, rx.team
                FROM nb n JOIN rep_x rx ON rx.ri = n.orig_ri LEFT JOIN buyers b USING (ci)
            ), r AS (
                SELECT c.*,
                    CASE WHEN channel = 'referral' AND ci > 1 THEN 1 + floor(rnd(ci, 'ref') * (ci -
                        1))::BIGINT
                         END AS ref_ci,
                    CASE WHEN buyer AND lapsed AND rnd(ci, 'chx') < 0.15
                         THEN bh(span_end::DATE + 1 + floor(20 * rnd(ci, 'chd'))::INTEGER, rnd(ci, 'cht'))
                         END AS churned0,
                    CASE WHEN rnd(ci, 'edit') < 0.08
                         THEN plus_days(created_at, 3.0 + 200.0 * rnd(ci, 'edt')) END AS t_edit0,
                    CASE WHEN NOT buyer AND rnd(ci, 'del') < 0.012
                         THEN plus_days(created_at, 30.0 + 400.0 * rnd(ci, 'dlt')) END AS t_del0
                FROM c
            )
            SELECT r.* EXCLUDE (churned0, t_edit0, t_del0, ref_ci),
                -- a referrer is always an earlier-created customer
                CASE WHEN rc.created_at < r.created_at THEN r.ref_ci END AS ref_ci,
                CASE WHEN r.churned0 <= {p.end_ts} THEN r.churned0 END AS churned_at,
                CASE WHEN r.t_edit0 <= {p.end_ts} THEN r.t_edit0 END AS t_edit,
                CASE WHEN r.t_del0 <= {p.end_ts} THEN r.t_del0 END AS t_del,
                -- the segment and phone number before the edit
                CASE r.segment WHEN 'smb' THEN 'smb' WHEN 'mid_market' THEN 'smb' ELSE 'mid_market' END AS
                    seg_prev,
                CASE WHEN rnd(r.ci, 'reg') < 0.9 THEN t.region
                     ELSE {_sql_list(_REGIONS)}[1 + floor(rnd(r.ci, 'rg') * {len(_REGIONS)})::INTEGER] END AS
                         region,
                CASE r.currency WHEN 'USD' THEN ['United States', 'Singapore', 'Hong Kong'][1 +
                    floor(rnd(r.ci, 'cty') * 3)::INTEGER]
                              WHEN 'EUR' THEN ['Germany', 'France', 'Netherlands'][1 + floor(rnd(r.ci, 'cty')
                                  * 3)::INTEGER]
                              ELSE 'China' END AS country,
                {_sql_list(_INDUSTRIES)}[1 + floor(rnd(r.ci, 'ind') * {len(_INDUSTRIES)})::INTEGER] AS
                    industry
            FROM r JOIN teams t USING (team) LEFT JOIN nb rc ON rc.ci = r.ref_ci;

            CREATE TABLE out_customers AS
            WITH v AS (
                SELECT ci, created_at AS t, 0 AS vr FROM cust_x
                UNION ALL  -- the owner left: accounts move to a colleague
                SELECT ci, orig_left::TIMESTAMP + INTERVAL 2 HOUR, 1 FROM cust_x
                WHERE orig_left IS NOT NULL AND orig_left::TIMESTAMP + INTERVAL 2 HOUR <= {p.end_ts}
                UNION ALL SELECT ci, t_edit, 2 FROM cust_x WHERE t_edit IS NOT NULL
                UNION ALL SELECT ci, churned_at + INTERVAL 5 MINUTE, 3 FROM cust_x
                    WHERE churned_at IS NOT NULL AND churned_at + INTERVAL 5 MINUTE <= {p.end_ts}
                UNION ALL SELECT ci, t_del, 4 FROM cust_x WHERE t_del IS NOT NULL
            )
            SELECT pid('C', c.ci, 9) AS customer_id,
                'Demo ' || upper(left(c.industry, 1)) || substr(c.industry, 2) || ' Co. ' ||
                    pid('', c.ci, 7)
                    AS customer_name,
                CASE WHEN c.t_edit IS NOT NULL AND v.t < c.t_edit THEN c.seg_prev ELSE c.segment END AS
                    segment,
                c.industry, c.region, c.country, c.channel AS acquisition_channel,
                CASE WHEN c.ref_ci IS NOT NULL THEN pid('C', c.ref_ci, 9) END
                    AS referred_by_customer_id,
                rep_id(rep_at(c.orig_ri, c.orig_left, c.alt_ri, v.t)) AS owner_rep_id,
                c.created_at,
                CASE WHEN c.churned_at + INTERVAL 5 MINUTE <= v.t THEN c.churned_at END AS churned_at,
                pid('c', c.ci, 7) || '@example.com' AS email,
                '+86 555 ' || CASE WHEN c.t_edit IS NOT NULL AND v.t < c.t_edit THEN '1' ELSE '0' END
                    || pid('', c.ci, 8) AS phone,
                v.t AS updated_at,
                c.t_del IS NOT NULL AND v.t >= c.t_del AS is_deleted,
                c.ci AS _k1
            FROM v JOIN cust_x c USING (ci)
            -- random edit times could in theory coincide with another version: keep the later kind
            QUALIFY row_number() OVER (PARTITION BY c.ci, v.t ORDER BY v.vr DESC) = 1;
        """)

    # ------------------------------------------------------------------ lead versions
    def lead_versions(self) -> None:
        p = self.p
        self.sql(f"""
            CREATE TABLE out_leads AS
            WITH l AS (
                SELECT l.*, n.ci, x.opi,
                    greatest(l.created_at, l.fc, l.qual, l.disq, l.conv_at) AS last_at
                FROM leads_x l
                LEFT JOIN nb n ON n.li = l.li
                LEFT JOIN opp_x x ON x.kind = 'N' AND x.ci = n.ci
            ), v AS (
                SELECT li, least(last_at + to_seconds(60 + floor(rnd(li, 'vt') * 1800)::BIGINT),
                                 {p.end_ts}) AS t, 0 AS vr FROM l
                UNION ALL  -- ~10 % keep their first version, some also the version after the first contact
                SELECT li, created_at, 1 FROM l WHERE rnd(li, 'ver') < 0.10 AND last_at > created_at
                UNION ALL
                SELECT li, fc + INTERVAL 30 SECOND, 2 FROM l
                WHERE rnd(li, 'ver') < 0.04 AND fc IS NOT NULL AND last_at > fc + INTERVAL 1 HOUR
                UNION ALL  -- soft-deleted junk leads (never converted)
                SELECT li, plus_days(last_at, 1.0 + 20.0 * rnd(li, 'dt')), 3 FROM l
                WHERE ci IS NULL AND rnd(li, 'del') < 0.006
                  AND plus_days(last_at, 21.0) <= {p.end_ts}
            )
            SELECT pid('L', l.li, 10) AS lead_id, l.created_at, l.channel, l.campaign_id,
                rep_id(l.orig_ri) AS owner_rep_id,
                CASE WHEN l.fc <= v.t THEN l.fc END AS first_contacted_at,
                CASE WHEN l.qual <= v.t THEN l.qual END AS qualified_at,
                CASE WHEN l.disq <= v.t THEN l.disq END AS disqualified_at,
                CASE WHEN l.conv_at <= v.t THEN pid('C', l.ci, 9) END AS
                    converted_customer_id,
                CASE WHEN l.conv_at <= v.t THEN pid('OP', l.opi, 10) END
                    AS converted_opportunity_id,
                pid('lead', l.li, 8) || '@example.com' AS email,
                v.t AS updated_at,
                v.vr = 3 AS is_deleted,
                l.li AS _k1
            FROM v JOIN l USING (li);
        """)

    # ------------------------------------------------------------------ payments
    def payments(self) -> None:
        p = self.p
        self.sql(f"""
            CREATE TABLE out_payments AS
            WITH o AS (
                SELECT oi, signed_at, amount, currency, kind,
                    CASE WHEN kind = 'refunded' THEN 1
                         WHEN rnd(oi, 'ni') < 0.60 THEN 1 WHEN rnd(oi, 'ni') < 0.85 THEN 2 ELSE 3 END AS
                             n_inst,
                    CASE WHEN kind = 'refunded' THEN 15.0 * rnd(oi, 'p1')
                         ELSE 45.0 * rnd(oi, 'p1')
                              + CASE WHEN rnd(oi, 'late') < 0.15 THEN 30.0 + 90.0 * rnd(oi, 'lt') ELSE 0 END
                         END AS first_days,
                    kind <> 'refunded' AND rnd(oi, 'bad') < 0.03 AS bad_debt,
                    0.3 + 0.4 * rnd(oi, 'sp') AS split2
                FROM orders_x WHERE kind IN ('plain', 'corrected', 'refunded')
            ), i AS (
                SELECT o.*, unnest(range(1, n_inst + 1)) AS j FROM o
            ), c AS (
                SELECT i.*,
                    -- cumulative share paid after instalment j (the last one closes the order exactly)
                    CASE WHEN j = n_inst THEN 1.0 WHEN n_inst = 2 THEN split2 WHEN j = 1 THEN 0.3 ELSE 0.7
                        END AS cum,
                    CASE WHEN j = 1 THEN 0.0 WHEN j = 2 THEN 0.3 ELSE 0.7 END AS cum_prev0,
                    plus_days(signed_at, 0.01 + first_days + (j - 1) * (30.0 + 30.0 * rnd2(oi, j, 'gap')))
                        AS paid_at
                FROM i WHERE NOT (bad_debt AND j > 1)
            ), a AS (
                SELECT c.*,
                    round(amount * cum, 2) - round(amount * CASE WHEN j = 1 THEN 0.0 WHEN n_inst = 2 THEN
                        split2
                                                                ELSE cum_prev0 END, 2) AS pay
                FROM c
            )
            SELECT pid('PAY', oi, 10) || '-' || j AS payment_id, oi AS _k1, j AS _k2,
                pid('SO', oi, 10) AS order_id, paid_at, pay::DECIMAL(18,4) AS amount,
                    currency
            FROM a WHERE paid_at <= {p.end_ts} AND pay > 0;
        """)

    # ------------------------------------------------------------------ deliveries
    def deliveries(self) -> None:
        p = self.p
        self.sql(f"""
            CREATE TABLE out_deliveries AS
            WITH o AS (
                SELECT o.oi, o.signed_at, o.kind, o.t_status,
                    sg.deliv_days * (0.3 + 1.4 * rnd(o.oi, 'dd')) AS dd,
                    rnd(o.oi, 'part') < 0.09 AS has_partial,
                    CASE WHEN o.kind = 'refunded' THEN days_between(o.signed_at,
                        plus_days(o.signed_at, 20.0 + 70.0 * rnd(o.oi, 'ts'))) END AS refund_days
                FROM orders_x o JOIN nb n USING (ci) JOIN segments sg ON sg.segment = n.segment
                WHERE o.kind IN ('plain', 'corrected', 'refunded')
            ), d AS (
                SELECT oi, 1 AS seq, plus_days(signed_at, 0.4 * dd) AS t, 'partial' AS status
                FROM o WHERE kind <> 'refunded' AND has_partial
                UNION ALL
                SELECT oi, 2, plus_days(signed_at, dd), 'delivered' FROM o WHERE kind <> 'refunded'
                UNION ALL
                SELECT oi, 2, plus_days(signed_at, 0.3 * refund_days), 'delivered' FROM o WHERE kind =
                    'refunded'
                UNION ALL
                SELECT oi, 3, plus_days(signed_at, 0.8 * refund_days), 'returned' FROM o WHERE kind =
                    'refunded'
            )
            SELECT pid('DLV', oi, 10) || '-' || seq AS delivery_id, oi AS _k1, seq AS _k2,
                pid('SO', oi, 10) AS order_id, t AS delivered_at, status
            FROM d WHERE t <= {p.end_ts};
        """)

    # ------------------------------------------------------------------ activities
    def activities(self) -> None:
        p = self.p
        self.sql(f"""
            CREATE TABLE out_activities AS
            WITH lead_extra AS (
                SELECT l.*, unnest(range(1, 1 + floor(rnd(l.li, 'an') * 4)::BIGINT)) AS seq
                FROM leads_x l WHERE l.fc IS NOT NULL
            ), a AS (
                -- the first outbound touch of a lead is its first contact
                SELECT 'L' AS src, li AS key, 0::BIGINT AS seq, fc AS t,
                    CASE WHEN rnd(li, 'a0') < 0.6 THEN 'call' ELSE 'email' END AS activity_type,
                    'outbound' AS direction, rep_at(orig_ri, orig_left, alt_ri, fc) AS ri,
                    li, NULL::BIGINT AS opi, NULL::BIGINT AS ci
                FROM leads_x WHERE fc IS NOT NULL
                UNION ALL  -- follow-ups until qualification / disqualification
                SELECT 'L', li, seq, t,
                    CASE WHEN u < 0.45 THEN 'call' WHEN u < 0.80 THEN 'email' WHEN u < 0.90 THEN 'meeting'
                         ELSE 'demo' END,
                    CASE WHEN rnd2(li, seq, 'dir') < 0.35 THEN 'inbound' ELSE 'outbound' END,
                    rep_at(orig_ri, orig_left, alt_ri, t), li, NULL, NULL
                FROM (
                    SELECT li, seq, orig_ri, orig_left, alt_ri, rnd2(li, seq, 'ty') AS u,
                        plus_days(fc, 0.01 + rnd2(li, seq, 'at')
                                  * days_between(fc, coalesce(qual, disq, plus_days(fc, 14.0)))) AS t
                    FROM lead_extra
                )
                UNION ALL  -- work on opportunities, from creation to close
                SELECT 'O', opi, seq, t,
                    CASE WHEN u < 0.30 THEN 'call' WHEN u < 0.45 THEN 'email' WHEN u < 0.70 THEN 'meeting'
                         WHEN u < 0.90 THEN 'demo' ELSE 'visit' END,
                    CASE WHEN rnd2(opi, seq, 'dir') < 0.2 THEN 'inbound' ELSE 'outbound' END,
                    rep_at(orig_ri, orig_left, alt_ri, t), li, opi, ci
                FROM (
                    SELECT x.*, rnd2(opi, seq, 'ty') AS u,
                        plus_days(created_at, rnd2(opi, seq, 'at')
                                  * days_between(created_at, least(close0, {p.end_ts}))) AS t
                    FROM (
                        SELECT o.*, unnest(range(CASE WHEN kind = 'N' THEN 2 + floor(rnd(opi, 'n') * 5)
                                                      ELSE 1 + floor(rnd(opi, 'n') * 2) END::BIGINT)) AS seq
                        FROM opp_x o
                    ) x
                )
                UNION ALL  -- account management before repeat orders outside the pipeline
                SELECT 'C', o.oi, 0, plus_days(o.signed_at, -rnd(o.oi, 'cat')
                                                * least(10.0, days_between(b.a, o.signed_at))),
                    CASE WHEN rnd(o.oi, 'cty') < 0.6 THEN 'call' ELSE 'visit' END, 'outbound',
                    NULL, NULL, NULL, o.ci
                FROM orders_x o JOIN buyers b USING (ci)
                WHERE NOT o.from_nb AND NOT o.has_xo AND rnd(o.oi, 'ca') < 0.5
            ), r AS (
                -- account activities belong to the customer's owner at that time
                SELECT a.* EXCLUDE (ri),
                    coalesce(a.ri, rep_at(n.orig_ri, n.orig_left, n.alt_ri, a.t)) AS ri
                FROM a LEFT JOIN nb n ON a.src = 'C' AND n.ci = a.ci
            )
            SELECT 'ACT' || pid(src, key, 10) || '-' || seq AS activity_id, src AS _k1, key AS _k2, seq AS
                _k3,
                activity_type, direction, t AS occurred_at, rep_id(ri) AS rep_id,
                CASE WHEN li IS NOT NULL THEN pid('L', li, 10) END AS lead_id,
                CASE WHEN opi IS NOT NULL THEN pid('OP', opi, 10) END AS opportunity_id,
                CASE WHEN ci IS NOT NULL THEN pid('C', ci, 9) END AS customer_id,
                least(t + to_seconds(floor(rnd2(key, seq, src || 'u') * 172800)::BIGINT), {p.end_ts})
                    AS updated_at
            FROM r WHERE t <= {p.end_ts};
        """)

    # ------------------------------------------------------------------ marketing spend
    def marketing_spend(self) -> None:
        p = self.p
        # channel, category, cadence, share of the channel's cost, currency, campaign code
        cfg = [
            ("paid_search", "advertising", "daily", 0.90, "CNY", "CMP-PS"),
            ("paid_search", "advertising", "daily", 0.10, "USD", "CMP-PSI"),
            ("social", "advertising", "daily", 0.85, "CNY", "CMP-SO"),
            ("social", "promotion", "weekly", 0.15, "CNY", "CMP-SO"),
            ("display", "advertising", "daily", 0.92, "CNY", "CMP-DI"),
            ("display", "advertising", "weekly", 0.08, "EUR", None),
            ("event", "other_marketing", "weekly", 0.70, "CNY", "CMP-EV"),
            ("event", "promotion", "weekly", 0.30, "CNY", "CMP-EV"),
            ("referral", "promotion", "weekly", 1.00, "CNY", None),
            ("organic", "other_marketing", "weekly", 1.00, "CNY", None),
            ("outbound", "other_marketing", "weekly", 1.00, "CNY", None),
            ("other", "market_research", "monthly", 0.60, "CNY", None),
            ("other", "other_marketing", "weekly", 0.40, "CNY", None),
        ]
        values = ", ".join(
            f"({i}, '{ch}', '{cat}', '{cad}', {share}, '{cur}', {repr(camp) if camp else 'NULL'})"
            for i, (ch, cat, cad, share, cur, camp) in enumerate(cfg)
        )
        self.sql(f"""
            CREATE TABLE out_marketing_spend AS
            WITH cfg AS (
                SELECT * FROM (VALUES {values}) v(ci, channel, category, cadence, share, currency, camp)
            ), dd AS (
                -- expected leads of the day x cost per lead (rising 10 % a year) x noise, in CNY
                SELECT d.d, cfg.*,
                    ({p.n_leads} * d.gw * ch.weight * ch.cpl * cfg.share
                     * (1.0 + 0.10 * (d.d - {p.d_start}) / 365.25)
                     * (0.8 + 0.4 * rnd2(epoch(d.d)::BIGINT, cfg.ci, 'sp')))::DECIMAL(18,4) AS v
                FROM days d CROSS JOIN cfg JOIN channels ch USING (channel)
            ), per AS (
                SELECT CASE cadence WHEN 'daily' THEN d
                                    WHEN 'weekly' THEN greatest(date_trunc('week', d)::DATE, {p.d_start})
                                    ELSE date_trunc('month', d)::DATE END AS spend_date,
                    ci, channel, category, currency, camp, sum(v) AS v
                FROM dd GROUP BY ALL
            )
            SELECT 'SP' || lpad(row_number() OVER (ORDER BY spend_date, ci)::VARCHAR, 8, '0') AS spend_id,
                spend_date, channel,
                CASE WHEN camp IS NOT NULL
                     THEN camp || '-' || strftime(spend_date, '%Y') || 'Q' || quarter(spend_date) END AS
                         campaign_id,
                category, money(v / fx_mean(currency)) AS amount, currency
            FROM per;
        """)

    # ------------------------------------------------------------------ compensation
    def compensation(self) -> None:
        p = self.p
        self.sql(f"""
            CREATE TABLE out_sales_compensation AS
            WITH rm AS (
                SELECT r.*, m.m FROM rep_x r JOIN months m
                    ON r.hired_on <= m.m_end AND (r.left_on IS NULL OR r.left_on >= m.m)
            ), bk AS (
                SELECT rep_ri, date_trunc('month', signed_at)::DATE AS m, sum(amount_cny) AS b
                FROM orders_x WHERE live GROUP BY ALL
            ), tb AS (
                SELECT r.team, bk.m, sum(bk.b) AS b FROM bk JOIN rep_x r ON r.ri = bk.rep_ri GROUP BY ALL
            ), cv AS (
                SELECT orig_ri AS ri, date_trunc('month', conv_at)::DATE AS m, count(*) AS n
                FROM leads_x WHERE conv_at IS NOT NULL GROUP BY ALL
            )
            SELECT rep_id(rm.ri) AS rep_id, rm.m AS month,
                (round((CASE rm.role WHEN 'manager' THEN 28000 WHEN 'rep' THEN 12000 ELSE 9000 END)
                       * (0.85 + 0.3 * rnd(rm.ri, 'base')) * pow(1.05, year(rm.m) - {p.start.year}), -2))
                    ::DECIMAL(18,4) AS base_salary,
                money(CASE rm.role WHEN 'rep' THEN coalesce(bk.b, 0) * 0.03
                                   WHEN 'manager' THEN coalesce(tb.b, 0) * 0.005
                                   ELSE coalesce(cv.n, 0) * 300 END) AS commission,
                (CASE WHEN month(rm.m) IN (3, 6, 9, 12) AND rm.role <> 'sdr'
                           AND rnd2(rm.ri, epoch(rm.m)::BIGINT, 'bq') < 0.35
                      THEN round(3000 + 17000 * rnd2(rm.ri, epoch(rm.m)::BIGINT, 'bqa'), -2)
                      WHEN month(rm.m) = 1 AND rnd2(rm.ri, epoch(rm.m)::BIGINT, 'by') < 0.4
                      THEN round(5000 + 25000 * rnd2(rm.ri, epoch(rm.m)::BIGINT, 'bya'), -2)
                      ELSE 0 END)::DECIMAL(18,4) AS bonus,
                'CNY' AS currency
            FROM rm
            LEFT JOIN bk ON bk.rep_ri = rm.ri AND bk.m = rm.m
            LEFT JOIN tb ON tb.team = rm.team AND tb.m = rm.m AND rm.role = 'manager'
            LEFT JOIN cv ON cv.ri = rm.ri AND cv.m = rm.m;
        """)

    # ------------------------------------------------------------------ targets
    def targets(self) -> None:
        """Company year targets (bookings, new customers), team quarter and rep month bookings targets,
        set from the simulated actuals with some ambition and noise (as a planning team would)."""
        p = self.p
        seed = p.seed
        year_book = dict(self.con.execute(
            "SELECT year(signed_at), sum(amount_cny)::DOUBLE FROM orders_x WHERE live GROUP BY 1").fetchall())
        year_new = dict(self.con.execute("""
            SELECT y, count(*) FROM (SELECT ci, year(min(signed_at)) AS y FROM orders_x WHERE live GROUP BY
                ci)
            GROUP BY y""").fetchall())
        team_q = {(t, q): float(b) for t, q, b in self.con.execute("""
            SELECT r.team, date_trunc('quarter', o.signed_at)::DATE, sum(o.amount_cny)
            FROM orders_x o JOIN rep_x r ON r.ri = o.rep_ri WHERE o.live GROUP BY ALL""").fetchall()}

        def covered(first: dt.date, last: dt.date) -> float:
            """Fraction of [first, last] that lies within the history."""
            lo, hi = max(first, p.start), min(last, p.as_of)
            return max(0, (hi - lo).days + 1) / ((last - first).days + 1)

        rows: list[tuple[str, dt.date, str, str | None, str, float, str | None]] = []
        year_target: dict[int, float] = {}
        for y in range(p.start.year, p.as_of.year + 1):
            first, last = dt.date(y, 1, 1), dt.date(y, 12, 31)
            frac = covered(first, last)
            prev = y - 1
            for metric, actual, unit in (("bookings", year_book, 10_000), ("new_customers", year_new, 1)):
                value = float(actual.get(y, 0)) / frac if frac > 0 else 0.0
                prev_complete = covered(dt.date(prev, 1, 1), dt.date(prev, 12, 31)) == 1
                if y == p.as_of.year and prev in actual and prev_complete:
                    value = float(actual[prev]) * 1.25  # the plan for the running year: +25 %
                value *= 0.95 + 0.15 * _prand(seed, "target", metric, y)
                value = max(unit, round(value / unit) * unit)
                if metric == "bookings":
                    year_target[y] = value
                rows.append(("year", first, "company", None, metric,
                             value, "CNY" if metric == "bookings" else None))
        # Team quarter targets for the quarters of the previous and the as-of year.
        team_ids = {i + 1: t[0] for i, t in enumerate(_TEAMS[: p.n_teams])}
        q = dt.date(p.as_of.year - 1, 1, 1)
        while q <= p.as_of:
            q_end = dt.date(q.year + (q.month + 2) // 12, (q.month + 2) % 12 + 1, 1) - dt.timedelta(days=1)
            for team, team_id in team_ids.items():
                frac = covered(q, q_end)
                value = team_q.get((team, q), 0.0) / frac if frac > 0 else 0.0
                if frac < 1:
                    last_year = team_q.get((team, dt.date(q.year - 1, q.month, 1)))
                    if last_year:
                        value = last_year * 1.25
                value *= 0.95 + 0.15 * _prand(seed, "tq", team, q)
                rows.append(("quarter", q, "team", team_id, "bookings",
                             max(10_000.0, round(value / 1000) * 1000), "CNY"))
            q = q_end + dt.timedelta(days=1)
        table = pa.table({
            "period_type": [r[0] for r in rows], "period_start": [r[1] for r in rows],
            "scope": [r[2] for r in rows], "scope_id": pa.array([r[3] for r in rows], pa.string()),
            "metric": [r[4] for r in rows], "target_value": [r[5] for r in rows],
            "currency": pa.array([r[6] for r in rows], pa.string()),
        })
        self.con.register("_targets_arrow", table)
        asof_year_target = year_target.get(p.as_of.year, 0.0)
        self.sql(f"""
            CREATE TABLE targets_x AS
            SELECT period_type, period_start, scope, scope_id, metric,
                target_value::DECIMAL(18,4) AS target_value, currency FROM _targets_arrow
            UNION ALL
            -- rep month targets for the as-of year: a share of the company plan, scaled by seniority
            SELECT 'month', m.m, 'rep', rep_id(r.ri), 'bookings',
                greatest(1000, round({asof_year_target!r} / 12.0 / n.n
                                     * (0.7 + 0.6 * rnd2(r.ri, epoch(m.m)::BIGINT, 'rt')),
                                         -3))::DECIMAL(18,4),
                'CNY'
            FROM months m
            JOIN pool r ON r.m = m.m AND r.pool = 'rep'
            JOIN pool_n n ON n.m = m.m AND n.pool = 'rep'
            WHERE year(m.m) = {p.as_of.year};

            CREATE TABLE out_targets AS
            SELECT 'TGT' || lpad(row_number() OVER (
                        ORDER BY period_type, period_start, scope, scope_id NULLS FIRST, metric)::VARCHAR, 7,
                            '0')
                    AS target_id, *
            FROM targets_x;
        """)
        self.con.unregister("_targets_arrow")

    # ------------------------------------------------------------------ fx rates
    def fx_rates(self) -> None:
        self.sql("CREATE TABLE out_fx_rates AS SELECT rate_date, currency, rate AS rate_to_reporting FROM fx")


# ----------------------------------------------------------------------------- writing
def _write_table(con: duckdb.DuckDBPyConnection, table: str, folder: Path, fmt: str) -> int:
    """COPY ``out_<table>`` to ``folder/<table>.<fmt>``: contract columns and types, in key order."""
    spec = TABLES[table]
    exprs = []
    for col, typ in spec.columns.items():
        if typ == TS:  # internal values are naive UTC timestamps
            expr = (f"timezone('UTC', {col})" if fmt == "parquet"
                    else f"strftime({col}, '%Y-%m-%dT%H:%M:%S') || '+00:00'")
        else:
            expr = f"CAST({col} AS {typ})"
        exprs.append(f"{expr} AS {col}")
    order = list(spec.primary_key) + (["updated_at"] if spec.has_versions else [])
    # Large tables carry numeric sort keys (_k1, _k2, ...) that order rows by their key like the
    # zero-padded string ids do, but sort much faster.
    columns = [d[0] for d in con.execute(f"SELECT * FROM out_{table} LIMIT 0").description]
    internal = [c for c in columns if c.startswith("_k")]
    if internal:
        order = sorted(internal) + (["updated_at"] if spec.has_versions else [])
    path = folder / f"{table}.{fmt}"
    options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER true"
    query = f"SELECT {', '.join(exprs)} FROM out_{table} ORDER BY {', '.join(order)}"
    con.execute(f"COPY ({query}) TO '{_sql_path(path)}' ({options})")
    return con.execute(f"SELECT count(*) FROM out_{table}").fetchone()[0]


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def generate_demo(
    out_dir: Path,
    *,
    scale: int = 2000,
    seed: int = 42,
    as_of: dt.date,
    fmt: str = "parquet",
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Write the demo CRM as one landing file per contract table and return rows per table.

    ``scale`` is the number of orders (approximately); every other table is sized in proportion.
    The same ``seed`` (and ``as_of``) always yields the same table contents. Nothing in the output
    lies after the end of ``as_of`` in Asia/Shanghai (15:59:59 UTC).
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    if scale < 50:
        raise ValueError(f"scale must be at least 50 orders, got {scale}")
    if isinstance(as_of, dt.datetime) or not isinstance(as_of, dt.date):
        raise TypeError(f"as_of must be a datetime.date, got {as_of!r}")
    say = progress or (lambda _msg: None)
    plan = _plan(int(scale), int(seed), as_of)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".demo-work-", dir=out_dir))
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET temp_directory = '{_sql_path(work / 'spill')}'")
        con.execute("SET memory_limit = '3GB'")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET TimeZone = 'UTC'")
        # Never plan an ASOF join as a nested loop (cardinality estimates after unnest are poor).
        con.execute("SET asof_loop_join_threshold = 0")
        stage_dir = work / "staged"
        stage_dir.mkdir()
        generator = _Generator(con, plan, say, stage_dir, fmt)
        generator.run()
        counts = {table: generator.counts[table] for table in TABLE_NAMES}
        # Publish only once every table is complete; each rename is atomic (same file system), so a
        # reader never sees a half-written file and a failed run leaves the previous drop in place.
        for table in TABLE_NAMES:
            os.replace(stage_dir / f"{table}.{fmt}", out_dir / f"{table}.{fmt}")
        say(f"demo: wrote {sum(counts.values())} rows in {len(counts)} tables to {out_dir}")
        return counts
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
