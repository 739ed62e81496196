"""The optimised filter (fast path of data_loader) gives the results of a plain pandas reference.

Logs are generated here with the edge cases that decide the results: rows exactly on the
window's start (in) and end (out) and one microsecond around them, confidences tied with
the threshold, unlabelled rows (empty, and blank text), naive (= UTC) and aware
timestamps in several zones, CSV split into many byte ranges, Parquet with row groups
that the window prunes, daily files. The reference below is written the straightforward
way, in pandas, from the definitions in data_loader's docstring.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml_pipeline import data_loader as dl
from ml_pipeline import log_batch, log_diagnostic, log_reader, selection
from ml_pipeline.data_loader import LogSchema, LogSource, Window, read_log_file, select_datasets

from .conftest import AS_OF, CONFIG

FEATURES = ["home_elo", "away_elo", "elo_diff", "home_form", "away_form", "home_goals_avg", "away_goals_avg",
            "home_conceded_avg", "away_conceded_avg", "rest_days_diff"]
CLASSES = np.array(["home_win", "draw", "away_win"])
THRESHOLD, FRACTION, RATIO, SEED, LOOKBACK = 0.7, 0.2, 2.0, 42, 7


@pytest.fixture(scope="module")
def schema():
    from ml_pipeline.config import load_model_config

    return LogSchema.from_model_config(load_model_config(CONFIG))


def make_log(n=3000, seed=1, days=12):
    """A log in the user's column names with the edge cases first, then random rows (naive UTC text)."""
    rng = np.random.default_rng(seed)
    start = AS_OF - timedelta(days=LOOKBACK)
    edge_ts = [start, start - timedelta(microseconds=1), start + timedelta(microseconds=1),
               AS_OF, AS_OF - timedelta(microseconds=1), AS_OF + timedelta(microseconds=1)]
    ts = edge_ts + [AS_OF - timedelta(seconds=int(s)) for s in rng.integers(1, days * 86_400, n - len(edge_ts))]
    pred = CLASSES[rng.integers(0, 3, n)]
    right = rng.random(n) < 0.55
    actual = np.where(right, pred, CLASSES[(np.searchsorted(CLASSES, pred, sorter=np.argsort(CLASSES)) + 1) % 3]).astype(object)
    conf = (100 / 3 + rng.random(n) * 200 / 3).round(2)
    conf[len(edge_ts):len(edge_ts) + 40] = 70.0  # ties with the threshold: never errors
    conf[len(edge_ts) + 40:len(edge_ts) + 60] = 70.01
    actual[rng.random(n) < 0.08] = ""  # not known yet
    df = pd.DataFrame({
        "prediction_id": [f"pred-{seed}-{i:06d}" for i in range(n)],
        "created_at": [t.strftime("%Y-%m-%d %H:%M:%S.%f") for t in ts],
        "predicted_outcome": pred, "actual_outcome": actual, "confidence_score": conf, "model_version": "v1",
    })
    for f in FEATURES:
        df[f] = rng.normal(size=n).round(3)
    df.loc[:5, "predicted_outcome"] = "draw"
    df.loc[:5, "actual_outcome"] = "home_win"
    df.loc[:5, "confidence_score"] = 99.0  # the boundary rows are errors when inside the window
    return df.sample(frac=1, random_state=seed).reset_index(drop=True)  # not in time order


