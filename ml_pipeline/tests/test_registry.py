"""registry.py: the promotion gate (pure) and sha256-verified loading."""

from __future__ import annotations

import pytest

from ml_pipeline import model_io
from ml_pipeline.config import load_model_config
from ml_pipeline.errors import ConfigError, IntegrityError
from ml_pipeline.records import BUCKET_MODELS
from ml_pipeline.registry import Registry, decide_promotion, main

from .conftest import CONFIG

PROMOTION = load_model_config(CONFIG).promotion  # f1_score, min_delta 0, accuracy tolerance 0.02, min holdout 30


def m(acc, f1, p=0.5, r=0.5, bal=None):
    return {"accuracy": acc, "precision": p, "recall": r, "f1_score": f1, "balanced_accuracy": f1 if bal is None else bal}


def clear(delta=0.05, low=0.02):
    """Paired evidence of a gain that is not noise (as the trainer records it)."""
    return {"metric": "f1_score", "delta": delta, "ci_low": low, "ci_high": delta + 0.03, "confidence": 0.95,
            "candidate_only_right": 40, "baseline_only_right": 10, "n": 500}


@pytest.mark.parametrize("cand, base, promote, reason", [
    (m(0.80, 0.60), m(0.78, 0.55), True, "f1_score 0.6000 > baseline 0.5500"),
    (m(0.80, 0.55), m(0.80, 0.55), False, "ties the baseline 0.5500; a candidate must be strictly better"),  # a tie never promotes
    (m(0.80, 0.54), m(0.80, 0.55), False, "f1_score 0.5400 is below the baseline 0.5500"),
    (m(0.75, 0.60), m(0.78, 0.55), False, "accuracy dropped 0.0300"),
    (m(0.765, 0.60), m(0.78, 0.55), True, "accuracy within 0.0200"),
    (m(0.80, 0.60, bal=0.50), m(0.78, 0.55, bal=0.52), False, "balanced_accuracy dropped 0.0200"),
])
def test_gate_against_baseline(cand, base, promote, reason):
    d = decide_promotion(cand, base, PROMOTION, holdout_size=500, paired=clear())
    assert d.promote is promote and reason in d.reason, d.reason


def test_gate_refuses_a_gain_that_may_be_holdout_noise():
    noisy = {**clear(), "delta": 0.01, "ci_low": -0.004}
    d = decide_promotion(m(0.80, 0.56), m(0.80, 0.55), PROMOTION, holdout_size=500, paired=noisy)
    assert not d.promote and "lower 95% bound -0.0040 <= 0; the gain may be holdout noise" in d.reason
    missing = decide_promotion(m(0.80, 0.60), m(0.78, 0.55), PROMOTION, holdout_size=500)
    assert not missing.promote and "no paired comparison" in missing.reason
    # the recorded bootstrap must be at least as confident as the gate asks
    strict = PROMOTION.model_copy(update={"confidence": 0.99})
    assert "below the configured 0.99" in decide_promotion(m(0.8, 0.6), m(0.78, 0.55), strict, holdout_size=500, paired=clear()).reason


def test_gate_mcnemar_counts_decide():
    mc = PROMOTION.model_copy(update={"paired_test": "mcnemar"})
    few = {**clear(), "candidate_only_right": 12, "baseline_only_right": 8}  # p = 0.25
    d = decide_promotion(m(0.80, 0.60), m(0.78, 0.55), mc, holdout_size=500, paired=few)
    assert not d.promote and "McNemar: candidate alone right on 12 rows, baseline alone on 8" in d.reason
    many = {**clear(), "candidate_only_right": 40, "baseline_only_right": 10}
    assert decide_promotion(m(0.80, 0.60), m(0.78, 0.55), mc, holdout_size=500, paired=many).promote
    off = PROMOTION.model_copy(update={"paired_test": "none"})
    assert decide_promotion(m(0.80, 0.60), m(0.78, 0.55), off, holdout_size=500).promote


def test_gate_checks_the_fixed_reference():
    ref = {"version": 3, **m(0.8, 0.6, bal=0.70)}
    d = decide_promotion(m(0.80, 0.60, bal=0.66), m(0.78, 0.55, bal=0.66), PROMOTION, holdout_size=500, paired=clear(), reference=ref)
    assert not d.promote and "0.0400 below the reference model v3 (0.7000), more than reference_tolerance 0.0200" in d.reason
    ok = decide_promotion(m(0.80, 0.60, bal=0.69), m(0.78, 0.55, bal=0.66), PROMOTION, holdout_size=500, paired=clear(), reference=ref)
    assert ok.promote and "vs reference v3 0.7000" in ok.reason
    off = PROMOTION.model_copy(update={"reference_lag": 0})
    assert decide_promotion(m(0.80, 0.60, bal=0.66), m(0.78, 0.55, bal=0.66), off, holdout_size=500, paired=clear(), reference=ref).promote


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


def test_register_tries_the_model_on_log_rows_and_says_what_does_not_fit(store, settings, sample_log, base_model, tmp_path):
    """Issue 14 item 4: `register` puts the model through the real trainer on a few log rows."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from ml_pipeline.registry import log_sample

    from .conftest import put_log

    put_log(store, sample_log)
    sample = log_sample(store, settings, tmp_path / "s")
    rows = pd.read_csv(sample)
    assert set(rows["actual_label"]) == set(settings.model.model.classes) and len(rows) <= 3 * 40
    reg = Registry(store, settings.home / "cache")
    # A pipeline fitted on a column the log does not have: refused before anything is registered.
    feats = list(settings.model.model.features.numeric)
    train = rows[feats].assign(extra=1.0)
    ct = ColumnTransformer([("num", StandardScaler(), [*feats[:3], "extra"])], remainder="passthrough")
    odd = Pipeline([("prep", ct), ("clf", SGDClassifier(loss="log_loss", random_state=0))]).fit(train, rows["actual_label"])
    odd_path = tmp_path / "odd.skops"
    model_io.dump(odd, odd_path)
    with pytest.raises(ConfigError, match=r"does not work with the evaluation log .*lacks column\(s\) \['extra'\].*nothing was registered"):
        reg.register(odd_path, list(settings.model.model.classes), config_path=CONFIG, sample=sample)
    assert store.list_model_versions() == []
    # The sample model fits: registered as champion.
    good = tmp_path / "good.skops"
    model_io.dump(base_model, good)
    mv, notice = reg.register(good, list(settings.model.model.classes), config_path=CONFIG, sample=sample)
    assert mv.status == "champion" and notice is None
