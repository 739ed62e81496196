"""The run's dataset files (training_dataset.csv, holdout.csv) written from Arrow tables, byte
for byte as ``DataFrame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")`` writes them,
at a fraction of its time and without building a DataFrame.

Why byte for byte: the files' sha256 are the equivalence check of the data step
(``bench/equivalence.json``), and a trainer reading them must see exactly the values pandas
wrote before. How pandas writes each column (``pandas.core.indexes.base.get_values_for_csv``,
then ``csv.writer`` with ``QUOTE_MINIMAL`` and ``"\\n"``):

* float64: ``ndarray.astype(str)``, numpy's shortest round-trip ``repr`` (``0.41609999999999997``,
  ``4.0``, ``1e-05``), NaN as an empty cell. numpy's formatting is the slow part (about 1 s per
  million values). Arrow's ``cast(string)`` gives the same shortest digits where both write plain
  decimals (``1e-4 <= |x| < 1e10``) but leaves out ``.0`` of integral values; those get it back,
  and every other value (tiny, huge, non-finite: rare in features and confidences) is
  formatted by numpy itself. ``tests/test_dataset_csv.py`` compares with pandas on millions of
  random bit patterns.
* timestamps: ``%Y-%m-%dT%H:%M:%S.%fZ``; Arrow's ``strftime`` prints ``%S`` of a microsecond
  timestamp with its six decimals, so the format is ``%Y-%m-%dT%H:%M:%SZ``.
* text: as is. A value (or a column name) that ``csv.writer`` would quote (a comma, a quote, a
  line break) sends the whole file to pandas itself: exactness before speed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # what the files have always used (pandas' date_format)
ROWS_PER_CHUNK = 1 << 17
_QUOTED = r'[,"\r\n]'  # characters csv.writer (QUOTE_MINIMAL) quotes a field for


def float_texts(values: Any) -> Any:
    """``values`` (float64 numpy) as pandas writes them to CSV: an Arrow string array."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    values = np.asarray(values, dtype=np.float64)
    mag = np.abs(values)
    plain = ((mag >= 1e-4) & (mag < 1e10)) | (values == 0)  # both write plain decimals here (NaN compares False)
    text = pc.cast(pa.array(values), pa.string())
    integral = pc.invert(pc.match_substring(text, "."))
    text = pc.if_else(integral, pc.binary_join_element_wise(text, ".0", ""), text)
    if plain.all():
        return text
    rest = np.flatnonzero(~plain)
    own = values[rest].astype(str).astype(object)
    own[np.isnan(values[rest])] = ""
    out = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    out[rest] = own
    return pa.array(out, pa.string())


def _column_texts(col: Any) -> Any:
    """One column of a chunk as the cells' text (nulls empty), or None when csv.writer would
    quote a cell (the caller then lets pandas write the file)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if pa.types.is_floating(t):
        return float_texts(col.to_numpy(zero_copy_only=False))
    if pa.types.is_timestamp(t):
        if t.tz not in ("UTC", "+00:00") or t.unit != "us":
            return None
        return pc.fill_null(pc.strftime(col, format="%Y-%m-%dT%H:%M:%SZ"), "")
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        if pc.any(pc.match_substring_regex(col, _QUOTED)).as_py():
            return None
        return pc.fill_null(col.cast(pa.string()), "")
    return None


class _NeedsPandas(Exception):
    pass


def write_csv(table: Any, path: Path) -> None:
    """Write ``table`` to ``path`` exactly as ``table.to_pandas().to_csv(path, index=False,
    date_format=DATE_FORMAT)`` would."""
    import re

    import numpy as np
    import pyarrow.compute as pc

    try:
        if any(re.search(_QUOTED, name) for name in table.column_names):
            raise _NeedsPandas
        with open(path, "wb") as out:
            out.write((",".join(table.column_names) + "\n").encode())
            for start in range(0, table.num_rows, ROWS_PER_CHUNK):
                chunk = table.slice(start, ROWS_PER_CHUNK).combine_chunks()
                cells = [_column_texts(chunk.column(i).chunk(0)) for i in range(chunk.num_columns)]
                if any(c is None for c in cells):
                    raise _NeedsPandas
                lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*cells, ","), "", "\n")  # row + "\n" + ""
                data, offsets = lines.buffers()[2], np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
                out.write(memoryview(data)[offsets[0]:offsets[-1]])
    except _NeedsPandas:
        table.to_pandas().to_csv(path, index=False, date_format=DATE_FORMAT)
