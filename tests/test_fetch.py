"""The generic HTTP client of the CRM fetchers (salespulse.sources.fetch) against a fake server on
127.0.0.1: 429 with Retry-After, exponential backoff on 5xx, giving up, 4xx, timeouts, the token
from the environment (never logged), pagination and the atomic high-water-mark state file.
A fake ``sleep`` records the waits instead of waiting."""

from __future__ import annotations

import json
import logging
import threading
import time
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from salespulse.sources.base import SourceError
from salespulse.sources.fetch import FetchError, HttpClient, RetryPolicy, StateStore, paginate

TOKEN = "s3cret-token-value-0123456789"


class _Server:
    """Answers each request with the next scripted (status, headers, body, delay) and records it."""

    def __init__(self):
        self.script: list[tuple[int, dict[str, str], object, float]] = []
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append({"method": self.command, "path": self.path,
                                       "headers": dict(self.headers), "body": body})
                status, headers, payload, delay = outer.script.pop(0) if outer.script else (200, {}, {}, 0)
                if delay:
                    time.sleep(delay)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _answer

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


@pytest.fixture
def client(server, monkeypatch):
    monkeypatch.setenv("FAKE_CRM_TOKEN", TOKEN)
    waits: list[float] = []
    c = HttpClient(server.url, token_env="FAKE_CRM_TOKEN", source="fake",
                   policy=RetryPolicy(max_retries=3, backoff_base=0.5, timeout=5), sleep=waits.append)
    c.waits = waits  # type: ignore[attr-defined]
    return c


def test_429_waits_retry_after_then_succeeds(server, client):
    server.script = [(429, {"Retry-After": "7"}, {"message": "slow down"}, 0), (200, {}, {"ok": 1}, 0)]
    assert client.request_json("POST", "/api/x", body={"a": "中文"}) == {"ok": 1}
    assert client.waits == [7.0]
    assert [a[2] for a in client.attempts] == [429, 200]
    # the same request was sent twice, JSON body intact, bearer token from the environment
    assert [json.loads(r["body"]) for r in server.requests] == [{"a": "中文"}] * 2
    assert all(r["headers"]["Authorization"] == f"Bearer {TOKEN}" for r in server.requests)


def test_429_with_an_http_date_and_without_header(server, client):
    import datetime as dt

    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    server.script = [(429, {"Retry-After": format_datetime(when, usegmt=True)}, {}, 0),
                     (429, {}, {}, 0), (200, {}, [1, 2], 0)]
    assert client.request_json("GET", "/x") == [1, 2]
    assert 25 <= client.waits[0] <= 30
    assert client.waits[1] == 1.0  # no Retry-After: the backoff of retry number 2 (0.5 * 2)


def test_5xx_backs_off_exponentially_then_succeeds(server, client):
    server.script = [(500, {}, {}, 0), (502, {}, {}, 0), (503, {}, {}, 0), (200, {}, {"done": True}, 0)]
    assert client.request_json("GET", "/x", params={"q": "a b"}) == {"done": True}
    assert client.waits == [0.5, 1.0, 2.0]
    assert server.requests[0]["path"] == "/x?q=a+b"


def test_gives_up_after_max_retries(server, client):
    server.script = [(500, {}, {}, 0)] * 4
    with pytest.raises(FetchError, match="giving up after 4 attempts") as err:
        client.request_json("GET", "/x")
    assert err.value.status == 500 and client.waits == [0.5, 1.0, 2.0] and len(server.requests) == 4


def test_backoff_is_capped():
    policy = RetryPolicy(backoff_base=1, backoff_max=10)
    assert [policy.backoff(i) for i in range(6)] == [1, 2, 4, 8, 10, 10]


def test_other_4xx_fails_at_once(server, client):
    server.script = [(403, {}, {"code": 8301, "msg": "forbidden"}, 0)]
    with pytest.raises(FetchError, match="HTTP 403") as err:
        client.request_json("POST", "/x", body={})
    assert err.value.status == 403 and client.waits == [] and len(server.requests) == 1


def test_timeout_is_retried(server, monkeypatch):
    monkeypatch.setenv("FAKE_CRM_TOKEN", TOKEN)
    waits: list[float] = []
    c = HttpClient(server.url, token_env="FAKE_CRM_TOKEN", sleep=waits.append,
                   policy=RetryPolicy(max_retries=2, backoff_base=0.25, timeout=0.2))
    server.script = [(200, {}, {"late": True}, 0.5), (200, {}, {"ok": True}, 0)]
    assert c.request_json("GET", "/slow") == {"ok": True}
    assert waits == [0.25] and c.attempts[0][2] is None


def test_token_never_logged_nor_in_errors(server, client, caplog):
    caplog.set_level(logging.DEBUG)
    server.script = [(500, {}, {}, 0)] * 4
    with pytest.raises(FetchError) as err:
        client.request_json("GET", "/x")
    assert TOKEN not in caplog.text and TOKEN not in str(err.value)
    assert "retry 1/3" in caplog.text


def test_missing_token_variable_names_it(server, monkeypatch):
    monkeypatch.delenv("NO_SUCH_TOKEN_VAR", raising=False)
    c = HttpClient(server.url, token_env="NO_SUCH_TOKEN_VAR", source="fake")
    with pytest.raises(SourceError, match="NO_SUCH_TOKEN_VAR") as err:
        c.request_json("GET", "/x")
    assert err.value.source == "fake" and "export NO_SUCH_TOKEN_VAR=" in str(err.value)
    assert server.requests == []


def test_paginate_follows_the_cursor():
    pages = {None: ([1, 2], "b"), "b": ([3, 4], "c"), "c": ([5], None)}
    seen = []

    def page(cursor):
        seen.append(cursor)
        return pages[cursor]

    assert list(paginate(page)) == [1, 2, 3, 4, 5] and seen == [None, "b", "c"]
    with pytest.raises(FetchError, match="did not end"):
        list(paginate(lambda c: ([0], "same"), max_pages=3))


def test_state_store_round_trip_and_atomic_write(tmp_path, monkeypatch):
    path = tmp_path / "state" / "crm.json"
    store = StateStore(path)
    assert store.get("crm/deals") is None
    store.set("crm/deals", "2024-01-02T00:00:00.000Z")
    store.save()
    assert StateStore(path).get("crm/deals") == "2024-01-02T00:00:00.000Z"
    assert json.loads(path.read_text())["crm/deals"]["high_water_mark"] == "2024-01-02T00:00:00.000Z"
    # a crash while writing leaves the previous file whole and no temporary file behind
    store.set("crm/deals", "2024-02-01T00:00:00.000Z")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("salespulse.sources.fetch.json.dump", boom)
    with pytest.raises(OSError):
        store.save()
    assert StateStore(path).get("crm/deals") == "2024-01-02T00:00:00.000Z"
    assert [p.name for p in path.parent.iterdir()] == ["crm.json"]


def test_corrupt_state_file_is_a_clear_error(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("{not json")
    with pytest.raises(SourceError, match="delete it to fetch everything again"):
        StateStore(path)
