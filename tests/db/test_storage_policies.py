"""Storage buckets and policies as in a shared Supabase project (issue 11, items 3 and 4).

* Our RESTRICTIVE policies hold even when another app added a permissive "anyone may do
  anything" policy on storage.objects and storage.buckets.
* An existing bucket of the same name is never adopted: the migration stops with a message.
* The migrations run as the non-superuser ``postgres``; where it cannot act as the owner of
  storage.objects (Supabase's 2025 permission change), the policy migration stops with a
  clear message and the bucket migration, a separate transaction, is kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.pgcluster import (
    MIGRATION_ROLE,
    STANDIN_SQL,
    SUPERUSER,
    PgCluster,
    PgClusterError,
    PgDatabase,
    migration_files,
    set_role,
    user_claims,
)

OURS = ("evaluation-logs", "training-logs", "models")
VIEWER = uuid.UUID("00000000-0000-4000-a000-0000000000a1")
STRANGER = uuid.UUID("00000000-0000-4000-a000-0000000000a2")

PERMISSIVE_SQL = """
insert into storage.buckets (id, name, public) values ('avatars', 'avatars', false);
insert into storage.objects (bucket_id, name) values
    ('training-logs', 'run.log'), ('evaluation-logs', 'evaluation_log.csv'),
    ('models', 'v1/model.joblib'), ('avatars', 'me.png');
create policy "other app: anyone reads" on storage.objects for select to anon, authenticated using (true);
create policy "other app: anyone uploads" on storage.objects for insert to anon, authenticated with check (true);
create policy "other app: anyone changes" on storage.objects for update to anon, authenticated
    using (true) with check (true);
create policy "other app: anyone deletes" on storage.objects for delete to anon, authenticated using (true);
create policy "other app: anyone manages buckets" on storage.buckets for all to anon, authenticated
    using (true) with check (true);
