"""Issue 14 item 5: categorical (text) features and empty cells, from the log to the model.

A log with two text columns (``venue``, ``league``: any UTF-8 text, empty cells) and empty
numeric cells (``home_form``, in ``allow_missing``) goes through the job's one selection
on CSV, CSV.gz, Parquet (plain and dictionary-encoded text) and daily files; the fast
reader keeps the common case, and its frames and files equal the diagnostic reader's.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml_pipeline import data_loader as dl
from ml_pipeline import log_batch, log_sources, selection
from ml_pipeline.config import load_model_config
from ml_pipeline.data_loader import LogSchema, LogSource, Window, select_datasets

from .conftest import AS_OF, CONFIG
from .test_filter_equivalence import FEATURES, FRACTION, LOOKBACK, RATIO, SEED, THRESHOLD, make_log

CATEGORICAL = ["venue", "league"]
VENUES = np.array(["Wembley", "Stade de France", "Ōsaka Dome", "  padded  ", "NA", "null", "N/A", "7"], dtype=object)


def categorical_config(tmp_path, allow_missing=("home_form",), categorical=CATEGORICAL):
    text = CONFIG.read_text()
    extra = f"    categorical: [{', '.join(categorical)}]\n"
    if allow_missing:
        extra += f"    allow_missing: [{', '.join(allow_missing)}]\n"
    path = tmp_path / "model_config.yaml"
    path.write_text(text.replace("  estimator:\n", extra + "  estimator:\n", 1))
    return path


def categorical_log(n=3000, seed=11, days=12):
    """The equivalence log plus text columns with empty cells, and empty numeric cells."""
    log = make_log(n=n, seed=seed, days=days)
    rng = np.random.default_rng(seed)
    log["venue"] = VENUES[rng.integers(0, len(VENUES), len(log))]
    log["league"] = np.where(rng.random(len(log)) < 0.5, "premier", "liga")
    log.loc[rng.random(len(log)) < 0.05, "venue"] = None  # empty cells: missing for the model's imputer
    log.loc[rng.random(len(log)) < 0.05, "league"] = None
    log.loc[rng.random(len(log)) < 0.05, "home_form"] = np.nan
    return log


@pytest.fixture
def schema(tmp_path):
    return LogSchema.from_model_config(load_model_config(categorical_config(tmp_path)))




def _decline(*_a, **_k):
    raise log_batch._Fallback


def write(df, path, fmt, dictionary=False):
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "csv.gz":
        df.to_csv(path, index=False, compression="gzip")
    else:
        df = df.assign(created_at=pd.to_datetime(df["created_at"], utc=True))
        table = pa.Table.from_pandas(df, preserve_index=False)
        for name in CATEGORICAL:  # plain string columns, or dictionary-encoded (pandas category)
            i = table.schema.get_field_index(name)
            col = table.column(name).cast(pa.string())
            table = table.set_column(i, name, col.dictionary_encode() if dictionary else col)
        pq.write_table(table, path, row_group_size=400)
    return path


def select(paths, schema, **kw):
    return select_datasets([LogSource(p.name, p) for p in paths], schema, Window.ending_at(AS_OF, LOOKBACK),
                           confidence_threshold=THRESHOLD, min_samples=1, holdout_fraction=FRACTION, replay_ratio=RATIO,
                           random_seed=SEED, **kw)


def expected_rows(log):
    """The log's rows by prediction_id as the datasets must carry them."""
    return log.set_index("prediction_id")


