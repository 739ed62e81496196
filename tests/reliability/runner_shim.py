"""Test-only launcher of the real runner: ``python tests/reliability/runner_shim.py ARGS``.

It runs ``ml_pipeline.auto_reinforcement.main(ARGS)`` unchanged (reaper, claims,
heartbeat thread, fencing, signal handling, finish) after applying the patches that the
reliability tests ask for through ``RELIABILITY_*`` environment variables. None of these
exist in the product: they live here so that production code has no test hooks.

- ``RELIABILITY_FAST_WORK=1``: replace ``Job._work`` (data loading + training, ~2 s a run)
  by a stub returning a ``completed`` result after ``RELIABILITY_WORK_SECONDS`` (default 0).
  Claim, run log, heartbeats, fenced finish and request settlement stay real. Used by the
  racing-runner test, which is about the queue, not about training.
- ``RELIABILITY_SLOW_TRAINER=SECONDS``: run ``slow_trainer.py`` instead of train_model.py;
  it touches ``RELIABILITY_MARKER_DIR/<pid>.started`` (if set), sleeps SECONDS and then
  runs the real trainer, so "mid-training" is a window the tests can hit.
- ``RELIABILITY_CLAIM_LOG=DIR``: record every claim as a JSON line in ``DIR/<pid>.jsonl``
  (request id, priority, monotonic time before the call and after it returned).
- ``RELIABILITY_SUPABASE_DSN=DSN``: open the real ``SupabaseStore`` whose HTTP traffic goes
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

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ml_pipeline import auto_reinforcement as ar  # noqa: E402
from ml_pipeline import store as store_module  # noqa: E402


def _fast_work(self, run, token, workdir, beat, **_: object) -> dict:  # type: ignore[no-untyped-def]
    delay = float(os.environ.get("RELIABILITY_WORK_SECONDS", "0") or 0)
    if delay:
        time.sleep(delay)
    self.cancel.check()
    metrics = {"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1_score": 0.9, "promoted": False,
               "promotion_reason": "stub work (reliability test)", "model_version": None}
    return {"status": "completed", "dataset_size": 10, "metrics": metrics, "source": run.source}


def _patch_slow_trainer(seconds: float) -> None:
    original = ar.Job._run_trainer

    def run_trainer(self, cmd, timeout):  # type: ignore[no-untyped-def]
        cmd = [cmd[0], str(HERE / "slow_trainer.py"), "--reliability-sleep", str(seconds),
               "--reliability-marker-dir", os.environ.get("RELIABILITY_MARKER_DIR", ""), *cmd[2:]]
        return original(self, cmd, timeout)

    ar.Job._run_trainer = run_trainer  # type: ignore[method-assign]


def _wrap_claims(store: object, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    out = open(directory / f"{os.getpid()}.jsonl", "a", buffering=1, encoding="utf-8")  # noqa: SIM115
    claim = store.claim_next_request  # type: ignore[attr-defined]

    def claim_next_request(**kwargs):  # type: ignore[no-untyped-def]
        t_call = time.monotonic()
        result = claim(**kwargs)
        t_ret = time.monotonic()
        if result is not None:
            out.write(json.dumps({"pid": os.getpid(), "request_id": str(result.request.id), "run_id": str(result.run.id),
                                  "priority": result.request.priority, "t_call": t_call, "t_ret": t_ret}) + "\n")
        return result

    store.claim_next_request = claim_next_request  # type: ignore[attr-defined]


def _patch_open_store() -> None:
    original = store_module.open_store
    claim_log = os.environ.get("RELIABILITY_CLAIM_LOG")
    die = os.environ.get("RELIABILITY_DIE_AFTER_CLAIM")
    supabase_dsn = os.environ.get("RELIABILITY_SUPABASE_DSN")

    def open_store(settings):  # type: ignore[no-untyped-def]
        if supabase_dsn:
            import httpx

            from ml_pipeline.supabase_client import SupabaseStore
            from tests.contract.postgrest_adapter import SupabaseEmulator

            key = "reliability-test-service-key-not-a-secret"
            http = httpx.Client(transport=httpx.MockTransport(SupabaseEmulator(supabase_dsn, key)), timeout=30)
            store = SupabaseStore("http://supabase.reliability.test", key, http_client=http, backoff=0.05)
        else:
            store = original(settings)
        if claim_log:
            _wrap_claims(store, Path(claim_log))
        if die:
            claim = store.claim_next_request

            def claim_then_die(**kwargs):  # type: ignore[no-untyped-def]
                result = claim(**kwargs)
                if result is not None:
                    os.kill(os.getpid(), signal.SIGKILL)
                return result

            store.claim_next_request = claim_then_die
        return store

    store_module.open_store = open_store


def main() -> int:
    env = os.environ
    if env.get("RELIABILITY_FAST_WORK"):
        ar.Job._work = _fast_work  # type: ignore[method-assign]
    if env.get("RELIABILITY_SLOW_TRAINER"):
        _patch_slow_trainer(float(env["RELIABILITY_SLOW_TRAINER"]))
    if any(env.get(k) for k in ("RELIABILITY_CLAIM_LOG", "RELIABILITY_SUPABASE_DSN", "RELIABILITY_DIE_AFTER_CLAIM")):
        _patch_open_store()
    barrier = env.get("RELIABILITY_BARRIER")
    if barrier:
        import ml_pipeline.config, ml_pipeline.data_loader, ml_pipeline.local_store, ml_pipeline.registry  # noqa: F401,E401

        (Path(barrier) / f"{os.getpid()}.ready").touch()
        deadline = time.monotonic() + 120
        while not (Path(barrier) / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.005)
    return ar.main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
