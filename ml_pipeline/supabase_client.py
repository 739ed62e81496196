"""The Supabase backend: Postgres through PostgREST plus Supabase Storage (supabase-py 2.x).

:class:`SupabaseStore` implements :class:`ml_pipeline.store.Store` and passes the same
contract suite as the local store (tests/contract). Tables and database functions are
specified in docs/data-model.md; the function signatures are those of
supabase/migrations/*.sql.

How it talks to Supabase:

* Runs, requests and versions are PostgREST tables; ``claim_retraining_request``,
  ``heartbeat_retraining_run``, ``reap_stale_retraining_runs`` and
  ``promote_model_version`` are called with ``.rpc()``.
* Every runner write to a run is a PATCH filtered by ``id``, ``lease_token`` and
  ``status=running`` with ``Prefer: return=representation``; no row back means the lease
  was lost (``LeaseLostError``).
* Inserts carry client-generated ids, so a retried insert that meets its own first attempt
  (409 on the primary key) returns the row instead of failing.
* Objects go to the private buckets ``evaluation-logs``, ``training-logs`` and ``models``.
  ``download_object`` does not use storage3's ``download()`` (it returns the whole object
  as bytes): it GETs the authenticated object URL through the same httpx client and
  streams the body to a temporary file beside ``dest``, renamed when complete.
* One explicit ``httpx.Client`` (timeouts: connect 5 s, read/write 60 s by default) serves
  PostgREST and Storage. supabase-py's own PostgREST retry is turned off; this module
  retries, with exponential backoff and a bound (3 attempts), on network errors,
  timeouts, 429 and 5xx, and never on another 4xx. Only idempotent calls are retried
  (reads, the heartbeat, fenced PATCHes, upserting uploads, deletes, inserts with client
  ids, reap and promote); the others (claim, new model version) are retried only when the
  connection could not be opened at all, so the request was never sent.
* Foreign errors (``postgrest.APIError``, storage3's ``StorageException``, ``httpx``
  errors) are translated here and nowhere else into :class:`StoreError` naming the table,
  function or bucket/key, the HTTP status and the fix. The service key never appears in a
  message. API errors are raised ``from None``: the message already carries their status,
  code, message and details, and their own ``str()`` is empty.
* Opening the store makes one cheap read (``GET /rest/v1/model_retraining_runs?select=id
  &limit=1``), so a wrong URL or key fails before anything is written.

This module is imported only by :func:`ml_pipeline.backends.open_store` when the Supabase
backend is chosen; the local backend and ``--help`` never import ``supabase``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import fields as dataclass_fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from postgrest import APIError
from storage3.exceptions import StorageApiError
from storage3.utils import StorageException
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential
from yarl import URL

from ml_pipeline.errors import (
    ConfigError,
    DailyRunExistsError,
    LeaseLostError,
    StoreError,
    StoreUnavailableError,
    StoreUsageError,
)
from ml_pipeline.records import (
    NIGHTLY_SOURCES,
    RUN_SOURCES,
    RUN_UPDATABLE,
    Claim,
    ModelVersion,
    ObjectInfo,
    Request,
    Run,
    new_id,
    utcnow,
)
from ml_pipeline.store import check_object_key, check_priority, check_reason
from supabase import ClientOptions, SupabaseException, create_client

T = TypeVar("T")

RUNS = "model_retraining_runs"
REQUESTS = "model_retraining_requests"
VERSIONS = "model_versions"

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF = 0.5  # seconds before the 2nd attempt; doubles, at most MAX_BACKOFF
MAX_BACKOFF = 8.0
PAGE_SIZE = 1000  # rows per PostgREST page (Supabase's default max-rows is 1000)
LIST_PAGE_SIZE = 100  # entries per Storage list call (the API's default page)
REMOVE_BATCH = 1000  # keys per Storage remove call
FOLDER_PLACEHOLDER = ".emptyFolderPlaceholder"  # made by the dashboard's "create folder"

KEY_FIX = "SUPABASE_SERVICE_KEY must be the service-role key"
MIGRATIONS_FIX = "apply supabase/migrations (supabase db push)"
# PostgREST error codes: JWT problems, and schema objects it cannot find.
_AUTH_CODES = {"PGRST300", "PGRST301", "PGRST302", "PGRST303", "42501"}
_MISSING_CODES = {"PGRST200", "PGRST202", "PGRST204", "PGRST205", "42P01", "42883"}
# SQLSTATE classes that fail the same way every time (data, integrity, access, PL/pgSQL
# raise): PostgREST serves some of them as 500 (e.g. P0002), but a retry cannot help.
_DETERMINISTIC_SQLSTATE = re.compile(r"^(22|23|42|P0)[0-9A-Z]{3}$")


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _iso(value: datetime) -> str:
    """UTC ISO 8601 with a ``Z`` (a ``+`` in a query string would read as a space)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_ts(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:  # timestamptz always has an offset; be safe anyway
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


_RUN_FIELDS = {f.name for f in dataclass_fields(Run)}
_REQUEST_FIELDS = {f.name for f in dataclass_fields(Request)}
_VERSION_FIELDS = {f.name for f in dataclass_fields(ModelVersion)}
_RUN_TS = ("started_at", "completed_at", "created_at", "updated_at", "as_of", "heartbeat_at")
_REQUEST_TS = ("processed_at", "created_at", "updated_at", "claimed_at")
_VERSION_TS = ("created_at", "updated_at", "promoted_at")


def _to_run(row: dict[str, Any]) -> Run:
    d = {k: v for k, v in row.items() if k in _RUN_FIELDS}
    for k in _RUN_TS:
        d[k] = _parse_ts(d.get(k))
    d["run_date"] = date.fromisoformat(d["run_date"]) if d.get("run_date") else None
    d["metrics"] = d.get("metrics") or {}
    return Run(**d)


def _to_request(row: dict[str, Any]) -> Request:
    d = {k: v for k, v in row.items() if k in _REQUEST_FIELDS}  # drops priority_rank
    for k in _REQUEST_TS:
        d[k] = _parse_ts(d.get(k))
    return Request(**d)


def _to_version(row: dict[str, Any]) -> ModelVersion:
    d = {k: v for k, v in row.items() if k in _VERSION_FIELDS}
    for k in _VERSION_TS:
        d[k] = _parse_ts(d.get(k))
    d["metrics"] = d.get("metrics") or {}
    return ModelVersion(**d)


def _key_role(key: str) -> str | None:
    """The ``role`` claim of a legacy JWT key, or the kind of a new-style key; no checks."""
    if key.startswith("sb_publishable_"):
        return "anon"
    if key.startswith("sb_secret_"):
        return "service_role"
    parts = key.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    role = payload.get("role") if isinstance(payload, dict) else None
    return role if isinstance(role, str) else None


def _transport_reason(exc: httpx.TransportError) -> str:
    text = str(exc).strip() or "no detail"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connection timed out ({text})"
    if isinstance(exc, httpx.TimeoutException):
        return f"{type(exc).__name__}: no answer in time ({text})"
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed ({text})"
    return f"{type(exc).__name__}: {text}"


_OLD_SUPABASE = (
    "the installed supabase-py cannot use a given httpx client (timeouts, retries and error "
    "translation depend on it); install the version in requirements.txt "
    "(pip install -r requirements.txt)"
)


def _client_options(http_client: httpx.Client) -> Any:
    """supabase-py options: our httpx client, no session, no retry of its own."""
    wanted: dict[str, Any] = {
        "httpx_client": http_client,
        "postgrest_client_retry": False,  # absent before postgrest-py had retries
        "auto_refresh_token": False,
        "persist_session": False,
    }
    known = {f.name for f in dataclass_fields(ClientOptions)}
    if "httpx_client" not in known:
        raise ConfigError(_OLD_SUPABASE)
    return ClientOptions(**{k: v for k, v in wanted.items() if k in known})


def _check_injected(client: Any, http_client: httpx.Client) -> None:
    """Some supabase-py releases dropped ``httpx_client`` silently: refuse to run on one."""
    if client.postgrest.session is not http_client or client.storage.session is not http_client:
        raise ConfigError(_OLD_SUPABASE)


def _has_values(run: Run, fields: dict[str, Any]) -> bool:
    """Whether ``run`` already holds every value of an update (timestamps compared as instants)."""
    for key, wanted in fields.items():
        have = getattr(run, key)
        if isinstance(wanted, datetime):
            wanted = wanted if wanted.tzinfo else wanted.replace(tzinfo=UTC)
        if have != wanted:
            return False
    return True


class _HttpError(StoreError):
    """A translated API error that callers may still inspect (status, code, kind)."""

    def __init__(self, message: str, *, status: int, code: str, detail: str, kind: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = detail
        self.kind = kind  # auth | missing_schema | not_found | transient | other


class SupabaseStore:
    """Supabase implementation of :class:`ml_pipeline.store.Store`.

    ``url`` is ``SUPABASE_URL`` (``https://<project>.supabase.co``) and ``service_key`` the
    service-role key. ``timeout`` (seconds or an ``httpx.Timeout``) applies to the client
    this store creates; pass ``http_client`` to use your own (its timeouts then apply, and
    the store does not close it). ``attempts`` and ``backoff`` bound the retries.

    Raises ``ConfigError`` for a malformed URL or an anon key, ``StoreUnavailableError``
    when the URL cannot be reached, and ``StoreError`` when the key is refused or the
    migrations are missing.
    """

    backend_name = "supabase"

    def __init__(
        self,
        url: str,
        service_key: str,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        http_client: httpx.Client | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
    ) -> None:
        url = (url or "").strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", url):
            raise ConfigError(
                f"SUPABASE_URL {url!r} is not an http(s) URL; set it to the project URL, "
                "e.g. https://<project-ref>.supabase.co"
            )
        if not service_key:
            raise ConfigError(f"SUPABASE_SERVICE_KEY is empty; {KEY_FIX}")
        if _key_role(service_key) == "anon":
            raise ConfigError(
                f"SUPABASE_SERVICE_KEY is the anon (public) key; {KEY_FIX} "
                "(Supabase dashboard > Project Settings > API keys)"
            )
        self.url = url
        self._attempts = max(1, attempts)
        self._backoff = max(0.0, backoff)
        self._local = threading.local()
        self._contacted = False
        self._owns_http = http_client is None
        if http_client is None:
            http_client = httpx.Client(
                timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
            )
        hooks = http_client.event_hooks
        hooks["response"] = [*hooks.get("response", []), self._remember_status]
        http_client.event_hooks = hooks
        self._http = http_client
        try:
            self._client = create_client(url, service_key, options=_client_options(http_client))
            _check_injected(self._client, http_client)
            self._headers = dict(self._client.options.headers)  # apikey + Authorization
            self._storage_url = URL(str(self._client.storage_url))
            self._call(
                f"{RUNS} (connection check)",
                lambda: self._client.table(RUNS).select("id").limit(1).execute(),
            )
        except SupabaseException as exc:
            self.close()
            raise ConfigError(f"SUPABASE_URL {url!r} was refused by supabase-py: {exc.message}") from None
        except _HttpError as exc:
            self.close()
            if exc.kind in ("auth", "missing_schema"):  # configuration, not a failed run: exit 2
                raise ConfigError(str(exc)) from None
            raise
        except BaseException:
            self.close()
            raise
        self._contacted = True

    # -- plumbing --------------------------------------------------------------------------
    def _remember_status(self, response: httpx.Response) -> None:
        # APIError does not carry the HTTP status; the call that failed ran in this thread.
        self._local.status = response.status_code

    def _last_status(self) -> int:
        return int(getattr(self._local, "status", None) or 0)

    def _transient(self, exc: BaseException, idempotent: bool) -> bool:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
            return True  # the request was never sent: safe for any call
        if not idempotent:
            return False
        if isinstance(exc, httpx.TransportError):
            return True
        if isinstance(exc, (APIError, StorageException)):
            status = self._last_status()
            code = str(getattr(exc, "code", "") or "")
            return status == 429 or (status >= 500 and not _DETERMINISTIC_SQLSTATE.match(code))
        return False

    def _call(self, what: str, fn: Callable[[], T], *, idempotent: bool = True) -> T:
        """Run one API call with bounded retries; translate its failure into StoreError."""
        counter = {"n": 0}

        def attempt() -> T:
            counter["n"] += 1
            self._local.status = None
            self._local.tries = counter["n"]
            return fn()

        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=MAX_BACKOFF),
            retry=retry_if_exception(lambda e: self._transient(e, idempotent)),
            reraise=True,
        )
        try:
            return retrying(attempt)
        except httpx.TransportError as exc:
            raise self._translate(exc, what, counter["n"]) from exc
        except (APIError, StorageException) as exc:
            raise self._translate(exc, what, counter["n"]) from None

    def _translate(self, exc: Exception, what: str, tries: int) -> StoreError:
        after = f" (gave up after {tries} attempts)" if tries > 1 else ""
        if isinstance(exc, httpx.TransportError):
            reason = _transport_reason(exc)
            if not self._contacted:
                return StoreUnavailableError(
                    f"cannot reach SUPABASE_URL {self.url}: {reason}{after}; check SUPABASE_URL "
                    "(https://<project-ref>.supabase.co) and the network"
                )
            return StoreError(f"{what}: cannot reach SUPABASE_URL {self.url}: {reason}{after}; retry later")
        status = self._last_status()
        if isinstance(exc, APIError):
            code, message = str(exc.code or ""), str(exc.message or "")
            detail = " ".join(str(x) for x in (exc.details, exc.hint) if x)
            semantic = status
        else:
            code = str(getattr(exc, "code", "") or "")
            message = str(getattr(exc, "message", "") or exc)
            detail = ""
            body_status = str(getattr(exc, "status", "") or "")
            # Storage may answer HTTP 400 with {"statusCode": "404", ...}: the body is the truth.
            semantic = int(body_status) if body_status.isdigit() else status
        text = message + (f" ({detail})" if detail else "")
        head = f"{what}: HTTP {status}" + (f" {code}" if code and code != str(status) else "") + f": {text}"
        lowered = f"{code} {message}".lower()
        kind, fix = "other", ""
        if semantic in (401, 403) or status in (401, 403) or code in _AUTH_CODES:
            kind = "auth"
            fix = f"; {KEY_FIX} (Supabase dashboard > Project Settings > API keys), not the anon key"
        elif code in _MISSING_CODES or "bucket not found" in lowered or code == "NoSuchBucket":
            kind, fix = "missing_schema", f"; {MIGRATIONS_FIX}"
        elif semantic == 404 and isinstance(exc, StorageException):
            kind = "not_found"
        elif semantic == 404:
            kind, fix = "missing_schema", f"; {MIGRATIONS_FIX}"
        elif status == 429 or status >= 500:
            kind, fix = "transient", f"{after}; Supabase is failing or overloaded, retry later"
        return _HttpError(head + fix, status=semantic, code=code, detail=f"{message} {detail}", kind=kind)

    def _retried(self) -> bool:
        """Whether the last call of this thread needed more than one attempt."""
        return int(getattr(self._local, "tries", 1)) > 1

    def _rows(self, what: str, build: Callable[[], Any], *, idempotent: bool = True) -> list[dict[str, Any]]:
        data = self._call(what, lambda: build().execute().data, idempotent=idempotent)
        return list(data or [])

    def _select_all(self, what: str, build: Callable[[], Any]) -> list[dict[str, Any]]:
        """Every row of a query, a page at a time (PostgREST caps a response at max-rows)."""
        out: list[dict[str, Any]] = []
        while True:
            offset = len(out)
            def query(start: int = offset) -> Any:
                return build().range(start, start + PAGE_SIZE - 1)

            page = self._rows(what, query)
            out.extend(page)
            if len(page) < PAGE_SIZE:
                return out

    def _bucket(self, bucket: str) -> Any:
        return self._client.storage.from_(bucket)

    def close(self) -> None:
        """Close the HTTP client if this store created it."""
        if self._owns_http:
            self._http.close()

    # -- runs ----------------------------------------------------------------------------
    def create_run(
        self,
        *,
        source: str,
        as_of: datetime,
        lease_token: str,
        runner: str,
        fine_tune_flag: bool = True,
        triggered_by: str | None = None,
        run_id: str | None = None,
    ) -> Run:
        """Insert a running run; nightly sources are guarded to one per UTC day."""
        if source not in RUN_SOURCES:
            raise StoreUsageError(f"run source {source!r} is unknown; use one of {', '.join(RUN_SOURCES)}")
        if not _is_uuid(lease_token):
            raise StoreUsageError(f"lease_token {lease_token!r} must be a UUID (the column is uuid)")
        run_id = run_id or new_id()
        if not _is_uuid(run_id):
            raise StoreUsageError(f"run id {run_id!r} must be a UUID")
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=UTC)
        day = as_of.astimezone(UTC).date().isoformat()
        now = _iso(utcnow())
        body = {
            "id": run_id,
            "source": source,
            "status": "running",
            "fine_tune_flag": bool(fine_tune_flag),
            "started_at": now,
            "heartbeat_at": now,
            "triggered_by": triggered_by,
            "run_date": day,
            "as_of": _iso(as_of),
            "lease_token": lease_token,
            "runner": runner,
        }
        try:
            rows = self._rows(f"{RUNS} (insert)", lambda: self._client.table(RUNS).insert(body))
        except _HttpError as err:
            if err.code != "23505":
                raise
            existing = self.get_run(run_id)  # our own earlier attempt, or the same id retried
            if existing is not None:
                return existing
            if source in NIGHTLY_SOURCES and "pkey" not in err.detail:
                raise DailyRunExistsError(
                    f"a nightly run for {day} (UTC) already exists; it runs at most once a day "
                    "(use --as-of for another day, or a manual request)"
                ) from None
            raise
        return _to_run(rows[0])

    def claim_next_request(
        self, *, runner: str, lease_token: str, as_of: datetime, request_id: str | None = None
    ) -> Claim | None:
        """Call ``claim_retraining_request`` (atomic in Postgres), then read both rows back."""
        if not _is_uuid(lease_token):
            raise StoreUsageError(f"lease_token {lease_token!r} must be a UUID (the column is uuid)")
        if request_id is not None and not _is_uuid(request_id):
            return None  # no request can have that id
        params = {
            "p_runner": runner,
            "p_lease_token": lease_token,
            "p_as_of": _iso(as_of),
            "p_request_id": request_id,
        }
        rows: Any = self._call(
            "rpc claim_retraining_request",
            lambda: self._client.rpc("claim_retraining_request", params).execute().data,
            idempotent=False,  # a blind retry could claim a second request
        )
        if not rows:
            return None
        claimed = rows[0]
        request = self.get_request(claimed["request_id"])
        run = self.get_run(claimed["run_id"])
        if request is None or run is None:
            raise StoreError(
                f"claim_retraining_request returned request {claimed['request_id']} and run "
                f"{claimed['run_id']}, but they cannot be read back; check the service role's "
                f"SELECT grants ({MIGRATIONS_FIX})"
            )
        return Claim(request=request, run=run)

    def heartbeat(self, run_id: str, lease_token: str) -> bool:
        """Call ``heartbeat_retraining_run``; False when the lease is lost."""
        if not (_is_uuid(run_id) and _is_uuid(lease_token)):
            return False
        data = self._call(
            "rpc heartbeat_retraining_run",
            lambda: self._client.rpc(
                "heartbeat_retraining_run", {"p_run_id": run_id, "p_lease_token": lease_token}
            ).execute().data,
        )
        return data is True

    def update_run(self, run_id: str, lease_token: str, **fields: Any) -> Run:
        """PATCH a running run, fenced by id, lease token and status."""
        unknown = set(fields) - RUN_UPDATABLE
        if unknown:
            raise StoreUsageError(f"{RUNS}: columns {sorted(unknown)} cannot be updated")
        lost = LeaseLostError(
            f"run {run_id} is no longer held by this runner (it was reaped as stale or "
            "finished elsewhere); nothing was written"
        )
        if not (_is_uuid(run_id) and _is_uuid(lease_token)):
            raise lost
        # An empty PATCH is refused by PostgREST; status=running is a no-op that still
        # proves the lease (and the trigger refreshes updated_at, like the local store).
        values = {k: _jsonable(v) for k, v in fields.items()} or {"status": "running"}
        try:
            rows = self._rows(
                f"{RUNS} (update run {run_id})",
                lambda: self._client.table(RUNS)
                .update(values)
                .eq("id", run_id)
                .eq("lease_token", lease_token)
                .eq("status", "running"),
            )
        except _HttpError as err:
            if err.code == "23505" and "once_a_day" in err.detail:
                raise DailyRunExistsError(
                    f"run {run_id}: a nightly run for its UTC day already exists; it runs at "
                    "most once a day"
                ) from None
            raise
        if len(rows) == 1:
            return _to_run(rows[0])
        if self._retried():  # an earlier attempt may have landed before its answer was lost
            run = self.get_run(run_id)
            if run is not None and run.lease_token == lease_token and _has_values(run, fields or {"status": "running"}):
                return run
        raise lost

    def get_run(self, run_id: str) -> Run | None:
        """One run, or None."""
        if not _is_uuid(run_id):
            return None
        rows = self._rows(f"{RUNS} (read {run_id})", lambda: self._client.table(RUNS).select("*").eq("id", run_id))
        return _to_run(rows[0]) if rows else None

    def list_runs(self, limit: int = 20, since: datetime | None = None) -> list[Run]:
        """Runs newest first (by ``created_at``), optionally created at or after ``since``."""

        def build() -> Any:
            q = self._client.table(RUNS).select("*")
            if since is not None:
                q = q.gte("created_at", _iso(since))
            return q.order("created_at", desc=True).order("id", desc=True).limit(limit)

        return [_to_run(r) for r in self._rows(f"{RUNS} (list)", build)]

    def reap_stale_runs(self, lease_seconds: int, max_attempts: int) -> list[str]:
        """Call ``reap_stale_retraining_runs``. Retried: a second call finds nothing to reap."""
        data: Any = self._call(
            "rpc reap_stale_retraining_runs",
            lambda: self._client.rpc(
                "reap_stale_retraining_runs",
                {"p_lease_seconds": lease_seconds, "p_max_attempts": max_attempts},
            ).execute().data,
        )
        return [str(x) for x in (data or [])]

    # -- requests --------------------------------------------------------------------------
    def create_request(
        self, requested_by: str, reason: str | None = None, priority: str = "normal"
    ) -> Request:
        """Insert a pending request with a client id (one pending request per user)."""
        check_priority(priority)
        reason = check_reason(reason)
        if not _is_uuid(requested_by):
            raise StoreUsageError(f"requested_by {requested_by!r} must be a user id (UUID)")
        request_id = new_id()
        body = {
            "id": request_id,
            "requested_by": requested_by,
            "reason": reason,
            "priority": priority,
            "status": "pending",
        }
        try:
            rows = self._rows(f"{REQUESTS} (insert)", lambda: self._client.table(REQUESTS).insert(body))
        except _HttpError as err:
            if err.code == "23505":
                existing = self.get_request(request_id)  # our own earlier attempt
                if existing is not None:
                    return existing
                raise StoreError(
                    "you already have a pending request; wait for it or cancel it first"
                ) from None
            if err.code == "23503" and "requested_by" in err.detail:
                raise StoreError(
                    f"requested_by {requested_by} is not a user of this Supabase project "
                    "(auth.users); use the id of a signed-in user"
                ) from None
            raise
        return _to_request(rows[0])

    def get_request(self, request_id: str) -> Request | None:
        """One request, or None."""
        if not _is_uuid(request_id):
            return None
        rows = self._rows(
            f"{REQUESTS} (read {request_id})",
            lambda: self._client.table(REQUESTS).select("*").eq("id", request_id),
        )
        return _to_request(rows[0]) if rows else None

    def list_requests(self, status: str | None = None, limit: int = 100) -> list[Request]:
        """Requests in processing order: priority rank (generated column), then oldest."""

        def build() -> Any:
            q = self._client.table(REQUESTS).select("*")
            if status:
                q = q.eq("status", status)
            return (
                q.order("priority_rank", desc=True).order("created_at").order("id").limit(limit)
            )

        return [_to_request(r) for r in self._rows(f"{REQUESTS} (list)", build)]

    def cancel_request(self, request_id: str) -> Request:
        """Cancel a pending request (the database trigger sets ``processed_at``)."""
        if not _is_uuid(request_id):
            raise StoreError(f"request {request_id} does not exist")
        rows = self._rows(
            f"{REQUESTS} (cancel {request_id})",
            lambda: self._client.table(REQUESTS)
            .update({"status": "cancelled"})
            .eq("id", request_id)
            .eq("status", "pending"),
        )
        if rows:
            return _to_request(rows[0])
        retried = self._retried()
        request = self.get_request(request_id)
        if request is None:
            raise StoreError(f"request {request_id} does not exist")
        if retried and request.status == "cancelled":  # our earlier attempt landed
            return request
        raise StoreError(
            f"request {request_id} is {request.status}; only pending requests can be cancelled"
        )

    def finish_request(
        self, request_id: str, run_id: str, status: str, error: str | None = None
    ) -> bool:
        """PATCH a processing request of ``run_id`` to completed, failed or back to pending."""
        if status not in ("completed", "failed", "pending"):
            raise StoreUsageError(f"a request cannot be finished as {status!r}")
        if not (_is_uuid(request_id) and _is_uuid(run_id)):
            return False
        values: dict[str, Any] = {"status": status, "last_error": error}
        if status == "pending":
            values["processed_at"] = None  # final statuses get it from the trigger
        try:
            rows = self._rows(
                f"{REQUESTS} (finish {request_id})",
                lambda: self._client.table(REQUESTS)
                .update(values)
                .eq("id", request_id)
                .eq("status", "processing")
                .eq("retraining_run_id", run_id),
            )
        except _HttpError as exc:
            if status != "pending" or exc.code != "23505":
                raise
            # One pending request per user: the user queued a newer one while this one ran.
            return self.finish_request(
                request_id, run_id, "failed", f"{error} (not re-queued: the user has a newer pending request)"
            )
        if len(rows) == 1:
            return True
        if self._retried():  # an earlier attempt may have landed before its answer was lost
            request = self.get_request(request_id)
            return bool(
                request is not None
                and request.retraining_run_id == run_id
                and request.status == status
                and request.last_error == error
            )
        return False

    # -- objects ---------------------------------------------------------------------------
    def put_object(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        """Upload (upsert) an object."""
        check_object_key(bucket, key)
        self._call(
            f"storage {bucket}/{key} (upload)",
            lambda: self._bucket(bucket).upload(
                key, data, file_options={"upsert": "true", "content-type": content_type}
            ),
        )

    def _missing_object(self, bucket: str, key: str) -> StoreError:
        return StoreError(
            f"object {bucket}/{key} not found in Supabase Storage ({self.url}); check the "
            "object key, or upload it first"
        )

    def get_object(self, bucket: str, key: str) -> bytes:
        """Read a whole object (small objects: models are read with download_object)."""
        check_object_key(bucket, key)
        try:
            return self._call(f"storage {bucket}/{key} (download)", lambda: self._bucket(bucket).download(key))
        except _HttpError as err:
            if err.kind == "not_found":
                raise self._missing_object(bucket, key) from None
            raise

    def download_object(self, bucket: str, key: str, dest: Path) -> Path:
        """Stream an object to ``dest`` (GET /storage/v1/object/<bucket>/<key>, same client).

        The body goes to a temporary file beside ``dest`` in 1 MiB chunks and is renamed
        when complete, so neither a multi-GB log in memory nor a half-written ``dest``.
        """
        check_object_key(bucket, key)
        dest = Path(dest)
        url = str(self._storage_url.joinpath("object", bucket, *key.split("/")))

        def fetch() -> Path:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh, self._http.stream("GET", url, headers=self._headers) as resp:
                    if resp.is_error:
                        resp.read()
                        raise _storage_error(resp)
                    for chunk in resp.iter_bytes(1 << 20):
                        fh.write(chunk)
                os.replace(tmp, dest)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            return dest

        try:
            return self._call(f"storage {bucket}/{key} (download)", fetch)
        except _HttpError as err:
            if err.kind == "not_found":
                raise self._missing_object(bucket, key) from None
            raise
        except OSError as exc:
            raise StoreError(f"cannot write {bucket}/{key} to '{dest}': {exc}") from exc

    def list_objects(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        """Objects whose name starts with ``prefix``, sorted by name.

        Storage lists one folder per call (folders come back as entries without an id), a
        page at a time: walk the folders that can hold matching names.
        """
        check_object_key(bucket, "x")
        out: list[ObjectInfo] = []
        self._walk(bucket, prefix.rpartition("/")[0], prefix, out)
        return sorted(out, key=lambda o: o.name)

    def _walk(self, bucket: str, folder: str, prefix: str, out: list[ObjectInfo]) -> None:
        offset = 0
        while True:
            options = {"limit": LIST_PAGE_SIZE, "offset": offset, "sortBy": {"column": "name", "order": "asc"}}
            def list_page(page_options: dict[str, Any] = options) -> Any:
                return self._bucket(bucket).list(folder, page_options)

            items = self._call(f"storage {bucket}/{folder} (list)", list_page)
            for item in items:
                name = item["name"]
                full = f"{folder}/{name}" if folder else name
                if item.get("id") is None:  # a folder
                    if (full + "/").startswith(prefix) or prefix.startswith(full + "/"):
                        self._walk(bucket, full, prefix, out)
                elif full.startswith(prefix) and name != FOLDER_PLACEHOLDER:
                    meta = item.get("metadata") or {}
                    out.append(
                        ObjectInfo(full, int(meta.get("size") or 0), _parse_ts(item.get("updated_at") or item.get("created_at")))
                    )
            if len(items) < LIST_PAGE_SIZE:
                return
            offset += LIST_PAGE_SIZE

    def delete_objects(self, bucket: str, keys: Iterable[str]) -> None:
        """Delete objects; missing ones are ignored (Storage reports only what it removed)."""
        names = [check_object_key(bucket, k) for k in keys]
        for start in range(0, len(names), REMOVE_BATCH):
            batch = names[start : start + REMOVE_BATCH]
            def remove(names_in_batch: list[str] = batch) -> Any:
                return self._bucket(bucket).remove(names_in_batch)

            self._call(f"storage {bucket} (remove {len(batch)} objects)", remove)

    # -- model versions ------------------------------------------------------------------
    def create_model_version(
        self,
        *,
        sha256: str,
        size_bytes: int,
        sklearn_version: str,
        estimator: str | None,
        fine_tunable: bool,
        metrics: dict[str, Any],
        run_id: str | None = None,
        parent_version: int | None = None,
        note: str | None = None,
    ) -> ModelVersion:
        """Insert a candidate; the database numbers it and derives ``storage_path``."""
        body = {
            "status": "candidate",
            "sha256": sha256,
            "size_bytes": size_bytes,
            "sklearn_version": sklearn_version,
            "estimator": estimator,
            "fine_tunable": bool(fine_tunable),
            "metrics": metrics,
            "run_id": run_id,
            "parent_version": parent_version,
            "note": note,
        }
        rows = self._rows(
            f"{VERSIONS} (insert)",
            lambda: self._client.table(VERSIONS).insert(body),
            idempotent=False,  # the version number is the database's: a retry would add one
        )
        return _to_version(rows[0])

    def set_version_status(
        self, version: int, status: str, metrics: dict[str, Any] | None = None
    ) -> ModelVersion:
        """Set a non-champion status and optionally metrics."""
        if status == "champion":
            raise StoreUsageError("use promote_model_version() to make a version champion")
        values: dict[str, Any] = {"status": status}
        if metrics is not None:
            values["metrics"] = metrics
        rows = self._rows(
            f"{VERSIONS} (set v{version} {status})",
            lambda: self._client.table(VERSIONS).update(values).eq("version", version),
        )
        if not rows:
            raise StoreError(f"model version {version} does not exist")
        return _to_version(rows[0])

    def promote_model_version(self, version: int) -> ModelVersion:
        """Call ``promote_model_version`` (one transaction), then read the version back."""
        self._call(
            "rpc promote_model_version",
            lambda: self._client.rpc("promote_model_version", {"p_version": version}).execute(),
        )
        mv = self.get_model_version(version)
        if mv is None:
            raise StoreError(f"model version {version} does not exist")
        return mv

    def get_model_version(self, version: int) -> ModelVersion | None:
        """One version, or None."""
        rows = self._rows(
            f"{VERSIONS} (read v{version})",
            lambda: self._client.table(VERSIONS).select("*").eq("version", version),
        )
        return _to_version(rows[0]) if rows else None

    def get_champion(self) -> ModelVersion | None:
        """The version in service, or None."""
        rows = self._rows(
            f"{VERSIONS} (champion)",
            lambda: self._client.table(VERSIONS).select("*").eq("status", "champion").limit(1),
        )
        return _to_version(rows[0]) if rows else None

    def list_model_versions(self) -> list[ModelVersion]:
        """All versions, newest first."""
        rows = self._select_all(
            f"{VERSIONS} (list)",
            lambda: self._client.table(VERSIONS).select("*").order("version", desc=True),
        )
        return [_to_version(r) for r in rows]


def _storage_error(resp: httpx.Response) -> StorageApiError:
    """storage3's error for a response we read ourselves (the streaming download)."""
    try:
        body = resp.json()
        return StorageApiError(str(body["message"]), str(body.get("error") or body.get("code") or ""), body["statusCode"])
    except (ValueError, KeyError, TypeError):
        return StorageApiError(f"unexpected answer: {resp.text[:200]}", "InternalError", resp.status_code)
