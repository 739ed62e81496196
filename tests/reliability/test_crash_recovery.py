"""Scenario 3: a runner SIGKILLed mid-training (and before its first heartbeat).

Runner processes are the real CLI (runner_shim.py) with a trainer that sleeps before
training (``RELIABILITY_SLOW_TRAINER``), so that "mid-training" is a window we can hit.
The whole process group is killed, as when a CI job or a machine dies. Recovery is the
product's sweep: ``reap_stale_runs`` (what every runner calls first); the 10 trials call
it directly to time detection, the attempts test runs the real CLI each time.
"""

from __future__ import annotations

import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.reliability.conftest import AS_OF, add_requests, kill_tree, rows, run_runner, start_runner, wait_for, write_config

LEASE, BEAT, MAX_ATTEMPTS = 2, 0.5, 3
TRAIN_SLEEP = 2.0
TRIALS = 10


def _config(tmp: Path) -> Path:
    return write_config(tmp, runner={"lease_seconds": LEASE, "heartbeat_seconds": BEAT, "max_attempts": MAX_ATTEMPTS})


def _start_and_kill_mid_training(home: Path, config: Path, markers: Path, delay: float) -> float:
    """Start a runner, wait until training has begun, SIGKILL its tree after ``delay`` s; kill time."""
    before = set(markers.glob("*.started")) if markers.exists() else set()
    proc = start_runner(home, config, "--requests-only", "--as-of", AS_OF,
                        RELIABILITY_SLOW_TRAINER=str(TRAIN_SLEEP), RELIABILITY_MARKER_DIR=str(markers))
    try:
        wait_for(lambda: set(markers.glob("*.started")) - before or proc.poll() is not None, 90, "training to start")
        assert proc.poll() is None, f"runner ended before training: {proc.communicate()}"
        time.sleep(delay)
        assert proc.poll() is None, "runner finished before the kill"
        kill_tree(proc, signal.SIGKILL)
        killed_at = time.monotonic()
        proc.wait(timeout=30)
    finally:
        kill_tree(proc)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    return killed_at


def _trial(seeded_template: Path, root: Path, config: Path, seed: int) -> dict[str, Any]:
    import shutil

    from ml_pipeline.local_store import LocalStore

    home = root / "home"
    shutil.copytree(seeded_template, home)
    (req_id,) = add_requests(home, ["normal"])
    delay = random.Random(seed).uniform(0.05, TRAIN_SLEEP - 0.05)
    killed_at = _start_and_kill_mid_training(home, config, root / "markers", delay)
    (run,) = rows(home, "SELECT * FROM model_retraining_runs")
    assert run["status"] == "running"  # nobody finished it
    store = LocalStore(home)
    try:
        reaped = wait_for(lambda: store.reap_stale_runs(LEASE, MAX_ATTEMPTS), LEASE + 10, "the reaper to see the lost runner", every=0.1)
        detected = time.monotonic() - killed_at
    finally:
        store.close()
    assert reaped == [run["id"]]
    (run,) = rows(home, "SELECT * FROM model_retraining_runs")
    (req,) = rows(home, "SELECT * FROM model_retraining_requests")
    assert run["status"] == "failed" and run["error_message"].startswith("runner lost"), run
    assert req["id"] == req_id and req["status"] == "pending" and req["attempts"] == 1 and req["last_error"].startswith("runner lost")
    versions = rows(home, "SELECT version, status FROM model_versions")
    assert versions == [{"version": 1, "status": "champion"}], versions  # nothing registered, nothing promoted
    return {"delay": delay, "detected": detected}


def test_sigkill_mid_training_is_detected_and_requeued(seeded_template: Path, tmp_path: Path, figures: Any) -> None:
    config = _config(tmp_path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: _trial(seeded_template, tmp_path / f"t{i}", config, seed=i), range(TRIALS)))
    worst = max(r["detected"] for r in results)
    # Detection: the last heartbeat was at most BEAT s before the kill; the poll adds 0.1 s.
    assert worst <= LEASE + 1.5, f"a lost runner was detected only after {worst:.2f} s"
    figures.add(
        "3a SIGKILL mid-training (random point)", f"{TRIALS} trials, lease {LEASE} s, heartbeat {BEAT} s",
        f"{TRIALS}/{TRIALS} runs failed 'runner lost', requests pending with attempts 1, 0 promoted; "
        f"detected {min(r['detected'] for r in results):.2f}-{worst:.2f} s after the kill (lease {LEASE} s)",
    )


