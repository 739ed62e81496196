"""The orchestrator on SupabaseStore: one queued request and the nightly run, end to end.

Same wiring as the contract suite's ``supabase`` backend (tests/contract/conftest.py):
supabase-py's requests go to postgrest_adapter.py, which runs them on the real migrations
in PostgreSQL and keeps Storage in memory. It proves the job's own calls (claim, fenced
updates, heartbeats, uploads, promotion, the once-a-day guard) work against the SQL, not
only the store methods one by one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.contract.conftest import SERVICE_KEY, SUPABASE_URL

REPO = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
USER = "00000000-0000-4000-8000-00000000000a"


@pytest.fixture
def supabase(pg_db):
    import httpx

    from ml_pipeline.supabase_client import SupabaseStore
    from tests.contract.postgrest_adapter import SupabaseEmulator

    emulator = SupabaseEmulator(pg_db.dsn, SERVICE_KEY)
    http = httpx.Client(transport=httpx.MockTransport(emulator), timeout=30)
    store = SupabaseStore(SUPABASE_URL, SERVICE_KEY, http_client=http, backoff=0)
    try:
        yield store, emulator
    finally:
        store.close()
        http.close()
        emulator.close()


def test_request_then_nightly_run_complete_and_a_second_nightly_is_a_no_op(supabase, tmp_path):
    from ml_pipeline import model_io
    from ml_pipeline.auto_reinforcement import Job
    from ml_pipeline.config import load_settings
    from ml_pipeline.registry import Registry
    from ml_pipeline.sample_data import base_model, evaluation_log

    store, emulator = supabase
    settings = load_settings({"home": str(tmp_path / "home"), "config_path": str(REPO / "model_config.yaml"), "backend": "local"}, env={})
    model = base_model()
    store.put_object("evaluation-logs", "evaluation_log.csv", evaluation_log(model, date(2026, 11, 20), days=20, per_day=300).to_csv(index=False).encode())
    model_io.dump(model, tmp_path / "base.skops")
    Registry(store, tmp_path / "cache").register(tmp_path / "base.skops", list(settings.model.model.classes))
    emulator.admin.execute("insert into auth.users (id) values (%s)", (USER,))
    request = store.create_request(USER, "drift after the cup final", "high")

    job = Job(settings, store, as_of=AS_OF)
    job.reap()
    job.process_requests(request_id=None, lookback_days=None)
    job.nightly("auto_daily", lookback_days=None)
    assert job.exit_code() == 0, [o.line() for o in job.outcomes]

    manual, nightly = sorted(store.list_runs(), key=lambda r: r.source != "manual")
    assert (manual.source, manual.status, manual.triggered_by, manual.request_id) == ("manual", "completed", USER, request.id)
    assert (nightly.source, nightly.status) == ("auto_daily", "completed")
    for run in (manual, nightly):
        assert run.metrics["promoted"] in (True, False) and run.log_url == f"training-logs/{run.id}.log"
        assert store.get_object("training-logs", f"{run.id}.log").strip()
    done = store.get_request(request.id)
    assert done.status == "completed" and done.attempts == 1 and done.processed_at is not None
    versions = store.list_model_versions()
    assert [v.status for v in versions].count("champion") == 1 and len(versions) == 3
    assert [o.name for o in store.list_objects("models")] == [f"v{v.version}/model.joblib" for v in reversed(versions)]

    again = Job(settings, store, as_of=AS_OF)
    again.nightly("auto_daily", lookback_days=None)
    assert again.outcomes == [] and again.exit_code() == 0
    assert len(store.list_runs()) == 2