def assert_carried(frame, log):
    """Every selected row has the log's text (unchanged) and numbers; empty cells are missing."""
    exp = expected_rows(log).loc[frame["prediction_id"]]
    for f in CATEGORICAL:
        got = frame[f].to_numpy(dtype=object)
        want = exp[f].to_numpy(dtype=object)
        missing = pd.isna(want)
        assert pd.isna(got[missing]).all()
        assert (got[~missing] == want[~missing]).all()
        assert all(isinstance(v, str) for v in got[~missing])  # never coerced to numbers ("7" stays text)
    np.testing.assert_array_equal(frame[FEATURES].to_numpy(dtype=float), exp[FEATURES].to_numpy(dtype=float))


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet", "parquet-dictionary"])
def test_categorical_and_empty_cells_travel_through_the_selection_on_both_readers(tmp_path, schema, small_ranges, diagnostic, fmt):
    log = categorical_log()
    kind = "parquet" if fmt.startswith("parquet") else fmt
    path = write(log, tmp_path / f"log.{kind}", kind, dictionary=fmt.endswith("dictionary"))
    periods = (AS_OF - timedelta(days=10), AS_OF - timedelta(days=2))
    fast = select([path], schema, decay_periods=periods, full=True)
    assert diagnostic == []  # the common case (a clean log with text columns) stays on the fast path
    assert fast.training is not None and fast.holdout is not None and fast.full is not None
    logged = ["created_at", "prediction_id", "predicted_label", "actual_label", "confidence", *FEATURES, *CATEGORICAL]
    for frame in (fast.training, fast.holdout, fast.full):
        assert list(frame.columns) == logged + (["sample_type"] if frame is not fast.holdout else [])
        assert_carried(frame, log)
    assert fast.training["venue"].isna().any() and fast.training["home_form"].isna().any()  # the empty cells are there
    with pytest.MonkeyPatch.context() as mp:  # the same selection on the diagnostic reader's rows
        mp.setattr(selection, "_fast_read", _decline)
        slow = select([path], schema, decay_periods=periods, full=True)
    assert diagnostic == [path.name]
    assert slow.data.summary() == fast.data.summary() and slow.decay_counts == fast.decay_counts
    for a, b in ((slow.training, fast.training), (slow.holdout, fast.holdout), (slow.full, fast.full)):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    a, b = dl.write_datasets(slow, tmp_path / "slow"), dl.write_datasets(fast, tmp_path / "fast")
    for name in ("training_dataset.csv", "holdout.csv", "training_full.csv"):
        assert (tmp_path / "slow" / name).read_bytes() == (tmp_path / "fast" / name).read_bytes()
    for name, frame in (("training_dataset.csv", fast.training), ("holdout.csv", fast.holdout)):  # as pandas writes them
        assert (tmp_path / "fast" / name).read_text() == frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    from ml_pipeline.train_model import read_table

    _df, X, _y = read_table(b.dataset_path, load_model_config(categorical_config(tmp_path)), "dataset")  # as the trainer reads it
    ids = pd.read_csv(b.dataset_path, usecols=["prediction_id"], dtype=str)["prediction_id"]
    assert_carried(X.assign(prediction_id=ids.to_numpy()), log)


def test_daily_files_with_categorical_columns(tmp_path, schema, small_ranges, diagnostic):
    log = categorical_log(n=4000, seed=12)
    log.loc[log.index[::7], "venue"] = 'Stade, "de" France'  # a comma and quotes: quoted in every CSV
    ts = pd.to_datetime(log["created_at"], utc=True)
    paths = []
    for i, (day, part) in enumerate(log.groupby(ts.dt.date)):
        fmt = "parquet" if i % 2 else "csv"
        paths.append(write(part, tmp_path / f"{day}.{fmt}", fmt, dictionary=i % 4 == 1))
    ds = select(paths, schema)
    assert diagnostic == []
    assert_carried(ds.training, log)
    assert_carried(ds.holdout, log)
    from ml_pipeline.train_model import read_table

    data = dl.write_datasets(ds, tmp_path / "data")
    _df, X, _y = read_table(data.dataset_path, load_model_config(categorical_config(tmp_path)), "dataset")
    ids = pd.read_csv(data.dataset_path, usecols=["prediction_id"], dtype=str)["prediction_id"]
    assert_carried(X.assign(prediction_id=ids.to_numpy()), log)
    assert (X["venue"] == 'Stade, "de" France').any()


def test_read_sources_fast_and_diagnostic_frames_agree(tmp_path, schema, small_ranges):
    log = categorical_log(n=1500, seed=13)
    path = write(log, tmp_path / "log.csv", "csv")
    window = Window.ending_at(AS_OF, LOOKBACK)
    fast = dl.read_sources([LogSource(path.name, path)], schema, window).frame
    problems = dl.Problems(path.name)
    slow, _ = dl.read_log_file(path, path.name, schema, window, problems)
    slow = log_sources._validate(slow, schema, problems)
    assert not problems
    assert list(fast.columns) == list(slow.columns)
    for f in CATEGORICAL:
        assert fast[f].isna().tolist() == slow[f].isna().tolist()
        assert fast[f].dropna().tolist() == slow[f].dropna().tolist()


