"""Records of the store: runs, requests, model versions, their statuses and the bucket names.

The bottom layer of the package: it imports nothing of ``ml_pipeline``, so pure modules
(alerts, the Monitoring rules) and every backend can use the record types without
importing the store. Tables, statuses and database functions are specified in
``docs/data-model.md``; the enum values are exactly the strings of the database and of the
Monitoring page. Records are immutable dataclasses; timestamps are timezone-aware UTC.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any


class RunSource(StrEnum):
    """What started a run (``model_retraining_runs.source``)."""

    AUTO_DAILY = "auto_daily"
    MANUAL = "manual"
    DECAY_TRIGGERED = "decay_triggered"


class RunStatus(StrEnum):
    """``model_retraining_runs.status``."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


class RequestStatus(StrEnum):
    """``model_retraining_requests.status``."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class Priority(StrEnum):
    """Priority of a request; claims take high > normal > low, then the oldest."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class VersionStatus(StrEnum):
    """``model_versions.status``."""

    CANDIDATE = "candidate"
    CHAMPION = "champion"
    RETIRED = "retired"
    REJECTED = "rejected"


RUN_SOURCES = tuple(s.value for s in RunSource)
NIGHTLY_SOURCES = (RunSource.AUTO_DAILY.value, RunSource.DECAY_TRIGGERED.value)
RUN_STATUSES = tuple(s.value for s in RunStatus)
FINAL_RUN_STATUSES = (RunStatus.COMPLETED.value, RunStatus.FAILED.value, RunStatus.SKIPPED.value)
REQUEST_STATUSES = tuple(s.value for s in RequestStatus)
PRIORITIES = tuple(p.value for p in Priority)
VERSION_STATUSES = tuple(s.value for s in VersionStatus)

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
    return datetime.now(UTC)


def new_id() -> str:
    """A client-generated UUID (inserts stay idempotent when retried)."""
    return str(uuid.uuid4())


def _coerce(record: Any, name: str, kind: type[StrEnum]) -> None:
    """Store ``record.name`` as a member of ``kind``; an unknown value is a ``ValueError`` naming it."""
    value = getattr(record, name)
    if not isinstance(value, kind):
        try:
            object.__setattr__(record, name, kind(value))
        except ValueError:
            raise ValueError(f"{type(record).__name__}.{name} = {value!r} is not one of {', '.join(kind)}") from None


@dataclass(frozen=True)
class Run:
    """One row of ``model_retraining_runs``."""

    id: str
    source: RunSource
    status: RunStatus
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

    def __post_init__(self) -> None:
        _coerce(self, "source", RunSource)
        _coerce(self, "status", RunStatus)


@dataclass(frozen=True)
class Request:
    """One row of ``model_retraining_requests``."""

    id: str
    requested_by: str
    status: RequestStatus
    priority: Priority = Priority.NORMAL
    reason: str | None = None
    processed_at: datetime | None = None
    retraining_run_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    attempts: int = 0
    claimed_at: datetime | None = None
    last_error: str | None = None

    def __post_init__(self) -> None:
        _coerce(self, "status", RequestStatus)
        _coerce(self, "priority", Priority)


@dataclass(frozen=True)
class ModelVersion:
    """One row of ``model_versions``."""

    version: int
    status: VersionStatus
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

    def __post_init__(self) -> None:
        _coerce(self, "status", VersionStatus)


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