def test_a_request_that_kills_its_runner_three_times_is_closed(seeded_home: Path, tmp_path: Path, figures: Any) -> None:
    config = _config(tmp_path)
    (req_id,) = add_requests(seeded_home, ["high"])
    markers = tmp_path / "markers"
    for attempt in range(1, MAX_ATTEMPTS + 1):
        # Wait until the previous lost run is stale, so that this runner's own sweep reaps it.
        wait_for(lambda: not rows(seeded_home, "SELECT 1 FROM model_retraining_runs WHERE status = 'running' AND "
                                               "heartbeat_at > strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', ?)", (f"-{LEASE + 0.3} seconds",)),
                 LEASE + 10, "the lost run to go stale")
        _start_and_kill_mid_training(seeded_home, config, markers, delay=0.2)
        (req,) = rows(seeded_home, "SELECT * FROM model_retraining_requests")
        assert req["status"] == "processing" and req["attempts"] == attempt
    time.sleep(LEASE + 0.5)
    fourth = run_runner(seeded_home, config, "--requests-only", "--as-of", AS_OF)
    assert fourth.returncode == 0, fourth.stderr
    assert "no pending request" in fourth.stdout
    runs = rows(seeded_home, "SELECT * FROM model_retraining_runs ORDER BY created_at")
    (req,) = rows(seeded_home, "SELECT * FROM model_retraining_requests")
    assert len(runs) == MAX_ATTEMPTS, "claimed a 4th time"
    assert all(r["status"] == "failed" and r["error_message"].startswith("runner lost") for r in runs)
    assert req["id"] == req_id and req["status"] == "failed" and req["attempts"] == MAX_ATTEMPTS
    assert "attempts exhausted" in req["last_error"] and req["processed_at"]
    assert rows(seeded_home, "SELECT version, status FROM model_versions") == [{"version": 1, "status": "champion"}]
    figures.add("3b poison request (kills its runner every time)", f"{MAX_ATTEMPTS} kills + 1 sweep",
                f"request failed after attempts {MAX_ATTEMPTS}/{MAX_ATTEMPTS} ('attempts exhausted'), {MAX_ATTEMPTS} failed runs, "
                "4th runner claimed nothing (exit 0), 0 promoted")


def test_crash_before_the_first_heartbeat_is_detected(seeded_home: Path, tmp_path: Path, figures: Any) -> None:
    from ml_pipeline.local_store import LocalStore

    config = _config(tmp_path)
    (req_id,) = add_requests(seeded_home, ["normal"])
    crashed = run_runner(seeded_home, config, "--requests-only", "--as-of", AS_OF, RELIABILITY_DIE_AFTER_CLAIM="1")
    assert crashed.returncode == -signal.SIGKILL
    (run,) = rows(seeded_home, "SELECT * FROM model_retraining_runs")
    assert run["status"] == "running" and run["heartbeat_at"] == run["started_at"], "a heartbeat was sent"
    store = LocalStore(seeded_home)
    try:
        t0 = time.monotonic()
        reaped = wait_for(lambda: store.reap_stale_runs(LEASE, MAX_ATTEMPTS), LEASE + 10, "the reaper", every=0.1)
        detected = time.monotonic() - t0
    finally:
        store.close()
    assert reaped == [run["id"]]
    (run,) = rows(seeded_home, "SELECT * FROM model_retraining_runs")
    (req,) = rows(seeded_home, "SELECT * FROM model_retraining_requests")
    assert run["status"] == "failed" and run["error_message"].startswith("runner lost")
    assert req["id"] == req_id and req["status"] == "pending" and req["attempts"] == 1
    figures.add("3c crash right after the claim (no heartbeat yet)", "1", f"run failed 'runner lost' {detected:.1f} s later, request pending, attempts 1")
