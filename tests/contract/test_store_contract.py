"""The Store contract (docs/data-model.md), run against every backend in conftest.FACTORIES."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ml_pipeline.errors import ConfigError, DailyRunExistsError, LeaseLostError, StoreError
from ml_pipeline.store import Store

AS_OF = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SHA = "a" * 64
# Lease tokens are uuid columns in Postgres (docs/data-model.md).
TOK, OTHER, FRESH = (str(uuid.UUID(int=n)) for n in (1, 2, 3))
LEASE_WAIT = 1.05  # seconds without a heartbeat: just past a 1 s lease


def run(store, source="auto_daily", as_of=AS_OF, token=TOK):
    return store.create_run(source=source, as_of=as_of, lease_token=token, runner="test:1")


def test_implements_the_protocol(store):
    assert isinstance(store, Store)


def test_create_run_is_running_with_identity_fields(store):
    r = run(store, "manual")
    assert r.status == "running" and r.source == "manual" and r.dataset_size == 0 and r.fine_tune_flag is True
    assert r.run_date.isoformat() == "2026-11-20" and r.as_of == AS_OF and r.lease_token == TOK
    assert r.started_at and r.heartbeat_at and r.created_at and r.metrics == {}
    assert store.get_run(r.id) == r


def test_create_run_with_client_id_is_idempotent(store):
    rid = str(uuid.uuid4())
    a = store.create_run(source="manual", as_of=AS_OF, lease_token=TOK, runner="x", run_id=rid)
    b = store.create_run(source="manual", as_of=AS_OF, lease_token=TOK, runner="x", run_id=rid)
    assert a.id == b.id == rid and len(store.list_runs()) == 1


def test_once_a_day_guard_for_nightly_sources(store):
    first = run(store)
    with pytest.raises(DailyRunExistsError, match="2026-11-20"):
        run(store, "auto_daily", AS_OF + timedelta(hours=5))
    with pytest.raises(DailyRunExistsError):
        run(store, "decay_triggered", AS_OF + timedelta(hours=5))
    run(store, "manual")  # manual runs are not guarded
    run(store, "auto_daily", AS_OF + timedelta(days=1))  # next UTC day
    store.update_run(first.id, TOK, status="failed", error_message="boom")
    run(store, "auto_daily", AS_OF + timedelta(hours=6))  # a failed nightly run may be retried


def test_update_run_is_fenced_by_token_and_status(store, new_user):
    r = run(store, "manual")
    with pytest.raises(LeaseLostError):
        store.update_run(r.id, OTHER, status="completed")
    done = store.update_run(r.id, TOK, status="completed", metrics={"accuracy": 0.8, "baseline": None}, dataset_size=12,
                            completed_at=AS_OF, log_url="training-logs/x.log", model_version=None)
    assert done.status == "completed" and done.metrics == {"accuracy": 0.8, "baseline": None} and done.dataset_size == 12
    with pytest.raises(LeaseLostError):  # no longer running
        store.update_run(r.id, TOK, status="failed")
    assert store.heartbeat(r.id, TOK) is False
    with pytest.raises(StoreError):
        store.update_run(r.id, TOK, triggered_by=new_user())  # not a runner-updatable column


def test_heartbeat_moves_forward(store):
    r = run(store, "manual")
    time.sleep(0.01)
    assert store.heartbeat(r.id, TOK) is True
    assert store.get_run(r.id).heartbeat_at > r.heartbeat_at
    assert store.heartbeat(r.id, OTHER) is False


def test_claim_order_high_normal_low_then_oldest(store, new_user):
    made = []
    for prio in ["low", "normal", "high", "low", "high", "normal"]:
        made.append(store.create_request(new_user(), f"{prio} request", prio))
        time.sleep(0.002)
    order = []
    while (c := store.claim_next_request(runner="r", lease_token=str(uuid.uuid4()), as_of=AS_OF)) is not None:
        order.append(c.request.id)
    expected = [made[i].id for i in (2, 4, 1, 5, 0, 3)]
    assert order == expected


def test_claim_creates_linked_manual_run_and_counts_attempts(store, new_user):
    u = new_user()
    req = store.create_request(u, "why not", "normal")
    c = store.claim_next_request(runner="r:1", lease_token=TOK, as_of=AS_OF)
    assert c.request.id == req.id and c.request.status == "processing" and c.request.attempts == 1
    assert c.request.retraining_run_id == c.run.id and c.request.claimed_at
    assert c.run.source == "manual" and c.run.status == "running" and c.run.triggered_by == u
    assert c.run.request_id == req.id and c.run.lease_token == TOK and c.run.runner == "r:1"
    assert store.claim_next_request(runner="r", lease_token=OTHER, as_of=AS_OF) is None


def test_claim_a_specific_request(store, new_user):
    a = store.create_request(new_user(), None, "high")
    b = store.create_request(new_user(), None, "low")
    c = store.claim_next_request(runner="r", lease_token=TOK, as_of=AS_OF, request_id=b.id)
    assert c.request.id == b.id
    assert store.claim_next_request(runner="r", lease_token=TOK, as_of=AS_OF, request_id=b.id) is None
    assert store.get_request(a.id).status == "pending"


def test_finish_request_only_for_its_own_run(store, new_user):
    store.create_request(new_user(), None, "normal")
    c = store.claim_next_request(runner="r", lease_token=TOK, as_of=AS_OF)
    assert store.finish_request(c.request.id, str(uuid.uuid4()), "completed") is False
    assert store.finish_request(c.request.id, c.run.id, "failed", "bad log") is True
    r = store.get_request(c.request.id)
    assert r.status == "failed" and r.last_error == "bad log" and r.processed_at
    assert store.finish_request(c.request.id, c.run.id, "completed") is False


def test_requeued_request_is_claimed_again(store, new_user):
    store.create_request(new_user(), None, "normal")
    c = store.claim_next_request(runner="r", lease_token=TOK, as_of=AS_OF)
    assert store.finish_request(c.request.id, c.run.id, "pending", "transient")
    again = store.claim_next_request(runner="r", lease_token=OTHER, as_of=AS_OF)
    assert again.request.id == c.request.id and again.request.attempts == 2 and again.run.id != c.run.id


def test_requeue_over_a_newer_pending_request_of_the_same_user_fails_it(store, new_user):
    """One pending request per user: a runner re-queueing after a transient failure must not abort."""
    u = new_user()
    store.create_request(u, "first", "normal")
    c = store.claim_next_request(runner="r", lease_token=TOK, as_of=AS_OF)
    newer = store.create_request(u, "second", "normal")  # allowed: the first one is processing
    assert store.finish_request(c.request.id, c.run.id, "pending", "transient") is True
    old = store.get_request(c.request.id)
    assert old.status == "failed" and "not re-queued: the user has a newer pending request" in old.last_error
    assert old.processed_at is not None
    assert store.get_request(newer.id).status == "pending"


def test_reap_settles_requests_and_candidates_left_behind_a_finished_run(store, new_user):
    """The runner died after finishing its run but before settling its request."""
    store.create_request(new_user(), None, "normal")
    ok = store.claim_next_request(runner="r", lease_token=TOK, as_of=AS_OF)
    store.update_run(ok.run.id, TOK, status="completed", completed_at=datetime.now(UTC))
    store.create_request(new_user(), None, "normal")
    bad = store.claim_next_request(runner="r", lease_token=OTHER, as_of=AS_OF)
    mv = store.create_model_version(sha256=SHA, size_bytes=1, sklearn_version="1", estimator="X", fine_tunable=True, metrics={}, run_id=bad.run.id)
    store.update_run(bad.run.id, OTHER, status="failed", error_message="trainer exploded", completed_at=datetime.now(UTC))
    assert store.reap_stale_runs(lease_seconds=3600, max_attempts=3) == []
    assert store.get_request(ok.request.id).status == "processing"  # the runner may still settle it
    time.sleep(1.05)
    assert store.reap_stale_runs(lease_seconds=1, max_attempts=3) == []  # no run was running
    assert store.get_request(ok.request.id).status == "completed"
    failed = store.get_request(bad.request.id)
    assert failed.status == "failed" and failed.last_error == "trainer exploded" and failed.processed_at
    assert store.get_model_version(mv.version).status == "rejected"


def test_reap_stale_runs_requeues_then_fails_requests_and_rejects_candidates(store, new_user):
    # The shortest lease Postgres accepts is 1 s (reap_stale_retraining_runs refuses <= 0),
    # so the runs are left without a heartbeat for a little longer than that.
    store.create_request(new_user(), None, "normal")
    c = store.claim_next_request(runner="r", lease_token=TOK, as_of=AS_OF)
    mv = store.create_model_version(sha256=SHA, size_bytes=1, sklearn_version="1", estimator="X", fine_tunable=True, metrics={}, run_id=c.run.id)
    fresh = run(store, "manual", token=FRESH)
    assert store.reap_stale_runs(lease_seconds=3600, max_attempts=2) == []
    time.sleep(LEASE_WAIT)
    reaped = store.reap_stale_runs(lease_seconds=1, max_attempts=2)
    assert set(reaped) == {c.run.id, fresh.id}
    r = store.get_run(c.run.id)
    assert r.status == "failed" and r.error_message == "runner lost: no heartbeat for more than 1 s" and r.completed_at
    req = store.get_request(c.request.id)
    assert req.status == "pending" and req.attempts == 1 and req.last_error.startswith("runner lost")
    assert store.get_model_version(mv.version).status == "rejected"
    c2 = store.claim_next_request(runner="r", lease_token=OTHER, as_of=AS_OF)
    time.sleep(LEASE_WAIT)
    store.reap_stale_runs(lease_seconds=1, max_attempts=2)
    final = store.get_request(c2.request.id)
    assert final.status == "failed" and final.attempts == 2 and final.processed_at


def test_one_pending_request_per_user_and_reason_limit(store, new_user):
    u = new_user()
    store.create_request(u, "first", "normal")
    with pytest.raises(StoreError, match="already have a pending request"):
        store.create_request(u, "second", "high")
    with pytest.raises(ConfigError, match="shorten it to 500"):
        store.create_request(new_user(), "x" * 501, "normal")
    with pytest.raises(ConfigError, match="priority 'urgent' is unknown"):
        store.create_request(new_user(), None, "urgent")


def test_cancel_only_pending(store, new_user):
    req = store.create_request(new_user(), None, "normal")
    assert store.cancel_request(req.id).status == "cancelled"
    with pytest.raises(StoreError, match="only pending requests can be cancelled"):
        store.cancel_request(req.id)
    with pytest.raises(StoreError, match="does not exist"):
        store.cancel_request(str(uuid.uuid4()))


def test_list_requests_in_processing_order(store, new_user):
    low = store.create_request(new_user(), None, "low")
    high = store.create_request(new_user(), None, "high")
    assert [r.id for r in store.list_requests(status="pending")] == [high.id, low.id]
    assert store.list_requests(status="completed") == []


def test_list_runs_newest_first_and_since(store):
    a = run(store, "manual")
    time.sleep(0.01)
    b = run(store, "manual")
    assert [r.id for r in store.list_runs()] == [b.id, a.id]
    assert [r.id for r in store.list_runs(limit=1)] == [b.id]
    assert [r.id for r in store.list_runs(since=b.created_at)] == [b.id]


def test_objects_put_get_list_delete(store, tmp_path):
    store.put_object("training-logs", "r1.log", b"hello", "text/plain")
    store.put_object("training-logs", "r2.log", b"world!", "text/plain")
    store.put_object("evaluation-logs", "daily/2026-11-19.csv", b"a,b\n1,2\n")
    assert store.get_object("training-logs", "r1.log") == b"hello"
    assert [(o.name, o.size) for o in store.list_objects("training-logs")] == [("r1.log", 5), ("r2.log", 6)]
    assert [o.name for o in store.list_objects("evaluation-logs", "daily/")] == ["daily/2026-11-19.csv"]
    path = store.download_object("evaluation-logs", "daily/2026-11-19.csv", tmp_path / "dl.csv")
    assert path.read_bytes() == b"a,b\n1,2\n"
    store.put_object("training-logs", "r1.log", b"again")
    assert store.get_object("training-logs", "r1.log") == b"again"
    store.delete_objects("training-logs", ["r1.log", "missing.log"])
    assert [o.name for o in store.list_objects("training-logs")] == ["r2.log"]
    with pytest.raises(StoreError, match="training-logs/r1.log"):
        store.get_object("training-logs", "r1.log")


@pytest.mark.parametrize("bucket, key", [("models", "../escape"), ("models", "/abs"), ("nope", "x"), ("models", "a//b")])
def test_object_keys_cannot_escape(store, bucket, key):
    with pytest.raises(ConfigError):
        store.put_object(bucket, key, b"x")


def test_model_versions_candidate_promote_one_champion(store):
    v1 = store.create_model_version(sha256=SHA, size_bytes=10, sklearn_version="1.9", estimator="SGDClassifier", fine_tunable=True, metrics={"f1_score": 0.5})
    v2 = store.create_model_version(sha256="b" * 64, size_bytes=11, sklearn_version="1.9", estimator="SGDClassifier", fine_tunable=True, metrics={}, parent_version=v1.version, note="n")
    assert v1.status == "candidate" and v1.storage_path == f"v{v1.version}/model.joblib" and v2.version == v1.version + 1
    assert store.get_champion() is None
    assert store.promote_model_version(v1.version).status == "champion"
    assert store.promote_model_version(v2.version).promoted_at is not None
    assert store.get_champion().version == v2.version
    assert store.get_model_version(v1.version).status == "retired"
    assert [v.status for v in store.list_model_versions()] == ["champion", "retired"]
    assert store.set_version_status(v1.version, "rejected", {"x": 1}).metrics == {"x": 1}
    with pytest.raises(StoreError):
        store.promote_model_version(9999)


def test_reaped_request_is_not_requeued_over_a_newer_pending_one(store, new_user):
    # One pending request per user: the lost one ends failed, the newer one stays queued.
    u = new_user()
    store.create_request(u, "first", "normal")
    c = store.claim_next_request(runner="r", lease_token=TOK, as_of=AS_OF)
    newer = store.create_request(u, "second", "normal")  # allowed: the first is processing
    time.sleep(LEASE_WAIT)
    assert store.reap_stale_runs(lease_seconds=1, max_attempts=3) == [c.run.id]
    lost = store.get_request(c.request.id)
    assert lost.status == "failed" and lost.last_error.startswith("runner lost") and lost.processed_at
    assert store.get_request(newer.id).status == "pending"


def test_list_objects_walks_folders_and_matches_name_prefixes(store):
    keys = ["daily/2026-11-18.csv", "daily/2026-11-19.csv", "daily/2026-12-01.csv",
            "daily/old/2026-10-01.csv", "dailyx.csv", "evaluation_log.csv"]
    for key in keys:
        store.put_object("evaluation-logs", key, b"x")

    def names(prefix):
        return [o.name for o in store.list_objects("evaluation-logs", prefix)]

    assert names("daily/2026-11") == ["daily/2026-11-18.csv", "daily/2026-11-19.csv"]
    assert names("daily/") == ["daily/2026-11-18.csv", "daily/2026-11-19.csv", "daily/2026-12-01.csv", "daily/old/2026-10-01.csv"]
    assert names("daily") == names("daily/") + ["dailyx.csv"]
    assert names("") == sorted(keys)
    assert names("nope/") == [] and store.list_objects("models") == []
    assert all(o.size == 1 and o.updated_at.tzinfo is not None for o in store.list_objects("evaluation-logs"))


def test_missing_objects_are_named_and_deleting_them_is_harmless(store, tmp_path):
    with pytest.raises(StoreError, match="models/v9/model.joblib"):
        store.download_object("models", "v9/model.joblib", tmp_path / "model.joblib")
    with pytest.raises(StoreError, match="models/v9/model.joblib"):
        store.get_object("models", "v9/model.joblib")
    store.delete_objects("models", ["v9/model.joblib"])
    store.delete_objects("models", [])
