"""RLS and privilege matrix: every action x {anon, stranger, anonymous sign-in, viewer, operator, service_role}.

Each case runs in a transaction that is rolled back: an optional setup as the superuser,
then ``set local role`` plus ``request.jwt.claims`` as PostgREST does, then the action.
The outcome is classified (allowed, no rows, RLS check, no privilege, CHECK, unique,
NOT NULL) and compared with the expected table below, which also renders
tests/db/rls_matrix.md:

    .venv/bin/python tests/db/test_rls.py     # rewrite rls_matrix.md from CASES

"Own"/"other" are from the acting user's point of view; for anon and service_role,
"own" means the viewer's rows and "other" the operator's. Roles are app_metadata.ml_role
in the JWT (WEB_CONTRACT: set only by an admin); the stranger signed up and has none; the
anonymous sign-in carries is_anonymous and even a viewer role, and must still get nothing.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors

if __name__ == "__main__":  # run as a script: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.pgcluster import PgDatabase, set_role, user_claims

MATRIX_MD = Path(__file__).with_name("rls_matrix.md")
SHA = "c" * 64

USER_A = uuid.UUID("00000000-0000-4000-a000-00000000000a")  # viewer
USER_B = uuid.UUID("00000000-0000-4000-a000-00000000000b")  # operator
USER_S = uuid.UUID("00000000-0000-4000-a000-00000000000c")  # stranger who signed up, no role
USER_N = uuid.UUID("00000000-0000-4000-a000-00000000000d")  # anonymous sign-in
USERS = (USER_A, USER_B, USER_S, USER_N)
RUN_DONE = uuid.UUID("00000000-0000-4000-b000-000000000001")
RUN_STALE = uuid.UUID("00000000-0000-4000-b000-000000000002")


def _ids(prefix: str) -> dict[uuid.UUID, uuid.UUID]:
    return {u: uuid.UUID(f"00000000-0000-4000-{prefix}-{str(u)[-12:]}") for u in USERS}


RUN_OF = _ids("b000")
TOKEN_OF = _ids("c000")
PENDING_OF = _ids("d000")
PROCESSING_OF = _ids("e000")

# Every request of the fixture is two days old, so no rate limit or daily cap applies
# unless a case's setup adds recent ones.
FIXTURE_SQL = "\n".join(
    [
        "insert into auth.users (id, email) values "
        + ", ".join(f"('{u}', '{str(u)[-1]}@example.com')" for u in USERS) + ";",
        f"""insert into public.model_retraining_runs (id, source, status, started_at, completed_at, run_date)
values ('{RUN_DONE}', 'auto_daily', 'completed', now() - interval '1 day', now() - interval '1 day', '2026-11-26');
insert into public.model_retraining_runs (id, source, status, started_at, heartbeat_at, run_date, lease_token)
values ('{RUN_STALE}', 'auto_daily', 'running', now() - interval '2 hours', now() - interval '2 hours',
        '2026-11-27', gen_random_uuid());""",
        *(
            f"""insert into public.model_retraining_requests (id, requested_by, priority, status, attempts, claimed_at, created_at)
values ('{PENDING_OF[u]}', '{u}', 'normal', 'pending', 0, null, now() - interval '2 days'),
       ('{PROCESSING_OF[u]}', '{u}', 'low', 'processing', 1, now(), now() - interval '2 days');
insert into public.model_retraining_runs (id, source, status, triggered_by, request_id, started_at,
                                          heartbeat_at, lease_token, run_date)
values ('{RUN_OF[u]}', 'manual', 'running', '{u}', '{PROCESSING_OF[u]}', now(), now(), '{TOKEN_OF[u]}', '2026-11-27');
update public.model_retraining_requests set retraining_run_id = '{RUN_OF[u]}' where id = '{PROCESSING_OF[u]}';"""
            for u in USERS
        ),
        f"""insert into public.model_versions (version, status, sha256, size_bytes, sklearn_version, run_id)
