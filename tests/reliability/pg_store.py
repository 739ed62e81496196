"""A Store over PostgreSQL for the reliability tests: the SQL the Supabase client sends.

Queue operations go through the database functions the service role calls by RPC
(``claim_retraining_request``, ``heartbeat_retraining_run``,
``reap_stale_retraining_runs``); table writes are the single conditional statements a
PostgREST ``PATCH ...?id=eq.X&lease_token=eq.T&status=eq.running`` becomes. Objects go
to a local folder: storage is not what these tests exercise. One connection (as
``service_role``, like PostgREST's ``set role``), shared with the heartbeat thread under
a lock.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import psycopg

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ml_pipeline.errors import DailyRunExistsError, LeaseLostError, StoreError  # noqa: E402
from ml_pipeline.local_store import LocalStore  # noqa: E402
from ml_pipeline.store import RUN_UPDATABLE, Claim, ModelVersion, Request, Run, new_id  # noqa: E402

RUN_COLS = [f.name for f in fields(Run)]
REQ_COLS = [f.name for f in fields(Request)]
VER_COLS = [f.name for f in fields(ModelVersion)]


def _run(row: dict[str, Any]) -> Run:
    d = {k: (str(v) if k in ("id", "triggered_by", "request_id", "lease_token") and v is not None else v) for k, v in row.items()}
    return Run(**d)


def _req(row: dict[str, Any]) -> Request:
    d = {k: (str(v) if k in ("id", "requested_by", "retraining_run_id") and v is not None else v) for k, v in row.items()}
    return Request(**d)


class PgStore:
    """The subset of ``ml_pipeline.store.Store`` a runner uses, on PostgreSQL."""

    backend_name = "postgres-test"

    def __init__(self, dsn: str, objects_dir: Path) -> None:
        self._lock = threading.RLock()
        try:
            self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
            self._conn.execute("select set_config('request.jwt.claims', %s, false)", [json.dumps({"role": "service_role"})])
            self._conn.execute("set role service_role")
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot reach PostgreSQL: {exc}") from exc
        self._objects = LocalStore.__new__(LocalStore)  # only the bucket methods, no SQLite
        self._objects.home = Path(objects_dir)
        self._objects.buckets = Path(objects_dir) / "buckets"

    def _q(self, sql: str, args: list[Any] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._conn.execute(sql, args or [])
            if cur.description is None:
                return []
            names = [c.name for c in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

    # runs -------------------------------------------------------------------------------
    def create_run(self, *, source: str, as_of: datetime, lease_token: str, runner: str, fine_tune_flag: bool = True,
                   triggered_by: str | None = None, run_id: str | None = None) -> Run:
        try:
            rows = self._q(
                f"insert into public.model_retraining_runs (id, source, status, fine_tune_flag, started_at, heartbeat_at,"
                f" lease_token, as_of, run_date, runner, triggered_by) values (%s, %s, 'running', %s, now(), now(), %s, %s,"
                f" (%s::timestamptz at time zone 'utc')::date, %s, %s) returning {', '.join(RUN_COLS)}",
                [run_id or new_id(), source, fine_tune_flag, lease_token, as_of, as_of, runner, triggered_by],
            )
        except psycopg.errors.UniqueViolation as exc:
            raise DailyRunExistsError(f"a nightly run for {as_of.date()} (UTC) already exists; it runs at most once a day") from exc
        return _run(rows[0])

    def claim_next_request(self, *, runner: str, lease_token: str, as_of: datetime, request_id: str | None = None) -> Claim | None:
        rows = self._q("select * from public.claim_retraining_request(%s, %s, %s, %s)", [runner, lease_token, as_of, request_id])
        if not rows:
            return None
        req = self.get_request(str(rows[0]["request_id"]))
        run = self.get_run(str(rows[0]["run_id"]))
        assert req is not None and run is not None
        return Claim(request=req, run=run)

    def heartbeat(self, run_id: str, lease_token: str) -> bool:
        return bool(self._q("select public.heartbeat_retraining_run(%s, %s) as ok", [run_id, lease_token])[0]["ok"])

    def update_run(self, run_id: str, lease_token: str, **values: Any) -> Run:
        unknown = set(values) - RUN_UPDATABLE
        if unknown:
            raise StoreError(f"model_retraining_runs: columns {sorted(unknown)} cannot be updated")
        if "metrics" in values:
            values["metrics"] = json.dumps(values["metrics"], allow_nan=False)
        sets = ", ".join(f"{k} = %s" for k in values)
        rows = self._q(
            f"update public.model_retraining_runs set {sets} where id = %s and lease_token = %s and status = 'running'"
            f" returning {', '.join(RUN_COLS)}",
            [*values.values(), run_id, lease_token],
        )
        if not rows:
            raise LeaseLostError(f"run {run_id} is no longer held by this runner; nothing was written")
        return _run(rows[0])

    def get_run(self, run_id: str) -> Run | None:
        rows = self._q(f"select {', '.join(RUN_COLS)} from public.model_retraining_runs where id = %s", [run_id])
        return _run(rows[0]) if rows else None

    def list_runs(self, limit: int = 20, since: datetime | None = None) -> list[Run]:
        rows = self._q(
            f"select {', '.join(RUN_COLS)} from public.model_retraining_runs where (%s::timestamptz is null or created_at >= %s)"
            " order by created_at desc, id desc limit %s",
            [since, since, limit],
        )
        return [_run(r) for r in rows]

    def reap_stale_runs(self, lease_seconds: int, max_attempts: int) -> list[str]:
        rows = self._q("select * from public.reap_stale_retraining_runs(%s, %s) as id", [lease_seconds, max_attempts])
        return [str(r["id"]) for r in rows]

    # requests ---------------------------------------------------------------------------
    def get_request(self, request_id: str) -> Request | None:
        rows = self._q(f"select {', '.join(REQ_COLS)} from public.model_retraining_requests where id = %s", [request_id])
        return _req(rows[0]) if rows else None

    def list_requests(self, status: str | None = None, limit: int = 100) -> list[Request]:
        rows = self._q(
            f"select {', '.join(REQ_COLS)} from public.model_retraining_requests where (%s::text is null or status = %s)"
            " order by priority_rank desc, created_at, id limit %s",
            [status, status, limit],
        )
        return [_req(r) for r in rows]

    def finish_request(self, request_id: str, run_id: str, status: str, error: str | None = None) -> bool:
        rows = self._q(
            "update public.model_retraining_requests set status = %s, last_error = %s,"
            " processed_at = case when %s = 'pending' then processed_at else now() end"
            " where id = %s and status = 'processing' and retraining_run_id = %s returning id",
            [status, error, status, request_id, run_id],
        )
        return bool(rows)

    # objects (a local folder) -----------------------------------------------------------
    def put_object(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._objects.put_object(bucket, key, data, content_type)

    def get_object(self, bucket: str, key: str) -> bytes:
        return self._objects.get_object(bucket, key)

    def download_object(self, bucket: str, key: str, dest: Path) -> Path:
        return self._objects.download_object(bucket, key, dest)

    def list_objects(self, bucket: str, prefix: str = "") -> list[Any]:
        return self._objects.list_objects(bucket, prefix)

    def delete_objects(self, bucket: str, keys: Iterable[str]) -> None:
        self._objects.delete_objects(bucket, keys)

    # model versions (read side only: the racing runners never train) ---------------------
    def get_champion(self) -> ModelVersion | None:
        rows = self._q(f"select {', '.join(VER_COLS)} from public.model_versions where status = 'champion'")
        return ModelVersion(**rows[0]) if rows else None

    def close(self) -> None:
        self._conn.close()
