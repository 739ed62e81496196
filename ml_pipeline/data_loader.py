"""Read and validate the evaluation log; select errors; build the training datasets.

The evaluation log has one row per prediction whose outcome may now be known. Its
columns are mapped from the user's names by ``columns:`` in model_config.yaml to the
logical names used here: ``prediction_id``, ``created_at``, ``predicted_label``,
``actual_label`` (empty = not known yet, never an error), ``confidence`` (0..1, or
0..100 with ``evaluation_log.confidence_scale: percent``), plus the model's features.

Formats: CSV, CSV.gz and Parquet; one object (``evaluation_log.csv``) or, when the
configured path ends in ``/``, daily files ``YYYY-MM-DD.csv|.csv.gz|.parquet`` of which
only the days inside the window are read. Naive timestamps are UTC.

Reading is columnar and streamed (pyarrow): only the needed columns are parsed, and
batches are cut to the time window as they arrive. Validation collects **every**
problem of the rows it reads and raises one :class:`EvaluationLogError`.

The time window of a run ending at ``as_of`` is ``as_of - lookback_days <= created_at < as_of``.
An error is a labelled row with ``predicted_label != actual_label`` and
``confidence > confidence_threshold`` (strictly).
"""

from __future__ import annotations

import io
import logging
import re
import tempfile
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional, Tuple

from ml_pipeline.config import (
    DEFAULT_LOOKBACK_DAYS,
    ERROR_CONFIDENCE_THRESHOLD,
    MIN_ERROR_SAMPLES_FOR_RETRAINING,
)
from ml_pipeline.datasets import (
    confidence_bands,
    holdout_cutoff,
    holdout_hash,
    in_holdout,
    is_error,
    replay_count,
    replay_draw,
)
from ml_pipeline.errors import EvaluationLogError, PipelineError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from ml_pipeline.config import Settings
    from ml_pipeline.store import Store

log = logging.getLogger(__name__)

LOGICAL_COLUMNS = ("prediction_id", "created_at", "predicted_label", "actual_label", "confidence")
DAILY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(csv|csv\.gz|parquet)$")
MAX_EXAMPLES = 5
MAX_VALUE_CHARS = 40  # of a cell value quoted in a message
BATCH_BYTES = 16 << 20


# --------------------------------------------------------------------------- problems
@dataclass
class _Problem:
    column: str
    rule: str
    fix: str
    count: int = 0
    examples: list[tuple[int, Any]] = field(default_factory=list)


class Problems:
    """Collects every validation problem, keyed by (column, rule), with a few examples."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._items: dict[tuple[str, str], _Problem] = {}
        self.reported: dict[str, set[int]] = {}  # lines already reported per logical column (not UTF-8, not a number)

    def add(self, column: str, rule: str, fix: str, rows: Any = (), values: Any = (), count: int | None = None) -> None:
        """Record ``count`` offending rows (``rows``: 1-based line numbers, ``values``: the data)."""
        rows, values = list(rows), list(values)
        p = self._items.setdefault((column, rule), _Problem(column, rule, fix))
        p.count += len(rows) if count is None else count
        for r, v in zip(rows, values):
            if len(p.examples) >= MAX_EXAMPLES:
                break
            p.examples.append((int(r), v))

    def merge(self, other: "Problems") -> None:
        """Add another collector's problems to this one."""
        for key, p in other._items.items():
            mine = self._items.setdefault(key, _Problem(p.column, p.rule, p.fix))
            mine.count += p.count
            mine.examples = (mine.examples + p.examples)[:MAX_EXAMPLES]
        for col, lines in other.reported.items():
            self.reported.setdefault(col, set()).update(lines)

    def __bool__(self) -> bool:
        return bool(self._items)

    def message(self, *, values: bool = True) -> str:
        """One message listing every problem with examples and the fix.

        ``values=False``: the lines of the examples without the cell values (what may be
        stored in a run's ``error_message`` and so end up in issue comments); with values,
        each is cut to :data:`MAX_VALUE_CHARS` characters with control characters escaped.
        """
        lines = [f"evaluation log '{self.source}' has {len(self._items)} problem(s):"]
        for p in self._items.values():
            line = f"  - column {p.column} {p.rule}"
            if p.count:
                line += f"; {p.count} row(s) are not"
            if p.examples and values:
                line += " (" + ", ".join(f"line {r}: {shown(v)}" for r, v in p.examples) + ")"
            elif p.examples:
                line += " (line " + ", ".join(str(r) for r, _v in p.examples) + ")"
            lines.append(f"{line}. Fix: {p.fix}")
        return "\n".join(lines)


def shown(value: Any, limit: int = 0) -> str:
    """A log value for a message: its repr (control characters escaped), cut to ``limit``
    (default :data:`MAX_VALUE_CHARS`) characters of the value."""
    limit = limit or MAX_VALUE_CHARS
    if isinstance(value, (str, bytes)) and len(value) > limit:
        return repr(value[:limit]) + "..."
    text = repr(value)
    return text if len(text) <= limit + 3 else text[:limit] + "..."


class LogError(EvaluationLogError):
    """An :class:`EvaluationLogError` that also has a form without cell values (``public``),
    which the job records as the run's ``error_message``."""

    def __init__(self, message: str, public: str | None = None) -> None:
        super().__init__(message)
        self.public = message if public is None else public


def public_message(exc: BaseException) -> str:
    """What may be stored and shown outside the run log: ``LogError.public``, else ``describe``."""
    from ml_pipeline.errors import describe

    return exc.public if isinstance(exc, LogError) else describe(exc)


