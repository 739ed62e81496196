"""Scenario 8: a stored model that was changed is refused before it is unpickled.

100 random single-byte mutations of the champion's file in the ``models`` bucket, a
truncated file and a version without a checksum: ``Registry.load`` raises
``IntegrityError`` every time and the model loader (``skops.io.loads``) is never reached. The trainer's own check
(``--model_sha256``) refuses the same bytes. End to end, a run on a damaged champion fails
with the checksum in its message, promotes nothing and is not retried.
"""

from __future__ import annotations

import dataclasses
import random
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import add_requests, rows, write_config

MUTATIONS = 100


@pytest.fixture
def unpickles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every skops.io.loads call (models are skops files, ml_pipeline/model_io.py), recorded;
    the real one still runs (for the positive checks)."""
    import skops.io

    calls: list[str] = []
    real = skops.io.loads

    def load(data: Any, *a: Any, **k: Any) -> Any:
        calls.append(f"{len(data)} bytes")
        return real(data, *a, **k)

    monkeypatch.setattr(skops.io, "loads", load)
    return calls


def test_mutated_truncated_and_unchecked_models_are_refused(seeded_home: Path, tmp_path: Path, unpickles: list[str], figures: Any) -> None:
    from ml_pipeline.errors import IntegrityError
    from ml_pipeline.local_store import LocalStore
    from ml_pipeline.registry import Registry
    from ml_pipeline.train_model import load_verified_model

    store = LocalStore(seeded_home)
    try:
        champion = store.get_champion()
        assert champion is not None and champion.storage_path
        stored = seeded_home / "buckets" / "models" / champion.storage_path
        good = stored.read_bytes()
        rng = random.Random(8)
        refused = trainer_refused = 0
        for i in range(MUTATIONS):
            data = bytearray(good)
            at = rng.randrange(len(data))
            data[at] ^= rng.randrange(1, 256)  # always a different byte
            stored.write_bytes(bytes(data))
            with pytest.raises(IntegrityError, match="sha256"):
                Registry(store, tmp_path / f"cache{i}").load(champion)
            refused += 1
            with pytest.raises(IntegrityError):
                load_verified_model(stored, champion.sha256)
            trainer_refused += 1
        stored.write_bytes(good[: len(good) // 2])
        with pytest.raises(IntegrityError, match="sha256"):
            Registry(store, tmp_path / "cache-truncated").load(champion)
        with pytest.raises(IntegrityError):
            load_verified_model(stored, champion.sha256)
        for missing in ("", None):
            with pytest.raises(IntegrityError, match="no recorded sha256"):
                Registry(store, tmp_path / "cache-nosum").load(dataclasses.replace(champion, sha256=missing))
        assert unpickles == [], f"unpickled a refused file: {unpickles}"

        # Positive control: intact bytes load, and a damaged cache copy is replaced, not trusted.
        stored.write_bytes(good)
        cache = tmp_path / "cache-ok"
        Registry(store, cache).load(champion)
        cached = cache / f"v{champion.version}" / "model.joblib"
        cached.write_bytes(b"\x80not a model")
        Registry(store, cache).load(champion)
        assert cached.read_bytes() == good and len(unpickles) == 2
        assert store.get_champion() == champion
    finally:
        store.close()
    figures.add("8 model integrity", f"{MUTATIONS} single-byte mutations + truncated + missing checksum (x2)",
                f"{refused + 1 + 2}/{MUTATIONS + 3} refused by the registry and {trainer_refused + 1}/{MUTATIONS + 1} by the trainer "
                "before loading (0 skops.io.loads calls); champion unchanged; a damaged cache copy is re-fetched")


def test_a_run_on_a_damaged_champion_fails_and_promotes_nothing(seeded_home: Path, tmp_path: Path, unpickles: list[str]) -> None:
    from ml_pipeline.auto_reinforcement import Job
    from ml_pipeline.config import load_settings
    from ml_pipeline.local_store import LocalStore

    stored = seeded_home / "buckets" / "models" / "v1" / "model.joblib"
    data = bytearray(stored.read_bytes())
    data[len(data) // 3] ^= 0x5A
    stored.write_bytes(bytes(data))
    shutil.rmtree(seeded_home / "cache", ignore_errors=True)
    settings = load_settings({"home": str(seeded_home), "config_path": str(write_config(tmp_path)), "backend": "local"}, env={})
    add_requests(seeded_home, ["high"])
    store = LocalStore(seeded_home)
    try:
        job = Job(settings, store, as_of=datetime(2026, 11, 20, 2, tzinfo=UTC))
        job.process_requests()
    finally:
        store.close()
    (run,) = rows(seeded_home, "SELECT * FROM model_retraining_runs")
    (req,) = rows(seeded_home, "SELECT * FROM model_retraining_requests")
    assert run["status"] == "failed" and "sha256" in run["error_message"] and "refusing to load" in run["error_message"], run
    assert req["status"] == "failed" and req["attempts"] == 1  # a damaged file stays damaged: not retried
    assert rows(seeded_home, "SELECT version, status FROM model_versions") == [{"version": 1, "status": "champion"}]
    assert unpickles == []
