"""The diagnostic reader: reads a log file as raw as needed to report **every** problem of the
rows it reads, with line numbers (:class:`~ml_pipeline.log_schema.Problems`). The fast reader
(:mod:`ml_pipeline.log_reader`) hands a file here whenever it cannot vouch for it; this
reader's results and messages are the reference.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_pipeline.config import label_from_text
from ml_pipeline.log_schema import BATCH_BYTES, LOGICAL_COLUMNS, LogError, LogSchema, Problems, Window, categorical_text, file_format, shown

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


log = logging.getLogger("ml_pipeline.data_loader")


class _Inflated(io.RawIOBase):
    """A .csv.gz file's decompressed bytes, refused with a ``LogError`` as soon as they pass the
    size limit (a small file that inflates to gigabytes is never inflated into memory)."""

    def __init__(self, path: Path, display: str, limit: int) -> None:
        import gzip

        super().__init__()
        self._gz, self._display, self._limit, self._seen = gzip.open(path, "rb"), display, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._gz.readinto(buffer)
        self._seen += n
        if self._seen > self._limit:
            raise LogError(
                f"evaluation log '{self._display}' inflates to more than {self._limit:,} bytes, over the limit of "
                f"evaluation_log.max_bytes; split it into daily files (path ending in '/') or raise evaluation_log.max_bytes"
            )
        return n

    def close(self) -> None:
        self._gz.close()
        super().close()


def csv_input(path: Path, display: str, fmt: str, schema: LogSchema) -> Any:
    """What pyarrow's CSV reader reads: the file, or for .csv.gz its size-limited decompressed stream."""
    return _Inflated(path, display, schema.max_bytes) if fmt == "csv.gz" else path


def _arrow_types(schema: LogSchema, typed: bool, ts_type: Any) -> dict[str, Any]:
    import pyarrow as pa

    if not typed:
        return {name: pa.binary() for name in schema.file_columns}
    types = {schema.columns[c]: pa.string() for c in ("prediction_id", "predicted_label", "actual_label")}
    types[schema.columns["created_at"]] = ts_type
    types[schema.columns["confidence"]] = pa.float64()
    for f in schema.features:
        types[f] = pa.string() if f in schema.categorical else pa.float64()
    return types


