"""The migrations on a real PostgreSQL 15: they apply, and the schema is the contract.

Contract: docs/data-model.md and the guide's columns and indexes. Catalog queries check
what exists; inserts check that the guards really reject what they must.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.pgcluster import SEED_SQL, STANDIN_SQL, SUPERUSER, PgCluster, PgDatabase, migration_files

PUBLIC_TABLES = ("model_retraining_runs", "model_retraining_requests", "model_versions")
FUNCTIONS = {
    "claim_retraining_request": "text, uuid, timestamp with time zone, uuid",
    "heartbeat_retraining_run": "uuid, uuid",
    "reap_stale_retraining_runs": "integer, integer",
    "promote_model_version": "integer",
}
SHA = "a" * 64

# column -> (type, NOT NULL, default expression or None)
COLUMNS: dict[str, dict[str, tuple[str, bool, str | None]]] = {
    "model_retraining_runs": {
        "id": ("uuid", True, "gen_random_uuid()"),
        "source": ("text", True, None),
        "dataset_size": ("integer", True, "0"),
        "fine_tune_flag": ("boolean", True, "true"),
        "status": ("text", True, "'pending'::text"),
        "metrics": ("jsonb", True, "'{}'::jsonb"),
        "started_at": ("timestamp with time zone", False, None),
        "completed_at": ("timestamp with time zone", False, None),
        "log_url": ("text", False, None),
        "error_message": ("text", False, None),
        "triggered_by": ("uuid", False, None),
        "created_at": ("timestamp with time zone", True, "now()"),
        "updated_at": ("timestamp with time zone", True, "now()"),
        "request_id": ("uuid", False, None),
        "run_date": ("date", False, None),
        "as_of": ("timestamp with time zone", False, None),
        "heartbeat_at": ("timestamp with time zone", False, None),
        "lease_token": ("uuid", False, None),
        "model_version": ("integer", False, None),
        "skip_reason": ("text", False, None),
        "runner": ("text", False, None),
    },
    "model_retraining_requests": {
        "id": ("uuid", True, "gen_random_uuid()"),
        "requested_by": ("uuid", True, "auth.uid()"),
        "reason": ("text", False, None),
        "priority": ("text", True, "'normal'::text"),
        "status": ("text", True, "'pending'::text"),
        "processed_at": ("timestamp with time zone", False, None),
        "retraining_run_id": ("uuid", False, None),
        "created_at": ("timestamp with time zone", True, "now()"),
        "updated_at": ("timestamp with time zone", True, "now()"),
        "attempts": ("integer", True, "0"),
        "claimed_at": ("timestamp with time zone", False, None),
        "last_error": ("text", False, None),
        # Our addition: generated sort key (see the migration).
        "priority_rank": ("smallint", True, None),
    },
    "model_versions": {
        "version": ("integer", True, None),  # identity
        "status": ("text", True, "'candidate'::text"),
        "storage_path": ("text", False, None),
        "sha256": ("text", True, None),
        "size_bytes": ("bigint", True, None),
        "sklearn_version": ("text", True, None),
        "estimator": ("text", False, None),
        "fine_tunable": ("boolean", True, "true"),
        "metrics": ("jsonb", True, "'{}'::jsonb"),
        "run_id": ("uuid", False, None),
        "parent_version": ("integer", False, None),
        "note": ("text", False, None),
        "created_at": ("timestamp with time zone", True, "now()"),
        "updated_at": ("timestamp with time zone", True, "now()"),
        "promoted_at": ("timestamp with time zone", False, None),
    },
}

# (table, index name, fragment of pg_get_indexdef that must appear)
INDEXES = [
    ("model_retraining_runs", "model_retraining_runs_status_idx", "(status)"),
    ("model_retraining_runs", "model_retraining_runs_source_idx", "(source)"),
    ("model_retraining_runs", "model_retraining_runs_created_at_idx", "(created_at DESC)"),
    ("model_retraining_runs", "model_retraining_runs_started_at_idx", "(started_at DESC)"),
    (
        "model_retraining_runs",
        "model_retraining_runs_once_a_day",
        "CREATE UNIQUE INDEX model_retraining_runs_once_a_day ON public.model_retraining_runs "
        "USING btree (run_date) WHERE ((source = ANY (ARRAY['auto_daily'::text, "
        "'decay_triggered'::text])) AND (status <> 'failed'::text))",
    ),
    (
        "model_retraining_requests",
        "model_retraining_requests_pending_queue_idx",
        "(priority_rank DESC, created_at, id) WHERE (status = 'pending'::text)",
    ),
    ("model_retraining_requests", "model_retraining_requests_priority_idx", "(priority)"),
    ("model_retraining_requests", "model_retraining_requests_created_at_idx", "(created_at)"),
    (
        "model_retraining_requests",
        "model_retraining_requests_one_pending_per_user",
        "CREATE UNIQUE INDEX model_retraining_requests_one_pending_per_user ON "
        "public.model_retraining_requests USING btree (requested_by) WHERE (status = 'pending'::text)",
    ),
    (
        "model_versions",
        "model_versions_one_champion",
        "CREATE UNIQUE INDEX model_versions_one_champion ON public.model_versions USING btree "
        "(status) WHERE (status = 'champion'::text)",
    ),
]


@pytest.fixture
def conn(pg_db_module: PgDatabase) -> Iterator[psycopg.Connection[Any]]:
    """Superuser connection inside a transaction that is rolled back after the test.

    One database serves the whole module; nothing a test does survives it.
    """
    with pg_db_module.connect() as c, c.transaction(force_rollback=True):
        yield c


@contextlib.contextmanager
def _rejected(conn: psycopg.Connection[Any], error: type[psycopg.Error]) -> Iterator[None]:
    """Expect error from the block; a savepoint keeps the test's transaction usable."""
    with pytest.raises(error), conn.transaction():
        yield


