"""A runner killed alone (SIGKILL to its pid, not its group) takes its trainer with it.

The trainer subprocess is started with PR_SET_PDEATHSIG (Linux), so no orphan keeps
training, burning CPU beside the retry and leaving its temporary folder behind.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

from tests.reliability.conftest import AS_OF, add_requests, kill_tree, start_runner, wait_for, write_config


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by init) no longer runs
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_sigkill_of_the_runner_alone_stops_the_trainer(seeded_template: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(seeded_template, home)
    config = write_config(tmp_path, runner={"lease_seconds": 2, "heartbeat_seconds": 0.5, "max_attempts": 3})
    markers = tmp_path / "markers"
    add_requests(home, ["normal"])
    proc = start_runner(home, config, "--requests-only", "--as-of", AS_OF, RELIABILITY_SLOW_TRAINER="30", RELIABILITY_MARKER_DIR=str(markers))
    try:
        started = wait_for(lambda: list(markers.glob("*.started")) or proc.poll() is not None, 90, "training to start")
        assert proc.poll() is None, proc.communicate()
        trainer_pid = int(started[0].stem)
        assert _alive(trainer_pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_for(lambda: not _alive(trainer_pid), 10, "the orphaned trainer to stop")
    finally:
        kill_tree(proc)