"""

ACTORS: dict[str, tuple[str, dict[str, Any]]] = {
    "anon": ("anon", {"role": "anon"}),
    "stranger": ("authenticated", {**user_claims(str(STRANGER)), "app_metadata": {}}),
    "viewer": ("authenticated", {**user_claims(str(VIEWER)), "app_metadata": {"ml_role": "viewer"}}),
    "operator": ("authenticated", {**user_claims(str(VIEWER)), "app_metadata": {"ml_role": "operator"}}),
}


@pytest.fixture
def shared(pg_db: PgDatabase) -> Iterator[psycopg.Connection[Any]]:
    """Superuser connection to a database where another app added permissive policies."""
    with pg_db.connect() as conn:
        conn.execute(PERMISSIVE_SQL.encode())
        yield conn


def _outcome(conn: psycopg.Connection[Any], actor: str, statement: str) -> str:
    """'denied (RLS)' or the number of rows read/changed, acting as actor (rolled back)."""
    role, claims = ACTORS[actor]
    with conn.transaction(force_rollback=True):
        set_role(conn, role, claims)
        try:
            with conn.transaction():
                cur = conn.execute(statement.encode())
                return str(len(cur.fetchall()) if cur.description else cur.rowcount)
        except errors.InsufficientPrivilege as exc:
            assert "row-level security" in str(exc), exc
            return "denied (RLS)"


WRITES = {
    "upload": "insert into storage.objects (bucket_id, name) values ('{b}', 'evil')",
    "overwrite": "update storage.objects set metadata = '{{}}' where bucket_id = '{b}'",
    "move out": "update storage.objects set bucket_id = 'avatars' where bucket_id = '{b}'",
    "delete": "delete from storage.objects where bucket_id = '{b}'",
    "make public": "update storage.buckets set public = true where id = '{b}'",
    "delete bucket": "delete from storage.buckets where id = '{b}'",
}


@pytest.mark.parametrize("actor", sorted(ACTORS))
def test_permissive_policy_of_another_app_cannot_open_our_buckets(
    shared: psycopg.Connection[Any], actor: str
) -> None:
    seen = {
        (what, bucket): _outcome(shared, actor, sql.format(b=bucket))
        for bucket in OURS
        for what, sql in WRITES.items()
    }
    denied = {k: v for k, v in seen.items() if v in ("0", "denied (RLS)")}
    assert denied == seen, f"{actor} could write: {set(seen) - set(denied)}"
    reads = {b: _outcome(shared, actor, f"select name from storage.objects where bucket_id = '{b}'") for b in OURS}
    may_read_logs = actor in ("viewer", "operator")
    assert reads == {"evaluation-logs": "0", "models": "0", "training-logs": "1" if may_read_logs else "0"}


@pytest.mark.parametrize("actor", sorted(ACTORS))
def test_the_other_apps_bucket_still_follows_its_own_policies(shared: psycopg.Connection[Any], actor: str) -> None:
    assert _outcome(shared, actor, "insert into storage.objects (bucket_id, name) values ('avatars', 'x.png')") == "1"
    assert _outcome(shared, actor, "select name from storage.objects where bucket_id = 'avatars'") == "1"
    assert _outcome(shared, actor, "update storage.buckets set public = true where id = 'avatars'") == "1"


def test_without_our_restrictive_policies_the_permissive_one_would_open_them(shared: psycopg.Connection[Any]) -> None:
    """Control: the setup really is permissive, so the test above can fail."""
    restrictive = [
        (name, table) for name, table in shared.execute(
            "select policyname, tablename from pg_policies where schemaname = 'storage' and permissive = 'RESTRICTIVE'"
        )
    ]
    assert len(restrictive) == 8, restrictive
    with shared.transaction(force_rollback=True):
        for name, table in restrictive:
            shared.execute(f'drop policy "{name}" on storage.{table}'.encode())
        assert _outcome(shared, "anon", WRITES["upload"].format(b="models")) == "1"
        assert _outcome(shared, "stranger", "select name from storage.objects where bucket_id = 'models'") == "1"
        assert _outcome(shared, "anon", WRITES["make public"].format(b="models")) == "1"


# applying the migrations -------------------------------------------------------------


@pytest.fixture
def empty_db(pg_cluster: PgCluster) -> Iterator[PgDatabase]:
    db = pg_cluster.create_database(pg_cluster.unique_name("storage_apply"))
    try:
        db.apply_sql_file(STANDIN_SQL, user=SUPERUSER)
        yield db
    finally:
        db.drop()


def test_migrations_are_applied_by_a_non_superuser(pg_db: PgDatabase) -> None:
    with pg_db.connect() as conn:
        assert conn.execute(
            "select rolsuper, rolbypassrls from pg_roles where rolname = %s", [MIGRATION_ROLE]
        ).fetchone() == (False, True)
        owners = dict(conn.execute(
            """select c.oid::regclass::text, c.relowner::regrole::text from pg_class c
               where c.oid in ('storage.objects'::regclass, 'storage.buckets'::regclass,
                               'auth.users'::regclass, 'public.model_retraining_requests'::regclass)"""
        ).fetchall())
    assert owners == {
        "storage.objects": "supabase_storage_admin",
        "storage.buckets": "supabase_storage_admin",
        "auth.users": "supabase_auth_admin",
        "model_retraining_requests": MIGRATION_ROLE,
    }


def test_an_existing_bucket_of_the_same_name_is_not_adopted(empty_db: PgDatabase) -> None:
    with empty_db.connect() as conn:
        conn.execute("insert into storage.buckets (id, name, public) values ('models', 'models', true)")
    with pytest.raises(PgClusterError) as caught:
        for path in migration_files():
            empty_db.apply_sql_file(path)
    message = str(caught.value)
    assert "20261127090300_storage_buckets.sql" in message
    assert "storage bucket(s) models (public) already exist in this project; refusing to adopt them" in message
    with empty_db.connect() as conn:
        assert conn.execute("select id, public from storage.buckets").fetchall() == [("models", True)]


def test_policy_failure_keeps_the_buckets_and_says_what_to_do(pg_cluster: PgCluster, empty_db: PgDatabase) -> None:
    """Without the storage admin's privileges (as after Supabase's 2025 change), only the
    policy migration fails, with a message; the buckets of the previous one stay."""
    with pg_cluster.admin() as admin:
        admin.execute(f"revoke supabase_storage_admin from {MIGRATION_ROLE}")
    try:
        failed = []
        for path in migration_files():
            try:
                empty_db.apply_sql_file(path)
            except PgClusterError as exc:
                failed.append(str(exc))
    finally:
        with pg_cluster.admin() as admin:
            admin.execute(f"grant supabase_storage_admin to {MIGRATION_ROLE}")
    assert len(failed) == 1, failed
    assert failed[0].startswith("20261202100100_storage_policies.sql: ml_pipeline: role postgres cannot create "
                                "policies on storage.objects: the table belongs to supabase_storage_admin")
    with empty_db.connect() as conn:
        assert sorted(r[0] for r in conn.execute("select id from storage.buckets")) == sorted(OURS)
        assert conn.execute(
            "select count(*) from pg_policies where schemaname = 'storage'"
        ).fetchone() == (0,)
