"""registry.py: the promotion gate (pure) and sha256-verified loading."""

from __future__ import annotations

import pytest

from ml_pipeline import model_io
from ml_pipeline.config import load_model_config
from ml_pipeline.errors import ConfigError, IntegrityError
from ml_pipeline.registry import Registry, decide_promotion, main
from ml_pipeline.store import BUCKET_MODELS

from .conftest import CONFIG

PROMOTION = load_model_config(CONFIG).promotion  # f1_score, min_delta 0, accuracy tolerance 0.02, min holdout 30


def m(acc, f1, p=0.5, r=0.5):
    return {"accuracy": acc, "precision": p, "recall": r, "f1_score": f1}


@pytest.mark.parametrize("cand, base, promote, reason", [
    (m(0.80, 0.60), m(0.78, 0.55), True, "f1_score 0.6000 >= baseline 0.5500"),
    (m(0.80, 0.55), m(0.80, 0.55), True, ">= baseline"),  # not worse is enough
    (m(0.80, 0.54), m(0.80, 0.55), False, "f1_score 0.5400 < baseline 0.5500"),
    (m(0.75, 0.60), m(0.78, 0.55), False, "accuracy dropped 0.0300"),
    (m(0.765, 0.60), m(0.78, 0.55), True, "accuracy within 0.0200"),
])
def test_gate_against_baseline(cand, base, promote, reason):
    d = decide_promotion(cand, base, PROMOTION, holdout_size=500)
    assert d.promote is promote and reason in d.reason


def test_gate_first_model_floor_and_small_or_missing_holdout():
    floor = PROMOTION.model_copy(update={"first_model_floor": 0.5})
    assert decide_promotion(m(0.7, 0.6), None, floor, holdout_size=100).promote
    assert not decide_promotion(m(0.7, 0.4), None, floor, holdout_size=100).promote
    small = decide_promotion(m(0.9, 0.9), m(0.1, 0.1), PROMOTION, holdout_size=29)
    assert not small.promote and "fewer than min_holdout_size 30" in small.reason
    assert not decide_promotion(m(0.9, 0.9), m(0.1, 0.1), PROMOTION, holdout_size=900, evaluated_on="training_dataset").promote


def test_one_changed_byte_is_refused_with_a_checksum_error(seeded, settings):
    reg = Registry(seeded, settings.home / "cache")
    mv = reg.champion()
    data = bytearray(seeded.get_object(BUCKET_MODELS, mv.storage_path))
    data[len(data) // 3] ^= 0x01
    seeded.put_object(BUCKET_MODELS, mv.storage_path, bytes(data))
    for cached in (settings.home / "cache").rglob("*.joblib"):
        cached.unlink()
    with pytest.raises(IntegrityError, match="sha256 .* but the database records"):
        reg.load(mv)


def test_tampered_cache_is_replaced_by_verified_download(seeded, settings):
    reg = Registry(seeded, settings.home / "cache")
    mv = reg.champion()
    path = reg.fetch(mv)
    path.write_bytes(b"evil pickle")
    assert reg.load(mv) is not None  # the cache copy was refused and re-downloaded


def test_register_refuses_wrong_classes_and_non_models(store, settings, tmp_path):
    reg = Registry(store, settings.home / "cache")
    model_io.dump({"not": "a model"}, tmp_path / "x.skops")
    with pytest.raises(ConfigError, match="has no predict"):
        reg.register(tmp_path / "x.skops", ["a", "b"])
    with pytest.raises(ConfigError, match="not found"):
        reg.register(tmp_path / "missing.joblib", ["a", "b"])


def test_register_a_model_without_partial_fit_says_so(store, settings, tmp_path, capsys, monkeypatch):
    from sklearn.ensemble import RandomForestClassifier

    rf = RandomForestClassifier(n_estimators=2, random_state=0).fit([[0] * 10, [1] * 10, [2] * 10], ["home_win", "draw", "away_win"])
    model_io.dump(rf, tmp_path / "rf.skops")
    monkeypatch.setenv("ML_PIPELINE_HOME", str(settings.home))
    assert main(["--backend", "local", "--config", str(CONFIG), "register", str(tmp_path / "rf.skops")]) == 0
    out = capsys.readouterr().out
    assert "as v1 (champion)" in out and "cannot be fine-tuned incrementally" in out
    assert main(["--backend", "local", "--config", str(CONFIG), "list"]) == 0
    assert "v1    champion" in capsys.readouterr().out
    assert main(["--backend", "local", "--config", str(CONFIG), "rollback"]) == 2
    assert "nothing to roll back to" in capsys.readouterr().err