def test_text_that_is_not_utf8_is_the_only_categorical_problem(tmp_path, schema, small_ranges):
    """Any text is accepted; bytes that are not UTF-8 are reported with the line, as in every column."""
    log = categorical_log(n=800, seed=14)
    inside = pd.to_datetime(log["created_at"], utc=True) >= AS_OF - timedelta(days=2)
    row = int(np.flatnonzero(inside.to_numpy() & (pd.to_datetime(log["created_at"], utc=True) < AS_OF).to_numpy())[0])
    path = tmp_path / "log.csv"
    log.loc[row, "venue"] = "MARKER"
    path.write_bytes(log.to_csv(index=False).encode().replace(b"MARKER", b"caf\xe9"))
    with pytest.raises(dl.EvaluationLogError) as exc:
        select([path], schema)
    msg = str(exc.value)
    assert "column 'venue' must be UTF-8 text" in msg and f"line {row + 2}" in msg and "1 problem(s)" in msg


def test_text_before_the_window_is_not_read(tmp_path, schema, small_ranges):
    """The decay check's days are read for their labels only: bytes that are not UTF-8 in a
    categorical cell there fail nothing, and the window's datasets are those of the clean log."""
    log = categorical_log(n=3000, seed=17, days=20)
    ts = pd.to_datetime(log["created_at"], utc=True)
    row = int(np.flatnonzero(((ts < AS_OF - timedelta(days=LOOKBACK + 1)) & (ts > AS_OF - timedelta(days=15))).to_numpy())[0])
    periods = (AS_OF - timedelta(days=16), AS_OF - timedelta(days=2))
    clean = select([write(log, tmp_path / "clean.csv", "csv")], schema, decay_periods=periods)
    log.loc[row, "venue"] = "MARKER"
    path = tmp_path / "log.csv"
    path.write_bytes(log.to_csv(index=False).encode().replace(b"MARKER", b"caf\xe9"))
    ds = select([path], schema, decay_periods=periods)
    assert ds.decay_counts == clean.decay_counts
    pd.testing.assert_frame_equal(ds.training, clean.training, check_exact=True)


def test_a_missing_categorical_column_is_refused_by_name(tmp_path, schema):
    log = categorical_log(n=200, seed=15).drop(columns=["league"])
    path = write(log, tmp_path / "log.csv", "csv")
    with pytest.raises(dl.EvaluationLogError, match=r"missing column\(s\) 'league'"):
        select([path], schema)


