"""Scenario 2: two runners start the nightly run at the same moment (same UTC day).

Exactly one ``auto_daily`` run exists afterwards; the other runner exits 0 and says why.
Both runners are the real CLI released together by a barrier; their work is stubbed
(``RELIABILITY_FAST_WORK``) because the race is in ``create_run`` and the once-a-day unique
index, not in training. Local store (SQLite) and PostgreSQL (the migrations' partial unique
index on ``run_date``, reached by the real ``SupabaseStore`` through the PostgREST adapter
of tests/contract, which must turn the unique violation into ``DailyRunExistsError``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.reliability.conftest import AS_OF, kill_tree, rows, runner_env, start_runner, write_config

REPEATS = 10


def _pair(home: Path, config: Path, work: Path, **extra: str) -> list[tuple[int, str, str]]:
    barrier = work / "barrier"
    barrier.mkdir(parents=True)
    env = runner_env(home, config, RELIABILITY_FAST_WORK="1", RELIABILITY_BARRIER=str(barrier), LOG_LEVEL="INFO", **extra)
    procs = [start_runner(home, config, "--as-of", AS_OF, env=env) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while len(list(barrier.glob("*.ready"))) < 2:
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "runners did not start"
            time.sleep(0.01)
        (barrier / "go").touch()
        out = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            kill_tree(p)
    return [(p.returncode, o, e) for p, (o, e) in zip(procs, out, strict=True)]


def _check(results: list[tuple[int, str, str]]) -> None:
    assert [code for code, _, _ in results] == [0, 0], results
    winners = [r for r in results if "[auto_daily] completed" in r[1]]
    losers = [r for r in results if "nothing to do" in r[1]]
    assert len(winners) == 1 and len(losers) == 1, results
    assert "already exists" in losers[0][2] and "at most once a day" in losers[0][2]


def test_two_nightly_runners_at_once_local(tmp_path: Path, figures: Any) -> None:
    config = write_config(tmp_path, runner={"lease_seconds": 60, "heartbeat_seconds": 1, "max_attempts": 3})
    for repeat in range(REPEATS):
        work = tmp_path / f"r{repeat}"
        home = work / "home"
        _check(_pair(home, config, work))
        runs = rows(home, "SELECT source, status, run_date FROM model_retraining_runs")
        assert runs == [{"source": "auto_daily", "status": "completed", "run_date": "2026-11-20"}]
    figures.add("2a once-a-day guard, local store", f"{REPEATS} races of 2 nightly runners",
                f"{REPEATS}/{REPEATS}: exactly 1 auto_daily run; the other exited 0 with 'already exists ... at most once a day'")


def test_two_nightly_runners_at_once_postgres(tmp_path: Path, pg_cluster: Any, pg_template: str, figures: Any) -> None:
    config = write_config(tmp_path, runner={"lease_seconds": 60, "heartbeat_seconds": 1, "max_attempts": 3})
    for repeat in range(REPEATS):
        work = tmp_path / f"r{repeat}"
        db = pg_cluster.create_database(pg_cluster.unique_name(f"guard_{repeat}"), template=pg_template)
        try:
            _check(_pair(work / "home", config, work, RELIABILITY_SUPABASE_DSN=db.dsn))
            with db.connect() as admin:
                runs = admin.execute("select source, status, run_date::text from public.model_retraining_runs").fetchall()
        finally:
            db.drop()
        assert runs == [("auto_daily", "completed", "2026-11-20")]
    figures.add("2b once-a-day guard, PostgreSQL via SupabaseStore", f"{REPEATS} races of 2 nightly runners",
                f"{REPEATS}/{REPEATS}: exactly 1 auto_daily run (unique index on run_date); the other exited 0 saying why")
