"""The embedded local store: an SQLite file plus a folder of "buckets".

Layout under ``home`` (``ML_PIPELINE_HOME``, default ``./.ml_pipeline``)::

    store.db                      runs, requests, model versions (SQLite, WAL)
    buckets/<bucket>/<key>        evaluation logs, training logs, models

The tables mirror the Supabase migrations (docs/data-model.md). Writers that must be
atomic across processes (claiming a request, the once-a-day guard, promotion, reaping)
run inside ``BEGIN IMMEDIATE`` transactions, so two runners on one machine never take
the same request.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from ml_pipeline.errors import DailyRunExistsError, LeaseLostError, StoreError, StoreUnavailableError, StoreUsageError
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

SCHEMA = """
CREATE TABLE IF NOT EXISTS model_retraining_requests (
    id TEXT PRIMARY KEY,
    requested_by TEXT NOT NULL,
    reason TEXT CHECK (reason IS NULL OR length(reason) <= 500),
    priority TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high')),
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processing', 'completed', 'cancelled', 'failed')),
    processed_at TEXT,
    retraining_run_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_at TEXT,
    last_error TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS requests_one_pending_per_user
    ON model_retraining_requests (requested_by) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS requests_pending_queue ON model_retraining_requests (
    (CASE priority WHEN 'high' THEN 0 WHEN 'normal' THEN 1 ELSE 2 END), created_at, id
) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS requests_priority ON model_retraining_requests (priority);
CREATE INDEX IF NOT EXISTS requests_created_at ON model_retraining_requests (created_at);

CREATE TABLE IF NOT EXISTS model_retraining_runs (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL CHECK (source IN ('auto_daily', 'manual', 'decay_triggered')),
    dataset_size INTEGER NOT NULL DEFAULT 0 CHECK (dataset_size >= 0),
    fine_tune_flag INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'skipped')),
    metrics TEXT NOT NULL DEFAULT '{}',
    started_at TEXT,
    completed_at TEXT,
    log_url TEXT,
    error_message TEXT,
    triggered_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    request_id TEXT REFERENCES model_retraining_requests (id) ON DELETE SET NULL,
    run_date TEXT,
    as_of TEXT,
    heartbeat_at TEXT,
    lease_token TEXT,
    model_version INTEGER,
    skip_reason TEXT,
    runner TEXT
);
CREATE INDEX IF NOT EXISTS runs_status ON model_retraining_runs (status);
CREATE INDEX IF NOT EXISTS runs_source ON model_retraining_runs (source);
CREATE INDEX IF NOT EXISTS runs_created_at ON model_retraining_runs (created_at);
CREATE INDEX IF NOT EXISTS runs_started_at ON model_retraining_runs (started_at);
CREATE UNIQUE INDEX IF NOT EXISTS runs_one_nightly_per_day ON model_retraining_runs (run_date)
    WHERE source IN ('auto_daily', 'decay_triggered') AND status <> 'failed';

