"""Scenario 6: transient faults in storage and an unreachable database.

Supabase: a real run (in-process ``Job``, real trainer) on ``SupabaseStore`` whose HTTP
traffic goes through tests/contract/postgrest_adapter.py (PostgREST as SQL on the test
PostgreSQL, Storage in memory), with a fault injector in front of the model uploads:
503 twice then success (retried with backoff, one object), or 503 every time (the run
fails naming the object and the status; nothing at the final key; the candidate version
is not left behind as a ``candidate``). Local store: the disk fills up (ENOSPC) while the
model is written. Unreachable database at start: the CLI exits 2 quickly, says
"cannot reach", and writes nothing.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import REPO, add_requests, rows, write_config

AS_OF = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
URL = "http://supabase.reliability.test"
KEY = "reliability-test-service-key-not-a-secret"
BACKOFF = 0.2
MODEL_KEY = "v2/model.joblib"


class UploadFaults:
    """httpx transport handler: answers 503 to the first ``fail`` uploads into ``models`` (-1: all)."""

    def __init__(self, inner: Any, fail: int) -> None:
        self.inner, self.fail, self.attempts, self.armed = inner, fail, [], False

    def __call__(self, request: Any) -> Any:
        import httpx

        path = request.url.path
        if self.armed and request.method in ("POST", "PUT") and path.startswith("/storage/v1/object/models/"):
            failing = self.fail < 0 or len([a for a in self.attempts if a[1] == 503]) < self.fail
            self.attempts.append((time.monotonic(), 503 if failing else 200, path))
            if failing:
                return httpx.Response(503, json={"statusCode": "503", "error": "Service Unavailable", "message": "injected fault"})
        return self.inner(request)


def _supabase_run(pg_db: Any, seeded_template: Path, tmp_path: Path, fail: int) -> dict[str, Any]:
    import httpx

    from ml_pipeline.auto_reinforcement import Job
    from ml_pipeline.config import load_settings
    from ml_pipeline.records import BUCKET_EVALUATION_LOGS
    from ml_pipeline.registry import Registry
    from ml_pipeline.supabase_client import SupabaseStore
    from tests.contract.postgrest_adapter import SupabaseEmulator

    emulator = SupabaseEmulator(pg_db.dsn, KEY)
    faults = UploadFaults(emulator, fail)
    http = httpx.Client(transport=httpx.MockTransport(faults), timeout=30)
    store = SupabaseStore(URL, KEY, http_client=http, backoff=BACKOFF)
    try:
        config = write_config(tmp_path)
        settings = load_settings({"home": str(tmp_path / "home"), "config_path": str(config), "backend": "local"}, env={})
        store.put_object(BUCKET_EVALUATION_LOGS, "evaluation_log.csv",
                         (seeded_template / "buckets" / "evaluation-logs" / "evaluation_log.csv").read_bytes())
        Registry(store, tmp_path / "setup-cache").register(seeded_template / "buckets" / "models" / "v1" / "model.joblib",
                                                           list(settings.model.model.classes))
        faults.armed = True  # the base model's upload above is not part of the trial
        user = str(uuid.uuid4())
        emulator.admin.execute("insert into auth.users (id, role) values (%s, 'authenticated')", (user,))
        req = store.create_request(user, reason="transient faults", priority="high")
        job = Job(settings, store, as_of=AS_OF)
        job.process_requests()
        run = store.get_run(job.outcomes[0].run_id)
        return {"run": run, "request": store.get_request(req.id), "attempts": faults.attempts,
                "objects": sorted(name for (bucket, name) in emulator.objects if bucket == "models"),
                "versions": {v.version: v.status for v in store.list_model_versions()}}
    finally:
        store.close()
        http.close()
        emulator.close()


def test_upload_fails_twice_then_succeeds(pg_db: Any, seeded_template: Path, tmp_path: Path, figures: Any) -> None:
    r = _supabase_run(pg_db, seeded_template, tmp_path, fail=2)
    assert r["run"].status == "completed", r["run"].error_message
    statuses = [a[1] for a in r["attempts"] if a[2].endswith(MODEL_KEY)]
    assert statuses == [503, 503, 200], r["attempts"]
    times = [a[0] for a in r["attempts"] if a[2].endswith(MODEL_KEY)]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] >= BACKOFF * 0.9 and gaps[1] >= gaps[0] * 1.5, f"no backoff between attempts: {gaps}"
    assert r["objects"] == ["v1/model.joblib", MODEL_KEY]
    assert r["versions"][2] in ("champion", "rejected") and r["request"].status == "completed"
    figures.add("6a storage upload fails twice (503), then succeeds", "1 run on SupabaseStore",
                f"run completed after 3 attempts (backoff {gaps[0]:.2f} s, {gaps[1]:.2f} s), 1 object at models/{MODEL_KEY}")


def test_upload_fails_every_time(pg_db: Any, seeded_template: Path, tmp_path: Path, figures: Any) -> None:
    r = _supabase_run(pg_db, seeded_template, tmp_path, fail=-1)
    run = r["run"]
    assert run.status == "failed"
    assert f"models/{MODEL_KEY}" in run.error_message and "503" in run.error_message, run.error_message
    assert r["objects"] == ["v1/model.joblib"], "something is at the final key"
    assert r["versions"] == {1: "champion", 2: "rejected"}, r["versions"]
    assert r["request"].status == "pending" and r["request"].attempts == 1  # transient: re-queued
    figures.add("6b storage upload fails every time (503)", f"1 run, {len(r['attempts'])} upload attempts",
                "run failed naming the object and 503, nothing at the final key, v2 rejected (not a dangling candidate), request re-queued")


def test_local_disk_full_while_writing_the_model(seeded_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, figures: Any) -> None:
    from ml_pipeline import local_store
    from ml_pipeline.auto_reinforcement import Job
    from ml_pipeline.config import load_settings
    from ml_pipeline.local_store import LocalStore

    real_put, real_fdopen = LocalStore.put_object, os.fdopen

    class FullDisk:
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: Any) -> None:
            self.fh.close()

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    def put_object(self: Any, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        if bucket != "models" or key != MODEL_KEY:  # only the first run's model hits the full disk
            return real_put(self, bucket, key, data, content_type)
        monkeypatch.setattr(local_store.os, "fdopen", lambda fd, *a, **k: FullDisk(real_fdopen(fd, *a, **k)))
        try:
            return real_put(self, bucket, key, data, content_type)
        finally:
            monkeypatch.setattr(local_store.os, "fdopen", real_fdopen)

    monkeypatch.setattr(LocalStore, "put_object", put_object)
    settings = load_settings({"home": str(seeded_home), "config_path": str(write_config(tmp_path)), "backend": "local"}, env={})
    high, low = add_requests(seeded_home, ["high", "low"])
    store = LocalStore(seeded_home)
    try:
        Job(settings, store, as_of=AS_OF).process_requests()
    finally:
        store.close()
    first, second = rows(seeded_home, "SELECT * FROM model_retraining_runs ORDER BY created_at")
    assert first["status"] == "failed" and f"models/{MODEL_KEY}" in first["error_message"] and "No space left" in first["error_message"]
    assert not (seeded_home / "buckets" / "models" / MODEL_KEY).exists()
    temporary = [p.name for p in (seeded_home / "buckets" / "models").rglob(".tmp-*")]
    assert not temporary, f"partial copies left in the models bucket: {temporary}"
    versions = rows(seeded_home, "SELECT version, status FROM model_versions")
    assert versions[:2] == [{"version": 1, "status": versions[0]["status"]}, {"version": 2, "status": "rejected"}], versions
    # The transient failure re-queued its request for the next invocation, which did not
    # retry it at once (no burst of attempts) but went on with the other pending request.
    reqs = {r["id"]: r for r in rows(seeded_home, "SELECT * FROM model_retraining_requests")}
    assert first["request_id"] == high and reqs[high]["status"] == "pending" and reqs[high]["attempts"] == 1
    assert second["request_id"] == low and second["status"] == "completed" and reqs[low]["status"] == "completed"
    figures.add("6c local disk full while writing the model (ENOSPC)", "1 invocation, 2 requests",
                "run failed naming the object and the OS error, no file and no temporary file left, v2 rejected; its request "
                "re-queued for the next invocation (attempts 1, not burnt in a burst) while the other request completed")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_supabase_unreachable_at_start(tmp_path: Path, figures: Any) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "ML_PIPELINE_"))}
    env.update(PYTHONPATH=str(REPO), ML_PIPELINE_HOME=str(home), ML_PIPELINE_CONFIG=str(REPO / "model_config.yaml"),
               SUPABASE_URL=f"http://127.0.0.1:{_closed_port()}", SUPABASE_SERVICE_KEY="sb_secret_reliability_not_a_secret")
    took = {}
    for args in (["--backend", "supabase"], ["--backend", "supabase", "--requests-only"]):
        t0 = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "ml_pipeline.auto_reinforcement", *args], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
        took[" ".join(args)] = time.monotonic() - t0
        assert out.returncode == 2, (out.returncode, out.stderr)
        assert "cannot reach" in out.stderr and "127.0.0.1" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
        assert not home.exists(), "wrote to the local store"
    worst = max(took.values())
    assert worst < 20, took
    figures.add("6d database unreachable at start", "2 (nightly, --requests-only)",
                f"exit 2 in at most {worst:.1f} s, 'cannot reach SUPABASE_URL http://127.0.0.1:...', no writes")


def test_local_store_unreachable_at_start(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "ML_PIPELINE_"))}
    env.update(PYTHONPATH=str(REPO), ML_PIPELINE_HOME=str(blocker / "home"), ML_PIPELINE_CONFIG=str(REPO / "model_config.yaml"))
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "ml_pipeline.auto_reinforcement", "--backend", "local"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "cannot open the local store" in out.stderr and "ML_PIPELINE_HOME" in out.stderr and "Traceback" not in out.stderr
    assert time.monotonic() - t0 < 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]