values (1, 'champion', '{SHA}', 10, '1.5.2', '{RUN_DONE}'),
       (2, 'candidate', '{SHA}', 10, '1.5.2', '{RUN_OF[USER_A]}');
select setval('public.model_versions_version_seq', 2);
insert into storage.objects (bucket_id, name) values
    ('training-logs', '{RUN_DONE}.log'),
    ('evaluation-logs', 'evaluation_log.csv'),
    ('models', 'v1/model.joblib');""",
    ]
)

# Outcomes, and how the matrix shows them.
OK = "ok"
NO_ROWS = "no rows"
RLS = "rls"
PRIVILEGE = "privilege"
CHECK = "check"
UNIQUE = "unique"
NOT_NULL = "not null"
REFUSED = "refused"
SHOWN = {
    OK: "allowed",
    NO_ROWS: "denied (RLS: 0 rows)",
    RLS: "denied (RLS check)",
    PRIVILEGE: "denied (no privilege)",
    CHECK: "denied (CHECK)",
    UNIQUE: "denied (unique index)",
    NOT_NULL: "denied (NOT NULL: no auth.uid())",
    REFUSED: "refused (P0001)",
}

ROLES = ("anon", "stranger", "anonymous sign-in", "viewer", "operator", "service_role")
NOBODY = ("stranger", "anonymous sign-in")  # signed in, but no usable role


@dataclass(frozen=True)
class Actor:
    """Who acts, and whose rows count as 'own' and 'other' for them."""

    label: str
    role: str
    claims: dict[str, Any]
    me: uuid.UUID
    other: uuid.UUID


def _claims(user: uuid.UUID, ml_role: str | None = None, *, anonymous: bool = False) -> dict[str, Any]:
    """JWT claims like GoTrue issues them: app_metadata holds the admin-set ml_role."""
    claims: dict[str, Any] = {**user_claims(str(user)), "is_anonymous": anonymous}
    claims["app_metadata"] = {"provider": "anonymous" if anonymous else "email"}
    if ml_role is not None:
        claims["app_metadata"]["ml_role"] = ml_role
    return claims


ACTORS = {
    "anon": Actor("anon", "anon", {"role": "anon"}, USER_A, USER_B),
    "stranger": Actor("stranger", "authenticated", _claims(USER_S), USER_S, USER_A),
    "anonymous sign-in": Actor(
        "anonymous sign-in", "authenticated", _claims(USER_N, "viewer", anonymous=True), USER_N, USER_A
    ),
    "viewer": Actor("viewer", "authenticated", _claims(USER_A, "viewer"), USER_A, USER_B),
    "operator": Actor("operator", "authenticated", _claims(USER_B, "operator"), USER_B, USER_A),
    "service_role": Actor("service_role", "service_role", {"role": "service_role"}, USER_A, USER_B),
}

Action = Callable[[psycopg.Connection[Any], Actor], int]


@dataclass(frozen=True)
class Case:
    """One row of the matrix."""

    group: str
    label: str
    action: Action
    anon: str
    nobody: str  # stranger and anonymous sign-in
    user: str  # viewer and operator, unless `viewer` says otherwise
    service: str
    setup: Callable[[Actor], str] | None = field(default=None)
    viewer: str | None = None

    def expected(self, role: str) -> str:
        if role == "viewer" and self.viewer is not None:
            return self.viewer
        if role in NOBODY:
            return self.nobody
        return {"anon": self.anon, "service_role": self.service}.get(role, self.user)


def rows(sql: str, params: Callable[[Actor], list[Any]] | None = None) -> Action:
    """Action: run sql; the outcome counts rows returned (SELECT) or affected (DML)."""

    def run(conn: psycopg.Connection[Any], actor: Actor) -> int:
        cur = conn.execute(sql, params(actor) if params else [])
        if cur.description is not None:
            return len(cur.fetchall())
        return cur.rowcount

    return run


def insert_request(columns: str, values: str, extra: Callable[[Actor], list[Any]] | None = None) -> Action:
    return rows(
        f"insert into public.model_retraining_requests ({columns}) values ({values})",  # noqa: S608
        extra,
    )


def drop_pending(whose: str) -> Callable[[Actor], str]:
    """Setup: delete the 'me' or 'other' user's pending request (one pending per user)."""
    return lambda a: f"delete from public.model_retraining_requests where id = '{PENDING_OF[getattr(a, whose)]}'"