def raw_text_options(schema: LogSchema, columns: list[str], typed: bool) -> Any:
    """Convert options that read the categorical ``columns`` again as written, or None.

    pyarrow's CSV reader makes ``NA``, ``null``, ``N/A``... null in every text column (what
    the labels rely on); a categorical value is kept as it is, so those columns are read a
    second time without null markers, and :func:`with_raw_text` puts them in. Only an empty
    cell is then missing (``categorical_text``), as in Parquet.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    cats = [c for c in columns if c in schema.categorical]
    if not cats:
        return None
    return pacsv.ConvertOptions(include_columns=cats, column_types={c: pa.string() if typed else pa.binary() for c in cats},
                                strings_can_be_null=False)


def with_raw_text(batch: Any, raw: Any) -> Any:
    """``batch`` (RecordBatch or Table) with its categorical columns from ``raw``, the same rows
    read by :func:`raw_text_options`."""
    import pyarrow as pa

    if raw.num_rows != batch.num_rows:  # the same bytes, the same rows: cannot happen
        raise pa.ArrowInvalid(f"categorical columns read {raw.num_rows} rows, the others {batch.num_rows}")
    for name in raw.column_names:
        batch = batch.set_column(batch.schema.get_field_index(name), name, raw.column(name))
    return batch


def _iter_csv(open_source: Any, schema: LogSchema, typed: bool, ts_type: Any) -> Iterator[pa.RecordBatch]:
    """Batches of the CSV file that ``open_source()`` opens (called twice with categorical features)."""
    import pyarrow.csv as pacsv

    ro = pacsv.ReadOptions(block_size=BATCH_BYTES)
    reader = pacsv.open_csv(
        open_source(),
        read_options=ro,
        convert_options=pacsv.ConvertOptions(
            include_columns=schema.file_columns,
            column_types=_arrow_types(schema, typed, ts_type),
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    raw_co = raw_text_options(schema, schema.file_columns, typed)
    if raw_co is None:
        yield from reader
        return
    raw = pacsv.open_csv(open_source(), read_options=ro, convert_options=raw_co)
    for batch in reader:
        yield with_raw_text(batch, raw.read_next_batch())


def _iter_parquet(path: Path, schema: LogSchema) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    yield from pf.iter_batches(batch_size=262_144, columns=schema.file_columns)


def _check_header(path: Path, display: str, fmt: str, schema: LogSchema) -> None:
    """Empty file, header only, missing columns: found before any row is parsed."""
    import pyarrow as pa

    if path.stat().st_size == 0:
        raise LogError(
            f"evaluation log '{display}' is empty (0 bytes); upload a file with a header and rows"
        )
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            md = pq.ParquetFile(path)
            names, n_rows = md.schema_arrow.names, md.metadata.num_rows
        else:
            import pyarrow.csv as pacsv

            reader = pacsv.open_csv(
                csv_input(path, display, fmt, schema),
                read_options=pacsv.ReadOptions(block_size=1 << 16),
                convert_options=pacsv.ConvertOptions(column_types={}, include_columns=[]),
            )
            names = reader.schema.names
            n_rows = None
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        raise LogError(
            f"evaluation log '{display}' cannot be read as {fmt}: {shown(str(exc), 200)}; check that the file is "
            f"a complete {fmt} file",
            f"evaluation log '{display}' cannot be read as {fmt}; check that the file is a complete {fmt} file",
        ) from None
    missing = [c for c in schema.file_columns if c not in names]
    if missing:
        pretty = ", ".join(schema.label(schema.logical_name(m)) for m in missing)
        raise LogError(
            f"evaluation log '{display}' is missing column(s) {pretty}; the file has "
            f"[{', '.join(shown(n) for n in names[:50])}]. Fix: add the column(s), or map your names under 'columns:' "
            "(and model.features) in model_config.yaml",
            f"evaluation log '{display}' is missing column(s) {pretty}. Fix: add the column(s), or map your names "
            "under 'columns:' (and model.features) in model_config.yaml",
        )
    if n_rows == 0:
        raise LogError(f"evaluation log '{display}' has a header but no rows")


def _timestamp_chain() -> list[Any]:
    import pyarrow as pa

    return [pa.timestamp("us"), pa.timestamp("us", tz="UTC")]


def _decode(series: pd.Series, logical: str, column: str, problems: Problems, rows: pd.Series) -> pd.Series:
    """Bytes -> str; rows that are not UTF-8 are reported (once) and become missing."""
    import pandas as pd

    def dec(b: Any) -> Any:
        if b is None or (isinstance(b, float) and b != b):
            return None
        if isinstance(b, str):
            return b
        try:
            return bytes(b).decode("utf-8")
        except UnicodeDecodeError:
            return _BAD

    out = series.map(dec)
    bad = out.map(lambda v: v is _BAD)
    if bad.any():
        problems.add(
            column, "must be UTF-8 text", "save the file as UTF-8 (a UTF-8 BOM is fine)",
            rows[bad], series[bad].map(lambda b: bytes(b)[:20]),
        )
        problems.reported.setdefault(logical, set()).update(int(r) for r in rows[bad])
        out = out.where(~bad, None)
    return out.astype("object").where(out.notna(), None) if len(out) else pd.Series([], dtype=object)


_BAD = object()


def _to_frame(batch: pa.RecordBatch, schema: LogSchema, first_line: int, problems: Problems, window: Window | None,
              checked_from: datetime | None = None) -> pd.DataFrame:
    """Normalise one batch to logical columns, cut it to the window, validate timestamps.

    Rows before ``checked_from`` (the decay check's days before the training window) keep
    only their timestamps and labels: their id, confidence and features are not read (None /
    NaN), so nothing is reported about them.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    n = batch.num_rows
    lines = np.arange(first_line, first_line + n, dtype=np.int64)
    ts_name = schema.columns["created_at"]
    ts = batch.column(ts_name)

    # Timestamps first: they decide which rows are kept at all.
    if pa.types.is_timestamp(ts.type):
        ts_utc = ts.cast(pa.timestamp("us", tz="UTC")) if ts.type.tz is None else ts.cast(pa.timestamp("us", tz="UTC"))
        ts_series = pd.Series(ts_utc.to_pandas(), copy=False)
        bad_ts = ts_series.isna().to_numpy()
        raw_ts = None
    else:
        if pa.types.is_binary(ts.type) or pa.types.is_large_binary(ts.type):
            raw = _decode(pd.Series(ts.to_pylist(), dtype=object), "created_at", schema.label("created_at"), problems, pd.Series(lines))
        else:
            raw = pd.Series(ts.to_pandas(), dtype=object)
        raw_ts = raw
        ts_series = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
        bad_ts = ts_series.isna().to_numpy()
    unreported = bad_ts & ~np.isin(lines, list(problems.reported.get("created_at", ())))
    if unreported.any():
        shown = raw_ts[unreported] if raw_ts is not None else pd.Series([None] * int(unreported.sum()))
        problems.add(
            schema.label("created_at"), "must be an ISO 8601 timestamp (naive = UTC)",
            "write timestamps like 2026-11-20T13:05:00Z or 2026-11-20 13:05:00",
            lines[unreported], shown,
        )
    keep = ~bad_ts
    if window is not None:
        tsv = ts_series.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
        start = np.datetime64(window.start.replace(tzinfo=None), "us")
        end = np.datetime64(window.end.replace(tzinfo=None), "us")
        keep &= (tsv >= start) & (tsv < end)
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        return pd.DataFrame()
    sub = batch.take(pa.array(idx))
    df = pd.DataFrame({"_line": lines[idx]})
    df["created_at"] = ts_series.iloc[idx].to_numpy()
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
    checked = np.ones(len(df), bool) if checked_from is None else (df["created_at"] >= pd.Timestamp(checked_from)).to_numpy()
    rows = np.flatnonzero(checked)
    part = sub if checked.all() else sub.take(pa.array(rows))
    part_lines = df["_line"].iloc[rows].reset_index(drop=True)

    def spread(values: Any, fill: Any, dtype: Any) -> Any:
        if checked.all():
            return np.asarray(values, dtype=dtype)
        out = np.full(len(df), fill, dtype=dtype)
        out[rows] = values
        return out

    for logical in ("prediction_id", "predicted_label", "actual_label"):
        src, lines_of = (part, part_lines) if logical == "prediction_id" else (sub, df["_line"])
        col = src.column(schema.columns[logical])
        if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
            s = _decode(pd.Series(col.to_pylist(), dtype=object), logical, schema.label(logical), problems, lines_of)
        else:
            s = pd.Series(col.cast(pa.string()).to_pylist() if not pa.types.is_string(col.type) else col.to_pandas(), dtype=object)
        df[logical] = spread(s.to_numpy(), None, object) if logical == "prediction_id" else s.to_numpy()
    for logical, name in [("confidence", schema.columns["confidence"])] + [(f, f) for f in schema.numeric]:
        col = part.column(name)
        if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
            df[logical] = spread(col.cast(pa.float64()).to_numpy(zero_copy_only=False), np.nan, float)
        else:
            if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
                s = _decode(pd.Series(col.to_pylist(), dtype=object), logical, schema.label(logical), problems, part_lines)
            else:
                s = pd.Series(col.cast(pa.string()).to_pylist(), dtype=object)
            num = pd.to_numeric(s.map(lambda v: v.strip() if isinstance(v, str) else v), errors="coerce")
            bad = num.isna() & s.map(lambda v: v is not None and str(v).strip().lower() not in ("", "nan"))
            if bad.any():
                problems.add(
                    schema.label(logical), "must be a number",
                    "remove text from this numeric column", part_lines[bad.to_numpy()], s[bad],
                )
                problems.reported.setdefault(logical, set()).update(part_lines[bad.to_numpy()].tolist())
            df[logical] = spread(num.to_numpy(dtype=float), np.nan, float)
    for f in schema.categorical:  # text kept as it is; only bytes that are not UTF-8 are a problem
        col = part.column(f)
        if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
            s = _decode(pd.Series(col.to_pylist(), dtype=object), f, schema.label(f), problems, part_lines)
            col = pa.array(s.tolist(), pa.string())
        df[f] = spread(pd.Series(categorical_text(col).to_pylist(), dtype=object).to_numpy(), None, object)
    return df


def _validate(df: pd.DataFrame, schema: LogSchema, problems: Problems, checked_from: datetime | None = None) -> pd.DataFrame:
    """Row-level rules on the rows that were read; returns df with confidence in 0..1.

    Rows before ``checked_from`` (the decay check's days) are checked for their labels only:
    the decay counts use nothing else of them (see :func:`_to_frame`).
    """
    import numpy as np
    import pandas as pd

    lines = df["_line"].to_numpy()
    checked = np.ones(len(df), bool) if checked_from is None else (df["created_at"] >= pd.Timestamp(checked_from)).to_numpy()

    def report(mask: Any, logical: str, rule: str, fix: str, values: Any) -> None:
        mask = np.array(mask, dtype=bool)
        if logical not in ("predicted_label", "actual_label"):
            mask &= checked
        if logical in problems.reported:  # already reported: not UTF-8, or not a number
            mask &= ~np.isin(lines, list(problems.reported[logical]))
        if mask.any():
            problems.add(schema.label(logical), rule, fix, lines[mask], np.asarray(values, dtype=object)[mask])

    pid = df["prediction_id"]
    empty_id = pid.isna() | (pid.astype("string").str.strip() == "").fillna(True)
    report(empty_id, "prediction_id", "must not be empty", "give every prediction a unique id", pid)
    dup = pid.where(checked).duplicated(keep=False) & ~empty_id & checked
    if dup.any():
        report(dup, "prediction_id", "must be unique", "remove duplicate rows or fix the ids", pid)

    classes = set(schema.classes)
    for col in ("predicted_label", "actual_label"):  # same label, other spelling: "1.0" for 1, "true" for True
        df[col] = df[col].map(lambda v: label_from_text(v, classes) if isinstance(v, str) else v)
    pred = df["predicted_label"]
    report(pred.isna(), "predicted_label", "must not be empty", "log the predicted class for every row", pred)
    report(pred.notna() & ~pred.isin(classes), "predicted_label",
           f"must be one of {sorted(classes)}", "fix the label or list it under model.classes", pred)
    actual = df["actual_label"].where(df["actual_label"].astype("string").str.strip() != "", None)
    df["actual_label"] = actual
    report(actual.notna() & ~actual.isin(classes), "actual_label",
           f"must be empty (not known yet) or one of {sorted(classes)}",
           "fix the label or list it under model.classes", actual)

    conf = df["confidence"].to_numpy(dtype=float)
    report(np.isnan(conf), "confidence", "must not be empty or NaN", "log a confidence for every prediction", conf)
    report(np.isinf(conf), "confidence", "must be finite", "replace inf values with the model's probability", conf)
    finite = np.isfinite(conf) & checked
    scale = schema.confidence_scale
    if scale == "auto" and finite.any():
        hi = conf[finite].max()
        if 1 < hi <= 100 and conf[finite].min() >= 0:
            log.warning("confidence values go up to %.1f: reading them as percentages (confidence_scale: auto)", hi)
            scale = "percent"
        else:
            scale = "unit"
    if scale == "percent":
        report(finite & ((conf < 0) | (conf > 100)), "confidence", "must be a number in [0, 100] (confidence_scale: percent)",
               "fix the values, or set confidence_scale: unit for probabilities in [0, 1]", conf)
        conf = conf / 100.0
    else:
        out = finite & ((conf < 0) | (conf > 1))
        looks_percent = out.any() and conf[finite].min() >= 0 and conf[finite].max() <= 100
        fix = (
            "these look like percentages: set evaluation_log.confidence_scale: percent in model_config.yaml"
            if looks_percent
            else "confidences are probabilities in [0, 1]; fix the values"
        )
        rule = "must be a number in [0, 1] (values look like percent)" if looks_percent else "must be a number in [0, 1]"
        report(out, "confidence", rule, fix, conf)
    df["confidence"] = conf

    for f in schema.numeric:  # categorical features: any text, or empty (missing)
        v = df[f].to_numpy(dtype=float)
        if f in schema.allow_missing:
            report(np.isinf(v), f, "must be a finite number or empty (allow_missing)", "replace inf values upstream before logging", v)
            continue
        report(~np.isfinite(v), f, "must be a finite number (no empty, NaN or inf)",
               "fill missing feature values upstream before logging, or list the feature under model.features.allow_missing", v)
    return df


def read_log_file(path: Path, display: str, schema: LogSchema, window: Window | None, problems: Problems,
                  checked_from: datetime | None = None) -> tuple[pd.DataFrame, int]:
    """Read one file: (rows inside ``window`` with logical columns, rows read). Problems are collected
    (for rows before ``checked_from``: timestamps and labels only)."""
    import pandas as pd
    import pyarrow as pa

    fmt = file_format(display)
    size = path.stat().st_size
    if size > schema.max_bytes:
        raise LogError(
            f"evaluation log '{display}' is {size:,} bytes, over the limit of {schema.max_bytes:,}; "
            "split it into daily files (path ending in '/') or raise evaluation_log.max_bytes"
        )
    _check_header(path, display, fmt, schema)
    # Fast path: parse while reading (naive, then aware timestamps). A file that does not
    # parse that way is read again as raw bytes, so that every problem can be reported.
    if fmt == "parquet":
        modes: list[tuple[bool, Any]] = [(False, None)]
    else:
        modes = [(True, t) for t in _timestamp_chain()] + [(False, None)]
    for typed, ts_type in modes:
        attempt = Problems(display)
        frames, line, rows_read = [], 1 if fmt == "parquet" else 2, 0
        try:
            batches = _iter_parquet(path, schema) if fmt == "parquet" else _iter_csv(lambda: csv_input(path, display, fmt, schema), schema, typed, ts_type)
            for batch in batches:
                frames.append(_to_frame(batch, schema, line, attempt, window, checked_from))
                line += batch.num_rows
                rows_read += batch.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            if typed:
                continue
            raise LogError(
                f"evaluation log '{display}' cannot be parsed as {fmt}: {shown(str(exc), 200)}; check quoting and "
                "the number of fields per line",
                f"evaluation log '{display}' cannot be parsed as {fmt}; check quoting and the number of fields per line",
            ) from None
        break
    problems.merge(attempt)
    if rows_read == 0:
        raise LogError(f"evaluation log '{display}' has a header but no rows")
    frames = [f for f in frames if len(f)]
    cols = ["_line", "created_at", *LOGICAL_COLUMNS[:1], "predicted_label", "actual_label", "confidence", *schema.features]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({c: [] for c in cols})
    return df, rows_read
