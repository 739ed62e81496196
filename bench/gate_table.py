"""The promotion gate on a synthetic imbalanced stream: the old rule vs the new gate (issue 14).

    python -m bench.gate_table [--nights 60] [--seed 7]

The stream: binary, 10 % minority class ``b``. A model is a threshold ``t`` on one score
(majority rows ~ N(0, 1), minority rows ~ N(2, 1)); it predicts ``b`` when score > t. Each
night a fresh holdout of 400 rows is drawn; the candidate is the champion with its threshold
moved by N(+0.10, 0.10): like fine-tuning on a window dominated by the majority class, it
drifts towards predicting the majority. Few holdout rows fall between the two thresholds,
so candidate and champion often score exactly the same (a tie) or differ by noise.

Both rules see the same nights and candidates (same seed) and the real metrics and paired
evidence of the trainer (``train_model.scores``, ``gate_stats.paired_evidence``):

* old rule: ``primary >= baseline + min_delta`` (0) and ``accuracy`` within 0.02 (the gate
  before issue 14, with ``primary_metric: accuracy`` as the replayed users had it);
* new gate: ``registry.decide_promotion`` with the same primary metric, plus the paired
  bootstrap (95 %), the balanced-accuracy guard (0.01) and the reference of 5 promotions ago;
* the same two with ``primary_metric: f1_score`` (macro), the default.

The final champion is scored on 20,000 fresh rows. Pure computation: no store, no files.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

N_HOLDOUT = 400
MINORITY = 0.10


def draw(rng: Any, n: int) -> tuple[Any, Any]:
    """``n`` rows of the stream: (score, label text)."""
    import numpy as np

    is_b = rng.random(n) < MINORITY
    score = np.where(is_b, rng.normal(2.0, 1.0, n), rng.normal(0.0, 1.0, n))
    return score, np.where(is_b, "b", "a").astype(object)


def predict(t: float, score: Any) -> Any:
    import numpy as np

    return np.where(score > t, "b", "a").astype(object)


def old_rule(cand: dict[str, float], base: dict[str, float], primary: str) -> bool:
    """The gate before issue 14: not worse on the primary metric, accuracy within 0.02."""
    return cand[primary] >= base[primary] + 0.0 and base["accuracy"] - cand["accuracy"] <= 0.02


@dataclass
class Outcome:
    rule: str
    nights: int
    promotions: int
    ties_promoted: int
    final_threshold: float
    balanced_accuracy: float
    macro_f1: float
    accuracy: float


def simulate(rule: str, *, nights: int = 60, seed: int = 7, start: float = 1.0) -> Outcome:
    """Run ``nights`` of the loop under ``rule`` ("old", "old-f1", "new" or "new-f1")."""
    import numpy as np

    from ml_pipeline.config import load_model_config
    from ml_pipeline.gate_stats import paired_evidence
    from ml_pipeline.registry import decide_promotion
    from ml_pipeline.train_model import scores

    primary = "f1_score" if rule.endswith("-f1") else "accuracy"
    promotion = _promotion(load_model_config, primary)
    rng = np.random.default_rng(seed)
    champion, crowned = start, [start]
    promotions = ties = 0
    for night in range(nights):
        score, y = draw(rng, N_HOLDOUT)
        candidate = champion + float(rng.normal(0.10, 0.10))
        pc, pb = predict(candidate, score), predict(champion, score)
        cand, base = scores(y, pc), scores(y, pb)
        if rule.startswith("old"):
            promote = old_rule(cand, base, primary)
        else:
            paired = paired_evidence(y, pc, pb, metric=primary, confidence=promotion.confidence, resamples=promotion.bootstrap_resamples, seed=night)
            ref_t = crowned[max(0, len(crowned) - 1 - promotion.reference_lag)]
            reference = {"version": len(crowned) - promotion.reference_lag, **scores(y, predict(ref_t, score))} if ref_t != champion else None
            promote = decide_promotion(cand, base, promotion, holdout_size=N_HOLDOUT, paired=paired, reference=reference).promote
        if promote:
            promotions += 1
            ties += cand[primary] == base[primary]
            champion = candidate
            crowned.append(candidate)
    score, y = draw(np.random.default_rng(seed + 1000), 20_000)
    final = scores(y, predict(champion, score))
    return Outcome(rule, nights, promotions, ties, round(champion, 3), final["balanced_accuracy"], final["f1_score"], final["accuracy"])


def _promotion(load_model_config: Any, primary: str) -> Any:
    from pathlib import Path

    cfg = load_model_config(Path(__file__).resolve().parent.parent / "model_config.yaml")
    return cfg.promotion.model_copy(update={"primary_metric": primary})


def table(nights: int = 60, seed: int = 7) -> list[Outcome]:
    """The three rules on the same stream, plus the starting model."""
    return [simulate(r, nights=nights, seed=seed) for r in ("old", "old-f1", "new", "new-f1")]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gate_table", description=__doc__.splitlines()[0])
    p.add_argument("--nights", type=int, default=60)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    start = simulate("old", nights=0, seed=args.seed)
    rows = [start, *table(args.nights, args.seed)]
    names = {"old": "old rule (>=, accuracy primary)", "old-f1": "old rule (>=, f1 primary)", "new": "new gate (accuracy primary)", "new-f1": "new gate (default, f1 primary)"}
    print(f"synthetic stream: {int(MINORITY * 100)} % minority, holdout {N_HOLDOUT} rows/night, seed {args.seed}")
    print("| rule | nights | promotions | of which ties | final threshold | final balanced accuracy | final macro-F1 | final accuracy |")
    print("|---|---|---|---|---|---|---|---|")
    for o in rows:
        name = "starting model" if o.nights == 0 else names[o.rule]
        print(f"| {name} | {o.nights} | {o.promotions} | {o.ties_promoted} | {o.final_threshold} | {o.balanced_accuracy:.3f} | {o.macro_f1:.3f} | {o.accuracy:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