def _user(conn: psycopg.Connection[Any], email: str = "") -> uuid.UUID:
    uid = uuid.uuid4()
    conn.execute("insert into auth.users (id, email) values (%s, %s)", [uid, email or f"{uid}@example.com"])
    return uid


def _run(conn: psycopg.Connection[Any], **cols: Any) -> uuid.UUID:
    cols.setdefault("source", "auto_daily")
    names = ", ".join(cols)
    marks = ", ".join(["%s"] * len(cols))
    row = conn.execute(
        f"insert into public.model_retraining_runs ({names}) values ({marks}) returning id",  # noqa: S608
        list(cols.values()),
    ).fetchone()
    assert row is not None
    return row[0]


def _version(conn: psycopg.Connection[Any], **cols: Any) -> int:
    cols = {"sha256": SHA, "size_bytes": 10, "sklearn_version": "1.5.2", **cols}
    names = ", ".join(cols)
    marks = ", ".join(["%s"] * len(cols))
    row = conn.execute(
        f"insert into public.model_versions ({names}) values ({marks}) returning version",  # noqa: S608
        list(cols.values()),
    ).fetchone()
    assert row is not None
    return row[0]


# applying -------------------------------------------------------------------------------


def test_migration_files_are_named_for_the_supabase_cli() -> None:
    names = [p.name for p in migration_files()]
    assert len(names) >= 3
    for name in names:
        assert re.fullmatch(r"20\d{12}_[a-z0-9_]+\.sql", name), name
    stamps = [n.split("_", 1)[0] for n in names]
    assert len(set(stamps)) == len(stamps), "two migrations share a timestamp"


def test_every_migration_applies_in_order_on_an_empty_database(pg_cluster: PgCluster) -> None:
    db = pg_cluster.create_database(pg_cluster.unique_name("apply_in_order"))
    try:
        db.apply_sql_file(STANDIN_SQL, user=SUPERUSER)
        for path in migration_files():
            db.apply_sql_file(path)  # raises naming the file and line on failure
        with db.connect() as c:
            tables = {r[0] for r in c.execute(
                "select tablename from pg_tables where schemaname = 'public'"
            )}
        assert set(PUBLIC_TABLES) <= tables
    finally:
        db.drop()


def test_seed_applies_on_top_of_the_migrations(conn: psycopg.Connection[Any]) -> None:
    conn.execute(SEED_SQL.read_text().encode())
    statuses = [r[0] for r in conn.execute(
        "select status from public.model_retraining_runs order by started_at"
    )]
    assert statuses == ["completed", "skipped", "failed"]
    assert conn.execute(
        "select status, priority, attempts from public.model_retraining_requests"
    ).fetchall() == [("pending", "high", 0)]
    assert conn.execute(
        "select version, status, storage_path from public.model_versions"
    ).fetchall() == [(1, "champion", "v1/model.joblib")]


# catalog -------------------------------------------------------------------------------


@pytest.mark.parametrize("table", PUBLIC_TABLES)
def test_columns_types_nullability_and_defaults(conn: psycopg.Connection[Any], table: str) -> None:
    rows = conn.execute(
        """
        select a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attgenerated, a.attidentity
        from pg_attribute a
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped
        """,
        [f"public.{table}"],
    ).fetchall()
    actual = {
        name: (typ, notnull, None if generated else default)
        for name, typ, notnull, default, generated, _identity in rows
    }
    assert actual == COLUMNS[table]
    identity = {name: ident for name, *_rest, ident in rows if ident}
    generated = {name: gen for name, *_mid, gen, _ident in rows if gen}
    if table == "model_versions":
        assert identity == {"version": "d"}  # generated by default as identity
    if table == "model_retraining_requests":
        assert generated == {"priority_rank": "s"}


