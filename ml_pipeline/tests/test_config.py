"""config.py: the guide's defaults, model_config.yaml validation, resolution order."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from ml_pipeline import config
from ml_pipeline.errors import ConfigError

from .conftest import CONFIG


def test_guide_defaults_have_exact_names_and_values():
    assert config.DEFAULT_LOOKBACK_DAYS == 7
    assert config.MIN_ERROR_SAMPLES_FOR_RETRAINING == 10
    assert config.ERROR_CONFIDENCE_THRESHOLD == 0.7
    assert config.DEFAULT_FINE_TUNE_EPOCHS == 5
    assert config.DEFAULT_LEARNING_RATE == 0.001


def test_repository_config_is_valid():
    cfg = config.load_model_config(CONFIG)
    assert cfg.model.classes == ["home_win", "draw", "away_win"]
    assert cfg.columns.confidence == "confidence_score"


def _write(tmp_path, text):
    p = tmp_path / "model_config.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def _mutated(tmp_path, path, value):
    data = yaml.safe_load(CONFIG.read_text())
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return _write(tmp_path, yaml.safe_dump(data))


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (("retraining", "confidence_threshold"), 1.5, "retraining.confidence_threshold' = 1.5"),
        (("retraining", "epochs"), "five", "retraining.epochs' = 'five'"),
        (("retraining", "lookback_dayz"), 7, "retraining.lookback_dayz' = 7: Extra inputs are not permitted; fix: remove it"),
        (("promotion", "primary_metric"), "auc", "promotion.primary_metric' = 'auc'"),
        (("runner", "heartbeat_seconds"), 400, "heartbeat_seconds (400.0) must be at most half of lease_seconds"),
        (("evaluation_log", "confidence_scale"), "percentage", "evaluation_log.confidence_scale' = 'percentage'"),
        (("model", "classes"), ["a"], "model.classes' = ['a']"),
        (("model", "classes"), [0.5, 1], "class labels must be strings, integers or booleans; got [0.5]"),
        (("model", "classes"), [1, "1"], "class names must be unique"),
        (("model", "classes"), ["win", " "], "class names must not be blank"),
        (("promotion", "paired_test"), "t-test", "promotion.paired_test' = 't-test'"),
        (("promotion", "confidence"), 1.0, "promotion.confidence' = 1.0"),
        (("promotion", "guard_metrics"), {"auc": 0.1}, "promotion.guard_metrics.auc"),
    ],
)
def test_invalid_config_names_key_value_and_fix(tmp_path, path, value, expected):
    p = _mutated(tmp_path, path, value)
    with pytest.raises(ConfigError) as err:
        config.load_model_config(p)
    msg = str(err.value)
    assert str(p) in msg and expected in msg and "fix:" in msg


def test_several_configs_pasted_together_are_refused(tmp_path):
    p = _write(tmp_path, CONFIG.read_text() + "\n---\n" + CONFIG.read_text())
    with pytest.raises(ConfigError, match="exactly one YAML mapping"):
        config.load_model_config(p)


def test_yaml_syntax_error_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load_model_config(_write(tmp_path, "model: [unclosed\n"))
    with pytest.raises(ConfigError, match="not found; pass --config"):
        config.load_model_config(tmp_path / "nope.yaml")


def test_resolution_order_flag_over_env_over_yaml_over_default(tmp_path):
    p = _mutated(tmp_path, ("retraining", "lookback_days"), 14)
    base = {"config_path": str(p), "home": str(tmp_path)}
    assert config.load_settings(base, env={}).lookback_days == 14  # yaml over default
    env = {"ML_PIPELINE_LOOKBACK_DAYS": "21"}
    assert config.load_settings(base, env=env).lookback_days == 21  # env over yaml
    assert config.load_settings({**base, "lookback_days": 3}, env=env).lookback_days == 3  # flag over env
    data = yaml.safe_load(CONFIG.read_text())
    del data["retraining"]["lookback_days"]
    q = _write(tmp_path, yaml.safe_dump(data))
    assert config.load_settings({"config_path": str(q)}, env={}).lookback_days == config.DEFAULT_LOOKBACK_DAYS


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="environment variable ML_PIPELINE_EPOCHS = 'many'"):
        config.load_settings({"config_path": str(CONFIG)}, env={"ML_PIPELINE_EPOCHS": "many"})
    with pytest.raises(ConfigError, match="learning_rate = -1.0"):
        config.load_settings({"config_path": str(CONFIG), "learning_rate": -1.0}, env={})


def test_dotenv_is_read_without_overriding_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LOG_LEVEL=DEBUG\nSUPABASE_URL=https://example.supabase.co\n")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    s = config.load_settings({"config_path": str(CONFIG)})
    assert s.log_level == "WARNING"
    assert s.supabase_url == "https://example.supabase.co"
    assert s.resolved_backend == "supabase"


def test_service_key_is_not_in_repr(tmp_path):
    s = config.load_settings({"config_path": str(CONFIG)}, env={"SUPABASE_URL": "https://x.supabase.co", "SUPABASE_SERVICE_KEY": "sekrit-value"})
    assert "sekrit-value" not in repr(s)


def test_overrides_are_validated_by_the_schema_with_their_source(tmp_path):
    with pytest.raises(ConfigError) as err:
        config.load_settings({"config_path": str(CONFIG)}, env={"ML_PIPELINE_LOOKBACK_DAYS": "400", "ML_PIPELINE_CONFIDENCE_THRESHOLD": "1"})
    msg = str(err.value)
    assert "2 problem(s)" in msg
    assert "environment variable ML_PIPELINE_LOOKBACK_DAYS = '400' (key 'retraining.lookback_days'): Input should be less than or equal to 366" in msg
    assert "environment variable ML_PIPELINE_CONFIDENCE_THRESHOLD = '1' (key 'retraining.confidence_threshold')" in msg


def test_settings_knobs_are_one_field_of_the_model(settings):
    assert settings.lookback_days == settings.model.retraining.lookback_days
    s = settings.with_overrides(lookback_days=30, min_error_samples=5)
    assert (s.lookback_days, s.model.retraining.lookback_days, s.min_error_samples) == (30, 30, 5)
    assert settings.lookback_days == 7  # the original is unchanged
    with pytest.raises(ConfigError, match="retraining.epochs"):
        settings.with_overrides(epochs=0)
    bare = config.load_settings({"config_path": str(CONFIG)}, env={}, skip_model=True)
    with pytest.raises(ConfigError, match="loaded without model_config.yaml"):
        bare.lookback_days  # noqa: B018


@pytest.mark.parametrize("classes, expected", [
    ([0, 1], ["0", "1"]),                      # integer labels (issue 14)
    ([True, False], ["True", "False"]),        # booleans, spelled as pandas writes a bool column
    (["home_win", 2, False], ["home_win", "2", "False"]),
])
def test_integer_and_boolean_class_labels_are_accepted_as_one_spelling(tmp_path, classes, expected):
    cfg = config.load_model_config(_mutated(tmp_path, ("model", "classes"), classes))
    assert list(cfg.model.classes) == expected
    assert [config.label_text(c) for c in classes] == expected


def test_label_text_matches_what_models_and_logs_hold():
    import numpy as np

    assert [config.label_text(v) for v in (np.int64(3), 3.0, np.float64(2.0), np.bool_(True), "x", 1.5)] == ["3", "3", "2", "True", "x", "1.5"]


def test_label_from_text_only_respells_what_is_not_a_class():
    ints, bools = {"0", "1"}, {"True", "False"}
    assert [config.label_from_text(t, ints) for t in ("1", "1.0", "-0.00", "1.5", "x")] == ["1", "1", "0", "1.5", "x"]
    assert [config.label_from_text(t, bools) for t in ("true", "FALSE", "True", "yes")] == ["True", "False", "True", "yes"]
    assert config.label_from_text("true", {"true", "no"}) == "true"  # a string class keeps its own spelling
