"""Test-only trainer: announce the start, sleep, then run the real train_model.py.

``python slow_trainer.py --reliability-sleep S --reliability-marker-dir DIR <train_model.py flags>``

The sleep makes "the runner is in the middle of training" a window of S seconds that the
reliability tests can hit with SIGKILL, SIGSTOP or SIGINT at a random point. The marker
file ``DIR/<pid>.started`` tells the test that training has begun (the runner passes the
trainer only a minimal environment, so the settings travel as flags).
"""

from __future__ import annotations

import runpy
import sys
import time
from pathlib import Path

TRAINER = Path(__file__).resolve().parents[2] / "ml_pipeline" / "train_model.py"


def main() -> None:
    argv = sys.argv[1:]
    sleep = float(argv[argv.index("--reliability-sleep") + 1])
    marker_dir = argv[argv.index("--reliability-marker-dir") + 1]
    rest = [a for i, a in enumerate(argv) if i not in {argv.index("--reliability-sleep"), argv.index("--reliability-sleep") + 1,
                                                     argv.index("--reliability-marker-dir"), argv.index("--reliability-marker-dir") + 1}]
    if marker_dir:
        import os

        Path(marker_dir).mkdir(parents=True, exist_ok=True)
        (Path(marker_dir) / f"{os.getpid()}.started").write_text(str(time.time()))
    time.sleep(sleep)
    sys.argv = [str(TRAINER), *rest]
    runpy.run_path(str(TRAINER), run_name="__main__")


if __name__ == "__main__":
    main()