def test_foreign_keys(conn: psycopg.Connection[Any]) -> None:
    rows = conn.execute(
        """
        select conrelid::regclass::text, a.attname, confrelid::regclass::text, confdeltype
        from pg_constraint c
        join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
        where c.contype = 'f' and c.connamespace = 'public'::regnamespace
        """
    ).fetchall()
    assert set(rows) == {
        ("model_retraining_requests", "requested_by", "auth.users", "c"),
        ("model_retraining_requests", "retraining_run_id", "model_retraining_runs", "n"),
        ("model_retraining_runs", "request_id", "model_retraining_requests", "n"),
        ("model_versions", "run_id", "model_retraining_runs", "n"),
    }


@pytest.mark.parametrize(("table", "name", "fragment"), INDEXES, ids=[i[1] for i in INDEXES])
def test_index_exists(conn: psycopg.Connection[Any], table: str, name: str, fragment: str) -> None:
    row = conn.execute(
        "select indexdef from pg_indexes where schemaname = 'public' and tablename = %s and indexname = %s",
        [table, name],
    ).fetchone()
    assert row is not None, f"index {name} missing"
    assert fragment in row[0]


def test_claim_query_uses_the_pending_queue_index(conn: psycopg.Connection[Any]) -> None:
    conn.execute("set enable_seqscan = off")
    plan = "\n".join(r[0] for r in conn.execute(
        """
        explain select id from public.model_retraining_requests
        where status = 'pending' order by priority_rank desc, created_at, id limit 1
        """
    ))
    assert "model_retraining_requests_pending_queue_idx" in plan


BAD_VALUES = [
    ("run source", "insert into public.model_retraining_runs (source) values ('weekly')"),
    ("run status", "insert into public.model_retraining_runs (source, status) values ('manual', 'done')"),
    ("run dataset_size", "insert into public.model_retraining_runs (source, dataset_size) values ('manual', -1)"),
    ("run metrics not an object", "insert into public.model_retraining_runs (source, metrics) values ('manual', '[]')"),
    ("failed run without error", "insert into public.model_retraining_runs (source, status) values ('manual', 'failed')"),
    ("request priority", "insert into public.model_retraining_requests (requested_by, priority) values ({u}, 'urgent')"),
    ("request status", "insert into public.model_retraining_requests (requested_by, status) values ({u}, 'done')"),
    ("request reason > 500", "insert into public.model_retraining_requests (requested_by, reason) values ({u}, repeat('x', 501))"),
    ("request attempts < 0", "insert into public.model_retraining_requests (requested_by, attempts) values ({u}, -1)"),
    ("version status", f"insert into public.model_versions (status, sha256, size_bytes, sklearn_version) values ('live', '{SHA}', 1, '1.5')"),
    ("version sha256 upper", f"insert into public.model_versions (sha256, size_bytes, sklearn_version) values ('{SHA.upper()}', 1, '1.5')"),
    ("version sha256 short", "insert into public.model_versions (sha256, size_bytes, sklearn_version) values ('abc', 1, '1.5')"),
    ("version size < 0", f"insert into public.model_versions (sha256, size_bytes, sklearn_version) values ('{SHA}', -1, '1.5')"),
]


