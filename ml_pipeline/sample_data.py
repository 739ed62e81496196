"""Deterministic sample data for the embedded store: an evaluation log and a base model.

The log holds six weeks of 3-class match-outcome predictions (``home_win``, ``draw``,
``away_win``) in the column names of a real predictions table (``predicted_outcome``,
``actual_outcome``, ``confidence_score`` in 0..100, ``created_at``), made by a base model
trained on older data. The world drifts over the six weeks (home advantage fades, recent
form matters more), so the base model makes high-confidence mistakes that fine-tuning
can fix. The newest day's matches have no result yet (empty ``actual_outcome``).

Same seed and end day give the same bytes. ``python -m ml_pipeline.sample_data`` fills
the local store (log + base model as champion) unless it already has them, and writes
``data/training_dataset.csv`` and ``data/holdout.csv`` for the guide's manual
``train_model.py`` command.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

CLASSES = ("home_win", "draw", "away_win")
FEATURES = (
    "home_elo", "away_elo", "elo_diff", "home_form", "away_form", "home_goals_avg",
    "away_goals_avg", "home_conceded_avg", "away_conceded_avg", "rest_days_diff",
)


def _features(rng: Any, n: int) -> Any:
    import pandas as pd

    home_elo = rng.normal(1600, 180, n).round(1)
    away_elo = rng.normal(1600, 180, n).round(1)
    df = pd.DataFrame({
        "home_elo": home_elo,
        "away_elo": away_elo,
        "elo_diff": (home_elo - away_elo).round(1),
        "home_form": rng.uniform(0, 3, n).round(3),
        "away_form": rng.uniform(0, 3, n).round(3),
        "home_goals_avg": rng.gamma(4, 0.35, n).round(3),
        "away_goals_avg": rng.gamma(4, 0.35, n).round(3),
        "home_conceded_avg": rng.gamma(4, 0.33, n).round(3),
        "away_conceded_avg": rng.gamma(4, 0.33, n).round(3),
        "rest_days_diff": rng.integers(-4, 5, n).astype(float),
    })
    assert list(df.columns) == list(FEATURES)
    return df


def _outcomes(rng: Any, X: Any, drift: Any) -> Any:
    """Draw results from a world whose home advantage fades and form grows with ``drift`` (0..1)."""
    import numpy as np

    home_adv = 0.9 - 1.4 * drift
    form_w = 0.15 + 0.9 * drift
    s = (
        X["elo_diff"].to_numpy() / 110.0
        + home_adv
        + form_w * (X["home_form"] - X["away_form"]).to_numpy()
        + 0.35 * (X["home_goals_avg"] - X["away_goals_avg"] + X["away_conceded_avg"] - X["home_conceded_avg"]).to_numpy()
    )
    logits = np.stack([s, 0.3 - 0.45 * np.abs(s), -s], axis=1)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    u = rng.random(len(s))[:, None]
    idx = (u > np.cumsum(p, axis=1)).sum(axis=1)
    return np.asarray(CLASSES)[np.minimum(idx, 2)]


def base_model(seed: int = 7) -> Any:
    """The model in service before the sample period, trained on pre-drift history."""
    import numpy as np
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    X = _features(rng, 20_000)
    y = _outcomes(rng, X, np.zeros(len(X)))
    model = Pipeline([("scale", StandardScaler()), ("clf", SGDClassifier(loss="log_loss", alpha=1e-4, max_iter=500, tol=1e-4, random_state=seed))])
    model.fit(X.to_numpy(), y)
    return model


def evaluation_log(model: Any, end_day: date, days: int = 42, per_day: int = 600, seed: int = 11) -> Any:
    """``days`` of predictions ending the day before ``end_day`` plus ``end_day`` itself (unlabelled)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frames = []
    start = end_day - timedelta(days=days)
    for i in range(days + 1):
        day = start + timedelta(days=i)
        X = _features(rng, per_day)
        drift = np.full(per_day, i / days)
        proba = model.predict_proba(X.to_numpy())
        classes = model.classes_
        pred = classes[proba.argmax(axis=1)]
        conf = (proba.max(axis=1) * 100).round(2)
        actual = _outcomes(rng, X, drift).astype(object)
        seconds = np.sort(rng.integers(0, 86_400, per_day))
        ts = [datetime.combine(day, time(0), tzinfo=UTC) + timedelta(seconds=int(s)) for s in seconds]
        if day == end_day:
            actual[:] = ""  # not played yet
        frame = pd.DataFrame({
            "prediction_id": [f"pred-{day:%Y%m%d}-{j:04d}" for j in range(per_day)],
            "created_at": [t.strftime("%Y-%m-%d %H:%M:%S") for t in ts],
            "match_id": rng.integers(100_000, 999_999, per_day),
            "predicted_outcome": pred,
            "actual_outcome": actual,
            "confidence_score": conf,
            "model_version": "v1",
        })
        frames.append(pd.concat([frame, X], axis=1))
    return pd.concat(frames, ignore_index=True)


