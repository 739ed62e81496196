"""The fast reader: the common case (a clean log) read without pandas row work.

pyarrow parses only the needed columns with their types, plain CSV files in byte ranges on
several threads, Parquet only in the row groups whose statistics overlap the window (daily
files outside it are not even downloaded); each piece is cut to the window at once and
checked with vectorised rules that detect every problem the diagnostic reader reports.
Anything unusual (a problem, an unexpected type, an oddly shaped file) raises ``_Fallback``
and :mod:`ml_pipeline.log_diagnostic` reads the file again: it decides, and its messages and
results are the reference.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_pipeline.datasets import holdout_hash
from ml_pipeline.log_diagnostic import _arrow_types, _check_header, _timestamp_chain, csv_input, raw_text_options, with_raw_text
from ml_pipeline.log_schema import BATCH_BYTES, LOGICAL_COLUMNS, LogSchema, Window, _us, categorical_text, file_format

if TYPE_CHECKING:

    pass

log = logging.getLogger("ml_pipeline.data_loader")


# --------------------------------------------------------------------------- fast path
# The common case (a clean log) is read without pandas row work: pyarrow parses only the
# needed columns with their types, plain CSV files in byte ranges on several threads,
# Parquet only in the row groups whose statistics overlap the window; each piece is cut
# to the window at once and checked with vectorised rules that detect every problem the
# diagnostic path above reports. Anything unusual (a problem, an unexpected type, a
# compressed or oddly shaped file) raises ``_Fallback`` and the diagnostic path reads the
# file again: it decides, and its messages and results are the reference.
CSV_CHUNK_BYTES = 2 << 20
_PY_SPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())


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
    candidate_features: bool = True  # keep the candidates' features (False: a second pass reads them)
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
    cand_feat: Any = None  # numeric features, float64 array (n_numeric, n), unless read again later
    cand_cat: Any = None  # categorical features, object array (n_categorical, n) of str/None, or None
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
    text = _actual_text(col) if blank_is_null else _as_text(col)
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


def _process(batch: Any, ctx: _Ctx, *, features: bool) -> _Piece:
    """Cut one record batch to the window and check it; keep what ``ctx.keep`` asks for."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    s = ctx.schema
    ts = batch.column(s.columns["created_at"])
    if not pa.types.is_timestamp(ts.type) or ts.null_count:
        raise _Fallback
    t = ts.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
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
    if len(ids) and (pc.min(pc.utf8_length(pc.utf8_trim_whitespace(ids))).as_py() == 0
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
    if features:
        for f in s.categorical:
            cats.append(_as_category(sub.column(f)))
        for f in s.numeric:
            col = _as_float(sub.column(f))
            feats.append(col.to_numpy(zero_copy_only=False))
            if f in s.allow_missing:  # empty cells and NaN are kept (as NaN); inf is still an error
                if len(col) and np.isinf(feats[-1]).any():
                    raise _Fallback
            elif col.null_count or (len(col) and not np.isfinite(feats[-1]).all()):
                raise _Fallback
    h = holdout_hash(ids.to_numpy(zero_copy_only=False))
    piece = _Piece(rows=batch.num_rows, window_rows=len(rows), conf=conf, pred=codes[0], actual=codes[1], hash=h,
                   scan_rows=scan_rows, decay=decay)
    if ctx.keep == "all":
        keep = np.arange(len(rows))
    else:
        labelled = piece.actual >= 0
        scale = s.confidence_scale
        if scale == "auto" or ctx.full:
            keep = np.flatnonzero(labelled)
        else:
            unit = conf / 100.0 if scale == "percent" else conf
            train = labelled & ~((h % np.uint64(10_000)) < np.uint64(ctx.holdout_cutoff))
            low_error = train & (piece.pred != piece.actual) & ~(unit > ctx.threshold)
            keep = np.flatnonzero(labelled & ~low_error)
        piece.cand_pos, piece.cand_ts = keep, t[rows[keep]]
        piece.cand_ids = ids.take(pa.array(keep))
        if ctx.candidate_features:
            piece.cand_feat = np.stack([v[keep] for v in feats]) if feats else np.zeros((0, len(keep)))
            piece.cand_cat = np.stack([v[keep] for v in cats]) if cats else None
        return piece
    piece.kept = sub.take(pa.array(keep)) if len(keep) != len(rows) else sub
    piece.kept_row = rows[keep]
    return piece


def _csv_options(schema: LogSchema, ts_type: Any, names: list[str] | None, block: int,
                 columns: list[str] | None = None) -> tuple[Any, Any]:
    """Read and convert options of the typed fast path (``columns``: default every needed one)."""
    import pyarrow.csv as pacsv

    columns = schema.file_columns if columns is None else columns
    types = _arrow_types(schema, True, ts_type)
    ro = pacsv.ReadOptions(block_size=block, use_threads=False, column_names=names)
    co = pacsv.ConvertOptions(
        include_columns=columns, column_types={c: types[c] for c in columns},
        strings_can_be_null=True, quoted_strings_can_be_null=False,
    )
    return ro, co


def _csv_ranges(path: Path, size: int) -> list[tuple[int, int]]:
    """Byte ranges of about ``CSV_CHUNK_BYTES`` that start at the beginning of a line."""
    cuts = [0]
    with open(path, "rb") as fh:
        target = CSV_CHUNK_BYTES
        while target < size:
            fh.seek(target)
            while True:
                block = fh.read(1 << 16)
                if not block:
                    return list(pairwise([*cuts, size]))
                nl = block.find(b"\n")
                if nl >= 0:
                    cut = fh.tell() - len(block) + nl + 1
                    break
            if cut >= size:
                break
            cuts.append(cut)
            target = max(cut, target) + CSV_CHUNK_BYTES
    return list(pairwise([*cuts, size]))


def _ordered_map(fn: Any, items: list[Any]) -> list[Any]:
    """``[fn(x) for x in items]`` on a few threads (pyarrow releases the GIL), at most one task
    in flight per thread so that memory stays bounded; the first exception propagates."""
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
                while nxt < len(items) and len(pending) < workers:
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


def _csv_pieces(path: Path, fmt: str, ctx: _Ctx, display: str) -> tuple[list[_Piece], Any]:
    """Parse a CSV file (typed) into window-cut pieces, trying naive then aware timestamps.

    Returns the pieces and, when the candidates' features are left for a second pass
    (plain CSV), what that pass needs: ``(ranges, column names, timestamp type)``.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    for ts_type in _timestamp_chain():
        try:
            if fmt == "csv.gz":  # one stream: no byte ranges, no second pass
                ro, co = _csv_options(ctx.schema, ts_type, None, BATCH_BYTES)
                reader = pacsv.open_csv(csv_input(path, display, fmt, ctx.schema), read_options=ro, convert_options=co)
                raw_co = raw_text_options(ctx.schema, ctx.schema.file_columns, True)
                if raw_co is not None:  # categorical columns as written (a second stream, in step)
                    raw = pacsv.open_csv(csv_input(path, display, fmt, ctx.schema), read_options=ro, convert_options=raw_co)
                    reader = (with_raw_text(b, raw.read_next_batch()) for b in reader)
                return [_process(b, ctx, features=True) for b in reader if b.num_rows], None
            return _csv_parallel(path, ctx, ts_type)
        except pa.ArrowInvalid:
            continue
    raise _Fallback


def _csv_header(path: Path) -> list[str]:
    import pyarrow.csv as pacsv

    with open(path, "rb") as fh:
        reader = pacsv.open_csv(fh, read_options=pacsv.ReadOptions(block_size=1 << 16),
                                convert_options=pacsv.ConvertOptions(column_types={}, include_columns=[]))
        return list(reader.schema.names)


def _csv_range(path: Path, fd: int, spec: tuple[int, int, int], ctx: _Ctx, ts_type: Any, names: list[str],
               columns: list[str], *, skip_outside: bool = True) -> tuple[Any, Any]:
    """Byte range ``(index, start, end)`` as a table of ``columns``, and its row count. With
    ``skip_outside``, None when no row of it is in the window (then only its timestamps
    were converted, and checked)."""
    import os

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    i, a, b = spec
    raw = os.pread(fd, b - a, a)
    buf = pa.py_buffer(raw)
    ts_name = ctx.schema.columns["created_at"]

    def parse(cols: list[str]) -> Any:
        ro, co = _csv_options(ctx.schema, ts_type, names if i else None, len(buf) + 1, cols)
        table = pacsv.read_csv(buf, read_options=ro, convert_options=co)
        raw_co = raw_text_options(ctx.schema, cols, True)
        if raw_co is not None:  # categorical columns as written, not with pyarrow's null markers
            table = with_raw_text(table, pacsv.read_csv(buf, read_options=ro, convert_options=raw_co))
        return table

    start, scan_start, end = ctx.start, ctx.scan_start, ctx.end
    edges = _edge_times(raw, i == 0, ctx, ts_type, names) if start is not None and skip_outside else None
    if edges is not None and start is not None and end is not None and start <= edges[0] and edges[1] < end:
        # First and last line in the window, as in a log written in time order: parse at once
        # (_process still cuts every row to the window).
        table = parse(columns)
        return table, table.num_rows
    if edges is not None and start is not None and scan_start is not None and ctx.decay is not None and scan_start <= edges[0] and edges[1] < start:
        table = parse(_decay_columns(ctx.schema))  # the decay check's days: what it counts with
        t = table.column(ts_name)
        if t.null_count == 0 and not pc.any(pc.greater_equal(t.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()), start)).as_py():
            return table, table.num_rows
        table = parse(columns)  # a row of the window among them (not in time order)
        return table, table.num_rows
    if ctx.start is not None and skip_outside:
        ro, co = _csv_options(ctx.schema, ts_type, names if i else None, len(buf) + 1, [ts_name])
        ts = pacsv.read_csv(buf, read_options=ro, convert_options=co).column(0)
        if ts.null_count:
            raise _Fallback
        t = ts.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
        scanned = (t >= ctx.scan_start) & (t < ctx.end)
        if not scanned.any():
            return None, len(t)
        if ctx.decay is not None and not (t[scanned] >= ctx.start).any():
            columns = _decay_columns(ctx.schema)  # only the decay check's days: what it counts with
    table = parse(columns)
    return table, table.num_rows


def _edge_times(raw: bytes, header: bool, ctx: _Ctx, ts_type: Any, names: list[str]) -> tuple[int, int] | None:
    """The timestamps (us UTC, lower first) of a byte range's first and last data lines: a hint
    of where the range lies, None when they cannot be read that way. Only which columns are
    parsed first depends on it; every row is still cut to the window by its own timestamp."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not names:
        return None
    begin = raw.find(b"\n") + 1 if header else 0
    first_end = raw.find(b"\n", begin)
    last_begin = raw.rfind(b"\n", 0, len(raw) - 1) + 1
    if begin <= 0 and header or first_end < 0 or last_begin <= first_end:
        return None
    lines = raw[begin:first_end + 1] + raw[last_begin:].rstrip(b"\r\n") + b"\n"
    ro, co = _csv_options(ctx.schema, ts_type, names, len(lines) + 1, [ctx.schema.columns["created_at"]])
    try:
        ts = pacsv.read_csv(pa.py_buffer(lines), read_options=ro, convert_options=co).column(0)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if len(ts) != 2 or ts.null_count:
        return None
    t = ts.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    return int(t.min()), int(t.max())


def _csv_parallel(path: Path, ctx: _Ctx, ts_type: Any) -> tuple[list[_Piece], Any]:
    """Byte ranges parsed and processed on a few threads (pyarrow releases the GIL), in order.

    Timestamps first (one converted column): a range with no row in the window is not
    converted further; rows outside the window are only checked for their timestamps, as
    on the diagnostic path. Without ``ctx.candidate_features`` the features are not
    converted here at all (a second pass reads the ranges that hold selected rows).
    """
    import os

    ranges = _csv_ranges(path, path.stat().st_size)
    specs = [(i, a, b) for i, (a, b) in enumerate(ranges)]
    names = _csv_header(path) if len(ranges) > 1 else []
    narrow = not ctx.candidate_features and ctx.keep == "candidates"
    columns = _narrow_columns(ctx.schema) if narrow else ctx.schema.file_columns
    fd = os.open(path, os.O_RDONLY)

    def parse(spec: tuple[int, int, int]) -> list[_Piece]:
        table, n = _csv_range(path, fd, spec, ctx, ts_type, names, columns)
        if table is None:
            return [_Piece.empty(n)] if n else []
        pieces = [_process(batch, ctx, features=not narrow) for batch in table.to_batches() if batch.num_rows]
        del table
        for p in pieces:
            p.group = spec[0]
        _release()  # this thread's freed parse buffers
        return pieces

    try:
        pieces = [p for ps in _ordered_map(parse, specs) for p in ps]
    finally:
        os.close(fd)
    return pieces, ((specs, names, ts_type) if narrow else None)


def _parquet_plan(path: Path, ctx: _Ctx) -> tuple[Any, list[int], int, set[int]]:
    """The file, the row groups that may hold rows of the window (or of the decay check's days),
    the file's row count, and the row groups whose rows are all before the window."""
    import pyarrow as pa

    pf = _open_parquet(path, ctx)
    md = pf.metadata
    ts_name = ctx.schema.columns["created_at"]
    field_type = pf.schema_arrow.field(ts_name).type
    if not pa.types.is_timestamp(field_type):
        raise _Fallback
    j = pf.schema_arrow.get_field_index(ts_name)
    groups, before = [], set()
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        if rg.num_rows == 0:
            continue
        st = rg.column(j).statistics if ctx.start is not None else None
        if st is not None and st.has_min_max and st.has_null_count and st.null_count == 0 and st.physical_type == "INT64":
            assert ctx.scan_start is not None and ctx.end is not None  # statistics are read only with a window
            lo, hi = _raw_us(st.min_raw, field_type.unit, floor=True), _raw_us(st.max_raw, field_type.unit, floor=False)
            if hi < ctx.scan_start or lo >= ctx.end:
                continue  # every row is outside the window and has a valid timestamp
            if ctx.start is not None and hi < ctx.start:
                before.add(g)
        groups.append(g)
    return pf, groups, md.num_rows, before


def _open_parquet(path: Path, ctx: _Ctx) -> Any:
    """A ParquetFile with small read buffers (less memory); labels as dictionaries when only
    their class is needed (no text to build). One per thread."""
    import pyarrow.parquet as pq

    c = ctx.schema.columns
    labels = [c["predicted_label"], c["actual_label"]] if ctx.keep == "candidates" else None
    return pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20, read_dictionary=labels)


