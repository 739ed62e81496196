"""The paired statistics the promotion gate reads (gate_stats.paired_evidence)."""

from __future__ import annotations

import numpy as np
import pytest

from ml_pipeline.gate_stats import _weighted_metrics, paired_evidence
from ml_pipeline.train_model import scores

LABELS = np.array(["away_win", "draw", "home_win", "rare"], dtype=object)


def _stream(n: int, seed: int, cand_right: float, base_right: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = LABELS[rng.choice(4, size=n, p=[0.45, 0.25, 0.28, 0.02])]

    def model(p_right: float) -> np.ndarray:
        wrong = LABELS[rng.integers(0, 3, size=n)]  # never predicts the rare class when wrong
        return np.where(rng.random(n) < p_right, y, wrong)

    return y, model(cand_right), model(base_right)


def test_unit_weights_give_the_trainers_metrics():
    """The bootstrap's metric function agrees with the metrics the gate compares (sklearn's),
    also when a class is predicted but never true, or true but never predicted."""
    y, pc, _ = _stream(3000, 1, 0.7, 0.6)
    pc[:5] = "never_true"
    labels = sorted(set(y) | set(pc))
    code = {v: i for i, v in enumerate(labels)}
    yi, pi = (np.array([code[v] for v in a]) for a in (y, pc))
    ours = _weighted_metrics(yi, pi, np.ones(len(y)), len(labels))
    expected = scores(y, pc)
    assert {k: round(v, 6) for k, v in ours.items()} == expected


def test_counting_by_cell_equals_weighting_rows():
    """Any row weights, summed per (true, candidate, baseline) cell, give the same metrics:
    why resampling cells is the same bootstrap as resampling rows."""
    y, pc, pb = _stream(2000, 2, 0.65, 0.6)
    labels = sorted(set(y) | set(pc) | set(pb))
    code = {v: i for i, v in enumerate(labels)}
    yi, ci, bi = (np.array([code[v] for v in a]) for a in (y, pc, pb))
    k = len(labels)
    w = np.random.default_rng(3).multinomial(len(y), np.full(len(y), 1 / len(y))).astype(float)
    cells = np.arange(k ** 3)
    per_cell = np.bincount((yi * k + ci) * k + bi, weights=w, minlength=k ** 3)
    for p_rows, p_cells in ((ci, (cells // k) % k), (bi, cells % k)):
        assert _weighted_metrics(yi, p_rows, w, k) == pytest.approx(_weighted_metrics(cells // (k * k), p_cells, per_cell, k), abs=1e-12)


def test_a_clear_gain_has_a_positive_lower_bound_and_noise_does_not():
    y, better, base = _stream(4000, 4, 0.75, 0.60)
    clear = paired_evidence(y, better, base, metric="f1_score", confidence=0.95, resamples=500, seed=1)
    assert clear["ci_low"] > 0 and clear["ci_low"] <= clear["delta"] <= clear["ci_high"]
    assert clear["candidate_only_right"] > clear["baseline_only_right"] and clear["mcnemar_p"] < 0.001
    assert clear["n"] == 4000 == clear["both_right"] + clear["candidate_only_right"] + clear["baseline_only_right"] + clear["both_wrong"]
    y, same_a, same_b = _stream(4000, 5, 0.60, 0.60)
    noise = paired_evidence(y, same_a, same_b, metric="accuracy", confidence=0.95, resamples=500, seed=1)
    assert noise["ci_low"] <= 0 <= noise["ci_high"]


def test_identical_models_tie_exactly_and_results_repeat():
    y, pc, _ = _stream(1000, 6, 0.7, 0.7)
    tie = paired_evidence(y, pc, pc.copy(), metric="balanced_accuracy", confidence=0.9, resamples=200, seed=9)
    assert tie["delta"] == tie["ci_low"] == tie["ci_high"] == 0.0 and tie["candidate_only_right"] == tie["baseline_only_right"] == 0
    y, pc, pb = _stream(1000, 7, 0.7, 0.65)
    assert paired_evidence(y, pc, pb, metric="f1_score", confidence=0.95, seed=3) == paired_evidence(list(y), list(pc), list(pb), metric="f1_score", confidence=0.95, seed=3)


def test_integer_labels_compare_with_their_text():
    """A model fitted on integers predicts ints; the holdout's labels are text: 1 == "1"."""
    y = np.array(["0", "1", "1", "0", "1"] * 40, dtype=object)
    ints = np.array([0, 1, 1, 0, 1] * 40)
    ev = paired_evidence(y, ints, ints[::-1].copy(), metric="accuracy", confidence=0.95, resamples=50)
    assert ev["candidate_only_right"] + ev["both_right"] == 200


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unknown metric"):
        paired_evidence(["a"], ["a"], ["a"], metric="auc", confidence=0.95)
    with pytest.raises(ValueError, match="equally long, non-empty"):
        paired_evidence(["a", "b"], ["a"], ["a", "b"], metric="accuracy", confidence=0.95)
    with pytest.raises(ValueError, match="equally long, non-empty"):
        paired_evidence([], [], [], metric="accuracy", confidence=0.95)
