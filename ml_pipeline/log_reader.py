"""The fast reader: the common case (a clean log) read without pandas row work.

pyarrow parses only the needed columns with their types, plain CSV files in byte ranges on
several threads, Parquet only in the row groups whose statistics overlap the window (daily
files outside it are not even downloaded); each piece is cut to the window at once and
checked with vectorised rules that detect every problem the diagnostic reader reports
(:mod:`ml_pipeline.log_batch`).
Anything unusual (a problem, an unexpected type, an oddly shaped file) raises ``_Fallback``
and :mod:`ml_pipeline.log_diagnostic` reads the file again: it decides, and its messages and
results are the reference.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from ml_pipeline.log_batch import _Ctx, _decay_columns, _Fallback, _narrow_columns, _ordered_map, _Piece, _process, _release, _us_values
from ml_pipeline.log_diagnostic import _arrow_types, _check_header, _timestamp_chain, csv_input, raw_text_options, with_raw_text
from ml_pipeline.log_schema import BATCH_BYTES, LogSchema, file_format

log = logging.getLogger("ml_pipeline.data_loader")


CSV_CHUNK_BYTES = 2 << 20
_BUFFERS = threading.local()  # each reading thread's buffer (_range_bytes)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


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


def _csv_pieces(path: Path, fmt: str, ctx: _Ctx, display: str) -> list[_Piece]:
    """Parse a CSV file (typed) into window-cut pieces, trying naive then aware timestamps."""
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
                return [_process(b, ctx) for b in reader if b.num_rows]
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


def _csv_range(fd: int, spec: tuple[int, int, int], ctx: _Ctx, ts_type: Any, names: list[str],
               columns: list[str]) -> tuple[Any, Any]:
    """Byte range ``(index, start, end)`` as a table of ``columns`` (or of what the decay check
    counts with, for a range of the days before the window), and its row count; None when no
    row of it is in the window (then only its timestamps were converted, and checked)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    i, a, b = spec
    raw = _range_bytes(fd, a, b)
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
    edges = _edge_times(raw, i == 0, ctx, names) if start is not None else None
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
    if ctx.start is not None:
        ro, co = _csv_options(ctx.schema, ts_type, names if i else None, len(buf) + 1, [ts_name])
        ts = pacsv.read_csv(buf, read_options=ro, convert_options=co).column(0)
        if ts.null_count:
            raise _Fallback
        t = _us_values(ts)
        scanned = (t >= ctx.scan_start) & (t < ctx.end)
        if not scanned.any():
            return None, len(t)
        if ctx.decay is not None and not (t[scanned] >= ctx.start).any():
            columns = _decay_columns(ctx.schema)  # only the decay check's days: what it counts with
    table = parse(columns)
    return table, table.num_rows


def _range_bytes(fd: int, a: int, b: int) -> memoryview:
    """Bytes ``a:b`` of the file, in this thread's reusable buffer (valid until its next call).

    A fresh 2 MiB ``bytes`` per range would be a fresh mmap each time (the job fixes glibc's
    mmap threshold): about 0.8 s of page faults per GB read. pyarrow's CSV reader copies what
    it parses, so its tables never point into this buffer. ``_Fallback`` on a short read
    (the file changed while it was read)."""
    import os

    buf = getattr(_BUFFERS, "buf", None)
    if buf is None or len(buf) < b - a:
        buf = _BUFFERS.buf = bytearray(max(b - a, CSV_CHUNK_BYTES + (1 << 16)))
    view = memoryview(buf)[: b - a]
    if os.preadv(fd, [view], a) != b - a:
        raise _Fallback
    return view


def _edge_times(raw: memoryview, header: bool, ctx: _Ctx, names: list[str]) -> tuple[int, int] | None:
    """The timestamps (us UTC, lower first) of a byte range's first and last data lines: a hint
    of where the range lies, None when they cannot be read that way. Only which columns are
    parsed first depends on it; every row is still cut to the window by its own timestamp,
    parsed by pyarrow."""
    import csv

    head = bytes(raw[: 1 << 16])
    if header:
        names = next(csv.reader([head[: head.find(b"\n") + 1].decode("utf-8", "replace")]), [])
    ts_name = ctx.schema.columns["created_at"]
    if ts_name not in names:
        return None
    begin = head.find(b"\n") + 1 if header else 0
    first_end = head.find(b"\n", begin)
    tail = bytes(raw[-(1 << 16):]).rstrip(b"\r\n")
    last_begin = tail.rfind(b"\n") + 1
    if header and begin <= 0 or first_end < 0 or last_begin <= 0:
        return None
    j, out = names.index(ts_name), []
    for line in (head[begin:first_end], tail[last_begin:]):
        try:
            text = next(csv.reader([line.decode("utf-8")]))[j]
            t = datetime.fromisoformat(text.strip())
        except (ValueError, IndexError, StopIteration):
            return None
        t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
        out.append((t - _EPOCH) // _ONE_US)
    return min(out), max(out)


def _csv_parallel(path: Path, ctx: _Ctx, ts_type: Any) -> list[_Piece]:
    """Byte ranges parsed and processed on a few threads (pyarrow releases the GIL), in order.

    Timestamps first (one converted column) unless the range's first and last lines say
    where it lies: a range with no row in the window is not converted further (rows outside
    the window are only checked for their timestamps, as on the diagnostic path), a range of
    the decay check's days only for what the counts use. One pass: the window's ranges are
    converted whole, and the candidates' features kept (``_process``).
    """
    import os

    ranges = _csv_ranges(path, path.stat().st_size)
    specs = [(i, a, b) for i, (a, b) in enumerate(ranges)]
    names = _csv_header(path) if len(ranges) > 1 else []
    fd = os.open(path, os.O_RDONLY)

    def parse(spec: tuple[int, int, int]) -> list[_Piece]:
        table, n = _csv_range(fd, spec, ctx, ts_type, names, ctx.schema.file_columns)
        if table is None:
            return [_Piece.empty(n)] if n else []
        pieces = [_process(batch, ctx) for batch in table.to_batches() if batch.num_rows]
        del table
        _release()  # this thread's freed parse buffers
        return pieces

    try:
        return [p for ps in _ordered_map(parse, specs) for p in ps]
    finally:
        os.close(fd)
        _BUFFERS.__dict__.pop("buf", None)  # this thread's (the pool's threads have ended)


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


@dataclass
class _FastFile:
    """A file read by the fast path: its window rows' narrow columns and how to get full rows."""

    display: str
    fmt: str
    rows_read: int
    pieces: list[_Piece]
    scale: str  # resolved confidence scale: "unit" or "percent"
    path: Path | None = None
    # The second pass, when the candidates' features were not kept (Parquet): the units,
    # (row group, its first window row, its window rows) of each row group with window rows.
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
                    p = _process(batch, first)
                    p.row0, p.group = row0, g
                    out.append(p)
                return out

            pieces = [p for ps in _ordered_map(read_group, groups) for p in ps]
            if two_pass:
                second = _units(pieces)
        else:
            pieces = _csv_pieces(path, fmt, ctx, display)
            rows_read = 0
            for p in pieces:
                p.row0, rows_read = rows_read, rows_read + p.rows
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
