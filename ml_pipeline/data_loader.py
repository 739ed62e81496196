"""The guide's data API, a facade over the data modules.

* :mod:`ml_pipeline.log_schema`: the log's contract (columns, window, file types, problems);
* :mod:`ml_pipeline.log_reader`: the fast reader; :mod:`ml_pipeline.log_diagnostic`: the
  reader that reports every problem; :mod:`ml_pipeline.log_sources`: bucket objects as files;
* :mod:`ml_pipeline.datasets`: the holdout, error, replay and decay rules, written once;
* :mod:`ml_pipeline.selection`: :func:`select_datasets`, the one selection everything runs.

Here: ``load_evaluation_log``, ``filter_errors_for_retraining``, ``collect_retraining_data``,
``prepare_retraining_data`` and ``python -m ml_pipeline.data_loader``. An error is a labelled
row with ``predicted_label != actual_label`` and ``confidence > confidence_threshold`` (strictly).
"""

from __future__ import annotations

import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_pipeline.cli import add_common_options, parse_as_of, run_main, settings_from
from ml_pipeline.config import DEFAULT_LOOKBACK_DAYS, ERROR_CONFIDENCE_THRESHOLD, MIN_ERROR_SAMPLES_FOR_RETRAINING
from ml_pipeline.datasets import holdout_cutoff, holdout_hash, in_holdout, is_error
from ml_pipeline.errors import EvaluationLogError
from ml_pipeline.log_diagnostic import read_log_file
from ml_pipeline.log_schema import LogError, LogSchema, LogSource, Problems, Window, public_message
from ml_pipeline.log_sources import LoadedLog, read_sources, resolve_sources
from ml_pipeline.selection import Datasets, RetrainingData, select_datasets, write_datasets

if TYPE_CHECKING:
    import pandas as pd

    from ml_pipeline.config import Settings
    from ml_pipeline.store import Store

