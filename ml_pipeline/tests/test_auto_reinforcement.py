"""The job (auto_reinforcement.py) in-process on the in-memory store with a fake trainer.

The data step is real (the sample log goes through data_loader); the trainer is
:class:`FakeTrainer`, which writes a model file and reports the metrics a test chooses, so
the promotion gate, fencing, request settlement and logs are tested without a subprocess.
The clock is a parameter of both the job and the store, so stale leases are made by moving
time instead of sleeping. Real SQLite and the real trainer subprocess are exercised by
tests/acceptance (the CLIs) and tests/reliability (crashes, races, signals).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ml_pipeline.auto_reinforcement import Job, SubprocessTrainer, TrainingJob, main, minimal_env, parse_trainer_output, run_job
from ml_pipeline.checksums import sha256_bytes, sha256_file
from ml_pipeline.errors import StoreError, TrainingError
from ml_pipeline.memory_store import MemoryStore
from ml_pipeline.records import BUCKET_EVALUATION_LOGS, BUCKET_MODELS, BUCKET_TRAINING_LOGS
from ml_pipeline.registry import Registry

from .conftest import AS_OF, put_log

USER_A = "00000000-0000-4000-8000-00000000000a"
USER_B = "00000000-0000-4000-8000-00000000000b"
GOOD = {"accuracy": 0.62, "precision": 0.6, "recall": 0.6, "f1_score": 0.6, "balanced_accuracy": 0.6}
BASELINE = {"accuracy": 0.55, "precision": 0.5, "recall": 0.5, "f1_score": 0.5, "balanced_accuracy": 0.5}


class Clock:
    """A settable "now" shared by the job and the store."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class FakeTrainer:
    """Writes a small model file and reports chosen metrics; records every TrainingJob."""

    def __init__(self, metrics: dict[str, float] | None = None, baseline: dict[str, float] | None = None, error: Exception | None = None,
                 during: Any = None) -> None:
        self.metrics, self.baseline, self.error, self.during = metrics or GOOD, baseline or BASELINE, error, during
        self.jobs: list[TrainingJob] = []

    def __call__(self, job: TrainingJob, timeout: int, cancel: Any) -> dict[str, Any]:
        self.jobs.append(job)
        if self.during is not None:
            self.during()
        if self.error is not None:
            raise self.error
        assert job.dataset.is_file() and job.holdout.is_file() and timeout > 0
        if job.model_path is not None:  # the job hands over a verified champion
            assert sha256_file(job.model_path) == job.model_sha256
        data = f"model {len(self.jobs)} fine_tune={job.fine_tune}".encode()
        job.output_dir.mkdir(parents=True, exist_ok=True)
        (job.output_dir / "model.joblib").write_bytes(data)
        metrics = {**self.metrics, "baseline": dict(self.baseline) if job.model_path else None, "holdout_size": 400,
                   "evaluated_on": "holdout", "fine_tuned": job.fine_tune}
        if job.model_path:  # the paired evidence the real trainer records: clear when the gap is wide
            delta = self.metrics["f1_score"] - self.baseline["f1_score"]
            metrics["paired"] = {"metric": "f1_score", "delta": delta, "ci_low": delta - 0.05, "ci_high": delta + 0.05, "confidence": 0.95,
                                 "candidate_only_right": 60, "baseline_only_right": 30, "n": 400}
        return {"status": "ok", "model_path": str(job.output_dir / "model.joblib"), "sha256": sha256_bytes(data), "size_bytes": len(data),
                "sklearn_version": "fake", "estimator": "SGDClassifier", "fine_tunable": True, "fine_tuned": job.fine_tune,
                "parent_version": None, "note": None, "metrics": metrics}


@pytest.fixture(scope="session")
def base_model_file(base_model, tmp_path_factory):
    from ml_pipeline import model_io

    path = tmp_path_factory.mktemp("model") / "base.skops"
    model_io.dump(base_model, path)
    return path


@pytest.fixture
def clock():
    return Clock(AS_OF)


@pytest.fixture
def mem(settings, sample_log, base_model_file, clock, inspect_once):
    """A MemoryStore holding the sample log and the base model as champion v1."""
    store = MemoryStore(clock=clock)
    put_log(store, sample_log)
    Registry(store, settings.home / "cache").register(base_model_file, list(settings.model.model.classes))
    return store


