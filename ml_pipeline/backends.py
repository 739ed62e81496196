"""Open the store backend chosen by the settings.

Backends (each imported only when it is opened, so ``supabase`` loads only when used):

* ``local``: :class:`ml_pipeline.local_store.LocalStore`, an SQLite file plus a folder of
  "buckets" under ``ML_PIPELINE_HOME`` (the embedded default);
* ``supabase``: :class:`ml_pipeline.supabase_client.SupabaseStore`, Postgres through
  PostgREST plus Supabase Storage.

A third implementation, :class:`ml_pipeline.memory_store.MemoryStore`, keeps everything in
one process; tests construct it directly (it is no CLI choice: nothing would survive).

``auto`` means ``supabase`` when ``SUPABASE_URL`` is set and ``local`` otherwise.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ml_pipeline.config import BACKENDS
from ml_pipeline.errors import ConfigError

if TYPE_CHECKING:
    from ml_pipeline.config import Settings
    from ml_pipeline.store import Store


def open_store(settings: Settings) -> Store:
    """Open the backend chosen by ``settings.backend``.

    ``auto`` says in one line on stderr when it falls back to the local store. Raises
    ``ConfigError`` for an unknown backend (listing the valid ones) or missing Supabase
    variables.
    """
    backend = settings.resolved_backend
    if backend == "local":
        from ml_pipeline.local_store import LocalStore

        if settings.backend == "auto":
            print(f"ml_pipeline: SUPABASE_URL is not set; using the local store in {settings.home}", file=sys.stderr)
        return LocalStore(settings.home)
    if backend == "supabase":
        missing = [name for name, value in (("SUPABASE_URL", settings.supabase_url), ("SUPABASE_SERVICE_KEY", settings.supabase_service_key)) if not value]
        if missing:
            raise ConfigError(
                f"the supabase backend needs {' and '.join(missing)}; set "
                f"{'them' if len(missing) > 1 else 'it'} in the environment or .env "
                "(SUPABASE_SERVICE_KEY is the service-role key), or use --backend local"
            )
        from ml_pipeline.supabase_client import SupabaseStore

        assert settings.supabase_url and settings.supabase_service_key
        return SupabaseStore(settings.supabase_url, settings.supabase_service_key)
    raise ConfigError(f"backend {backend!r} is unknown; choose one of {', '.join(BACKENDS)}")
