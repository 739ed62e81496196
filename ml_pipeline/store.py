"""The Store protocol: where runs, requests, model versions and artifacts live.

Three backends implement it and pass one contract suite (tests/contract):
:mod:`ml_pipeline.local_store` (SQLite + files), :mod:`ml_pipeline.supabase_client`
(PostgREST + Storage) and :mod:`ml_pipeline.memory_store` (one process, for tests).
:func:`ml_pipeline.backends.open_store` picks one from the settings. Record types live in
:mod:`ml_pipeline.records`; this module adds the protocol and the input checks every
backend shares. Tables, statuses and database functions: ``docs/data-model.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ml_pipeline.errors import ConfigError
from ml_pipeline.object_keys import refuse_unsafe_key
from ml_pipeline.records import (
    BUCKETS,
    MAX_REASON_LENGTH,
    PRIORITIES,
    Claim,
    ModelVersion,
    ObjectInfo,
    Request,
    Run,
)


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