def job(settings, store, trainer=None, clock=None, as_of=AS_OF):
    return Job(settings, store, as_of=as_of, trainer=trainer or FakeTrainer(), clock=clock or Clock(as_of))


def with_section(settings, section, **changes):
    m = settings.model
    return settings.with_overrides(model=m.model_copy(update={section: getattr(m, section).model_copy(update=changes)}))


def test_nightly_run_completes_with_metrics_gate_log_and_version(mem, settings):
    trainer = FakeTrainer()
    j = job(settings, mem, trainer)
    j.nightly()
    assert j.exit_code() == 0
    run = mem.list_runs()[0]
    assert run.status == "completed" and run.source == "auto_daily" and run.fine_tune_flag
    m = run.metrics
    assert {k: m[k] for k in GOOD} == GOOD and m["baseline"] == BASELINE
    assert m["promoted"] is True and "f1_score 0.6000 > baseline 0.5000; paired bootstrap 95% lower bound" in m["promotion_reason"]
    assert "balanced_accuracy within 0.0100" in m["promotion_reason"]
    promotion = settings.model.promotion  # recorded so alerts.py and the page judge "worse" by the gate that ran
    assert {k: m["gate"][k] for k in ("primary_metric", "min_delta", "guard_metrics")} == {
        "primary_metric": promotion.primary_metric, "min_delta": promotion.min_delta, "guard_metrics": dict(promotion.guard_metrics)}
    assert m["gate"]["paired_test"] == "bootstrap" and m["gate"]["confidence"] == 0.95 and m["gate"]["reference_lag"] == 5
    assert run.dataset_size == m["error_count"] >= 10
    assert run.log_url == f"training-logs/{run.id}.log"
    log_text = mem.get_object(BUCKET_TRAINING_LOGS, f"{run.id}.log").decode()
    assert "decay check" in log_text and "promoted v2" in log_text
    mv = mem.get_model_version(run.model_version)
    assert mv.run_id == run.id and mv.parent_version == 1 and mem.get_champion().version == mv.version
    assert mem.get_object(BUCKET_MODELS, mv.storage_path) == b"model 1 fine_tune=True"
    (tj,) = trainer.jobs
    assert tj.fine_tune and tj.epochs == settings.epochs and tj.learning_rate == settings.learning_rate and tj.model_path is not None


def test_second_nightly_run_the_same_utc_day_does_nothing(mem, settings):
    job(settings, mem).nightly()
    again = job(settings, mem, as_of=AS_OF + timedelta(hours=20))
    again.nightly()
    assert again.outcomes == [] and again.exit_code() == 0
    assert [r.source for r in mem.list_runs()] == ["auto_daily"]
    next_day = job(settings, mem, as_of=AS_OF + timedelta(days=1))
    next_day.nightly()
    assert len(mem.list_runs()) == 2


def test_worse_candidate_is_rejected_and_champion_stays(mem, settings):
    worse = {"accuracy": 0.40, "precision": 0.4, "recall": 0.4, "f1_score": 0.4, "balanced_accuracy": 0.4}
    j = job(settings, mem, FakeTrainer(metrics=worse))
    j.nightly()
    run = mem.list_runs()[0]
    assert run.status == "completed" and run.metrics["promoted"] is False
    assert "f1_score 0.4000 is below the baseline 0.5000" in run.metrics["promotion_reason"]
    assert mem.get_champion().version == 1
    assert mem.get_model_version(run.model_version).status == "rejected"
    assert j.exit_code() == 0


def test_guard_metric_drop_rejects_a_better_primary_metric(mem, settings):
    better_f1_worse_accuracy = {"accuracy": 0.45, "precision": 0.7, "recall": 0.7, "f1_score": 0.7, "balanced_accuracy": 0.7}
    job(settings, mem, FakeTrainer(metrics=better_f1_worse_accuracy)).nightly()
    run = mem.list_runs()[0]
    assert run.metrics["promoted"] is False and "accuracy dropped 0.1000" in run.metrics["promotion_reason"]


def test_requests_run_by_priority_each_linked_to_its_run(mem, settings):
    low = mem.create_request(USER_A, "low first", "low")
    high = mem.create_request(USER_B, "high second", "high")
    j = job(settings, mem)
    j.process_requests()
    assert [o.request_id for o in j.outcomes] == [high.id, low.id]
    for req, user in ((high, USER_B), (low, USER_A)):
        r = mem.get_request(req.id)
        run = mem.get_run(r.retraining_run_id)
        assert r.status == "completed" and r.processed_at and r.attempts == 1
        assert run.request_id == req.id and run.triggered_by == user and run.source == "manual"