def install(home: Path, config_path: Path, *, end_day: date | None = None, force: bool = False, data_dir: Path | None = Path("data")) -> str:
    """Put the sample log and base model into the local store at ``home``. Returns what it did."""
    from ml_pipeline import model_io
    from ml_pipeline.config import load_settings
    from ml_pipeline.data_loader import collect_retraining_data
    from ml_pipeline.local_store import LocalStore
    from ml_pipeline.records import BUCKET_EVALUATION_LOGS
    from ml_pipeline.registry import Registry

    settings = load_settings({"home": str(home), "config_path": str(config_path), "backend": "local"})
    store = LocalStore(home)
    log_key = settings.model.evaluation_log.path
    have_log = bool(store.list_objects(BUCKET_EVALUATION_LOGS, log_key))
    if have_log and store.get_champion() is not None and not force:
        return f"sample data already in {home} (use --force to regenerate)"
    end_day = end_day or datetime.now(UTC).date()
    model = base_model()
    log_df = evaluation_log(model, end_day)
    store.put_object(BUCKET_EVALUATION_LOGS, log_key, log_df.to_csv(index=False).encode())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "base_model.skops"
        model_io.dump(model, path)
        registry = Registry(store, home / "cache")
        mv, _ = registry.register(path, list(settings.model.model.classes), note="sample base model (pre-drift)")
    done = f"wrote {len(log_df)} predictions to {home}/buckets/{BUCKET_EVALUATION_LOGS}/{log_key}; base model v{mv.version} is champion"
    if data_dir is not None:
        as_of = datetime.combine(end_day, time(0), tzinfo=UTC)
        data = collect_retraining_data(settings, store, as_of=as_of, workdir=data_dir)
        done += f"; {data.dataset_path} ({data.error_count} errors + {data.replay_size} replay) and {data.holdout_path}"
    store.close()
    return done


def main(argv: list[str] | None = None) -> int:
    """``python -m ml_pipeline.sample_data [--force] [--end-day YYYY-MM-DD]``."""
    import os

    from ml_pipeline.cli import run_main
    from ml_pipeline.config import DEFAULT_CONFIG_FILE, DEFAULT_HOME, ENV_VARS

    parser = argparse.ArgumentParser(prog="python -m ml_pipeline.sample_data", description="Fill the local store with the sample evaluation log and base model.")
    parser.add_argument("--home", default=os.environ.get(ENV_VARS["home"], DEFAULT_HOME), help="local store folder (env ML_PIPELINE_HOME; default %(default)s)")
    parser.add_argument("--config", default=os.environ.get(ENV_VARS["config_path"], DEFAULT_CONFIG_FILE), help="model_config.yaml (env ML_PIPELINE_CONFIG)")
    parser.add_argument("--end-day", type=date.fromisoformat, help="last day of the log (default today, UTC)")
    parser.add_argument("--force", action="store_true", help="replace existing sample data")
    parser.add_argument("--data-dir", default="data", help="where training_dataset.csv and holdout.csv go ('' to skip)")
    args = parser.parse_args(argv)

    def body() -> int:
        print(install(Path(args.home), Path(args.config), end_day=args.end_day, force=args.force, data_dir=Path(args.data_dir) if args.data_dir else None))
        return 0

    return run_main(body)


if __name__ == "__main__":
    raise SystemExit(main())