@pytest.mark.parametrize(("label", "statement"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_check_constraints_reject(conn: psycopg.Connection[Any], label: str, statement: str) -> None:
    user = _user(conn)
    with _rejected(conn, errors.CheckViolation):
        conn.execute(statement.replace("{u}", f"'{user}'"))


def test_reason_of_exactly_500_characters_is_accepted(conn: psycopg.Connection[Any]) -> None:
    user = _user(conn)
    conn.execute(
        "insert into public.model_retraining_requests (requested_by, reason) values (%s, repeat('é', 500))",
        [user],
    )


# triggers ------------------------------------------------------------------------------


@pytest.mark.parametrize("table", PUBLIC_TABLES)
def test_updated_at_trigger_keeps_it_current(conn: psycopg.Connection[Any], table: str) -> None:
    if table == "model_retraining_runs":
        key, value = "id", _run(conn)
    elif table == "model_retraining_requests":
        key = "id"
        value = conn.execute(
            "insert into public.model_retraining_requests (requested_by) values (%s) returning id",
            [_user(conn)],
        ).fetchone()[0]  # type: ignore[index]
    else:
        key, value = "version", _version(conn)
    conn.execute(
        f"update public.{table} set updated_at = '2000-01-01', created_at = '2000-01-01' where {key} = %s",  # noqa: S608
        [value],
    )
    created, updated, now = conn.execute(
        f"select created_at, updated_at, now() from public.{table} where {key} = %s", [value]  # noqa: S608
    ).fetchone()  # type: ignore[misc]
    assert created.year == 2000, "created_at is left alone"
    assert updated == now, "updated_at is set by the trigger whatever the UPDATE says"


def test_processed_at_is_set_when_a_request_reaches_a_final_status(conn: psycopg.Connection[Any]) -> None:
    rid = conn.execute(
        "insert into public.model_retraining_requests (requested_by) values (%s) returning id", [_user(conn)]
    ).fetchone()[0]  # type: ignore[index]
    conn.execute("update public.model_retraining_requests set status = 'processing' where id = %s", [rid])
    assert conn.execute(
        "select processed_at from public.model_retraining_requests where id = %s", [rid]
    ).fetchone() == (None,)
    conn.execute("update public.model_retraining_requests set status = 'completed' where id = %s", [rid])
    assert conn.execute(
        "select processed_at is not null from public.model_retraining_requests where id = %s", [rid]
    ).fetchone() == (True,)


def test_storage_path_defaults_to_the_version_and_can_be_given(conn: psycopg.Connection[Any]) -> None:
    first = _version(conn)
    second = _version(conn, storage_path="imports/legacy.joblib")
    third = _version(conn, version=40)
    paths = dict(conn.execute("select version, storage_path from public.model_versions").fetchall())
    assert paths == {
        first: f"v{first}/model.joblib",
        second: "imports/legacy.joblib",
        third: "v40/model.joblib",
    }


# guards ----------------------------------------------------------------------------------


def test_once_a_day_guard(conn: psycopg.Connection[Any]) -> None:
    day = date(2026, 11, 27)
    _run(conn, source="auto_daily", status="failed", error_message="boom", run_date=day)
    _run(conn, source="auto_daily", status="failed", error_message="boom again", run_date=day)
    _run(conn, source="auto_daily", status="completed", run_date=day)  # retry after failures
    _run(conn, source="manual", status="completed", run_date=day)  # manual runs are not guarded
    _run(conn, source="manual", status="running", run_date=day)
    _run(conn, source="auto_daily", status="skipped", run_date=date(2026, 11, 28))
    for source, status in [("auto_daily", "running"), ("decay_triggered", "pending"), ("auto_daily", "skipped")]:
        with _rejected(conn, errors.UniqueViolation):
            _run(conn, source=source, status=status, run_date=day)
    with _rejected(conn, errors.UniqueViolation):
        _run(conn, source="decay_triggered", status="completed", run_date=date(2026, 11, 28))


def test_one_pending_request_per_user(conn: psycopg.Connection[Any]) -> None:
    alice, bob = _user(conn), _user(conn)
    insert = "insert into public.model_retraining_requests (requested_by) values (%s) returning id"
    first = conn.execute(insert, [alice]).fetchone()[0]  # type: ignore[index]
    conn.execute(insert, [bob])
    with _rejected(conn, errors.UniqueViolation):
        conn.execute(insert, [alice])
    conn.execute("update public.model_retraining_requests set status = 'cancelled' where id = %s", [first])
    conn.execute(insert, [alice])
    with _rejected(conn, errors.UniqueViolation):
        conn.execute("update public.model_retraining_requests set status = 'pending' where id = %s", [first])


def test_at_most_one_champion(conn: psycopg.Connection[Any]) -> None:
    _version(conn, status="champion")
    _version(conn, status="retired")
    _version(conn, status="retired")
    with _rejected(conn, errors.UniqueViolation):
        _version(conn, status="champion")


def test_deleting_a_user_deletes_their_requests_and_keeps_runs(conn: psycopg.Connection[Any]) -> None:
    user = _user(conn)
    rid = conn.execute(
        "insert into public.model_retraining_requests (requested_by) values (%s) returning id", [user]
    ).fetchone()[0]  # type: ignore[index]
    run = _run(conn, source="manual", request_id=rid, triggered_by=user)
    conn.execute("delete from auth.users where id = %s", [user])
    assert conn.execute("select count(*) from public.model_retraining_requests").fetchone() == (0,)
    assert conn.execute(
        "select request_id from public.model_retraining_runs where id = %s", [run]
    ).fetchone() == (None,)


# functions and privileges ------------------------------------------------------------


RESULTS = {
    "claim_retraining_request": "TABLE(request_id uuid, run_id uuid, requested_by uuid, reason text, "
    "priority text, attempts integer)",
    "heartbeat_retraining_run": "boolean",
    "reap_stale_retraining_runs": "SETOF uuid",
    "promote_model_version": "void",
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_signature_security_definer_and_empty_search_path(
    conn: psycopg.Connection[Any], name: str
) -> None:
    rows = conn.execute(
        """
        select p.oid::regprocedure::text, pg_get_function_result(p.oid), p.prosecdef, p.proconfig
        from pg_proc p where p.pronamespace = 'public'::regnamespace and p.proname = %s
        """,
        [name],
    ).fetchall()
    assert rows == [
        (f"{name}({FUNCTIONS[name].replace(', ', ',')})", RESULTS[name], True, ['search_path=""'])
    ], "exactly one overload, SECURITY DEFINER, search_path=''"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_only_service_role_may_execute(conn: psycopg.Connection[Any], name: str) -> None:
    signature = f"public.{name}({FUNCTIONS[name]})"
    privileges = {
        role: conn.execute("select has_function_privilege(%s, %s, 'execute')", [role, signature]).fetchone()[0]  # type: ignore[index]
        for role in ("anon", "authenticated", "service_role")
    }
    assert privileges == {"anon": False, "authenticated": False, "service_role": True}
    public_execute = conn.execute(
        """
        select count(*) from pg_proc p, aclexplode(p.proacl) acl
        where p.oid = %s::regprocedure and acl.grantee = 0 and acl.privilege_type = 'EXECUTE'
        """,
        [signature],
    ).fetchone()
    assert public_execute == (0,), "PUBLIC must not hold EXECUTE"


def test_every_function_of_ours_has_a_fixed_search_path(conn: psycopg.Connection[Any]) -> None:
    rows = conn.execute(
        """
        select p.proname, p.proconfig from pg_proc p
        where p.pronamespace = 'public'::regnamespace
        """
    ).fetchall()
    assert rows, "no functions found"
    assert {name: config for name, config in rows if config != ['search_path=""']} == {}


def test_rls_is_enabled_on_every_public_table(conn: psycopg.Connection[Any]) -> None:
    rows = conn.execute(
        """
        select relname, relrowsecurity from pg_class
        where relnamespace = 'public'::regnamespace and relkind in ('r', 'p')
        """
    ).fetchall()
    assert {name for name, _ in rows} == {*PUBLIC_TABLES, "retraining_request_limits"}
    assert all(enabled for _, enabled in rows), rows


def test_api_roles_privileges(conn: psycopg.Connection[Any]) -> None:
    def table_privs(role: str, table: str) -> set[str]:
        return {
            p for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
            if conn.execute("select has_table_privilege(%s, %s, %s)", [role, f"public.{table}", p]).fetchone()[0]  # type: ignore[index]
        }

    for table in PUBLIC_TABLES:
        assert table_privs("anon", table) == set(), table
        assert {"SELECT", "INSERT", "UPDATE", "DELETE"} <= table_privs("service_role", table)
    assert table_privs("authenticated", "model_retraining_runs") == {"SELECT"}
    assert table_privs("authenticated", "model_versions") == {"SELECT"}
    # Table-level: SELECT only; INSERT/UPDATE exist for some columns (checked below).
    assert table_privs("authenticated", "model_retraining_requests") == {"SELECT"}
    column_privs = {
        (col, p)
        for col in COLUMNS["model_retraining_requests"]
        for p in ("INSERT", "UPDATE")
        if conn.execute(
            "select has_column_privilege('authenticated', 'public.model_retraining_requests', %s, %s)", [col, p]
        ).fetchone()[0]  # type: ignore[index]
    }
    assert column_privs == {
        ("id", "INSERT"), ("requested_by", "INSERT"), ("reason", "INSERT"),
        ("priority", "INSERT"), ("status", "INSERT"), ("attempts", "INSERT"),
        ("status", "UPDATE"),
    }
    for role in ("anon", "authenticated"):
        assert conn.execute(
            "select has_sequence_privilege(%s, 'public.model_versions_version_seq', 'usage, update')", [role]
        ).fetchone() == (False,)


def test_private_buckets_exist(conn: psycopg.Connection[Any]) -> None:
    assert conn.execute("select id, name, public from storage.buckets order by id").fetchall() == [
        ("evaluation-logs", "evaluation-logs", False),
        ("models", "models", False),
        ("training-logs", "training-logs", False),
    ]