def earlier_request(minutes: int) -> Callable[[Actor], str]:
    """Setup: no pending request, and a (cancelled) request of mine `minutes` ago."""
    return lambda a: (
        f"{drop_pending('me')(a)};\n"
        f"insert into {R} (requested_by, status, created_at) "
        f"values ('{a.me}', 'cancelled', now() - interval '{minutes} minutes')"
    )


def todays_requests(count: int, whose: str, limits: str) -> Callable[[Actor], str]:
    """Setup: no pending request of mine, `count` cancelled requests of 'me'/'other' at
    today's 00:00 UTC, and the limits changed by `limits` (an UPDATE's SET list)."""
    return lambda a: (
        f"{drop_pending('me')(a)};\n"
        f"update public.retraining_request_limits set {limits};\n"
        f"insert into {R} (requested_by, status, created_at) "
        f"select '{getattr(a, whose)}', 'cancelled', date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' "
        f"from generate_series(1, {count})"
    )


R = "public.model_retraining_requests"
A, S, T, Q, U, N = PRIVILEGE, RLS, NO_ROWS, REFUSED, UNIQUE, NOT_NULL
CASES: list[Case] = [
    # reading                                                              anon nobody user service
    Case("read", "read runs", rows("select id from public.model_retraining_runs"), A, T, OK, OK),
    Case("read", "read model versions", rows("select version from public.model_versions"), A, T, OK, OK),
    Case("read", "read own requests",
         rows(f"select id from {R} where requested_by = %s", lambda a: [a.me]), A, T, OK, OK),
    Case("read", "read other's requests",
         rows(f"select id from {R} where requested_by = %s", lambda a: [a.other]), A, T, T, OK),
    # creating requests
    Case("create request", "insert own request (requested_by = self)",
         insert_request("requested_by, reason, priority", "%s, 'drift', 'normal'", lambda a: [a.me]),
         A, Q, OK, OK, setup=drop_pending("me")),
    Case("create request", "insert own request, requested_by from the default auth.uid()",
         insert_request("reason", "'drift'"), A, Q, OK, N, setup=drop_pending("me")),
    Case("create request", "insert own request with priority low",
         insert_request("requested_by, priority", "%s, 'low'", lambda a: [a.me]),
         A, Q, OK, OK, setup=drop_pending("me")),
    Case("create request", "insert own request with priority high",
         insert_request("requested_by, priority", "%s, 'high'", lambda a: [a.me]),
         A, Q, OK, OK, setup=drop_pending("me"), viewer=Q),
    Case("create request", "insert own request with status 'pending' sent explicitly",
         insert_request("requested_by, status, attempts", "%s, 'pending', 0", lambda a: [a.me]),
         A, Q, OK, OK, setup=drop_pending("me")),
    Case("create request", "insert a request for someone else",
         insert_request("requested_by", "%s", lambda a: [a.other]), A, Q, S, OK, setup=drop_pending("other")),
    Case("create request", "insert own request with status processing",
         insert_request("requested_by, status", "%s, 'processing'", lambda a: [a.me]),
         A, Q, S, OK, setup=drop_pending("me")),
    Case("create request", "insert own request with attempts = 1",
         insert_request("requested_by, attempts", "%s, 1", lambda a: [a.me]), A, Q, S, OK,
         setup=drop_pending("me")),
    Case("create request", "insert own request linked to a run",
         insert_request("requested_by, retraining_run_id", "%s, %s", lambda a: [a.me, RUN_DONE]),
         A, A, A, OK, setup=drop_pending("me")),
    Case("create request", "insert own request with a back-dated created_at",
         insert_request("requested_by, created_at", "%s, '2000-01-01'", lambda a: [a.me]),
         A, A, A, OK, setup=drop_pending("me")),
    Case("create request", "insert own request with a 501-character reason",
         insert_request("requested_by, reason", "%s, repeat('x', 501)", lambda a: [a.me]),
         A, Q, S, CHECK, setup=drop_pending("me")),
    Case("create request", "insert a second pending request",
         insert_request("requested_by", "%s", lambda a: [a.me]), A, Q, U, U),
    # limits (public.retraining_request_limits: 600 s between requests, 5 a day per user, 20 a day in all)
    Case("limits", "rate-limited user: insert 1 minute after own previous request",
         insert_request("requested_by", "%s", lambda a: [a.me]), A, Q, Q, OK, setup=earlier_request(1)),
    Case("limits", "insert 11 minutes after own previous request",
         insert_request("requested_by", "%s", lambda a: [a.me]), A, Q, OK, OK, setup=earlier_request(11)),
    Case("limits", "daily cap: insert a 6th request of the day (cap 5 per user)",
         insert_request("requested_by", "%s", lambda a: [a.me]), A, Q, Q, OK,
         setup=todays_requests(5, "me", "min_seconds_between_requests = 0")),
    Case("limits", "insert a 5th request of the day (cap 5 per user)",
         insert_request("requested_by", "%s", lambda a: [a.me]), A, Q, OK, OK,
         setup=todays_requests(4, "me", "min_seconds_between_requests = 0")),
    Case("limits", "daily cap: insert when the team made 3 requests today (team cap 3)",
         insert_request("requested_by", "%s", lambda a: [a.me]), A, Q, Q, OK,
         setup=todays_requests(3, "other", "min_seconds_between_requests = 0, daily_cap_total = 3")),
    Case("limits", "read or change the limits",
         rows("update public.retraining_request_limits set daily_cap_per_user = 100"), A, A, A, OK),
    # changing requests
    Case("change request", "cancel own pending request",
         rows(f"update {R} set status = 'cancelled' where id = %s", lambda a: [PENDING_OF[a.me]]), A, T, OK, OK),
    Case("change request", "cancel other's pending request",
         rows(f"update {R} set status = 'cancelled' where id = %s", lambda a: [PENDING_OF[a.other]]), A, T, T, OK),
    Case("change request", "cancel own processing request",
         rows(f"update {R} set status = 'cancelled' where id = %s", lambda a: [PROCESSING_OF[a.me]]), A, T, T, OK),
    Case("change request", "set own pending request to processing",
         rows(f"update {R} set status = 'processing' where id = %s", lambda a: [PENDING_OF[a.me]]), A, T, S, OK),
    Case("change request", "re-open own cancelled request (status back to pending)",
         rows(f"update {R} set status = 'pending' where id = %s", lambda a: [PENDING_OF[a.me]]), A, T, T, OK,
         setup=lambda a: f"update {R} set status = 'cancelled' where id = '{PENDING_OF[a.me]}'"),
    Case("change request", "raise own pending request's priority",
         rows(f"update {R} set priority = 'high' where id = %s", lambda a: [PENDING_OF[a.me]]), A, A, A, OK),
    Case("change request", "change own pending request's reason",
         rows(f"update {R} set reason = 'edited' where id = %s", lambda a: [PENDING_OF[a.me]]), A, A, A, OK),
    Case("change request", "cancel own pending request and raise its priority at once",
         rows(f"update {R} set status = 'cancelled', priority = 'high' where id = %s", lambda a: [PENDING_OF[a.me]]),
         A, A, A, OK),
    Case("change request", "hand own pending request to someone else (requested_by)",
         rows(f"update {R} set requested_by = %s where id = %s", lambda a: [a.other, PENDING_OF[a.me]]),
         A, A, A, OK, setup=drop_pending("other")),
    Case("change request", "delete own request",
         rows(f"delete from {R} where id = %s", lambda a: [PENDING_OF[a.me]]), A, A, A, OK),
    # runs and versions
    Case("runs, versions", "insert a run",
         rows("insert into public.model_retraining_runs (source) values ('manual')"), A, A, A, OK),
    Case("runs, versions", "update a run",
         rows(f"update public.model_retraining_runs set dataset_size = 1 where id = '{RUN_DONE}'"), A, A, A, OK),
    Case("runs, versions", "delete a run",
         rows(f"delete from public.model_retraining_runs where id = '{RUN_DONE}'"), A, A, A, OK),
    Case("runs, versions", "insert a model version",
         rows(f"insert into public.model_versions (sha256, size_bytes, sklearn_version) values ('{SHA}', 1, '1.5')"),
         A, A, A, OK),
    Case("runs, versions", "update a model version (retire the champion)",
         rows("update public.model_versions set status = 'retired' where version = 1"), A, A, A, OK),
    Case("runs, versions", "delete a model version",
         rows("delete from public.model_versions where version = 2"), A, A, A, OK),
    Case("runs, versions", "advance the version sequence (nextval)",
         rows("select nextval('public.model_versions_version_seq')"), A, A, A, OK),
    # functions
    Case("functions", "call claim_retraining_request",
         rows("select * from public.claim_retraining_request('t:1', gen_random_uuid(), now())"), A, A, A, OK),
    Case("functions", "call heartbeat_retraining_run (own run, right token)",
         rows("select 1 from public.heartbeat_retraining_run(%s, %s) as beat where beat",
              lambda a: [RUN_OF[a.me], TOKEN_OF[a.me]]), A, A, A, OK),
    Case("functions", "call reap_stale_retraining_runs",
         rows("select * from public.reap_stale_retraining_runs(600, 3)"), A, A, A, OK),
    Case("functions", "call promote_model_version",
         rows("select public.promote_model_version(2)"), A, A, A, OK),
    # storage
    Case("storage", "read an object in training-logs",
         rows("select name from storage.objects where bucket_id = 'training-logs'"), T, T, OK, OK),
    Case("storage", "read an object in evaluation-logs",
         rows("select name from storage.objects where bucket_id = 'evaluation-logs'"), T, T, T, OK),
    Case("storage", "read an object in models",
         rows("select name from storage.objects where bucket_id = 'models'"), T, T, T, OK),
    Case("storage", "upload to training-logs",
         rows("insert into storage.objects (bucket_id, name) values ('training-logs', 'x.log')"), S, S, S, OK),
    Case("storage", "upload to models",
         rows("insert into storage.objects (bucket_id, name) values ('models', 'v9/model.joblib')"), S, S, S, OK),
    Case("storage", "overwrite an object in models",
         rows("update storage.objects set name = 'v1/evil.joblib' where bucket_id = 'models'"), T, T, T, OK),
    Case("storage", "make bucket models public",
         rows("update storage.buckets set public = true where id = 'models'"), T, T, T, OK),
]


