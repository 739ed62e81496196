"""The selection rules of a run, each written once, as pure functions over columns (no I/O).

Every caller (the job, ``--dry-run``, ``python -m ml_pipeline.data_loader``, the guide's
functions, the benchmark) goes through :mod:`ml_pipeline.selection`, which applies these
rules to the narrow columns of the window's rows:

* **holdout**: a labelled row whose ``prediction_id`` hashes (pandas' SipHash of the UTF-8
  text, as ``hash_pandas_object``) into the first ``fraction`` of 10,000 buckets; never
  trained on, stable across runs;
* **error**: a labelled row outside the holdout with ``predicted != actual`` and
  ``confidence > threshold`` (strictly; confidence in 0..1);
* **replay**: ``round(replay_ratio x errors)`` correct rows outside the holdout, drawn per
  actual class with pandas' ``groupby().sample(frac, random_state)``;
* **decay**: live accuracy of the last ``recent_days`` against the ``reference_days`` before.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

HASH_BUCKETS = 10_000


def holdout_hash(ids: Any) -> Any:
    """uint64 hash of each ``prediction_id``: ``hash_pandas_object``'s value. ``ids``: an array
    of str, or a null-free Arrow string array, hashed as the bytes of its UTF-8 text (pandas
    encodes each str to those bytes first: the same hash, in less than half the time)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if not len(ids):
        return np.zeros(0, np.uint64)
    if isinstance(ids, pa.Array):
        binary = pa.large_binary() if pa.types.is_large_string(ids.type) else pa.binary()
        return pd.util.hash_array(ids.view(binary).to_numpy(zero_copy_only=False), categorize=False)
    return pd.util.hash_array(np.asarray(ids, dtype=object), categorize=False)


def holdout_cutoff(fraction: float) -> int:
    """Buckets (of :data:`HASH_BUCKETS`) that belong to the holdout."""
    return round(fraction * HASH_BUCKETS)


def in_holdout(hashes: Any, cutoff: int) -> Any:
    """The holdout rule on hashes from :func:`holdout_hash`."""
    import numpy as np

    return (hashes % np.uint64(HASH_BUCKETS)) < np.uint64(cutoff)


def is_error(pred: Any, actual: Any, confidence: Any, threshold: float) -> Any:
    """The error rule: wrong (``actual`` known: the caller passes labelled rows) and ``confidence > threshold``."""
    return (pred != actual) & (confidence > threshold)


def replay_count(correct: int, errors: int, replay_ratio: float) -> int:
    """How many correct rows are replayed beside ``errors`` errors."""
    return min(correct, int(round(replay_ratio * errors)))


def replay_draw(class_rank: Any, n_replay: int, random_seed: int) -> Any:
    """Positions (into ``class_rank``, one entry per correct row) of the replayed rows.

    ``class_rank`` orders the actual classes as their names sort. The draw is pandas'
    ``groupby("actual_label").sample(frac, random_state)`` on the reference frame, step for
    step without the frame (pandas builds a sub-frame per class: a quarter of a second at
    10M rows): one ``RandomState(random_seed)``, the classes in sorted order, each drawing
    ``round(frac x class size)`` of its rows (in log order) with ``choice(replace=False)``.
    A test holds it equal to pandas.
    """
    import numpy as np

    if not n_replay or not len(class_rank):
        return np.zeros(0, np.int64)
    frac = n_replay / len(class_rank)
    state = np.random.RandomState(random_seed)
    order = np.argsort(class_rank, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(class_rank[order])) + 1)
    return np.concatenate([g[state.choice(len(g), size=round(frac * len(g)), replace=False).astype(np.intp, copy=False)]
                           for g in groups])


def confidence_bands(conf: Any, threshold: float) -> dict[str, int]:
    """Error counts per confidence band above the threshold: (t, 0.8], (0.8, 0.9], (0.9, 1]."""
    edges = [threshold] + [e for e in (0.8, 0.9) if e > threshold] + [1.0]
    return {f"({lo:.2f}, {hi:.2f}]": int(((conf > lo) & (conf <= hi)).sum()) for lo, hi in pairwise(edges)}


def decay_verdict(counts: tuple[int, int, int, int, int] | None, decay: Any) -> tuple[bool, str]:
    """Did live accuracy of the last ``recent_days`` fall more than allowed below the reference days?

    ``counts``: rows read, then labelled rows and correct ones in the reference days and in
    the recent days, ``(rows, n_ref, right_ref, n_recent, right_recent)``; None when nothing was read.
    """
    import numpy as np

    if not decay.enabled or counts is None or not counts[0]:
        return False, "decay check disabled or no data"
    _rows, n_ref, right_ref, n_recent, right_recent = counts
    if n_recent < decay.min_rows or n_ref < decay.min_rows:
        return False, f"decay check needs {decay.min_rows} labelled rows in each period (recent {n_recent}, reference {n_ref})"
    acc_recent = float(np.float64(right_recent) / np.float64(n_recent))
    acc_ref = float(np.float64(right_ref) / np.float64(n_ref))
    drop = acc_ref - acc_recent
    msg = (f"live accuracy {acc_recent:.4f} over the last {decay.recent_days} day(s) vs {acc_ref:.4f} over the "
           f"{decay.reference_days} days before (drop {drop:.4f}, limit {decay.max_accuracy_drop:.4f})")
    return drop > decay.max_accuracy_drop, msg