def test_requests_do_not_replace_the_nightly_run(mem, settings):
    mem.create_request(USER_A, None, "normal")
    j = job(settings, mem)
    j.process_requests()
    j.nightly()
    assert sorted(r.source for r in mem.list_runs()) == ["auto_daily", "manual"]


def test_transient_failure_requeues_the_request_once_per_invocation(mem, settings):
    req = mem.create_request(USER_A, None, "normal")
    other = mem.create_request(USER_B, None, "low")
    killed = TrainingError("train_model.py was killed by SIGKILL")
    killed.retryable = True  # as SubprocessTrainer marks every failure but bad input (exit 2)
    trainer = FakeTrainer(error=killed)
    j = job(settings, mem, trainer)
    j.process_requests()
    r = mem.get_request(req.id)
    assert r.status == "pending" and r.attempts == 1 and "SIGKILL" in r.last_error  # retryable: back in the queue
    assert mem.get_request(other.id).attempts == 1 and len(trainer.jobs) == 2  # each tried once, none retried within this invocation
    trainer.error = None
    job(settings, mem, trainer).process_requests()
    assert [(mem.get_request(r.id).status, mem.get_request(r.id).attempts) for r in (req, other)] == [("completed", 2)] * 2


def test_caller_bug_in_the_trainer_fails_the_request_without_retry(mem, settings):
    req = mem.create_request(USER_A, None, "normal")
    bad_input = TrainingError("train_model.py failed (exit code 2): dataset has no rows")
    bad_input.retryable = False
    j = job(settings, mem, FakeTrainer(error=bad_input))
    j.process_requests()
    assert mem.get_request(req.id).status == "failed" and j.exit_code() == 1


def test_too_few_errors_is_a_skipped_run_with_reason(mem, settings):
    trainer = FakeTrainer()
    j = job(settings.with_overrides(min_error_samples=100_000), mem, trainer)
    j.nightly()
    run = mem.list_runs()[0]
    assert run.status == "skipped" and j.exit_code() == 0
    assert "at least 100000 are needed" in run.skip_reason and run.dataset_size > 0
    assert trainer.jobs == [] and mem.get_champion().version == 1


def test_broken_log_fails_the_run_and_the_request_without_retry(mem, settings):
    mem.put_object(BUCKET_EVALUATION_LOGS, "evaluation_log.csv", b"prediction_id,created_at\n1,2026-11-19\n")
    req = mem.create_request(USER_A, "please", "normal")
    j = job(settings, mem)
    j.process_requests()
    run = mem.list_runs()[0]
    assert run.status == "failed" and "missing column(s)" in run.error_message and "model_config.yaml" in run.error_message
    assert run.log_url and "missing column(s)" in mem.get_object(BUCKET_TRAINING_LOGS, f"{run.id}.log").decode()
    assert mem.get_request(req.id).status == "failed"  # the error would recur: not re-queued
    assert j.exit_code() == 1
    assert mem.get_champion().version == 1 and len(mem.list_model_versions()) == 1


def test_tampered_champion_fails_the_run_with_a_checksum_error(mem, settings, tmp_path):
    mv = mem.get_champion()
    data = bytearray(mem.get_object(BUCKET_MODELS, mv.storage_path))
    data[100] ^= 0xFF
    mem.put_object(BUCKET_MODELS, mv.storage_path, bytes(data))
    trainer = FakeTrainer()
    j = job(settings.with_overrides(home=tmp_path / "fresh-cache"), mem, trainer)
    j.nightly()
    run = mem.list_runs()[0]
    assert run.status == "failed" and "sha256" in run.error_message and "refusing to load it" in run.error_message
    assert trainer.jobs == [] and mem.get_champion().version == 1


def test_stale_run_is_reaped_and_its_request_requeued(mem, settings, clock):
    req = mem.create_request(USER_A, None, "high")
    claim = mem.claim_next_request(runner="dead:1", lease_token="t", as_of=AS_OF)
    clock.advance(seconds=601)  # no heartbeat for longer than the 600 s lease
    j = job(settings, mem, clock=clock)
    assert j.reap() == [claim.run.id]
    run = mem.get_run(claim.run.id)
    assert run.status == "failed" and run.error_message.startswith("runner lost: no heartbeat for more than 600 s")
    r = mem.get_request(req.id)
    assert r.status == "pending" and r.attempts == 1 and "runner lost" in r.last_error
    j.process_requests()
    assert mem.get_request(req.id).status == "completed" and mem.get_request(req.id).attempts == 2


