"""One record batch of the evaluation log on the fast path: cut to the window and checked with
vectorised rules (:func:`_process`), into a :class:`_Piece` of narrow columns; the read
context (:class:`_Ctx`), the column converters and the small thread pool the readers share.

:mod:`ml_pipeline.log_reader` turns files (CSV byte ranges, Parquet row groups) into batches
and pieces; anything a rule here cannot vouch for raises :class:`_Fallback`, and
:mod:`ml_pipeline.log_diagnostic` reads the file again and decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ml_pipeline.datasets import holdout_hash, in_holdout, is_error
from ml_pipeline.log_schema import LOGICAL_COLUMNS, LogSchema, Window, _us, categorical_text

_PY_SPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
# The first UTF-8 byte of every whitespace character (Python's, which holds Arrow's): a text
# that starts with none of them is not blank (_maybe_blank).
_SPACE_LEADS = sorted({c.encode()[0] for c in _PY_SPACE})


class _Fallback(Exception):
    """The fast path cannot vouch for this file; use the diagnostic path."""


@dataclass
class _Ctx:
    """What the fast path needs to know while it reads: rules, window and what to keep."""

    schema: LogSchema
    window: Window | None
    keep: str  # "all" rows of the window (read_sources), or "candidates" (select_datasets)
    threshold: float = 0.0
    holdout_cutoff: int = 0
    # convert and check the window rows' features, and keep the candidates' (False: a
    # second pass reads and checks them)
    candidate_features: bool = True
    full: bool = False  # every labelled row is a candidate (the from-scratch training set)
    # The decay check: rows from ``scan_start`` (before the window) are read too and counted per
    # period; of those rows only what the counts use (timestamp, predicted and actual label) is
    # read and validated. ``decay`` = (reference start, recent start), microseconds UTC.
    scan: Window | None = None
    decay: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        w = self.window
        self.start = _us(w.start) if w else None
        self.end = _us(w.end) if w else None
        self.scan_start = _us(self.scan.start) if self.scan is not None else self.start


@dataclass
class _Piece:
    """One parsed piece of a file, cut to the window: narrow columns of its window rows, kept rows."""

    rows: int  # rows parsed
    window_rows: int  # of which inside the window
    conf: Any  # float64 confidence as logged (scale not applied)
    pred: Any  # int8 class index
    actual: Any  # int8 class index, -1 = not known yet
    hash: Any  # uint64 hash of prediction_id (holdout_mask's)
    kept: Any = None  # pa.Table of the kept rows (file column names), or None
    kept_row: Any = None  # row numbers (0-based, in the piece) of the kept rows
    row0: int = 0  # row number (0-based, in the file) of the piece's first row
    group: int = 0  # Parquet row group or CSV byte range
    # keep="candidates": the rows that may be selected (holdout, errors, correct rows)
    cand_pos: Any = None  # their indices among this piece's window rows
    cand_ts: Any = None  # created_at, int64 microseconds UTC
    cand_ids: Any = None  # prediction_id, pa.StringArray
    # numeric features, one float64 array of n values per feature (arrays of a range's rows
    # stay under glibc's mmap threshold: no fresh pages to fault in), unless read again later
    cand_feat: Any = None
    cand_cat: Any = None  # categorical features, object array (n_categorical, n) of str/None, or None
    sel: Any = None  # the piece's selection (_select_piece), when made while reading
    # rows read for the decay check (ctx.scan, the window and the days before it), and their
    # labelled / correct counts per period
    scan_rows: int = 0
    decay: tuple[int, int, int, int] = (0, 0, 0, 0)

    @classmethod
    def empty(cls, rows: int) -> _Piece:
        """``rows`` parsed rows, none of them in the window."""
        import numpy as np

        return cls(rows, 0, np.zeros(0), np.zeros(0, np.int8), np.zeros(0, np.int8), np.zeros(0, np.uint64))


def _as_float(col: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
        return col.cast(pa.float64())
    raise _Fallback


def _numeric_values(col: Any, *, missing_ok: bool) -> Any:
    """A numeric feature's values (float64 numpy), checked by its rule: finite, or with
    ``missing_ok`` (model.features.allow_missing) empty/NaN kept as NaN but never inf.
    ``_Fallback`` otherwise (the diagnostic path words the problem)."""
    import numpy as np

    col = _as_float(col)
    values = col.to_numpy(zero_copy_only=False)
    if missing_ok:
        if len(values) and np.isinf(values).any():
            raise _Fallback
    elif col.null_count or (len(values) and not np.isfinite(values).all()):
        raise _Fallback
    return values


def _as_category(col: Any) -> Any:
    """A categorical feature as an object array of str, None = missing (log_schema's rule);
    ``_Fallback`` for raw bytes (the diagnostic path reports what is not UTF-8)."""
    try:
        return categorical_text(col).to_numpy(zero_copy_only=False)
    except ValueError:
        raise _Fallback from None


def _as_text(col: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_string(col.type):
        return col
    if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type) or pa.types.is_dictionary(col.type):
        raise _Fallback
    return col.cast(pa.string())


def _actual_text(col: Any) -> Any:
    """``actual_label`` as text; blank text means not known yet (null), as on the diagnostic path."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = _as_text(col)
    blank = pc.equal(pc.utf8_trim_whitespace(text), "")
    return pc.if_else(blank, pa.scalar(None, pa.string()), text) if pc.any(blank).as_py() else text


def _us_values(ts: Any) -> Any:
    """A (null-free) timestamp Array or ChunkedArray as int64 microseconds UTC, in numpy:
    zero-copy for microsecond columns (naive ones are UTC), per chunk (``ChunkedArray.to_numpy``
    and casts to the same type copy)."""
    import numpy as np
    import pyarrow as pa

    chunks = ts.chunks if isinstance(ts, pa.ChunkedArray) else [ts]
    if ts.type.unit != "us":
        chunks = [c.cast(pa.timestamp("us", tz="UTC")) for c in chunks]
    values = [c.view(pa.int64()).to_numpy() for c in chunks]
    return values[0] if len(values) == 1 else np.concatenate(values) if values else np.zeros(0, np.int64)


def _maybe_blank(text: Any) -> bool:
    """False when no value of the (null-free) string array ``text`` can be blank: none is empty
    or starts with a byte that begins a whitespace character. One look at each first byte,
    instead of trimming every value."""
    import numpy as np

    if not len(text):
        return False
    offsets = np.frombuffer(text.buffers()[1], np.int32)[text.offset:text.offset + len(text) + 1]
    starts, ends = offsets[:-1], offsets[1:]
    if (ends <= starts).any():
        return True
    data = np.frombuffer(text.buffers()[2], np.uint8)
    return bool(np.isin(data[starts], _SPACE_LEADS).any())


def _label_codes(col: Any, classes: Any, *, blank_is_null: bool) -> Any:
    """Class index of each label (null: missing, or blank when ``blank_is_null``).

    ``_Fallback`` for any other text that is not a class. Dictionary columns are mapped
    through their dictionary.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(col.type):
        text = _actual_text(col.dictionary) if blank_is_null else _as_text(col.dictionary)
        codes = pc.index_in(text, value_set=classes)
        if codes.null_count != text.null_count:
            raise _Fallback
        return codes.take(col.indices)
    text = _as_text(col)
    codes = pc.index_in(text, value_set=classes)
    if codes.null_count == text.null_count:
        return codes  # every label is a class as written (no class is blank: config)
    if blank_is_null:
        text = _actual_text(text)
        codes = pc.index_in(text, value_set=classes)
    if codes.null_count != text.null_count:
        # Same label, other spelling (config.label_from_text): "1.0" for 1, "true" for True.
        text = pc.replace_substring_regex(text, pattern=r"^\s*(-?[0-9]+)\.0+\s*$", replacement=r"\1")
        lower = pc.utf8_lower(pc.utf8_trim_whitespace(text))
        text = pc.if_else(pc.equal(lower, "true"), "True", pc.if_else(pc.equal(lower, "false"), "False", text))
        codes = pc.index_in(text, value_set=classes)
        if codes.null_count != text.null_count:
            raise _Fallback
    return codes


def _process(batch: Any, ctx: _Ctx) -> _Piece:
    """Cut one record batch to the window and check it; keep what ``ctx.keep`` asks for."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    s = ctx.schema
    ts = batch.column(s.columns["created_at"])
    if not pa.types.is_timestamp(ts.type) or ts.null_count:
        raise _Fallback
    t = _us_values(ts)
    rows = np.arange(batch.num_rows) if ctx.start is None else np.flatnonzero((t >= ctx.scan_start) & (t < ctx.end))
    sub = batch.take(pa.array(rows)) if len(rows) != batch.num_rows else batch
    classes = pa.array(s.classes, pa.string())
    scan_rows, decay, codes = len(rows), (0, 0, 0, 0), None
    if ctx.decay is not None and len(rows):
        # The decay counts use timestamps and labels only: the days before the window are
        # checked for those, the window's rows for everything.
        pred_all = _label_codes(sub.column(s.columns["predicted_label"]), classes, blank_is_null=False)
        if pred_all.null_count:
            raise _Fallback
        act_all = _label_codes(sub.column(s.columns["actual_label"]), classes, blank_is_null=True)
        ts_rows, p_i, a_i = t[rows], pred_all.to_numpy().astype(np.int8), act_all.fill_null(-1).to_numpy().astype(np.int8)
        labelled, right = a_i >= 0, p_i == a_i
        ref0, recent0 = ctx.decay
        ref, recent = labelled & (ts_rows >= ref0) & (ts_rows < recent0), labelled & (ts_rows >= recent0)
        decay = (int(ref.sum()), int((ref & right).sum()), int(recent.sum()), int((recent & right).sum()))
        inside = np.flatnonzero(ts_rows >= ctx.start)
        codes = (p_i[inside], a_i[inside])
        if len(inside) != len(rows):
            rows = rows[inside]
            sub = sub.take(pa.array(inside))
    if not len(rows):
        piece = _Piece.empty(batch.num_rows)
        piece.scan_rows, piece.decay = scan_rows, decay
        return piece

    ids = _as_text(sub.column(s.columns["prediction_id"]))
    if ids.null_count:
        raise _Fallback
    if _maybe_blank(ids) and (pc.min(pc.utf8_length(pc.utf8_trim_whitespace(ids))).as_py() == 0
                              or pc.min(pc.utf8_length(pc.utf8_trim(ids, _PY_SPACE))).as_py() == 0):
        raise _Fallback
    if codes is None:
        pred = _label_codes(sub.column(s.columns["predicted_label"]), classes, blank_is_null=False)
        if pred.null_count:
            raise _Fallback
        actual = _label_codes(sub.column(s.columns["actual_label"]), classes, blank_is_null=True)
        codes = (pred.to_numpy().astype(np.int8), actual.fill_null(-1).to_numpy().astype(np.int8))
    conf_col = _as_float(sub.column(s.columns["confidence"]))
    if conf_col.null_count:
        raise _Fallback
    conf = conf_col.to_numpy()
    if len(conf) and not np.isfinite(conf).all():
        raise _Fallback
    feats, cats = [], []
    if ctx.candidate_features:
        for f in s.categorical:
            cats.append(_as_category(sub.column(f)))
        for f in s.numeric:
            feats.append(_numeric_values(sub.column(f), missing_ok=f in s.allow_missing))
    h = holdout_hash(ids)
    piece = _Piece(rows=batch.num_rows, window_rows=len(rows), conf=conf, pred=codes[0], actual=codes[1], hash=h,
                   scan_rows=scan_rows, decay=decay)
    if ctx.keep == "all":
        keep = np.arange(len(rows))
    else:
        if s.confidence_scale == "auto":  # the file's scale is known once it is read: selected later
            keep = np.flatnonzero(piece.actual >= 0)
        else:  # selected here, on the reading thread
            piece.sel = _select_piece(piece, s.confidence_scale, ctx)
            keep = piece.sel["cand"]
        piece.cand_pos, piece.cand_ts = keep, t[rows[keep]]
        piece.cand_ids = ids.take(pa.array(keep))
        if ctx.candidate_features:
            piece.cand_feat = [v[keep] for v in feats]
            piece.cand_cat = np.stack([v[keep] for v in cats]) if cats else None
        return piece
    piece.kept = sub.take(pa.array(keep)) if len(keep) != len(rows) else sub
    piece.kept_row = rows[keep]
    return piece


def _select_piece(p: _Piece, scale: str, ctx: _Ctx) -> dict[str, Any]:
    """The selection rules (:mod:`ml_pipeline.datasets`) on one piece's window rows: indices
    (in the piece) of holdout, error and correct training rows (and every training row for
    the from-scratch set), the candidates (rows that may be selected) with their class codes
    and confidence, and the counts the figures need."""
    import numpy as np

    unit = p.conf / 100.0 if scale == "percent" else p.conf
    lab = p.actual >= 0
    right = p.pred == p.actual
    hold = lab & in_holdout(p.hash, ctx.holdout_cutoff)
    train = lab & ~hold
    err = train & is_error(p.pred, p.actual, unit, ctx.threshold)
    corr = train & right
    cand = np.flatnonzero(hold | train) if ctx.full else np.flatnonzero(hold | err | corr)
    return {
        "hold": np.flatnonzero(hold), "err": np.flatnonzero(err), "corr": np.flatnonzero(corr),
        "train": np.flatnonzero(train) if ctx.full else np.zeros(0, np.int64),
        "cand": cand, "pred": p.pred[cand], "act": p.actual[cand], "unit": unit[cand],
        "err_unit": unit[err], "err_act": p.actual[err], "corr_act": p.actual[corr],
        "labelled": int(lab.sum()), "right": int((lab & right).sum()),
    }


_AHEAD = 3  # tasks in flight per thread (_ordered_map)


def _ordered_map(fn: Any, items: list[Any]) -> list[Any]:
    """``[fn(x) for x in items]`` on a few threads (pyarrow releases the GIL); the first
    exception propagates. A few tasks per thread are submitted ahead, so that a thread that
    is done with a short task takes the next one while a long one ahead of it still runs;
    memory stays bounded (tasks are run in order, and only ``_AHEAD`` results wait)."""
    from concurrent.futures import ThreadPoolExecutor

    workers = _workers()
    if workers == 1 or len(items) < 2:
        return [fn(x) for x in items]
    out: list[Any] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ml_pipeline-read") as pool:
        pending: list[Any] = []
        nxt = 0
        try:
            while nxt < len(items) or pending:
                while nxt < len(items) and len(pending) < _AHEAD * workers:
                    pending.append(pool.submit(fn, items[nxt]))
                    nxt += 1
                out.append(pending.pop(0).result())
        finally:
            for f in pending:
                f.cancel()
    return out


def _release() -> None:
    """Give memory that pyarrow's allocator keeps for reuse back to the system (peak RSS)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _workers() -> int:
    import os

    return max(1, min(4, os.cpu_count() or 1))


def _narrow_columns(schema: LogSchema) -> list[str]:
    return [schema.columns[c] for c in LOGICAL_COLUMNS]


def _decay_columns(schema: LogSchema) -> list[str]:
    """What is read of the rows before the window (the decay check's counts)."""
    return [schema.columns[c] for c in ("created_at", "predicted_label", "actual_label")]
