"""The KPI dashboard: rendered from the published reporting database, checked in a real headless browser.

The browser is Debian's ``chromium`` (``apt-get install chromium``), driven over the Chrome DevTools
Protocol with the ``websockets`` client: no browser download, no extra driver. Without chromium the
browser tests FAIL (never skip) and say what to install. ``SALESPULSE_CHROMIUM`` names another
Chromium-family executable.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest
import yaml
from test_faults import published_demo

from salespulse.dashboard import render_dashboard
from salespulse.dashboard.cli import add_dashboard_parser
from salespulse.dashboard.render import COLUMN_LABELS

ROOT = Path(__file__).resolve().parents[1]
KPI_YAML = ROOT / "dbt_project" / "models" / "marts" / "kpi"
CHARTS = [
    "bookings", "share_channel", "share_segment", "attainment_team", "attainment_rep", "funnel", "cac",
    "cac_channel", "cac_channel_share", "clv", "payback", "cycle", "customers",
]
INSTALL_HINT = "apt-get install chromium (Debian's package; or set SALESPULSE_CHROMIUM to a Chromium executable)"


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def reporting_db(tmp_path_factory) -> Path:
    """A private copy of the session's published 300-order demo (outputs never land beside the shared one)."""
    src = published_demo(tmp_path_factory) / "warehouse" / "reporting.duckdb"
    dest = tmp_path_factory.mktemp("dashboard") / "warehouse" / "reporting.duckdb"
    dest.parent.mkdir(parents=True)
    shutil.copy2(src, dest)
    return dest


@pytest.fixture(scope="module")
def pages(reporting_db) -> dict[str, Path]:
    out = reporting_db.parent.parent / "out"
    return {lang: render_dashboard(reporting_db, out / f"dashboard-{lang}.html", language=lang)
            for lang in ("zh", "en")}