__all__ = [
    "Datasets", "EvaluationLogError", "LoadedLog", "LogError", "LogSchema", "LogSource", "Problems", "RetrainingData",
    "Window", "collect_retraining_data", "filter_errors_for_retraining", "holdout_mask", "load_evaluation_log",
    "parse_as_of", "prepare_retraining_data", "public_message", "read_log_file", "read_sources", "resolve_sources",
    "select_datasets", "write_datasets",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- guide API
def _default_context(settings: Settings | None, store: Store | None) -> tuple[Settings, Store]:
    from ml_pipeline.backends import open_store
    from ml_pipeline.config import load_settings

    settings = settings or load_settings()
    return settings, store or open_store(settings)


def load_evaluation_log(
    source: str | Path | None = None,
    *,
    settings: Settings | None = None,
    store: Store | None = None,
    window: Window | None = None,
) -> pd.DataFrame:
    """Load the evaluation log as a validated DataFrame with logical column names.

    ``source``: a local file path; default = the configured object in the store's
    ``evaluation-logs`` bucket. ``window``: keep only rows inside it (only the daily
    files overlapping it are read). Raises ``EvaluationLogError`` listing every problem.
    """
    settings, store = _default_context(settings, store)
    schema = LogSchema.from_model_config(settings.model)
    if source is not None:
        path = Path(source)
        if not path.is_file():
            raise LogError(f"evaluation log '{path}' not found")
        return read_sources([LogSource(str(path), path)], schema, window).frame
    with tempfile.TemporaryDirectory(prefix="ml_pipeline-log-") as tmp:
        sources = resolve_sources(store, settings.model.evaluation_log.path, window, Path(tmp))
        return read_sources(sources, schema, window).frame


def _error_mask(df: pd.DataFrame, confidence_threshold: float) -> Any:
    return df["actual_label"].notna() & is_error(df["predicted_label"], df["actual_label"], df["confidence"], confidence_threshold)


def filter_errors_for_retraining(
    df: pd.DataFrame,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    confidence_threshold: float = ERROR_CONFIDENCE_THRESHOLD,
    min_samples: int = MIN_ERROR_SAMPLES_FOR_RETRAINING,
    *,
    as_of: datetime | None = None,
) -> pd.DataFrame:
    """The high-confidence errors of the last ``lookback_days`` before ``as_of`` (default now).

    An error is a labelled row (``actual_label`` known) whose prediction was wrong with
    ``confidence > confidence_threshold``. Returns those rows, or an empty frame with the
    same columns when there are fewer than ``min_samples``; ``result.attrs["error_count"]``
    always holds how many were found.
    """
    import pandas as pd

    window = Window.ending_at(as_of or datetime.now(UTC), lookback_days)
    ts = pd.to_datetime(df["created_at"], utc=True)
    in_window = (ts >= pd.Timestamp(window.start)) & (ts < pd.Timestamp(window.end))
    errors = df[in_window & _error_mask(df, confidence_threshold)]
    count = len(errors)
    if count < min_samples:
        errors = errors.iloc[0:0]
    errors = errors.copy()
    errors.attrs["error_count"] = count
    return errors


# --------------------------------------------------------------------------- datasets
def holdout_mask(prediction_ids: pd.Series, fraction: float) -> Any:
    """Deterministic holdout membership from a hash of ``prediction_id`` (stable across runs)."""
    import numpy as np
    import pandas as pd

    ids = prediction_ids.astype(str)
    if len(ids) and not ids.isna().any():
        h = holdout_hash(ids.to_numpy(dtype=object))
    else:
        h = pd.util.hash_pandas_object(ids, index=False).to_numpy(dtype=np.uint64)
    return in_holdout(h, holdout_cutoff(fraction))


def collect_retraining_data(
    settings: Settings,
    store: Store,
    *,
    as_of: datetime,
    lookback_days: int | None = None,
    confidence_threshold: float | None = None,
    workdir: Path | None,
) -> RetrainingData:
    """Read the store's log for the window ending at ``as_of`` and build the datasets."""
    lookback = lookback_days or settings.lookback_days
    threshold = settings.confidence_threshold if confidence_threshold is None else confidence_threshold
    r = settings.model.retraining
    window = Window.ending_at(as_of, lookback)
    schema = LogSchema.from_model_config(settings.model)
    with tempfile.TemporaryDirectory(prefix="ml_pipeline-log-") as tmp:
        sources = resolve_sources(store, settings.model.evaluation_log.path, window, Path(tmp))
        ds = select_datasets(
            sources, schema, window, confidence_threshold=threshold, min_samples=settings.min_error_samples,
            holdout_fraction=r.holdout_fraction, replay_ratio=r.replay_ratio, random_seed=r.random_seed,
            materialise=workdir is not None,
        )
    return write_datasets(ds, workdir)


def prepare_retraining_data(
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    confidence_threshold: float = ERROR_CONFIDENCE_THRESHOLD,
) -> tuple[str | None, int]:
    """Prepare retraining data - returns (dataset_path, error_count).

    Uses the configured store and model_config.yaml; writes the dataset (and the holdout
    beside it) to a new temporary folder. ``dataset_path`` is None when there are fewer
    errors than ``MIN_ERROR_SAMPLES_FOR_RETRAINING`` (or the configured minimum).
    """
    settings, store = _default_context(None, None)
    workdir = Path(tempfile.mkdtemp(prefix="ml_pipeline-dataset-"))
    data = collect_retraining_data(
        settings, store, as_of=datetime.now(UTC), lookback_days=lookback_days,
        confidence_threshold=confidence_threshold, workdir=workdir,
    )
    return (str(data.dataset_path) if data.dataset_path else None, data.error_count)


# --------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    """``python -m ml_pipeline.data_loader``: summary of the current store's evaluation log."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m ml_pipeline.data_loader",
        description="Summarise the evaluation log of the current store: rows read, labelled, in "
        "window, errors by class and confidence band, holdout and replay sizes.",
    )
    parser.add_argument("--lookback-days", type=int, help="window length (env ML_PIPELINE_LOOKBACK_DAYS; default 7)")
    add_common_options(parser, as_of=True)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return run_main(lambda: _summary(args))


def _summary(args: Any) -> int:
    import json

    from ml_pipeline.backends import open_store

    settings = settings_from(args, lookback_days=args.lookback_days)
    store = open_store(settings)
    try:
        data = collect_retraining_data(settings, store, as_of=parse_as_of(args.as_of), workdir=None)
    finally:
        store.close()
    s = data.summary()
    s["min_error_samples"] = settings.min_error_samples
    s["would_retrain"] = data.error_count >= settings.min_error_samples
    if args.json:
        print(json.dumps(s))
        return 0
    print(f"Evaluation log: {', '.join(s['sources'])}")
    print(f"Window:         {s['window_start']} .. {s['window_end']} (UTC)")
    print(f"Rows read:      {s['rows_read']}")
    print(f"In window:      {s['rows_in_window']}")
    print(f"Labelled:       {s['labelled']}" + (f" (accuracy {s['accuracy_in_window']:.3f})" if s["accuracy_in_window"] is not None else ""))
    print(f"Holdout:        {s['holdout_size']}")
    print(f"Errors (conf > {settings.confidence_threshold}): {s['error_count']} (minimum {settings.min_error_samples})")
    for k, v in s["errors_by_class"].items():
        print(f"  actual {k}: {v}")
    for k, v in s["errors_by_confidence_band"].items():
        print(f"  confidence {k}: {v}")
    print(f"Replay sample:  {s['replay_size']}")
    print("Would retrain:  " + ("yes" if s["would_retrain"] else "no (too few errors)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
