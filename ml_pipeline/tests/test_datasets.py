"""The selection rules of :mod:`ml_pipeline.datasets` against the pandas code they replace:
the holdout hash is ``hash_pandas_object``'s and the replay draw is
``groupby("actual_label").sample``'s, row for row (a changed holdout or replay would change
every gate decision)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.datasets import holdout_hash, replay_draw


def _pandas_draw(class_rank: np.ndarray, n_replay: int, seed: int) -> np.ndarray:
    frame = pd.DataFrame({"k": class_rank})
    return frame.groupby("k", group_keys=False).sample(frac=n_replay / len(class_rank), random_state=seed).index.to_numpy()


@pytest.mark.parametrize("seed", [0, 42, 2026])
@pytest.mark.parametrize("classes, rows", [(2, 1), (2, 7), (3, 1000), (5, 20_001), (12, 3_333)])
def test_replay_draw_is_pandas_groupby_sample(seed, classes, rows):
    rng = np.random.default_rng(seed + rows)
    # imbalanced classes, one of them possibly absent, interleaved in log order
    p = rng.dirichlet(np.full(classes, 0.4))
    class_rank = rng.choice(classes, size=rows, p=p).astype(np.int8)
    for n_replay in sorted({1, rows // 3, rows // 2, rows}):
        got = replay_draw(class_rank, n_replay, seed)
        want = _pandas_draw(class_rank, n_replay, seed)
        np.testing.assert_array_equal(got, want)
        assert len(np.unique(got)) == len(got)  # without replacement


def test_replay_draw_of_nothing_is_empty():
    assert len(replay_draw(np.zeros(0, np.int8), 5, 1)) == 0
    assert len(replay_draw(np.zeros(4, np.int8), 0, 1)) == 0


@pytest.mark.parametrize("kind", ["str", "arrow string", "arrow large_string", "arrow slice"])
def test_holdout_hash_is_hash_pandas_object(kind):
    """Arrow text is hashed as its UTF-8 bytes: the same values as pandas on the str."""
    import pyarrow as pa

    ids = ["p1", "pred-0000000001", "", "é漢🙂", " padded ", "007", "x" * 1000, "\u00a0\t"]
    want = pd.util.hash_pandas_object(pd.Series(ids, dtype=object), index=False).to_numpy()
    if kind == "str":
        got = holdout_hash(np.asarray(ids, dtype=object))
    elif kind == "arrow slice":  # offsets that do not start at 0
        got = holdout_hash(pa.array(["skip", *ids])[1:])
    else:
        got = holdout_hash(pa.array(ids, pa.large_string() if "large" in kind else pa.string()))
    np.testing.assert_array_equal(got, want)

