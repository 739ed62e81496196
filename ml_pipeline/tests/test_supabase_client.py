"""SupabaseStore at the HTTP boundary, with respx.

Why respx: PostgREST and the Storage API cannot run on this machine (no Supabase stack,
no network), so supabase-py's httpx traffic is intercepted and the exact requests are
asserted: method, path, query parameters, the ``apikey`` and ``Authorization: Bearer``
headers, ``Prefer`` where it matters, and the JSON (or multipart) body of every store
operation; then the failure paths: 401, 404 (table, function, bucket), 409 (once-a-day
guard, one pending request per user, a retried insert), 5xx retried then answered, 5xx
every time (bounded, calls counted), timeouts, and 4xx never retried.

What the SQL does with these requests is proven elsewhere: the store contract suite runs
this same client against the real migrations on PostgreSQL (tests/contract).
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime

import httpx
import pytest
import respx

from ml_pipeline.errors import (
    ConfigError,
    DailyRunExistsError,
    LeaseLostError,
    StoreError,
    StoreUnavailableError,
    describe,
)
from ml_pipeline.supabase_client import SupabaseStore

URL = "https://proj-ref.supabase.co"
KEY = "fake-service-role-key-for-tests"
RUN_ID = "11111111-1111-4111-8111-111111111111"
REQ_ID = "22222222-2222-4222-8222-222222222222"
USER = "33333333-3333-4333-8333-333333333333"
TOKEN = "44444444-4444-4444-8444-444444444444"
AS_OF = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
RUNS, REQUESTS, VERSIONS = "/rest/v1/model_retraining_runs", "/rest/v1/model_retraining_requests", "/rest/v1/model_versions"
PROBE = {"select": "id", "limit": "1"}

RUN_ROW = {
    "id": RUN_ID, "source": "auto_daily", "dataset_size": 0, "fine_tune_flag": True, "status": "running",
    "metrics": {}, "started_at": "2026-11-20T02:00:01.123456+00:00", "completed_at": None, "log_url": None,
    "error_message": None, "triggered_by": None, "created_at": "2026-11-20T02:00:01.2+00:00",
    "updated_at": "2026-11-20T02:00:01.2+00:00", "request_id": None, "run_date": "2026-11-20",
    "as_of": "2026-11-20T02:00:00+00:00", "heartbeat_at": "2026-11-20T02:00:01.123456+00:00",
    "lease_token": TOKEN, "model_version": None, "skip_reason": None, "runner": "host:1",
}
REQ_ROW = {
    "id": REQ_ID, "requested_by": USER, "reason": "drift", "priority": "high", "status": "pending",
    "processed_at": None, "retraining_run_id": None, "created_at": "2026-11-20T01:00:00+00:00",
    "updated_at": "2026-11-20T01:00:00+00:00", "attempts": 0, "claimed_at": None, "last_error": None,
    "priority_rank": 3,
}
VER_ROW = {
    "version": 3, "status": "candidate", "storage_path": "v3/model.joblib", "sha256": "a" * 64,
    "size_bytes": 1234, "sklearn_version": "1.5.2", "estimator": "SGDClassifier", "fine_tunable": True,
    "metrics": {"f1_score": 0.5}, "run_id": RUN_ID, "parent_version": 2, "note": None,
    "created_at": "2026-11-20T02:10:00+00:00", "updated_at": "2026-11-20T02:10:00+00:00", "promoted_at": None,
}


def pgrst(status, code, message, details=None, hint=None):
    return httpx.Response(status, json={"code": code, "message": message, "details": details, "hint": hint})


def storage_err(status, status_code, error, message):
    return httpx.Response(status, json={"statusCode": status_code, "error": error, "message": message})


def only(route) -> httpx.Request:
    assert route.call_count == 1, f"expected one call, got {route.call_count}"
    return route.calls.last.request


def authed(request: httpx.Request) -> httpx.Request:
    assert request.headers["apikey"] == KEY
    assert request.headers["authorization"] == f"Bearer {KEY}"
    return request


def query(request: httpx.Request) -> dict[str, list[str]]:
    return {k: request.url.params.get_list(k) for k in request.url.params.keys()}


def body(request: httpx.Request):
    return json.loads(request.content)


@pytest.fixture
def api():
    with respx.mock(base_url=URL, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def probe(api):
    return api.get(RUNS, params=PROBE).respond(200, json=[])


@pytest.fixture
def store(api, probe):
    s = SupabaseStore(URL, KEY, backoff=0)
    yield s
    s.close()


def make_jwt(payload: dict) -> str:
    def part(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(payload)}.fake-signature"


# -- opening ---------------------------------------------------------------------------------
def test_open_sends_one_cheap_authenticated_read(store, probe):
    request = authed(only(probe))
    assert request.method == "GET" and request.url.path == RUNS and query(request) == {"select": ["id"], "limit": ["1"]}


def test_default_timeouts_connect_5_read_60(store):
    assert store._http.timeout == httpx.Timeout(60.0, connect=5.0)
    custom = httpx.Timeout(10.0, connect=1.0)
    other = SupabaseStore(URL, KEY, timeout=custom, backoff=0)
    assert other._http.timeout == custom
    other.close()
    assert other._http.is_closed


def test_a_callers_http_client_is_used_and_left_open(api, probe):
    client = httpx.Client()
    s = SupabaseStore(URL, KEY, http_client=client, backoff=0)
    s.close()
    assert probe.call_count == 1 and not client.is_closed
    client.close()


def test_wrong_key_401_names_the_service_role_key_and_is_not_retried(api):
    route = api.get(RUNS, params=PROBE).respond(401, json={"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."})
    with pytest.raises(ConfigError, match="SUPABASE_SERVICE_KEY must be the service-role key") as info:
        SupabaseStore(URL, KEY, backoff=0)
    assert info.value.exit_code == 2  # configuration, not a failed run
    assert route.call_count == 1
    assert "model_retraining_runs" in str(info.value) and "HTTP 401" in str(info.value)
    assert KEY not in describe(info.value)


def test_anon_key_is_refused_before_any_request(api):
    route = api.get(RUNS).respond(200, json=[])
    with pytest.raises(ConfigError, match="anon .*SUPABASE_SERVICE_KEY must be the service-role key"):
        SupabaseStore(URL, make_jwt({"role": "anon", "iss": "fake"}), backoff=0)
    with pytest.raises(ConfigError, match="anon"):
        SupabaseStore(URL, "sb_publishable_fake", backoff=0)
    assert route.call_count == 0


def test_url_must_be_http(api):
    with pytest.raises(ConfigError, match="SUPABASE_URL 'proj-ref.supabase.co' is not an http"):
        SupabaseStore("proj-ref.supabase.co", KEY)


def test_missing_table_at_open_says_apply_migrations(api):
    api.get(RUNS, params=PROBE).mock(return_value=pgrst(404, "PGRST205", "Could not find the table 'public.model_retraining_runs' in the schema cache"))
    with pytest.raises(ConfigError, match=r"HTTP 404 PGRST205: .*apply supabase/migrations \(supabase db push\)"):
        SupabaseStore(URL, KEY, backoff=0)


def test_unreachable_url_at_open_is_store_unavailable_exit_2(api):
    route = api.get(RUNS, params=PROBE).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(StoreUnavailableError, match=f"cannot reach SUPABASE_URL {URL}: connection failed") as info:
        SupabaseStore(URL, KEY, backoff=0)
    assert info.value.exit_code == 2 and route.call_count == 3 and "gave up after 3 attempts" in str(info.value)


def test_timeout_at_open_is_store_unavailable(api):
    api.get(RUNS, params=PROBE).mock(side_effect=httpx.ConnectTimeout("timed out"))
    with pytest.raises(StoreUnavailableError, match="connection timed out"):
        SupabaseStore(URL, KEY, backoff=0)


def test_backoff_is_exponential_and_bounded(api, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr("tenacity.nap.time.sleep", waits.append)
    api.get(RUNS, params=PROBE).mock(return_value=httpx.Response(503))
    with pytest.raises(StoreError, match="HTTP 503"):
        SupabaseStore(URL, KEY)  # default: 3 attempts, 0.5 s then 1 s
    assert waits == [0.5, 1.0]


# -- runs ----------------------------------------------------------------------------------
def test_create_run_posts_the_row_with_a_client_id(store, api):
    route = api.post(RUNS).respond(201, json=[RUN_ROW])
    run = store.create_run(source="auto_daily", as_of=AS_OF, lease_token=TOKEN, runner="host:1", run_id=RUN_ID)
    request = authed(only(route))
    assert request.headers["prefer"] == "return=representation" and query(request) == {}
    sent = body(request)
    assert {k: v for k, v in sent.items() if k not in ("started_at", "heartbeat_at")} == {
        "id": RUN_ID, "source": "auto_daily", "status": "running", "fine_tune_flag": True, "triggered_by": None,
        "run_date": "2026-11-20", "as_of": "2026-11-20T02:00:00.000000Z", "lease_token": TOKEN, "runner": "host:1",
    }
    assert sent["started_at"] == sent["heartbeat_at"] and sent["started_at"].endswith("Z")
    assert run.id == RUN_ID and run.run_date == date(2026, 11, 20) and run.as_of == AS_OF
    assert run.started_at == datetime(2026, 11, 20, 2, 0, 1, 123456, tzinfo=UTC) and run.started_at.tzinfo == UTC
    assert run.metrics == {} and run.lease_token == TOKEN


def test_create_run_generates_a_uuid_and_refuses_non_uuid_tokens(store, api):
    route = api.post(RUNS).respond(201, json=[RUN_ROW])
    store.create_run(source="manual", as_of=AS_OF, lease_token=TOKEN, runner="r")
    uuid.UUID(body(only(route))["id"])
    with pytest.raises(StoreError, match="lease_token 'tok' must be a UUID"):
        store.create_run(source="manual", as_of=AS_OF, lease_token="tok", runner="r")
    assert route.call_count == 1


def test_daily_guard_409_is_daily_run_exists(store, api):
    api.post(RUNS).mock(return_value=pgrst(409, "23505", 'duplicate key value violates unique constraint "model_retraining_runs_once_a_day"', "Key (run_date)=(2026-11-20) already exists."))
    read = api.get(RUNS, params={"id": f"eq.{RUN_ID}"}).respond(200, json=[])
    with pytest.raises(DailyRunExistsError, match="a nightly run for 2026-11-20 \\(UTC\\) already exists"):
        store.create_run(source="auto_daily", as_of=AS_OF, lease_token=TOKEN, runner="r", run_id=RUN_ID)
    assert authed(only(read)).url.params["select"] == "*"


def test_retried_insert_meeting_its_own_row_returns_it(store, api):
    insert = api.post(RUNS).mock(side_effect=[httpx.ReadTimeout("timed out"), pgrst(409, "23505", 'duplicate key value violates unique constraint "model_retraining_runs_pkey"')])
    api.get(RUNS, params={"id": f"eq.{RUN_ID}"}).respond(200, json=[RUN_ROW])
    run = store.create_run(source="auto_daily", as_of=AS_OF, lease_token=TOKEN, runner="r", run_id=RUN_ID)
    assert run.id == RUN_ID and insert.call_count == 2
    assert body(insert.calls[0].request) == body(insert.calls[1].request)


def test_claim_calls_the_rpc_then_reads_both_rows(store, api):
    rpc = api.post("/rest/v1/rpc/claim_retraining_request").respond(200, json=[{"request_id": REQ_ID, "run_id": RUN_ID, "requested_by": USER, "reason": "drift", "priority": "high", "attempts": 1}])
    req = api.get(REQUESTS).respond(200, json=[{**REQ_ROW, "status": "processing", "attempts": 1, "retraining_run_id": RUN_ID}])
    run = api.get(RUNS).respond(200, json=[{**RUN_ROW, "source": "manual", "request_id": REQ_ID, "triggered_by": USER}])
    claim = store.claim_next_request(runner="host:1", lease_token=TOKEN, as_of=AS_OF)
    request = authed(only(rpc))
    assert query(request) == {} and body(request) == {"p_runner": "host:1", "p_lease_token": TOKEN, "p_as_of": "2026-11-20T02:00:00.000000Z", "p_request_id": None}
    assert query(authed(only(req))) == {"select": ["*"], "id": [f"eq.{REQ_ID}"]}
    assert query(authed(only(run))) == {"select": ["*"], "id": [f"eq.{RUN_ID}"]}
    assert claim.request.status == "processing" and claim.run.triggered_by == USER and claim.request.retraining_run_id == claim.run.id


def test_claim_of_nothing_or_of_a_non_uuid_id(store, api):
    rpc = api.post("/rest/v1/rpc/claim_retraining_request").respond(200, json=[])
    assert store.claim_next_request(runner="r", lease_token=TOKEN, as_of=AS_OF, request_id=REQ_ID) is None
    assert body(only(rpc))["p_request_id"] == REQ_ID
    assert store.claim_next_request(runner="r", lease_token=TOKEN, as_of=AS_OF, request_id="nope") is None
    assert rpc.call_count == 1


def test_claim_is_not_retried_once_sent(store, api):
    rpc = api.post("/rest/v1/rpc/claim_retraining_request").mock(return_value=httpx.Response(503, text="upstream down"))
    with pytest.raises(StoreError, match="rpc claim_retraining_request: HTTP 503"):
        store.claim_next_request(runner="r", lease_token=TOKEN, as_of=AS_OF)
    assert rpc.call_count == 1
    rpc.mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(StoreError, match="no answer in time"):
        store.claim_next_request(runner="r", lease_token=TOKEN, as_of=AS_OF)
    assert rpc.call_count == 2


def test_claim_is_retried_when_the_connection_never_opened(store, api):
    rpc = api.post("/rest/v1/rpc/claim_retraining_request").mock(side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=[])])
    assert store.claim_next_request(runner="r", lease_token=TOKEN, as_of=AS_OF) is None
    assert rpc.call_count == 2


def test_heartbeat_rpc(store, api):
    rpc = api.post("/rest/v1/rpc/heartbeat_retraining_run").mock(side_effect=[httpx.Response(200, json=True), httpx.Response(200, json=False)])
    assert store.heartbeat(RUN_ID, TOKEN) is True
    assert store.heartbeat(RUN_ID, TOKEN) is False
    request = authed(rpc.calls[0].request)
    assert request.method == "POST" and body(request) == {"p_run_id": RUN_ID, "p_lease_token": TOKEN}
    assert store.heartbeat(RUN_ID, "not-a-uuid") is False and rpc.call_count == 2


def test_heartbeat_is_retried_on_5xx_then_succeeds(store, api):
    rpc = api.post("/rest/v1/rpc/heartbeat_retraining_run").mock(side_effect=[httpx.Response(502), httpx.Response(503), httpx.Response(200, json=True)])
    assert store.heartbeat(RUN_ID, TOKEN) is True
    assert rpc.call_count == 3


def test_update_run_is_a_fenced_patch(store, api):
    route = api.patch(RUNS).respond(200, json=[{**RUN_ROW, "status": "completed", "metrics": {"accuracy": 0.8}, "completed_at": "2026-11-20T03:00:00+00:00"}])
    run = store.update_run(RUN_ID, TOKEN, status="completed", metrics={"accuracy": 0.8}, completed_at=datetime(2026, 11, 20, 3, tzinfo=UTC))
    request = authed(only(route))
    assert request.headers["prefer"] == "return=representation"
    assert query(request) == {"id": [f"eq.{RUN_ID}"], "lease_token": [f"eq.{TOKEN}"], "status": ["eq.running"]}
    assert body(request) == {"status": "completed", "metrics": {"accuracy": 0.8}, "completed_at": "2026-11-20T03:00:00.000000Z"}
    assert run.status == "completed" and run.completed_at == datetime(2026, 11, 20, 3, tzinfo=UTC)


def test_update_run_with_no_row_back_is_lease_lost(store, api):
    route = api.patch(RUNS).respond(200, json=[])
    with pytest.raises(LeaseLostError, match=f"run {RUN_ID} is no longer held by this runner"):
        store.update_run(RUN_ID, TOKEN, status="failed", error_message="x")
    with pytest.raises(LeaseLostError):
        store.update_run(RUN_ID, "tok", status="failed")  # no uuid column can match it
    with pytest.raises(StoreError, match="cannot be updated"):
        store.update_run(RUN_ID, TOKEN, runner="elsewhere")
    assert route.call_count == 1


def test_retried_fenced_patch_that_landed_is_not_a_lost_lease(store, api):
    done = {**RUN_ROW, "status": "completed", "completed_at": "2026-11-20T03:00:00+00:00"}
    patch = api.patch(RUNS).mock(side_effect=[httpx.ReadTimeout("timed out"), httpx.Response(200, json=[])])
    read = api.get(RUNS, params={"select": "*"}).respond(200, json=[done])
    run = store.update_run(RUN_ID, TOKEN, status="completed", completed_at=datetime(2026, 11, 20, 3, tzinfo=UTC))
    assert run.status == "completed" and patch.call_count == 2 and read.call_count == 1


def test_retried_fenced_patch_on_a_reaped_run_is_a_lost_lease(store, api):
    reaped = {**RUN_ROW, "status": "failed", "error_message": "runner lost: no heartbeat for more than 600 s"}
    api.patch(RUNS).mock(side_effect=[httpx.Response(503), httpx.Response(200, json=[])])
    api.get(RUNS, params={"select": "*"}).respond(200, json=[reaped])
    with pytest.raises(LeaseLostError):
        store.update_run(RUN_ID, TOKEN, status="completed")


def test_retried_finish_and_cancel_that_landed_succeed(store, api):
    api.patch(REQUESTS).mock(side_effect=[httpx.ReadTimeout("t"), httpx.Response(200, json=[]), httpx.ReadTimeout("t"), httpx.Response(200, json=[])])
    api.get(REQUESTS).mock(side_effect=[
        httpx.Response(200, json=[{**REQ_ROW, "status": "completed", "retraining_run_id": RUN_ID}]),
        httpx.Response(200, json=[{**REQ_ROW, "status": "cancelled"}]),
    ])
    assert store.finish_request(REQ_ID, RUN_ID, "completed") is True
    assert store.cancel_request(REQ_ID).status == "cancelled"


def test_get_run_and_missing_run(store, api):
    route = api.get(RUNS, params={"select": "*"}).mock(side_effect=[httpx.Response(200, json=[RUN_ROW]), httpx.Response(200, json=[])])
    assert store.get_run(RUN_ID).heartbeat_at.tzinfo == UTC
    assert store.get_run(RUN_ID) is None
    assert query(authed(route.calls[0].request)) == {"select": ["*"], "id": [f"eq.{RUN_ID}"]}
    assert store.get_run("not-a-uuid") is None and route.call_count == 2


def test_list_runs_newest_first_since(store, api):
    route = api.get(RUNS, params={"select": "*"}).respond(200, json=[RUN_ROW])
    assert [r.id for r in store.list_runs(limit=5, since=datetime(2026, 11, 13, tzinfo=UTC))] == [RUN_ID]
    assert query(authed(only(route))) == {"select": ["*"], "created_at": ["gte.2026-11-13T00:00:00.000000Z"], "order": ["created_at.desc,id.desc"], "limit": ["5"]}


def test_reap_rpc(store, api):
    rpc = api.post("/rest/v1/rpc/reap_stale_retraining_runs").respond(200, json=[RUN_ID])
    assert store.reap_stale_runs(600, 3) == [RUN_ID]
    assert body(authed(only(rpc))) == {"p_lease_seconds": 600, "p_max_attempts": 3}


def test_missing_function_says_apply_migrations(store, api):
    api.post("/rest/v1/rpc/reap_stale_retraining_runs").mock(
        return_value=pgrst(404, "PGRST202", "Could not find the function public.reap_stale_retraining_runs(p_lease_seconds, p_max_attempts) in the schema cache")
    )
    with pytest.raises(StoreError, match=r"rpc reap_stale_retraining_runs: HTTP 404 PGRST202: .*apply supabase/migrations"):
        store.reap_stale_runs(600, 3)


# -- requests ------------------------------------------------------------------------------
def test_create_request_posts_a_pending_row(store, api):
    route = api.post(REQUESTS).respond(201, json=[REQ_ROW])
    req = store.create_request(USER, "  drift  ", "high")
    request = authed(only(route))
    assert request.headers["prefer"] == "return=representation"
    sent = body(request)
    uuid.UUID(sent.pop("id"))
    assert sent == {"requested_by": USER, "reason": "drift", "priority": "high", "status": "pending"}
    assert req.priority == "high" and not hasattr(req, "priority_rank")


def test_second_pending_request_409_is_a_clear_error(store, api):
    api.post(REQUESTS).mock(
        return_value=pgrst(409, "23505", 'duplicate key value violates unique constraint "model_retraining_requests_one_pending_per_user"', f"Key (requested_by)=({USER}) already exists.")
    )
    api.get(REQUESTS).respond(200, json=[])
    with pytest.raises(StoreError, match="^you already have a pending request; wait for it or cancel it first$"):
        store.create_request(USER, None, "normal")


def test_unknown_user_409_foreign_key(store, api):
    api.post(REQUESTS).mock(
        return_value=pgrst(409, "23503", 'insert or update on table "model_retraining_requests" violates foreign key constraint "model_retraining_requests_requested_by_fkey"',
                           f'Key (requested_by)=({USER}) is not present in table "users".')
    )
    with pytest.raises(StoreError, match=f"requested_by {USER} is not a user of this Supabase project"):
        store.create_request(USER, None, "normal")


def test_get_and_list_requests(store, api):
    route = api.get(REQUESTS).respond(200, json=[REQ_ROW])
    assert store.get_request(REQ_ID).id == REQ_ID
    assert [r.id for r in store.list_requests(status="pending")] == [REQ_ID]
    assert query(authed(route.calls[0].request)) == {"select": ["*"], "id": [f"eq.{REQ_ID}"]}
    assert query(route.calls[1].request) == {"select": ["*"], "status": ["eq.pending"], "order": ["priority_rank.desc,created_at.asc,id.asc"], "limit": ["100"]}


def test_cancel_request_patches_only_a_pending_one(store, api):
    patch = api.patch(REQUESTS).mock(side_effect=[httpx.Response(200, json=[{**REQ_ROW, "status": "cancelled"}]), httpx.Response(200, json=[])])
    api.get(REQUESTS).respond(200, json=[{**REQ_ROW, "status": "processing"}])
    assert store.cancel_request(REQ_ID).status == "cancelled"
    request = authed(patch.calls[0].request)
    assert request.headers["prefer"] == "return=representation"
    assert query(request) == {"id": [f"eq.{REQ_ID}"], "status": ["eq.pending"]} and body(request) == {"status": "cancelled"}
    with pytest.raises(StoreError, match="is processing; only pending requests can be cancelled"):
        store.cancel_request(REQ_ID)


def test_finish_request_is_fenced_by_its_run(store, api):
    patch = api.patch(REQUESTS).mock(side_effect=[httpx.Response(200, json=[{**REQ_ROW, "status": "failed"}]), httpx.Response(200, json=[])])
    assert store.finish_request(REQ_ID, RUN_ID, "failed", "bad log") is True
    request = authed(patch.calls[0].request)
    assert query(request) == {"id": [f"eq.{REQ_ID}"], "status": ["eq.processing"], "retraining_run_id": [f"eq.{RUN_ID}"]}
    assert body(request) == {"status": "failed", "last_error": "bad log"}
    assert store.finish_request(REQ_ID, RUN_ID, "pending") is False
    assert body(patch.calls[1].request) == {"status": "pending", "last_error": None, "processed_at": None}


# -- objects -------------------------------------------------------------------------------
def test_put_object_upserts_multipart(store, api):
    route = api.post("/storage/v1/object/training-logs/runs/r1.log").respond(200, json={"Key": "training-logs/runs/r1.log"})
    store.put_object("training-logs", "runs/r1.log", b"line 1\n", "text/plain; charset=utf-8")
    request = authed(only(route))
    assert request.headers["x-upsert"] == "true" and request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="file"; filename="r1.log"' in request.content and b"Content-Type: text/plain; charset=utf-8" in request.content
    assert b"\r\n\r\nline 1\n\r\n" in request.content


def test_missing_bucket_says_apply_migrations(store, api):
    api.post("/storage/v1/object/models/v1/model.joblib").mock(return_value=storage_err(404, "404", "Bucket not found", "Bucket not found"))
    with pytest.raises(StoreError, match=r"storage models/v1/model.joblib \(upload\): HTTP 404.*Bucket not found; apply supabase/migrations"):
        store.put_object("models", "v1/model.joblib", b"x")


def test_get_object_and_legacy_not_found(store, api):
    route = api.get("/storage/v1/object/models/v1/model.joblib").mock(side_effect=[
        httpx.Response(200, content=b"\x00model"), storage_err(400, "404", "not_found", "Object not found")])
    assert store.get_object("models", "v1/model.joblib") == b"\x00model"
    authed(route.calls[0].request)
    with pytest.raises(StoreError, match="object models/v1/model.joblib not found"):
        store.get_object("models", "v1/model.joblib")
    assert route.call_count == 2  # a 4xx is not retried


def test_download_object_streams_to_the_file(store, api, tmp_path):
    payload = bytes(range(256)) * 12_288  # 3 MiB: several chunks
    route = api.get("/storage/v1/object/evaluation-logs/daily/2026-11-19.csv").respond(200, content=payload)
    dest = tmp_path / "in" / "log.csv"
    assert store.download_object("evaluation-logs", "daily/2026-11-19.csv", dest) == dest
    assert dest.read_bytes() == payload and [p.name for p in dest.parent.iterdir()] == ["log.csv"]
    authed(only(route))


def test_download_object_missing_leaves_no_file(store, api, tmp_path):
    api.get("/storage/v1/object/models/v9/model.joblib").mock(return_value=storage_err(404, "404", "not_found", "Object not found"))
    with pytest.raises(StoreError, match="object models/v9/model.joblib not found"):
        store.download_object("models", "v9/model.joblib", tmp_path / "m.joblib")
    assert list(tmp_path.iterdir()) == []


def _file(name, size=3):
    return {"name": name, "id": str(uuid.uuid4()), "updated_at": "2026-11-19T00:00:00+00:00", "created_at": "2026-11-19T00:00:00+00:00",
            "last_accessed_at": None, "metadata": {"size": size, "mimetype": "text/csv"}}


def _folder(name):
    return {"name": name, "id": None, "updated_at": None, "created_at": None, "last_accessed_at": None, "metadata": None}


def test_list_objects_recurses_into_folders_and_paginates(store, api):
    page1 = [_file(f"2026-10-{i:03d}.csv") for i in range(99)] + [_folder("old")]
    route = api.post("/storage/v1/object/list/evaluation-logs").mock(side_effect=[
        httpx.Response(200, json=page1),  # daily/, first page: a full page, so there is more
        httpx.Response(200, json=[_file("2025.csv")]),  # daily/old/
        httpx.Response(200, json=[_file("2026-11-19.csv", 8), _file(".emptyFolderPlaceholder", 0)]),  # daily/, page 2
    ])
    found = store.list_objects("evaluation-logs", "daily/")
    bodies = [body(authed(c.request)) for c in route.calls]
    sort = {"column": "name", "order": "asc"}
    assert bodies == [
        {"prefix": "daily", "limit": 100, "offset": 0, "sortBy": sort},
        {"prefix": "daily/old", "limit": 100, "offset": 0, "sortBy": sort},
        {"prefix": "daily", "limit": 100, "offset": 100, "sortBy": sort},
    ]
    assert len(found) == 101 and [o.name for o in found] == sorted(o.name for o in found)
    assert "daily/old/2025.csv" in [o.name for o in found] and not any("emptyFolder" in o.name for o in found)
    assert {o.name: o.size for o in found}["daily/2026-11-19.csv"] == 8


def test_list_objects_skips_folders_that_cannot_match(store, api):
    route = api.post("/storage/v1/object/list/evaluation-logs").mock(side_effect=[
        httpx.Response(200, json=[_folder("daily"), _folder("other"), _file("daily.csv"), _file("zzz.csv")]),
        httpx.Response(200, json=[_file("2026-11-19.csv")]),
    ])
    names = [o.name for o in store.list_objects("evaluation-logs", "dail")]
    assert names == ["daily.csv", "daily/2026-11-19.csv"]
    assert [body(c.request)["prefix"] for c in route.calls] == ["", "daily"]  # never other/


def test_delete_objects_in_one_call(store, api):
    route = api.delete("/storage/v1/object/training-logs").respond(200, json=[])
    store.delete_objects("training-logs", ["a.log", "b/c.log"])
    request = authed(only(route))
    assert body(request) == {"prefixes": ["a.log", "b/c.log"]}
    store.delete_objects("training-logs", [])
    assert route.call_count == 1


# -- model versions ------------------------------------------------------------------------
def test_create_model_version_posts_a_candidate_and_is_not_retried(store, api):
    route = api.post(VERSIONS).mock(side_effect=[httpx.Response(201, json=[VER_ROW]), httpx.Response(503)])
    kwargs = dict(sha256="a" * 64, size_bytes=1234, sklearn_version="1.5.2", estimator="SGDClassifier", fine_tunable=True,
                  metrics={"f1_score": 0.5}, run_id=RUN_ID, parent_version=2)
    mv = store.create_model_version(**kwargs)
    request = authed(route.calls[0].request)
    assert request.headers["prefer"] == "return=representation"
    assert body(request) == {"status": "candidate", "sha256": "a" * 64, "size_bytes": 1234, "sklearn_version": "1.5.2",
                             "estimator": "SGDClassifier", "fine_tunable": True, "metrics": {"f1_score": 0.5},
                             "run_id": RUN_ID, "parent_version": 2, "note": None}
    assert mv.version == 3 and mv.storage_path == "v3/model.joblib"
    with pytest.raises(StoreError, match="HTTP 503"):
        store.create_model_version(**kwargs)
    assert route.call_count == 2  # the 503 was not retried: a retry could add a version


def test_set_version_status_patch(store, api):
    route = api.patch(VERSIONS).mock(side_effect=[httpx.Response(200, json=[{**VER_ROW, "status": "rejected", "metrics": {"x": 1}}]), httpx.Response(200, json=[])])
    assert store.set_version_status(3, "rejected", {"x": 1}).metrics == {"x": 1}
    request = authed(route.calls[0].request)
    assert query(request) == {"version": ["eq.3"]} and body(request) == {"status": "rejected", "metrics": {"x": 1}}
    assert request.headers["prefer"] == "return=representation"
    with pytest.raises(StoreError, match="model version 3 does not exist"):
        store.set_version_status(3, "retired")
    with pytest.raises(StoreError, match="promote_model_version"):
        store.set_version_status(3, "champion")
    assert route.call_count == 2


def test_promote_rpc_then_read_back(store, api):
    rpc = api.post("/rest/v1/rpc/promote_model_version").respond(200, json=None)
    read = api.get(VERSIONS).respond(200, json=[{**VER_ROW, "status": "champion", "promoted_at": "2026-11-20T02:20:00+00:00"}])
    assert store.promote_model_version(3).status == "champion"
    assert body(authed(only(rpc))) == {"p_version": 3}
    assert query(authed(only(read))) == {"select": ["*"], "version": ["eq.3"]}


def test_promote_unknown_version_500_p0002_is_not_retried(store, api):
    rpc = api.post("/rest/v1/rpc/promote_model_version").mock(return_value=pgrst(500, "P0002", "promote_model_version: model version 9999 does not exist"))
    with pytest.raises(StoreError, match="model version 9999 does not exist"):
        store.promote_model_version(9999)
    assert rpc.call_count == 1


def test_champion_and_versions_list(store, api):
    route = api.get(VERSIONS).mock(side_effect=[httpx.Response(200, json=[{**VER_ROW, "status": "champion"}]), httpx.Response(200, json=[VER_ROW]), httpx.Response(200, json=[])])
    assert store.get_champion().status == "champion"
    assert [v.version for v in store.list_model_versions()] == [3]
    assert store.get_model_version(4) is None
    assert query(authed(route.calls[0].request)) == {"select": ["*"], "status": ["eq.champion"], "limit": ["1"]}
    assert query(route.calls[1].request) == {"select": ["*"], "order": ["version.desc"], "offset": ["0"], "limit": ["1000"]}
    assert query(route.calls[2].request) == {"select": ["*"], "version": ["eq.4"]}


# -- retries and failures --------------------------------------------------------------------
def test_5xx_every_time_gives_up_after_3_calls(store, api):
    route = api.get(RUNS, params={"select": "*"}).mock(return_value=httpx.Response(500, json={"message": "boom"}))
    with pytest.raises(StoreError, match=r"model_retraining_runs \(read .*\): HTTP 500: boom \(gave up after 3 attempts\); Supabase is failing") as info:
        store.get_run(RUN_ID)
    assert route.call_count == 3 and not isinstance(info.value, StoreUnavailableError)


def test_429_is_retried(store, api):
    route = api.get(RUNS, params={"select": "*"}).mock(side_effect=[httpx.Response(429, json={"message": "slow down"}), httpx.Response(200, json=[RUN_ROW])])
    assert store.get_run(RUN_ID).id == RUN_ID and route.call_count == 2


def test_4xx_is_not_retried(store, api):
    route = api.get(RUNS, params={"select": "*"}).mock(return_value=pgrst(400, "42703", "column model_retraining_runs.nope does not exist"))
    with pytest.raises(StoreError, match="HTTP 400 42703: column model_retraining_runs.nope does not exist"):
        store.get_run(RUN_ID)
    assert route.call_count == 1


def test_read_timeout_after_open_is_retried_then_a_store_error(store, api):
    route = api.get(RUNS, params={"select": "*"}).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(StoreError, match=f"cannot reach SUPABASE_URL {URL}: ReadTimeout: no answer in time") as info:
        store.get_run(RUN_ID)
    assert route.call_count == 3 and not isinstance(info.value, StoreUnavailableError)


def test_401_later_names_the_key_and_the_table(store, api):
    api.patch(RUNS).mock(return_value=pgrst(401, "42501", "permission denied for table model_retraining_runs"))
    with pytest.raises(StoreError, match=r"model_retraining_runs \(update run .*\): HTTP 401 42501: .*SUPABASE_SERVICE_KEY must be the service-role key"):
        store.update_run(RUN_ID, TOKEN, status="completed")


def test_the_key_never_appears_in_messages(api):
    api.get(RUNS, params=PROBE).mock(side_effect=[httpx.Response(403, text=f"bad key {KEY[:4]}"), httpx.ConnectError("refused")])
    for _ in range(2):
        with pytest.raises((StoreError, ConfigError)) as info:
            SupabaseStore(URL, KEY, backoff=0, attempts=1)
        assert KEY not in describe(info.value) and KEY not in repr(info.value)


def test_a_supabase_py_without_httpx_client_injection_is_refused(api, monkeypatch):
    from dataclasses import dataclass

    @dataclass
    class OldOptions:
        auto_refresh_token: bool = True
        persist_session: bool = True

    monkeypatch.setattr("ml_pipeline.supabase_client.ClientOptions", OldOptions)
    with pytest.raises(ConfigError, match="cannot use a given httpx client"):
        SupabaseStore(URL, KEY, backoff=0)
