"""Shared fixtures of the unit tests: settings on a temporary local store, sample logs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "model_config.yaml"
AS_OF = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
END_DAY = date(2026, 11, 20)


@pytest.fixture(scope="session")
def base_model():
    """The sample base model (trained once per session)."""
    from ml_pipeline.sample_data import base_model as make

    return make()


@pytest.fixture(scope="session")
def sample_log(base_model):
    """Six weeks of sample predictions ending on END_DAY (user's column names)."""
    from ml_pipeline.sample_data import evaluation_log

    return evaluation_log(base_model, END_DAY, days=20, per_day=300)


@pytest.fixture
def settings(tmp_path):
    """Settings on an empty local store in tmp_path, from the repository's model_config.yaml."""
    from ml_pipeline.config import load_settings

    return load_settings({"home": str(tmp_path / "home"), "config_path": str(CONFIG), "backend": "local"}, env={})


@pytest.fixture
def store(settings):
    """An empty LocalStore."""
    from ml_pipeline.local_store import LocalStore

    s = LocalStore(settings.home)
    yield s
    s.close()


def put_log(store, frame, key="evaluation_log.csv"):
    """Upload a DataFrame as the evaluation log (CSV unless the key says otherwise)."""
    from ml_pipeline.records import BUCKET_EVALUATION_LOGS

    if key.endswith(".parquet"):
        import io

        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        data = buf.getvalue()
    elif key.endswith(".gz"):
        data = _gz(frame)
    else:
        data = frame.to_csv(index=False).encode()
    store.put_object(BUCKET_EVALUATION_LOGS, key, data)


def _gz(frame):
    import gzip

    return gzip.compress(frame.to_csv(index=False).encode(), mtime=0)


_INSPECTED: dict[str, object] = {}


@pytest.fixture
def inspect_once(monkeypatch):
    """``model_io.inspect_in_subprocess`` runs once per distinct model bytes in the session.

    The fixtures below register the same base model in every test; each inspection is a
    child process loading scikit-learn (seconds). The description is a function of the bytes
    alone, so other bytes (a tampered or another model) are still inspected for real.
    """
    from ml_pipeline import model_io
    from ml_pipeline.checksums import sha256_bytes

    real = model_io.inspect_in_subprocess

    def inspect(data, **kw):
        key = sha256_bytes(data)
        if key not in _INSPECTED:
            _INSPECTED[key] = real(data, **kw)
        return _INSPECTED[key]

    monkeypatch.setattr(model_io, "inspect_in_subprocess", inspect)


@pytest.fixture
def seeded(store, settings, sample_log, base_model, tmp_path, inspect_once):
    """A store holding the sample log and the base model as champion v1."""
    from ml_pipeline import model_io
    from ml_pipeline.registry import Registry

    put_log(store, sample_log)
    path = tmp_path / "base.skops"
    model_io.dump(base_model, path)
    Registry(store, settings.home / "cache").register(path, list(settings.model.model.classes))
    return store


@pytest.fixture
def small_ranges(monkeypatch):
    """Plain CSV files cut into many byte ranges (several threads, many range edges)."""
    from ml_pipeline import log_reader

    monkeypatch.setattr(log_reader, "CSV_CHUNK_BYTES", 16 << 10)


@pytest.fixture
def diagnostic(monkeypatch):
    """Files read by the diagnostic path (the fast path declined them)."""
    from ml_pipeline import log_sources

    seen = []
    original = log_sources.read_log_file

    def spy(path, display, *args, **kwargs):
        seen.append(display)
        return original(path, display, *args, **kwargs)

    monkeypatch.setattr(log_sources, "read_log_file", spy)
    return seen

