"""One measured step per process: ``python -m bench.steps ENGINE PATH`` prints one JSON line.

Engines of the filter step (read, validate, keep the window's errors, build holdout and
replay, all in memory; writing the CSV files is left to the whole-job measurement):

* ``ours``: :func:`ml_pipeline.data_loader.select_datasets` called as the nightly job calls
  it (``Job._work``): the 7-day window plus the days the decay check reads before it
  (``decay.recent_days + reference_days`` = 16 days of model_config.yaml, read, validated and
  counted per period), fine-tuning (no from-scratch set);
* ``ours_window``: the same function as ``--dry-run``, ``python -m ml_pipeline.data_loader``
  and the guide's functions call it: the 7-day window only;
* ``pandas``: the naive way, ``read_csv``/``read_parquet`` of every column, then boolean
  masks, the same hash for the holdout and the same ``groupby().sample`` for the replay;
  no validation;
* ``duckdb``: SQL over the file (window and labels pushed into the scan, DuckDB's own
  hash for the holdout, a replay stratified by class in a seeded hash order); no
  validation.

Imports happen before the clock starts (start-up is measured separately). The figures:
``seconds`` (wall), ``cpu_seconds``, ``peak_mb`` (``ru_maxrss`` of this process) and the
sizes of the outputs, to check that the engines did the same work.

``python -m bench.steps run -- CMD...`` runs a command and reports its wall time and the
peak RSS of its largest process (``RUSAGE_CHILDREN``: the job and its trainer).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from bench.generate import END

LOOKBACK_DAYS = 7


def _settings() -> tuple[Any, Any, Any]:
    from ml_pipeline.config import load_model_config
    from ml_pipeline.data_loader import LogSchema, Window

    cfg = load_model_config(Path(__file__).resolve().parent.parent / "model_config.yaml")
    return cfg, LogSchema.from_model_config(cfg), Window.ending_at(END, LOOKBACK_DAYS)


def ours(path: Path, *, decay: bool = True) -> dict[str, int]:
    from datetime import timedelta

    from ml_pipeline.data_loader import LogSource, select_datasets

    cfg, schema, window = _settings()
    r, d = cfg.retraining, cfg.decay
    recent = window.end - timedelta(days=d.recent_days)
    periods = (recent - timedelta(days=d.reference_days), recent) if decay else None
    t0 = time.perf_counter()
    ds = select_datasets(
        [LogSource(path.name, path)], schema, window, confidence_threshold=r.confidence_threshold,
        min_samples=r.min_error_samples, holdout_fraction=r.holdout_fraction, replay_ratio=r.replay_ratio,
        random_seed=r.random_seed, decay_periods=periods, full=False,
    )
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "errors": ds.data.error_count, "replay": ds.data.replay_size, "holdout": ds.data.holdout_size,
            "training_rows": len(ds.training), "holdout_rows": len(ds.holdout)}


def ours_window(path: Path) -> dict[str, int]:
    return ours(path, decay=False)


def naive_pandas(path: Path) -> dict[str, int]:
    import numpy as np
    import pandas as pd

    cfg, schema, window = _settings()
    r, c = cfg.retraining, schema.columns
    t0 = time.perf_counter()
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    ts = pd.to_datetime(df[c["created_at"]], utc=True, format="ISO8601")
    w = df[(ts >= pd.Timestamp(window.start)) & (ts < pd.Timestamp(window.end))]
    lab = w[w[c["actual_label"]].notna()]
    h = pd.util.hash_pandas_object(lab[c["prediction_id"]].astype(str), index=False).to_numpy()
    hold = (h % np.uint64(10_000)) < np.uint64(round(r.holdout_fraction * 10_000))
    pool = lab[~hold]
    conf = pool[c["confidence"]] / 100.0
    err = pool[(pool[c["predicted_label"]] != pool[c["actual_label"]]) & (conf > r.confidence_threshold)]
    correct = pool[pool[c["predicted_label"]] == pool[c["actual_label"]]]
    n = min(len(correct), int(round(r.replay_ratio * len(err))))
    replay = correct.groupby(c["actual_label"], group_keys=False).sample(frac=n / len(correct), random_state=r.random_seed)
    holdout = lab[hold]
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "errors": len(err), "replay": len(replay), "holdout": len(holdout),
            "training_rows": len(err) + len(replay), "holdout_rows": len(holdout)}


def duckdb_sql(path: Path) -> dict[str, int]:
    import duckdb

    cfg, schema, window = _settings()
    r, c = cfg.retraining, schema.columns
    src = f"read_parquet('{path}')" if path.suffix == ".parquet" else f"read_csv('{path}')"
    cols = ", ".join(f'"{f}"' for f in schema.features)
    cutoff = round(r.holdout_fraction * 10_000)
    con = duckdb.connect()
    t0 = time.perf_counter()
    con.execute(f"""
        CREATE TEMP TABLE w AS
        SELECT "{c['prediction_id']}" AS prediction_id, "{c['created_at']}"::TIMESTAMPTZ AS created_at,
               "{c['predicted_label']}" AS predicted_label, "{c['actual_label']}" AS actual_label,
               "{c['confidence']}" / 100.0 AS confidence, {cols},
               hash("{c['prediction_id']}") % 10000 < {cutoff} AS in_holdout
        FROM {src}
        WHERE "{c['created_at']}"::TIMESTAMPTZ >= '{window.start.isoformat()}'::TIMESTAMPTZ
          AND "{c['created_at']}"::TIMESTAMPTZ < '{window.end.isoformat()}'::TIMESTAMPTZ
          AND "{c['actual_label']}" IS NOT NULL""")
    err = con.sql(f"SELECT * EXCLUDE (in_holdout) FROM w WHERE NOT in_holdout AND predicted_label <> actual_label "
                  f"AND confidence > {r.confidence_threshold}").to_arrow_table()
    n_correct = con.sql("SELECT count(*) FROM w WHERE NOT in_holdout AND predicted_label = actual_label").fetchall()[0][0]
    frac = min(1.0, r.replay_ratio * err.num_rows / max(n_correct, 1))
    replay = con.sql(f"""
        SELECT * EXCLUDE (in_holdout, rn, n) FROM (
          SELECT *, row_number() OVER (PARTITION BY actual_label ORDER BY hash(prediction_id, {r.random_seed})) AS rn,
                 count(*) OVER (PARTITION BY actual_label) AS n
          FROM w WHERE NOT in_holdout AND predicted_label = actual_label)
        WHERE rn <= round({frac} * n)""").to_arrow_table()
    holdout = con.sql("SELECT * EXCLUDE (in_holdout) FROM w WHERE in_holdout").to_arrow_table()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "errors": err.num_rows, "replay": replay.num_rows, "holdout": holdout.num_rows,
            "training_rows": err.num_rows + replay.num_rows, "holdout_rows": holdout.num_rows}


ENGINES = {"ours": ours, "ours_window": ours_window, "pandas": naive_pandas, "duckdb": duckdb_sql}
_OURS = ("pandas", "pyarrow.csv", "pyarrow.parquet", "pyarrow.compute", "ml_pipeline.data_loader")
IMPORTS = {"ours": _OURS, "ours_window": _OURS,
           "pandas": ("pandas", "pyarrow.parquet"), "duckdb": ("duckdb", "pyarrow")}


def run_command(cmd: list[str], cwd: str | None = None) -> dict[str, Any]:
    """Wall time, exit code and peak RSS (largest descendant) of one command; for the job, the
    trainer's own wall time (from the job's log line that starts it to the next line)."""
    import subprocess
    from datetime import datetime

    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    trainer = None
    lines = [ln for ln in proc.stderr.splitlines() if ln[:4].isdigit()]
    for a, b in zip(lines, lines[1:], strict=False):
        if " running train_model.py " in a:
            stamp = [datetime.strptime(x[:23], "%Y-%m-%d %H:%M:%S,%f") for x in (a, b)]
            trainer = (stamp[1] - stamp[0]).total_seconds()
    return {"seconds": seconds, "peak_mb": peak, "returncode": proc.returncode, "stdout": proc.stdout[-2000:],
            "stderr": proc.stderr[-2000:], "trainer_seconds": trainer}


def main(argv: list[str]) -> int:
    import importlib

    if argv and argv[0] == "run":
        cwd = None
        if argv[1:2] == ["--cwd"]:
            cwd, argv = argv[2], argv[:1] + argv[3:]
        out = run_command(argv[2:] if argv[1:2] == ["--"] else argv[1:], cwd)
    else:
        engine, path = argv[0], Path(argv[1])
        if engine.startswith("ours"):
            from ml_pipeline.cli import keep_freed_memory_small

            keep_freed_memory_small()  # as every entry point of the package sets up its process
        for mod in IMPORTS[engine]:
            importlib.import_module(mod)
        _settings()
        c0 = time.process_time()
        out = ENGINES[engine](path)
        out["cpu_seconds"] = time.process_time() - c0
        out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
