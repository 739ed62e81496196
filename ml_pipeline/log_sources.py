"""Sources of a run (bucket objects as local files) and the validated window rows as a
DataFrame (``read_sources``: the guide's ``load_evaluation_log``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_pipeline.log_batch import _actual_text, _as_float, _as_text, _Ctx, _Fallback
from ml_pipeline.log_diagnostic import _validate, read_log_file
from ml_pipeline.log_reader import _fast_read, _FastFile
from ml_pipeline.log_schema import DAILY_FILE, LOGICAL_COLUMNS, MAX_EXAMPLES, LogError, LogSchema, LogSource, Problems, Window, categorical_text, file_format, shown

if TYPE_CHECKING:
    import pandas as pd

    from ml_pipeline.store import Store

log = logging.getLogger("ml_pipeline.data_loader")


def resolve_sources(store: Store, log_path: str, window: Window | None, workdir: Path) -> list[LogSource]:
    """Find the evaluation log object(s) for the window and make them local files."""
    from ml_pipeline.errors import StoreError
    from ml_pipeline.records import BUCKET_EVALUATION_LOGS as BUCKET

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
        cols[f] = categorical_text(kept.column(f)) if f in schema.categorical else _as_float(kept.column(f))
    return pa.table(cols)


def _empty_frame(schema: LogSchema) -> pd.DataFrame:
    import pandas as pd

    cols = ["_line", "created_at", *LOGICAL_COLUMNS[:1], "predicted_label", "actual_label", "confidence", *schema.features]
    return pd.DataFrame({c: [] for c in cols})


def _to_pandas(table: Any) -> pd.DataFrame:
    return table.to_pandas(split_blocks=True, self_destruct=True)


def _fast_frame(ff: _FastFile, schema: LogSchema) -> pd.DataFrame:
    """Every window row of a file read with ``keep="all"``, as the diagnostic path returns it."""
    import pyarrow as pa

    tables = []
    for p in ff.pieces:
        if p.kept is not None and p.kept.num_rows:
            tables.append(_logical_table(p.kept, p.kept_row + p.row0 + ff.first_line, schema, ff.scale))
    if not tables:
        return _empty_frame(schema)
    return _to_pandas(pa.concat_tables(tables))


def _read_fast_or_diagnose(src: LogSource, schema: LogSchema, window: Window | None, *, fast: bool = True,
                           checked_from: datetime | None = None) -> tuple[pd.DataFrame, int, Problems]:
    """One source as a validated frame: fast path first, the diagnostic path when it declines.

    ``checked_from``: rows before it are checked for timestamps and labels only (the decay
    check's days); the fast path checks every row fully, so it declines a file with other
    problems on those days and the diagnostic path decides.
    """
    problems = Problems(src.display)
    if fast:
        try:
            ff = _fast_read(src.path, src.display, schema, _Ctx(schema, window, "all"))
            return _fast_frame(ff, schema), ff.rows_read, problems
        except _Fallback:
            pass
    df, n = read_log_file(src.path, src.display, schema, window, problems, checked_from)
    if len(df):
        df = _validate(df, schema, problems, checked_from)
    return df, n, problems


@dataclass
class LoadedLog:
    """Rows of the evaluation log inside a window, validated, with logical columns."""

    frame: pd.DataFrame
    rows_read: int
    sources: list[str]


def read_sources(sources: list[LogSource], schema: LogSchema, window: Window | None) -> LoadedLog:
    """Read and validate every source; raise one error listing all problems."""
    return _read_sources(sources, schema, window, set())


def _read_sources(sources: list[LogSource], schema: LogSchema, window: Window | None, diagnose: set[str],
                  checked_from: datetime | None = None) -> LoadedLog:
    """:func:`read_sources`; the sources named in ``diagnose`` skip the fast path; rows before
    ``checked_from`` are checked for timestamps and labels only."""
    import pandas as pd

    frames, rows_read, problems_all = [], 0, []
    for src in sources:
        df, n, problems = _read_fast_or_diagnose(src, schema, window, fast=src.display not in diagnose, checked_from=checked_from)
        rows_read += n
        if problems:
            problems_all.append(problems)
        frames.append(df)
    if problems_all:
        raise LogError("\n".join(p.message() for p in problems_all), "\n".join(p.message(values=False) for p in problems_all))
    frame = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else frames[0]
    if len(sources) > 1 and len(frame):
        ids = frame["prediction_id"] if checked_from is None else frame["prediction_id"].where(frame["created_at"] >= pd.Timestamp(checked_from))
        dup = ids.duplicated(keep=False) & ids.notna()
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
