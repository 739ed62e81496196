"""The one selection of the package: holdout, errors, replay, the decay counts and the
from-scratch training set, from the narrow columns of the window's rows, with the rules of
:mod:`ml_pipeline.datasets`. The job, ``--dry-run``, ``python -m ml_pipeline.data_loader``,
the guide's functions and the benchmark all call :func:`select_datasets`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_pipeline.dataset_csv import write_csv
from ml_pipeline.datasets import confidence_bands, holdout_cutoff, holdout_hash, replay_count, replay_draw
from ml_pipeline.log_batch import _as_category, _Ctx, _Fallback, _numeric_values, _ordered_map, _Piece, _release, _select_piece, _us_values
from ml_pipeline.log_reader import _fast_read, _FastFile, _open_parquet, _parquet_batches
from ml_pipeline.log_schema import LogSchema, LogSource, Window, _us, ensure_utc
from ml_pipeline.log_sources import _read_sources

if TYPE_CHECKING:
    import pandas as pd


log = logging.getLogger("ml_pipeline.data_loader")


def _second_pass(ff: _FastFile, targets: list[tuple[Any, Any, Any, Any]], schema: LogSchema, ctx: _Ctx) -> None:
    """Read timestamps and features again from the Parquet row groups where the window has
    rows. Checks the features of every window row (the days before the window are read for
    the decay counts only, never for features) and, for each ``(window rows, places, numeric
    array, categorical array)`` in ``targets``, writes those rows' numeric features to
    ``numeric[:, places]`` and their categorical ones to ``categorical[:, places]``."""
    import numpy as np
    import pyarrow as pa

    ts_name = schema.columns["created_at"]
    columns = [ts_name, *schema.features]
    path = ff.path
    assert path is not None  # a second pass is planned only for files read from disk

    def unit(spec: tuple[int, int, int]) -> int:
        g, win0, expected = spec
        seen = 0
        for _g, _row0, batch in _parquet_batches(_open_parquet(path, ctx), [g], columns):
            t = _us_values(batch.column(ts_name))
            rows = np.flatnonzero((t >= ctx.start) & (t < ctx.end)) if ctx.start is not None else np.arange(batch.num_rows)
            whole = len(rows) == batch.num_rows
            at = win0 + seen
            spans = [(np.searchsorted(idx, [at, at + len(rows)]), idx, places, outs) for idx, places, *outs in targets]
            for f in schema.features:
                col = batch.column(f) if whole else batch.column(f).take(pa.array(rows))
                if f in schema.categorical:
                    values, slot, j = _as_category(col), 1, schema.categorical.index(f)
                else:  # the first pass's rule (log_batch)
                    values, slot, j = _numeric_values(col, missing_ok=f in schema.allow_missing), 0, schema.numeric.index(f)
                for (lo, hi), idx, places, outs in spans:
                    outs[slot][j, places[lo:hi]] = values[idx[lo:hi] - at]
            seen += len(rows)
        return seen - expected

    try:
        mismatch = _ordered_map(unit, ff.second)
    except (_Fallback, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError):
        raise _Fallback(ff.display) from None
    if any(mismatch):
        raise _Fallback(ff.display)


@dataclass
class Datasets:
    """The datasets of one run in memory: figures, training rows (errors + replay) and holdout.

    The rows are kept as Arrow tables (``tables``: "training", "holdout" and, when asked for,
    "full"); :attr:`training`, :attr:`holdout` and :attr:`full` are DataFrames made from them on
    first use. The job never asks for the DataFrames: :func:`write_datasets` writes the files
    from the tables. ``training`` and ``holdout`` are None when there are fewer errors than
    ``min_samples`` (nothing is trained) or when they were not asked for.
    """

    data: RetrainingData
    tables: dict[str, Any] = field(default_factory=dict)
    decay_counts: tuple[int, int, int, int, int] | None = None  # see datasets.decay_verdict
    _frames: dict[str, Any] = field(default_factory=dict, repr=False)

    def _frame(self, name: str) -> pd.DataFrame | None:
        if name not in self._frames:
            table = self.tables.get(name)
            self._frames[name] = None if table is None else table.to_pandas(split_blocks=True)
        return self._frames[name]

    @property
    def training(self) -> pd.DataFrame | None:
        return self._frame("training")

    @property
    def holdout(self) -> pd.DataFrame | None:
        return self._frame("holdout")

    @property
    def full(self) -> pd.DataFrame | None:
        """Every labelled training row of the window (from scratch), when asked for."""
        return self._frame("full")


def _fast_selection(files: list[_FastFile], ctx: _Ctx, replay_ratio: float, random_seed: int) -> dict[str, Any]:
    """Window-row indices of holdout, errors and replay, and the figures, from the narrow columns.

    Works piece by piece (small temporaries) and lets go of the narrow columns as it goes;
    keeps class and confidence of the rows that may be selected (``cand_*``).
    """
    import numpy as np
    import pandas as pd

    if len(files) > 1:
        hs = np.sort(np.concatenate([p.hash for f in files for p in f.pieces if p.hash is not None]))
        if len(hs) > 1 and (hs[1:] == hs[:-1]).any():
            raise _Fallback  # the same prediction on two days: the reference path words it
        del hs
    keys = ("hold", "err", "corr", "train", "cand", "pred", "act", "unit", "err_unit", "err_act", "corr_act")
    parts: dict[str, list[Any]] = {k: [] for k in keys}
    win0 = n_lab = n_right = 0
    for f in files:
        for p in f.pieces:
            sel = p.sel if p.sel is not None else _select_piece(p, f.scale, ctx)
            for key in keys:
                parts[key].append(sel[key] + win0 if key in ("hold", "err", "corr", "train", "cand") else sel[key])
            n_lab += sel["labelled"]
            n_right += sel["right"]
            win0 += p.window_rows
            p.conf = p.pred = p.actual = p.hash = p.sel = None
    cat = {k: (np.concatenate(v) if v else np.zeros(0, np.int64)) for k, v in parts.items()}
    parts.clear()
    corr_idx, err_idx = cat["corr"], cat["err"]
    n_replay = replay_count(len(corr_idx), len(err_idx), replay_ratio)
    # Groups in label order, as the reference's groupby("actual_label").sample draws them.
    rank = np.argsort(np.argsort(np.asarray(ctx.schema.classes, dtype=object)))
    replay_idx = np.sort(corr_idx[replay_draw(rank[cat["corr_act"]], n_replay, random_seed)])
    names = np.asarray(ctx.schema.classes, dtype=object)
    by_class = pd.Series(names[cat["err_act"]], dtype=object).value_counts().sort_index() if len(err_idx) else None
    return {
        "rows_in_window": win0, "labelled": n_lab, "hold_idx": cat["hold"], "err_idx": err_idx, "replay_idx": replay_idx,
        "train_idx": cat["train"],
        "errors_by_class": {str(k): int(v) for k, v in by_class.items()} if by_class is not None else {},
        "errors_by_band": confidence_bands(cat["err_unit"], ctx.threshold) if len(err_idx) else {},
        "accuracy": float(np.float64(n_right) / np.float64(n_lab)) if n_lab else None,
        "cand": cat["cand"], "unit": cat["unit"], "pred": cat["pred"], "actual": cat["act"],
    }


def _take_chunked(chunked: Any, idx: Any) -> Any:
    """``chunked.take(idx)`` for sorted ``idx``, chunk by chunk (no concatenation of the whole)."""
    import numpy as np
    import pyarrow as pa

    parts, start = [], 0
    for chunk in chunked.chunks:
        lo, hi = np.searchsorted(idx, [start, start + len(chunk)])
        if hi > lo:
            parts.append(chunk.take(pa.array(idx[lo:hi] - start)))
        start += len(chunk)
    return pa.concat_arrays(parts) if parts else pa.array([], chunked.type)


def _fast_datasets(files: list[_FastFile], schema: LogSchema, ctx: _Ctx, *, window: Window, min_samples: int,
                   replay_ratio: float, random_seed: int, rows_read: int, sources: list[str], materialise: bool,
                   full: Any = False) -> Datasets:
    """Holdout, errors and replay from the narrow columns; the output tables are filled in their
    final order straight from what was kept (features of CSV candidates) or read again
    (Parquet features), so memory holds them about once.

    ``full``: also the from-scratch training set (True), or a function of the decay counts
    that says whether it is wanted (called once, before any full row is built)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    decay_counts: tuple[int, int, int, int, int] | None = None
    if ctx.decay is not None:
        pcs = [p for f in files for p in f.pieces]
        decay_counts = (sum(p.scan_rows for p in pcs), sum(p.decay[0] for p in pcs), sum(p.decay[1] for p in pcs),
                        sum(p.decay[2] for p in pcs), sum(p.decay[3] for p in pcs))
    want_full = full(decay_counts) if callable(full) else bool(full)
    sel = _fast_selection(files, ctx, replay_ratio, random_seed)
    err_idx, replay_idx, hold_idx = sel["err_idx"], sel["replay_idx"], sel["hold_idx"]
    sel_cand, unit, pred, act = sel.pop("cand"), sel.pop("unit"), sel.pop("pred"), sel.pop("actual")
    data = RetrainingData(
        window=window, rows_read=rows_read, rows_in_window=sel["rows_in_window"], labelled=sel["labelled"],
        holdout_size=len(hold_idx), error_count=len(err_idx),
        replay_size=len(replay_idx) if len(err_idx) >= min_samples else 0,
        errors_by_class=sel["errors_by_class"], errors_by_band=sel["errors_by_band"],
        accuracy_in_window=sel["accuracy"], sources=list(sources),
    )
    enough = len(err_idx) >= min_samples and materialise
    full_idx = sel["train_idx"] if enough and want_full else None
    pieces = [p for f in files for p in f.pieces if p.cand_pos is not None and len(p.cand_pos)]
    offsets, win0 = {}, 0
    for p in (p for f in files for p in f.pieces):
        offsets[id(p)] = win0
        win0 += p.window_rows
    cand_ts: Any
    if enough and pieces:
        cand_pos = np.concatenate([p.cand_pos + offsets[id(p)] for p in pieces])
        cand_ts = np.concatenate([p.cand_ts for p in pieces])
        cand_ids = pa.chunked_array([p.cand_ids for p in pieces], pa.string())
    else:
        cand_pos, cand_ts, cand_ids = np.zeros(0, np.int64), np.zeros(0, np.int64), pa.chunked_array([], pa.string())
    for p in (p for f in files for p in f.pieces):
        p.cand_ts = p.cand_ids = None
        if not enough:
            p.cand_feat = None

    outputs = []
    if enough:
        classes = pa.array(schema.classes, pa.string())
        in_train = np.zeros(sel["rows_in_window"], np.int8)  # 1 error, 2 replay (disjoint sets)
        in_train[err_idx], in_train[replay_idx] = 1, 2
        train_idx = np.flatnonzero(in_train)
        kinds = pa.array(["", "error", "replay"]).take(pa.array(in_train[train_idx]))
        jobs: list[tuple[Any, Any, dict[str, Any]]] = [
            # training_dataset.csv: errors and replay in (created_at, prediction_id) order; ids
            # are unique, so this is the order of the reference's stable sort. holdout.csv: by id.
            (train_idx, ["created_at", "prediction_id"], {"sample_type": kinds}), (hold_idx, ["prediction_id"], {})]
        if full_idx is not None:
            # training_full.csv: every labelled row outside the holdout, in log order; errors
            # are "error", the other rows "replay".
            is_err = np.zeros(sel["rows_in_window"], bool)
            is_err[err_idx] = True
            jobs.append((full_idx, [], {"sample_type": pa.array(["replay", "error"]).take(pa.array(is_err[full_idx].astype(np.int8)))}))
            del is_err
        del in_train

        def build(job: tuple[Any, list[str], dict[str, Any]]) -> tuple[Any, ...]:
            idx, keys, extra = job
            ci = np.searchsorted(cand_pos, idx)
            if (ci >= len(cand_pos)).any() or (cand_pos[np.minimum(ci, len(cand_pos) - 1)] != idx).any():
                raise _Fallback  # cannot happen: every selected row is a candidate
            ts = pa.array(cand_ts[ci], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
            ids = _take_chunked(cand_ids, ci)
            if keys:
                order = pc.sort_indices(pa.table({"created_at": ts, "prediction_id": ids}), sort_keys=[(k, "ascending") for k in keys]).to_numpy()
            else:
                order = np.arange(len(idx))
            places = np.empty(len(order), np.int64)
            places[order] = np.arange(len(order))
            si = np.searchsorted(sel_cand, idx)[order]  # the same rows among the selection's candidates
            cols = {
                "created_at": ts.take(pa.array(order)), "prediction_id": ids.take(pa.array(order)),
                "predicted_label": classes.take(pa.array(pred[si])), "actual_label": classes.take(pa.array(act[si])),
                "confidence": pa.array(unit[si]),
            }
            extra = {k: v.take(pa.array(order)) for k, v in extra.items()}
            return (idx, ci, places, cols, np.empty((len(schema.numeric), len(idx))),
                    np.empty((len(schema.categorical), len(idx)), object), extra)

        outputs = _ordered_map(build, jobs)  # training, holdout (and full) side by side
    sel_cand = unit = pred = act = cand_ts = cand_ids = None  # let go (build closes over them)

    # Features: from the candidates kept while reading (CSV), or read again (Parquet row
    # groups, which also checks them then).
    c0 = win0 = 0
    for f in files:
        if f.second is not None:
            targets = []
            for idx, _ci, places, _cols, feats, cats, _extra in outputs:
                lo, hi = np.searchsorted(idx, [win0, win0 + f.window_rows])
                targets.append((idx[lo:hi] - win0, places[lo:hi], feats, cats))
            _second_pass(f, targets, schema, ctx)
        win0 += f.window_rows
        for p in f.pieces:
            n_cand = len(p.cand_pos) if p.cand_pos is not None else 0
            if p.cand_feat is not None:
                for _idx, ci, places, _cols, feats, cats, _extra in outputs:
                    lo, hi = np.searchsorted(ci, [c0, c0 + n_cand])
                    to, at = places[lo:hi], ci[lo:hi] - c0
                    for j, values in enumerate(p.cand_feat):  # a feature at a time: 3x faster than 2-D fancy indexing
                        feats[j, to] = values[at]
                    for j, values in enumerate(p.cand_cat if p.cand_cat is not None else ()):
                        cats[j, to] = values[at]
            p.cand_feat = p.cand_cat = p.cand_pos = None
            c0 += n_cand
    _release()
    if not enough:
        return Datasets(data, decay_counts=decay_counts)
    tables = {}
    num, cat = schema.numeric, schema.categorical
    for name, (_idx, _ci, _places, cols, feats, cats, extra) in zip(("training", "holdout", "full"), outputs, strict=False):
        cols.update({f: pa.array(feats[num.index(f)]) if f in num else pa.array(cats[cat.index(f)], pa.string())
                     for f in schema.features})
        tables[name] = pa.table({**cols, **extra})
    return Datasets(data, tables, decay_counts)


@dataclass
class RetrainingData:
    """What one run trains and evaluates on, written as CSV files in ``workdir``."""

    window: Window
    rows_read: int
    rows_in_window: int
    labelled: int
    holdout_size: int
    error_count: int
    replay_size: int
    errors_by_class: dict[str, int]
    errors_by_band: dict[str, int]
    accuracy_in_window: float | None
    dataset_path: Path | None = None
    holdout_path: Path | None = None
    sources: list[str] = field(default_factory=list)
    full_dataset_path: Path | None = None  # training_full.csv (from scratch), when asked for

    @property
    def enough(self) -> bool:
        """True when a dataset was written (enough errors)."""
        return self.dataset_path is not None

    def summary(self) -> dict[str, Any]:
        """Plain figures for logs, metrics and the CLI."""
        return {
            "window_start": self.window.start.isoformat(),
            "window_end": self.window.end.isoformat(),
            "rows_read": self.rows_read,
            "rows_in_window": self.rows_in_window,
            "labelled": self.labelled,
            "holdout_size": self.holdout_size,
            "error_count": self.error_count,
            "replay_size": self.replay_size,
            "errors_by_class": self.errors_by_class,
            "errors_by_confidence_band": self.errors_by_band,
            "accuracy_in_window": self.accuracy_in_window,
            "sources": self.sources,
        }


def write_datasets(ds: Datasets, workdir: Path | None) -> RetrainingData:
    """Write training_dataset.csv and holdout.csv to ``workdir`` when there is a training set."""
    data = ds.data
    if workdir is None or "training" not in ds.tables:
        return data
    workdir.mkdir(parents=True, exist_ok=True)
    data.dataset_path = workdir / "training_dataset.csv"
    write_csv(ds.tables["training"], data.dataset_path)
    data.holdout_path = workdir / "holdout.csv"
    write_csv(ds.tables["holdout"], data.holdout_path)
    if "full" in ds.tables:
        # pandas' own default date format (only for the from-scratch runs)
        data.full_dataset_path = workdir / "training_full.csv"
        ds.tables["full"].to_pandas().to_csv(data.full_dataset_path, index=False)
    return data


def select_datasets(
    sources: list[LogSource],
    schema: LogSchema,
    window: Window,
    *,
    confidence_threshold: float,
    min_samples: int,
    holdout_fraction: float,
    replay_ratio: float,
    random_seed: int,
    materialise: bool = True,
    decay_periods: tuple[datetime, datetime] | None = None,
    full: Any = False,
) -> Datasets:
    """Read and validate ``sources``, keep the window, and select holdout, errors and replay.

    The one selection of the package (the job, its dry run, ``python -m ml_pipeline.data_loader``,
    the guide's functions and the benchmark all call it). Only the narrow columns of the
    window's rows are held, and full rows only for the rows selected (read again from plain
    CSV and Parquet files). ``materialise=False`` returns the figures only.

    ``decay_periods``: ``(reference start, recent start)`` of the decay check; the rows from
    the reference start on are read too and counted in ``decay_counts``. Of the rows before
    the window only what the counts use (timestamp, predicted and actual label) is read and
    validated: a bad feature, confidence or id on those days changes nothing the run uses.
    ``full``: also build the from-scratch training set (True, or a function of the decay
    counts returning whether it is wanted). A file the fast path cannot vouch for is read by
    the diagnostic reader, which raises ``EvaluationLogError`` listing every problem; its
    rows then go through the same selection.
    """
    scan = Window(min(ensure_utc(decay_periods[0]), window.start), window.end) if decay_periods is not None else None
    ctx = _Ctx(schema, window, "candidates", confidence_threshold, holdout_cutoff(holdout_fraction), full=full is not False,
               scan=scan, decay=(_us(decay_periods[0]), _us(decay_periods[1])) if decay_periods is not None else None)
    kw = dict(window=window, min_samples=min_samples, replay_ratio=replay_ratio, random_seed=random_seed,
              materialise=materialise, full=full)
    diagnose: set[str] = set()
    try:
        files = []
        for src in sources:
            try:
                files.append(_fast_read(src.path, src.display, schema, ctx))
            except _Fallback:
                diagnose.add(src.display)
                raise
        return _fast_datasets(files, schema, ctx, rows_read=sum(f.rows_read for f in files), sources=[s.display for s in sources], **kw)
    except _Fallback as exc:
        diagnose.update(exc.args)
    loaded = _read_sources(sources, schema, ctx.scan or window, diagnose, checked_from=window.start if ctx.scan is not None else None)
    ff = _frame_file(loaded.frame, schema, ctx)
    return _fast_datasets([ff], schema, ctx, rows_read=loaded.rows_read, sources=loaded.sources, **kw)


def _frame_file(frame: pd.DataFrame, schema: LogSchema, ctx: _Ctx) -> _FastFile:
    """A validated frame (the diagnostic reader's) as one piece, for :func:`_fast_datasets`."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    n = len(frame)
    ts = pd.DatetimeIndex(frame["created_at"]).as_unit("us").asi8 if n else np.zeros(0, np.int64)
    classes = pd.Index(schema.classes)
    pred = classes.get_indexer(frame["predicted_label"]).astype(np.int8) if n else np.zeros(0, np.int8)
    actual = (classes.get_indexer(frame["actual_label"].where(frame["actual_label"].notna(), None)).astype(np.int8)
              if n else np.zeros(0, np.int8))
    conf = frame["confidence"].to_numpy(dtype=float) if n else np.zeros(0)
    ids = frame["prediction_id"].to_numpy(dtype=object) if n else np.zeros(0, object)
    decay = (0, 0, 0, 0)
    if ctx.decay is not None and n:
        labelled, right = actual >= 0, pred == actual
        ref0, recent0 = ctx.decay
        ref, recent = labelled & (ts >= ref0) & (ts < recent0), labelled & (ts >= recent0)
        decay = (int(ref.sum()), int((ref & right).sum()), int(recent.sum()), int((recent & right).sum()))
        start = ctx.start if ctx.start is not None else ts.min()
        inside = np.flatnonzero(ts >= start)
        if len(inside) != n:  # the decay check's days: counted above, nothing else of them is used
            ts, ids, conf, pred, actual = ts[inside], ids[inside], conf[inside], pred[inside], actual[inside]
            frame = frame.iloc[inside]
    piece = _Piece(rows=n, window_rows=len(ids), conf=conf, pred=pred, actual=actual, hash=holdout_hash(ids), scan_rows=n, decay=decay)
    keep = np.flatnonzero(piece.actual >= 0)
    piece.cand_pos, piece.cand_ts, piece.cand_ids = keep, ts[keep], pa.array(ids[keep], pa.string())
    piece.cand_feat = [frame[f].to_numpy(dtype=float)[keep] for f in schema.numeric]
    if schema.categorical:  # text, None = missing (a fast-read frame has NaN there)
        piece.cand_cat = np.stack([np.where(frame[f].isna().to_numpy(), None, frame[f].to_numpy(dtype=object))[keep]
                                   for f in schema.categorical])
    return _FastFile("frame", "frame", n, [piece], "unit")