def test_cancellation_fails_the_run_and_requeues_the_request(mem, settings):
    req = mem.create_request(USER_A, None, "normal")
    j = job(settings, mem)
    claim = mem.claim_next_request(runner=j.runner, lease_token="tok", as_of=AS_OF)
    j.cancel.signal_name = "SIGINT"
    j.cancel.event.set()
    j.execute(claim.run, "tok", fine_tune=True, lookback_days=None, request_id=req.id, attempts=1)
    run = mem.get_run(claim.run.id)
    assert run.status == "failed" and run.error_message == "cancelled: received SIGINT"
    assert mem.get_request(req.id).status == "pending"
    assert j.exit_code() == 1


def test_decay_triggers_a_from_scratch_run_on_every_labelled_row(mem, settings):
    s = with_section(settings, "decay", max_accuracy_drop=0.001, recent_days=3, reference_days=10)
    trainer = FakeTrainer()
    j = job(s, mem, trainer)
    j.nightly()
    run = mem.list_runs()[0]
    assert run.source == "decay_triggered" and run.fine_tune_flag is False and run.status == "completed"
    (tj,) = trainer.jobs
    assert tj.fine_tune is False and tj.dataset.name == "training_full.csv"
    assert "model decay detected" in mem.get_object(BUCKET_TRAINING_LOGS, f"{run.id}.log").decode()


def test_lost_lease_writes_nothing(mem, settings, clock):
    mem.create_request(USER_A, None, "normal")
    j = job(settings, mem, FakeTrainer(during=lambda: (clock.advance(seconds=601), mem.reap_stale_runs(600, 3))), clock=clock)
    j.process_requests()  # another runner reaps the run while it trains
    assert j.exit_code() == 1 and j.lease_lost and [o.status for o in j.outcomes] == ["lost"]
    run = mem.list_runs()[0]
    assert run.status == "failed" and run.error_message.startswith("runner lost")  # as the reaper left it
    assert [v.version for v in mem.list_model_versions()] == [1] and mem.get_champion().version == 1
    assert mem.list_objects(BUCKET_TRAINING_LOGS) == []


def test_champion_changed_during_the_run_is_not_replaced(mem, settings, base_model_file):
    def someone_promotes_another_model() -> None:
        other = Registry(mem, settings.home / "cache2").register(base_model_file, list(settings.model.model.classes), note="by hand")[0]
        assert mem.get_champion().version == other.version

    job(settings, mem, FakeTrainer(during=someone_promotes_another_model)).nightly()
    run = mem.list_runs()[0]
    assert run.metrics["promoted"] is False and "the champion changed during this run" in run.metrics["promotion_reason"]


def test_trainer_output_must_end_with_one_json_line():
    assert parse_trainer_output('log line\n{"status": "ok"}\n', 0) == {"status": "ok"}
    with pytest.raises(TrainingError, match="not JSON"):
        parse_trainer_output(json.dumps({"status": "ok"}, indent=2), 0)  # PITFALL: indented JSON
    with pytest.raises(TrainingError, match="printed no result line"):
        parse_trainer_output("", 1)


def test_trainer_environment_has_no_secrets(monkeypatch):
    monkeypatch.setenv("SUPABASE_SERVICE_KEY", "service-role-secret")
    monkeypatch.setenv("SUPABASE_URL", "https://x.supabase.co")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nope")
    env = minimal_env()
    assert "service-role-secret" not in env.values() and "SUPABASE_URL" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert "PATH" in env


def test_training_job_argv_is_what_train_model_parses(tmp_path):
    from ml_pipeline.train_model import build_parser

    tj = TrainingJob(dataset=tmp_path / "d.csv", config=tmp_path / "c.yaml", fine_tune=False, output_dir=tmp_path / "o", learning_rate=0.25,
                     epochs=3, holdout=tmp_path / "h.csv", random_seed=9, model_path=tmp_path / "m.joblib", model_sha256="ab" * 32)
    args = build_parser().parse_args(tj.argv())
    assert (args.fine_tune, args.learning_rate, args.epochs, args.random_seed, args.model_sha256) == (False, 0.25, 3, 9, "ab" * 32)
    assert Path(args.dataset) == tj.dataset and Path(args.model_path) == tj.model_path and Path(args.holdout) == tj.holdout


