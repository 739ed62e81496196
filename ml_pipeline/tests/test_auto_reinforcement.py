"""auto_reinforcement.py in-process on a real local store (SQLite + files) and a real trainer subprocess."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import timedelta

import pytest

from ml_pipeline.auto_reinforcement import Job, minimal_env, parse_trainer_output
from ml_pipeline.errors import TrainingError
from ml_pipeline.registry import Registry
from ml_pipeline.store import BUCKET_EVALUATION_LOGS, BUCKET_MODELS, BUCKET_TRAINING_LOGS

from .conftest import AS_OF

USER_A = "00000000-0000-4000-8000-00000000000a"
USER_B = "00000000-0000-4000-8000-00000000000b"


def job(settings, store, as_of=AS_OF):
    return Job(settings, store, as_of=as_of)


def with_retraining(settings, **changes):
    m = settings.model
    return settings.with_overrides(model=m.model_copy(update={"retraining": m.retraining.model_copy(update=changes)}))


def test_nightly_run_completes_with_metrics_gate_log_and_version(seeded, settings):
    j = job(settings, seeded)
    j.nightly()
    assert j.exit_code() == 0
    run = seeded.list_runs()[0]
    assert run.status == "completed" and run.source == "auto_daily" and run.fine_tune_flag
    m = run.metrics
    for key in ("accuracy", "precision", "recall", "f1_score"):
        assert 0 < m[key] <= 1 and 0 < m["baseline"][key] <= 1
    assert m["holdout_size"] > 100 and m["promotion_reason"] and isinstance(m["promoted"], bool)
    assert run.dataset_size == m["error_count"] >= 10
    assert run.log_url == f"training-logs/{run.id}.log"
    log_text = seeded.get_object(BUCKET_TRAINING_LOGS, f"{run.id}.log").decode()
    assert "fine-tuning SGDClassifier" in log_text and "promoted v2" in log_text
    mv = seeded.get_model_version(run.model_version)
    assert len(mv.sha256) == 64 and mv.run_id == run.id and mv.parent_version == 1
    assert m["promoted"] and seeded.get_champion().version == mv.version  # the sample drift is fixable


def test_second_nightly_run_the_same_utc_day_does_nothing(seeded, settings):
    job(settings, seeded).nightly()
    again = job(settings, seeded, as_of=AS_OF + timedelta(hours=20))
    again.nightly()
    assert again.outcomes == [] and again.exit_code() == 0
    assert [r.source for r in seeded.list_runs()] == ["auto_daily"]
    next_day = job(settings, seeded, as_of=AS_OF + timedelta(days=1))
    next_day.nightly()
    assert len(seeded.list_runs()) == 2


def test_worse_candidate_is_rejected_and_champion_stays(seeded, settings):
    """A huge constant step on errors alone (no replay) wrecks the model: the gate must refuse it."""
    bad = with_retraining(settings, replay_ratio=0.0).with_overrides(learning_rate=5.0, epochs=20)
    j = job(bad, seeded)
    j.nightly()
    run = seeded.list_runs()[0]
    assert run.status == "completed" and run.metrics["promoted"] is False
    assert run.metrics["f1_score"] < run.metrics["baseline"]["f1_score"]
    assert "< baseline" in run.metrics["promotion_reason"]
    assert seeded.get_champion().version == 1
    assert seeded.get_model_version(run.model_version).status == "rejected"
    assert j.exit_code() == 0


def test_requests_run_by_priority_each_linked_to_its_run(seeded, settings):
    low = seeded.create_request(USER_A, "low first", "low")
    high = seeded.create_request(USER_B, "high second", "high")
    j = job(settings, seeded)
    j.process_requests()
    assert [o.request_id for o in j.outcomes] == [high.id, low.id]
    for req, user in ((high, USER_B), (low, USER_A)):
        r = seeded.get_request(req.id)
        run = seeded.get_run(r.retraining_run_id)
        assert r.status == "completed" and r.processed_at and r.attempts == 1
        assert run.request_id == req.id and run.triggered_by == user and run.source == "manual"


def test_requests_do_not_replace_the_nightly_run(seeded, settings):
    seeded.create_request(USER_A, None, "normal")
    j = job(settings, seeded)
    j.process_requests()
    j.nightly()
    assert sorted(r.source for r in seeded.list_runs()) == ["auto_daily", "manual"]


def test_too_few_errors_is_a_skipped_run_with_reason(seeded, settings):
    s = settings.with_overrides(min_error_samples=100_000)
    j = job(s, seeded)
    j.nightly()
    run = seeded.list_runs()[0]
    assert run.status == "skipped" and j.exit_code() == 0
    assert "at least 100000 are needed" in run.skip_reason and run.dataset_size > 0
    assert seeded.get_champion().version == 1


def test_broken_log_fails_the_run_and_the_request_without_retry(seeded, settings):
    seeded.put_object(BUCKET_EVALUATION_LOGS, "evaluation_log.csv", b"prediction_id,created_at\n1,2026-11-19\n")
    req = seeded.create_request(USER_A, "please", "normal")
    j = job(settings, seeded)
    j.process_requests()
    run = seeded.list_runs()[0]
    assert run.status == "failed" and "missing column(s)" in run.error_message and "model_config.yaml" in run.error_message
    assert run.log_url and "missing column(s)" in seeded.get_object(BUCKET_TRAINING_LOGS, f"{run.id}.log").decode()
    assert seeded.get_request(req.id).status == "failed"  # the error would recur: not re-queued
    assert j.exit_code() == 1
    assert seeded.get_champion().version == 1 and len(seeded.list_model_versions()) == 1


def test_tampered_champion_fails_the_run_with_a_checksum_error(seeded, settings):
    mv = seeded.get_champion()
    data = bytearray(seeded.get_object(BUCKET_MODELS, mv.storage_path))
    data[100] ^= 0xFF
    seeded.put_object(BUCKET_MODELS, mv.storage_path, bytes(data))
    j = job(settings, seeded)
    j.nightly()
    run = seeded.list_runs()[0]
    assert run.status == "failed" and "sha256" in run.error_message and "refusing to load it" in run.error_message
    assert seeded.get_champion().version == 1


def test_stale_run_is_reaped_and_its_request_requeued(seeded, settings):
    req = seeded.create_request(USER_A, None, "high")
    claim = seeded.claim_next_request(runner="dead:1", lease_token="t", as_of=AS_OF)
    conn = sqlite3.connect(seeded.db_path)
    conn.execute("UPDATE model_retraining_runs SET heartbeat_at = '2000-01-01T00:00:00.000000+00:00'")
    conn.commit()
    j = job(settings, seeded)
    assert j.reap() == [claim.run.id]
    run = seeded.get_run(claim.run.id)
    assert run.status == "failed" and run.error_message.startswith("runner lost: no heartbeat for more than 600 s")
    r = seeded.get_request(req.id)
    assert r.status == "pending" and r.attempts == 1 and "runner lost" in r.last_error
    j.process_requests()
    assert seeded.get_request(req.id).status == "completed" and seeded.get_request(req.id).attempts == 2


def test_cancellation_fails_the_run_and_requeues_the_request(seeded, settings):
    req = seeded.create_request(USER_A, None, "normal")
    j = job(settings, seeded)
    claim = seeded.claim_next_request(runner=j.runner, lease_token="tok", as_of=AS_OF)
    j.cancel.signal_name = "SIGINT"
    j.cancel.event.set()
    j.execute(claim.run, "tok", fine_tune=True, lookback_days=None, request_id=req.id, attempts=1)
    run = seeded.get_run(claim.run.id)
    assert run.status == "failed" and run.error_message == "cancelled: received SIGINT"
    assert seeded.get_request(req.id).status == "pending"
    assert j.exit_code() == 1


def test_decay_triggers_a_from_scratch_run(seeded, settings):
    m = settings.model
    s = settings.with_overrides(model=m.model_copy(update={"decay": m.decay.model_copy(update={"max_accuracy_drop": 0.001, "recent_days": 3, "reference_days": 10})}))
    j = job(s, seeded)
    j.nightly()
    run = seeded.list_runs()[0]
    assert run.source == "decay_triggered" and run.fine_tune_flag is False and run.status == "completed"
    assert run.metrics["fine_tuned"] is False


def test_lost_lease_writes_nothing(seeded, settings):
    seeded.create_request(USER_A, None, "normal")
    j = job(settings, seeded)
    claim = seeded.claim_next_request(runner=j.runner, lease_token="tok", as_of=AS_OF)
    time.sleep(1.05)
    assert seeded.reap_stale_runs(lease_seconds=1, max_attempts=3) == [claim.run.id]  # another runner reaps it
    j.execute(claim.run, "tok", fine_tune=True, lookback_days=None, request_id=claim.request.id, attempts=1)
    assert j.exit_code() == 1 and j.lease_lost
    assert seeded.get_run(claim.run.id).status == "failed"  # as the reaper left it
    assert seeded.get_champion().version == 1
    assert all(v.status != "champion" or v.version == 1 for v in seeded.list_model_versions())


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


def test_registry_rollback_restores_previous_champion(seeded, settings):
    job(settings, seeded).nightly()
    reg = Registry(seeded, settings.home / "cache")
    assert reg.champion().version == 2
    assert reg.rollback().version == 1
    assert seeded.get_model_version(2).status == "retired"
    assert reg.rollback(to=2).version == 2


def test_housekeeping_failure_keeps_results_and_exit_code(seeded, settings, monkeypatch, capsys):
    from ml_pipeline import auto_reinforcement
    from ml_pipeline.errors import StoreError

    def broken(self):
        raise StoreError("storage training-logs (list): HTTP 503")

    monkeypatch.setattr(auto_reinforcement.Job, "cleanup_logs", broken)
    monkeypatch.setenv("ML_PIPELINE_HOME", str(settings.home))
    code = auto_reinforcement.main(["--backend", "local", "--config", str(settings.config_path), "--as-of", AS_OF.isoformat()])
    assert code == 0
    assert "[auto_daily] completed" in capsys.readouterr().out


def test_heartbeat_thread_survives_unexpected_errors(seeded, settings):
    from ml_pipeline.auto_reinforcement import _Heartbeat

    calls = []

    class Flaky:
        def heartbeat(self, run_id, token):
            calls.append(1)
            if len(calls) == 1:
                raise ValueError("garbled response")
            return True

    with _Heartbeat(Flaky(), "run", "tok", 0.01) as beat:
        deadline = time.monotonic() + 5
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(calls) >= 3 and not beat.lost.is_set()


def test_bad_rows_only_in_the_decay_reference_days_do_not_fail_the_nightly_run(seeded, settings, sample_log):
    import pandas as pd

    from .conftest import put_log

    log = sample_log.astype({"confidence_score": object})
    ts = pd.to_datetime(log["created_at"], utc=True)
    old = (ts < pd.Timestamp(AS_OF - timedelta(days=9))) & (ts >= pd.Timestamp(AS_OF - timedelta(days=10)))
    log.loc[old[old].index[0], "confidence_score"] = "high"  # 9-10 days old: decay reference days only
    put_log(seeded, log)
    j = job(settings, seeded)
    j.nightly()
    run = seeded.list_runs()[0]
    assert run.status == "completed", run.error_message
    text = seeded.get_object(BUCKET_TRAINING_LOGS, f"{run.id}.log").decode()
    assert "decay check skipped" in text and "must be a number" in text
    recent = sample_log.astype({"confidence_score": object})
    recent.loc[(ts >= pd.Timestamp(AS_OF - timedelta(days=1))).idxmax(), "confidence_score"] = "high"  # inside the window
    put_log(seeded, recent)
    k = job(settings, seeded, as_of=AS_OF + timedelta(days=1))
    k.nightly()
    assert seeded.list_runs()[0].status == "failed"


def test_guide_api_run_auto_reinforcement(seeded, settings, monkeypatch):
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
