"""Fixtures of the reliability suite: seeded stores, runner processes, the figures table.

Runners are real processes (``runner_shim.py`` = ``python -m ml_pipeline.auto_reinforcement``
plus test-only patches). Each test records its outcome figures with ``figures.add(...)``;
the table is printed at the end of the pytest run (closing note of issue 7).
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHIM = HERE / "runner_shim.py"
END_DAY = date(2026, 11, 20)
AS_OF = "2026-11-20T02:00:00Z"
USER = "00000000-0000-4000-8000-{:012x}"

_FIGURES: list[tuple[str, str, str]] = []


class Figures:
    """Rows of the closing table: scenario, trials, outcome."""

    def add(self, scenario: str, trials: str, outcome: str) -> None:
        _FIGURES.append((scenario, trials, outcome))


@pytest.fixture(scope="session")
def figures() -> Figures:
    return Figures()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    tr = terminalreporter
    tr.section("reliability figures (issue 7)")
    tr.write_line("| scenario | trials | outcome |")
    tr.write_line("|---|---|---|")
    for row in _FIGURES:
        tr.write_line("| " + " | ".join(row) + " |")


def write_config(directory: Path, **sections: dict[str, Any]) -> Path:
    """model_config.yaml of the repository with some sections' keys replaced."""
    data = yaml.safe_load((REPO / "model_config.yaml").read_text())
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model_config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local store home with a small sample log (8 days x 120 rows) and the base model as v1."""
    from ml_pipeline import model_io
    from ml_pipeline.config import load_settings
    from ml_pipeline.local_store import LocalStore
    from ml_pipeline.records import BUCKET_EVALUATION_LOGS
    from ml_pipeline.registry import Registry
    from ml_pipeline.sample_data import base_model, evaluation_log

    root = tmp_path_factory.mktemp("seeded")
    home = root / "home"
    settings = load_settings({"home": str(home), "config_path": str(REPO / "model_config.yaml"), "backend": "local"}, env={})
    store = LocalStore(home)
    model = base_model()
    store.put_object(BUCKET_EVALUATION_LOGS, "evaluation_log.csv", evaluation_log(model, END_DAY, days=8, per_day=120).to_csv(index=False).encode())
    model_io.dump(model, root / "base.skops")
    Registry(store, home / "cache").register(root / "base.skops", list(settings.model.model.classes))
    store.close()
    return home


@pytest.fixture
def seeded_home(seeded_template: Path, tmp_path: Path) -> Path:
    """A private copy of the seeded store."""
    home = tmp_path / "home"
    shutil.copytree(seeded_template, home)
    return home


def runner_env(home: Path, config: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "ML_PIPELINE_", "RELIABILITY_"))}
    env.update(ML_PIPELINE_HOME=str(home), ML_PIPELINE_CONFIG=str(config), PYTHONPATH=str(REPO), ML_PIPELINE_BACKEND="local",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.update(extra)
    return env


def start_runner(home: Path, config: Path, *args: str, env: dict[str, str] | None = None, **extra: str) -> subprocess.Popen[str]:
    """A runner process in its own session (so a whole tree can be signalled), output captured."""
    return subprocess.Popen(
        [sys.executable, str(SHIM), *args], cwd=str(home.parent), env=env or runner_env(home, config, **extra),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def run_runner(home: Path, config: Path, *args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
    proc = start_runner(home, config, *args, **extra)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        out, err = proc.communicate()
        raise AssertionError(f"runner did not finish within {timeout} s:\n{err[-3000:]}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kill_tree(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def rows(home: Path, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    conn = sqlite3.connect(home / "store.db", timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def add_requests(home: Path, priorities: list[str]) -> list[str]:
    """Queue one request per priority (distinct users), in order, through the store API."""
    from ml_pipeline.local_store import LocalStore

    store = LocalStore(home)
    try:
        return [store.create_request(USER.format(i + 1), reason=f"r{i}", priority=p).id for i, p in enumerate(priorities)]
    finally:
        store.close()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
