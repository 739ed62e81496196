"""model_io.py: skops files with trusted types only, one-read sha256 check, no-secret inspection."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import joblib
import numpy as np
import pytest

from ml_pipeline import model_io
from ml_pipeline.errors import ConfigError, IntegrityError
from ml_pipeline.train_model import fine_tune

from .conftest import REPO

CLASSES = ["home_win", "draw", "away_win"]


def _rows(seed: int, n: int = 90):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 10)), np.array(CLASSES * (n // 3))


def test_round_trip_keeps_predictions_and_fine_tuning_works_after_loading(base_model, tmp_path):
    path = tmp_path / "m.skops"
    model_io.dump(base_model, path)
    assert path.read_bytes()[:4] == b"PK\x03\x04"  # a skops (zip) archive, not a pickle
    loaded = model_io.load_verified(path, hashlib.sha256(path.read_bytes()).hexdigest())
    X, y = _rows(1)
    np.testing.assert_array_equal(loaded.predict(X), base_model.predict(X))
    np.testing.assert_array_equal(loaded.steps[-1][1].coef_, base_model.steps[-1][1].coef_)

    tuned = fine_tune(loaded, X, y, classes=CLASSES, epochs=3, learning_rate=0.01, random_seed=0)  # partial_fit
    assert not np.allclose(tuned.steps[-1][1].coef_, loaded.steps[-1][1].coef_)
    reference = fine_tune(base_model, X, y, classes=CLASSES, epochs=3, learning_rate=0.01, random_seed=0)
    np.testing.assert_allclose(tuned.steps[-1][1].coef_, reference.steps[-1][1].coef_)  # same as the in-memory model
    again = tmp_path / "tuned.skops"
    model_io.dump(tuned, again)
    reloaded = model_io.load_verified(again, None)
    reloaded.steps[-1][1].partial_fit(*_rows(2), classes=np.array(CLASSES))  # and once more after a second trip


def test_a_pickle_is_refused_with_the_conversion_command(base_model, tmp_path):
    path = tmp_path / "old.joblib"
    joblib.dump(base_model, path)
    with pytest.raises(ConfigError, match=r"is a joblib/pickle file.*python -m ml_pipeline.model_io convert"):
        model_io.load_verified(path, None)
    with pytest.raises(ConfigError, match="not a skops model file"):
        model_io.loads(b"hello", source="'x'")


def test_untrusted_types_are_refused_before_anything_is_built(tmp_path):
    data = model_io.dumps({"when": np.datetime64("2026-01-01"), "f": subprocess.CompletedProcess(["x"], 0)})
    with pytest.raises(IntegrityError, match=r"types that are not trusted: .*subprocess.CompletedProcess"):
        model_io.loads(data, source="'evil.skops'")


def test_checksum_is_checked_on_the_bytes_that_are_loaded(base_model, tmp_path):
    path = tmp_path / "m.skops"
    model_io.dump(base_model, path)
    with pytest.raises(IntegrityError, match="expected " + "0" * 64):
        model_io.load_verified(path, "0" * 64)


def test_inspection_runs_in_a_child_without_secrets(base_model, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", "must-not-leak")
    monkeypatch.setenv("GITHUB_TOKEN", "must-not-leak-either")
    env = model_io.child_environment()
    assert "SUPABASE_SERVICE_ROLE_KEY" not in env and "GITHUB_TOKEN" not in env
    assert set(env) <= {"PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR", "PYTHONPATH", "PYTHONNOUSERSITE"}
    info = model_io.inspect_in_subprocess(model_io.dumps(base_model), source="'base'")
    assert info == model_io.ModelInfo("SGDClassifier", [str(c) for c in base_model.classes_], True, True)
    with pytest.raises(ConfigError, match="is a joblib/pickle file"):
        model_io.inspect_in_subprocess(b"\x80\x04K\x01.", source="'p.pkl'")


def test_convert_cli_turns_a_joblib_champion_into_a_loadable_skops_file(base_model, tmp_path):
    src, dest = tmp_path / "champion.joblib", tmp_path / "champion.skops"
    joblib.dump(base_model, src)
    proc = subprocess.run([sys.executable, "-m", "ml_pipeline.model_io", "convert", str(src), str(dest)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    digest = hashlib.sha256(dest.read_bytes()).hexdigest()
    assert f"sha256 {digest}" in proc.stdout and "registry register" in proc.stdout
    X, _ = _rows(3)
    np.testing.assert_array_equal(model_io.load_verified(dest, digest).predict(X), base_model.predict(X))
    again = subprocess.run([sys.executable, "-m", "ml_pipeline.model_io", "convert", str(src), str(dest)],
                           cwd=REPO, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "exists" in again.stderr
    json.dumps(again.stderr)  # plain text


def test_the_same_model_gives_the_same_bytes_in_another_process(tmp_path):
    """skops names arrays after id() and stamps the time; dumps() renumbers and fixes them,
    so a rerun with the same inputs writes the same sha256 (tests/acceptance: --as-of)."""
    code = ("import hashlib, sys; from ml_pipeline import model_io; from ml_pipeline.sample_data import base_model; "
            "sys.stdout.write(hashlib.sha256(model_io.dumps(base_model())).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=True).stdout
               for _ in range(2)}
    assert len(digests) == 1 and len(digests.pop()) == 64


def _default_pipeline_with_text(tmp_path):
    """The trainer's default pipeline (imputers + one-hot) fitted on numbers and text with gaps."""
    import pandas as pd

    from ml_pipeline.config import load_model_config
    from ml_pipeline.train_model import new_pipeline

    from .conftest import CONFIG

    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(CONFIG.read_text().replace("  estimator:\n", "    categorical: [venue]\n  estimator:\n", 1))
    cfg = load_model_config(cfg_path)
    rng = np.random.default_rng(0)
    X = pd.DataFrame({f: rng.normal(size=300) for f in cfg.model.features.numeric})
    X.loc[:9, "home_form"] = np.nan
    X["venue"] = np.array(["north", "south", "east", None], dtype=object)[rng.integers(0, 4, 300)]
    y = np.array(CLASSES, dtype=object)[rng.integers(0, 3, 300)]
    return new_pipeline(cfg, 0).fit(X, y), X, y