# --------------------------------------------------------------------------- columns
@dataclass(frozen=True)
class LogSchema:
    """Logical-to-file column names, features, classes and the confidence scale."""

    columns: dict[str, str]
    features: tuple[str, ...]
    classes: tuple[str, ...]
    confidence_scale: str = "unit"
    max_bytes: int = 2_000_000_000

    @classmethod
    def from_model_config(cls, model: Any) -> "LogSchema":
        """Build from a validated ``ModelConfig``."""
        return cls(
            columns=dict(model.columns.model_dump()),
            features=tuple(model.model.features.numeric),
            classes=tuple(model.model.classes),
            confidence_scale=model.evaluation_log.confidence_scale,
            max_bytes=model.evaluation_log.max_bytes,
        )

    @property
    def file_columns(self) -> list[str]:
        """Every column to read from the file, in file names."""
        return [self.columns[c] for c in LOGICAL_COLUMNS] + list(self.features)

    def logical_name(self, file_name: str) -> str:
        """Map a file column name back to the logical one (features keep their names)."""
        for logical, name in self.columns.items():
            if name == file_name:
                return logical
        return file_name

    def label(self, logical: str) -> str:
        """How a column is named in messages: ``confidence_score`` (confidence)."""
        name = self.columns.get(logical, logical)
        return f"'{name}'" if name == logical else f"'{name}' (mapped as '{logical}')"


# --------------------------------------------------------------------------- window
@dataclass(frozen=True)
class Window:
    """``start <= created_at < end``, timezone-aware UTC."""

    start: datetime
    end: datetime

    @classmethod
    def ending_at(cls, as_of: datetime, days: int) -> "Window":
        """The ``days`` before ``as_of``."""
        as_of = ensure_utc(as_of)
        return cls(as_of - timedelta(days=days), as_of)

    def days(self) -> list[date]:
        """UTC calendar days that overlap the window."""
        d, out = self.start.date(), []
        while d <= (self.end - timedelta(microseconds=1)).date():
            out.append(d)
            d += timedelta(days=1)
        return out


def ensure_utc(ts: datetime) -> datetime:
    """Naive datetimes are UTC; aware ones are converted to UTC."""
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def parse_as_of(text: str | None) -> datetime:
    """Parse ``--as-of`` (ISO 8601 date or timestamp; naive = UTC); None = now."""
    if not text:
        return datetime.now(timezone.utc)
    try:
        return ensure_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        from ml_pipeline.errors import ConfigError

        raise ConfigError(
            f"--as-of {text!r} is not an ISO 8601 timestamp; use e.g. 2026-11-20T02:00:00Z"
        ) from None


# --------------------------------------------------------------------------- reading
def file_format(name: str) -> str:
    """``csv``, ``csv.gz`` or ``parquet`` from a file name; ``EvaluationLogError`` otherwise."""
    low = name.lower()
    for suffix in (".csv.gz", ".csv", ".parquet"):
        if low.endswith(suffix):
            return suffix[1:]
    raise LogError(
        f"evaluation log '{name}' has an unknown file type; use .csv, .csv.gz or .parquet "
        "(set evaluation_log.path in model_config.yaml)"
    )


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
        types[f] = pa.float64()
    return types


