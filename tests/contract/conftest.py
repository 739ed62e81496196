"""The `store` fixture: one contract suite, run against every backend (STYLE.md, example 3).

Add a backend by adding a factory to FACTORIES: a context manager taking
``(tmp_path, request)`` and yielding a fresh, empty store that implements
ml_pipeline.store.Store. A backend whose requests must come from known users (Supabase:
``requested_by`` references ``auth.users``) registers a callable under ``USERS`` in
``request.node.stash``; the ``new_user`` fixture calls it for every user id it makes.

Backends:

* ``memory``: MemoryStore (everything in this process).
* ``local``: LocalStore in a temporary folder.
* ``supabase``: SupabaseStore whose httpx traffic goes through ``httpx.MockTransport`` to
  tests/contract/postgrest_adapter.py, which runs it as SQL on a fresh clone of the test
  PostgreSQL (tests/conftest.py: the Supabase stand-in plus every migration) as
  ``service_role``, and keeps Storage objects in memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import contextmanager

import pytest

USERS = pytest.StashKey[Callable[[str], None]]()
SUPABASE_URL = "http://supabase.contract.test"
SERVICE_KEY = "contract-test-service-key-not-a-secret"


@contextmanager
def local_store(tmp_path, request):
    from ml_pipeline.local_store import LocalStore

    store = LocalStore(tmp_path / "home")
    try:
        yield store
    finally:
        store.close()


@contextmanager
def memory_store(tmp_path, request):
    from ml_pipeline.memory_store import MemoryStore

    store = MemoryStore()
    try:
        yield store
    finally:
        store.close()


@contextmanager
def supabase_store(tmp_path, request):
    import httpx

    from ml_pipeline.supabase_client import SupabaseStore
    from tests.contract.postgrest_adapter import SupabaseEmulator

    db = request.getfixturevalue("pg_db")
    emulator = SupabaseEmulator(db.dsn, SERVICE_KEY)

    def add_user(user_id: str) -> None:
        emulator.admin.execute("insert into auth.users (id, role) values (%s, 'authenticated')", (user_id,))

    request.node.stash[USERS] = add_user
    http = httpx.Client(transport=httpx.MockTransport(emulator), timeout=10)
    try:
        store = SupabaseStore(SUPABASE_URL, SERVICE_KEY, http_client=http, backoff=0)
        try:
            yield store
        finally:
            store.close()
    finally:
        http.close()
        emulator.close()


FACTORIES = {"local": local_store, "memory": memory_store, "supabase": supabase_store}


@pytest.fixture(params=sorted(FACTORIES))
def store(request, tmp_path):
    with FACTORIES[request.param](tmp_path, request) as s:
        yield s


@pytest.fixture
def new_user(store, request) -> Callable[[], str]:
    """Make a user id the store accepts as ``requested_by``."""
    add = request.node.stash.get(USERS, None)

    def make() -> str:
        user_id = str(uuid.uuid4())
        if add is not None:
            add(user_id)
        return user_id

    return make