def test_subprocess_trainer_reports_a_failing_script(tmp_path):
    from ml_pipeline.auto_reinforcement import Cancellation

    script = tmp_path / "broken_trainer.py"
    script.write_text('import json, sys\nprint(json.dumps({"status": "error", "error": "bad dataset"}))\nsys.exit(2)\n')
    tj = TrainingJob(dataset=tmp_path / "d.csv", config=tmp_path / "c.yaml", fine_tune=True, output_dir=tmp_path / "o", learning_rate=0.1,
                     epochs=1, holdout=tmp_path / "h.csv", random_seed=1)
    with pytest.raises(TrainingError, match=r"exit code 2\): bad dataset") as info:
        SubprocessTrainer(script=script)(tj, 60, Cancellation())
    assert info.value.retryable is False  # exit 2 = bad input: it would recur


def test_registry_rollback_restores_previous_champion(mem, settings):
    job(settings, mem).nightly()
    reg = Registry(mem, settings.home / "cache")
    assert reg.champion().version == 2
    assert reg.rollback().version == 1
    assert mem.get_model_version(2).status == "retired"
    assert reg.rollback(to=2).version == 2


def test_housekeeping_failure_keeps_results_and_exit_code(mem, settings, monkeypatch, capsys):
    from ml_pipeline import auto_reinforcement

    def broken(self):
        raise StoreError("storage training-logs (list): HTTP 503")

    monkeypatch.setattr(auto_reinforcement.Job, "cleanup_logs", broken)
    monkeypatch.setenv("ML_PIPELINE_HOME", str(settings.home))
    code = main(["--backend", "local", "--config", str(settings.config_path), "--as-of", AS_OF.isoformat()], open_store=lambda s: mem, trainer=FakeTrainer())
    assert code == 0
    assert "[auto_daily] completed" in capsys.readouterr().out


def test_old_training_logs_are_deleted_after_the_retention(mem, settings, clock):
    mem.put_object(BUCKET_TRAINING_LOGS, "old.log", b"x")
    clock.advance(days=settings.model.alerts.log_retention_days + 1)
    mem.put_object(BUCKET_TRAINING_LOGS, "new.log", b"y")
    assert job(settings, mem, clock=clock).cleanup_logs() == 1
    assert [o.name for o in mem.list_objects(BUCKET_TRAINING_LOGS)] == ["new.log"]


def test_repeated_failures_raise_the_alert_on_the_job_clock(mem, settings, clock):
    for day in range(3):
        mem.put_object(BUCKET_EVALUATION_LOGS, "evaluation_log.csv", b"prediction_id,created_at\n1,2026-11-19\n")
        j = job(settings, mem, as_of=AS_OF + timedelta(days=day), clock=clock)
        j.nightly()
        clock.advance(days=1)
    assert [a["code"] for a in j.alerts()] == ["repeated_failures"]
    assert mem.list_runs()[0].metrics["alerts"][0]["code"] == "repeated_failures"
    clock.advance(days=8)
    assert job(settings, mem, clock=clock).alerts() == []  # outside the 7-day window


def test_heartbeat_thread_survives_unexpected_errors():
    from ml_pipeline.auto_reinforcement import _Heartbeat

    calls = []

    class Flaky:
        def heartbeat(self, run_id, token):
            calls.append(1)
            if len(calls) == 1:
                raise ValueError("garbled response")
            return True

    with _Heartbeat(Flaky(), "run", "tok", 0.01) as beat:  # type: ignore[arg-type]
        deadline = time.monotonic() + 5
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(calls) >= 3 and not beat.lost.is_set()


