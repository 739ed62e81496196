"""Train or fine-tune the model, evaluate it against the current one, write the artifacts.

The guide's command works from the repository root, and so does ``python -m``::

    python ml_pipeline/train_model.py --dataset data/training_dataset.csv \\
        --config model_config.yaml --fine_tune true --epochs 5 --learning_rate 0.001

* ``--fine_tune true``: load the current model (``--model_path``, sha256-verified with
  ``--model_sha256``; without it, the champion of the configured store, fetched by
  ``python -m ml_pipeline.champion`` in a child process: this module never imports the
  store), keep its preprocessing, and run ``partial_fit``
  on the final estimator for ``--epochs`` passes at a constant ``--learning_rate``. A
  model whose estimator has no ``partial_fit`` is trained from scratch instead, saying so.
* ``--fine_tune false``: fit a new pipeline from ``model_config.yaml``.

Both the current model (baseline) and the candidate are evaluated on the same holdout
(``--holdout``, default ``holdout.csv`` beside the dataset). ``model.skops`` and
``metrics.json`` go to ``--output_dir``. Logs go to stderr; the last line on stdout is
exactly one JSON object. Exit codes: 0 ok, 2 bad input or configuration, 1 unexpected.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

if not __package__:  # started as a script: make the package importable (see PITFALLS)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml_pipeline.checksums import sha256_file  # noqa: E402
from ml_pipeline.cli import run_main  # noqa: E402
from ml_pipeline.config import DEFAULT_CONFIG_FILE, LOG_LEVELS, label_text, label_texts  # noqa: E402
from ml_pipeline.errors import ConfigError, EvaluationLogError, describe  # noqa: E402
from ml_pipeline.estimators import estimator_name, final_estimator, is_fine_tunable, known_classes  # noqa: E402

log = logging.getLogger("ml_pipeline.train_model")

LABEL = "actual_label"


def parse_bool(text: str) -> bool:
    """``true``/``false`` (any case, also 1/0, yes/no) for ``--fine_tune``."""
    low = text.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    """The guide's flags plus --holdout and --random_seed."""
    p = argparse.ArgumentParser(
        prog="python ml_pipeline/train_model.py",
        description="Fine-tune (partial_fit) or train from scratch; evaluate candidate and current "
        "model on the same holdout; write model.skops and metrics.json.",
    )
    p.add_argument("--dataset", required=True, help="training CSV (errors + replay rows)")
    p.add_argument("--config", default=DEFAULT_CONFIG_FILE, help="model_config.yaml (default: %(default)s)")
    p.add_argument("--fine_tune", type=parse_bool, default=True, help="true: fine-tune the current model; false: from scratch")
    p.add_argument("--model_path", help="current model (.skops); default: the champion of the configured store")
    p.add_argument("--model_sha256", help="expected sha256 of --model_path; refused before loading if it differs")
    p.add_argument("--trust-unverified-model", action="store_true",
                   help="load --model_path without --model_sha256 (only a file you made yourself)")
    p.add_argument("--output_dir", default="./models/retrained", help="where model.skops and metrics.json go")
    p.add_argument("--learning_rate", type=float, help="constant SGD step size for fine-tuning (default: config, 0.001)")
    p.add_argument("--epochs", type=int, help="passes of partial_fit over the dataset (default: config, 5)")
    p.add_argument("--holdout", help="holdout CSV (default: holdout.csv beside the dataset)")
    p.add_argument("--random_seed", type=int, help="seed for shuffling and from-scratch fits (default: config)")
    p.add_argument("--reference_path", help="the gate's fixed reference model (.skops), evaluated on the same holdout")
    p.add_argument("--reference_sha256", help="expected sha256 of --reference_path")
    p.add_argument("--reference_version", type=int, help="registry version of --reference_path (recorded in metrics.reference)")
    return p


