"""train_model.py: the guide's CLI, real fine-tuning, evaluation, output contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ml_pipeline import model_io
from ml_pipeline.data_loader import collect_retraining_data
from ml_pipeline.registry import sha256_file
from ml_pipeline.train_model import main

from .conftest import AS_OF, CONFIG, REPO, put_log


@pytest.fixture
def datasets(store, settings, sample_log, tmp_path):
    put_log(store, sample_log)
    data = collect_retraining_data(settings, store, as_of=AS_OF, workdir=tmp_path / "data")
    assert data.enough
    return data


@pytest.fixture
def model_file(base_model, tmp_path):
    path = tmp_path / "current.skops"
    model_io.dump(base_model, path)
    return path


def run(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]), out


def coefs(out_dir):
    return model_io.load_verified(out_dir / "model.skops", None).steps[-1][1].coef_.copy()


def fine_tune_args(datasets, model_file, out, epochs, lr):
    return ["--dataset", datasets.dataset_path, "--config", CONFIG, "--fine_tune", "true", "--model_path", model_file,
            "--model_sha256", sha256_file(model_file), "--output_dir", out, "--epochs", epochs, "--learning_rate", lr]


def test_epochs_and_learning_rate_change_the_coefficients(datasets, model_file, base_model, tmp_path, capsys):
    fitted = {}
    for epochs, lr in [(5, 0.001), (1, 0.001), (5, 0.01), (5, 0.0)]:
        out = tmp_path / f"o{epochs}-{lr}"
        code, result, _ = run(fine_tune_args(datasets, model_file, out, epochs, lr), capsys)
        assert code == 0 and result["fine_tuned"] is True
        fitted[(epochs, lr)] = coefs(out)
    original = base_model.steps[-1][1].coef_
    assert not np.allclose(fitted[(5, 0.001)], original)
    assert not np.allclose(fitted[(5, 0.001)], fitted[(1, 0.001)])
    assert not np.allclose(fitted[(5, 0.001)], fitted[(5, 0.01)])
    np.testing.assert_array_equal(fitted[(5, 0.0)], original)  # no step taken at rate 0
    # more epochs move further from the start
    assert np.abs(fitted[(5, 0.001)] - original).sum() > np.abs(fitted[(1, 0.001)] - original).sum()


def test_preprocessing_is_kept_when_fine_tuning(datasets, model_file, base_model, tmp_path, capsys):
    out = tmp_path / "o"
    run(fine_tune_args(datasets, model_file, out, 5, 0.001), capsys)
    tuned = model_io.load_verified(out / "model.skops", None)
    np.testing.assert_array_equal(tuned.steps[0][1].mean_, base_model.steps[0][1].mean_)


def test_outputs_metrics_for_candidate_and_baseline_on_the_same_holdout(datasets, model_file, tmp_path, capsys):
    out = tmp_path / "o"
    code, result, lines = run(fine_tune_args(datasets, model_file, out, 5, 0.001), capsys)
    assert code == 0 and result["status"] == "ok"
    m = json.loads((out / "metrics.json").read_text())
    assert m == result["metrics"]
    for key in ("accuracy", "precision", "recall", "f1_score"):
        assert 0 <= m[key] <= 1 and 0 <= m["baseline"][key] <= 1
    assert m["holdout_size"] == datasets.holdout_size and m["evaluated_on"] == "holdout"
    assert result["sha256"] == sha256_file(out / "model.skops")
    assert len(lines) == 1  # stdout holds exactly the JSON line; logs went to stderr


def test_from_scratch_ignores_current_model(datasets, tmp_path, capsys):
    out = tmp_path / "o"
    code, result, _ = run(["--dataset", datasets.dataset_path, "--config", CONFIG, "--fine_tune", "false", "--output_dir", out], capsys)
    assert code == 0 and result["fine_tuned"] is False and result["metrics"]["baseline"] is None


def test_model_without_partial_fit_is_trained_from_scratch_saying_so(datasets, tmp_path, capsys):
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier

    train = pd.read_csv(datasets.dataset_path)
    feats = [c for c in train.columns if c.startswith(("home_", "away_", "elo_", "rest_"))]
    rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(train[feats].to_numpy(), train["actual_label"])
    path = tmp_path / "rf.skops"
    model_io.dump(rf, path)
    code, result, _ = run(["--dataset", datasets.dataset_path, "--config", CONFIG, "--model_path", path, "--trust-unverified-model",
                           "--output_dir", tmp_path / "o"], capsys)
    assert code == 0 and result["fine_tuned"] is False
    assert "cannot be fine-tuned incrementally" in result["note"] and result["estimator"] == "RandomForestClassifier"
    assert result["metrics"]["baseline"] is not None


@pytest.mark.parametrize("mutation, message", [
    (lambda p: p.write_text("prediction_id,actual_label\nx,draw\n"), "lacks column(s)"),
    (lambda p: p.write_text(""), "cannot be read as CSV"),
])
def test_bad_dataset_exits_2_with_json_error(datasets, tmp_path, capsys, mutation, message):
    bad = tmp_path / "bad.csv"
    mutation(bad)
    code, result, _ = run(["--dataset", bad, "--config", CONFIG, "--fine_tune", "false", "--output_dir", tmp_path / "o"], capsys)
    assert code == 2 and result["status"] == "error" and message in result["error"]


def test_tampered_model_is_refused_before_loading(datasets, model_file, tmp_path, capsys):
    good = sha256_file(model_file)
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    model_file.write_bytes(bytes(data))
    code, result, _ = run([*fine_tune_args(datasets, model_file, tmp_path / "o", 1, 0.001), "--model_sha256", good], capsys)
    assert code == 1 and "refusing to load it" in result["error"]


def test_guide_command_works_as_a_script_from_the_repository_root(datasets, model_file, tmp_path):
    """PITFALL: the trainer was started as a script and died on relative imports."""
    out = tmp_path / "script-out"
    cmd = [sys.executable, "ml_pipeline/train_model.py", "--dataset", str(datasets.dataset_path), "--config", "model_config.yaml",
           "--fine_tune", "true", "--epochs", "5", "--learning_rate", "0.001", "--model_path", str(model_file),
           "--model_sha256", sha256_file(model_file), "--output_dir", str(out)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["status"] == "ok"
    assert "fine-tuning SGDClassifier: 5 epoch(s) at learning rate 0.001" in proc.stderr
    module = subprocess.run([sys.executable, "-m", "ml_pipeline.train_model", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert module.returncode == 0 and "--fine_tune" in module.stdout and "--holdout" in module.stdout


def test_guide_command_without_model_path_uses_the_champion(seeded, settings, datasets, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ML_PIPELINE_HOME", str(settings.home))
    monkeypatch.setenv("ML_PIPELINE_BACKEND", "local")
    code, result, _ = run(["--dataset", datasets.dataset_path, "--config", CONFIG, "--fine_tune", "true", "--epochs", 5,
                           "--learning_rate", 0.001, "--output_dir", tmp_path / "o"], capsys)
    assert code == 0 and result["parent_version"] == 1


def test_fine_tune_without_any_model_exits_2(datasets, settings, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ML_PIPELINE_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("ML_PIPELINE_BACKEND", "local")
    code, result, _ = run(["--dataset", datasets.dataset_path, "--config", CONFIG, "--output_dir", tmp_path / "o"], capsys)
    assert code == 2 and "no current model to fine-tune" in result["error"]


def test_model_path_without_checksum_is_refused_unless_trusted(datasets, model_file, tmp_path, capsys):
    args = ["--dataset", datasets.dataset_path, "--config", CONFIG, "--fine_tune", "true", "--model_path", model_file,
            "--epochs", 1, "--learning_rate", 0.001]
    code, result, _ = run([*args, "--output_dir", tmp_path / "o1"], capsys)
    assert code == 2 and "without --model_sha256: refusing to load" in result["error"]
    assert not (tmp_path / "o1" / "model.skops").exists()
    code, result, _ = run([*args, "--trust-unverified-model", "--output_dir", tmp_path / "o2"], capsys)
    assert code == 0 and result["fine_tuned"] is True


def test_a_joblib_model_is_refused_with_the_conversion_command(datasets, base_model, tmp_path, capsys):
    import joblib

    path = tmp_path / "old.joblib"
    joblib.dump(base_model, path)
    code, result, _ = run(["--dataset", datasets.dataset_path, "--config", CONFIG, "--model_path", path,
                           "--model_sha256", sha256_file(path), "--output_dir", tmp_path / "o"], capsys)
    assert code == 2 and "is a joblib/pickle file" in result["error"]
    assert "python -m ml_pipeline.model_io convert" in result["error"]


# ---------------------------------------------------------------- models users already serve (issue 14)
def _int_labelled(datasets, tmp_path):
    """The datasets with labels 0/1/2 and a config whose model.classes is [0, 1, 2] (YAML ints)."""
    import pandas as pd

    codes = {"home_win": "0", "draw": "1", "away_win": "2"}
    paths = {}
    for name, src in (("dataset", datasets.dataset_path), ("holdout", datasets.holdout_path)):
        df = pd.read_csv(src, dtype=str)
        df["actual_label"] = df["actual_label"].map(codes)
        if "predicted_label" in df:
            df["predicted_label"] = df["predicted_label"].map(codes)
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    cfg = tmp_path / "int_config.yaml"
    cfg.write_text(CONFIG.read_text().replace("classes: [home_win, draw, away_win]", "classes: [0, 1, 2]"))
    return paths, cfg


def _features(path):
    import pandas as pd

    train = pd.read_csv(path)
    return train, [c for c in train.columns if c.startswith(("home_", "away_", "elo_", "rest_"))]


def test_an_sgd_pipeline_fitted_on_integer_labels_is_fine_tuned(datasets, tmp_path, capsys):
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    paths, cfg = _int_labelled(datasets, tmp_path)
    train, feats = _features(paths["dataset"])
    model = make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", random_state=0)).fit(train[feats].to_numpy(), train["actual_label"].astype(int))
    path = tmp_path / "int.skops"
    model_io.dump(model, path)
    code, result, _ = run(["--dataset", paths["dataset"], "--holdout", paths["holdout"], "--config", cfg, "--model_path", path,
                           "--trust-unverified-model", "--output_dir", tmp_path / "o", "--epochs", 2, "--learning_rate", 0.01], capsys)
    assert code == 0 and result["fine_tuned"] is True, result
    tuned = model_io.load_verified(tmp_path / "o" / "model.skops", None)
    assert tuned.steps[-1][1].classes_.tolist() == [0, 1, 2]  # the user's own label type is kept
    m = result["metrics"]
    assert m["baseline"]["accuracy"] > 0.3 and m["paired"]["n"] == m["holdout_size"]


def test_a_column_transformer_selecting_by_name_gets_its_own_columns(datasets, tmp_path, capsys):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    train, feats = _features(datasets.dataset_path)
    used = feats[:9]  # fitted on 9 named columns (one config feature not among them), scaling 5 of them by name
    ct = ColumnTransformer([("num", StandardScaler(), used[:5])], remainder="passthrough")
    model = Pipeline([("prep", ct), ("clf", SGDClassifier(loss="log_loss", random_state=0))]).fit(train[list(reversed(used))], train["actual_label"])
    path = tmp_path / "ct.skops"
    model_io.dump(model, path)
    code, result, _ = run(["--dataset", datasets.dataset_path, "--config", CONFIG, "--model_path", path, "--trust-unverified-model",
                           "--output_dir", tmp_path / "o", "--epochs", 2, "--learning_rate", 0.01], capsys)
    assert code == 0 and result["fine_tuned"] is True, result
    assert result["estimator"] == "SGDClassifier" and result["metrics"]["baseline"]["accuracy"] > 0.3


def test_a_pipeline_without_partial_fit_is_refitted_as_the_same_pipeline(datasets, tmp_path, capsys):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    train, feats = _features(datasets.dataset_path)
    ct = ColumnTransformer([("num", StandardScaler(), feats[:4])], remainder="passthrough")
    model = Pipeline([("prep", ct), ("rf", RandomForestClassifier(n_estimators=7, random_state=0))]).fit(train[feats], train["actual_label"])
    path = tmp_path / "rf.skops"
    model_io.dump(model, path)
    code, result, _ = run(["--dataset", datasets.dataset_path, "--config", CONFIG, "--model_path", path, "--trust-unverified-model",
                           "--output_dir", tmp_path / "o"], capsys)
    assert code == 0 and result["fine_tuned"] is False and "retrained from scratch with the same pipeline" in result["note"]
    refit = model_io.load_verified(tmp_path / "o" / "model.skops", None)
    assert type(refit.steps[-1][1]).__name__ == "RandomForestClassifier" and refit.steps[-1][1].n_estimators == 7  # not the default SGD
    assert list(refit.feature_names_in_) == feats


def test_the_trainer_records_paired_evidence_and_the_reference(datasets, model_file, tmp_path, capsys):
    out = tmp_path / "o"
    args = [*fine_tune_args(datasets, model_file, out, 5, 0.001), "--reference_path", model_file, "--reference_sha256",
            sha256_file(model_file), "--reference_version", 1]
    code, result, _ = run(args, capsys)
    m = result["metrics"]
    assert code == 0
    p = m["paired"]
    assert p["n"] == m["holdout_size"] == p["both_right"] + p["candidate_only_right"] + p["baseline_only_right"] + p["both_wrong"]
    assert p["metric"] == "f1_score" and p["confidence"] == 0.95 and p["ci_low"] <= p["delta"] <= p["ci_high"]
    assert abs(p["delta"] - (m["f1_score"] - m["baseline"]["f1_score"])) < 1e-5
    assert m["reference"] == {"version": 1, **m["baseline"]}  # the reference here is the current model itself
    assert 0 <= m["balanced_accuracy"] <= 1


def test_rows_with_missing_allowed_features_are_dropped_and_counted(datasets, model_file, tmp_path, capsys):
    """Issue 14 item 5 (trainer side): the model cannot take NaN: rows dropped, counted, run ok."""
    import pandas as pd

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG.read_text().replace("      - home_form\n", "      - home_form\n", 1).replace(
        "  estimator:\n", "    allow_missing: [home_form]\n  estimator:\n", 1))
    paths = {}
    for name, src in (("dataset", datasets.dataset_path), ("holdout", datasets.holdout_path)):
        df = pd.read_csv(src, dtype={"actual_label": str})
        df.loc[df.index[:3], "home_form"] = None
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    code, result, _ = run(["--dataset", paths["dataset"], "--holdout", paths["holdout"], "--config", cfg, "--model_path", model_file,
                           "--model_sha256", sha256_file(model_file), "--output_dir", tmp_path / "o"], capsys)
    assert code == 0, result
    m = result["metrics"]
    assert m["rows_dropped_missing"] == {"dataset": 3, "holdout": 3} and m["holdout_size"] == datasets.holdout_size - 3
    # without allow_missing the same file is refused, naming the rows
    code, result, _ = run(["--dataset", paths["dataset"], "--holdout", paths["holdout"], "--config", CONFIG, "--model_path", model_file,
                           "--model_sha256", sha256_file(model_file), "--output_dir", tmp_path / "o2"], capsys)
    assert code == 2 and "3 row(s) with missing or non-numeric values" in result["error"]