def _raw_us(value: int, unit: str, *, floor: bool) -> int:
    """A raw Parquet timestamp statistic in microseconds, rounded outwards (naive = UTC)."""
    if unit == "ns":
        return value // 1000 if floor else -(-value // 1000)
    return value * {"s": 1_000_000, "ms": 1_000, "us": 1}[unit]


def _parquet_batches(pf: Any, groups: list[int], columns: list[str]) -> Iterator[tuple[int, int, Any]]:
    """(row group, row number of the batch's first row, batch) for the given row groups."""
    md = pf.metadata
    starts = [0]
    for g in range(md.num_row_groups):
        starts.append(starts[-1] + md.row_group(g).num_rows)
    for g in groups:
        row0 = starts[g]
        for batch in pf.iter_batches(batch_size=65_536, row_groups=[g], columns=columns, use_threads=False):
            if batch.num_rows:
                yield g, row0, batch
            row0 += batch.num_rows


def _units(pieces: list[_Piece]) -> list[tuple[int, int, int]]:
    """(group, first window row, window rows) of each group that has window rows, in order."""
    spans: dict[int, list[int]] = {}
    win0 = 0
    for p in pieces:
        if p.window_rows:
            spans.setdefault(p.group, [win0, 0])[1] += p.window_rows
        win0 += p.window_rows
    return [(g, lo, n) for g, (lo, n) in spans.items()]