def test_bad_rows_only_in_the_decay_reference_days_do_not_fail_the_nightly_run(mem, settings, sample_log):
    import pandas as pd

    log = sample_log.astype({"confidence_score": object})
    ts = pd.to_datetime(log["created_at"], utc=True)
    old = (ts < pd.Timestamp(AS_OF - timedelta(days=9))) & (ts >= pd.Timestamp(AS_OF - timedelta(days=10)))
    log.loc[old[old].index[0], "confidence_score"] = "high"  # 9-10 days old: decay reference days only
    put_log(mem, log)
    j = job(settings, mem)
    j.nightly()
    run = mem.list_runs()[0]
    assert run.status == "completed", run.error_message
    text = mem.get_object(BUCKET_TRAINING_LOGS, f"{run.id}.log").decode()
    assert "decay check: live accuracy" in text and "skipped" not in text  # the counts use no confidence
    labels = sample_log.copy()
    labels.loc[old[old].index[0], "actual_outcome"] = "home_wn"  # what the decay counts do use
    put_log(mem, labels)
    j = job(settings, mem, as_of=AS_OF + timedelta(days=1))  # the next night (one nightly run a day)
    j.nightly()
    run = mem.list_runs()[0]
    assert run.status == "completed" and run.as_of == AS_OF + timedelta(days=1), run.error_message
    text = mem.get_object(BUCKET_TRAINING_LOGS, f"{run.id}.log").decode()
    assert "decay check skipped" in text and "must be empty (not known yet) or one of" in text
    recent = sample_log.astype({"confidence_score": object})
    recent.loc[(ts >= pd.Timestamp(AS_OF - timedelta(days=1))).idxmax(), "confidence_score"] = "high"  # inside the window
    put_log(mem, recent)
    k = job(settings, mem, as_of=AS_OF + timedelta(days=2))
    k.nightly()
    assert mem.list_runs()[0].status == "failed"


def test_run_job_is_what_main_and_the_guide_api_do(mem, settings):
    import signal

    before = signal.getsignal(signal.SIGINT)
    req = mem.create_request(USER_A, "via run_job", "normal")
    j = run_job(settings, mem, as_of=AS_OF, trainer=FakeTrainer(), clock=Clock(AS_OF))
    assert [o.request_id for o in j.outcomes] == [req.id, None] and j.exit_code() == 0
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored
    only = run_job(settings, mem, as_of=AS_OF, requests_only=True, trainer=FakeTrainer())
    assert only.outcomes == []
    with pytest.raises(Exception, match="source 'weekly' is unknown"):
        run_job(settings, mem, as_of=AS_OF, source="weekly")


def test_guide_api_run_auto_reinforcement(seeded, settings, monkeypatch):
    """The guide's Python API end to end: configured (local) store, real trainer subprocess."""
    import signal

    from ml_pipeline.auto_reinforcement import run_auto_reinforcement

    monkeypatch.setenv("ML_PIPELINE_HOME", str(settings.home))
    monkeypatch.setenv("ML_PIPELINE_BACKEND", "local")
    monkeypatch.setenv("ML_PIPELINE_CONFIG", str(settings.config_path))
    before = signal.getsignal(signal.SIGINT)
    req = seeded.create_request(USER_A, "via the API", "normal")
    assert run_auto_reinforcement(request_id=req.id) is True
    assert seeded.get_request(req.id).status == "completed"
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored
    # the nightly run of today's real date: the sample log ends 2026-11-20, so too few errors now -> skipped, still True
    assert run_auto_reinforcement() is True
    assert run_auto_reinforcement() is True  # same day: nothing to do
    assert [r.source for r in seeded.list_runs()].count("auto_daily") == 1


def test_reference_is_the_champion_of_n_promotions_ago_and_reaches_the_trainer(mem, settings, clock):
    """The gate's fixed reference: v1 while fewer than reference_lag promotions happened, then
    the champion of reference_lag promotions before the current one."""
    from ml_pipeline.registry import Registry

    reg = Registry(mem, settings.home / "cache")
    s2 = with_section(settings, "promotion", reference_lag=2)
    j = job(s2, mem)
    assert j._reference_version(mem.get_champion()) is None  # only v1: nothing older to compare with
    for i in range(3):  # v2, v3, v4 promoted in turn
        clock.advance(minutes=1)
        data = f"model {i}".encode()
        mv = mem.create_model_version(sha256=sha256_bytes(data), size_bytes=len(data), sklearn_version="fake", estimator="SGDClassifier",
                                      fine_tunable=True, metrics={}, note=f"m{i}")
        mem.put_object(BUCKET_MODELS, mv.storage_path, data)
        reg.promote(mv.version)
        champ = mem.get_champion()
        expected = {2: 1, 3: 1, 4: 2}[champ.version]
        assert j._reference_version(champ).version == expected
    off = job(with_section(settings, "promotion", reference_lag=0), mem)
    assert off._reference_version(mem.get_champion()) is None
    job_args = TrainingJob(dataset=Path("d.csv"), config=Path("c.yaml"), fine_tune=True, output_dir=Path("o"), learning_rate=0.1, epochs=1,
                           holdout=Path("h.csv"), random_seed=1, reference_path=Path("r.skops"), reference_sha256="ab", reference_version=2).argv()
    assert job_args[-6:] == ["--reference_path", "r.skops", "--reference_sha256", "ab", "--reference_version", "2"]


