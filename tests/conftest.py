"""Shared pytest fixtures: a real PostgreSQL 15 with Supabase's roles and our migrations.

- ``pg_cluster`` (session): a throwaway cluster (tests/pgcluster.py), stopped and deleted
  at session end, also when tests fail.
- ``pg_template`` (session): name of a template database holding the Supabase stand-in
  plus every migration in supabase/migrations/ in filename order.
- ``pg_db`` (function): a fresh clone of the template for one test, dropped afterwards.
- ``pg_db_module`` (module): one clone shared by a module's tests; use it when each test
  leaves no trace (e.g. runs in a rolled-back transaction).

Both database fixtures yield a ``PgDatabase``: ``.dsn``, ``.connect(role, claims)``,
``.connect_as_user(user_id)``. The cluster module is imported lazily so suites that never
ask for a database do not need psycopg or PostgreSQL.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# `tests.pgcluster` must import however pytest is started (`pytest`, `python -m pytest`).
_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

if TYPE_CHECKING:
    from tests.pgcluster import PgCluster, PgDatabase


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A running PostgreSQL 15 cluster for the whole session."""
    from tests.pgcluster import PgCluster, PgClusterError

    try:
        cluster = PgCluster.start()
    except PgClusterError as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:  # outside the except block: no "during handling" chain in the report
        pytest.fail(problem, pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_template(pg_cluster: PgCluster) -> str:
    """Template database: Supabase stand-in + all migrations."""
    from tests.pgcluster import PgClusterError

    try:
        return pg_cluster.build_template("ml_pipeline_template")
    except PgClusterError as exc:
        problem = f"applying migrations failed: {exc}"
    pytest.fail(problem, pytrace=False)


@pytest.fixture
def pg_db(pg_cluster: PgCluster, pg_template: str, request: pytest.FixtureRequest) -> Iterator[PgDatabase]:
    """A fresh database cloned from the template, for one test."""
    db = pg_cluster.create_database(pg_cluster.unique_name(request.node.name), template=pg_template)
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture(scope="module")
def pg_db_module(
    pg_cluster: PgCluster, pg_template: str, request: pytest.FixtureRequest
) -> Iterator[PgDatabase]:
    """A database cloned from the template, shared by one test module."""
    db = pg_cluster.create_database(pg_cluster.unique_name(request.module.__name__), template=pg_template)
    try:
        yield db
    finally:
        db.drop()
