"""``python -m bench.equivalence [SIZES]``: the job's data step on the generated logs gives the
outputs recorded before issue 10 (bench/equivalence.json: sha256 of training_dataset.csv,
holdout.csv and the from-scratch training_full.csv, the figures, the decay verdict).

The figures were recorded at commit 7572246 with the job's former data step (``read_sources``
over the window and the decay days, ``detect_decay``, the pandas ``build_datasets`` and
``Job._full_training_set``); this runs the one selection, :func:`select_datasets`, as the job
calls it, with the from-scratch set asked for. Exit 1 on any difference. 10M rows take minutes.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.__main__ import parse_size
from bench.generate import END, ensure

RECORDED = Path(__file__).resolve().parent / "equivalence.json"


def sha(path: Path | None) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path else None


def job_outputs(path: Path) -> dict[str, Any]:
    from ml_pipeline.config import load_settings
    from ml_pipeline.data_loader import LogSchema, LogSource, Window, select_datasets, write_datasets
    from ml_pipeline.datasets import decay_verdict

    s = load_settings({"config_path": str(Path(__file__).resolve().parent.parent / "model_config.yaml"), "backend": "local"})
    m, r = s.model, s.model.retraining
    window = Window.ending_at(END, s.lookback_days)
    recent = window.end - timedelta(days=m.decay.recent_days)
    ds = select_datasets([LogSource(path.name, path)], LogSchema.from_model_config(m), window,
                         confidence_threshold=s.confidence_threshold, min_samples=s.min_error_samples,
                         holdout_fraction=r.holdout_fraction, replay_ratio=r.replay_ratio, random_seed=r.random_seed,
                         decay_periods=(recent - timedelta(days=m.decay.reference_days), recent), full=True)
    decayed, why = decay_verdict(ds.decay_counts, m.decay)
    with tempfile.TemporaryDirectory() as tmp:
        data = write_datasets(ds, Path(tmp))
        return {"summary": data.summary(), "decay": [decayed, why], "training_dataset.csv": sha(data.dataset_path),
                "holdout.csv": sha(data.holdout_path), "training_full.csv": sha(data.full_dataset_path)}


def main(argv: list[str]) -> int:
    recorded = json.loads(RECORDED.read_text())["logs"]
    ok = True
    for size in argv or ["100k", "1M"]:
        for fmt, path in ensure(parse_size(size)).items():
            key = f"{size}-{fmt}"
            got = json.loads(json.dumps(job_outputs(path)))
            diff = [k for k in recorded[key] if recorded[key][k] != got.get(k)]
            ok &= not diff
            print(f"{key}: {'identical' if not diff else 'DIFFERENT: ' + ', '.join(diff)}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