def _narrow_columns(schema: LogSchema) -> list[str]:
    return [schema.columns[c] for c in LOGICAL_COLUMNS]


def _decay_columns(schema: LogSchema) -> list[str]:
    """What is read of the rows before the window (the decay check's counts)."""
    return [schema.columns[c] for c in ("created_at", "predicted_label", "actual_label")]


@dataclass
class _FastFile:
    """A file read by the fast path: its window rows' narrow columns and how to get full rows."""

    display: str
    fmt: str
    rows_read: int
    pieces: list[_Piece]
    scale: str  # resolved confidence scale: "unit" or "percent"
    path: Path | None = None
    # The second pass, when the candidates' features were not kept: ("parquet", None, units)
    # or ("csv", (byte ranges, column names, timestamp type), units); a unit is
    # (row group or range index, its first window row, its window rows).
    second: Any = None

    @property
    def first_line(self) -> int:
        return 1 if self.fmt == "parquet" else 2

    @property
    def window_rows(self) -> int:
        return sum(p.window_rows for p in self.pieces)


def _fast_read(path: Path, display: str, schema: LogSchema, ctx: _Ctx) -> _FastFile:
    """Read one file on the fast path or raise ``_Fallback``. Header-level errors raise as usual."""
    import numpy as np
    import pyarrow as pa

    fmt = file_format(display)
    size = path.stat().st_size
    if size > schema.max_bytes:
        raise _Fallback  # the diagnostic path words the refusal
    _check_header(path, display, fmt, schema)
    second = None
    try:
        if fmt == "parquet":
            _pf, groups, rows_read, before = _parquet_plan(path, ctx)
            two_pass = ctx.keep == "candidates"
            cols = _narrow_columns(schema) if two_pass else schema.file_columns
            first = replace(ctx, candidate_features=False) if two_pass else ctx

            def read_group(g: int) -> list[_Piece]:
                out = []
                group_cols = _decay_columns(schema) if ctx.decay is not None and g in before else cols
                for _g, row0, batch in _parquet_batches(_open_parquet(path, ctx), [g], group_cols):
                    p = _process(batch, first, features=not two_pass)
                    p.row0, p.group = row0, g
                    out.append(p)
                return out

            pieces = [p for ps in _ordered_map(read_group, groups) for p in ps]
            if two_pass:
                second = ("parquet", None, _units(pieces))
        else:
            first = replace(ctx, candidate_features=False) if ctx.keep == "candidates" and fmt == "csv" else ctx
            pieces, csv_pass = _csv_pieces(path, fmt, first, display)
            rows_read = 0
            for p in pieces:
                p.row0, rows_read = rows_read, rows_read + p.rows
            if csv_pass is not None:
                second = ("csv", csv_pass, _units(pieces))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError, KeyError):
        raise _Fallback from None
    if rows_read == 0:
        raise _Fallback
    _release()
    hashes = np.concatenate([p.hash for p in pieces]) if pieces else np.zeros(0, np.uint64)
    hashes.sort()
    if len(hashes) > 1 and (hashes[1:] == hashes[:-1]).any():
        raise _Fallback  # a repeated prediction_id (or, once in 2**64, a hash collision)
    scale = schema.confidence_scale
    ranges = [(float(p.conf.min()), float(p.conf.max())) for p in pieces if len(p.conf)]
    if ranges:
        lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
        if scale == "auto":
            if 1 < hi <= 100 and lo >= 0:
                log.warning("confidence values go up to %.1f: reading them as percentages (confidence_scale: auto)", hi)
                scale = "percent"
            else:
                scale = "unit"
        top = 100 if scale == "percent" else 1
        if lo < 0 or hi > top:
            raise _Fallback
    elif scale == "auto":
        scale = "unit"
    return _FastFile(display, fmt, rows_read, pieces, scale, path, second)
