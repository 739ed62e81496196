"""Scenario 5: cancellation the way GitHub Actions does it.

The runner gets SIGINT; if it is still alive 7.5 s later, SIGTERM; 2.5 s after that,
SIGKILL of the whole tree. The signal lands at a random point of training (slow trainer),
with a second request still pending. Expected: the run ends ``failed`` with "cancelled",
its request is pending again (attempts counted), the second request was not claimed, the
process exits non-zero on its own (before the SIGKILL), and no trainer is left behind.
Two deliveries: to the runner process only, and to its whole process group (Ctrl-C).
"""

from __future__ import annotations

import os
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.reliability.conftest import AS_OF, add_requests, kill_tree, rows, start_runner, wait_for, write_config

TRAIN_SLEEP = 2.0


def _cancel_like_github(proc: Any, group: bool) -> tuple[float, list[str]]:
    """SIGINT, 7.5 s, SIGTERM, 2.5 s, SIGKILL; returns (seconds to exit, signals sent)."""
    send = (lambda s: os.killpg(proc.pid, s)) if group else (lambda s: os.kill(proc.pid, s))
    t0, sent = time.monotonic(), ["SIGINT"]
    send(signal.SIGINT)
    for wait, sig in ((7.5, signal.SIGTERM), (2.5, signal.SIGKILL)):
        try:
            proc.wait(timeout=wait)
            break
        except Exception:  # subprocess.TimeoutExpired
            sent.append(sig.name)
            (kill_tree(proc, sig) if sig == signal.SIGKILL else send(sig))
    proc.wait(timeout=30)
    return time.monotonic() - t0, sent


def _trial(home: Path, config: Path, markers: Path, *, group: bool, seed: int) -> dict[str, Any]:
    first, second = add_requests(home, ["high", "low"])
    proc = start_runner(home, config, "--requests-only", "--as-of", AS_OF, RELIABILITY_SLOW_TRAINER=str(TRAIN_SLEEP), RELIABILITY_MARKER_DIR=str(markers))
    try:
        started = wait_for(lambda: list(markers.glob("*.started")) or proc.poll() is not None, 90, "training to start")
        assert proc.poll() is None, proc.communicate()
        trainer_pid = int(started[0].stem)
        time.sleep(random.Random(seed).uniform(0.05, TRAIN_SLEEP - 0.1))
        took, sent = _cancel_like_github(proc, group)
        out, err = proc.communicate()
    finally:
        kill_tree(proc)
    assert sent == ["SIGINT"], f"needed {sent} ({took:.1f} s): {err[-2000:]}"
    assert proc.returncode == 1, (proc.returncode, err[-2000:])
    runs = rows(home, "SELECT * FROM model_retraining_runs")
    assert len(runs) == 1, "claimed something after the signal"
    (run,) = runs
    req = {r["id"]: r for r in rows(home, "SELECT * FROM model_retraining_requests")}
    assert run["status"] == "failed" and "cancelled" in run["error_message"] and "SIGINT" in run["error_message"], run
    assert run["request_id"] == first and req[first]["status"] == "pending" and req[first]["attempts"] == 1
    assert "cancelled" in req[first]["last_error"]
    assert req[second]["status"] == "pending" and req[second]["attempts"] == 0
    assert rows(home, "SELECT version, status FROM model_versions") == [{"version": 1, "status": "champion"}]
    assert (home / "buckets" / run["log_url"]).is_file(), "the cancelled run's log was not stored"
    try:
        os.kill(trainer_pid, 0)
        orphan = True
    except ProcessLookupError:
        orphan = False
    assert not orphan, f"trainer {trainer_pid} still running after the runner exited"
    return {"took": took}


def test_cancellation_like_github_actions(seeded_template: Path, tmp_path: Path, figures: Any) -> None:
    import shutil

    config = write_config(tmp_path, runner={"lease_seconds": 2, "heartbeat_seconds": 0.5, "max_attempts": 3})

    def one(args: tuple[bool, int]) -> dict[str, Any]:
        group, seed = args
        home = tmp_path / f"c{seed}" / "home"
        shutil.copytree(seeded_template, home)
        return _trial(home, config, tmp_path / f"c{seed}" / "markers", group=group, seed=seed)

    modes = [(False, 0), (True, 1), (False, 2), (True, 3)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, modes))
    worst = max(r["took"] for r in results)
    figures.add("5 cancellation (SIGINT, 7.5 s, SIGTERM, 2.5 s, SIGKILL)", f"{len(modes)} (signal to the runner x2, to its group x2)",
                f"{len(modes)}/{len(modes)}: run failed 'cancelled: received SIGINT', request re-queued (attempts 1), 2nd request "
                f"not claimed, exit 1 within {worst:.1f} s of SIGINT (no SIGTERM/SIGKILL needed), no trainer left")
