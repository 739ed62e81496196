"""Configuration: the guide's defaults, model_config.yaml, and resolved settings.

Resolution order for every setting, highest first (also shown in ``--help``):

1. a command-line flag,
2. an environment variable (``ML_PIPELINE_*``, ``SUPABASE_*``, ``LOG_LEVEL``, ``DEBUG``;
   a ``.env`` file in the working directory is read too, without overriding the real
   environment),
3. ``model_config.yaml``,
4. the defaults below (edit them here to change the fallback, as the guide says).

:func:`load_settings` returns one frozen :class:`Settings`. ``model_config.yaml`` is
validated strictly: an unknown key, a wrong type or an impossible value raises a
:class:`~ml_pipeline.errors.ConfigError` naming the key, the value and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ml_pipeline.errors import ConfigError

# The guide's defaults (SEED_AUTO_REINFORCEMENT_GUIDE.md, "Default Settings").
DEFAULT_LOOKBACK_DAYS = 7  # Days to look back for errors
MIN_ERROR_SAMPLES_FOR_RETRAINING = 10  # Minimum errors to trigger retraining
ERROR_CONFIDENCE_THRESHOLD = 0.7  # Only high-confidence errors included
DEFAULT_FINE_TUNE_EPOCHS = 5  # Training epochs for fine-tuning
DEFAULT_LEARNING_RATE = 0.001  # Learning rate multiplier

DEFAULT_CONFIG_FILE = "model_config.yaml"
DEFAULT_HOME = ".ml_pipeline"
BACKENDS = ("auto", "local", "supabase")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# Environment variables each setting may come from (documented in docs/configuration.md).
ENV_VARS = {
    "home": "ML_PIPELINE_HOME",
    "backend": "ML_PIPELINE_BACKEND",
    "config_path": "ML_PIPELINE_CONFIG",
    "lookback_days": "ML_PIPELINE_LOOKBACK_DAYS",
    "confidence_threshold": "ML_PIPELINE_CONFIDENCE_THRESHOLD",
    "min_error_samples": "ML_PIPELINE_MIN_ERROR_SAMPLES",
    "epochs": "ML_PIPELINE_EPOCHS",
    "learning_rate": "ML_PIPELINE_LEARNING_RATE",
    "supabase_url": "SUPABASE_URL",
    "supabase_service_key": "SUPABASE_SERVICE_KEY",
    "log_level": "LOG_LEVEL",
    "debug": "DEBUG",
}


def label_text(value: Any) -> str:
    """One spelling of a class label everywhere (log, config, model): ``1``, ``True``, ``cat``.

    ints (also numpy ints and integral floats such as ``1.0``) become their decimal digits,
    bools ``True``/``False``, anything else ``str(value)``.
    """
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "True" if bool(value) else "False"
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        f = float(value)
        return str(int(f)) if f.is_integer() else str(f)
    if type(value).__name__.startswith(("int", "uint")):
        return str(int(value))
    return str(value)


def label_texts(values: Any) -> Any:
    """:func:`label_text` of every element of ``values``, as a numpy object array.

    Each distinct value is spelled once (pandas' hash factorisation), so a holdout of a million
    predictions costs a few distinct calls, not a million.
    """
    import numpy as np
    import pandas as pd

    arr = np.asarray(values, dtype=object) if not hasattr(values, "dtype") else np.asarray(values)
    kind = pd.api.types.infer_dtype(arr, skipna=False)
    if kind not in ("string", "integer", "boolean", "floating"):  # mixed types: 1 and True hash alike, so one at a time
        return np.asarray([label_text(v) for v in arr], dtype=object)
    # The result points at one str object per distinct label (8 bytes a row, not a str each).
    codes, uniques = pd.factorize(arr, use_na_sentinel=False)
    return np.asarray([label_text(u) for u in uniques], dtype=object)[codes] if len(codes) else np.asarray([], dtype=object)


def label_from_text(text: str, classes: Any) -> str:
    """A label read from a log as one of ``classes`` when only its spelling differs:
    ``"1.0"`` (an integer column that pandas wrote as floats because of missing labels)
    is ``"1"``; ``"true"``/``"TRUE"`` is ``"True"``. Any other text is returned unchanged."""
    if text in classes:
        return text
    low = text.strip().lower()
    if low in ("true", "false"):
        return "True" if low == "true" else "False"
    head, dot, tail = text.strip().partition(".")
    if dot and tail and set(tail) == {"0"} and head.lstrip("-").isdigit():
        return str(int(head))
    return text


def _schema() -> Any:
    """Build the pydantic schema of model_config.yaml (imported lazily: --help stays fast)."""
    from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    class Columns(Strict):
        prediction_id: str = "prediction_id"
        created_at: str = "created_at"
        predicted_label: str = "predicted_label"
        actual_label: str = "actual_label"
        confidence: str = "confidence"

    class Features(Strict):
        numeric: list[str] = []
        # Text features, passed unchanged to the model's own encoder; an empty cell is a
        # missing value (None) for its imputer. A feature is in exactly one of the two lists.
        categorical: list[str] = []
        # Numeric features whose cells may be empty/NaN in the log: such rows are kept, and the
        # trainer drops (and counts, with a warning) the ones the model cannot take.
        # (Categorical features may always be empty; listing one here changes nothing.)
        allow_missing: list[str] = []

        @field_validator("numeric", "categorical")
        @classmethod
        def _unique(cls, v: list[str]) -> list[str]:
            if len(set(v)) != len(v):
                raise ValueError("feature names must be unique")
            return v

        @model_validator(mode="after")
        def _one_list_each(self) -> Features:
            if not self.numeric and not self.categorical:
                raise ValueError("list at least one feature under model.features.numeric or model.features.categorical")
            both = sorted(set(self.numeric) & set(self.categorical))
            if both:
                raise ValueError(f"feature(s) {both} are listed under both numeric and categorical; "
                                 "keep each feature in one list (categorical for text values)")
            unknown = [f for f in self.allow_missing if f not in self.numeric and f not in self.categorical]
            if unknown:
                raise ValueError(f"allow_missing lists {unknown}, which are not in numeric or categorical")
            return self

        @property
        def all(self) -> list[str]:
            """Every feature, numeric first then categorical (the column order of the datasets)."""
            return [*self.numeric, *self.categorical]

    class Estimator(Strict):
        type: Literal["sgd_logistic"] = "sgd_logistic"
        alpha: float = Field(default=1e-4, gt=0)
        max_iter: int = Field(default=50, ge=1, le=10_000)

    class Model(Strict):
        name: str = "model"
        classes: list[str] = Field(min_length=2)
        features: Features
        estimator: Estimator = Estimator()

        @field_validator("classes", mode="before")
        @classmethod
        def _label_text(cls, v: Any) -> Any:
            # ints, strings and bools are all labels: one spelling (label_text above) is
            # compared everywhere: 0 -> "0", true -> "True" (as pandas writes a bool column).
            if isinstance(v, list):
                bad = [x for x in v if not isinstance(x, (str, int, bool))]
                if bad:
                    raise ValueError(f"class labels must be strings, integers or booleans; got {bad!r}")
                return [label_text(x) for x in v]
            return v

        @field_validator("classes")
        @classmethod
        def _unique(cls, v: list[str]) -> list[str]:
            if len(set(v)) != len(v):
                raise ValueError("class names must be unique")
            if any(not x.strip() for x in v):
                # a blank actual label in a log means "not known yet"
                raise ValueError(f"class names must not be blank; got {v!r}")
            return v

    class EvaluationLog(Strict):
        path: str = "evaluation_log.csv"
        confidence_scale: Literal["unit", "percent", "auto"] = "unit"
        max_bytes: int = Field(default=2_000_000_000, gt=0)

    class Retraining(Strict):
        lookback_days: int = Field(default=DEFAULT_LOOKBACK_DAYS, ge=1, le=366)
        min_error_samples: int = Field(default=MIN_ERROR_SAMPLES_FOR_RETRAINING, ge=1)
        confidence_threshold: float = Field(default=ERROR_CONFIDENCE_THRESHOLD, ge=0, lt=1)
        epochs: int = Field(default=DEFAULT_FINE_TUNE_EPOCHS, ge=1, le=10_000)
        learning_rate: float = Field(default=DEFAULT_LEARNING_RATE, ge=0, le=10)
        holdout_fraction: float = Field(default=0.2, gt=0, le=0.9)
        replay_ratio: float = Field(default=2.0, ge=0, le=100)
        random_seed: int = 42
        training_timeout_seconds: int = Field(default=1800, ge=1)

    GateMetric = Literal["accuracy", "precision", "recall", "f1_score", "balanced_accuracy"]

    class Promotion(Strict):
        primary_metric: GateMetric = "f1_score"
        min_delta: float = Field(default=0.0, ge=-1, le=1)
        guard_metrics: dict[GateMetric, float] = {"accuracy": 0.02}
        # The class-balanced guard, checked like guard_metrics (kept apart so that runs which
        # did not record metrics.gate are still judged by the page's default gate).
        balanced_guard: dict[GateMetric, float] = {"balanced_accuracy": 0.01}
        min_holdout_size: int = Field(default=30, ge=1)
        first_model_floor: float = Field(default=0.0, ge=0, le=1)
        # Paired test on the same holdout rows: the improvement must be unlikely to be noise.
        paired_test: Literal["bootstrap", "mcnemar", "none"] = "bootstrap"
        confidence: float = Field(default=0.95, ge=0.5, lt=1)
        bootstrap_resamples: int = Field(default=1000, ge=100, le=100_000)
        # The fixed reference: the champion of ``reference_lag`` promotions ago (the first
        # champion while there were fewer); 0 turns the check off.
        reference_lag: int = Field(default=5, ge=0, le=1000)
        reference_metric: GateMetric = "balanced_accuracy"
        reference_tolerance: float = Field(default=0.02, ge=0, le=1)

        @field_validator("guard_metrics", "balanced_guard")
        @classmethod
        def _tolerances(cls, v: dict[str, float]) -> dict[str, float]:
            for name, tol in v.items():
                if not 0 <= tol <= 1:
                    raise ValueError(f"tolerance of {name!r} must be in [0, 1], got {tol}")
            return v

    class Decay(Strict):
        enabled: bool = True
        recent_days: int = Field(default=2, ge=1)
        reference_days: int = Field(default=14, ge=1)
        max_accuracy_drop: float = Field(default=0.10, gt=0, le=1)
        min_rows: int = Field(default=50, ge=1)

    class Runner(Strict):
        lease_seconds: int = Field(default=600, ge=2)
        heartbeat_seconds: float = Field(default=30, gt=0)
        max_attempts: int = Field(default=3, ge=1)

        @model_validator(mode="after")
        def _heartbeat_within_lease(self) -> Runner:
            if self.heartbeat_seconds * 2 > self.lease_seconds:
                raise ValueError(
                    f"heartbeat_seconds ({self.heartbeat_seconds}) must be at most half of "
                    f"lease_seconds ({self.lease_seconds}), or live runs would be reaped"
                )
            return self

    class Alerts(Strict):
        failures_in_7_days: int = Field(default=3, ge=1)
        error_samples_in_7_days: int = Field(default=1000, ge=1)
        log_retention_days: int = Field(default=30, ge=1)

    class ModelConfig(Strict):
        model: Model
        columns: Columns = Columns()
        evaluation_log: EvaluationLog = EvaluationLog()
        retraining: Retraining = Retraining()
        promotion: Promotion = Promotion()
        decay: Decay = Decay()
        runner: Runner = Runner()
        alerts: Alerts = Alerts()

        @model_validator(mode="after")
        def _columns_distinct(self) -> ModelConfig:
            mapped = list(self.columns.model_dump().values())
            clash = sorted({c for c in mapped if mapped.count(c) > 1})
            if clash:
                raise ValueError(f"columns map two logical columns to the same name: {clash}")
            overlap = sorted(set(mapped) & set(self.model.features.all))
            if overlap:
                raise ValueError(f"feature(s) {overlap} are also mapped as log columns")
            return self

    return ModelConfig


_SCHEMA: Any = None


def model_config_schema() -> Any:
    """Return the (cached) pydantic class that validates model_config.yaml."""
    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = _schema()
    return _SCHEMA


_FIXES = {
    "extra_forbidden": "remove it or check its spelling (valid keys are listed in docs/configuration.md)",
    "missing": "add it (see the example model_config.yaml in the repository)",
}


def _format_validation_error(where: str, exc: Any, sources: Mapping[str, str] | None = None) -> str:
    """Every problem on one line: the key (or the variable/flag it came from), the value, the rule, the fix."""
    sources = sources or {}
    lines = [f"{where}: {exc.error_count()} problem(s):"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        fix = _FIXES.get(err["type"], "use a value of the right type and range")
        value = err.get("input")
        if key in sources:  # an override: name where it came from, then the key it sets
            lines.append(f"  - {sources[key]} = {value!r} (key '{key}'): {err['msg']}; fix: change the value or unset it")
            continue
        shown = "" if err["type"] == "missing" else f" = {value!r}"
        lines.append(f"  - key '{key}'{shown}: {err['msg']}; fix: {fix}")
    return "\n".join(lines)


def load_model_config(path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None, sources: Mapping[str, str] | None = None) -> Any:
    """Read and validate ``model_config.yaml``, with ``overrides`` of the ``retraining`` section.

    The file and the overrides (flags and environment variables, named in ``sources`` as
    ``{"retraining.epochs": "environment variable ML_PIPELINE_EPOCHS"}``) are validated
    together, once, by the pydantic schema. Returns the frozen ``ModelConfig``. Raises
    ``ConfigError`` when the file is missing, is not one YAML mapping, or breaks the schema
    (every problem listed).
    """
    import yaml
    from pydantic import ValidationError

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"model config '{p}' not found; pass --config PATH or set ML_PIPELINE_CONFIG"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"model config '{p}' cannot be read: {exc}") from exc
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ConfigError(f"model config '{p}' is not valid YAML: {exc}") from exc
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ConfigError(
            f"model config '{p}' must hold exactly one YAML mapping (found {len(docs)} "
            "document(s)); keep a single configuration in the file"
        )
    data = docs[0]
    if overrides:
        section = data.get("retraining")
        data = {**data, "retraining": {**(section if isinstance(section, dict) else {}), **overrides}}
    try:
        return model_config_schema().model_validate(data)
    except ValidationError as exc:
        where = f"{p} (with {', '.join(sorted(set(sources.values())))})" if sources else str(p)
        raise ConfigError(_format_validation_error(where, exc, sources)) from None


def load_dotenv_once(path: str | os.PathLike[str] = ".env") -> None:
    """Load ``.env`` into the process environment without overriding real variables."""
    if Path(path).is_file():
        from dotenv import load_dotenv

        load_dotenv(path, override=False)


# Settings attributes whose values live in the ``retraining`` section of model_config.yaml
# (one definition, one set of rules: the schema above); flags and environment variables
# override them before validation.
RETRAINING_KNOBS = ("lookback_days", "confidence_threshold", "min_error_samples", "epochs", "learning_rate")


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, resolved once: flag > env > model_config.yaml > default.

    ``lookback_days``, ``confidence_threshold``, ``min_error_samples``, ``epochs`` and
    ``learning_rate`` read ``model.retraining`` (where the overrides were validated).
    """

    model: Any
    config_path: Path
    home: Path
    backend: str
    log_level: str = "INFO"
    debug: bool = False
    supabase_url: str | None = None
    supabase_service_key: str | None = field(default=None, repr=False)

    def _knob(self, name: str) -> Any:
        if self.model is None:
            raise ConfigError(f"{name} is unknown: these settings were loaded without model_config.yaml (skip_model=True)")
        return getattr(self.model.retraining, name)

    @property
    def lookback_days(self) -> int:
        """Days of evaluation log in the window (``retraining.lookback_days``)."""
        return int(self._knob("lookback_days"))

    @property
    def confidence_threshold(self) -> float:
        """Errors above this confidence are trained on (``retraining.confidence_threshold``)."""
        return float(self._knob("confidence_threshold"))

    @property
    def min_error_samples(self) -> int:
        """Fewer errors than this: the run is skipped (``retraining.min_error_samples``)."""
        return int(self._knob("min_error_samples"))

    @property
    def epochs(self) -> int:
        """Fine-tuning passes (``retraining.epochs``)."""
        return int(self._knob("epochs"))

    @property
    def learning_rate(self) -> float:
        """Fine-tuning step size (``retraining.learning_rate``)."""
        return float(self._knob("learning_rate"))

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields replaced; retraining knobs (e.g. a per-request lookback) are
        validated by the schema like any other value. ``ConfigError`` names a bad one."""
        knobs = {k: changes.pop(k) for k in RETRAINING_KNOBS if k in changes}
        new = replace(self, **changes)
        if not knobs:
            return new
        from pydantic import ValidationError

        m = new.model
        try:
            model = type(m).model_validate({**m.model_dump(), "retraining": {**m.retraining.model_dump(), **knobs}})
        except ValidationError as exc:
            raise ConfigError(_format_validation_error("invalid settings", exc)) from None
        return replace(new, model=model)

    @property
    def resolved_backend(self) -> str:
        """``local`` or ``supabase``: what ``auto`` means with the current environment."""
        if self.backend != "auto":
            return self.backend
        return "supabase" if self.supabase_url else "local"


def _parse(raw: str, kind: type, source: str) -> Any:
    try:
        if kind is bool:
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{source} = {raw!r} is not a valid {kind.__name__}; fix the value or unset it") from None


def load_settings(cli: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None, *, skip_model: bool = False) -> Settings:
    """Resolve :class:`Settings` from CLI values (``None`` = not given) and the environment.

    ``skip_model=True`` does not read model_config.yaml (``model`` is None): enough to open
    the store and record that the configuration is broken. Raises ``ConfigError`` for a
    bad value anywhere, naming where it came from.
    """
    cli = {k: v for k, v in (cli or {}).items() if v is not None}
    if env is None:
        load_dotenv_once()
        env = os.environ

    def given(key: str) -> tuple[Any, str] | None:
        """(raw value, where it came from) of a flag or environment variable, or None."""
        if key in cli:
            return cli[key], f"command-line {key}"
        var = ENV_VARS.get(key)
        if var and env.get(var, "").strip() != "":
            return env[var].strip(), f"environment variable {var}"
        return None

    def pick(key: str, kind: type, default: Any) -> Any:
        found = given(key)
        if found is None:
            return default
        value, source = found
        return _parse(value, kind, source) if isinstance(value, str) and kind is not str else value

    config_path = Path(pick("config_path", str, DEFAULT_CONFIG_FILE))
    overrides: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for knob in RETRAINING_KNOBS:
        found = given(knob)
        if found is not None:
            overrides[knob], sources[f"retraining.{knob}"] = found
    model = None if skip_model else load_model_config(config_path, overrides, sources)

    backend = pick("backend", str, "auto")
    if backend not in BACKENDS:
        raise ConfigError(f"backend {backend!r} is unknown; choose one of {', '.join(BACKENDS)}")
    log_level = str(pick("log_level", str, "INFO")).upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL {log_level!r} is unknown; choose one of {', '.join(LOG_LEVELS)}")
    return Settings(
        model=model,
        config_path=config_path,
        home=Path(pick("home", str, DEFAULT_HOME)),
        backend=backend,
        log_level=log_level,
        debug=bool(pick("debug", bool, False)),
        supabase_url=(env.get("SUPABASE_URL") or "").strip() or None,
        supabase_service_key=(env.get("SUPABASE_SERVICE_KEY") or "").strip() or None,
    )