def classify(conn: psycopg.Connection[Any], actor: Actor, action: Action) -> str:
    """Run action as actor and name the outcome."""
    try:
        count = action(conn, actor)
    except errors.InsufficientPrivilege as exc:
        return RLS if "row-level security" in str(exc) else PRIVILEGE
    except errors.RaiseException as exc:
        if not str(exc).startswith("retraining request refused: "):
            raise
        return REFUSED
    except errors.CheckViolation:
        return CHECK
    except errors.UniqueViolation:
        return UNIQUE
    except errors.NotNullViolation:
        return NOT_NULL
    return OK if count > 0 else NO_ROWS


@pytest.fixture(scope="module")
def matrix_conn(pg_db_module: PgDatabase) -> Iterator[psycopg.Connection[Any]]:
    """Superuser connection to the module's database, with the fixture rows committed."""
    with pg_db_module.connect() as conn:
        with conn.transaction():
            conn.execute(FIXTURE_SQL.encode())
        yield conn


def _case_id(case: Case) -> str:
    return case.label.replace(" ", "-")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_rls_matrix(matrix_conn: psycopg.Connection[Any], case: Case, role: str) -> None:
    actor = ACTORS[role]
    with matrix_conn.transaction(force_rollback=True):
        if case.setup is not None:
            matrix_conn.execute(case.setup(actor).encode())
        set_role(matrix_conn, actor.role, actor.claims, local=True)
        outcome = classify(matrix_conn, actor, case.action)
    assert SHOWN[outcome] == SHOWN[case.expected(role)], f"{case.label} as {role}"


