"""Issue 14: repeated tie/noise promotions on an imbalanced stream collapse the model to the
majority class under the old rule; the new gate refuses them (bench/gate_table.py)."""

from __future__ import annotations

from bench.gate_table import simulate


def test_old_rule_collapses_to_the_majority_class_and_the_new_gate_refuses():
    old = simulate("old", nights=60, seed=7)
    new = simulate("new", nights=60, seed=7)  # same nights, same candidates, same primary metric (accuracy)
    start = simulate("old", nights=0, seed=7)
    # The old rule promoted on ties and noise until the model predicts (almost) only the majority class.
    assert old.ties_promoted >= 20 and old.promotions >= 30
    assert old.balanced_accuracy < 0.55 and old.balanced_accuracy < start.balanced_accuracy - 0.25
    # The new gate: no tie promoted, few promotions, the rare class is still recognised.
    assert new.ties_promoted == 0 and new.promotions <= old.promotions // 3
    assert new.balanced_accuracy > 0.75 and new.macro_f1 > old.macro_f1 + 0.2
