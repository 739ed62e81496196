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
from ml_pipeline.config import DEFAULT_CONFIG_FILE, LOG_LEVELS  # noqa: E402
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
    return p


# --------------------------------------------------------------------------- model
def new_pipeline(model_cfg: Any, random_seed: int) -> Any:
    """A fresh, unfitted pipeline as configured: StandardScaler + SGDClassifier(log_loss)."""
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    est = model_cfg.model.estimator
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("clf", SGDClassifier(loss="log_loss", alpha=est.alpha, max_iter=est.max_iter, tol=1e-4, random_state=random_seed)),
        ]
    )


def _preprocess(model: Any, X: Any) -> Any:
    return model[:-1].transform(X) if hasattr(model, "steps") and len(model.steps) > 1 else X


def fine_tune(model: Any, X: Any, y: Any, *, classes: list[str], epochs: int, learning_rate: float, random_seed: int) -> Any:
    """Return a copy of ``model`` after ``epochs`` shuffled passes of ``partial_fit``.

    Preprocessing is kept as fitted. The step size is constant (``eta0 = learning_rate``);
    a learning rate of 0 takes no step, so the coefficients are returned unchanged.
    """
    import numpy as np

    tuned = copy.deepcopy(model)
    if learning_rate == 0:
        log.info("learning rate 0: no update step is taken; the candidate equals the current model")
        return tuned
    est = final_estimator(tuned)
    if hasattr(est, "learning_rate"):
        est.set_params(learning_rate="constant", eta0=learning_rate)
    Xt = np.asarray(_preprocess(tuned, X), dtype=float)
    y = np.asarray(y)
    rng = np.random.default_rng(random_seed)
    for epoch in range(epochs):
        order = rng.permutation(len(y))
        est.partial_fit(Xt[order], y[order], classes=np.asarray(classes))
        log.debug("epoch %d/%d done", epoch + 1, epochs)
    return tuned


def evaluate(model: Any, X: Any, y: Any) -> dict[str, float]:
    """Accuracy and macro precision, recall and F1 on (X, y)."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    pred = model.predict(X)
    p, r, f, _ = precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
    return {"accuracy": round(float(accuracy_score(y, pred)), 6), "precision": round(float(p), 6), "recall": round(float(r), 6), "f1_score": round(float(f), 6)}


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
def read_table(path: str | Path, model_cfg: Any, what: str) -> tuple[Any, Any, Any]:
    """Read a dataset/holdout CSV written by data_loader: (frame, X, y)."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise EvaluationLogError(f"{what} '{p}' not found")
    try:
        df = pd.read_csv(p, dtype={"prediction_id": str, "predicted_label": str, LABEL: str})
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise EvaluationLogError(f"{what} '{p}' cannot be read as CSV: {exc}") from exc
    features = list(model_cfg.model.features.numeric)
    missing = [c for c in [*features, LABEL] if c not in df.columns]
    if missing:
        raise EvaluationLogError(
            f"{what} '{p}' lacks column(s) {missing}; build it with ml_pipeline.data_loader "
            "(features come from model.features in the config)"
        )
    if df.empty:
        raise EvaluationLogError(f"{what} '{p}' has no rows")
    X = df[features].apply(pd.to_numeric, errors="coerce")
    bad = X.isna().any(axis=1) | df[LABEL].isna()
    if bad.any():
        rows = (df.index[bad][:5] + 2).tolist()
        raise EvaluationLogError(f"{what} '{p}' has {int(bad.sum())} row(s) with missing or non-numeric values (lines {rows})")
    classes = set(model_cfg.model.classes)
    unknown = sorted(set(df[LABEL]) - classes)
    if unknown:
        raise EvaluationLogError(f"{what} '{p}' has labels {unknown} not in model.classes {sorted(classes)}")
    return df, X.to_numpy(dtype=float), df[LABEL].to_numpy()


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

    train_df, X, y = read_table(args.dataset, cfg, "dataset")
    holdout_path = Path(args.holdout) if args.holdout else Path(args.dataset).with_name("holdout.csv")
    if holdout_path.is_file():
        _, Xh, yh = read_table(holdout_path, cfg, "holdout")
        evaluated_on = "holdout"
    else:
        if args.holdout:
            raise EvaluationLogError(f"holdout '{holdout_path}' not found")
        log.warning("no holdout given or found beside the dataset: metrics are on the training data and the gate will refuse")
        Xh, yh, evaluated_on = X, y, "training_dataset"

    current, current_version, sha = None, None, args.model_sha256
    model_path = Path(args.model_path) if args.model_path else None
    if model_path is None and args.fine_tune:
        model_path, sha, current_version = _current_model_from_store(args.config)
    if model_path is not None:
        current = load_verified_model(model_path, sha, trust_unverified=args.trust_unverified_model)
        known = known_classes(current) or classes
        if sorted(known) != sorted(classes):
            raise ConfigError(f"current model predicts classes {known}, but model.classes is {classes}; fix the config or the model")

    note = None
    fine_tuned = bool(args.fine_tune)
    if fine_tuned and not is_fine_tunable(current):
        note = (f"current model ({type(final_estimator(current)).__name__}) cannot be fine-tuned "
                "incrementally (no partial_fit): trained from scratch instead")
        log.warning(note)
        fine_tuned = False
    if fine_tuned:
        log.info("fine-tuning %s: %d epoch(s) at learning rate %g on %d rows", type(final_estimator(current)).__name__, epochs, lr, len(y))
        candidate = fine_tune(current, X, y, classes=classes, epochs=epochs, learning_rate=lr, random_seed=seed)
    else:
        log.info("training from scratch on %d rows", len(y))
        candidate = new_pipeline(cfg, seed)
        if len(set(y)) < len(classes):
            raise EvaluationLogError(f"training from scratch needs every class in the dataset; it has only {sorted(set(y))} of {classes} "
                                     "(a longer --lookback-days window may contain them)")
        candidate.fit(X, y)

    metrics: dict[str, Any] = evaluate(candidate, Xh, yh)
    metrics["baseline"] = evaluate(current, Xh, yh) if current is not None else None
    errors = (train_df["sample_type"] == "error").to_numpy() if "sample_type" in train_df else np.ones(len(y), bool)
    metrics["errors_fixed"] = int((candidate.predict(X[errors]) == y[errors]).sum()) if errors.any() else 0
    metrics["error_samples"] = int(errors.sum())
    metrics["holdout_size"] = int(len(yh))
    metrics["evaluated_on"] = evaluated_on
    metrics["train_size"] = int(len(y))
    metrics["fine_tuned"] = fine_tuned
    metrics["epochs"] = epochs if fine_tuned else None
    metrics["learning_rate"] = lr if fine_tuned else None
    metrics["random_seed"] = seed
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
