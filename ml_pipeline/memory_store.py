"""An in-memory Store: the same contract as the local and Supabase stores, in one process.

Nothing survives the process, so it is no choice of ``--backend``; tests and experiments
construct it directly. It passes the store contract suite (tests/contract) like the two
real backends, which is what lets most job tests run on it instead of SQLite. One lock
makes every method atomic (the heartbeat thread writes concurrently with the job), the
way the real backends use a transaction per call.

``clock`` (default :func:`ml_pipeline.records.utcnow`) stamps every write, so a test can
age a heartbeat past the lease by moving its clock instead of sleeping.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ml_pipeline.errors import DailyRunExistsError, LeaseLostError, StoreError, StoreUsageError
from ml_pipeline.records import (
    NIGHTLY_SOURCES,
    RUN_SOURCES,
    RUN_UPDATABLE,
    Claim,
    ModelVersion,
    ObjectInfo,
    Priority,
    Request,
    RequestStatus,
    Run,
    RunStatus,
    VersionStatus,
    new_id,
    utcnow,
)
from ml_pipeline.store import check_object_key, check_priority, check_reason

_RANK = {Priority.HIGH: 0, Priority.NORMAL: 1, Priority.LOW: 2}
_FINAL = (RunStatus.COMPLETED, RunStatus.SKIPPED, RunStatus.FAILED)


def _json(value: dict[str, Any]) -> dict[str, Any]:
    """A private copy of a JSON document, refused like the databases refuse NaN/inf."""
    return json.loads(json.dumps(value, allow_nan=False))


class MemoryStore:
    """Dicts behind one lock, implementing :class:`ml_pipeline.store.Store`."""

    backend_name = "memory"

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self._runs: dict[str, Run] = {}
        self._requests: dict[str, Request] = {}
        self._versions: dict[int, ModelVersion] = {}
        self._objects: dict[tuple[str, str], tuple[bytes, datetime]] = {}
        self._next_version = 1
        self._seq = 0  # insertion order breaks created_at ties, like the databases' ids
        self._order: dict[str, int] = {}

    def close(self) -> None:
        """Nothing to release."""

    def _stamp(self, key: str) -> None:
        self._seq += 1
        self._order[key] = self._seq

    # -- runs --------------------------------------------------------------------------
    def _check_daily(self, run_id: str, source: str, as_of: datetime) -> None:
        day = as_of.astimezone(UTC).date()
        if source in NIGHTLY_SOURCES and any(
            r.id != run_id and r.source in NIGHTLY_SOURCES and r.run_date == day and r.status != RunStatus.FAILED for r in self._runs.values()
        ):
            raise DailyRunExistsError(
                f"a nightly run for {day.isoformat()} (UTC) already exists; it runs at most once a day "
                "(use --as-of for another day, or a manual request)"
            )

    def _insert_run(self, *, run_id: str, source: str, as_of: datetime, lease_token: str, runner: str, fine_tune_flag: bool,
                    triggered_by: str | None, request_id: str | None) -> Run:
        self._check_daily(run_id, source, as_of)
        now = self.clock()
        run = Run(id=run_id, source=source, status=RunStatus.RUNNING, fine_tune_flag=bool(fine_tune_flag),  # type: ignore[arg-type]
                  started_at=now, created_at=now, updated_at=now, heartbeat_at=now, triggered_by=triggered_by, request_id=request_id,
                  run_date=as_of.astimezone(UTC).date(), as_of=as_of.astimezone(UTC), lease_token=lease_token, runner=runner)
        self._runs[run_id] = run
        self._stamp(run_id)
        return run

    def create_run(self, *, source: str, as_of: datetime, lease_token: str, runner: str, fine_tune_flag: bool = True,
                   triggered_by: str | None = None, run_id: str | None = None) -> Run:
        """Insert a running run; nightly sources are guarded to one per UTC day."""
        if source not in RUN_SOURCES:
            raise StoreUsageError(f"run source {source!r} is unknown; use one of {', '.join(RUN_SOURCES)}")
        with self._lock:
            run_id = run_id or new_id()
            if run_id in self._runs:  # idempotent retry of the same insert
                return self._runs[run_id]
            return self._insert_run(run_id=run_id, source=source, as_of=as_of, lease_token=lease_token, runner=runner,
                                    fine_tune_flag=fine_tune_flag, triggered_by=triggered_by, request_id=None)

    def claim_next_request(self, *, runner: str, lease_token: str, as_of: datetime, request_id: str | None = None) -> Claim | None:
        """Take the next pending request (or exactly ``request_id``) and create its manual run."""
        with self._lock:
            pending = self._pending()
            if request_id is not None:
                pending = [r for r in pending if r.id == request_id]
            if not pending:
                return None
            req = pending[0]
            run = self._insert_run(run_id=new_id(), source="manual", as_of=as_of, lease_token=lease_token, runner=runner,
                                   fine_tune_flag=True, triggered_by=req.requested_by, request_id=req.id)
            now = self.clock()
            req = replace(req, status=RequestStatus.PROCESSING, attempts=req.attempts + 1, claimed_at=now, updated_at=now, retraining_run_id=run.id)
            self._requests[req.id] = req
            return Claim(request=req, run=run)

    def _held(self, run_id: str, lease_token: str) -> Run | None:
        run = self._runs.get(run_id)
        return run if run is not None and run.lease_token == lease_token and run.status == RunStatus.RUNNING else None

    def heartbeat(self, run_id: str, lease_token: str) -> bool:
        """Refresh ``heartbeat_at``; False when the run is no longer ours."""
        with self._lock:
            run = self._held(run_id, lease_token)
            if run is None:
                return False
            now = self.clock()
            self._runs[run_id] = replace(run, heartbeat_at=now, updated_at=now)
            return True

    def update_run(self, run_id: str, lease_token: str, **fields: Any) -> Run:
        """Fenced update of a running run."""
        unknown = set(fields) - RUN_UPDATABLE
        if unknown:
            raise StoreUsageError(f"model_retraining_runs: columns {sorted(unknown)} cannot be updated")
        if "metrics" in fields:
            fields["metrics"] = _json(fields["metrics"])
        with self._lock:
            run = self._held(run_id, lease_token)
            if run is None:
                raise LeaseLostError(
                    f"run {run_id} is no longer held by this runner (it was reaped as stale or finished elsewhere); nothing was written"
                )
            updated = replace(run, **fields, updated_at=self.clock())
            if updated.source != run.source and updated.run_date is not None and updated.as_of is not None:
                self._check_daily(run_id, updated.source, updated.as_of)
            self._runs[run_id] = updated
            return updated

    def get_run(self, run_id: str) -> Run | None:
        """One run by id."""
        with self._lock:
            return self._runs.get(run_id)

    def list_runs(self, limit: int = 20, since: datetime | None = None) -> list[Run]:
        """Runs newest first."""
        with self._lock:
            runs = [r for r in self._runs.values() if since is None or (r.created_at is not None and r.created_at >= since)]
            runs.sort(key=lambda r: (r.created_at, self._order[r.id]), reverse=True)
            return runs[:limit]

    def reap_stale_runs(self, lease_seconds: int, max_attempts: int) -> list[str]:
        """Fail runs whose runner stopped sending heartbeats; re-queue or fail their requests."""
        if lease_seconds <= 0 or max_attempts < 1:
            raise StoreUsageError(f"reap_stale_runs: lease_seconds must be > 0 and max_attempts >= 1, got {lease_seconds}, {max_attempts}")
        message = f"runner lost: no heartbeat for more than {lease_seconds} s"
        with self._lock:
            now = self.clock()
            cutoff = now - timedelta(seconds=lease_seconds)
            stale = [r for r in self._runs.values()
                     if r.status in (RunStatus.RUNNING, RunStatus.PENDING) and (r.heartbeat_at or r.started_at or r.created_at or now) < cutoff]
            for run in stale:
                self._runs[run.id] = replace(run, status=RunStatus.FAILED, error_message=message, completed_at=now, updated_at=now)
                req = self._processing_for(run.id)
                if req is not None:
                    if req.attempts >= max_attempts:
                        self._settle(req, RequestStatus.FAILED, f"{message} (attempts exhausted: {req.attempts})", now)
                    else:
                        self._requeue(req, message, now)
            # A runner that died between finishing its run and settling its request left the
            # request 'processing' behind a final run; likewise an undecided candidate.
            done = {r.id: r for r in self._runs.values() if r.status in _FINAL and r.completed_at is not None and r.completed_at < cutoff}
            for req in list(self._requests.values()):
                finished = done.get(req.retraining_run_id or "")
                if req.status == RequestStatus.PROCESSING and finished is not None:
                    failed = finished.status == RunStatus.FAILED
                    self._settle(req, RequestStatus.FAILED if failed else RequestStatus.COMPLETED, finished.error_message if failed else None, now)
            reaped = {r.id for r in stale} | set(done)
            for mv in list(self._versions.values()):
                if mv.status == VersionStatus.CANDIDATE and mv.run_id in reaped:
                    self._versions[mv.version] = replace(mv, status=VersionStatus.REJECTED, updated_at=now)
            return [r.id for r in stale]

    # -- requests ----------------------------------------------------------------------
    def _pending(self) -> list[Request]:
        pending = [r for r in self._requests.values() if r.status == RequestStatus.PENDING]
        return sorted(pending, key=lambda r: (_RANK[r.priority], r.created_at, r.id))

    def _processing_for(self, run_id: str) -> Request | None:
        return next((r for r in self._requests.values() if r.status == RequestStatus.PROCESSING and r.retraining_run_id == run_id), None)

    def create_request(self, requested_by: str, reason: str | None = None, priority: str = "normal") -> Request:
        """Queue a pending request; one pending request per user."""
        check_priority(priority)
        reason = check_reason(reason)
        try:
            uuid.UUID(requested_by)
        except ValueError:
            raise StoreUsageError(f"requested_by {requested_by!r} must be a user id (UUID)") from None
        with self._lock:
            if any(r.requested_by == requested_by for r in self._pending()):
                raise StoreError("you already have a pending request; wait for it or cancel it first")
            now = self.clock()
            req = Request(id=new_id(), requested_by=requested_by, status=RequestStatus.PENDING, priority=priority,  # type: ignore[arg-type]
                          reason=reason, created_at=now, updated_at=now)
            self._requests[req.id] = req
            return req

    def get_request(self, request_id: str) -> Request | None:
        """One request by id."""
        with self._lock:
            return self._requests.get(request_id)

    def list_requests(self, status: str | None = None, limit: int = 100) -> list[Request]:
        """Requests in processing order."""
        with self._lock:
            rows = [r for r in self._requests.values() if status is None or r.status == status]
            return sorted(rows, key=lambda r: (_RANK[r.priority], r.created_at, r.id))[:limit]

    def cancel_request(self, request_id: str) -> Request:
        """Cancel a pending request."""
        with self._lock:
            req = self._requests.get(request_id)
            if req is None:
                raise StoreError(f"request {request_id} does not exist")
            if req.status != RequestStatus.PENDING:
                raise StoreError(f"request {request_id} is {req.status}; only pending requests can be cancelled")
            now = self.clock()
            req = replace(req, status=RequestStatus.CANCELLED, processed_at=now, updated_at=now)
            self._requests[request_id] = req
            return req

    def _settle(self, req: Request, status: RequestStatus, error: str | None, now: datetime) -> None:
        self._requests[req.id] = replace(req, status=status, processed_at=now, last_error=error, updated_at=now)

    def _requeue(self, req: Request, error: str | None, now: datetime) -> None:
        """Back to pending, unless its user queued a newer request meanwhile (one pending each)."""
        if any(p.requested_by == req.requested_by for p in self._pending()):
            self._settle(req, RequestStatus.FAILED, f"{error} (not re-queued: the user has a newer pending request)", now)
        else:
            self._requests[req.id] = replace(req, status=RequestStatus.PENDING, last_error=error, updated_at=now)

    def finish_request(self, request_id: str, run_id: str, status: str, error: str | None = None) -> bool:
        """Close or re-queue a processing request that belongs to ``run_id``."""
        if status not in ("completed", "failed", "pending"):
            raise StoreUsageError(f"a request cannot be finished as {status!r}")
        with self._lock:
            req = self._requests.get(request_id)
            if req is None or req.status != RequestStatus.PROCESSING or req.retraining_run_id != run_id:
                return False
            now = self.clock()
            if status == "pending":
                self._requeue(req, error, now)
            else:
                self._settle(req, RequestStatus(status), error, now)
            return True

    # -- objects -----------------------------------------------------------------------
    def put_object(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Write (or overwrite) an object."""
        check_object_key(bucket, key)
        with self._lock:
            self._objects[(bucket, key)] = (bytes(data), self.clock())

    def get_object(self, bucket: str, key: str) -> bytes:
        """Read an object's bytes."""
        check_object_key(bucket, key)
        with self._lock:
            found = self._objects.get((bucket, key))
        if found is None:
            raise StoreError(f"object {bucket}/{key} not found in the memory store")
        return found[0]

    def download_object(self, bucket: str, key: str, dest: Path) -> Path:
        """Write the object to ``dest`` and return it."""
        data = self.get_object(bucket, key)
        dest = Path(dest)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        except OSError as exc:
            raise StoreError(f"cannot write {bucket}/{key} to '{dest}': {exc}") from exc
        return dest

    def list_objects(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        """Objects whose name starts with ``prefix``, sorted by name."""
        check_object_key(bucket, "x")
        with self._lock:
            items = [(k, v) for (b, k), v in self._objects.items() if b == bucket and k.startswith(prefix)]
        return [ObjectInfo(k, len(data), ts) for k, (data, ts) in sorted(items)]

    def delete_objects(self, bucket: str, keys: Iterable[str]) -> None:
        """Delete objects; missing ones are ignored."""
        with self._lock:
            for key in keys:
                check_object_key(bucket, key)
                self._objects.pop((bucket, key), None)

    # -- model versions ------------------------------------------------------------------
    def create_model_version(self, *, sha256: str, size_bytes: int, sklearn_version: str, estimator: str | None, fine_tunable: bool,
                             metrics: dict[str, Any], run_id: str | None = None, parent_version: int | None = None,
                             note: str | None = None) -> ModelVersion:
        """Insert a candidate version and derive its storage path."""
        if len(sha256) != 64:
            raise StoreUsageError(f"model_versions: sha256 must be 64 hex characters, got {len(sha256)}")
        with self._lock:
            version = self._next_version
            self._next_version += 1
            now = self.clock()
            mv = ModelVersion(version=version, status=VersionStatus.CANDIDATE, sha256=sha256, size_bytes=size_bytes,
                              sklearn_version=sklearn_version, storage_path=f"v{version}/model.joblib", estimator=estimator,
                              fine_tunable=bool(fine_tunable), metrics=_json(metrics), run_id=run_id, parent_version=parent_version,
                              note=note, created_at=now, updated_at=now)
            self._versions[version] = mv
            return mv

    def set_version_status(self, version: int, status: str, metrics: dict[str, Any] | None = None) -> ModelVersion:
        """Set a non-champion status and optionally metrics."""
        if status == "champion":
            raise StoreUsageError("use promote_model_version() to make a version champion")
        with self._lock:
            mv = self._versions.get(version)
            if mv is None:
                raise StoreError(f"model version {version} does not exist")
            changes: dict[str, Any] = {"status": VersionStatus(status), "updated_at": self.clock()}
            if metrics is not None:
                changes["metrics"] = _json(metrics)
            mv = self._versions[version] = replace(mv, **changes)
            return mv

    def promote_model_version(self, version: int) -> ModelVersion:
        """Retire the champion and crown ``version`` atomically."""
        with self._lock:
            if version not in self._versions:
                raise StoreError(f"model version {version} does not exist")
            now = self.clock()
            for v, mv in list(self._versions.items()):
                if mv.status == VersionStatus.CHAMPION and v != version:
                    self._versions[v] = replace(mv, status=VersionStatus.RETIRED, updated_at=now)
            mv = self._versions[version] = replace(self._versions[version], status=VersionStatus.CHAMPION, promoted_at=now, updated_at=now)
            return mv

    def get_model_version(self, version: int) -> ModelVersion | None:
        """One version."""
        with self._lock:
            return self._versions.get(version)

    def get_champion(self) -> ModelVersion | None:
        """The version in service."""
        with self._lock:
            return next((mv for mv in self._versions.values() if mv.status == VersionStatus.CHAMPION), None)

    def list_model_versions(self) -> list[ModelVersion]:
        """All versions, newest first."""
        with self._lock:
            return sorted(self._versions.values(), key=lambda mv: mv.version, reverse=True)