def reference(raw: pd.DataFrame, as_of: datetime = AS_OF):
    """Plain pandas: window, labelled, holdout hash, errors, stratified replay."""
    df = raw.rename(columns={"predicted_outcome": "predicted_label", "actual_outcome": "actual_label", "confidence_score": "confidence"})
    ts = pd.to_datetime(df["created_at"].astype(str), utc=True, format="ISO8601")
    start, end = pd.Timestamp(as_of - timedelta(days=LOOKBACK)), pd.Timestamp(as_of)
    w = df[(ts >= start) & (ts < end)].assign(created_at=ts, confidence=lambda d: d["confidence"] / 100.0)
    blank = w["actual_label"].isna() | (w["actual_label"].astype(str).str.strip() == "")
    lab = w[~blank]
    h = pd.util.hash_pandas_object(lab["prediction_id"].astype(str), index=False).to_numpy()
    hold = (h % np.uint64(10_000)) < np.uint64(round(FRACTION * 10_000))
    pool = lab[~hold]
    err = pool[(pool["predicted_label"] != pool["actual_label"]) & (pool["confidence"] > THRESHOLD)]
    correct = pool[pool["predicted_label"] == pool["actual_label"]]
    n = min(len(correct), int(round(RATIO * len(err))))
    replay = correct.groupby("actual_label").sample(frac=n / len(correct), random_state=SEED) if n else correct.iloc[:0]
    return {"rows_in_window": len(w), "labelled": len(lab), "holdout": sorted(lab["prediction_id"][hold]),
            "errors": sorted(err["prediction_id"]), "replay": sorted(replay["prediction_id"]),
            "accuracy": float((lab["predicted_label"] == lab["actual_label"]).mean()), "error_rows": err}


def run_fast(paths, schema, as_of=AS_OF):
    window = Window.ending_at(as_of, LOOKBACK)
    return select_datasets([LogSource(p.name, p) for p in paths], schema, window, confidence_threshold=THRESHOLD, min_samples=1,
                           holdout_fraction=FRACTION, replay_ratio=RATIO, random_seed=SEED)


def assert_same(ds, ref):
    d = ds.data
    assert (d.rows_in_window, d.labelled, d.error_count, d.holdout_size, d.replay_size) == (
        ref["rows_in_window"], ref["labelled"], len(ref["errors"]), len(ref["holdout"]), len(ref["replay"]))
    assert d.accuracy_in_window == ref["accuracy"]
    tr = ds.training
    assert sorted(tr.loc[tr["sample_type"] == "error", "prediction_id"]) == ref["errors"]
    assert sorted(tr.loc[tr["sample_type"] == "replay", "prediction_id"]) == ref["replay"]
    assert ds.holdout["prediction_id"].tolist() == ref["holdout"]
    assert set(tr["prediction_id"]).isdisjoint(ds.holdout["prediction_id"])
    keys = list(zip(tr["created_at"], tr["prediction_id"], strict=True))
    assert keys == sorted(keys)  # written in time order
    errs = tr[tr["sample_type"] == "error"].set_index("prediction_id").sort_index()
    exp = ref["error_rows"].set_index("prediction_id").sort_index()
    assert (errs["created_at"] == exp["created_at"]).all()
    np.testing.assert_array_equal(errs["confidence"].to_numpy(), exp["confidence"].to_numpy())
    np.testing.assert_array_equal(errs[FEATURES].to_numpy(), exp[FEATURES].to_numpy())


def write(df, path, fmt, **kw):
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "csv.gz":
        df.to_csv(path, index=False, compression="gzip")
    else:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, **kw)
    return path




@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_fast_filter_equals_plain_pandas(tmp_path, schema, small_ranges, diagnostic, fmt):
    log = make_log()
    if fmt == "parquet":  # real timestamps, in time order, small row groups: most are pruned
        log = log.assign(created_at=pd.to_datetime(log["created_at"], utc=True)).sort_values("created_at", ignore_index=True)
        path = write(log, tmp_path / "log.parquet", fmt, row_group_size=250)
    else:
        path = write(log, tmp_path / f"log.{fmt}", fmt)
    assert_same(run_fast([path], schema), reference(log))  # the replay sample depends on the row order
    assert diagnostic == []


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York", "naive"])
def test_time_zones(tmp_path, schema, small_ranges, diagnostic, zone):
    log = make_log(seed=2)
    ts = pd.to_datetime(log["created_at"], utc=True)
    if zone != "naive":  # the same instants written with an offset (CSV) or a zone (Parquet)
        local = ts.dt.tz_convert(zone)
        csv_log = log.assign(created_at=local.map(lambda t: t.isoformat()))
        pq_log = log.assign(created_at=local)
    else:
        csv_log, pq_log = log, log.assign(created_at=ts.dt.tz_localize(None))
    ref = reference(log)
    assert_same(run_fast([write(csv_log, tmp_path / "log.csv", "csv")], schema), ref)
    assert_same(run_fast([write(pq_log, tmp_path / "log.parquet", "parquet", row_group_size=500)], schema), ref)
    assert diagnostic == []


