"""The evaluation log's contract, declared once: logical columns, the user's names, the
window, file types, and how problems are collected and worded (with and without cell values).

The evaluation log has one row per prediction whose outcome may now be known. Its columns are
mapped from the user's names by ``columns:`` in model_config.yaml to the logical names used
here: ``prediction_id``, ``created_at``, ``predicted_label``, ``actual_label`` (empty = not
known yet, never an error), ``confidence`` (0..1, or 0..100 with
``evaluation_log.confidence_scale: percent``), plus the model's features: numeric ones
(float64), then categorical ones (text as written, an empty cell missing:
:func:`categorical_text`, the one rule of both readers). Formats: CSV,
CSV.gz and Parquet; one object, or daily files ``YYYY-MM-DD.csv|.csv.gz|.parquet``.
Naive timestamps are UTC. The window of a run ending at ``as_of`` is
``as_of - lookback_days <= created_at < as_of``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_pipeline.errors import EvaluationLogError

if TYPE_CHECKING:

    pass

log = logging.getLogger("ml_pipeline.data_loader")


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
        for r, v in zip(rows, values, strict=False):
            if len(p.examples) >= MAX_EXAMPLES:
                break
            p.examples.append((int(r), v))

    def merge(self, other: Problems) -> None:
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
                line += " (" + ", ".join(f"line {r}" for r, _v in p.examples) + ")"
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
    allow_missing: tuple[str, ...] = ()  # features whose empty/NaN cells are kept (model.features.allow_missing)
    # Features read as text (model.features.categorical; they are also in ``features``, after
    # the numeric ones): any UTF-8 value is kept as it is; an empty cell is missing (None).
    categorical: tuple[str, ...] = ()

    @classmethod
    def from_model_config(cls, model: Any) -> LogSchema:
        """Build from a validated ``ModelConfig``."""
        return cls(
            columns=dict(model.columns.model_dump()),
            features=tuple(model.model.features.all),
            classes=tuple(model.model.classes),
            confidence_scale=model.evaluation_log.confidence_scale,
            max_bytes=model.evaluation_log.max_bytes,
            allow_missing=tuple(model.model.features.allow_missing),
            categorical=tuple(model.model.features.categorical),
        )

    @property
    def numeric(self) -> tuple[str, ...]:
        """The numeric features (read as float64), in order."""
        return tuple(f for f in self.features if f not in self.categorical)

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


def categorical_text(col: Any) -> Any:
    """A categorical feature column as it travels to the model: a ``pa.string()`` array whose
    missing values (null, or an empty text) are null; every other value is kept unchanged.

    The one rule of both readers. Text, dictionary-encoded text and other plain types (an
    integer column becomes ``"7"``) are accepted; raw bytes (``binary``) are not text yet:
    ``ValueError``, and the caller decodes them first (and reports what is not UTF-8).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type) or pa.types.is_fixed_size_binary(col.type):
        raise ValueError("binary column: decode it as UTF-8 first")
    text = col if pa.types.is_string(col.type) else col.cast(pa.string())
    empty = pc.equal(text, "")
    return pc.if_else(empty, pa.scalar(None, pa.string()), text) if pc.any(empty).as_py() else text


# --------------------------------------------------------------------------- window
@dataclass(frozen=True)
class Window:
    """``start <= created_at < end``, timezone-aware UTC."""

    start: datetime
    end: datetime

    @classmethod
    def ending_at(cls, as_of: datetime, days: int) -> Window:
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
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


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


def _us(ts: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact, no float rounding)."""
    delta = ensure_utc(ts) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds



@dataclass(frozen=True)
class LogSource:
    """Where a run's evaluation log lives: bucket objects resolved to local files."""

    display: str
    path: Path