# --------------------------------------------------------------------------- model
def new_pipeline(model_cfg: Any, random_seed: int) -> Any:
    """A fresh, unfitted pipeline as configured, to be fitted on a DataFrame of the features:

    ``prep``: a ColumnTransformer selecting the columns by name, numeric features median-imputed
    and standardised, categorical ones imputed with the constant ``"missing"`` and one-hot
    encoded (a category not seen in training is all zeros); ``clf``: SGDClassifier(log_loss),
    which ``partial_fit`` fine-tunes later with the preprocessing kept as fitted.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    est, feats = model_cfg.model.estimator, model_cfg.model.features
    parts: list[tuple[str, Any, list[str]]] = []
    if feats.numeric:
        parts.append(("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
                      list(feats.numeric)))
    if feats.categorical:
        parts.append(("categorical", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                                               ("onehot", OneHotEncoder(handle_unknown="ignore"))]),
                      list(feats.categorical)))
    return Pipeline(
        [
            ("prep", ColumnTransformer(parts)),
            ("clf", SGDClassifier(loss="log_loss", alpha=est.alpha, max_iter=est.max_iter, tol=1e-4, random_state=random_seed)),
        ]
    )


def _preprocess(model: Any, X: Any) -> Any:
    return model[:-1].transform(X) if hasattr(model, "steps") and len(model.steps) > 1 else X


def model_labels(model: Any, y: Any, classes: list[str]) -> tuple[Any, Any]:
    """``y`` (label texts) as the model's own label values, and the model's classes.

    A model fitted on integers (or bools) gets integers back, so ``partial_fit`` never sees
    a mix of label types; an unfitted model gets the texts. Labels compare as
    :func:`~ml_pipeline.config.label_text` (``1`` == ``"1"``).
    """
    import numpy as np
    import pandas as pd

    own = getattr(final_estimator(model), "classes_", None) if model is not None else None
    if own is None:
        return np.asarray(y, dtype=object), np.asarray(classes, dtype=object)
    to_model = {label_text(c): c for c in own}
    missing = sorted(set(classes) - set(to_model))
    if missing:
        raise ConfigError(f"the model knows classes {sorted(to_model)}, not {missing} of model.classes {classes}; fix the config or the model")
    codes, texts = pd.factorize(label_texts(y))
    return np.asarray([to_model[t] for t in texts])[codes] if len(codes) else np.asarray([], dtype=np.asarray(own).dtype), np.asarray(own)


def model_input(model: Any, X: Any) -> Any:
    """``X`` (a DataFrame) as the model expects it: the DataFrame itself for a model fitted on
    named columns (``feature_names_in_``), else a float array in the configured order (which
    cannot hold text: such a model is told to be fitted on a DataFrame)."""
    if hasattr(model, "feature_names_in_") or not hasattr(X, "to_numpy"):
        return X
    text = [str(c) for c, t in X.dtypes.items() if not _is_number_dtype(t)]
    if text:
        raise ConfigError(f"the model was fitted on a plain array (no feature names), so it cannot take the categorical "
                          f"feature(s) {text}; fit it on a DataFrame whose columns are the feature names, with its own encoder "
                          "for text (e.g. a ColumnTransformer with a OneHotEncoder), or drop them from model.features.categorical")
    return X.to_numpy(dtype=float)


def _is_number_dtype(dtype: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(dtype))


PREDICT_ROWS = 65_536  # rows per predict call: the pipeline's intermediate arrays stay a few MB


def predict_text(model: Any, X: Any) -> Any:
    """The model's predictions on ``X`` as label texts (comparable with the log's labels).

    Predicted in slices of :data:`PREDICT_ROWS` rows (each row's prediction depends on that
    row only), so scoring a large holdout does not hold every transformed copy of it at once.
    """
    import numpy as np

    parts = [label_texts(model.predict(model_input(model, X[i:i + PREDICT_ROWS]))) for i in range(0, len(X), PREDICT_ROWS)]
    return np.concatenate(parts) if parts else np.asarray([], dtype=object)


def fine_tune(model: Any, X: Any, y: Any, *, classes: list[str], epochs: int, learning_rate: float, random_seed: int) -> Any:
    """Return a copy of ``model`` after ``epochs`` shuffled passes of ``partial_fit``.

    Preprocessing is kept as fitted (``X`` may be a DataFrame with the model's column names,
    which a ColumnTransformer selecting by name needs). Labels are given to the estimator
    in its own type (see :func:`model_labels`). The step size is constant (``eta0 =
    learning_rate``); a learning rate of 0 takes no step, so the coefficients are unchanged.
    """
    import numpy as np
    import scipy.sparse as sp

    tuned = copy.deepcopy(model)
    if learning_rate == 0:
        log.info("learning rate 0: no update step is taken; the candidate equals the current model")
        return tuned
    est = final_estimator(tuned)
    if hasattr(est, "learning_rate"):
        est.set_params(learning_rate="constant", eta0=learning_rate)
    Xt = _preprocess(tuned, model_input(tuned, X))
    Xt = Xt.tocsr() if sp.issparse(Xt) else np.asarray(Xt, dtype=float)
    y, own = model_labels(tuned, y, classes)
    rng = np.random.default_rng(random_seed)
    for epoch in range(epochs):
        order = rng.permutation(len(y))
        est.partial_fit(Xt[order], y[order], classes=own)
        log.debug("epoch %d/%d done", epoch + 1, epochs)
    return tuned


def evaluate(model: Any, X: Any, y: Any) -> dict[str, float]:
    """Accuracy, macro precision, recall and F1, and balanced accuracy on (X, y)."""
    return scores(y, predict_text(model, X))


def scores(y: Any, pred: Any) -> dict[str, float]:
    """The gate's metrics of predictions ``pred`` (label texts) against ``y``."""
    import warnings

    import numpy as np
    import pandas as pd
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, precision_recall_fscore_support

    if len(y) != len(pred):
        raise ValueError(f"{len(y)} labels but {len(pred)} predictions")
    # As integer codes of the label texts: the same metrics, without sorting object arrays.
    codes, _ = pd.factorize(np.concatenate([label_texts(y), label_texts(pred)]))
    y, pred = codes[: len(codes) // 2], codes[len(codes) // 2:]
    p, r, f, _ = precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": counted as the guide's metrics are
        warnings.simplefilter("ignore")
        bal = balanced_accuracy_score(y, pred)
    return {"accuracy": round(float(accuracy_score(y, pred)), 6), "precision": round(float(p), 6), "recall": round(float(r), 6),
            "f1_score": round(float(f), 6), "balanced_accuracy": round(float(bal), 6)}


def load_verified_model(path: Path, expected_sha256: str | None, *, trust_unverified: bool = False) -> Any:
    """Load ``path`` (skops, trusted types) only if its sha256 matches ``expected_sha256``.

    Without a checksum the model is refused unless ``trust_unverified`` (--trust-unverified-model).
    """
    from ml_pipeline import model_io

    if not path.is_file():
        raise ConfigError(f"model file '{path}' not found; pass an existing --model_path")
    if not expected_sha256:
        if not trust_unverified:
            raise ConfigError(
                f"--model_path '{path}' given without --model_sha256: refusing to load a model whose "
                "checksum is not known; pass --model_sha256 HEX (see `python -m ml_pipeline.registry list`), "
                "or --trust-unverified-model for a file you made yourself"
            )
        log.warning("loading '%s' without a checksum to verify (--trust-unverified-model)", path)
    return model_io.load_verified(path, expected_sha256)


# --------------------------------------------------------------------------- data
def model_features(model: Any, model_cfg: Any) -> list[str]:
    """The columns the model is given: its own ``feature_names_in_`` when it was fitted on a
    DataFrame (a handed-over pipeline), else ``model.features`` of the config (numeric, then
    categorical)."""
    names = getattr(model, "feature_names_in_", None) if model is not None else None
    return [str(n) for n in names] if names is not None else list(model_cfg.model.features.all)


def read_table(path: str | Path, model_cfg: Any, what: str, features: list[str] | None = None) -> tuple[Any, Any, Any]:
    """Read a dataset/holdout CSV written by data_loader: (frame, X, y).

    ``X`` is a DataFrame with exactly ``features`` (default: the config's) as columns, in
    that order, so a pipeline selecting columns by name gets the names it was fitted with.
    Only the columns the trainer uses are read (features, label, ``sample_type``): ids,
    timestamps and confidences would take more memory than the features themselves.
    Numeric features are floats; categorical ones (``model.features.categorical``) stay
    text, never coerced to numbers, with an empty cell as missing (NaN) and every other
    text as written (also ``NA`` or ``null``).
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise EvaluationLogError(f"{what} '{p}' not found")
    features = list(features or model_cfg.model.features.all)
    categorical = [c for c in features if c in set(model_cfg.model.features.categorical)]
    wanted = {*features, LABEL, "sample_type"}
    try:
        df = pd.read_csv(p, usecols=lambda c: c in wanted, dtype={LABEL: str, "sample_type": str, **{c: str for c in categorical}})
        present = [c for c in categorical if c in df.columns]
        if present:  # again without pandas' NA spellings: only an empty cell is missing text
            text = pd.read_csv(p, usecols=present, dtype=str, keep_default_na=False)
            for c in present:
                df[c] = text[c].where(text[c] != "", None).astype(object)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise EvaluationLogError(f"{what} '{p}' cannot be read as CSV: {exc}") from exc
    missing = [c for c in [*features, LABEL] if c not in df.columns]
    if missing:
        raise EvaluationLogError(
            f"{what} '{p}' lacks column(s) {missing}; build it with ml_pipeline.data_loader "
            "(features come from model.features in the config, or from the model's own feature_names_in_)"
        )
    if df.empty:
        raise EvaluationLogError(f"{what} '{p}' has no rows")
    numeric = [c for c in features if c not in categorical]
    X = df[numeric]
    if not all(pd.api.types.is_float_dtype(t) or pd.api.types.is_integer_dtype(t) for t in X.dtypes):
        X = X.apply(pd.to_numeric, errors="coerce")
    X = X.astype(float)
    if categorical:  # text as read, in the order of ``features``
        X = pd.concat([X, df[categorical]], axis=1)[features]
    # Empty cells are allowed in model.features.allow_missing (kept as NaN; see drop_missing); text never is.
    # A categorical cell may always be empty: it is the model's imputer that fills it.
    nan_ok = [c for c in numeric if c in set(model_cfg.model.features.allow_missing)]
    text = df[nan_ok].notna() & X[nan_ok].isna() if nan_ok else None
    strict = [c for c in numeric if c not in nan_ok]
    bad = X[strict].isna().any(axis=1) | df[LABEL].isna()
    if text is not None:
        bad |= text.any(axis=1)
    if bad.any():
        rows = (df.index[bad][:5] + 2).tolist()
        raise EvaluationLogError(f"{what} '{p}' has {int(bad.sum())} row(s) with missing or non-numeric values (lines {rows})")
    classes = set(model_cfg.model.classes)
    unknown = sorted(set(df[LABEL]) - classes)
    if unknown:
        raise EvaluationLogError(f"{what} '{p}' has labels {unknown} not in model.classes {sorted(classes)}")
    return df, X, label_texts(df[LABEL].to_numpy(dtype=object))


def handles_nan(model: Any, X: Any) -> bool:
    """True when the fitted ``model`` predicts on the rows of ``X`` that hold NaN (an imputer
    in its pipeline, or an estimator that takes NaN); tried on a few of those rows."""
    rows = X[X.isna().any(axis=1).to_numpy()].head(5)
    try:
        model.predict(model_input(model, rows))
    except ValueError:
        return False
    return True


def drop_missing(X: Any, y: Any, what: str) -> tuple[Any, Any, int]:
    """Rows of (X, y) without NaN, and how many were dropped (with a warning)."""
    keep = ~X.isna().any(axis=1).to_numpy()
    dropped = int((~keep).sum())
    if dropped:
        log.warning("%s: %d row(s) with missing feature values dropped (the model does not handle NaN; "
                    "model.features.allow_missing)", what, dropped)
    return X[keep], y[keep], dropped


def _current_model_from_store(config_path: str) -> tuple[Path, str, int]:
    """Standalone mode: the champion of the configured store, fetched (sha256-verified) by
    ``python -m ml_pipeline.champion`` in a child process, so the trainer itself never
    imports the store or its client libraries. Its stderr goes to ours."""
    import subprocess

    repo = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.run([sys.executable, "-m", "ml_pipeline.champion", "--config", config_path, "--json"],
                          stdout=subprocess.PIPE, stderr=None, text=True, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    try:
        result = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        result = {}
    if proc.returncode != 0 or "path" not in result:
        raise ConfigError(f"could not fetch the champion of the configured store (python -m ml_pipeline.champion exit code "
                          f"{proc.returncode}: {result.get('error', 'see the lines above')}); pass --model_path or use --fine_tune false")
    return Path(result["path"]), str(result["sha256"]), int(result["version"])


# --------------------------------------------------------------------------- main
def _evaluate_reference(args: argparse.Namespace, cfg: Any, Xh: Any, yh: Any) -> dict[str, Any] | None:
    """The gate's fixed reference model on the same holdout: ``{"version", metrics...}``.

    A reference that cannot be loaded or scored is recorded as ``None`` with a warning: the
    gate then judges without it (it still has the baseline, the paired test and the guards).
    """
    try:
        ref = load_verified_model(Path(args.reference_path), args.reference_sha256, trust_unverified=args.trust_unverified_model)
        X = Xh[model_features(ref, cfg)] if all(c in Xh.columns for c in model_features(ref, cfg)) else Xh
        return {"version": args.reference_version, **evaluate(ref, X, yh)}
    except Exception as exc:  # noqa: BLE001 - a broken old model must not fail tonight's run
        log.warning("reference model %s could not be evaluated (%s); the gate judges without it", args.reference_path, describe(exc))
        return None


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Do the work of one invocation and return the result object printed on stdout."""
    import numpy as np
    import sklearn

    from ml_pipeline import model_io
    from ml_pipeline.config import load_model_config

    started = time.monotonic()
    cfg = load_model_config(args.config)
    r = cfg.retraining
    epochs = r.epochs if args.epochs is None else args.epochs
    lr = r.learning_rate if args.learning_rate is None else args.learning_rate
    seed = r.random_seed if args.random_seed is None else args.random_seed
    if epochs < 1:
        raise ConfigError(f"--epochs {epochs}: must be at least 1")
    if lr < 0 or not np.isfinite(lr):
        raise ConfigError(f"--learning_rate {lr}: must be a finite number >= 0")
    classes = list(cfg.model.classes)

    current, current_version, sha = None, None, args.model_sha256
    model_path = Path(args.model_path) if args.model_path else None
    if model_path is None and args.fine_tune:
        model_path, sha, current_version = _current_model_from_store(args.config)
    if model_path is not None:
        current = load_verified_model(model_path, sha, trust_unverified=args.trust_unverified_model)
        known = known_classes(current) or classes
        if sorted(label_text(c) for c in known) != sorted(classes):
            raise ConfigError(f"current model predicts classes {known}, but model.classes is {classes}; fix the config or the model")
    features = model_features(current, cfg)

    train_df, X, y = read_table(args.dataset, cfg, "dataset", features)
    holdout_path = Path(args.holdout) if args.holdout else Path(args.dataset).with_name("holdout.csv")
    if holdout_path.is_file():
        _, Xh, yh = read_table(holdout_path, cfg, "holdout", features)
        evaluated_on = "holdout"
    else:
        if args.holdout:
            raise EvaluationLogError(f"holdout '{holdout_path}' not found")
        log.warning("no holdout given or found beside the dataset: metrics are on the training data and the gate will refuse")
        Xh, yh, evaluated_on = X, y, "training_dataset"

    dropped: dict[str, int] = {}
    if X.isna().to_numpy().any() or Xh.isna().to_numpy().any():
        # The model trained is the current one (fine-tuned, or a fresh copy of its pipeline),
        # or without one the configured pipeline, which imputes (new_pipeline): rows are kept.
        if current is not None and not handles_nan(current, X if X.isna().to_numpy().any() else Xh):
            X, y, dropped["dataset"] = drop_missing(X, y, "dataset")
            train_df = train_df.loc[X.index]
            Xh, yh, dropped["holdout"] = drop_missing(Xh, yh, "holdout")
            if len(y) == 0 or len(yh) == 0:
                raise EvaluationLogError("no row is left once the rows with missing feature values are dropped; fill them upstream")

    note = None
    fine_tuned = bool(args.fine_tune)
    if fine_tuned and not is_fine_tunable(current):
        note = (f"current model ({type(final_estimator(current)).__name__}) cannot be fine-tuned "
                "incrementally (no partial_fit): retrained from scratch with the same pipeline")
        log.warning(note)
        fine_tuned = False
    if fine_tuned:
        log.info("fine-tuning %s: %d epoch(s) at learning rate %g on %d rows", type(final_estimator(current)).__name__, epochs, lr, len(y))
        candidate = fine_tune(current, X, y, classes=classes, epochs=epochs, learning_rate=lr, random_seed=seed)
    else:
        if len(set(y)) < len(classes):
            raise EvaluationLogError(f"training from scratch needs every class in the dataset; it has only {sorted(set(y))} of {classes} "
                                     "(a longer --lookback-days window may contain them)")
        if current is not None:
            from sklearn.base import clone

            # The user's own pipeline (preprocessing, encoders, hyper-parameters), refitted.
            log.info("training a fresh copy of the current %s pipeline from scratch on %d rows", estimator_name(current), len(y))
            candidate = clone(current)
            target, _ = model_labels(current, y, classes)
            X = model_input(current, X)
        else:
            log.info("training the configured pipeline from scratch on %d rows", len(y))
            candidate, target = new_pipeline(cfg, seed), y
        candidate.fit(X, target)

    pred = predict_text(candidate, Xh)
    metrics: dict[str, Any] = scores(yh, pred)
    metrics["baseline"] = None
    if current is not None:
        from ml_pipeline.gate_stats import paired_evidence

        pred_base = predict_text(current, Xh)
        metrics["baseline"] = scores(yh, pred_base)
        # Per-row evidence for the gate's paired test: both models on the same holdout rows.
        pc = cfg.promotion
        metrics["paired"] = paired_evidence(yh, pred, pred_base, metric=pc.primary_metric, confidence=pc.confidence,
                                            resamples=pc.bootstrap_resamples, seed=seed)
    metrics["reference"] = _evaluate_reference(args, cfg, Xh, yh) if args.reference_path else None
    errors = (train_df["sample_type"] == "error").to_numpy() if "sample_type" in train_df else np.ones(len(y), bool)
    metrics["errors_fixed"] = int((predict_text(candidate, X[errors]) == y[errors]).sum()) if errors.any() else 0
    metrics["error_samples"] = int(errors.sum())
    metrics["holdout_size"] = int(len(yh))
    metrics["evaluated_on"] = evaluated_on
    metrics["train_size"] = int(len(y))
    metrics["fine_tuned"] = fine_tuned
    metrics["epochs"] = epochs if fine_tuned else None
    metrics["learning_rate"] = lr if fine_tuned else None
    metrics["random_seed"] = seed
    if dropped:
        metrics["rows_dropped_missing"] = dropped
    metrics["training_seconds"] = round(time.monotonic() - started, 3)
    if note:
        metrics["note"] = note

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_file = out / "model.skops"
    model_io.dump(candidate, model_file)  # skops, not pickle (ml_pipeline/model_io.py)
    digest = sha256_file(model_file)
    metrics_file = out / "metrics.json"
    metrics_file.write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return {
        "status": "ok",
        "model_path": str(model_file),
        "metrics_path": str(metrics_file),
        "sha256": digest,
        "size_bytes": model_file.stat().st_size,
        "sklearn_version": sklearn.__version__,
        "estimator": estimator_name(candidate),
        "fine_tunable": is_fine_tunable(candidate),
        "fine_tuned": fine_tuned,
        "parent_version": current_version,
        "note": note,
        "metrics": metrics,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: logs on stderr, one JSON line last on stdout, exit 0/2/1."""
    args = build_parser().parse_args(argv)
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level if level in LOG_LEVELS else "INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    result: dict[str, Any] = {}

    def body() -> int:
        result.update(train(args))
        return 0

    def on_error(exc: BaseException, code: int) -> None:
        log.error("%s", describe(exc) if str(exc) else "interrupted")
        result.clear()
        result.update(status="error", error=describe(exc) or type(exc).__name__, exit_code=code)

    try:
        code = run_main(body, on_error=on_error)
    except Exception as exc:  # the trainer's contract: even a bug ends with one JSON line and exit 1
        log.exception("unexpected failure")
        result = {"status": "error", "error": f"{type(exc).__name__}: {describe(exc)}", "exit_code": 1}
        code = 1
    sys.stdout.write(json.dumps(result, allow_nan=False) + "\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
