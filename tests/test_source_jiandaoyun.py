"""简道云 (Jiandaoyun): Chinese-header exports in GBK / UTF-8 with BOM / UTF-8 through the shipped
mapping (exact values, a load without quarantine, one whole pipeline run with a hand-computed KPI),
hand-made API v5 records, the mapping errors, and the v5 fetcher against a fake server on 127.0.0.1
(pages by data_id, a 429 with Retry-After, a 500 then success, the updateTime high-water mark,
the token from the environment and nowhere else)."""

from __future__ import annotations

import csv
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from salespulse.loader import LoadOptions, load_landing
from salespulse.sources.base import SourceError
from salespulse.sources.jiandaoyun import (
    DEFAULT_MAPPING,
    JiandaoyunConfig,
    convert_jiandaoyun,
    fetch_jiandaoyun,
    normalise_record,
)

from conftest import query, run_refresh

TOKEN = "jdy-token-9f8e7d6c5b4a"


def _csv(path: Path, header: list[str], rows: list[list[object]], encoding: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _export(inp: Path) -> Path:
    """A small CRM export: 2 customers, 3 opportunities, 2 contracts, 2 payments, 2 follow-ups."""
    _csv(inp / "客户.csv", ["客户名称", "客户行业", "客户规模", "客户来源", "负责人", "联系电话", "提交时间",
                           "更新时间"], [
        ["上海星辰科技有限公司", "制造业", "大型", "转介绍", "张伟", "021-5555", "2024-01-03 09:00:00",
         "2024-01-03 09:00:00"],
        ["深圳蓝海贸易", "", "小型", "百度推广", "李娜", "", "2024-01-10 14:30:00", "2024-02-01 10:00:00"],
    ], "gbk")
    _csv(inp / "商机.csv", ["商机编号", "商机名称", "客户名称", "负责人", "商机阶段", "商机金额", "预计成交日期",
                           "输单原因", "提交时间", "更新时间"], [
        ["SJ001", "生产线升级", "上海星辰科技有限公司", "张伟", "赢单", "120,000.00", "2024-02-20", "",
         "2024-01-05 10:00:00", "2024-02-18 16:00:00"],
        ["SJ002", "仓储系统", "深圳蓝海贸易", "李娜", "输单", "30000", "2024-03-01", "价格太高", "2024-01-12 11:00:00",
         "2024-02-25 09:00:00"],
        ["SJ003", "二期", "上海星辰科技有限公司", "张伟", "方案报价", "50000", "2024-04-30", "",
         "2024-02-01 09:00:00", "2024-02-10 09:00:00"],
    ], "utf-8-sig")
    _csv(inp / "合同.csv", ["合同编号", "客户名称", "商机编号", "负责人", "签约日期", "合同金额", "合同状态",
                           "提交时间", "更新时间"], [
        ["HT001", "上海星辰科技有限公司", "SJ001", "张伟", "2024-02-18", "120000", "执行中", "2024-02-18 16:05:00",
         "2024-02-18 16:05:00"],
        ["HT002", "深圳蓝海贸易", "", "李娜", "2024-03-05", "8000", "", "2024-03-05 10:00:00", "2024-03-05 10:00:00"],
    ], "gbk")
    _csv(inp / "回款.csv", ["回款编号", "合同编号", "回款日期", "回款金额"], [
        ["HK001", "HT001", "2024-02-28", "60,000"],
        ["HK002", "HT001", "2024-03-15", "60000"],
    ], "utf-8")
    _csv(inp / "跟进记录.csv", ["客户名称", "商机编号", "跟进方式", "跟进时间", "跟进人", "跟进内容", "更新时间"], [
        ["上海星辰科技有限公司", "SJ001", "电话", "2024-01-04 10:00:00", "张伟", "初次沟通", "2024-01-04 10:05:00"],
        ["深圳蓝海贸易", "", "上门拜访", "2024-01-11 15:00:00", "王芳", "拜访", "2024-01-11 18:00:00"],
    ], "gbk")
    return inp


# --------------------------------------------------------------------------- exports
def test_chinese_header_exports_in_gbk_bom_and_utf8(tmp_path):
    inp, out = _export(tmp_path / "in"), tmp_path / "out"
    assert (inp / "客户.csv").read_bytes().decode("gbk").startswith("客户名称")
    res = convert_jiandaoyun(inp, out)
    assert res.tables == {"customers": 2, "opportunities": 3, "orders": 2, "payments": 2, "activities": 2, "reps": 3}
    assert res.warnings == []
    cust = {r["customer_id"]: r for r in _read(out / "customers.csv")}
    a = cust["上海星辰科技有限公司"]
    assert (a["segment"], a["industry"], a["acquisition_channel"], a["owner_rep_id"], a["phone"], a["email"]) == (
        "enterprise", "制造业", "referral", "张伟", "021-5555", "n/a")
    assert (a["created_at"], a["country"], a["region"], a["is_deleted"]) == (
        "2024-01-03T09:00:00+08:00", "CN", "unknown", "false")
    b = cust["深圳蓝海贸易"]
    assert (b["segment"], b["industry"], b["acquisition_channel"], b["updated_at"]) == (
        "smb", "unknown", "paid_search", "2024-02-01T10:00:00+08:00")
    opps = {r["opportunity_id"]: r for r in _read(out / "opportunities.csv")}
    won, lost, open_ = opps["SJ001"], opps["SJ002"], opps["SJ003"]
    assert (won["stage"], won["amount"], won["currency"], won["is_won"], won["is_closed"], won["closed_at"]) == (
        "closed_won", "120000.00", "CNY", "true", "true", "2024-02-18T16:00:00+08:00")
    assert won["expected_close_on"] == "2024-02-20" and won["loss_reason"] == ""
    assert (lost["stage"], lost["is_won"], lost["is_closed"], lost["loss_reason"]) == (
        "closed_lost", "false", "true", "价格太高")
    assert (open_["stage"], open_["is_closed"], open_["closed_at"]) == ("proposal", "false", "")
    orders = {r["order_id"]: r for r in _read(out / "orders.csv")}
    assert (orders["HT001"]["opportunity_id"], orders["HT001"]["signed_at"], orders["HT001"]["status"]) == (
        "SJ001", "2024-02-18T00:00:00+08:00", "active")
    ht2 = orders["HT002"]
    assert (ht2["opportunity_id"], ht2["status"], ht2["amount"]) == ("", "active", "8000")
    pays = {r["payment_id"]: r for r in _read(out / "payments.csv")}
    assert (pays["HK001"]["amount"], pays["HK001"]["paid_at"], pays["HK001"]["order_id"]) == (
        "60000", "2024-02-28T00:00:00+08:00", "HT001")
    acts = {r["activity_id"]: r for r in _read(out / "activities.csv")}
    visit = acts["深圳蓝海贸易|2024-01-11 15:00:00|王芳"]
    assert (visit["activity_type"], visit["direction"], visit["rep_id"], visit["opportunity_id"]) == (
        "visit", "outbound", "王芳", "")
    reps = {r["rep_id"]: r for r in _read(out / "reps.csv")}
    assert sorted(reps) == ["张伟", "李娜", "王芳"]
    # hired on the day of the owner's earliest record, updated at the newest
    assert (reps["张伟"]["hired_on"], reps["张伟"]["updated_at"]) == ("2024-01-03", "2024-02-18T16:05:00+08:00")
    wang = reps["王芳"]
    assert (wang["hired_on"], wang["role"], wang["team_name"]) == ("2024-01-11", "rep", "销售部")

    loads = load_landing(tmp_path / "build.duckdb", out, options=LoadOptions(source_system="jiandaoyun"))
    assert {t: (x.rows_loaded, x.rows_quarantined) for t, x in loads.items() if x.files} == {
        "reps": (3, 0), "customers": (2, 0), "opportunities": (3, 0), "activities": (2, 0), "orders": (2, 0),
        "payments": (2, 0)}


def test_export_through_the_pipeline(tmp_path):
    """A configured source: the `landing` asset converts the export, raw tags it with its name."""
    import json

    inp, landing = _export(tmp_path / "in"), tmp_path / "landing"
    sources = json.dumps([{"name": "jdy", "kind": "jiandaoyun", "input_dir": str(inp)}])
    result, reporting = run_refresh(tmp_path, landing, "2024-03-31", SOURCES=sources)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    drops = [p for p in (landing / "jdy").iterdir()]
    assert len(drops) == 1 and (drops[0] / "orders.csv").exists()  # <landing>/<source>/<timestamp>/
    systems = query(tmp_path / "warehouse" / "build.duckdb", "select distinct _source_system s from raw.orders")
    assert systems["s"].tolist() == ["jdy"]
    rev = query(reporting, "select period_start, bookings, cash_collected from kpi_revenue "
                           "where period_type = 'month' and slice = 'company' order by period_start")
    by_month = {str(r.period_start)[:7]: (float(r.bookings), float(r.cash_collected)) for r in rev.itertuples()}
    # HT001 120,000 signed 2024-02-18, paid 60,000 on 02-28 and 60,000 on 03-15; HT002 8,000 signed 03-05
    assert by_month["2024-02"] == (120000.0, 60000.0)
    assert by_month["2024-03"] == (8000.0, 60000.0)
    win = query(reporting, "select won, lost, win_rate from kpi_win_rate where period_type = 'quarter' "
                           "and slice = 'company' and period_start = '2024-01-01'")
    assert (int(win["won"].iloc[0]), int(win["lost"].iloc[0]), float(win["win_rate"].iloc[0])) == (1, 1, 0.5)


def test_stage_value_map_miss(tmp_path):
    inp = _export(tmp_path / "in")
    text = (inp / "商机.csv").read_text(encoding="utf-8-sig").replace("方案报价", "暂缓")
    (inp / "商机.csv").write_text(text, encoding="utf-8-sig")
    with pytest.raises(SourceError) as exc:
        convert_jiandaoyun(inp, tmp_path / "out")
    msg = str(exc.value)
    assert exc.value.source == "jiandaoyun" and exc.value.field == "商机阶段" and "商机.csv" in msg
    assert "value '暂缓' in row 3 is not in the value_map of tables.opportunities.columns.stage" in msg
    assert "Fix: add `暂缓: <contract value>` to that value_map" in msg


def test_renamed_form_field_is_named_with_the_available_ones(tmp_path):
    inp = _export(tmp_path / "in")
    text = (inp / "合同.csv").read_text(encoding="gbk").replace("合同金额", "签约金额")
    (inp / "合同.csv").write_text(text, encoding="gbk")
    with pytest.raises(SourceError) as exc:
        convert_jiandaoyun(inp, tmp_path / "out")
    msg = str(exc.value)
    assert exc.value.field == "合同金额" and "合同.csv" in msg and "签约金额" in msg
    assert "tables.orders.columns.amount" in msg and "a copy of the shipped YAML" in msg


def test_required_column_unmapped_in_an_edited_copy(tmp_path):
    inp = _export(tmp_path / "in")
    copy = tmp_path / "my_crm.yaml"
    edited = DEFAULT_MAPPING.read_text(encoding="utf-8").replace("      paid_at: 回款日期\n", "")
    copy.write_text(edited, encoding="utf-8")
    with pytest.raises(SourceError) as exc:
        convert_jiandaoyun(inp, tmp_path / "out", mapping=copy)
    assert exc.value.field == "tables.payments.columns.paid_at" and str(copy) in str(exc.value)
    assert "paid_at: {column: <input field>}" in str(exc.value)


# --------------------------------------------------------------------------- API v5 records
LABELS = {"_widget_1": "商机编号", "_widget_2": "客户名称", "_widget_3": "负责人", "_widget_4": "商机阶段",
          "_widget_5": "商机金额", "_widget_6": "预计成交日期", "_widget_7": "输单原因"}


def _opp(n: int, update: str, stage: str = "需求确认") -> dict:
    return {
        "_id": f"65a0000000000000000{n:05d}", "appId": "app1", "entryId": "opp",
        "createTime": "2024-01-01T08:00:00.000Z", "updateTime": update,
        "creator": {"username": "jdy_admin", "name": "管理员", "status": 1, "type": 0},
        "_widget_1": f"SJ{n:03d}", "_widget_2": "上海星辰科技有限公司",
        "_widget_3": {"username": "jdy_zhangwei", "name": "张伟", "status": 1, "type": 0},
        "_widget_4": stage, "_widget_5": 1000 + n, "_widget_6": "2024-03-31T16:00:00.000Z", "_widget_7": "",
    }


def test_hand_made_api_records_convert(tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    recs = [_opp(1, "2024-02-01T02:00:00.000Z", "赢单"), _opp(2, "2024-02-02T03:00:00.000Z")]
    with (inp / "商机.jsonl").open("w", encoding="utf-8") as fh:
        for r in recs:
            fh.write(json.dumps(normalise_record(r, LABELS), ensure_ascii=False) + "\n")
    assert normalise_record(recs[0], LABELS)["负责人"] == "张伟"
    assert normalise_record(recs[0], LABELS)["数据ID"] == "65a000000000000000000001"
    res = convert_jiandaoyun(inp, tmp_path / "out")
    assert res.tables == {"opportunities": 2, "reps": 1}
    opps = {r["opportunity_id"]: r for r in _read(tmp_path / "out" / "opportunities.csv")}
    one = opps["SJ001"]
    # UTC "Z" times are kept exactly; the date widget (UTC 16:00 = Beijing midnight) is the Beijing day
    assert (one["created_at"], one["updated_at"], one["closed_at"]) == (
        "2024-01-01T08:00:00+00:00", "2024-02-01T02:00:00+00:00", "2024-02-01T02:00:00+00:00")
    assert (one["expected_close_on"], one["amount"], one["owner_rep_id"], one["is_won"]) == (
        "2024-04-01", "1001", "张伟", "true")
    assert (opps["SJ002"]["stage"], opps["SJ002"]["is_closed"], opps["SJ002"]["closed_at"]) == (
        "qualification", "false", "")
    rep = _read(tmp_path / "out" / "reps.csv")[0]
    assert (rep["rep_id"], rep["hired_on"], rep["updated_at"]) == ("张伟", "2024-01-01", "2024-02-02T03:00:00+00:00")


# --------------------------------------------------------------------------- the v5 fetcher
class FakeJiandaoyun:
    """/api/v5/app/entry/widget/list and /data/list over in-memory records, with injected failures."""

    def __init__(self):
        self.records: dict[str, list[dict]] = {}
        self.failures: list[tuple[int, dict[str, str]]] = []  # served before the next data/list answers
        self.fail_on_call: dict[int, tuple[int, dict[str, str]]] = {}  # data/list call number -> failure
        self.calls: list[dict] = []
        self.data_calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.calls.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(401, {"code": 8301, "msg": "unauthorized"})
                if self.path == "/api/v5/app/entry/widget/list":
                    return self._send(200, {"widgets": [{"name": k, "label": v, "type": "text"}
                                                        for k, v in LABELS.items()], "sysWidgets": []})
                outer.data_calls += 1
                if outer.data_calls in outer.fail_on_call:
                    status, headers = outer.fail_on_call.pop(outer.data_calls)
                    return self._send(status, {"code": status, "msg": "injected"}, headers)
                recs = sorted(outer.records.get(body["entry_id"], []), key=lambda r: r["_id"])
                if body.get("data_id"):
                    recs = [r for r in recs if r["_id"] > body["data_id"]]
                for cond in (body.get("filter") or {}).get("cond", []):
                    assert cond["field"] == "updateTime" and cond["method"] == "gt"
                    recs = [r for r in recs if r["updateTime"] > cond["value"][0]]
                return self._send(200, {"data": recs[: body["limit"]]})

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake():
    f = FakeJiandaoyun()
    yield f
    f.close()


def _config(fake: FakeJiandaoyun, tmp_path: Path) -> JiandaoyunConfig:
    return JiandaoyunConfig.model_validate({
        "base_url": fake.url, "app_id": "app1", "token_env": "JDY_TEST_TOKEN", "backoff_base": 0.5,
        "state_file": str(tmp_path / "state" / "jdy.json"), "forms": {"商机": {"entry_id": "opp"}},
    })


def test_fetch_pages_retries_and_high_water_mark(fake, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("JDY_TEST_TOKEN", TOKEN)
    fake.records["opp"] = [_opp(n, f"2024-02-{1 + n % 20:02d}T00:00:00.000Z") for n in range(1, 251)]
    fake.fail_on_call = {2: (429, {"Retry-After": "3"}), 3: (500, {})}
    waits: list[float] = []
    config, raw = _config(fake, tmp_path), tmp_path / "raw"

    first = fetch_jiandaoyun(config, raw, sleep=waits.append)
    assert first.records == {"商机": 250} and waits == [3.0, 1.0]  # Retry-After, then backoff 0.5 * 2
    data = [c["body"] for c in fake.calls if c["path"].endswith("/data/list")]
    # page 1, the 429 and the 500 of page 2, page 2, page 3 (50 < limit: the end)
    assert [d.get("data_id") for d in data] == [None, "65a000000000000000000100", "65a000000000000000000100",
                                                "65a000000000000000000100", "65a000000000000000000200"]
    assert all(d["limit"] == 100 and d["app_id"] == "app1" and "filter" not in d for d in data)
    lines = (raw / "商机.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 250 and json.loads(lines[0])["商机阶段"] == "需求确认"
    state = json.loads((tmp_path / "state" / "jdy.json").read_text())
    assert state["jiandaoyun/商机"]["high_water_mark"] == "2024-02-20T00:00:00.000Z"
    res = convert_jiandaoyun(raw, tmp_path / "out1")
    assert res.tables["opportunities"] == 250

    # second run: one record updated after the mark -- only it is fetched
    fake.calls.clear()
    fake.records["opp"][6] = _opp(7, "2024-03-05T09:30:00.000Z", "赢单")
    second = fetch_jiandaoyun(config, raw, sleep=waits.append)
    assert second.records == {"商机": 1}
    (body,) = [c["body"] for c in fake.calls if c["path"].endswith("/data/list")]
    assert body["filter"] == {"rel": "and", "cond": [{"field": "updateTime", "method": "gt",
                                                      "value": ["2024-02-20T00:00:00.000Z"]}]}
    res = convert_jiandaoyun(raw, tmp_path / "out2")
    (opp,) = _read(tmp_path / "out2" / "opportunities.csv")
    assert (opp["opportunity_id"], opp["stage"], opp["is_won"], opp["updated_at"]) == (
        "SJ007", "closed_won", "true", "2024-03-05T09:30:00+00:00")
    assert json.loads((tmp_path / "state" / "jdy.json").read_text())["jiandaoyun/商机"]["high_water_mark"] == \
        "2024-03-05T09:30:00.000Z"

    # the token was sent on every request and written nowhere
    assert all(c["auth"] == f"Bearer {TOKEN}" for c in fake.calls)
    for path in [tmp_path / "state" / "jdy.json", *raw.iterdir(), *(tmp_path / "out2").iterdir()]:
        assert TOKEN not in path.read_text(encoding="utf-8"), path
    assert TOKEN not in caplog.text


def test_failed_fetch_keeps_the_previous_mark(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("JDY_TEST_TOKEN", TOKEN)
    fake.records["opp"] = [_opp(1, "2024-02-01T00:00:00.000Z")]
    config = _config(fake, tmp_path)
    fetch_jiandaoyun(config, tmp_path / "raw", sleep=lambda s: None)
    fake.records["opp"].append(_opp(2, "2024-02-05T00:00:00.000Z"))
    fake.fail_on_call = {fake.data_calls + i: (503, {}) for i in range(1, 8)}
    from salespulse.sources.fetch import FetchError

    with pytest.raises(FetchError, match="giving up"):
        fetch_jiandaoyun(config, tmp_path / "raw", sleep=lambda s: None)
    state = json.loads((tmp_path / "state" / "jdy.json").read_text())
    assert state["jiandaoyun/商机"]["high_water_mark"] == "2024-02-01T00:00:00.000Z"


def test_missing_token_names_the_variable(fake, tmp_path, monkeypatch):
    monkeypatch.delenv("JDY_TEST_TOKEN", raising=False)
    with pytest.raises(SourceError, match="JDY_TEST_TOKEN") as exc:
        fetch_jiandaoyun(_config(fake, tmp_path), tmp_path / "raw", sleep=lambda s: None)
    assert exc.value.field == "JDY_TEST_TOKEN" and fake.calls == []