def test_mixed_offsets_and_blank_labels_go_the_diagnostic_way_with_the_same_result(tmp_path, schema, small_ranges, diagnostic):
    log = make_log(seed=3)
    ts = pd.to_datetime(log["created_at"], utc=True)
    mixed = [t.tz_convert("Asia/Tokyo").isoformat() if i % 3 == 0 else t.strftime("%Y-%m-%d %H:%M:%S.%f") for i, t in enumerate(ts)]
    log = log.assign(created_at=mixed)
    log.loc[log.index[::50], "actual_outcome"] = "  "  # blank text: unlabelled, not an error
    assert_same(run_fast([write(log, tmp_path / "log.csv", "csv")], schema), reference(log))
    assert diagnostic == ["log.csv"]


def test_daily_files_together(tmp_path, schema, small_ranges, diagnostic):
    log = make_log(n=4000, seed=4)
    ts = pd.to_datetime(log["created_at"], utc=True)
    paths, parts = [], []
    for i, (day, part) in enumerate(log.groupby(ts.dt.date)):
        fmt = "parquet" if i % 2 else "csv"
        if fmt == "parquet":
            part = part.assign(created_at=pd.to_datetime(part["created_at"], utc=True))
        paths.append(write(part, tmp_path / f"{day}.{fmt}", fmt))
        parts.append(part)
    assert_same(run_fast(paths, schema), reference(pd.concat(parts)))  # rows in the order the files are read
    assert diagnostic == []


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_fast_read_equals_diagnostic_read_and_files_are_byte_identical(tmp_path, schema, small_ranges, fmt):
    log = make_log(seed=5)
    path = write(log, tmp_path / f"log.{fmt}", fmt, **({"row_group_size": 300} if fmt == "parquet" else {}))
    window = Window.ending_at(AS_OF, LOOKBACK)
    problems = dl.Problems(path.name)
    slow, n_slow = read_log_file(path, path.name, schema, window, problems)
    slow = log_diagnostic._validate(slow, schema, problems)
    assert not problems
    fast = dl.read_sources([LogSource(path.name, path)], schema, window)
    assert fast.rows_read == n_slow == len(log)
    pd.testing.assert_frame_equal(fast.frame, slow, check_exact=True)
    b = dl.write_datasets(run_fast([path], schema), tmp_path / "fast")
    with pytest.MonkeyPatch.context() as mp:  # the same selection on the diagnostic reader's rows
        mp.setattr(selection, "_fast_read", _decline)
        a = dl.write_datasets(run_fast([path], schema), tmp_path / "ref")
    assert a.summary() == b.summary()
    for name in ("training_dataset.csv", "holdout.csv"):
        assert (tmp_path / "ref" / name).read_bytes() == (tmp_path / "fast" / name).read_bytes()


def _decline(*_args, **_kwargs):
    raise log_batch._Fallback


