"""Scenario 4: a stale runner wakes up after another runner finished its request.

Runner A is stopped with SIGSTOP in the middle of training and kept stopped past its
lease; runner B starts, reaps A's run, claims the request again and completes it; then A
gets SIGCONT. Everything A does from then on must be refused by its lease token: the
database and the buckets are byte-for-byte what B left, and A exits non-zero.

Two ways of stopping: the whole process group (runner and trainer freeze together) and
the runner alone (its trainer finishes while it sleeps, so A wakes up holding a finished
model: the sharpest case for fencing).
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path
from typing import Any

from tests.reliability.conftest import AS_OF, add_requests, kill_tree, rows, run_runner, start_runner, wait_for, write_config

LEASE, BEAT = 2, 0.5
TRAIN_SLEEP = 1.5


def snapshot(home: Path) -> dict[str, Any]:
    tables = {t: rows(home, f"SELECT * FROM {t} ORDER BY 1") for t in ("model_retraining_runs", "model_retraining_requests", "model_versions")}
    files = {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((home / "buckets").rglob("*")) if p.is_file()}
    return {"tables": tables, "files": files}


def _store_is_free(home: Path) -> bool:
    """True when no process holds the SQLite write lock (A must not be stopped inside a transaction)."""
    conn = sqlite3.connect(home / "store.db", timeout=0.2, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def _trial(home: Path, config: Path, markers: Path, *, whole_group: bool, seed: int) -> dict[str, Any]:
    (req_id,) = add_requests(home, ["normal"])
    a = start_runner(home, config, "--requests-only", "--as-of", AS_OF, RELIABILITY_SLOW_TRAINER=str(TRAIN_SLEEP), RELIABILITY_MARKER_DIR=str(markers))
    try:
        wait_for(lambda: list(markers.glob("*.started")) or a.poll() is not None, 90, "A's training to start")
        assert a.poll() is None, a.communicate()
        time.sleep(random.Random(seed).uniform(0.05, TRAIN_SLEEP * 0.8))
        for _ in range(20):
            os.killpg(a.pid, signal.SIGSTOP) if whole_group else os.kill(a.pid, signal.SIGSTOP)
            if _store_is_free(home):
                break
            os.killpg(a.pid, signal.SIGCONT)  # stopped inside a transaction: try another instant
            time.sleep(0.05)
        else:
            raise AssertionError("could not stop A outside a store transaction")
        (run_a,) = rows(home, "SELECT * FROM model_retraining_runs")
        time.sleep(LEASE + 0.5)
        if not whole_group:
            time.sleep(TRAIN_SLEEP + 3)  # A's trainer finishes while A sleeps
        b = run_runner(home, config, "--requests-only", "--as-of", AS_OF)
        assert b.returncode == 0, b.stderr
        after_b = snapshot(home)
        runs = {r["id"]: r for r in after_b["tables"]["model_retraining_runs"]}
        (req,) = after_b["tables"]["model_retraining_requests"]
        assert runs[run_a["id"]]["status"] == "failed" and runs[run_a["id"]]["error_message"].startswith("runner lost")
        (run_b,) = [r for r in runs.values() if r["id"] != run_a["id"]]
        assert run_b["status"] == "completed" and req["status"] == "completed" and req["retraining_run_id"] == run_b["id"]
        os.killpg(a.pid, signal.SIGCONT)
        out, err = a.communicate(timeout=120)
    finally:
        kill_tree(a, signal.SIGCONT)
        kill_tree(a)
    after_a = snapshot(home)
    changed = [t for t in after_b["tables"] if after_b["tables"][t] != after_a["tables"][t]]
    assert not changed, f"the stale runner changed {changed}:\n{err[-2000:]}"
    assert after_a["files"] == after_b["files"], f"the stale runner wrote objects: {set(after_a['files']) ^ set(after_b['files'])}\n{err[-2000:]}"
    assert a.returncode not in (0, None), f"stale runner exited {a.returncode}"
    assert "lost" in (out + err)
    return {"exit": a.returncode, "req": req_id}


def test_stale_runner_is_fenced(seeded_template: Path, tmp_path: Path, figures: Any) -> None:
    import shutil

    config = write_config(tmp_path, runner={"lease_seconds": LEASE, "heartbeat_seconds": BEAT, "max_attempts": 3})
    modes = [(True, 0), (False, 1)]

    def one(mode: tuple[bool, int]) -> dict[str, Any]:
        whole, seed = mode
        home = tmp_path / f"m{seed}" / "home"
        shutil.copytree(seeded_template, home)
        return _trial(home, config, tmp_path / f"m{seed}" / "markers", whole_group=whole, seed=seed)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, modes))
    figures.add("4 stale runner wakes up (SIGSTOP > lease, SIGCONT)", f"{len(modes)} (runner+trainer stopped; runner alone stopped)",
                f"{len(modes)}/{len(modes)}: 0 rows and 0 objects changed by the stale runner, exit codes {[r['exit'] for r in results]}")


def test_lease_lost_between_two_heartbeats_registers_nothing(seeded_home: Path, tmp_path: Path, figures: Any) -> None:
    """The run is reaped while its runner trains and before its next heartbeat (a stalled or
    slow heartbeat, another runner's sweep): the finished candidate must not be registered,
    uploaded or logged. In-process, so that the gap between heartbeats is certain."""
    from datetime import datetime

    from ml_pipeline import auto_reinforcement as ar
    from ml_pipeline.config import load_settings
    from ml_pipeline.local_store import LocalStore

    config = write_config(tmp_path, runner={"lease_seconds": 600, "heartbeat_seconds": 300, "max_attempts": 3})
    settings = load_settings({"home": str(seeded_home), "config_path": str(config), "backend": "local"}, env={})
    add_requests(seeded_home, ["normal"])
    before = snapshot(seeded_home)
    store = LocalStore(seeded_home)
    other = LocalStore(seeded_home)  # another runner's connection
    real = ar.SubprocessTrainer()

    def train_then_get_reaped(job: Any, timeout: int, cancel: Any) -> dict[str, Any]:
        result = real(job, timeout, cancel)
        with other._tx() as conn:  # what another runner's sweep does to a run it thinks is lost
            conn.execute("UPDATE model_retraining_runs SET heartbeat_at = '2000-01-01T00:00:00.000000+00:00'")
        assert other.reap_stale_runs(600, 3)
        return result

    try:
        job = ar.Job(settings, store, as_of=datetime(2026, 11, 20, 2, tzinfo=UTC), trainer=train_then_get_reaped)
        job.process_requests()
    finally:
        store.close()
        other.close()
    after = snapshot(seeded_home)
    assert [o.status for o in job.outcomes] == ["lost"] and job.exit_code() == 1
    assert after["tables"]["model_versions"] == before["tables"]["model_versions"], "the fenced-out runner registered a model version"
    assert set(after["files"]) == set(before["files"]), f"the fenced-out runner wrote {set(after['files']) - set(before['files'])}"
    figures.add("4b lease lost between two heartbeats (in-process)", "1",
                "0 model versions and 0 objects written by the fenced-out runner; outcome 'lost', exit 1")
