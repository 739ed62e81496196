"""The `store` fixture: one contract suite, run against every backend (STYLE.md, example 3).

Add a backend by adding a factory to FACTORIES: a context manager yielding a fresh,
empty store that implements ml_pipeline.store.Store.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest


@contextmanager
def local_store(tmp_path, request):
    from ml_pipeline.local_store import LocalStore

    store = LocalStore(tmp_path / "home")
    try:
        yield store
    finally:
        store.close()


FACTORIES = {"local": local_store}


@pytest.fixture(params=sorted(FACTORIES))
def store(request, tmp_path):
    with FACTORIES[request.param](tmp_path, request) as s:
        yield s
