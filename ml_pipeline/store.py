"""The Store protocol and :func:`open_store`, which picks a backend.

Two backends implement one protocol and pass one contract test suite:

* ``local``: :class:`ml_pipeline.local_store.LocalStore`, an SQLite file plus a folder
  of "buckets" under ``ML_PIPELINE_HOME`` (the embedded default);
* ``supabase``: :class:`ml_pipeline.supabase_client.SupabaseStore`, Postgres through
  PostgREST plus Supabase Storage. ``supabase`` is imported only when it is opened.

Tables, statuses and database functions are specified in ``docs/data-model.md``.
Records are immutable dataclasses; timestamps are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Protocol, runtime_checkable

from ml_pipeline.errors import ConfigError
from ml_pipeline.object_keys import refuse_unsafe_key

if TYPE_CHECKING:
    from ml_pipeline.config import Settings

RUN_SOURCES = ("auto_daily", "manual", "decay_triggered")
NIGHTLY_SOURCES = ("auto_daily", "decay_triggered")
RUN_STATUSES = ("pending", "running", "completed", "failed", "skipped")
FINAL_RUN_STATUSES = ("completed", "failed", "skipped")
REQUEST_STATUSES = ("pending", "processing", "completed", "cancelled", "failed")
PRIORITIES = ("low", "normal", "high")
VERSION_STATUSES = ("candidate", "champion", "retired", "rejected")

BUCKET_EVALUATION_LOGS = "evaluation-logs"
BUCKET_TRAINING_LOGS = "training-logs"
BUCKET_MODELS = "models"
BUCKETS = (BUCKET_EVALUATION_LOGS, BUCKET_TRAINING_LOGS, BUCKET_MODELS)

MAX_REASON_LENGTH = 500

# Columns a runner may change on its own run (fenced by its lease token).
RUN_UPDATABLE = frozenset(
    {
        "status",
        "dataset_size",
        "fine_tune_flag",
        "metrics",
        "completed_at",
        "log_url",
        "error_message",
        "model_version",
        "skip_reason",
        "source",  # only auto_daily <-> decay_triggered: both share the once-a-day guard
    }
)


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def new_id() -> str:
    """A client-generated UUID (inserts stay idempotent when retried)."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Run:
    """One row of ``model_retraining_runs``."""

    id: str
    source: str
    status: str
    dataset_size: int = 0
    fine_tune_flag: bool = True
    metrics: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    log_url: str | None = None
    error_message: str | None = None
    triggered_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    request_id: str | None = None
    run_date: date | None = None
    as_of: datetime | None = None
    heartbeat_at: datetime | None = None
    lease_token: str | None = None
    model_version: int | None = None
    skip_reason: str | None = None
    runner: str | None = None


@dataclass(frozen=True)
class Request:
    """One row of ``model_retraining_requests``."""

    id: str
    requested_by: str
    status: str
    priority: str = "normal"
    reason: str | None = None
    processed_at: datetime | None = None
    retraining_run_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    attempts: int = 0
    claimed_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class ModelVersion:
    """One row of ``model_versions``."""

    version: int
    status: str
    sha256: str
    size_bytes: int
    sklearn_version: str
    storage_path: str | None = None
    estimator: str | None = None
    fine_tunable: bool = True
    metrics: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    parent_version: int | None = None
    note: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    promoted_at: datetime | None = None


@dataclass(frozen=True)
class Claim:
    """A request taken by one runner, with the run created for it in the same transaction."""

    request: Request
    run: Run


@dataclass(frozen=True)
class ObjectInfo:
    """An object in a bucket."""

    name: str
    size: int
    updated_at: datetime | None = None


