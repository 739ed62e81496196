"""Synthetic evaluation logs for the benchmarks: vectorised, deterministic, cached.

A log of ``n`` rows covers the 30 days before ``END`` (rows in time order, as an
append-only log is), in the column names of ``model_config.yaml`` and of
``ml_pipeline.sample_data``: ``prediction_id, created_at, match_id,
predicted_outcome, actual_outcome, confidence_score (0..100), model_version`` and the
10 numeric features. Confidence is the top class probability of a slightly
over-confident 3-class model (a prediction is right with probability ``c ** 1.3``);
predictions of the last day are mostly unlabelled (not played yet), 2 % of the others
too. Two columns (``match_id``, ``model_version``) are not used by the pipeline.

Files: ``bench/data/log-<n>.csv`` (naive UTC timestamps ``2026-11-19 13:05:00``) and
``log-<n>.parquet`` (``timestamp[us, UTC]``, one row group per million rows), written in
chunks of one million rows so that generating 10M rows needs little memory. A stamp
file beside them keeps them between runs until the generator changes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
END = datetime(2026, 11, 20, tzinfo=UTC)
DAYS = 30
CHUNK = 1_000_000
VERSION = 1  # bump when the generated data changes
CLASSES = ("home_win", "draw", "away_win")
FEATURES = (
    "home_elo", "away_elo", "elo_diff", "home_form", "away_form", "home_goals_avg",
    "away_goals_avg", "home_conceded_avg", "away_conceded_avg", "rest_days_diff",
)


def chunk_table(n: int, lo: int, hi: int, seed: int = 2026) -> Any:
    """Rows ``lo..hi-1`` of the ``n``-row log as an Arrow table (timestamps naive UTC, seconds)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng([seed, n, lo])
    m = hi - lo
    idx = np.arange(lo, hi, dtype=np.int64)
    span = DAYS * 86_400
    start = int((END - timedelta(days=DAYS)).timestamp())
    secs = start + ((idx + rng.random(m)) * (span / n)).astype(np.int64)
    ts = pa.array(secs, pa.int64()).cast(pa.timestamp("s"))

    conf = 1 / 3 + (2 / 3) * rng.beta(1.6, 2.0, m)
    pred_i = rng.choice(3, size=m, p=[0.45, 0.25, 0.30])
    right = rng.random(m) < conf ** 1.3
    actual_i = np.where(right, pred_i, (pred_i + rng.integers(1, 3, m)) % 3)
    last_day = secs >= int(END.timestamp()) - 86_400
    unlabelled = np.where(last_day, rng.random(m) < 0.9, rng.random(m) < 0.02)
    classes = pa.array(CLASSES)
    predicted = classes.take(pa.array(pred_i))
    actual = pc.if_else(pa.array(unlabelled), pa.scalar(None, pa.string()), classes.take(pa.array(actual_i)))

    ids = pc.binary_join_element_wise("pred-", pc.utf8_lpad(pa.array(idx).cast(pa.string()), 10, "0"), "")
    home_elo = rng.normal(1600, 180, m).round(1)
    away_elo = rng.normal(1600, 180, m).round(1)
    cols = {
        "prediction_id": ids,
        "created_at": ts,
        "match_id": pa.array(rng.integers(100_000, 999_999, m)),
        "predicted_outcome": predicted,
        "actual_outcome": actual,
        "confidence_score": pa.array((conf * 100).round(2)),
        "model_version": pa.array(np.full(m, "v3")),
        "home_elo": home_elo,
        "away_elo": away_elo,
        "elo_diff": (home_elo - away_elo).round(1),
        "home_form": rng.uniform(0, 3, m).round(3),
        "away_form": rng.uniform(0, 3, m).round(3),
        "home_goals_avg": rng.gamma(4, 0.35, m).round(3),
        "away_goals_avg": rng.gamma(4, 0.35, m).round(3),
        "home_conceded_avg": rng.gamma(4, 0.33, m).round(3),
        "away_conceded_avg": rng.gamma(4, 0.33, m).round(3),
        "rest_days_diff": rng.integers(-4, 5, m).astype(float),
    }
    return pa.table({k: pa.array(v) if not isinstance(v, (pa.Array, pa.ChunkedArray)) else v for k, v in cols.items()})


def paths(n: int) -> dict[str, Path]:
    """The cached files of the ``n``-row log by format."""
    return {"csv": DATA_DIR / f"log-{n}.csv", "parquet": DATA_DIR / f"log-{n}.parquet"}


def ensure(n: int, *, quiet: bool = False) -> dict[str, Path]:
    """Write the ``n``-row log as CSV and Parquet unless the cached copies are current."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    out = paths(n)
    stamp = DATA_DIR / f"log-{n}.json"
    meta = {"version": VERSION, "rows": n, "end": END.isoformat(), "days": DAYS}
    if stamp.is_file() and json.loads(stamp.read_text()) == meta and all(p.is_file() for p in out.values()):
        return out
    if not quiet:
        print(f"generating {n:,} rows -> {out['csv'].name}, {out['parquet'].name}", flush=True)
    stamp.unlink(missing_ok=True)
    csv_tmp, pq_tmp = out["csv"].with_suffix(".csv.tmp"), out["parquet"].with_suffix(".parquet.tmp")
    csv_writer = pq_writer = None
    try:
        for lo in range(0, n, CHUNK):
            t = chunk_table(n, lo, min(n, lo + CHUNK))
            if csv_writer is None:
                csv_writer = pacsv.CSVWriter(csv_tmp, t.schema, write_options=pacsv.WriteOptions(quoting_style="none"))
                pq_schema = t.schema.set(1, pa.field("created_at", pa.timestamp("us", tz="UTC")))
                pq_writer = pq.ParquetWriter(pq_tmp, pq_schema)
            csv_writer.write_table(t)
            pq_writer.write_table(t.set_column(1, "created_at", t["created_at"].cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))), row_group_size=CHUNK)
    finally:
        if csv_writer is not None:
            csv_writer.close()
            pq_writer.close()
    csv_tmp.replace(out["csv"])
    pq_tmp.replace(out["parquet"])
    stamp.write_text(json.dumps(meta))
    return out