CREATE TABLE IF NOT EXISTS model_versions (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL DEFAULT 'candidate'
        CHECK (status IN ('candidate', 'champion', 'retired', 'rejected')),
    storage_path TEXT,
    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
    size_bytes INTEGER NOT NULL,
    sklearn_version TEXT NOT NULL,
    estimator TEXT,
    fine_tunable INTEGER NOT NULL DEFAULT 1,
    metrics TEXT NOT NULL DEFAULT '{}',
    run_id TEXT,
    parent_version INTEGER,
    note TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    promoted_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS versions_one_champion
    ON model_versions (status) WHERE status = 'champion';
"""

_RUN_TS = ("started_at", "completed_at", "created_at", "updated_at", "as_of", "heartbeat_at")
_REQ_TS = ("processed_at", "created_at", "updated_at", "claimed_at")
_VER_TS = ("created_at", "updated_at", "promoted_at")


def _ts(value: datetime | None) -> str | None:
    # Fixed-width UTC text, so comparisons in SQL are chronological.
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _parse_ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _row_to_run(row: sqlite3.Row) -> Run:
    d = dict(row)
    for k in _RUN_TS:
        d[k] = _parse_ts(d[k])
    d["fine_tune_flag"] = bool(d["fine_tune_flag"])
    d["metrics"] = json.loads(d["metrics"] or "{}")
    d["run_date"] = date.fromisoformat(d["run_date"]) if d["run_date"] else None
    return Run(**d)


def _row_to_request(row: sqlite3.Row) -> Request:
    d = dict(row)
    for k in _REQ_TS:
        d[k] = _parse_ts(d[k])
    return Request(**d)


def _row_to_version(row: sqlite3.Row) -> ModelVersion:
    d = dict(row)
    for k in _VER_TS:
        d[k] = _parse_ts(d[k])
    d["fine_tunable"] = bool(d["fine_tunable"])
    d["metrics"] = json.loads(d["metrics"] or "{}")
    return ModelVersion(**d)


_PRIORITY_ORDER = "CASE priority WHEN 'high' THEN 0 WHEN 'normal' THEN 1 ELSE 2 END, created_at, id"


class LocalStore:
    """SQLite + folder implementation of :class:`ml_pipeline.store.Store`."""

    backend_name = "local"

    def __init__(self, home: str | os.PathLike[str]) -> None:
        self.home = Path(home)
        self.buckets = self.home / "buckets"
        self._lock = threading.RLock()  # one connection, shared with the heartbeat thread
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            self.db_path = self.home / "store.db"
            self._conn = sqlite3.connect(
                self.db_path, timeout=60, isolation_level=None, check_same_thread=False
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA busy_timeout = 60000")
            self._enable_wal()
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:  # like an unreachable database: exit code 2
            raise StoreUnavailableError(
                f"cannot open the local store in '{self.home}': {exc}; check that "
                "ML_PIPELINE_HOME points to a writable folder"
            ) from exc

    def _enable_wal(self) -> None:
        """Switch to WAL. On a new file, runners opening it at the same moment get "database
        is locked" at once (SQLite's busy handler does not cover this switch): retry."""
        deadline = time.monotonic() + 60
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    # -- plumbing --------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes SQLite's write lock up front."""
        conn = self._conn
        with self._lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"local store '{self.db_path}' is busy or unwritable: {exc}") from exc
            try:
                yield conn
            except sqlite3.IntegrityError:
                conn.execute("ROLLBACK")
                raise  # callers translate constraint violations into their own messages
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise StoreError(f"local store '{self.db_path}': {exc}") from exc
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    conn.execute("ROLLBACK")
                    raise StoreError(f"local store '{self.db_path}': commit failed: {exc}") from exc

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._conn.execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    # -- runs --------------------------------------------------------------------------
    def _insert_run(
        self,
        conn: sqlite3.Connection,
        *,
        run_id: str,
        source: str,
        as_of: datetime,
        lease_token: str,
        runner: str,
        fine_tune_flag: bool,
        triggered_by: str | None,
        request_id: str | None,
    ) -> None:
        now = _ts(utcnow())
        conn.execute(
            "INSERT INTO model_retraining_runs (id, source, status, fine_tune_flag, started_at,"
            " created_at, updated_at, heartbeat_at, triggered_by, request_id, run_date, as_of,"
            " lease_token, runner) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id, source, int(fine_tune_flag), now, now, now, now, triggered_by,
                request_id, as_of.astimezone(UTC).date().isoformat(), _ts(as_of),
                lease_token, runner,
            ),
        )

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
        run_id = run_id or new_id()
        existing = self.get_run(run_id)
        if existing is not None:  # idempotent retry of the same insert
            return existing
        try:
            with self._tx() as conn:
                self._insert_run(
                    conn, run_id=run_id, source=source, as_of=as_of, lease_token=lease_token,
                    runner=runner, fine_tune_flag=fine_tune_flag, triggered_by=triggered_by,
                    request_id=None,
                )
        except sqlite3.IntegrityError as exc:
            if source in NIGHTLY_SOURCES and "run_date" in str(exc):
                day = as_of.astimezone(UTC).date().isoformat()
                raise DailyRunExistsError(
                    f"a nightly run for {day} (UTC) already exists; it runs at most once a day "
                    "(use --as-of for another day, or a manual request)"
                ) from None
            raise StoreError(f"model_retraining_runs: insert refused: {exc}") from exc
        run = self.get_run(run_id)
        assert run is not None
        return run

    def claim_next_request(
        self, *, runner: str, lease_token: str, as_of: datetime, request_id: str | None = None
    ) -> Claim | None:
        """Take the next pending request and create its run, in one write transaction."""
        with self._tx() as conn:
            if request_id is None:
                row = conn.execute(
                    f"SELECT * FROM model_retraining_requests WHERE status = 'pending' "
                    f"ORDER BY {_PRIORITY_ORDER} LIMIT 1"
                ).fetchone()
            else:
                row = conn.execute(
                    "SELECT * FROM model_retraining_requests WHERE status = 'pending' AND id = ?",
                    (request_id,),
                ).fetchone()
            if row is None:
                return None
            run_id = new_id()
            self._insert_run(
                conn, run_id=run_id, source="manual", as_of=as_of, lease_token=lease_token,
                runner=runner, fine_tune_flag=True, triggered_by=row["requested_by"],
                request_id=row["id"],
            )
            now = _ts(utcnow())
            conn.execute(
                "UPDATE model_retraining_requests SET status = 'processing', attempts = attempts + 1,"
                " claimed_at = ?, updated_at = ?, retraining_run_id = ? WHERE id = ?",
                (now, now, run_id, row["id"]),
            )
        request = self.get_request(row["id"])
        run = self.get_run(run_id)
        assert request is not None and run is not None
        return Claim(request=request, run=run)

    def heartbeat(self, run_id: str, lease_token: str) -> bool:
        """Refresh ``heartbeat_at``; False when the run is no longer ours."""
        now = _ts(utcnow())
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE model_retraining_runs SET heartbeat_at = ?, updated_at = ? "
                "WHERE id = ? AND lease_token = ? AND status = 'running'",
                (now, now, run_id, lease_token),
            )
        return cur.rowcount == 1

    def update_run(self, run_id: str, lease_token: str, **fields: Any) -> Run:
        """Fenced update of a running run."""
        unknown = set(fields) - RUN_UPDATABLE
        if unknown:
            raise StoreUsageError(f"model_retraining_runs: columns {sorted(unknown)} cannot be updated")
        values: dict[str, Any] = {}
        for k, v in fields.items():
            if k == "metrics":
                v = json.dumps(v, allow_nan=False)
            elif k == "fine_tune_flag":
                v = int(v)
            elif isinstance(v, datetime):
                v = _ts(v)
            values[k] = v
        values["updated_at"] = _ts(utcnow())
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._tx() as conn:
            cur = conn.execute(
                f"UPDATE model_retraining_runs SET {sets} "
                "WHERE id = ? AND lease_token = ? AND status = 'running'",
                (*values.values(), run_id, lease_token),
            )
        if cur.rowcount != 1:
            raise LeaseLostError(
                f"run {run_id} is no longer held by this runner (it was reaped as stale or "
                "finished elsewhere); nothing was written"
            )
        run = self.get_run(run_id)
        assert run is not None
        return run

    def get_run(self, run_id: str) -> Run | None:
        """One run by id."""
        row = self._one("SELECT * FROM model_retraining_runs WHERE id = ?", (run_id,))
        return None if row is None else _row_to_run(row)

    def list_runs(self, limit: int = 20, since: datetime | None = None) -> list[Run]:
        """Runs newest first."""
        if since is None:
            rows = self._all(
                "SELECT * FROM model_retraining_runs ORDER BY created_at DESC, id DESC LIMIT ?",
                (limit,),
            )
        else:
            rows = self._all(
                "SELECT * FROM model_retraining_runs WHERE created_at >= ? "
                "ORDER BY created_at DESC, id DESC LIMIT ?",
                (_ts(since), limit),
            )
        return [_row_to_run(r) for r in rows]

    def reap_stale_runs(self, lease_seconds: int, max_attempts: int) -> list[str]:
        """Fail runs whose runner stopped sending heartbeats; re-queue their requests."""
        if lease_seconds <= 0 or max_attempts < 1:
            raise StoreUsageError(f"reap_stale_runs: lease_seconds must be > 0 and max_attempts >= 1, got {lease_seconds}, {max_attempts}")
        now = utcnow()
        cutoff = _ts(now - timedelta(seconds=lease_seconds))
        message = f"runner lost: no heartbeat for more than {lease_seconds} s"
        with self._tx() as conn:
            stale = conn.execute(
                "SELECT id, request_id FROM model_retraining_runs WHERE status IN ('running', 'pending')"
                " AND coalesce(heartbeat_at, started_at, created_at) < ?",
                (cutoff,),
            ).fetchall()
            for row in stale:
                ts = _ts(now)
                conn.execute(
                    "UPDATE model_retraining_runs SET status = 'failed', error_message = ?,"
                    " completed_at = ?, updated_at = ? WHERE id = ?",
                    (message, ts, ts, row["id"]),
                )
                req = conn.execute(
                    "SELECT id, attempts FROM model_retraining_requests"
                    " WHERE status = 'processing' AND retraining_run_id = ?",
                    (row["id"],),
                ).fetchone()
                if req is not None:
                    if req["attempts"] >= max_attempts:
                        self._settle(conn, req["id"], "failed", f"{message} (attempts exhausted: {req['attempts']})", ts)
                    else:
                        self._requeue(conn, req["id"], message, ts)
                conn.execute(
                    "UPDATE model_versions SET status = 'rejected', updated_at = ?"
                    " WHERE status = 'candidate' AND run_id = ?",
                    (ts, row["id"]),
                )
            # A runner that died between finishing its run and settling its request left the
            # request 'processing' behind a final run; likewise an undecided candidate.
            ts = _ts(now)
            stranded = conn.execute(
                "SELECT q.id, r.status, r.error_message FROM model_retraining_requests q"
                " JOIN model_retraining_runs r ON r.id = q.retraining_run_id WHERE q.status = 'processing'"
                " AND r.status IN ('completed', 'skipped', 'failed') AND r.completed_at < ?",
                (cutoff,),
            ).fetchall()
            for req in stranded:
                failed = req["status"] == "failed"
                self._settle(conn, req["id"], "failed" if failed else "completed", req["error_message"] if failed else None, ts)
            conn.execute(
                "UPDATE model_versions SET status = 'rejected', updated_at = ? WHERE status = 'candidate' AND run_id IN"
                " (SELECT id FROM model_retraining_runs WHERE status IN ('completed', 'skipped', 'failed') AND completed_at < ?)",
                (ts, cutoff),
            )
        return [r["id"] for r in stale]

    # -- requests ----------------------------------------------------------------------
    def create_request(
        self, requested_by: str, reason: str | None = None, priority: str = "normal"
    ) -> Request:
        """Queue a pending request; one pending request per user."""
        check_priority(priority)
        reason = check_reason(reason)
        try:
            uuid.UUID(requested_by)
        except ValueError:
            raise StoreUsageError(f"requested_by {requested_by!r} must be a user id (UUID)") from None
        request_id = new_id()
        now = _ts(utcnow())
        try:
            with self._tx() as conn:
                conn.execute(
                    "INSERT INTO model_retraining_requests (id, requested_by, reason, priority,"
                    " status, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                    (request_id, requested_by, reason, priority, now, now),
                )
        except sqlite3.IntegrityError as exc:
            if "requested_by" in str(exc):
                raise StoreError(
                    "you already have a pending request; wait for it or cancel it first"
                ) from None
            raise StoreError(f"model_retraining_requests: insert refused: {exc}") from exc
        request = self.get_request(request_id)
        assert request is not None
        return request

    def get_request(self, request_id: str) -> Request | None:
        """One request by id."""
        row = self._one("SELECT * FROM model_retraining_requests WHERE id = ?", (request_id,))
        return None if row is None else _row_to_request(row)

    def list_requests(self, status: str | None = None, limit: int = 100) -> list[Request]:
        """Requests in processing order."""
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self._all(
            f"SELECT * FROM model_retraining_requests {where} ORDER BY {_PRIORITY_ORDER} LIMIT ?",
            (*args, limit),
        )
        return [_row_to_request(r) for r in rows]

    def cancel_request(self, request_id: str) -> Request:
        """Cancel a pending request."""
        now = _ts(utcnow())
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE model_retraining_requests SET status = 'cancelled', processed_at = ?,"
                " updated_at = ? WHERE id = ? AND status = 'pending'",
                (now, now, request_id),
            )
        request = self.get_request(request_id)
        if request is None:
            raise StoreError(f"request {request_id} does not exist")
        if cur.rowcount != 1:
            raise StoreError(
                f"request {request_id} is {request.status}; only pending requests can be cancelled"
            )
        return request

    @staticmethod
    def _settle(conn: sqlite3.Connection, request_id: str, status: str, error: str | None, ts: str | None) -> None:
        conn.execute(
            "UPDATE model_retraining_requests SET status = ?, processed_at = ?, last_error = ?, updated_at = ?"
            " WHERE id = ?",
            (status, ts, error, ts, request_id),
        )

    def _requeue(self, conn: sqlite3.Connection, request_id: str, error: str | None, ts: str | None) -> None:
        """Back to pending, unless its user queued a newer request meanwhile (one pending each)."""
        newer = conn.execute(
            "SELECT 1 FROM model_retraining_requests p JOIN model_retraining_requests q"
            " ON p.requested_by = q.requested_by WHERE q.id = ? AND p.status = 'pending'",
            (request_id,),
        ).fetchone()
        if newer:
            self._settle(conn, request_id, "failed", f"{error} (not re-queued: the user has a newer pending request)", ts)
        else:
            conn.execute(
                "UPDATE model_retraining_requests SET status = 'pending', last_error = ?, updated_at = ? WHERE id = ?",
                (error, ts, request_id),
            )

    def finish_request(
        self, request_id: str, run_id: str, status: str, error: str | None = None
    ) -> bool:
        """Close or re-queue a processing request that belongs to ``run_id``."""
        if status not in ("completed", "failed", "pending"):
            raise StoreUsageError(f"a request cannot be finished as {status!r}")
        now = _ts(utcnow())
        with self._tx() as conn:
            mine = conn.execute(
                "SELECT 1 FROM model_retraining_requests WHERE id = ? AND status = 'processing'"
                " AND retraining_run_id = ?",
                (request_id, run_id),
            ).fetchone()
            if not mine:
                return False
            if status == "pending":
                self._requeue(conn, request_id, error, now)
            else:
                self._settle(conn, request_id, status, error, now)
        return True

    # -- objects -----------------------------------------------------------------------
    def _path(self, bucket: str, key: str) -> Path:
        check_object_key(bucket, key)
        return self.buckets / bucket / key

    def put_object(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        """Write an object atomically (temporary file, then rename)."""
        path = self._path(bucket, key)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            if tmp is not None:  # a full disk must not also keep the partial copy
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            raise StoreError(f"cannot write {bucket}/{key} in '{self.buckets}': {exc}") from exc

    def get_object(self, bucket: str, key: str) -> bytes:
        """Read an object's bytes."""
        path = self._path(bucket, key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"object {bucket}/{key} not found in '{self.buckets}'") from None

    def download_object(self, bucket: str, key: str, dest: Path) -> Path:
        """The local backend needs no copy: return the object's own path."""
        path = self._path(bucket, key)
        if not path.is_file():
            raise StoreError(f"object {bucket}/{key} not found in '{self.buckets}'")
        return path

    def list_objects(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        """Objects under ``prefix`` (recursively), sorted by name."""
        root = self.buckets / bucket
        check_object_key(bucket, "x")
        if not root.is_dir():
            return []
        out = []
        for path in root.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                name = path.relative_to(root).as_posix()
                if name.startswith(prefix):
                    st = path.stat()
                    out.append(
                        ObjectInfo(name, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))
                    )
        return sorted(out, key=lambda o: o.name)

    def delete_objects(self, bucket: str, keys: Iterable[str]) -> None:
        """Delete objects; missing ones are ignored."""
        for key in keys:
            try:
                self._path(bucket, key).unlink()
            except FileNotFoundError:
                pass

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
        """Insert a candidate version and derive its storage path."""
        now = _ts(utcnow())
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO model_versions (status, sha256, size_bytes, sklearn_version, estimator,"
                " fine_tunable, metrics, run_id, parent_version, note, created_at, updated_at)"
                " VALUES ('candidate', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sha256, size_bytes, sklearn_version, estimator, int(fine_tunable),
                    json.dumps(metrics, allow_nan=False), run_id, parent_version, note, now, now,
                ),
            )
            version = cur.lastrowid
            conn.execute(
                "UPDATE model_versions SET storage_path = ? WHERE version = ?",
                (f"v{version}/model.joblib", version),
            )
        assert version is not None
        mv = self.get_model_version(int(version))
        assert mv is not None
        return mv

    def set_version_status(
        self, version: int, status: str, metrics: dict[str, Any] | None = None
    ) -> ModelVersion:
        """Set ``rejected`` (or ``retired``/``candidate``) and optionally metrics."""
        if status == "champion":
            raise StoreUsageError("use promote_model_version() to make a version champion")
        now = _ts(utcnow())
        with self._tx() as conn:
            if metrics is None:
                conn.execute(
                    "UPDATE model_versions SET status = ?, updated_at = ? WHERE version = ?",
                    (status, now, version),
                )
            else:
                conn.execute(
                    "UPDATE model_versions SET status = ?, metrics = ?, updated_at = ? WHERE version = ?",
                    (status, json.dumps(metrics, allow_nan=False), now, version),
                )
        mv = self.get_model_version(version)
        if mv is None:
            raise StoreError(f"model version {version} does not exist")
        return mv

    def promote_model_version(self, version: int) -> ModelVersion:
        """Retire the champion and crown ``version`` in one transaction."""
        now = _ts(utcnow())
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM model_versions WHERE version = ?", (version,)).fetchone() is None:
                raise StoreError(f"model version {version} does not exist")
            conn.execute(
                "UPDATE model_versions SET status = 'retired', updated_at = ?"
                " WHERE status = 'champion' AND version <> ?",
                (now, version),
            )
            conn.execute(
                "UPDATE model_versions SET status = 'champion', promoted_at = ?, updated_at = ?"
                " WHERE version = ?",
                (now, now, version),
            )
        mv = self.get_model_version(version)
        assert mv is not None
        return mv

    def get_model_version(self, version: int) -> ModelVersion | None:
        """One version."""
        row = self._one("SELECT * FROM model_versions WHERE version = ?", (version,))
        return None if row is None else _row_to_version(row)

    def get_champion(self) -> ModelVersion | None:
        """The version in service."""
        row = self._one("SELECT * FROM model_versions WHERE status = 'champion'")
        return None if row is None else _row_to_version(row)

    def list_model_versions(self) -> list[ModelVersion]:
        """All versions, newest first."""
        rows = self._all("SELECT * FROM model_versions ORDER BY version DESC")
        return [_row_to_version(r) for r in rows]