def reference_job(raw: pd.DataFrame, periods, as_of: datetime = AS_OF):
    """Plain pandas: the decay counts over the periods and the from-scratch training set of the window."""
    df = raw.rename(columns={"predicted_outcome": "predicted_label", "actual_outcome": "actual_label", "confidence_score": "confidence"})
    ts = pd.to_datetime(df["created_at"].astype(str), utc=True, format="ISO8601")
    blank = df["actual_label"].isna() | (df["actual_label"].astype(str).str.strip() == "")
    right = df["predicted_label"] == df["actual_label"]
    read = (ts >= min(pd.Timestamp(periods[0]), pd.Timestamp(as_of - timedelta(days=LOOKBACK)))) & (ts < pd.Timestamp(as_of))
    ref = ~blank & (ts >= pd.Timestamp(periods[0])) & (ts < pd.Timestamp(periods[1])) & (ts < pd.Timestamp(as_of))
    recent = ~blank & (ts >= pd.Timestamp(periods[1])) & (ts < pd.Timestamp(as_of))
    counts = (int(read.sum()), int(ref.sum()), int((ref & right).sum()), int(recent.sum()), int((recent & right).sum()))
    w = (ts >= pd.Timestamp(as_of - timedelta(days=LOOKBACK))) & (ts < pd.Timestamp(as_of)) & ~blank
    lab = df[w].assign(confidence=lambda d: d["confidence"] / 100.0)
    h = pd.util.hash_pandas_object(lab["prediction_id"].astype(str), index=False).to_numpy()
    pool = lab[~((h % np.uint64(10_000)) < np.uint64(round(FRACTION * 10_000)))]
    err = (pool["predicted_label"] != pool["actual_label"]) & (pool["confidence"] > THRESHOLD)
    return counts, pool.assign(sample_type=np.where(err, "error", "replay"))


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
@pytest.mark.parametrize("path_kind", ["fast", "diagnostic"])
def test_job_selection_decay_counts_and_full_training_set(tmp_path, schema, small_ranges, fmt, path_kind, monkeypatch):
    """What the job asks of the one selection: the decay counts over days before the window
    (read and validated too), and the from-scratch set, in log order, on both readers."""
    log = make_log(seed=9, days=20)
    if fmt == "parquet":
        log = log.assign(created_at=pd.to_datetime(log["created_at"], utc=True)).sort_values("created_at", ignore_index=True)
        path = write(log, tmp_path / "log.parquet", fmt, row_group_size=250)
    else:
        path = write(log, tmp_path / f"log.{fmt}", fmt)
    if path_kind == "diagnostic":
        monkeypatch.setattr(selection, "_fast_read", _decline)
    periods = (AS_OF - timedelta(days=16), AS_OF - timedelta(days=2))
    asked = []
    ds = select_datasets([LogSource(path.name, path)], schema, Window.ending_at(AS_OF, LOOKBACK), confidence_threshold=THRESHOLD,
                         min_samples=1, holdout_fraction=FRACTION, replay_ratio=RATIO, random_seed=SEED, decay_periods=periods,
                         full=lambda counts: asked.append(counts) or True)
    counts, full = reference_job(log, periods)
    assert asked == [counts] and ds.decay_counts == counts
    assert ds.full["prediction_id"].tolist() == full["prediction_id"].tolist()
    assert ds.full["sample_type"].tolist() == full["sample_type"].tolist()
    np.testing.assert_array_equal(ds.full[FEATURES].to_numpy(), full[FEATURES].to_numpy())
    np.testing.assert_array_equal(ds.full["confidence"].to_numpy(), full["confidence"].to_numpy())
    assert_same(ds, reference(log))  # the decay days change nothing in the window's selection


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("path_kind", ["fast", "diagnostic"])
def test_the_decay_days_are_read_for_their_counts_only(tmp_path, schema, small_ranges, fmt, path_kind, monkeypatch):
    """Before the window, the decay check counts labels by day: an empty or non-numeric feature,
    a bad confidence, an empty or repeated id there change nothing the run uses, so they fail
    nothing; the counts and the window's selection are those of the clean log."""
    clean = make_log(seed=10, days=20)
    if fmt == "parquet":  # (row groups in time order: some hold only the decay check's days)
        clean = clean.assign(created_at=pd.to_datetime(clean["created_at"], utc=True)).sort_values("created_at", ignore_index=True)
    ts = pd.to_datetime(clean["created_at"], utc=True)
    before = clean.index[(ts < AS_OF - timedelta(days=LOOKBACK + 1)) & (ts > AS_OF - timedelta(days=15))][:6]
    log = clean.astype({"home_elo": object, "confidence_score": object})
    log.loc[before[0], "home_elo"] = np.nan
    log.loc[before[1], "home_elo"] = "n/a"
    log.loc[before[2], "confidence_score"] = 150.0
    log.loc[before[3], "prediction_id"] = ""
    log.loc[before[4], "prediction_id"] = log.loc[before[5], "prediction_id"]
    if fmt == "parquet":
        log.loc[before[1], "home_elo"] = np.nan  # (a Parquet float column holds no text)
        log = log.astype({"home_elo": float, "confidence_score": float})
        path = write(log, tmp_path / "log.parquet", fmt, row_group_size=250)
    else:
        path = write(log, tmp_path / "log.csv", fmt)
    if path_kind == "diagnostic":
        monkeypatch.setattr(selection, "_fast_read", _decline)
    elif fmt == "parquet":  # the fast path itself reads only what the counts use
        monkeypatch.setattr(selection, "_read_sources", _decline)
    periods = (AS_OF - timedelta(days=16), AS_OF - timedelta(days=2))
    ds = select_datasets([LogSource(path.name, path)], schema, Window.ending_at(AS_OF, LOOKBACK), confidence_threshold=THRESHOLD,
                         min_samples=1, holdout_fraction=FRACTION, replay_ratio=RATIO, random_seed=SEED, decay_periods=periods)
    assert ds.decay_counts == reference_job(clean, periods)[0]
    assert_same(ds, reference(clean))


