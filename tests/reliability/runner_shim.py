"""Test-only launcher of the real runner: ``python tests/reliability/runner_shim.py ARGS``.

It runs ``ml_pipeline.auto_reinforcement.main(ARGS, open_store=..., trainer=...)``: the
real reaper, claims, heartbeat thread, fencing, signal handling and finish, with the store
opener and the trainer that the reliability tests ask for through ``RELIABILITY_*``
environment variables (the job takes both as parameters; nothing is monkeypatched except
``RELIABILITY_FAST_WORK``).

- ``RELIABILITY_FAST_WORK=1``: replace ``Job._work`` (data loading + training, ~2 s a run)
  by a stub returning a ``completed`` result after ``RELIABILITY_WORK_SECONDS`` (default 0).
  Claim, run log, heartbeats, fenced finish and request settlement stay real. Used by the
  racing-runner and daily-guard tests, which are about the queue, not about training.
- ``RELIABILITY_SLOW_TRAINER=SECONDS``: the trainer is ``slow_trainer.py`` (touches
  ``RELIABILITY_MARKER_DIR/<pid>.started`` if set, sleeps SECONDS, then runs the real
  train_model.py), so "mid-training" is a window the tests can hit.
- ``RELIABILITY_CLAIM_LOG=DIR``: record every claim as a JSON line in ``DIR/<pid>.jsonl``
  (request id, priority, monotonic time before the call and after it returned).
- ``RELIABILITY_SUPABASE_DSN=DSN``: the real ``SupabaseStore`` whose HTTP traffic goes
  through tests/contract/postgrest_adapter.py (PostgREST as SQL on that database as
  ``service_role``, Storage in memory) instead of the local store.
- ``RELIABILITY_DIE_AFTER_CLAIM=1``: the process SIGKILLs itself right after its first
  claim commits, before the run's first heartbeat (a crash the reaper must still see).
- ``RELIABILITY_BARRIER=DIR``: touch ``DIR/<pid>.ready`` once imported, then wait for
  ``DIR/go`` before starting, so that racing runners really start together.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ml_pipeline import auto_reinforcement as ar  # noqa: E402
from ml_pipeline.backends import open_store as real_open_store  # noqa: E402


def _fast_work(self: ar.Job, run: Any, token: str, workdir: Path, beat: Any, **_: object) -> dict[str, Any]:
    delay = float(os.environ.get("RELIABILITY_WORK_SECONDS", "0") or 0)
    if delay:
        time.sleep(delay)
    self.cancel.check()
    metrics = {"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1_score": 0.9, "promoted": False,
               "promotion_reason": "stub work (reliability test)", "model_version": None}
    return {"status": "completed", "dataset_size": 10, "metrics": metrics, "source": run.source}


def _wrap_claims(store: Any, out: Any, die: bool) -> None:
    claim = store.claim_next_request

    def claim_next_request(**kwargs: Any) -> Any:
        t_call = time.monotonic()
        result = claim(**kwargs)
        t_ret = time.monotonic()
        if result is not None and out is not None:
            out.write(json.dumps({"pid": os.getpid(), "request_id": str(result.request.id), "run_id": str(result.run.id),
                                  "priority": result.request.priority, "t_call": t_call, "t_ret": t_ret}) + "\n")
        if result is not None and die:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    store.claim_next_request = claim_next_request


def open_store(settings: Any) -> Any:
    dsn = os.environ.get("RELIABILITY_SUPABASE_DSN")
    if dsn:
        import httpx

        from ml_pipeline.supabase_client import SupabaseStore
        from tests.contract.postgrest_adapter import SupabaseEmulator

        key = "reliability-test-service-key-not-a-secret"
        http = httpx.Client(transport=httpx.MockTransport(SupabaseEmulator(dsn, key)), timeout=30)
        store: Any = SupabaseStore("http://supabase.reliability.test", key, http_client=http, backoff=0.05)
    else:
        store = real_open_store(settings)
    claim_log = os.environ.get("RELIABILITY_CLAIM_LOG")
    out = None
    if claim_log:
        Path(claim_log).mkdir(parents=True, exist_ok=True)
        out = open(Path(claim_log) / f"{os.getpid()}.jsonl", "a", buffering=1, encoding="utf-8")  # noqa: SIM115
    if out is not None or os.environ.get("RELIABILITY_DIE_AFTER_CLAIM"):
        _wrap_claims(store, out, bool(os.environ.get("RELIABILITY_DIE_AFTER_CLAIM")))
    return store


def main() -> int:
    env = os.environ
    if env.get("RELIABILITY_FAST_WORK"):
        ar.Job._work = _fast_work  # type: ignore[method-assign,assignment]
    trainer = None
    if env.get("RELIABILITY_SLOW_TRAINER"):
        trainer = ar.SubprocessTrainer(script=HERE / "slow_trainer.py", extra_args=(
            "--reliability-sleep", env["RELIABILITY_SLOW_TRAINER"], "--reliability-marker-dir", env.get("RELIABILITY_MARKER_DIR", "")))
    barrier = env.get("RELIABILITY_BARRIER")
    if barrier:
        import ml_pipeline.config  # noqa: F401,E401

        (Path(barrier) / f"{os.getpid()}.ready").touch()
        deadline = time.monotonic() + 120
        while not (Path(barrier) / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.005)
    return ar.main(sys.argv[1:], open_store=open_store, trainer=trainer)


if __name__ == "__main__":
    raise SystemExit(main())
