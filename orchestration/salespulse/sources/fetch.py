"""A small, dependency-free HTTP client for CRM APIs, and a persisted high-water-mark state file.

Used by the Jiandaoyun v5 and HubSpot v3 fetchers; any JSON API with a bearer token fits.

* :class:`HttpClient` sends JSON requests with ``urllib`` (standard library only). The token is read
  from the environment variable named in the config (``token_env``) at request time, sent as
  ``Authorization: <scheme> <token>`` and never logged, stored or put in an error message.
  A 429 waits ``Retry-After`` seconds (or an HTTP date; without the header: the backoff) and retries;
  a 5xx, a timeout or a dropped connection retries with exponential backoff
  (``backoff_base * 2**attempt``, capped at ``backoff_max``), at most ``max_retries`` times; any other
  4xx fails at once. ``sleep`` is injectable so tests do not wait.
* :func:`paginate` turns a "fetch one page" function into an iterator over all records, whatever
  the cursor is (HubSpot's ``paging.next.after``, Jiandaoyun's last ``_id``).
* :class:`StateStore` keeps one JSON file of high-water marks keyed ``<source>/<object>``; it is
  written atomically (temporary file + rename), so a crash never leaves half a file. Callers save
  the new mark only after a fetch completed and its records were written.

Example::

    client = HttpClient("https://api.example.com", token_env="EXAMPLE_TOKEN", source="example")
    state = StateStore(Path("state/example.json"))
    since = state.get("example/deals")
    def page(cursor):
        body = client.request_json("POST", "/v1/deals", body={"after": cursor, "since": since})
        return body["results"], body.get("next")
    records = list(paginate(page))
    state.set("example/deals", max(r["updated"] for r in records)); state.save()
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import SourceError

__all__ = ["FetchError", "RetryPolicy", "HttpClient", "token_from_env", "paginate", "StateStore"]

log = logging.getLogger(__name__)


class FetchError(RuntimeError):
    """A request that failed for good (a 4xx other than 429, or retries exhausted)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of one request. ``max_retries`` counts retries after the first attempt."""

    max_retries: int = 5
    backoff_base: float = 1.0  # seconds before the first retry of a 5xx/timeout; doubles each time
    backoff_max: float = 60.0
    retry_after_max: float = 300.0  # never wait longer than this for one Retry-After
    timeout: float = 30.0  # seconds per attempt (connect + read)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        return min(self.backoff_max, self.backoff_base * (2**attempt))


def token_from_env(var: str, source: str) -> str:
    """The API token from the environment variable ``var``; a SourceError naming the variable if unset."""
    token = os.environ.get(var, "").strip()
    if not token:
        raise SourceError(source, None, var, f"the environment variable {var} holding the API token is not set",
                          f"export {var}=<token> (the token is read from the environment only, never from files)")
    return token


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


@dataclass
class HttpClient:
    """JSON over HTTP(S) with a bearer token from the environment, retries and backoff.

    ``base_url`` is joined with each request's path. ``token_env`` names the environment variable
    holding the token (None: no Authorization header). ``headers`` are added to every request.
    """

    base_url: str
    token_env: str | None = None
    source: str = "http"
    auth_scheme: str = "Bearer"
    headers: dict[str, str] = field(default_factory=dict)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    user_agent: str = "salespulse"
    #: (method, path, status) of every attempt, for tests and the run log (no bodies, no headers).
    attempts: list[tuple[str, str, int | None]] = field(default_factory=list)

    def _request(self, method: str, path: str, body: Any, params: dict[str, Any] | None) -> urllib.request.Request:
        url = self.base_url.rstrip("/") + "/" + path.lstrip("/")
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params, doseq=True)
        headers = {"Accept": "application/json", "User-Agent": self.user_agent, **self.headers}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        if self.token_env:
            headers["Authorization"] = f"{self.auth_scheme} {token_from_env(self.token_env, self.source)}"
        return urllib.request.Request(url, data=data, headers=headers, method=method)

    def request_json(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """Send one request (retrying as the policy says) and return the decoded JSON response."""
        policy = self.policy
        attempt = 0
        while True:
            request = self._request(method, path, body, params)
            status: int | None = None
            wait: float | None = None
            reason = ""
            try:
                with urllib.request.urlopen(request, timeout=policy.timeout) as response:  # noqa: S310
                    status = response.status
                    payload = response.read()
                self.attempts.append((method, path, status))
                if not payload:
                    return None
                try:
                    return json.loads(payload.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise FetchError(f"{self.source}: {method} {path}: the response is not JSON ({exc})",
                                     status) from exc
            except urllib.error.HTTPError as exc:
                status = exc.code
                self.attempts.append((method, path, status))
                detail = exc.read()[:300].decode("utf-8", "replace") if exc.fp else ""
                exc.close()
                if status == 429:
                    wait = _retry_after(exc.headers.get("Retry-After"))
                    wait = min(policy.retry_after_max, wait) if wait is not None else policy.backoff(attempt)
                    reason = "429 too many requests"
                elif status >= 500:
                    wait = policy.backoff(attempt)
                    reason = f"HTTP {status}"
                else:
                    raise FetchError(f"{self.source}: {method} {path} failed with HTTP {status}: {detail}",
                                     status) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                self.attempts.append((method, path, None))
                wait = policy.backoff(attempt)
                reason = f"connection problem ({getattr(exc, 'reason', exc)})"
            if attempt >= policy.max_retries:
                raise FetchError(f"{self.source}: {method} {path}: giving up after {attempt + 1} attempts "
                                 f"(last: {reason})", status)
            log.warning("%s: %s %s: %s; retry %d/%d in %.1fs", self.source, method, path, reason,
                        attempt + 1, policy.max_retries, wait)
            self.sleep(wait)
            attempt += 1


def paginate(fetch_page: Callable[[Any], tuple[list[Any], Any]], *, max_pages: int = 100_000) -> Iterator[Any]:
    """All records of a paged API. ``fetch_page(cursor)`` returns ``(records, next_cursor)``; the
    first call gets ``None``; a ``None`` next cursor ends the iteration."""
    cursor: Any = None
    for _ in range(max_pages):
        records, cursor = fetch_page(cursor)
        yield from records
        if cursor is None:
            return
    raise FetchError(f"pagination did not end after {max_pages} pages (a cursor that never advances?)")


class StateStore:
    """High-water marks per ``<source>/<object>`` in one JSON file, written atomically.

    File shape: ``{"<source>/<object>": {"high_water_mark": "...", "saved_at": "<UTC ISO>"}}``.
    Only marks go in; never tokens or records.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._data: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise SourceError("state", self.path, None, f"the state file cannot be read ({exc})",
                                  "repair it, or delete it to fetch everything again") from exc
            if not isinstance(loaded, dict):
                raise SourceError("state", self.path, None, "the state file is not a JSON object",
                                  "delete it to fetch everything again")
            self._data = loaded

    def get(self, key: str) -> str | None:
        """The high-water mark of ``key`` (None: never fetched)."""
        entry = self._data.get(key)
        return entry.get("high_water_mark") if isinstance(entry, dict) else None

    def set(self, key: str, value: str) -> None:
        """Remember a new mark (in memory until :meth:`save`)."""
        self._data[key] = {"high_water_mark": value, "saved_at": dt.datetime.now(dt.UTC).isoformat()}

    def keys(self) -> list[str]:
        return sorted(self._data)

    def save(self) -> None:
        """Write the file atomically (temporary file in the same folder, fsync, rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._data, fh, ensure_ascii=False, indent=2, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