def test_from_scratch_without_a_class_in_the_window_skips_or_fine_tunes_never_fails(settings, sample_log, base_model_file, clock):
    """Issue 14 item 2: a rare class missing from a recent window is normal."""
    no_draw = sample_log[sample_log["actual_outcome"] != "draw"]
    empty = MemoryStore(clock=clock)  # no champion: the first model would be trained from scratch
    put_log(empty, no_draw)
    trainer = FakeTrainer()
    j = job(settings, empty, trainer)
    j.nightly()
    run = empty.list_runs()[0]
    assert run.status == "skipped" and trainer.jobs == [] and j.exit_code() == 0
    assert "no labelled row of ['draw']" in run.skip_reason and "longer --lookback-days" in run.skip_reason
    assert run.metrics["missing_classes"] == ["draw"]

    served = MemoryStore(clock=clock)  # a fine-tunable champion: decay asks for from scratch, the champion is fine-tuned instead
    put_log(served, no_draw)
    Registry(served, settings.home / "cache2").register(base_model_file, list(settings.model.model.classes))
    trainer = FakeTrainer()
    job(settings, served, trainer).nightly(source="decay_triggered")
    run = served.list_runs()[0]
    assert run.status == "completed" and [tj.fine_tune for tj in trainer.jobs] == [True]
    assert "fine-tuning champion v1 instead" in served.get_object(BUCKET_TRAINING_LOGS, f"{run.id}.log").decode()


def test_integer_labels_in_the_log_match_integer_classes_of_the_config(settings, sample_log, clock, tmp_path):
    """Issue 14 item 3: `model.classes: [0, 1, 2]` and a log whose labels are integers."""
    from ml_pipeline.config import load_settings

    from .conftest import CONFIG

    cfg = tmp_path / "int.yaml"
    cfg.write_text(CONFIG.read_text().replace("classes: [home_win, draw, away_win]", "classes: [0, 1, 2]"))
    s = load_settings({"home": str(tmp_path / "home"), "config_path": str(cfg), "backend": "local"}, env={})
    codes = {"home_win": 0, "draw": 1, "away_win": 2}
    log = sample_log.assign(predicted_outcome=sample_log["predicted_outcome"].map(codes), actual_outcome=sample_log["actual_outcome"].map(codes))
    store = MemoryStore(clock=clock)
    put_log(store, log)
    trainer = FakeTrainer()
    job(s, store, trainer).nightly()
    run = store.list_runs()[0]
    assert run.status == "completed", run.error_message
    assert set(run.metrics["error_counts"]) <= {"0", "1", "2"} and run.dataset_size >= 10


def test_empty_feature_cells_are_kept_when_allowed_and_fail_with_the_fix_otherwise(settings, sample_log, clock):
    """Issue 14 item 5 (reader side): one empty cell must not fail the whole run when allowed."""
    import numpy as np

    holes = sample_log.copy()
    holes.loc[holes.index[::500], "home_form"] = np.nan  # a few empty cells, written as empty CSV cells
    store = MemoryStore(clock=clock)
    put_log(store, holes)
    job(settings, store, FakeTrainer()).nightly()
    run = store.list_runs()[0]
    assert run.status == "failed" and "home_form" in run.error_message and "model.features.allow_missing" in run.error_message

    m = settings.model
    allowed = settings.with_overrides(model=m.model_copy(update={"model": m.model.model_copy(update={
        "features": m.model.features.model_copy(update={"allow_missing": ["home_form"]})})}))
    store = MemoryStore(clock=clock)
    put_log(store, holes)
    import pandas as pd

    seen = []

    class Peek(FakeTrainer):
        def __call__(self, tj, timeout, cancel):
            seen.append(pd.concat([pd.read_csv(tj.dataset), pd.read_csv(tj.holdout)]))
            return super().__call__(tj, timeout, cancel)

    job(allowed, store, Peek()).nightly()
    run = store.list_runs()[0]
    assert run.status == "completed", run.error_message
    assert seen[0]["home_form"].isna().any()  # handed to the trainer as empty cells