def test_integer_parquet_column_is_text_for_the_model(tmp_path, schema, diagnostic):
    """A Parquet categorical column stored as integers is read as their text ("7"), on both readers."""
    log = categorical_log(n=1500, seed=16)
    log["league"] = np.arange(len(log)) % 3
    path = write(log.assign(league=log["league"].astype(str)), tmp_path / "log.parquet", "parquet")
    table = pq.read_table(path)
    table = table.set_column(table.schema.get_field_index("league"), "league", pa.array(log["league"].to_numpy()))
    pq.write_table(table, path)
    fast = select([path], schema)
    assert diagnostic == []
    assert set(fast.training["league"]) <= {"0", "1", "2"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(selection, "_fast_read", _decline)
        slow = select([path], schema)
    pd.testing.assert_frame_equal(slow.training, fast.training, check_exact=True)


# --------------------------------------------------------------------------- the trainer
def run_trainer(args, capsys):
    import json

    from ml_pipeline.train_model import main

    code = main([str(a) for a in args])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture
def categorical_datasets(tmp_path, schema):
    log = categorical_log(n=6000, seed=21)
    ds = select([write(log, tmp_path / "log.csv", "csv")], schema)
    return dl.write_datasets(ds, tmp_path / "data")


def test_the_default_pipeline_fits_and_fine_tunes_on_text_and_empty_cells(tmp_path, categorical_datasets, capsys):
    from ml_pipeline import model_io
    from ml_pipeline.checksums import sha256_file

    cfg = categorical_config(tmp_path)
    data = categorical_datasets
    written = pd.read_csv(data.dataset_path)
    assert written["venue"].isna().any() and written["home_form"].isna().any()
    code, first = run_trainer(["--dataset", data.dataset_path, "--config", cfg, "--fine_tune", "false", "--output_dir", tmp_path / "a"], capsys)
    assert code == 0, first
    m = first["metrics"]
    assert "rows_dropped_missing" not in m and m["train_size"] == len(written)  # the pipeline imputes: every row kept
    model = model_io.load_verified(Path(first["model_path"]), first["sha256"])
    assert list(model.feature_names_in_) == [*FEATURES, *CATEGORICAL]
    onehot = model.named_steps["prep"].named_transformers_["categorical"].named_steps["onehot"]
    assert set(onehot.categories_[0]) == {*(v for v in VENUES), "missing"}  # text unchanged, "7" a category, empty = "missing"
    assert first["fine_tunable"] is True

    code, tuned = run_trainer(["--dataset", data.dataset_path, "--config", cfg, "--fine_tune", "true", "--model_path", first["model_path"],
                               "--model_sha256", first["sha256"], "--output_dir", tmp_path / "b", "--epochs", 3], capsys)
    assert code == 0, tuned
    assert tuned["fine_tuned"] is True and "rows_dropped_missing" not in tuned["metrics"]
    after = model_io.load_verified(Path(tuned["model_path"]), sha256_file(Path(tuned["model_path"])))
    prep_before, prep_after = model.named_steps["prep"], after.named_steps["prep"]
    for name in ("numeric", "categorical"):  # preprocessing kept as fitted
        np.testing.assert_array_equal(prep_before.named_transformers_[name].named_steps["impute"].statistics_,
                                      prep_after.named_transformers_[name].named_steps["impute"].statistics_)
    assert not np.allclose(model.named_steps["clf"].coef_, after.named_steps["clf"].coef_)
    unseen = pd.read_csv(data.holdout_path).head(3)[[*FEATURES, *CATEGORICAL]].assign(venue="a venue never seen")
    assert len(after.predict(unseen)) == 3  # an unknown category is ignored, not an error


def test_the_trainer_keeps_text_as_text(tmp_path, capsys):
    """Categorical cells are never coerced: "007", "NA" and "1e3" reach the encoder as written; only empty is missing."""
    from ml_pipeline.config import load_model_config
    from ml_pipeline.train_model import read_table

    cfg = load_model_config(categorical_config(tmp_path, allow_missing=()))
    rows = pd.DataFrame({f: [0.5, 1.5, 2.5, 3.5] for f in FEATURES})
    rows["venue"] = ["007", "NA", "1e3", None]
    rows["league"] = ["null", "x", "", "y"]
    rows["actual_label"] = ["home_win", "draw", "away_win", "draw"]
    path = tmp_path / "d.csv"
    rows.to_csv(path, index=False)
    _df, X, _y = read_table(path, cfg, "dataset")
    assert X["venue"].tolist()[:3] == ["007", "NA", "1e3"] and pd.isna(X["venue"].iloc[3])
    assert X["league"].tolist()[0] == "null" and pd.isna(X["league"].iloc[2])
    assert X[FEATURES].dtypes.eq(float).all()
    rows["home_elo"] = rows["home_elo"].astype(object)
    rows.loc[1, "home_elo"] = "high"  # text in a numeric feature is still refused, naming the line
    rows.to_csv(path, index=False)
    with pytest.raises(dl.EvaluationLogError, match=r"1 row\(s\) with missing or non-numeric values \(lines \[3\]\)"):
        read_table(path, cfg, "dataset")


def test_a_model_fitted_on_a_plain_array_is_told_it_cannot_take_text(tmp_path, categorical_datasets, base_model, capsys):
    from ml_pipeline import model_io
    from ml_pipeline.checksums import sha256_file

    path = tmp_path / "array.skops"
    model_io.dump(base_model, path)
    code, result = run_trainer(["--dataset", categorical_datasets.dataset_path, "--config", categorical_config(tmp_path),
                                "--model_path", path, "--model_sha256", sha256_file(path), "--output_dir", tmp_path / "o"], capsys)
    assert code == 2 and "cannot take the categorical feature(s) ['venue', 'league']" in result["error"]


# --------------------------------------------------------------------------- config
@pytest.mark.parametrize(("features", "message"), [
    ("    numeric: [home_elo, venue]\n    categorical: [venue]\n", "['venue'] are listed under both numeric and categorical"),
    ("    numeric: [home_elo]\n    allow_missing: [nowhere]\n", "allow_missing lists ['nowhere'], which are not in numeric or categorical"),
    ("    categorical: []\n", "list at least one feature under model.features.numeric or model.features.categorical"),
    ("    categorical: [venue, venue]\n", "feature names must be unique"),
    ("    categorical: [prediction_id]\n", "['prediction_id'] are also mapped as log columns"),
])
def test_feature_lists_are_validated_with_a_clear_message(tmp_path, features, message):
    import re

    from ml_pipeline.config import load_model_config
    from ml_pipeline.errors import ConfigError

    text = CONFIG.read_text()
    start, end = text.index("  features:\n"), text.index("  estimator:\n")
    path = tmp_path / "c.yaml"
    path.write_text(text[:start] + "  features:\n" + features + text[end:])
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_model_config(path)


def test_categorical_only_config_is_valid(tmp_path):
    from ml_pipeline.config import load_model_config

    text = CONFIG.read_text()
    start, end = text.index("  features:\n"), text.index("  estimator:\n")
    path = tmp_path / "c.yaml"
    path.write_text(text[:start] + "  features:\n    categorical: [venue]\n" + text[end:])
    cfg = load_model_config(path)
    assert cfg.model.features.all == ["venue"] and LogSchema.from_model_config(cfg).numeric == ()


# --------------------------------------------------------------------------- the job, end to end
def test_a_handed_over_pipeline_with_a_one_hot_encoder_is_fine_tuned_by_the_job(tmp_path, sample_log):
    """A user's own Pipeline(ColumnTransformer(OneHotEncoder on a text column by name)) is
    registered and fine-tuned through the nightly job with the real trainer on the local store."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from ml_pipeline import model_io
    from ml_pipeline.auto_reinforcement import Job, SubprocessTrainer
    from ml_pipeline.config import load_settings
    from ml_pipeline.local_store import LocalStore
    from ml_pipeline.registry import Registry, log_sample

    from .conftest import put_log

    cfg = categorical_config(tmp_path, allow_missing=(), categorical=["venue"])
    settings = load_settings({"home": str(tmp_path / "home"), "config_path": str(cfg), "backend": "local"}, env={})
    rng = np.random.default_rng(3)
    log = sample_log.assign(venue=VENUES[rng.integers(0, len(VENUES), len(sample_log))])
    log.loc[rng.random(len(log)) < 0.05, "venue"] = None  # empty cells: the encoder's own "missing" category
    store = LocalStore(settings.home)
    try:
        put_log(store, log)
        train = log.dropna(subset=["actual_outcome"]).head(2000)
        ct = ColumnTransformer([("num", StandardScaler(), FEATURES), ("venue", OneHotEncoder(handle_unknown="ignore"), ["venue"])])
        user = Pipeline([("prep", ct), ("clf", SGDClassifier(loss="log_loss", random_state=0))])
        user.fit(train[[*FEATURES, "venue"]], train["actual_outcome"])
        path = tmp_path / "user.skops"
        model_io.dump(user, path)
        sample = log_sample(store, settings, tmp_path / "s")
        assert sample is not None
        assert "NA" in set(pd.read_csv(sample, dtype=str, keep_default_na=False)["venue"])  # a value, not a gap
        mv, notice = Registry(store, settings.home / "cache").register(path, list(settings.model.model.classes), config_path=cfg, sample=sample)
        assert mv.status == "champion" and notice is None  # tried on log rows by the real trainer first

        Job(settings, store, as_of=AS_OF, trainer=SubprocessTrainer()).nightly()
        run = store.list_runs()[0]
        assert run.status == "completed", run.error_message
        m = run.metrics
        assert m["fine_tuned"] is True and m["train_size"] >= 10 and "rows_dropped_missing" not in m
        versions = store.list_model_versions()
        assert len(versions) == 2
        cand = next(v for v in versions if v.version != mv.version)
        tuned = model_io.loads(store.get_object("models", cand.storage_path), source="candidate")
        before, after = user.named_steps["prep"], tuned.named_steps["prep"]
        kept = [str(c) for c in after.named_transformers_["venue"].categories_[0]]
        assert kept == [str(c) for c in before.named_transformers_["venue"].categories_[0]] and "nan" in kept  # empty = a category
        assert not np.allclose(user.named_steps["clf"].coef_, tuned.named_steps["clf"].coef_)  # fine-tuned, same encoder
    finally:
        store.close()
