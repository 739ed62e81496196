"""data_loader.py: reading, validation (every problem at once), error filter, datasets."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.data_loader import (
    LogSchema,
    Window,
    collect_retraining_data,
    filter_errors_for_retraining,
    holdout_mask,
    load_evaluation_log,
)
from ml_pipeline.errors import EvaluationLogError
from ml_pipeline.records import BUCKET_EVALUATION_LOGS

from .conftest import AS_OF, put_log

FEATURES = ["home_elo", "away_elo", "elo_diff", "home_form", "away_form", "home_goals_avg", "away_goals_avg",
            "home_conceded_avg", "away_conceded_avg", "rest_days_diff"]


def small_log(n=40, start=AS_OF - timedelta(days=3)):
    """A valid log in the user's column names (see model_config.yaml)."""
    rng = np.random.default_rng(0)
    classes = np.array(["home_win", "draw", "away_win"])
    df = pd.DataFrame({
        "prediction_id": [f"p{i}" for i in range(n)],
        "created_at": [(start + timedelta(minutes=30 * i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(n)],
        "predicted_outcome": classes[np.arange(n) % 3],
        "actual_outcome": classes[(np.arange(n) // 2) % 3],
        "confidence_score": np.linspace(50, 99, n).round(2),
    })
    for f in FEATURES:
        df[f] = rng.normal(size=n).round(3)
    return df


def load(store, settings, window=None):
    return load_evaluation_log(settings=settings, store=store, window=window)


def test_reads_user_columns_percent_confidence_and_naive_utc(store, settings):
    put_log(store, small_log())
    df = load(store, settings)
    assert list(df.columns[:6]) == ["_line", "created_at", "prediction_id", "predicted_label", "actual_label", "confidence"]
    assert df["confidence"].max() <= 1 and df["confidence"].min() == pytest.approx(0.5)
    assert str(df["created_at"].dt.tz) == "UTC"
    assert df["created_at"].iloc[0] == pd.Timestamp(AS_OF - timedelta(days=3))


@pytest.mark.parametrize("key", ["evaluation_log.csv", "evaluation_log.csv.gz", "evaluation_log.parquet"])
def test_csv_gzip_and_parquet_read_the_same(store, settings, key):
    put_log(store, small_log(), key)
    s = settings.with_overrides(model=settings.model.model_copy(update={"evaluation_log": settings.model.evaluation_log.model_copy(update={"path": key})}))
    df = load(store, s)
    assert len(df) == 40 and df["prediction_id"].tolist()[:2] == ["p0", "p1"]


def test_timezone_aware_and_mixed_timestamps(store, settings):
    log = small_log(6)
    log["created_at"] = ["2026-11-18T10:00:00Z", "2026-11-18T12:00:00+02:00", "2026-11-18 10:00:00",
                         "2026-11-18T10:00:00.5Z", "2026-11-18T05:00:00-05:00", "2026-11-18T10:00:00"]
    put_log(store, log)
    df = load(store, settings)
    assert (df["created_at"] == pd.Timestamp("2026-11-18T10:00:00Z")).sum() == 5
    log["created_at"] = ["2026-11-18T10:00:00+01:00"] * 6  # all aware: fast path
    put_log(store, log)
    assert (load(store, settings)["created_at"] == pd.Timestamp("2026-11-18T09:00:00Z")).all()


def test_unlabelled_rows_are_never_errors():
    df = pd.DataFrame({
        "prediction_id": ["a", "b", "c"],
        "created_at": pd.to_datetime([AS_OF - timedelta(hours=1)] * 3, utc=True),
        "predicted_label": ["home_win"] * 3,
        "actual_label": [None, np.nan, "draw"],
        "confidence": [0.99, 0.99, 0.99],
    })
    out = filter_errors_for_retraining(df, min_samples=1, as_of=AS_OF)
    assert out["prediction_id"].tolist() == ["c"]


def test_filter_window_boundaries_threshold_ties_and_min_samples():
    t = pd.to_datetime([AS_OF - timedelta(days=7), AS_OF - timedelta(days=7, seconds=1), AS_OF - timedelta(seconds=1), AS_OF], utc=True)
    df = pd.DataFrame({"prediction_id": list("abcd"), "created_at": t, "predicted_label": ["draw"] * 4,
                       "actual_label": ["home_win"] * 4, "confidence": [0.9] * 4})
    out = filter_errors_for_retraining(df, lookback_days=7, confidence_threshold=0.7, min_samples=1, as_of=AS_OF)
    assert out["prediction_id"].tolist() == ["a", "c"]  # start inclusive, end exclusive
    tie = df.assign(confidence=[0.7, 0.7, 0.7000001, 0.7])
    assert filter_errors_for_retraining(tie, min_samples=1, as_of=AS_OF)["prediction_id"].tolist() == ["c"]
    few = filter_errors_for_retraining(df, min_samples=3, as_of=AS_OF)
    assert few.empty and few.attrs["error_count"] == 2


def test_filter_accepts_aware_timestamps_in_any_zone():
    t = pd.to_datetime(["2026-11-19T10:00:00+05:00"]).tz_convert("Asia/Kolkata")
    df = pd.DataFrame({"prediction_id": ["a"], "created_at": t, "predicted_label": ["draw"], "actual_label": ["away_win"], "confidence": [0.8]})
    assert len(filter_errors_for_retraining(df, min_samples=1, as_of=AS_OF)) == 1


BROKEN = {
    "missing column": (lambda d: d.drop(columns=["confidence_score"]).to_csv(index=False).encode(),
                       "missing column(s) 'confidence_score' (mapped as 'confidence')"),
    "non-numeric confidence": (lambda d: d.assign(confidence_score=["high"] + list(d.confidence_score[1:])).to_csv(index=False).encode(),
                               "column 'confidence_score' (mapped as 'confidence') must be a number; 1 row(s) are not (line 2: 'high')"),
    "out-of-range confidence": (lambda d: d.assign(confidence_score=[250.0, -1.0] + list(d.confidence_score[2:])).to_csv(index=False).encode(),
                                "must be a number in [0, 100] (confidence_scale: percent); 2 row(s) are not (line 2: 250.0, line 3: -1.0)"),
    "unparseable timestamp": (lambda d: d.assign(created_at=["yesterday"] + list(d.created_at[1:])).to_csv(index=False).encode(),
                              "column 'created_at' must be an ISO 8601 timestamp (naive = UTC); 1 row(s) are not (line 2: 'yesterday')"),
    "duplicate prediction_id": (lambda d: d.assign(prediction_id=["p1"] + list(d.prediction_id[1:])).to_csv(index=False).encode(),
                                "column 'prediction_id' must be unique; 2 row(s) are not (line 2: 'p1', line 3: 'p1')"),
    "empty file": (lambda d: b"", "is empty (0 bytes)"),
    "header only": (lambda d: (",".join(d.columns) + "\n").encode(), "has a header but no rows"),
    "non-UTF-8 bytes": (lambda d: d.to_csv(index=False).encode().replace(b"p3,", b"p\xff\xfe3,"),
                        "column 'prediction_id' must be UTF-8 text"),
    "NaN and inf confidence": (lambda d: d.assign(confidence_score=[np.nan, np.inf] + list(d.confidence_score[2:])).to_csv(index=False).encode(),
                               "must not be empty or NaN"),
    "unknown label": (lambda d: d.assign(predicted_outcome=["H"] + list(d.predicted_outcome[1:])).to_csv(index=False).encode(),
                      "column 'predicted_outcome' (mapped as 'predicted_label') must be one of ['away_win', 'draw', 'home_win']"),
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_broken_logs_give_one_clear_message(store, settings, kind):
    make, expected = BROKEN[kind]
    store.put_object(BUCKET_EVALUATION_LOGS, "evaluation_log.csv", make(small_log()))
    with pytest.raises(EvaluationLogError) as err:
        load(store, settings)
    assert expected in str(err.value)
    assert "evaluation-logs/evaluation_log.csv" in str(err.value)


def test_every_problem_is_reported_in_one_error(store, settings):
    d = small_log().astype({"confidence_score": object, "home_elo": object})
    d.loc[0, "confidence_score"] = "high"
    d.loc[1, "created_at"] = "not a time"
    d.loc[2, "prediction_id"] = "p3"
    d.loc[4, "home_elo"] = "unknown"
    store.put_object(BUCKET_EVALUATION_LOGS, "evaluation_log.csv", d.to_csv(index=False).encode())
    with pytest.raises(EvaluationLogError) as err:
        load(store, settings)
    msg = str(err.value)
    assert "4 problem(s)" in msg
    for part in ("'confidence_score' (mapped as 'confidence') must be a number", "created_at' must be an ISO 8601",
                 "'prediction_id' must be unique", "'home_elo' must be a number"):
        assert part in msg


def test_percent_values_with_unit_scale_are_flagged_as_percent(store, settings):
    s = settings.with_overrides(model=settings.model.model_copy(update={"evaluation_log": settings.model.evaluation_log.model_copy(update={"confidence_scale": "unit"})}))
    put_log(store, small_log())
    with pytest.raises(EvaluationLogError, match="look like percent.*confidence_scale: percent"):
        load(store, s)
    auto = settings.with_overrides(model=settings.model.model_copy(update={"evaluation_log": settings.model.evaluation_log.model_copy(update={"confidence_scale": "auto"})}))
    assert load(store, auto)["confidence"].max() <= 1


def test_unknown_file_type_and_missing_object(store, settings):
    s = settings.with_overrides(model=settings.model.model_copy(update={"evaluation_log": settings.model.evaluation_log.model_copy(update={"path": "log.xlsx"})}))
    with pytest.raises(EvaluationLogError, match="unknown file type; use .csv, .csv.gz or .parquet"):
        load(store, s)
    with pytest.raises(EvaluationLogError, match="'evaluation-logs/evaluation_log.csv' not found; upload it"):
        load(store, settings)


def test_file_over_the_size_limit_is_refused_before_parsing(store, settings):
    s = settings.with_overrides(model=settings.model.model_copy(update={"evaluation_log": settings.model.evaluation_log.model_copy(update={"max_bytes": 100})}))
    put_log(store, small_log())
    with pytest.raises(EvaluationLogError, match="over the limit of 100"):
        load(store, s)


def test_daily_files_only_days_in_window_are_read(store, settings):
    s = settings.with_overrides(model=settings.model.model_copy(update={"evaluation_log": settings.model.evaluation_log.model_copy(update={"path": "daily/"})}))
    for offset in range(10):
        day = (AS_OF - timedelta(days=offset)).date()
        d = small_log(4, start=datetime(day.year, day.month, day.day, 1, tzinfo=UTC))
        d["prediction_id"] = [f"{day}-{i}" for i in range(4)]
        key = f"daily/{day}.csv" if offset % 2 else f"daily/{day}.parquet"
        put_log(store, d, key)
    store.put_object(BUCKET_EVALUATION_LOGS, "daily/2020-01-01.csv", b"garbage that would fail to parse\n\x00")
    window = Window.ending_at(AS_OF, 3)
    df = load(store, s, window)
    assert sorted({str(t.date()) for t in df["created_at"]}) == ["2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"]
    assert df["created_at"].min() >= pd.Timestamp(window.start)


def test_holdout_is_deterministic_and_about_the_fraction():
    ids = pd.Series([f"pred-{i}" for i in range(20_000)])
    m1, m2 = holdout_mask(ids, 0.2), holdout_mask(ids, 0.2)
    assert (m1 == m2).all()
    assert 0.18 < m1.mean() < 0.22
    assert holdout_mask(ids.iloc[::-1].reset_index(drop=True), 0.2).sum() == m1.sum()


def test_datasets_never_train_on_holdout_and_replay_ratio(store, settings, sample_log, tmp_path):
    put_log(store, sample_log)
    data = collect_retraining_data(settings, store, as_of=AS_OF, workdir=tmp_path / "d")
    train = pd.read_csv(data.dataset_path)
    hold = pd.read_csv(data.holdout_path)
    assert set(train["prediction_id"]).isdisjoint(hold["prediction_id"])
    assert (train["sample_type"] == "error").sum() == data.error_count >= 10
    assert abs(data.replay_size - 2 * data.error_count) <= 3  # rounding per class
    errs = train[train["sample_type"] == "error"]
    assert (errs["predicted_label"] != errs["actual_label"]).all() and (errs["confidence"] > 0.7).all()
    assert data.holdout_size == len(hold) > 0 and hold["actual_label"].notna().all()


def test_too_few_errors_writes_no_dataset(store, settings, tmp_path):
    log = small_log(5, start=AS_OF - timedelta(hours=5)).assign(predicted_outcome="draw", actual_outcome="home_win", confidence_score=90.0)
    put_log(store, log)
    data = collect_retraining_data(settings, store, as_of=AS_OF, workdir=tmp_path / "d")
    expected = int((~holdout_mask(log["prediction_id"], 0.2)).sum())
    assert data.error_count == expected >= 1 and not data.enough and not (tmp_path / "d").exists()


def test_schema_maps_names_back():
    from ml_pipeline.config import load_model_config

    from .conftest import CONFIG

    schema = LogSchema.from_model_config(load_model_config(CONFIG))
    assert schema.logical_name("confidence_score") == "confidence"
    assert "confidence_score" in schema.file_columns and "home_elo" in schema.file_columns


def test_gzip_fixture_is_really_gzip(store, settings):
    put_log(store, small_log(), "x.csv.gz")
    assert gzip.decompress(store.get_object(BUCKET_EVALUATION_LOGS, "x.csv.gz")).startswith(b"prediction_id")


def test_daily_files_none_inside_the_window_is_a_clear_error(store, settings):
    s = settings.with_overrides(model=settings.model.model_copy(update={"evaluation_log": settings.model.evaluation_log.model_copy(update={"path": "daily/"})}))
    put_log(store, small_log(4, start=datetime(2026, 10, 1, 1, tzinfo=UTC)), "daily/2026-10-01.csv")
    with pytest.raises(EvaluationLogError, match=r"no evaluation log file under 'evaluation-logs/daily/' for 2026-11-13 .. 2026-11-20 \(UTC\); the newest is 'daily/2026-10-01.csv'"):
        load(store, s, Window.ending_at(AS_OF, 7))
