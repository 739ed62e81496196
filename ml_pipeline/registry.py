"""Model versions: save, sha256-verified load, the promotion gate, promote, rollback.

Versions live in the store's ``model_versions`` table; their bytes in the ``models``
bucket at ``v<version>/model.joblib`` (a historical key name: the content is skops, see
ml_pipeline/model_io.py). Loading always checks the sha256 recorded in the database on
the very bytes it then loads, so a changed or truncated file is refused.

CLI::

    python -m ml_pipeline.registry list
    python -m ml_pipeline.registry register PATH [--note TEXT]
    python -m ml_pipeline.registry rollback [--to VERSION]
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_pipeline.checksums import sha256_bytes, sha256_file
from ml_pipeline.errors import ConfigError, IntegrityError, PipelineError
from ml_pipeline.records import BUCKET_MODELS, ModelVersion, VersionStatus
from ml_pipeline.store import Store


# --------------------------------------------------------------------------- gate
@dataclass(frozen=True)
class GateDecision:
    """Whether a candidate replaces the champion, and why (in words)."""

    promote: bool
    reason: str


def decide_promotion(candidate: dict[str, Any], baseline: dict[str, Any] | None, promotion: Any, *, holdout_size: int, evaluated_on: str = "holdout",
                     paired: dict[str, Any] | None = None, reference: dict[str, Any] | None = None) -> GateDecision:
    """The promotion gate (pure).

    Without a current model, promote if the primary metric clears ``first_model_floor``.
    Otherwise promote iff ALL of:

    * the primary metric is strictly above the baseline's (a tie never promotes) and
      >= baseline + ``min_delta``;
    * the paired test on the same holdout rows (``paired``, recorded by the trainer; see
      ml_pipeline/gate_stats.py) says the gain is unlikely to be noise at ``confidence``:
      ``bootstrap``: the lower bound of the one-sided CI of the primary metric's gain is > 0;
      ``mcnemar``: the exact one-sided McNemar p-value is < 1 - confidence;
    * no guard metric (by default accuracy and the class-balanced ``balanced_accuracy``)
      drops by more than its tolerance;
    * against the fixed ``reference`` (the champion of ``reference_lag`` promotions ago),
      ``reference_metric`` does not fall by more than ``reference_tolerance``, so decay
      through many small steps is caught.

    A holdout smaller than ``min_holdout_size`` (or no holdout at all) never promotes.
    """
    primary = promotion.primary_metric
    if evaluated_on != "holdout":
        return GateDecision(False, "no holdout was evaluated; a candidate is never promoted on its own training data")
    if holdout_size < promotion.min_holdout_size:
        return GateDecision(False, f"holdout has {holdout_size} rows, fewer than min_holdout_size {promotion.min_holdout_size}")
    value = float(candidate[primary])
    if baseline is None:
        if value >= promotion.first_model_floor:
            return GateDecision(True, f"first model: {primary} {value:.4f} >= floor {promotion.first_model_floor:.4f}")
        return GateDecision(False, f"first model: {primary} {value:.4f} < floor {promotion.first_model_floor:.4f}")
    base = float(baseline[primary])
    needed = base + promotion.min_delta
    if value <= base:
        what = "ties" if value == base else "is below"
        return GateDecision(False, f"{primary} {value:.4f} {what} the baseline {base:.4f}; a candidate must be strictly better")
    if value < needed:
        return GateDecision(False, f"{primary} {value:.4f} < baseline {base:.4f} + min_delta {promotion.min_delta:.4f}")
    reasons = [f"{primary} {value:.4f} > baseline {base:.4f}" + (f" + min_delta {promotion.min_delta:.4f}" if promotion.min_delta > 0 else "")]
    test = getattr(promotion, "paired_test", "none")
    if test != "none":
        if not paired:
            return GateDecision(False, f"no paired comparison on the holdout was recorded; the {test} test cannot show the gain is not noise")
        conf = float(promotion.confidence)
        if test == "mcnemar":
            from ml_pipeline.gate_stats import mcnemar_p

            b, c = int(paired["candidate_only_right"]), int(paired["baseline_only_right"])
            p = mcnemar_p(b, c)
            if p >= 1 - conf:
                return GateDecision(False, f"McNemar: candidate alone right on {b} rows, baseline alone on {c}: p = {p:.4f} >= "
                                    f"{1 - conf:.4f}; the gain may be holdout noise (confidence {conf:.2f})")
            reasons.append(f"McNemar p {p:.4f} < {1 - conf:.4f} ({b} vs {c} rows)")
        else:
            if paired.get("metric") != primary or paired.get("ci_low") is None:
                return GateDecision(False, f"the recorded paired bootstrap is on {paired.get('metric')!r}, not the primary metric {primary!r}; "
                                    "retrain with this configuration")
            low, rec_conf = float(paired["ci_low"]), float(paired.get("confidence", conf))
            if rec_conf < conf:
                return GateDecision(False, f"the paired bootstrap was computed at confidence {rec_conf:.2f}, below the configured {conf:.2f}")
            if low <= 0:
                return GateDecision(False, f"paired bootstrap: {primary} gain {float(paired['delta']):+.4f}, lower {conf:.0%} bound {low:+.4f} <= 0; "
                                    "the gain may be holdout noise")
            reasons.append(f"paired bootstrap {conf:.0%} lower bound of the gain {low:+.4f} > 0")
    guards = {**dict(promotion.guard_metrics), **dict(getattr(promotion, "balanced_guard", {}) or {})}
    for metric, tolerance in guards.items():
        if metric not in candidate or metric not in baseline:
            return GateDecision(False, f"guard metric {metric} was not recorded for both models; cannot check it")
        drop = float(baseline[metric]) - float(candidate[metric])
        if drop > tolerance:
            return GateDecision(
                False,
                f"{metric} dropped {drop:.4f} ({float(baseline[metric]):.4f} -> {float(candidate[metric]):.4f}), "
                f"more than its tolerance {tolerance:.4f}",
            )
    if guards:
        reasons.append(", ".join(f"{m} within {t:.4f}" for m, t in guards.items()))
    if reference and int(getattr(promotion, "reference_lag", 0) or 0) > 0:
        metric, tol = promotion.reference_metric, float(promotion.reference_tolerance)
        if metric in reference and metric in candidate:
            ref, val = float(reference[metric]), float(candidate[metric])
            if ref - val > tol:
                return GateDecision(False, f"{metric} {val:.4f} is {ref - val:.4f} below the reference model v{reference.get('version')} "
                                    f"({ref:.4f}), more than reference_tolerance {tol:.4f}: the model is drifting step by step")
            reasons.append(f"{metric} {val:.4f} vs reference v{reference.get('version')} {ref:.4f}")
    return GateDecision(True, "; ".join(reasons))


# --------------------------------------------------------------------------- registry
class Registry:
    """Versions of the model in one store; a local cache of verified files."""

    def __init__(self, store: Store, cache_dir: Path) -> None:
        self.store = store
        self.cache_dir = Path(cache_dir)

    def champion(self) -> ModelVersion | None:
        """The version in service."""
        return self.store.get_champion()

    def add_candidate(self, model_file: Path, *, sha256: str, sklearn_version: str, estimator: str | None, fine_tunable: bool,
                      metrics: dict[str, Any], run_id: str | None, parent_version: int | None, note: str | None = None) -> ModelVersion:
        """Record a new ``candidate`` version and upload its bytes (checked against ``sha256``)."""
        data = Path(model_file).read_bytes()
        actual = sha256_bytes(data)
        if actual != sha256:
            raise IntegrityError(f"trained model '{model_file}' has sha256 {actual}, but the trainer reported {sha256}; not registering it")
        mv = self.store.create_model_version(
            sha256=actual, size_bytes=len(data), sklearn_version=sklearn_version, estimator=estimator,
            fine_tunable=fine_tunable, metrics=metrics, run_id=run_id, parent_version=parent_version, note=note,
        )
        assert mv.storage_path
        try:
            self.store.put_object(BUCKET_MODELS, mv.storage_path, data)
        except PipelineError:
            # A version without its bytes must not stay a 'candidate' that nothing will decide.
            try:
                self.store.set_version_status(mv.version, "rejected")
            except PipelineError:
                pass  # the upload error below says more; the reaper rejects candidates of lost runs
            raise
        return mv

    def fetch(self, mv: ModelVersion) -> Path:
        """A local copy of ``mv`` whose sha256 matches the database (downloaded if needed)."""
        if not mv.sha256:
            raise IntegrityError(f"model v{mv.version} has no recorded sha256: refusing to load it")
        if not mv.storage_path:
            raise IntegrityError(f"model v{mv.version} has no storage path")
        dest = self.cache_dir / f"v{mv.version}" / "model.joblib"
        if not (dest.is_file() and sha256_file(dest) == mv.sha256):
            data = self.store.get_object(BUCKET_MODELS, mv.storage_path)
            actual = sha256_bytes(data)
            if actual != mv.sha256:
                raise IntegrityError(
                    f"model v{mv.version} ({BUCKET_MODELS}/{mv.storage_path}) has sha256 {actual}, but the "
                    f"database records {mv.sha256}: the file was changed or damaged; refusing to load it "
                    "(roll back with `python -m ml_pipeline.registry rollback`)"
                )
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".model-", suffix=".tmp")  # runners may fetch at once
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, dest)
        return dest

    def load(self, mv: ModelVersion) -> Any:
        """Load ``mv`` (skops, trusted types only) from the very bytes whose sha256 is checked."""
        from ml_pipeline import model_io

        return model_io.load_verified(self.fetch(mv), mv.sha256)

    def promote(self, version: int) -> ModelVersion:
        """Make ``version`` the champion."""
        return self.store.promote_model_version(version)

    def reject(self, version: int, metrics: dict[str, Any] | None = None) -> ModelVersion:
        """Mark a candidate ``rejected`` (kept, never served)."""
        return self.store.set_version_status(version, VersionStatus.REJECTED, metrics)

    def rollback(self, to: int | None = None) -> ModelVersion:
        """Make ``to`` (default: the most recently retired version) champion again."""
        if to is None:
            retired = [(v.promoted_at, v) for v in self.store.list_model_versions() if v.status == VersionStatus.RETIRED and v.promoted_at]
            if not retired:
                raise ConfigError("nothing to roll back to: no retired version exists; pass --to VERSION")
            target = max(retired, key=lambda pair: pair[0])[1]
        else:
            found = self.store.get_model_version(to)
            if found is None:
                raise ConfigError(f"model version {to} does not exist; see `python -m ml_pipeline.registry list`")
            target = found
        if target.status == VersionStatus.CHAMPION:
            raise ConfigError(f"model v{target.version} is already the champion")
        self.fetch(target)  # never crown a version whose bytes are damaged
        return self.promote(target.version)

    def register(self, path: Path, classes: list[str], note: str | None = None, *, config_path: Path | None = None,
                 sample: Path | None = None) -> tuple[ModelVersion, str | None]:
        """Hand over an existing model as champion. Returns (version, notice).

        With ``sample`` (a CSV of labelled log rows: the features and ``actual_label``) and
        ``config_path``, the model is first put through the real trainer on those rows, in a
        child process without secrets: it must predict and, when it has ``partial_fit``, be
        fine-tuned (else be refitted as the same pipeline). What does not fit is said at once,
        before anything is registered.
        """
        import sklearn

        from ml_pipeline import model_io
        from ml_pipeline.config import label_text

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"model file '{path}' not found")
        data = path.read_bytes()  # read once: these bytes are inspected, hashed and uploaded
        info = model_io.inspect_in_subprocess(data, source=f"'{path}'")  # loaded in a child without secrets
        if not info.has_predict:
            raise ConfigError(f"'{path}' holds a {info.estimator}, which has no predict(); register a fitted classifier")
        known = info.classes
        if sorted(label_text(c) for c in known) != sorted(classes):
            raise ConfigError(f"model predicts classes {known}, but model.classes in the config is {classes}")
        fine_tunable = info.fine_tunable
        notice = None
        if not fine_tunable:
            notice = (f"{info.estimator} cannot be fine-tuned incrementally (no partial_fit): "
                      "the next runs will retrain the same pipeline from scratch (a fresh copy of it)")
        if sample is not None and config_path is not None:
            trial_trainer(data, sample, config_path, source=f"'{path}'")
        mv = self.store.create_model_version(
            sha256=sha256_bytes(data), size_bytes=len(data), sklearn_version=sklearn.__version__,
            estimator=info.estimator, fine_tunable=fine_tunable, metrics={},
            note=note or f"registered from {path.name}",
        )
        assert mv.storage_path
        self.store.put_object(BUCKET_MODELS, mv.storage_path, data)
        return self.promote(mv.version), notice


def trial_trainer(data: bytes, sample: Path, config_path: Path, *, source: str, timeout: float = 300) -> dict[str, Any]:
    """Run ``train_model.py`` on the model ``data`` and the labelled rows ``sample`` (one
    epoch) in a child process without secrets; return its result, or raise ConfigError
    saying what does not fit (the trainer's own error message)."""
    import subprocess
    import sys

    from ml_pipeline import model_io

    with tempfile.TemporaryDirectory(prefix="ml-pipeline-register-") as tmp:
        model = Path(tmp) / "model.skops"
        model.write_bytes(data)
        argv = [sys.executable, "-m", "ml_pipeline.train_model", "--dataset", str(sample), "--holdout", str(sample), "--config", str(config_path),
                "--fine_tune", "true", "--model_path", str(model), "--model_sha256", sha256_bytes(data), "--output_dir", str(Path(tmp) / "out"),
                "--epochs", "1"]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env={**model_io.child_environment(), "LOG_LEVEL": "ERROR"},
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise PipelineError(f"trying model {source} on log rows took more than {timeout:g} s") from exc
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    try:
        result = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        result = {}
    if proc.returncode != 0 or result.get("status") != "ok":
        why = result.get("error") or (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"model {source} does not work with the evaluation log (tried on {sample.name}): {why}; "
                          "fix the model or model.features / model.classes in the config; nothing was registered")
    return dict(result)


def log_sample(store: Store, settings: Any, workdir: Path, per_class: int = 40) -> Path | None:
    """Up to ``per_class`` labelled rows of each class from the evaluation log, as the
    trainer reads them (features + ``actual_label``), written to ``workdir/sample.csv``;
    None (with nothing written) when no log is reachable."""
    import pandas as pd

    from ml_pipeline.config import label_from_text
    from ml_pipeline.log_sources import resolve_sources

    cfg = settings.model
    try:
        sources = resolve_sources(store, cfg.evaluation_log.path, None, workdir / "log")
    except PipelineError:
        return None
    src = sources[-1].path
    # keep_default_na=False: text such as "NA" stays a value (a categorical feature), as the readers keep it
    frame = pd.read_parquet(src) if src.name.endswith(".parquet") else pd.read_csv(src, dtype=str, keep_default_na=False)
    actual = cfg.columns.actual_label
    if actual not in frame.columns:
        return None
    classes = set(cfg.model.classes)
    labels = frame[actual].dropna().astype(str).map(lambda v: label_from_text(v, classes))
    frame = frame.loc[labels.index].assign(actual_label=labels)
    frame = frame[frame["actual_label"].isin(classes)].groupby("actual_label", group_keys=False).head(per_class)
    if frame.empty:
        return None
    out = workdir / "sample.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    return out


# --------------------------------------------------------------------------- CLI
def _fmt(mv: ModelVersion) -> str:
    m = mv.metrics or {}
    acc = f"acc {m['accuracy']:.3f} f1 {m['f1_score']:.3f}" if "accuracy" in m and "f1_score" in m else "no metrics"
    when = mv.created_at.strftime("%Y-%m-%d %H:%M") if mv.created_at else "?"
    return f"v{mv.version:<4} {mv.status:<9} {when}  {acc:<22} sha256 {mv.sha256[:12]}  {mv.estimator or ''}  {mv.note or ''}".rstrip()


def main(argv: list[str] | None = None) -> int:
    """``python -m ml_pipeline.registry list | register PATH | rollback [--to N]``."""
    import argparse

    from ml_pipeline.cli import add_common_options, run_main

    parser = argparse.ArgumentParser(prog="python -m ml_pipeline.registry", description="Model versions of the configured store.")
    add_common_options(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="versions, newest first")
    p_list.add_argument("--json", action="store_true")
    p_reg = sub.add_parser("register", help="hand over the model you already serve as the first champion")
    p_reg.add_argument("path")
    p_reg.add_argument("--note")
    p_rb = sub.add_parser("rollback", help="make a previous version champion again")
    p_rb.add_argument("--to", type=int, help="version number (default: the last retired champion)")
    args = parser.parse_args(argv)
    return run_main(lambda: _run(args))


def _run(args: Any) -> int:
    from ml_pipeline.backends import open_store
    from ml_pipeline.cli import settings_from

    settings = settings_from(args)
    store = open_store(settings)
    try:
        registry = Registry(store, settings.home / "cache")
        if args.command == "list":
            versions = store.list_model_versions()
            if args.json:
                print(json.dumps([{"version": v.version, "status": v.status, "sha256": v.sha256, "metrics": v.metrics} for v in versions]))
            elif not versions:
                print("no model versions yet; register one with `python -m ml_pipeline.registry register PATH`")
            for v in versions if not args.json else []:
                print(_fmt(v))
        elif args.command == "register":
            with tempfile.TemporaryDirectory(prefix="ml-pipeline-sample-") as tmp:
                sample = log_sample(store, settings, Path(tmp))
                if sample is None:
                    print("notice: no labelled evaluation log rows found: the model was not tried on log rows")
                mv, notice = registry.register(Path(args.path), list(settings.model.model.classes), args.note,
                                               config_path=settings.config_path, sample=sample)
            print(f"registered {args.path} as v{mv.version} (champion), sha256 {mv.sha256}")
            if notice:
                print(f"notice: {notice}")
        else:
            mv = registry.rollback(args.to)
            print(f"v{mv.version} is the champion again (sha256 verified)")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
