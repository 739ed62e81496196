"""Acceptance: `python -m ml_pipeline.auto_reinforcement --backend supabase` as cron runs it,
against a fake Supabase on 127.0.0.1 (a wrong key) and against a closed port (wrong URL).

No Supabase stack runs here, so the fake answers every request the way Supabase's gateway
answers a wrong key (401 "Invalid API key") and records what it was sent: the job must
stop at its first, read-only request and write nothing anywhere.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAKE_KEY = "fake-service-key-for-acceptance-tests"
PROBE = ("GET", "/rest/v1/model_retraining_runs?select=id&limit=1")


def run_job(tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "ML_PIPELINE_"))}
    env.update(
        SUPABASE_URL=url,
        SUPABASE_SERVICE_KEY=FAKE_KEY,
        ML_PIPELINE_HOME=str(tmp_path / "home"),
        ML_PIPELINE_CONFIG=str(REPO / "model_config.yaml"),
        PYTHONPATH=str(REPO),
    )
    return subprocess.run(
        [sys.executable, "-m", "ml_pipeline.auto_reinforcement", "--backend", "supabase",
         "--artifacts-dir", str(tmp_path / "artifacts")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


class _WrongKeySupabase(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []

    def _refuse(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self.seen.append((self.command, self.path))
        body = json.dumps({"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."}).encode()
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _refuse

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def wrong_key_supabase():
    handler = type("Handler", (_WrongKeySupabase,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.seen
    finally:
        server.shutdown()
        server.server_close()


def test_wrong_key_fails_with_the_service_role_message_and_writes_nothing(tmp_path, wrong_key_supabase):
    url, seen = wrong_key_supabase
    out = run_job(tmp_path, url)
    assert out.returncode == 2  # a configuration error, not a failed run
    assert "SUPABASE_SERVICE_KEY must be the service-role key" in out.stderr and "HTTP 401" in out.stderr
    assert FAKE_KEY not in out.stderr + out.stdout
    # Only the read-only probe reached "Supabase" (main() tries once more to record the
    # failure, which needs an open store: a second probe, still nothing written).
    assert seen and set(seen) == {PROBE}, seen
    assert not (tmp_path / "home").exists()
    summary = json.loads((tmp_path / "artifacts" / "summary.json").read_text())
    assert summary["runs"] == [] and "SUPABASE_SERVICE_KEY must be the service-role key" in summary["error"]


def test_unreachable_url_exits_2_quickly(tmp_path):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    out = run_job(tmp_path, f"http://127.0.0.1:{port}")
    elapsed = time.monotonic() - started
    assert out.returncode == 2, out.stderr
    assert f"cannot reach SUPABASE_URL http://127.0.0.1:{port}" in out.stderr
    assert elapsed < 30, f"took {elapsed:.1f} s"
    assert not (tmp_path / "home").exists()
