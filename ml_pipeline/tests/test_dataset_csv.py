"""dataset_csv.write_csv writes exactly the bytes pandas' to_csv wrote (the equivalence of the
data step is checked on file sha256, and the trainer reads these files)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ml_pipeline import dataset_csv
from ml_pipeline.dataset_csv import DATE_FORMAT, float_texts, write_csv


def _pandas_bytes(table: pa.Table, path) -> bytes:
    table.to_pandas().to_csv(path, index=False, date_format=DATE_FORMAT)
    return path.read_bytes()


def test_floats_are_spelled_as_pandas_spells_them():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**64, size=1_000_000, dtype=np.uint64).view(np.float64)  # every magnitude, NaN, inf
    special = np.array([0.0, -0.0, 4.0, -7.0, 1e-4, 9.999e-5, 1e10, 9999999999.5, 1e16, 123456789.0, 0.1, 1 / 3, np.nan, np.inf, -np.inf])
    decimals = np.round(rng.normal(size=300_000) * 1000, 1)  # what logs hold: a few decimals
    for values in (bits, special, decimals, rng.uniform(0, 1, 300_000)):
        expected = values.astype(str).astype(object)
        expected[np.isnan(values)] = ""
        assert float_texts(values).to_pylist() == expected.tolist()


def test_a_dataset_file_is_byte_identical_to_pandas(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset_csv, "ROWS_PER_CHUNK", 1000)  # several chunks, a short last one
    rng = np.random.default_rng(1)
    n = 4321
    frame = pd.DataFrame({
        "created_at": pd.to_datetime(rng.integers(1_700_000_000_000_000, 1_800_000_000_000_000, n), unit="us", utc=True),
        "prediction_id": [f"pred-é-{i}" for i in range(n)],
        "predicted_label": rng.choice(["home_win", "draw", "1", "True"], n),
        "confidence": rng.uniform(0, 1, n),
        "home_elo": np.round(rng.normal(1500, 200, n), 1),
        "rest_days_diff": rng.integers(-3, 4, n).astype(float),
        "tiny": rng.normal(size=n) * 1e-7,
        "sample_type": rng.choice(["error", "replay"], n),
    })
    frame.loc[::11, "home_elo"] = np.nan
    table = pa.Table.from_pandas(frame, preserve_index=False)
    write_csv(table, tmp_path / "ours.csv")
    assert (tmp_path / "ours.csv").read_bytes() == _pandas_bytes(table, tmp_path / "pandas.csv")


@pytest.mark.parametrize("value", ['a,b', 'say "hi"', "two\nlines", "cr\rhere"])
def test_cells_that_need_quotes_are_written_by_pandas(tmp_path, value):
    table = pa.table({"prediction_id": ["ok", value], "x": [1.0, 2.5]})
    write_csv(table, tmp_path / "ours.csv")
    assert (tmp_path / "ours.csv").read_bytes() == _pandas_bytes(table, tmp_path / "pandas.csv")
    if "\r" not in value:  # (pandas leaves a lone carriage return unquoted)
        assert b'"' in (tmp_path / "ours.csv").read_bytes()


def test_empty_table_and_quoted_header(tmp_path):
    empty = pa.table({"prediction_id": pa.array([], pa.string()), "x": pa.array([], pa.float64())})
    write_csv(empty, tmp_path / "e.csv")
    assert (tmp_path / "e.csv").read_bytes() == b"prediction_id,x\n" == _pandas_bytes(empty, tmp_path / "p.csv")
    odd = pa.table({"a,b": [1.0]})
    write_csv(odd, tmp_path / "o.csv")
    assert (tmp_path / "o.csv").read_bytes() == _pandas_bytes(odd, tmp_path / "p2.csv")