def test_the_default_pipeline_round_trips_and_fine_tunes_after_loading(tmp_path):
    """skops refuses the default pipeline's dtype objects unless numpy.dtype is trusted; with it,
    the round trip keeps predictions and partial_fit still works on the loaded model."""
    import skops.io as sio

    model, X, y = _default_pipeline_with_text(tmp_path)
    data = model_io.dumps(model)
    assert sio.get_untrusted_types(data=data) == ["numpy.dtype"]  # exactly what EXTRA_TRUSTED_TYPES adds
    loaded = model_io.loads(data, source="'default.skops'")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    tuned = fine_tune(loaded, X, y, classes=CLASSES, epochs=2, learning_rate=0.01, random_seed=0)
    reference = fine_tune(model, X, y, classes=CLASSES, epochs=2, learning_rate=0.01, random_seed=0)
    np.testing.assert_allclose(tuned.steps[-1][1].coef_, reference.steps[-1][1].coef_)
    assert not np.allclose(tuned.steps[-1][1].coef_, loaded.steps[-1][1].coef_)
    again = model_io.loads(model_io.dumps(tuned), source="'tuned.skops'")
    np.testing.assert_array_equal(again.predict(X), tuned.predict(X))


def test_trusting_numpy_dtype_trusts_no_other_type(tmp_path):
    """A file that names another type where a dtype was (or anywhere) is still refused before it is built."""
    import io
    import zipfile

    model, _X, _y = _default_pipeline_with_text(tmp_path)
    data = model_io.dumps(model)
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        entries = {i.filename: src.read(i.filename) for i in src.infolist()}
    def renamed(node, module, cls):  # the first dtype node of the file, named as another type
        if isinstance(node, dict):
            if node.get("__class__") == "dtype" and node.get("__module__") == "numpy":
                return {**node, "__module__": module, "__class__": cls}, True
            out, done = {}, False
            for k, v in node.items():
                out[k], hit = (v, False) if done else renamed(v, module, cls)
                done = done or hit
            return out, done
        if isinstance(node, list):
            items, done = [], False
            for v in node:
                new, hit = (v, False) if done else renamed(v, module, cls)
                items.append(new)
                done = done or hit
            return items, done
        return node, False

    for module, cls in (("os", "system"), ("builtins", "eval"), ("numpy", "load")):
        evil_schema, found = renamed(json.loads(entries["schema.json"]), module, cls)
        assert found
        evil = json.dumps(evil_schema)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as dst:
            for name, content in entries.items():
                dst.writestr(name, evil.encode() if name == "schema.json" else content)
        with pytest.raises(IntegrityError, match=rf"types that are not trusted: .*{module}\.{cls}"):
            model_io.loads(out.getvalue(), source="'evil.skops'")
