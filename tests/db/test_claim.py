"""Queue functions on a real PostgreSQL 15: claim, heartbeat fencing, reaper, promote.

Every call goes through a connection acting as service_role, the only role that may
execute them. Each test gets a fresh clone of the template database (``pg_db``).
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.pgcluster import PgCluster, PgDatabase

RANK = {"high": 3, "normal": 2, "low": 1}
AS_OF = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
BASE = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SHA = "b" * 64


@pytest.fixture
def admin(pg_db: PgDatabase) -> Iterator[psycopg.Connection[Any]]:
    """Superuser, autocommit: sets up rows and reads results."""
    with pg_db.connect() as c:
        yield c


@pytest.fixture
def service(pg_db: PgDatabase) -> Iterator[psycopg.Connection[Any]]:
    """service_role, autocommit: calls the functions like the runner does."""
    with pg_db.connect("service_role") as c:
        yield c


def add_user(conn: psycopg.Connection[Any]) -> uuid.UUID:
    uid = uuid.uuid4()
    conn.execute("insert into auth.users (id, email) values (%s, %s)", [uid, f"{uid}@example.com"])
    return uid


def add_request(
    conn: psycopg.Connection[Any],
    priority: str = "normal",
    created_at: datetime = BASE,
    *,
    user: uuid.UUID | None = None,
    request_id: uuid.UUID | None = None,
    **cols: Any,
) -> uuid.UUID:
    values = {
        "id": request_id or uuid.uuid4(),
        "requested_by": user or add_user(conn),
        "priority": priority,
        "created_at": created_at,
        **cols,
    }
    conn.execute(
        f"insert into public.model_retraining_requests ({', '.join(values)}) "  # noqa: S608
        f"values ({', '.join(['%s'] * len(values))})",
        list(values.values()),
    )
    return values["id"]


def claim(
    conn: psycopg.Connection[Any], request_id: uuid.UUID | None = None, token: uuid.UUID | None = None,
    as_of: datetime = AS_OF, runner: str = "test:1",
) -> dict[str, Any] | None:
    cur = conn.execute(
        "select * from public.claim_retraining_request(%s, %s, %s, %s)",
        [runner, token or uuid.uuid4(), as_of, request_id],
    )
    row = cur.fetchone()
    assert cur.fetchone() is None, "claim returns at most one row"
    if row is None:
        return None
    assert cur.description is not None
    return dict(zip([c.name for c in cur.description], row, strict=True))


def one(conn: psycopg.Connection[Any], query: str, params: list[Any] | None = None) -> dict[str, Any]:
    cur = conn.execute(query, params or [])
    row = cur.fetchone()
    assert row is not None and cur.description is not None, query
    return dict(zip([c.name for c in cur.description], row, strict=True))


# claim --------------------------------------------------------------------------------


def test_claim_returns_nothing_when_the_queue_is_empty(admin: psycopg.Connection[Any], service: psycopg.Connection[Any]) -> None:
    assert claim(service) is None
    add_request(admin, status="cancelled")
    add_request(admin, status="completed")
    assert claim(service) is None
    assert admin.execute("select count(*) from public.model_retraining_runs").fetchone() == (0,)


def test_claim_order_is_rank_then_oldest_then_id(admin: psycopg.Connection[Any], service: psycopg.Connection[Any]) -> None:
    low_oldest = add_request(admin, "low", BASE - timedelta(days=3))
    normal_old = add_request(admin, "normal", BASE - timedelta(days=2))
    high_new = add_request(admin, "high", BASE)
    high_old = add_request(admin, "high", BASE - timedelta(hours=1))
    tie_b = add_request(admin, "normal", BASE, request_id=uuid.UUID(int=0xB))
    tie_a = add_request(admin, "normal", BASE, request_id=uuid.UUID(int=0xA))
    order = []
    while (row := claim(service)) is not None:
        order.append(row["request_id"])
    assert order == [high_old, high_new, normal_old, tie_a, tie_b, low_oldest]


def test_claim_a_specific_request(admin: psycopg.Connection[Any], service: psycopg.Connection[Any]) -> None:
    add_request(admin, "high")
    low = add_request(admin, "low")
    done = add_request(admin, "normal", status="completed")
    assert claim(service, request_id=done) is None, "only a pending request can be claimed"
    assert claim(service, request_id=uuid.uuid4()) is None
    row = claim(service, request_id=low)
    assert row is not None and row["request_id"] == low
    assert claim(service, request_id=low) is None, "already claimed"


def test_claim_creates_the_run_and_links_both_ways(admin: psycopg.Connection[Any], service: psycopg.Connection[Any]) -> None:
    user = add_user(admin)
    rid = add_request(admin, "high", user=user, reason="drift after the pricing change")
    token = uuid.uuid4()
    # 23:30 at UTC-5 is 04:30 UTC the next day: run_date is the UTC date.
    as_of = datetime(2026, 11, 27, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    row = claim(service, token=token, as_of=as_of, runner="host-a:4242")
    assert row is not None
    assert row == {
        "request_id": rid, "run_id": row["run_id"], "requested_by": user,
        "reason": "drift after the pricing change", "priority": "high", "attempts": 1,
    }
    run = one(admin, "select *, now() as db_now from public.model_retraining_runs where id = %s", [row["run_id"]])
    assert run["source"] == "manual"
    assert run["status"] == "running"
    assert run["triggered_by"] == user
    assert run["request_id"] == rid
    assert run["lease_token"] == token
    assert run["runner"] == "host-a:4242"
    assert run["as_of"] == as_of
    assert str(run["run_date"]) == "2026-11-28"
    assert run["started_at"] is not None and run["heartbeat_at"] == run["started_at"]
    assert run["dataset_size"] == 0 and run["fine_tune_flag"] is True and run["metrics"] == {}
    request = one(admin, "select * from public.model_retraining_requests where id = %s", [rid])
    assert request["status"] == "processing"
    assert request["attempts"] == 1
    assert request["claimed_at"] == run["started_at"]
    assert request["retraining_run_id"] == row["run_id"]
    assert request["processed_at"] is None


def test_claim_needs_a_lease_token(service: psycopg.Connection[Any]) -> None:
    with pytest.raises(errors.NullValueNotAllowed):
        service.execute(
            "select * from public.claim_retraining_request('x', null, now())"
        )


def test_a_requeued_request_is_claimed_again_with_attempts_counted(
    admin: psycopg.Connection[Any], service: psycopg.Connection[Any]
) -> None:
    rid = add_request(admin)
    first = claim(service)
    assert first is not None
    admin.execute(
        "update public.model_retraining_runs set heartbeat_at = now() - interval '1 hour' where id = %s",
        [first["run_id"]],
    )
    assert service.execute("select * from public.reap_stale_retraining_runs(600, 3)").fetchall() == [(first["run_id"],)]
    second = claim(service)
    assert second is not None and second["request_id"] == rid
    assert second["attempts"] == 2 and second["run_id"] != first["run_id"]
    assert one(admin, "select retraining_run_id from public.model_retraining_requests where id = %s", [rid]) == {
        "retraining_run_id": second["run_id"]
    }


# heartbeat ----------------------------------------------------------------------------


def test_heartbeat_is_fenced_by_the_lease_token(admin: psycopg.Connection[Any], service: psycopg.Connection[Any]) -> None:
    add_request(admin)
    token = uuid.uuid4()
    row = claim(service, token=token)
    assert row is not None
    run_id = row["run_id"]
    admin.execute(
        "update public.model_retraining_runs set heartbeat_at = '2026-01-01' where id = %s", [run_id]
    )
    beat = "select public.heartbeat_retraining_run(%s, %s)"
    assert service.execute(beat, [run_id, uuid.uuid4()]).fetchone() == (False,)
    assert service.execute(beat, [uuid.uuid4(), token]).fetchone() == (False,)
    assert one(admin, "select heartbeat_at from public.model_retraining_runs where id = %s", [run_id])[
        "heartbeat_at"
    ].year == 2026
    assert service.execute(beat, [run_id, token]).fetchone() == (True,)
    assert one(admin, "select heartbeat_at > '2026-01-01' as moved from public.model_retraining_runs where id = %s", [run_id]) == {"moved": True}
    admin.execute("update public.model_retraining_runs set status = 'completed' where id = %s", [run_id])
    assert service.execute(beat, [run_id, token]).fetchone() == (False,), "only a running run beats"


def test_a_reaped_run_loses_its_lease(admin: psycopg.Connection[Any], service: psycopg.Connection[Any]) -> None:
    add_request(admin)
    token = uuid.uuid4()
    row = claim(service, token=token)
    assert row is not None
    admin.execute(
        "update public.model_retraining_runs set heartbeat_at = now() - interval '20 minutes' where id = %s",
        [row["run_id"]],
    )
    service.execute("select * from public.reap_stale_retraining_runs(600, 3)")
    assert service.execute(
        "select public.heartbeat_retraining_run(%s, %s)", [row["run_id"], token]
    ).fetchone() == (False,)
    # The fencing rule for every runner write (docs/data-model.md "Fencing").
    fenced = service.execute(
        "update public.model_retraining_runs set status = 'completed' "
        "where id = %s and lease_token = %s and status = 'running'",
        [row["run_id"], token],
    )
    assert fenced.rowcount == 0


# reaper -------------------------------------------------------------------------------


def _stale_claim(admin: psycopg.Connection[Any], service: psycopg.Connection[Any], **request: Any) -> dict[str, Any]:
    add_request(admin, **request)
    row = claim(service)
    assert row is not None
    admin.execute(
        "update public.model_retraining_runs set heartbeat_at = now() - interval '11 minutes' where id = %s",
        [row["run_id"]],
    )
    return row


def test_reaper_fails_a_lost_run_and_requeues_its_request(
    admin: psycopg.Connection[Any], service: psycopg.Connection[Any]
) -> None:
    row = _stale_claim(admin, service)
    candidate = one(
        admin,
        "insert into public.model_versions (sha256, size_bytes, sklearn_version, run_id) "
        "values (%s, 1, '1.5.2', %s) returning version",
        [SHA, row["run_id"]],
    )["version"]
    champion = one(
        admin,
        "insert into public.model_versions (status, sha256, size_bytes, sklearn_version) "
        "values ('champion', %s, 1, '1.5.2') returning version",
        [SHA],
    )["version"]
    reaped = [r[0] for r in service.execute("select * from public.reap_stale_retraining_runs(600, 3)")]
    assert reaped == [row["run_id"]]
    run = one(admin, "select status, error_message, completed_at from public.model_retraining_runs where id = %s", [row["run_id"]])
    assert run["status"] == "failed"
    assert run["error_message"] == "runner lost: no heartbeat for more than 600 s"
    assert run["completed_at"] is not None
    request = one(admin, "select * from public.model_retraining_requests where id = %s", [row["request_id"]])
    assert request["status"] == "pending"
    assert request["attempts"] == 1, "attempts are kept"
    assert request["last_error"] == "runner lost: no heartbeat for more than 600 s"
    assert request["processed_at"] is None
    versions = dict(admin.execute("select version, status from public.model_versions").fetchall())
    assert versions == {candidate: "rejected", champion: "champion"}


def test_reaper_fails_the_request_when_attempts_are_exhausted(
    admin: psycopg.Connection[Any], service: psycopg.Connection[Any]
) -> None:
    row = _stale_claim(admin, service, attempts=2)  # this claim made it 3
    assert row["attempts"] == 3
    service.execute("select * from public.reap_stale_retraining_runs(600, 3)")
    request = one(admin, "select * from public.model_retraining_requests where id = %s", [row["request_id"]])
    assert request["status"] == "failed"
    assert request["attempts"] == 3
    assert request["last_error"].startswith("runner lost: no heartbeat for more than 600 s")
    assert request["processed_at"] is not None


def test_reaper_does_not_requeue_when_the_user_queued_a_new_request(
    admin: psycopg.Connection[Any], service: psycopg.Connection[Any]
) -> None:
    user = add_user(admin)
    row = _stale_claim(admin, service, user=user)
    newer = add_request(admin, user=user)  # allowed: the first one is processing
    service.execute("select * from public.reap_stale_retraining_runs(600, 3)")
    statuses = dict(admin.execute("select id, status from public.model_retraining_requests").fetchall())
    assert statuses == {row["request_id"]: "failed", newer: "pending"}


def test_reaper_leaves_live_and_finished_runs_alone(
    admin: psycopg.Connection[Any], service: psycopg.Connection[Any]
) -> None:
    insert = (
        "insert into public.model_retraining_runs (source, status, started_at, heartbeat_at, created_at, error_message) "
        "values (%s, %s, %s, %s, %s, %s) returning id"
    )
    now = one(admin, "select now() as now")["now"]
    old = now - timedelta(hours=2)
    fresh = one(admin, insert, ["manual", "running", old, now - timedelta(seconds=30), old, None])["id"]
    started_recently = one(admin, insert, ["manual", "running", now - timedelta(seconds=60), None, old, None])["id"]
    completed = one(admin, insert, ["manual", "completed", old, old, old, None])["id"]
    failed = one(admin, insert, ["manual", "failed", old, old, old, "boom"])["id"]
    stale_pending = one(admin, insert, ["auto_daily", "pending", None, None, old, None])["id"]
    stale_running = one(admin, insert, ["manual", "running", old, None, old, None])["id"]
    reaped = {r[0] for r in service.execute("select * from public.reap_stale_retraining_runs(600, 3)")}
    assert reaped == {stale_pending, stale_running}
    statuses = dict(admin.execute("select id, status from public.model_retraining_runs").fetchall())
    assert statuses == {
        fresh: "running", started_recently: "running", completed: "completed", failed: "failed",
        stale_pending: "failed", stale_running: "failed",
    }
    assert service.execute("select * from public.reap_stale_retraining_runs(600, 3)").fetchall() == []


@pytest.mark.parametrize(("lease", "attempts"), [(0, 3), (-5, 3), (600, 0)])
def test_reaper_rejects_nonsense_arguments(service: psycopg.Connection[Any], lease: int, attempts: int) -> None:
    with pytest.raises(errors.InvalidParameterValue):
        service.execute("select * from public.reap_stale_retraining_runs(%s, %s)", [lease, attempts])


# promote ------------------------------------------------------------------------------


def _add_version(admin: psycopg.Connection[Any], status: str = "candidate") -> int:
    return one(
        admin,
        "insert into public.model_versions (status, sha256, size_bytes, sklearn_version) "
        "values (%s, %s, 1, '1.5.2') returning version",
        [status, SHA],
    )["version"]


def test_promote_makes_one_champion_and_retires_the_old_one(
    admin: psycopg.Connection[Any], service: psycopg.Connection[Any]
) -> None:
    v1 = _add_version(admin, "champion")
    v2 = _add_version(admin)
    v3 = _add_version(admin)
    service.execute("select public.promote_model_version(%s)", [v2])
    assert dict(admin.execute("select version, status from public.model_versions").fetchall()) == {
        v1: "retired", v2: "champion", v3: "candidate",
    }
    assert one(admin, "select promoted_at is not null as set from public.model_versions where version = %s", [v2]) == {"set": True}
    service.execute("select public.promote_model_version(%s)", [v1])  # roll back to v1
    service.execute("select public.promote_model_version(%s)", [v1])  # idempotent
    assert dict(admin.execute("select version, status from public.model_versions").fetchall()) == {
        v1: "champion", v2: "retired", v3: "candidate",
    }


def test_promote_first_champion_and_unknown_version(
    admin: psycopg.Connection[Any], service: psycopg.Connection[Any]
) -> None:
    v1 = _add_version(admin)
    service.execute("select public.promote_model_version(%s)", [v1])
    with pytest.raises(errors.RaiseException):
        service.execute("select public.promote_model_version(999)")
    assert dict(admin.execute("select version, status from public.model_versions").fetchall()) == {v1: "champion"}


def test_concurrent_promotions_leave_exactly_one_champion(pg_db: PgDatabase, admin: psycopg.Connection[Any]) -> None:
    _add_version(admin, "champion")
    candidates = [_add_version(admin) for _ in range(6)]
    barrier = threading.Barrier(len(candidates))
    failures: list[BaseException] = []

    def promote(version: int) -> None:
        try:
            with pg_db.connect("service_role") as conn:
                barrier.wait()
                conn.execute("select public.promote_model_version(%s)", [version])
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=promote, args=(v,)) for v in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert failures == []
    counts = Counter(r[0] for r in admin.execute("select status from public.model_versions"))
    assert counts == {"champion": 1, "retired": 6}


# concurrency --------------------------------------------------------------------------

CLAIMERS = 8
REQUESTS = 200
REPEATS = 5


def _claim_race(db: PgDatabase, seed: int) -> dict[str, Any]:
    """200 requests from 200 users, 8 service_role claimers started by a barrier."""
    rng = random.Random(seed)
    with db.connect() as admin:
        users = [uuid.uuid4() for _ in range(REQUESTS)]
        with admin.cursor() as cur:
            cur.executemany(
                "insert into auth.users (id, email) values (%s, %s)",
                [(u, f"{u}@example.com") for u in users],
            )
            cur.executemany(
                "insert into public.model_retraining_requests (requested_by, priority, created_at) values (%s, %s, %s)",
                [
                    # Some created_at ties on purpose: id breaks them.
                    (u, rng.choice(["low", "normal", "high"]), BASE + timedelta(seconds=rng.randrange(60)))
                    for u in users
                ],
            )
        priorities = dict(admin.execute("select id, priority from public.model_retraining_requests").fetchall())

    barrier = threading.Barrier(CLAIMERS)
    claims: list[list[uuid.UUID]] = [[] for _ in range(CLAIMERS)]
    failures: list[BaseException] = []

    def claimer(index: int) -> None:
        try:
            with db.connect("service_role") as conn:
                barrier.wait(timeout=30)
                while (row := claim(conn, runner=f"claimer-{index}")) is not None:
                    claims[index].append(row["request_id"])
        except BaseException as exc:  # reported by the caller
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=claimer, args=(i,), name=f"claimer-{i}") for i in range(CLAIMERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a claimer hung"
    assert failures == [], failures

    all_claims = [rid for per in claims for rid in per]
    with db.connect() as admin:
        state = one(
            admin,
            """
            select
              (select count(*) from public.model_retraining_requests where status = 'processing' and attempts = 1) as processing,
              (select count(*) from public.model_retraining_runs) as runs,
              (select count(*) from public.model_retraining_requests q
                 join public.model_retraining_runs r on r.id = q.retraining_run_id and r.request_id = q.id
                 where r.triggered_by = q.requested_by) as linked
            """,
        )
    return {
        "claims": len(all_claims),
        "distinct": len(set(all_claims)),
        "duplicates": len(all_claims) - len(set(all_claims)),
        "per_claimer": [len(per) for per in claims],
        "rank_sequences": [[RANK[priorities[rid]] for rid in per] for per in claims],
        **state,
    }


def test_claim_under_concurrency(pg_cluster: PgCluster, pg_template: str) -> None:
    figures = []
    for repeat in range(REPEATS):
        db = pg_cluster.create_database(pg_cluster.unique_name(f"claim_race_{repeat}"), template=pg_template)
        try:
            result = _claim_race(db, seed=repeat)
        finally:
            db.drop()
        assert result["claims"] == REQUESTS
        assert result["duplicates"] == 0
        assert result["distinct"] == REQUESTS
        assert result["processing"] == REQUESTS
        assert result["runs"] == REQUESTS
        assert result["linked"] == REQUESTS
        for index, ranks in enumerate(result["rank_sequences"]):
            assert ranks == sorted(ranks, reverse=True), f"claimer {index} took a higher rank after a lower one"
        figures.append(result)
        print(
            f"claim race {repeat + 1}/{REPEATS}: {CLAIMERS} claimers, {result['claims']} claims, "
            f"{result['distinct']} distinct, {result['duplicates']} duplicates, "
            f"per claimer {result['per_claimer']}, rank order kept by every claimer"
        )
    assert len(figures) == REPEATS