def test_a_log_in_time_order_with_a_stray_row(tmp_path, schema, small_ranges, monkeypatch):
    """A CSV in time order: byte ranges whose first and last lines lie in the decay days are
    parsed for the decay columns only, those in the window at once; a window row written
    among the decay days (not in time order) is still found and selected."""
    log = make_log(seed=12, days=20)
    log = log.assign(_t=pd.to_datetime(log["created_at"], utc=True)).sort_values("_t", ignore_index=True)
    inside = log.index[log["_t"] >= AS_OF - timedelta(days=3)][5]
    middle = log.index[(log["_t"] > AS_OF - timedelta(days=12)) & (log["_t"] < AS_OF - timedelta(days=10))][40]
    order = list(log.index)
    order.remove(inside)
    order.insert(order.index(middle), inside)  # a row of the window written 10 days early
    log = log.loc[order].drop(columns="_t").reset_index(drop=True)
    path = write(log, tmp_path / "log.csv", "csv")
    decay_parses = []
    real = log_reader._decay_columns
    monkeypatch.setattr(log_reader, "_decay_columns", lambda sch: decay_parses.append(1) or real(sch))
    monkeypatch.setattr(selection, "_read_sources", _decline)  # all on the fast path
    periods = (AS_OF - timedelta(days=16), AS_OF - timedelta(days=2))
    ds = select_datasets([LogSource(path.name, path)], schema, Window.ending_at(AS_OF, LOOKBACK), confidence_threshold=THRESHOLD,
                         min_samples=1, holdout_fraction=FRACTION, replay_ratio=RATIO, random_seed=SEED, decay_periods=periods)
    assert len(decay_parses) > 3  # ranges of the decay days were parsed for three columns
    assert ds.decay_counts == reference_job(log, periods)[0]
    assert_same(ds, reference(log))