def _iter_csv(source: Any, schema: LogSchema, typed: bool, ts_type: Any) -> Iterator["pa.RecordBatch"]:
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(block_size=BATCH_BYTES),
        convert_options=pacsv.ConvertOptions(
            include_columns=schema.file_columns,
            column_types=_arrow_types(schema, typed, ts_type),
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    yield from reader


def _iter_parquet(path: Path, schema: LogSchema) -> Iterator["pa.RecordBatch"]:
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


def _decode(series: "pd.Series", logical: str, column: str, problems: Problems, rows: "pd.Series") -> "pd.Series":
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


def _to_frame(batch: "pa.RecordBatch", schema: LogSchema, first_line: int, problems: Problems, window: Window | None) -> "pd.DataFrame":
    """Normalise one batch to logical columns, cut it to the window, validate timestamps."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

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
    for logical in ("prediction_id", "predicted_label", "actual_label"):
        col = sub.column(schema.columns[logical])
        if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
            s = _decode(pd.Series(col.to_pylist(), dtype=object), logical, schema.label(logical), problems, df["_line"])
        else:
            s = pd.Series(col.cast(pa.string()).to_pylist() if not pa.types.is_string(col.type) else col.to_pandas(), dtype=object)
        df[logical] = s.to_numpy()
    for logical, name in [("confidence", schema.columns["confidence"])] + [(f, f) for f in schema.features]:
        col = sub.column(name)
        if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
            df[logical] = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
        else:
            if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
                s = _decode(pd.Series(col.to_pylist(), dtype=object), logical, schema.label(logical), problems, df["_line"])
            else:
                s = pd.Series(col.cast(pa.string()).to_pylist(), dtype=object)
            num = pd.to_numeric(s.map(lambda v: v.strip() if isinstance(v, str) else v), errors="coerce")
            bad = num.isna() & s.map(lambda v: v is not None and str(v).strip().lower() not in ("", "nan"))
            if bad.any():
                problems.add(
                    schema.label(logical), "must be a number",
                    "remove text from this numeric column", df["_line"][bad.to_numpy()], s[bad],
                )
                problems.reported.setdefault(logical, set()).update(df["_line"][bad.to_numpy()].tolist())
            df[logical] = num.to_numpy(dtype=float)
    return df


def _validate(df: "pd.DataFrame", schema: LogSchema, problems: Problems) -> "pd.DataFrame":
    """Row-level rules on the rows that were read; returns df with confidence in 0..1."""
    import numpy as np
    import pandas as pd

    lines = df["_line"].to_numpy()

    def report(mask: Any, logical: str, rule: str, fix: str, values: Any) -> None:
        mask = np.array(mask, dtype=bool)
        if logical in problems.reported:  # already reported: not UTF-8, or not a number
            mask &= ~np.isin(lines, list(problems.reported[logical]))
        if mask.any():
            problems.add(schema.label(logical), rule, fix, lines[mask], np.asarray(values, dtype=object)[mask])

    pid = df["prediction_id"]
    empty_id = pid.isna() | (pid.astype("string").str.strip() == "").fillna(True)
    report(empty_id, "prediction_id", "must not be empty", "give every prediction a unique id", pid)
    dup = pid.duplicated(keep=False) & ~empty_id
    if dup.any():
        report(dup, "prediction_id", "must be unique", "remove duplicate rows or fix the ids", pid)

    classes = set(schema.classes)
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
    finite = np.isfinite(conf)
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

    for f in schema.features:
        v = df[f].to_numpy(dtype=float)
        report(~np.isfinite(v), f, "must be a finite number (no empty, NaN or inf)",
               "fill missing feature values upstream before logging", v)
    return df


def read_log_file(path: Path, display: str, schema: LogSchema, window: Window | None, problems: Problems) -> tuple["pd.DataFrame", int]:
    """Read one file: (rows inside ``window`` with logical columns, rows read). Problems are collected."""
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
            batches = _iter_parquet(path, schema) if fmt == "parquet" else _iter_csv(csv_input(path, display, fmt, schema), schema, typed, ts_type)
            for batch in batches:
                frames.append(_to_frame(batch, schema, line, attempt, window))
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
    # The decay check: rows from ``scan_start`` (before the window) are read and validated too,
    # and counted per period; ``decay`` = (reference start, recent start), microseconds UTC.
    scan: Window | None = None
    decay: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        w = self.window
        self.start = _us(w.start) if w else None
        self.end = _us(w.end) if w else None
        self.scan_start = _us(self.scan.start) if self.scan is not None else self.start


def _us(ts: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact, no float rounding)."""
    delta = ensure_utc(ts) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


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
    cand_feat: Any = None  # features, float64 array (n_features, n), unless read again later
    # rows read before the window for the decay check (ctx.scan): their hashes (duplicate
    # check), confidence range, and labelled / correct counts per period
    scan_rows: int = 0
    extra_hash: Any = None
    extra_conf: tuple[float, float] | None = None
    decay: tuple[int, int, int, int] = (0, 0, 0, 0)

    @classmethod
    def empty(cls, rows: int) -> "_Piece":
        """``rows`` parsed rows, none of them in the window."""
        import numpy as np

        return cls(rows, 0, np.zeros(0), np.zeros(0, np.int8), np.zeros(0, np.int8), np.zeros(0, np.uint64))


def _as_float(col: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
        return col.cast(pa.float64())
    raise _Fallback


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
        raise _Fallback
    return codes


def _process(batch: Any, ctx: _Ctx, *, features: bool) -> _Piece:
    """Cut one record batch to the window and check it; keep what ``ctx.keep`` asks for."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    s = ctx.schema
    ts = batch.column(s.columns["created_at"])
    if not pa.types.is_timestamp(ts.type) or ts.null_count:
        raise _Fallback
    t = ts.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    rows = np.arange(batch.num_rows) if ctx.start is None else np.flatnonzero((t >= ctx.scan_start) & (t < ctx.end))
    sub = batch.take(pa.array(rows)) if len(rows) != batch.num_rows else batch

    ids = _as_text(sub.column(s.columns["prediction_id"]))
    if ids.null_count:
        raise _Fallback
    if len(ids) and (pc.min(pc.utf8_length(pc.utf8_trim_whitespace(ids))).as_py() == 0
                     or pc.min(pc.utf8_length(pc.utf8_trim(ids, _PY_SPACE))).as_py() == 0):
        raise _Fallback
    classes = pa.array(s.classes, pa.string())
    pred = _label_codes(sub.column(s.columns["predicted_label"]), classes, blank_is_null=False)
    if pred.null_count:
        raise _Fallback
    actual = _label_codes(sub.column(s.columns["actual_label"]), classes, blank_is_null=True)
    conf_col = _as_float(sub.column(s.columns["confidence"]))
    if conf_col.null_count:
        raise _Fallback
    conf = conf_col.to_numpy()
    if len(conf) and not np.isfinite(conf).all():
        raise _Fallback
    feats = []
    if features:
        for f in s.features:
            col = _as_float(sub.column(f))
            feats.append(col.to_numpy(zero_copy_only=False))
            if col.null_count or (len(col) and not np.isfinite(feats[-1]).all()):
                raise _Fallback
    h = holdout_hash(ids.to_numpy(zero_copy_only=False))
    pred_i, act_i = pred.to_numpy().astype(np.int8), actual.fill_null(-1).to_numpy().astype(np.int8)
    extra = None
    if ctx.decay is not None and len(rows):
        ts_rows = t[rows]
        labelled, right = act_i >= 0, pred_i == act_i
        ref0, recent0 = ctx.decay
        ref, recent = labelled & (ts_rows >= ref0) & (ts_rows < recent0), labelled & (ts_rows >= recent0)
        decay = (int(ref.sum()), int((ref & right).sum()), int(recent.sum()), int((recent & right).sum()))
        if ctx.scan_start != ctx.start:
            inside = ts_rows >= ctx.start
            if not inside.all():
                extra = np.flatnonzero(~inside)
    if extra is not None:
        inside_idx = np.flatnonzero(inside)
        scan_rows, extra_hash = len(rows), h[extra]
        extra_conf = (float(conf[extra].min()), float(conf[extra].max()))
        rows, sub, ids = rows[inside_idx], sub.take(pa.array(inside_idx)), ids.take(pa.array(inside_idx))
        conf, h, pred_i, act_i = conf[inside_idx], h[inside_idx], pred_i[inside_idx], act_i[inside_idx]
        feats = [v[inside_idx] for v in feats]
    else:
        scan_rows, extra_hash, extra_conf = len(rows), None, None
    piece = _Piece(rows=batch.num_rows, window_rows=len(rows), conf=conf, pred=pred_i, actual=act_i, hash=h,
                   scan_rows=scan_rows, extra_hash=extra_hash, extra_conf=extra_conf)
    if ctx.decay is not None and scan_rows:
        piece.decay = decay
    if not len(rows):
        return piece
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
                    return [(a, b) for a, b in zip(cuts, cuts[1:] + [size])]
                nl = block.find(b"\n")
                if nl >= 0:
                    cut = fh.tell() - len(block) + nl + 1
                    break
            if cut >= size:
                break
            cuts.append(cut)
            target = max(cut, target) + CSV_CHUNK_BYTES
    return [(a, b) for a, b in zip(cuts, cuts[1:] + [size])]


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
    import pyarrow.csv as pacsv

    i, a, b = spec
    buf = pa.py_buffer(os.pread(fd, b - a, a))
    ts_name = ctx.schema.columns["created_at"]
    if ctx.start is not None and skip_outside:
        ro, co = _csv_options(ctx.schema, ts_type, names if i else None, len(buf) + 1, [ts_name])
        ts = pacsv.read_csv(buf, read_options=ro, convert_options=co).column(0)
        if ts.null_count:
            raise _Fallback
        t = ts.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
        if not ((t >= ctx.scan_start) & (t < ctx.end)).any():
            return None, len(t)
    ro, co = _csv_options(ctx.schema, ts_type, names if i else None, len(buf) + 1, columns)
    table = pacsv.read_csv(buf, read_options=ro, convert_options=co)
    return table, table.num_rows


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


def _parquet_plan(path: Path, ctx: _Ctx) -> tuple[Any, list[int], int]:
    """The file, the row groups that may hold rows of the window, and the file's row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = _open_parquet(path, ctx)
    md = pf.metadata
    ts_name = ctx.schema.columns["created_at"]
    field_type = pf.schema_arrow.field(ts_name).type
    if not pa.types.is_timestamp(field_type):
        raise _Fallback
    j = pf.schema_arrow.get_field_index(ts_name)
    groups = []
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        if rg.num_rows == 0:
            continue
        st = rg.column(j).statistics if ctx.start is not None else None
        if st is not None and st.has_min_max and st.has_null_count and st.null_count == 0 and st.physical_type == "INT64":
            lo, hi = _raw_us(st.min_raw, field_type.unit, floor=True), _raw_us(st.max_raw, field_type.unit, floor=False)
            if hi < ctx.scan_start or lo >= ctx.end:
                continue  # every row is outside the window and has a valid timestamp
        groups.append(g)
    return pf, groups, md.num_rows


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
        if p.scan_rows:  # rows before the window are read again too: their features are checked
            spans.setdefault(p.group, [win0, 0])[1] += p.window_rows
        win0 += p.window_rows
    return [(g, lo, n) for g, (lo, n) in spans.items()]


def _narrow_columns(schema: LogSchema) -> list[str]:
    return [schema.columns[c] for c in LOGICAL_COLUMNS]


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
            _pf, groups, rows_read = _parquet_plan(path, ctx)
            two_pass = ctx.keep == "candidates"
            cols = _narrow_columns(schema) if two_pass else schema.file_columns
            first = replace(ctx, candidate_features=False) if two_pass else ctx

            def read_group(g: int) -> list[_Piece]:
                out = []
                for _g, row0, batch in _parquet_batches(_open_parquet(path, ctx), [g], cols):
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
    hashes = np.concatenate([p.hash for p in pieces] + [p.extra_hash for p in pieces if p.extra_hash is not None]) if pieces else np.zeros(0, np.uint64)
    hashes.sort()
    if len(hashes) > 1 and (hashes[1:] == hashes[:-1]).any():
        raise _Fallback  # a repeated prediction_id (or, once in 2**64, a hash collision)
    scale = schema.confidence_scale
    ranges = [(float(p.conf.min()), float(p.conf.max())) for p in pieces if len(p.conf)]
    ranges += [p.extra_conf for p in pieces if p.extra_conf is not None]
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


def _logical_table(kept: Any, lines: Any, schema: LogSchema, scale: str) -> Any:
    """Kept rows (file names) as the reference frame's columns, confidence in 0..1.

    ``lines=None`` leaves out ``_line``. Columns that need no conversion are not copied.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    c = schema.columns
    conf = _as_float(kept.column(c["confidence"]))
    cols = {} if lines is None else {"_line": pa.array(lines, pa.int64())}
    cols.update({
        "created_at": kept.column(c["created_at"]).cast(pa.timestamp("us", tz="UTC")),
        "prediction_id": _as_text(kept.column(c["prediction_id"])),
        "predicted_label": _as_text(kept.column(c["predicted_label"])),
        "actual_label": _actual_text(kept.column(c["actual_label"])),
        "confidence": pc.divide(conf, 100.0) if scale == "percent" else conf,
    })
    for f in schema.features:
        cols[f] = _as_float(kept.column(f))
    return pa.table(cols)


def _empty_frame(schema: LogSchema) -> "pd.DataFrame":
    import pandas as pd

    cols = ["_line", "created_at", *LOGICAL_COLUMNS[:1], "predicted_label", "actual_label", "confidence", *schema.features]
    return pd.DataFrame({c: [] for c in cols})


def _to_pandas(table: Any) -> "pd.DataFrame":
    return table.to_pandas(split_blocks=True, self_destruct=True)


def _fast_frame(ff: _FastFile, schema: LogSchema) -> "pd.DataFrame":
    """Every window row of a file read with ``keep="all"``, as the diagnostic path returns it."""
    import numpy as np
    import pyarrow as pa

    tables = []
    for p in ff.pieces:
        if p.kept is not None and p.kept.num_rows:
            tables.append(_logical_table(p.kept, p.kept_row + p.row0 + ff.first_line, schema, ff.scale))
    if not tables:
        return _empty_frame(schema)
    return _to_pandas(pa.concat_tables(tables))


def _read_fast_or_diagnose(src: "LogSource", schema: LogSchema, window: Window | None, *, fast: bool = True) -> tuple["pd.DataFrame", int, "Problems"]:
    """One source as a validated frame: fast path first, the diagnostic path when it declines."""
    problems = Problems(src.display)
    if fast:
        try:
            ff = _fast_read(src.path, src.display, schema, _Ctx(schema, window, "all"))
            return _fast_frame(ff, schema), ff.rows_read, problems
        except _Fallback:
            pass
    df, n = read_log_file(src.path, src.display, schema, window, problems)
    if len(df):
        df = _validate(df, schema, problems)
    return df, n, problems


def _second_pass(ff: _FastFile, targets: list[tuple[Any, Any, Any]], schema: LogSchema, ctx: _Ctx) -> None:
    """Read timestamps and features again where the window has rows (Parquet row groups, CSV
    byte ranges). Checks the features of every window row and, for each ``(window rows,
    places, array)`` in ``targets``, writes those rows' features to ``array[:, places]``."""
    import os

    import numpy as np
    import pyarrow as pa

    kind, csv_pass, units = ff.second
    ts_name = schema.columns["created_at"]
    columns = [ts_name, *schema.features]
    fd = os.open(ff.path, os.O_RDONLY) if kind == "csv" else None

    def batches(g: int) -> Iterator[Any]:
        if kind == "parquet":
            for _g, _row0, batch in _parquet_batches(_open_parquet(ff.path, ctx), [g], columns):
                yield batch
        else:
            specs, names, ts_type = csv_pass
            table, _n = _csv_range(ff.path, fd, specs[g], ctx, ts_type, names, columns, skip_outside=False)
            yield from table.to_batches() if table is not None else ()

    def unit(spec: tuple[int, int, int]) -> int:
        g, win0, expected = spec
        seen = 0
        for batch in batches(g):
            t = batch.column(ts_name).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
            wide = np.flatnonzero((t >= ctx.scan_start) & (t < ctx.end)) if ctx.start is not None else np.arange(batch.num_rows)
            inside = t[wide] >= ctx.start if ctx.start is not None and ctx.scan_start != ctx.start else None
            rows = wide[inside] if inside is not None else wide
            whole = len(wide) == batch.num_rows
            at = win0 + seen
            spans = [(np.searchsorted(idx, [at, at + len(rows)]), idx, places, out) for idx, places, out in targets]
            for j, f in enumerate(schema.features):
                col = _as_float(batch.column(f))
                col = col if whole else col.take(pa.array(wide))
                values = col.to_numpy(zero_copy_only=False)
                if col.null_count or (len(values) and not np.isfinite(values).all()):
                    raise _Fallback(ff.display)
                if inside is not None:
                    values = values[inside]
                for (lo, hi), idx, places, out in spans:
                    out[j, places[lo:hi]] = values[idx[lo:hi] - at]
            seen += len(rows)
        return seen - expected

    try:
        mismatch = _ordered_map(unit, units)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError):
        raise _Fallback(ff.display) from None
    finally:
        if fd is not None:
            os.close(fd)
    if any(mismatch):
        raise _Fallback(ff.display)


@dataclass
class Datasets:
    """The datasets of one run in memory: figures, training rows (errors + replay) and holdout.

    ``training`` and ``holdout`` are None when there are fewer errors than ``min_samples``
    (nothing is trained) or when they were not asked for.
    """

    data: "RetrainingData"
    training: "pd.DataFrame | None" = None
    holdout: "pd.DataFrame | None" = None
    full: "pd.DataFrame | None" = None  # every labelled training row (from scratch), when asked for
    decay_counts: tuple[int, int, int, int, int] | None = None  # see datasets.decay_verdict


def _fast_selection(files: list[_FastFile], ctx: _Ctx, replay_ratio: float, random_seed: int) -> dict[str, Any]:
    """Window-row indices of holdout, errors and replay, and the figures, from the narrow columns.

    Works piece by piece (small temporaries) and lets go of the narrow columns as it goes;
    keeps class and confidence of the rows that may be selected (``cand_*``).
    """
    import numpy as np
    import pandas as pd

    if len(files) > 1:
        hs = np.sort(np.concatenate([h for f in files for p in f.pieces for h in (p.hash, p.extra_hash) if h is not None]))
        if len(hs) > 1 and (hs[1:] == hs[:-1]).any():
            raise _Fallback  # the same prediction on two days: the reference path words it
        del hs
    parts: dict[str, list[Any]] = {k: [] for k in ("hold", "err", "corr", "train", "cand", "pred", "act", "unit", "err_unit", "err_act", "corr_act")}
    win0 = n_lab = n_right = 0
    for f in files:
        for p in f.pieces:
            unit = p.conf / 100.0 if f.scale == "percent" else p.conf
            lab = p.actual >= 0
            right = p.pred == p.actual
            hold = lab & in_holdout(p.hash, ctx.holdout_cutoff)
            train = lab & ~hold
            err = train & is_error(p.pred, p.actual, unit, ctx.threshold)
            corr = train & right
            cand = np.flatnonzero(hold | train) if ctx.full else np.flatnonzero(hold | err | corr)
            n_lab += int(lab.sum())
            n_right += int((lab & right).sum())
            for key, mask in (("hold", hold), ("err", err), ("corr", corr)) + ((("train", train),) if ctx.full else ()):
                parts[key].append(np.flatnonzero(mask) + win0)
            parts["cand"].append(cand + win0)
            parts["pred"].append(p.pred[cand])
            parts["act"].append(p.actual[cand])
            parts["unit"].append(unit[cand])
            parts["err_unit"].append(unit[err])
            parts["err_act"].append(p.actual[err])
            parts["corr_act"].append(p.actual[corr])
            win0 += p.window_rows
            p.conf = p.pred = p.actual = p.hash = None
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

    decay_counts = None
    if ctx.decay is not None:
        pcs = [p for f in files for p in f.pieces]
        decay_counts = (sum(p.scan_rows for p in pcs), *(sum(p.decay[i] for p in pcs) for i in range(4)))
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
        for idx, keys, extra in jobs:
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
            outputs.append((idx, ci, places, cols, np.empty((len(schema.features), len(idx))), extra))
    del sel_cand, unit, pred, act, cand_ts, cand_ids

    # Features: from the candidates kept while reading (CSV), or read again (Parquet, which
    # also checks them then).
    c0 = win0 = 0
    for f in files:
        if f.second is not None:
            targets = []
            for idx, _ci, places, _cols, feats, _extra in outputs:
                lo, hi = np.searchsorted(idx, [win0, win0 + f.window_rows])
                targets.append((idx[lo:hi] - win0, places[lo:hi], feats))
            _second_pass(f, targets, schema, ctx)
        win0 += f.window_rows
        for p in f.pieces:
            n_cand = len(p.cand_pos) if p.cand_pos is not None else 0
            if p.cand_feat is not None:
                for _idx, ci, places, _cols, feats, _extra in outputs:
                    lo, hi = np.searchsorted(ci, [c0, c0 + n_cand])
                    feats[:, places[lo:hi]] = p.cand_feat[:, ci[lo:hi] - c0]
            p.cand_feat = p.cand_pos = None
            c0 += n_cand
    _release()
    if not enough:
        return Datasets(data, decay_counts=decay_counts)
    frames = []
    for _idx, _ci, _places, cols, feats, extra in outputs:
        cols.update({name: pa.array(feats[j]) for j, name in enumerate(schema.features)})
        frames.append(_to_pandas(pa.table({**cols, **extra})))
    return Datasets(data, frames[0], frames[1], frames[2] if len(frames) > 2 else None, decay_counts)


# --------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class LogSource:
    """Where a run's evaluation log lives: bucket objects resolved to local files."""

    display: str
    path: Path


def resolve_sources(store: "Store", log_path: str, window: Window | None, workdir: Path) -> list[LogSource]:
    """Find the evaluation log object(s) for the window and make them local files."""
    from ml_pipeline.errors import StoreError
    from ml_pipeline.store import BUCKET_EVALUATION_LOGS as BUCKET

    if log_path.endswith("/"):
        objects = store.list_objects(BUCKET, log_path)
        wanted = set(window.days()) if window else None
        keys = []
        for obj in objects:
            m = DAILY_FILE.match(obj.name[len(log_path):])
            if not m:
                continue
            if wanted is None or date.fromisoformat(m.group(1)) in wanted:
                keys.append(obj.name)
        if not objects:
            raise LogError(
                f"no evaluation log files under '{BUCKET}/{log_path}'; upload daily files named "
                "YYYY-MM-DD.csv, .csv.gz or .parquet there"
            )
        if not keys and window is not None:
            days = window.days()
            dated = sorted(o.name for o in objects if DAILY_FILE.match(o.name[len(log_path):]))
            newest = f"the newest is '{dated[-1]}'" if dated else "none is named YYYY-MM-DD.csv|.csv.gz|.parquet"
            raise LogError(
                f"no evaluation log file under '{BUCKET}/{log_path}' for {days[0]} .. {days[-1]} (UTC); {newest}. "
                "Check that the prediction service still exports its daily file"
            )
    else:
        file_format(log_path)
        keys = [log_path]
    out = []
    for key in keys:
        try:
            local = store.download_object(BUCKET, key, workdir / key.replace("/", "__"))
        except StoreError as exc:
            raise LogError(
                f"evaluation log '{BUCKET}/{key}' not found; upload it to the '{BUCKET}' bucket "
                "or set evaluation_log.path in model_config.yaml"
            ) from exc
        out.append(LogSource(f"{BUCKET}/{key}", Path(local)))
    return out


@dataclass
class LoadedLog:
    """Rows of the evaluation log inside a window, validated, with logical columns."""

    frame: "pd.DataFrame"
    rows_read: int
    sources: list[str]


def read_sources(sources: list[LogSource], schema: LogSchema, window: Window | None) -> LoadedLog:
    """Read and validate every source; raise one error listing all problems."""
    return _read_sources(sources, schema, window, set())


def _read_sources(sources: list[LogSource], schema: LogSchema, window: Window | None, diagnose: set[str]) -> LoadedLog:
    """:func:`read_sources`; the sources named in ``diagnose`` skip the fast path."""
    import pandas as pd

    frames, rows_read, problems_all = [], 0, []
    for src in sources:
        df, n, problems = _read_fast_or_diagnose(src, schema, window, fast=src.display not in diagnose)
        rows_read += n
        if problems:
            problems_all.append(problems)
        frames.append(df)
    if problems_all:
        raise LogError("\n".join(p.message() for p in problems_all), "\n".join(p.message(values=False) for p in problems_all))
    frame = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else frames[0]
    if len(sources) > 1 and len(frame):
        dup = frame["prediction_id"].duplicated(keep=False)
        if dup.any():
            ids = frame.loc[dup, "prediction_id"].unique()[:MAX_EXAMPLES].tolist()
            raise LogError(
                f"evaluation log files under '{sources[0].display.rsplit('/', 1)[0]}/' repeat "
                f"prediction_id values across days ({int(dup.sum())} rows, e.g. {', '.join(shown(i) for i in ids)}); "
                "each prediction must be logged once",
                f"evaluation log files under '{sources[0].display.rsplit('/', 1)[0]}/' repeat "
                f"prediction_id values across days ({int(dup.sum())} rows); each prediction must be logged once",
            )
    return LoadedLog(frame=frame, rows_read=rows_read, sources=[s.display for s in sources])


# --------------------------------------------------------------------------- guide API
def _default_context(settings: "Settings | None", store: "Store | None") -> tuple["Settings", "Store"]:
    from ml_pipeline.config import load_settings
    from ml_pipeline.store import open_store

    settings = settings or load_settings()
    return settings, store or open_store(settings)


def load_evaluation_log(
    source: str | Path | None = None,
    *,
    settings: "Settings | None" = None,
    store: "Store | None" = None,
    window: Window | None = None,
) -> "pd.DataFrame":
    """Load the evaluation log as a validated DataFrame with logical column names.

    ``source``: a local file path; default = the configured object in the store's
    ``evaluation-logs`` bucket. ``window``: keep only rows inside it (only the daily
    files overlapping it are read). Raises ``EvaluationLogError`` listing every problem.
    """
    settings, store = _default_context(settings, store)
    schema = LogSchema.from_model_config(settings.model)
    if source is not None:
        path = Path(source)
        if not path.is_file():
            raise LogError(f"evaluation log '{path}' not found")
        return read_sources([LogSource(str(path), path)], schema, window).frame
    with tempfile.TemporaryDirectory(prefix="ml_pipeline-log-") as tmp:
        sources = resolve_sources(store, settings.model.evaluation_log.path, window, Path(tmp))
        return read_sources(sources, schema, window).frame


def _error_mask(df: "pd.DataFrame", confidence_threshold: float) -> Any:
    return df["actual_label"].notna() & is_error(df["predicted_label"], df["actual_label"], df["confidence"], confidence_threshold)


def filter_errors_for_retraining(
    df: "pd.DataFrame",
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    confidence_threshold: float = ERROR_CONFIDENCE_THRESHOLD,
    min_samples: int = MIN_ERROR_SAMPLES_FOR_RETRAINING,
    *,
    as_of: datetime | None = None,
) -> "pd.DataFrame":
    """The high-confidence errors of the last ``lookback_days`` before ``as_of`` (default now).

    An error is a labelled row (``actual_label`` known) whose prediction was wrong with
    ``confidence > confidence_threshold``. Returns those rows, or an empty frame with the
    same columns when there are fewer than ``min_samples``; ``result.attrs["error_count"]``
    always holds how many were found.
    """
    import pandas as pd

    window = Window.ending_at(as_of or datetime.now(timezone.utc), lookback_days)
    ts = pd.to_datetime(df["created_at"], utc=True)
    in_window = (ts >= pd.Timestamp(window.start)) & (ts < pd.Timestamp(window.end))
    errors = df[in_window & _error_mask(df, confidence_threshold)]
    count = len(errors)
    if count < min_samples:
        errors = errors.iloc[0:0]
    errors = errors.copy()
    errors.attrs["error_count"] = count
    return errors


# --------------------------------------------------------------------------- datasets
def holdout_mask(prediction_ids: "pd.Series", fraction: float) -> Any:
    """Deterministic holdout membership from a hash of ``prediction_id`` (stable across runs)."""
    import numpy as np
    import pandas as pd

    ids = prediction_ids.astype(str)
    if len(ids) and not ids.isna().any():
        h = holdout_hash(ids.to_numpy(dtype=object))
    else:
        h = pd.util.hash_pandas_object(ids, index=False).to_numpy(dtype=np.uint64)
    return in_holdout(h, holdout_cutoff(fraction))


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
    if workdir is None or ds.training is None:
        return data
    workdir.mkdir(parents=True, exist_ok=True)
    data.dataset_path = workdir / "training_dataset.csv"
    ds.training.to_csv(data.dataset_path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    data.holdout_path = workdir / "holdout.csv"
    ds.holdout.to_csv(data.holdout_path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    if ds.full is not None:
        data.full_dataset_path = workdir / "training_full.csv"
        ds.full.to_csv(data.full_dataset_path, index=False)
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
    the reference start on are read and validated too, and counted in ``decay_counts``.
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
    loaded = _read_sources(sources, schema, ctx.scan or window, diagnose)
    ff = _frame_file(loaded.frame, schema, ctx)
    return _fast_datasets([ff], schema, ctx, rows_read=loaded.rows_read, sources=loaded.sources, **kw)


def _frame_file(frame: "pd.DataFrame", schema: LogSchema, ctx: _Ctx) -> _FastFile:
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
    h = holdout_hash(ids)
    piece = _Piece(rows=n, window_rows=n, conf=conf, pred=pred, actual=actual, hash=h, scan_rows=n)
    if ctx.decay is not None and n:
        labelled, right = actual >= 0, pred == actual
        ref0, recent0 = ctx.decay
        ref, recent = labelled & (ts >= ref0) & (ts < recent0), labelled & (ts >= recent0)
        piece.decay = (int(ref.sum()), int((ref & right).sum()), int(recent.sum()), int((recent & right).sum()))
        inside = np.flatnonzero(ts >= ctx.start)
        if len(inside) != n:
            piece.extra_hash = h[ts < ctx.start]
            piece.window_rows, ts, ids, h = len(inside), ts[inside], ids[inside], h[inside]
            piece.conf, piece.pred, piece.actual, piece.hash = conf[inside], pred[inside], actual[inside], h
            frame = frame.iloc[inside]
    keep = np.flatnonzero(piece.actual >= 0)
    piece.cand_pos, piece.cand_ts, piece.cand_ids = keep, ts[keep], pa.array(ids[keep], pa.string())
    piece.cand_feat = (np.stack([frame[f].to_numpy(dtype=float)[keep] for f in schema.features])
                       if schema.features else np.zeros((0, len(keep))))
    return _FastFile("frame", "frame", n, [piece], "unit")


def collect_retraining_data(
    settings: "Settings",
    store: "Store",
    *,
    as_of: datetime,
    lookback_days: int | None = None,
    confidence_threshold: float | None = None,
    workdir: Path | None,
) -> RetrainingData:
    """Read the store's log for the window ending at ``as_of`` and build the datasets."""
    lookback = lookback_days or settings.lookback_days
    threshold = settings.confidence_threshold if confidence_threshold is None else confidence_threshold
    r = settings.model.retraining
    window = Window.ending_at(as_of, lookback)
    schema = LogSchema.from_model_config(settings.model)
    with tempfile.TemporaryDirectory(prefix="ml_pipeline-log-") as tmp:
        sources = resolve_sources(store, settings.model.evaluation_log.path, window, Path(tmp))
        ds = select_datasets(
            sources, schema, window, confidence_threshold=threshold, min_samples=settings.min_error_samples,
            holdout_fraction=r.holdout_fraction, replay_ratio=r.replay_ratio, random_seed=r.random_seed,
            materialise=workdir is not None,
        )
    return write_datasets(ds, workdir)


def prepare_retraining_data(
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    confidence_threshold: float = ERROR_CONFIDENCE_THRESHOLD,
) -> Tuple[Optional[str], int]:
    """Prepare retraining data - returns (dataset_path, error_count).

    Uses the configured store and model_config.yaml; writes the dataset (and the holdout
    beside it) to a new temporary folder. ``dataset_path`` is None when there are fewer
    errors than ``MIN_ERROR_SAMPLES_FOR_RETRAINING`` (or the configured minimum).
    """
    settings, store = _default_context(None, None)
    workdir = Path(tempfile.mkdtemp(prefix="ml_pipeline-dataset-"))
    data = collect_retraining_data(
        settings, store, as_of=datetime.now(timezone.utc), lookback_days=lookback_days,
        confidence_threshold=confidence_threshold, workdir=workdir,
    )
    return (str(data.dataset_path) if data.dataset_path else None, data.error_count)


# --------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    """``python -m ml_pipeline.data_loader``: summary of the current store's evaluation log."""
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m ml_pipeline.data_loader",
        description="Summarise the evaluation log of the current store: rows read, labelled, in "
        "window, errors by class and confidence band, holdout and replay sizes.",
    )
    parser.add_argument("--lookback-days", type=int, help="window length (env ML_PIPELINE_LOOKBACK_DAYS; default 7)")
    parser.add_argument("--as-of", help="end of the window, ISO 8601 (default now)")
    parser.add_argument("--backend", choices=("auto", "local", "supabase"), help="env ML_PIPELINE_BACKEND")
    parser.add_argument("--config", dest="config_path", help="model_config.yaml (env ML_PIPELINE_CONFIG)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    from ml_pipeline.config import load_settings
    from ml_pipeline.errors import describe
    from ml_pipeline.store import open_store

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        settings = load_settings({"lookback_days": args.lookback_days, "backend": args.backend, "config_path": args.config_path})
        store = open_store(settings)
        data = collect_retraining_data(settings, store, as_of=parse_as_of(args.as_of), workdir=None)
    except PipelineError as exc:
        print(f"error: {describe(exc)}", file=sys.stderr)
        return exc.exit_code
    s = data.summary()
    s["min_error_samples"] = settings.min_error_samples
    s["would_retrain"] = data.error_count >= settings.min_error_samples
    if args.json:
        print(json.dumps(s))
        return 0
    print(f"Evaluation log: {', '.join(s['sources'])}")
    print(f"Window:         {s['window_start']} .. {s['window_end']} (UTC)")
    print(f"Rows read:      {s['rows_read']}")
    print(f"In window:      {s['rows_in_window']}")
    print(f"Labelled:       {s['labelled']}" + (f" (accuracy {s['accuracy_in_window']:.3f})" if s["accuracy_in_window"] is not None else ""))
    print(f"Holdout:        {s['holdout_size']}")
    print(f"Errors (conf > {settings.confidence_threshold}): {s['error_count']} (minimum {settings.min_error_samples})")
    for k, v in s["errors_by_class"].items():
        print(f"  actual {k}: {v}")
    for k, v in s["errors_by_confidence_band"].items():
        print(f"  confidence {k}: {v}")
    print(f"Replay sample:  {s['replay_size']}")
    print("Would retrain:  " + ("yes" if s["would_retrain"] else "no (too few errors)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