def test_fixture_is_untouched_by_the_matrix(matrix_conn: psycopg.Connection[Any]) -> None:
    """Every case rolled back: the shared fixture is as inserted."""
    assert matrix_conn.execute(
        "select status, count(*) from public.model_retraining_requests group by status order by status"
    ).fetchall() == [("pending", 4), ("processing", 4)]
    assert matrix_conn.execute("select count(*) from public.model_retraining_runs").fetchone() == (6,)
    assert matrix_conn.execute(
        "select min_seconds_between_requests, daily_cap_per_user, daily_cap_total from public.retraining_request_limits"
    ).fetchall() == [(600, 5, 20)]


def test_a_user_session_through_connect_helpers(pg_db_module: PgDatabase, matrix_conn: psycopg.Connection[Any]) -> None:
    """The session-level helper behaves like the per-case one: the viewer sees only their requests."""
    with pg_db_module.connect("authenticated", ACTORS["viewer"].claims) as conn:
        assert conn.execute("select auth.uid(), auth.role(), current_user").fetchone() == (
            USER_A, "authenticated", "authenticated",
        )
        seen = {r[0] for r in conn.execute("select requested_by from public.model_retraining_requests")}
        assert seen == {USER_A}


def render_matrix() -> str:
    """The markdown table of CASES (tests/db/rls_matrix.md)."""
    lines = [
        "# RLS and privilege matrix",
        "",
        "Generated from `CASES` in `tests/db/test_rls.py` (`.venv/bin/python tests/db/test_rls.py`);",
        "every cell is a test case run on PostgreSQL 15 with the migrations applied, acting as",
        "the role with its JWT claims like PostgREST. \"Own\"/\"other\" are from the acting user's",
        "point of view; for anon and service_role, \"own\" means the viewer's rows and \"other\" the",
        "operator's. Roles: `app_metadata.ml_role` in the JWT, set only by an admin. *stranger*: signed",
        "up, no role. *anonymous sign-in*: `is_anonymous` true (and, to prove it is ignored, a viewer",
        "role). service_role has BYPASSRLS; it is only held back by constraints and is not limited.",
        "Limits (`public.retraining_request_limits`): 600 s between a user's requests, 5 per user",
        "and 20 in all per UTC day.",
        "",
        "| area | action | " + " | ".join(ROLES) + " |",
        "|---|---|" + "---|" * len(ROLES),
    ]
    for case in CASES:
        cells = [SHOWN[case.expected(role)] for role in ROLES]
        lines.append(f"| {case.group} | {case.label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Legend: *no privilege* = table/column/function privilege missing (SQLSTATE 42501);",
        "*RLS check* = a policy's WITH CHECK refused the row (42501); *RLS: 0 rows* = the",
        "policies hide the rows, so nothing is read or changed; *CHECK*, *unique index*,",
        "*NOT NULL* = a table constraint refused the row; *refused (P0001)* = the BEFORE INSERT",
        "trigger refused with \"retraining request refused: <reason>\" (HTTP 400 through PostgREST).",
        "",
    ]
    return "\n".join(lines)


def test_matrix_document_is_current() -> None:
    assert MATRIX_MD.read_text() == render_matrix(), (
        "tests/db/rls_matrix.md is stale: run `.venv/bin/python tests/db/test_rls.py`"
    )


if __name__ == "__main__":
    MATRIX_MD.write_text(render_matrix())
    print(f"wrote {MATRIX_MD}")