@pytest.mark.parametrize("path_kind", ["fast", "diagnostic"])
def test_a_bad_label_before_the_window_fails_the_decay_read(tmp_path, schema, small_ranges, path_kind, monkeypatch):
    """The decay counts use the labels of those days: an unknown label there is reported (the
    job then skips the decay check and reads the window alone, which works)."""
    log = make_log(seed=11, days=20)
    ts = pd.to_datetime(log["created_at"], utc=True)
    before = log.index[(ts < AS_OF - timedelta(days=LOOKBACK + 1)) & (ts > AS_OF - timedelta(days=15))][:1]
    log.loc[before, "actual_outcome"] = "home_wn"
    path = write(log, tmp_path / "log.csv", "csv")
    if path_kind == "diagnostic":
        monkeypatch.setattr(selection, "_fast_read", _decline)
    kw = dict(confidence_threshold=THRESHOLD, min_samples=1, holdout_fraction=FRACTION, replay_ratio=RATIO, random_seed=SEED)
    window = Window.ending_at(AS_OF, LOOKBACK)
    with pytest.raises(dl.EvaluationLogError, match="must be empty \\(not known yet\\) or one of"):
        select_datasets([LogSource(path.name, path)], schema, window, decay_periods=(AS_OF - timedelta(days=16), AS_OF - timedelta(days=2)), **kw)
    assert_same(select_datasets([LogSource(path.name, path)], schema, window, **kw), reference(log))


def test_problems_are_still_reported_by_the_diagnostic_path(tmp_path, schema, small_ranges):
    log = make_log(seed=6)
    start = AS_OF - timedelta(days=1)
    inside = log.index[pd.to_datetime(log["created_at"], utc=True) >= start][:2]
    log.loc[inside[0], "prediction_id"] = log.loc[inside[1], "prediction_id"]
    log.loc[inside[1], "confidence_score"] = 150.0
    path = write(log, tmp_path / "log.csv", "csv")
    with pytest.raises(dl.EvaluationLogError) as err:
        run_fast([path], schema)
    assert "'prediction_id' must be unique" in str(err.value) and "must be a number in [0, 100]" in str(err.value)


def test_holdout_mask_is_bit_identical_to_hash_pandas_object():
    ids = pd.Series([f"pred-{i}" for i in range(5000)] + ["é-ünïcode", "", "  x "])
    expected = (pd.util.hash_pandas_object(ids.astype(str), index=False).to_numpy() % np.uint64(10_000)) < np.uint64(2000)
    np.testing.assert_array_equal(dl.holdout_mask(ids, 0.2), expected)
    with_missing = pd.Series(["a", None, "b"], dtype=object)
    np.testing.assert_array_equal(
        dl.holdout_mask(with_missing, 0.5),
        (pd.util.hash_pandas_object(with_missing.astype(str), index=False).to_numpy() % np.uint64(10_000)) < np.uint64(5000))


def test_parquet_written_by_pandas(tmp_path, schema, diagnostic):
    """Integer ids, large_string labels, empty strings for unknown labels: read like the diagnostic path does."""
    log = make_log(n=500, seed=7)
    log["prediction_id"] = np.arange(len(log)) + 10**9
    buf = io.BytesIO()
    log.to_parquet(buf, index=False)
    path = tmp_path / "log.parquet"
    path.write_bytes(buf.getvalue())
    ref = reference(log.assign(prediction_id=log["prediction_id"].astype(str)))
    assert_same(run_fast([path], schema), ref)
    assert diagnostic == ["log.parquet"]  # timestamps stored as text: the diagnostic path parses them
    log["created_at"] = pd.to_datetime(log["created_at"], utc=True)
    log.to_parquet(path, index=False)
    diagnostic.clear()
    assert_same(run_fast([path], schema), ref)
    assert diagnostic == []


def test_crlf_line_endings_and_auto_confidence_scale(tmp_path, schema, small_ranges, diagnostic, caplog):
    """Windows line endings across many byte ranges; ``confidence_scale: auto`` keeps every
    labelled row until the scale is known, then detects percent as the diagnostic path does."""
    from dataclasses import replace

    log = make_log(seed=8)
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False, lineterminator="\r\n")
    assert_same(run_fast([path], replace(schema, confidence_scale="auto")), reference(log))
    assert diagnostic == []
    assert "reading them as percentages (confidence_scale: auto)" in caplog.text