def chromium_executable() -> str:
    for candidate in (os.environ.get("SALESPULSE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (path := shutil.which(candidate)):
            return path
    pytest.fail(f"no Chromium browser found for the dashboard test: {INSTALL_HINT}", pytrace=False)


class Browser:
    """A headless Chromium with one page, driven over the DevTools protocol (one websocket)."""

    def __init__(self, executable: str, workdir: Path) -> None:
        from websockets.sync.client import connect

        self.profile = Path(tempfile.mkdtemp(prefix="chromium-profile-", dir=workdir))
        self.log = open(workdir / "chromium.log", "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-default-apps", "--disable-extensions", "--no-first-run", "--no-default-browser-check",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "--window-size=1440,1000",
             "about:blank"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                pytest.fail(f"chromium did not start; its output: {(workdir / 'chromium.log').read_text()[-2000:]}")
            time.sleep(0.05)
        port = int(port_file.read_text().splitlines()[0])
        targets: list = []
        while not any(t.get("type") == "page" for t in targets):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
                targets = json.loads(resp.read())
            if time.monotonic() > deadline:
                self.close()
                pytest.fail("chromium opened no page")
            time.sleep(0.05)
        page = next(t for t in targets if t.get("type") == "page")
        self.stack = contextlib.ExitStack()
        self.ws = self.stack.enter_context(connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10))
        self.next_id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def call(self, method: str, timeout: float = 30, **params):
        self.next_id += 1
        msg_id = self.next_id
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["method"] == method:
                    return self.events.pop(i)
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if "method" in msg:
                self.events.append(msg)

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self.events.clear()
        self.call("Emulation.setDeviceMetricsOverride", width=1440, height=1000, deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")
        deadline = time.monotonic() + 20
        while not self.js("!!(window.salespulseDashboard && window.salespulseDashboard.ready)"):
            if time.monotonic() > deadline:
                raise AssertionError(f"the dashboard never became ready; page errors: {self.errors()}")
            time.sleep(0.1)

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors since the last open()."""
        try:  # drain what is queued
            while True:
                msg = json.loads(self.ws.recv(timeout=0.3))
                if "method" in msg:
                    self.events.append(msg)
        except TimeoutError:
            pass
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append(f"exception: {d.get('text')} {d.get('exception', {}).get('description', '')}")
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out

    def screenshot(self, path: Path) -> Path:
        height = int(self.js("Math.ceil(document.documentElement.scrollHeight)"))
        self.call("Emulation.setDeviceMetricsOverride", width=1440, height=height, deviceScaleFactor=1, mobile=False)
        self.js("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, timeout=60)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        stack = getattr(self, "stack", None)
        if stack is not None:
            stack.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(chromium_executable(), tmp_path_factory.mktemp("chromium"))
    try:
        yield b
    finally:
        b.close()


def db_rows(db: Path, sql: str, params=None):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def latest_scorecard_reps(db: Path, grain: str) -> set[str]:
    return {r[0] for r in db_rows(
        db,
        "select slice_value from kpi_scorecard where slice = 'rep' and period_type = ? "
        "and period_start = (select max(period_start) from kpi_scorecard where period_type = ?)",
        [grain, grain],
    )}


def company_periods(db: Path, grain: str) -> int:
    return db_rows(db, "select count(*) from kpi_revenue where slice = 'company' and period_type = ?", [grain])[0][0]


# ---------------------------------------------------------------------------------------- static checks
def test_page_is_self_contained(pages):
    for lang, page in pages.items():
        html = page.read_text(encoding="utf-8")
        assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I), f"{lang}: external resource"
        assert not re.search(r"""@import|url\(\s*["']?\s*(?:https?:)?//""", html, re.I), f"{lang}: external css"
        assert "<link" not in html.lower()
        assert "echarts" in html and html.count("<script") == 5  # data, labels, config, library, page script
        assert page.stat().st_size > 900_000  # the chart library is inlined


def test_zh_labels_are_the_marts_label_zh():
    yaml_labels = {}
    for f in KPI_YAML.glob("*.yml"):
        for model in yaml.safe_load(f.read_text(encoding="utf-8"))["models"]:
            for c in model.get("columns", []):
                yaml_labels[f"{model['name']}.{c['name']}"] = (c.get("meta") or {}).get("label_zh")
    wrong = {k: (v["zh"], yaml_labels.get(k)) for k, v in COLUMN_LABELS.items() if yaml_labels.get(k) != v["zh"]}
    assert not wrong, f"dashboard zh labels differ from meta.label_zh (dashboard, yaml): {wrong}"


def test_refuses_the_build_warehouse(tmp_path):
    build = tmp_path / "build.duckdb"
    con = duckdb.connect(str(build))
    con.execute("create schema marts; create table main.kpi_revenue as select 1 as x")
    con.close()
    with pytest.raises(ValueError, match="never the build warehouse"):
        render_dashboard(build, tmp_path / "d.html")
    assert not (tmp_path / "d.html").exists()
    with pytest.raises(ValueError, match="language"):
        render_dashboard(build, tmp_path / "d.html", language="fr")
    with pytest.raises(FileNotFoundError, match="salespulse refresh"):
        render_dashboard(tmp_path / "missing.duckdb", tmp_path / "d.html")


def test_cli_and_asset_write_the_dashboard(reporting_db, monkeypatch, tmp_path):
    from dagster import materialize

    from salespulse.assets.dashboard import dashboard
    from salespulse.resources import SalespulseSettings

    for key in list(os.environ):
        if key.startswith("SALESPULSE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    add_dashboard_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "cli" / "d.html"
    args = parser.parse_args(["dashboard", "--reporting-db", str(reporting_db), "--language", "en", "--out", str(out)])
    assert args.func(args) == 0
    html = out.read_text(encoding="utf-8")
    assert '"language":"en"' in html and '"currency":"CNY"' in html

    monkeypatch.setenv("SALESPULSE_DASHBOARD_LANGUAGE", "en")
    result = materialize([dashboard], resources={"settings": SalespulseSettings(reporting_db=str(reporting_db))})
    assert result.success
    written = reporting_db.parent / "dashboard.html"
    assert written.exists() and '"language":"en"' in written.read_text(encoding="utf-8")
    mat = result.asset_materializations_for_node("dashboard")[0]
    assert mat.metadata["path"].value == str(written)


# ---------------------------------------------------------------------------------------- in the browser
EXPECTED_TEXT = {
    "zh": ["销售业绩仪表盘", "销售评估记分卡", "销售漏斗转化率", "销售额(签约额)", "公司内排名", "达成率", "流失率"],
    "en": ["Sales performance dashboard", "Rep scorecard", "Funnel conversion", "Bookings", "Company rank",
           "Attainment", "Churn rate"],
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_dashboard_in_headless_chromium(lang, pages, reporting_db, browser, tmp_path_factory):
    browser.open(pages[lang].resolve().as_uri())
    assert browser.errors() == []

    # Every chart container holds a rendered chart with data points.
    containers = browser.js("Array.from(document.querySelectorAll('[data-chart]')).map(e => e.dataset.chart)")
    assert sorted(containers) == sorted(CHARTS)
    counts = browser.js("window.salespulseDashboard.pointCounts()")
    assert set(counts) == set(CHARTS)
    assert all(n > 0 for n in counts.values()), f"charts without data points: {counts}"
    drawn = browser.js(
        "Object.fromEntries(Array.from(document.querySelectorAll('[data-chart]')).map(e => "
        "[e.dataset.chart, e.querySelectorAll('svg path, svg rect, svg circle').length]))"
    )
    assert all(n > 5 for n in drawn.values()), f"charts without drawn shapes: {drawn}"

    # The bookings chart has one point per month; the grain switch re-renders it by quarter.
    months, quarters = company_periods(reporting_db, "month"), company_periods(reporting_db, "quarter")
    assert quarters < months
    axis_len = "window.salespulseDashboard.charts.bookings.getOption().xAxis[0].data.length"
    assert browser.js(axis_len) == months
    assert browser.js("window.salespulseDashboard.charts.bookings.getOption().series[0].data.length") == months

    # The scorecard: exactly the reps of kpi_scorecard's latest month.
    reps_js = "Array.from(document.querySelectorAll('#scorecard tbody tr')).map(r => r.dataset.rep)"
    shown = browser.js(reps_js)
    assert len(shown) == len(set(shown))
    assert set(shown) == latest_scorecard_reps(reporting_db, "month")
    first_rank = browser.js("document.querySelector('#scorecard tbody tr td').textContent")
    assert first_rank == "1"

    # Labels in the page's language; amounts in the reporting currency with thousands separators.
    text = browser.js("document.body.innerText")
    for expected in EXPECTED_TEXT[lang]:
        assert expected in text, f"{expected!r} missing from the {lang} page"
    other = "en" if lang == "zh" else "zh"
    assert EXPECTED_TEXT[other][1] not in text
    legend = browser.js("window.salespulseDashboard.charts.bookings.getOption().series.map(s => s.name)")
    assert legend[0] == COLUMN_LABELS["kpi_revenue.bookings"][lang]
    table = browser.js("document.querySelector('#scorecard').innerText")
    symbol = "¥" if lang == "zh" else "CN¥"
    assert re.search(re.escape(symbol) + r"\d{1,3}(?:,\d{3})+", table), table[:500]
    assert re.search(r"\d{1,3}(?:,\d{3})+", browser.js("document.querySelector('#tiles').innerText"))

    shot = browser.screenshot(tmp_path_factory.mktemp("screenshots") / f"dashboard-{lang}.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    print(f"screenshot: {shot}")

    # Grain switch: quarter, then year, by clicking the buttons.
    browser.js("document.querySelector('#grain-switch button[data-grain=quarter]').click()")
    assert browser.js("window.salespulseDashboard.grain") == "quarter"
    assert browser.js(axis_len) == quarters
    assert set(browser.js(reps_js)) == latest_scorecard_reps(reporting_db, "quarter")
    assert all(n > 0 for n in browser.js("window.salespulseDashboard.pointCounts()").values())
    browser.js("document.querySelector('#grain-switch button[data-grain=year]').click()")
    assert browser.js(axis_len) == company_periods(reporting_db, "year")
    assert browser.errors() == []