@runtime_checkable
class Store(Protocol):
    """Where runs, requests, model versions and artifacts live.

    Every runner write to a run is fenced by ``lease_token`` (see docs/data-model.md):
    a write that matches no running run with that token raises ``LeaseLostError``.
    Backend failures raise ``StoreError`` (or a subclass) naming the table or bucket.
    """

    backend_name: str

    # -- runs --------------------------------------------------------------------
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
        """Insert a ``running`` run. Nightly sources raise ``DailyRunExistsError`` when the
        UTC day of ``as_of`` already has a nightly run that did not fail."""

    def claim_next_request(
        self, *, runner: str, lease_token: str, as_of: datetime, request_id: str | None = None
    ) -> Claim | None:
        """Atomically take the next pending request (high > normal > low, then oldest), or
        exactly ``request_id`` if it is pending, and create its ``manual`` run."""

    def heartbeat(self, run_id: str, lease_token: str) -> bool:
        """Record a sign of life; False when the lease is lost."""

    def update_run(self, run_id: str, lease_token: str, **fields: Any) -> Run:
        """Change fields of a running run (only ``RUN_UPDATABLE``); fenced."""

    def get_run(self, run_id: str) -> Run | None:
        """One run, or None."""

    def list_runs(self, limit: int = 20, since: datetime | None = None) -> list[Run]:
        """Runs newest first (by ``created_at``), optionally created at or after ``since``."""

    def reap_stale_runs(self, lease_seconds: int, max_attempts: int) -> list[str]:
        """Fail runs whose heartbeat is older than the lease; re-queue or fail their requests;
        reject their candidate versions. Returns the reaped run ids."""

    # -- requests ------------------------------------------------------------------
    def create_request(
        self, requested_by: str, reason: str | None = None, priority: str = "normal"
    ) -> Request:
        """Queue a pending request (one pending request per user)."""

    def get_request(self, request_id: str) -> Request | None:
        """One request, or None."""

    def list_requests(self, status: str | None = None, limit: int = 100) -> list[Request]:
        """Requests in processing order (priority rank, then oldest)."""

    def cancel_request(self, request_id: str) -> Request:
        """Cancel a pending request; ``StoreError`` if it is not pending."""

    def finish_request(
        self, request_id: str, run_id: str, status: str, error: str | None = None
    ) -> bool:
        """Move a ``processing`` request linked to ``run_id`` to ``completed``, ``failed`` or
        back to ``pending``. False when the request is no longer this run's."""

    # -- objects -------------------------------------------------------------------
    def put_object(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        """Write (or overwrite) an object."""

    def get_object(self, bucket: str, key: str) -> bytes:
        """Read an object; ``StoreError`` naming bucket and key if it is missing."""

    def download_object(self, bucket: str, key: str, dest: Path) -> Path:
        """Copy an object to a local file and return its path (no full copy in memory)."""

    def list_objects(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        """Objects whose name starts with ``prefix``, sorted by name."""

    def delete_objects(self, bucket: str, keys: Iterable[str]) -> None:
        """Delete objects; missing ones are ignored."""

    # -- model versions ------------------------------------------------------------
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
        """Insert a ``candidate`` version; its ``storage_path`` is ``v<version>/model.joblib``."""

    def set_version_status(
        self, version: int, status: str, metrics: dict[str, Any] | None = None
    ) -> ModelVersion:
        """Set a non-champion status (``rejected``) and optionally metrics."""

    def promote_model_version(self, version: int) -> ModelVersion:
        """Make ``version`` the only champion (the previous one becomes ``retired``)."""

    def get_model_version(self, version: int) -> ModelVersion | None:
        """One version, or None."""

    def get_champion(self) -> ModelVersion | None:
        """The version in service, or None."""

    def list_model_versions(self) -> list[ModelVersion]:
        """All versions, newest first."""

    def close(self) -> None:
        """Release connections."""


def check_priority(priority: str) -> str:
    """Validate a request priority."""
    if priority not in PRIORITIES:
        raise ConfigError(f"priority {priority!r} is unknown; choose one of {', '.join(PRIORITIES)}")
    return priority


def check_reason(reason: str | None) -> str | None:
    """Validate a request reason (optional, at most ``MAX_REASON_LENGTH`` characters)."""
    if reason is None:
        return None
    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise ConfigError(
            f"reason is {len(reason)} characters long; shorten it to {MAX_REASON_LENGTH} or fewer"
        )
    return reason or None


def check_object_key(bucket: str, key: str) -> str:
    """Refuse bucket names and keys that could escape a bucket."""
    if bucket not in BUCKETS:
        raise ConfigError(f"bucket {bucket!r} is unknown; buckets are {', '.join(BUCKETS)}")
    refuse_unsafe_key(bucket, key)  # '%', '..', '\\', control characters (ml_pipeline/object_keys.py)
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in (".", ".."):
        raise ConfigError(f"object key {key!r} in bucket {bucket!r} is not a plain relative path")
    return key


def open_store(settings: "Settings") -> Store:
    """Open the backend chosen by ``settings.backend`` (``auto``, ``local`` or ``supabase``).

    ``auto`` uses Supabase when ``SUPABASE_URL`` is set and the local store otherwise,
    saying which in one line on stderr. Raises ``ConfigError`` for an unknown backend or
    missing Supabase variables.
    """
    backend = settings.resolved_backend
    if backend == "local":
        from ml_pipeline.local_store import LocalStore

        if settings.backend == "auto":
            print(
                f"ml_pipeline: SUPABASE_URL is not set; using the local store in {settings.home}",
                file=sys.stderr,
            )
        return LocalStore(settings.home)
    if backend == "supabase":
        missing = [
            name
            for name, value in (
                ("SUPABASE_URL", settings.supabase_url),
                ("SUPABASE_SERVICE_KEY", settings.supabase_service_key),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                f"the supabase backend needs {' and '.join(missing)}; set "
                f"{'them' if len(missing) > 1 else 'it'} in the environment or .env "
                "(SUPABASE_SERVICE_KEY is the service-role key), or use --backend local"
            )
        from ml_pipeline.supabase_client import SupabaseStore

        return SupabaseStore(settings.supabase_url, settings.supabase_service_key)
    raise ConfigError(f"backend {backend!r} is unknown; choose one of auto, local, supabase")
