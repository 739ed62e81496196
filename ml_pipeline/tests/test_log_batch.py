"""Small parts of the fast CSV/Parquet reader that its equivalence tests reach only in passing:
the blank-id screen, the label fast path, the byte-range read and the edge-line hint."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from ml_pipeline import log_reader
from ml_pipeline.log_batch import _PY_SPACE, _Ctx, _Fallback, _label_codes, _maybe_blank
from ml_pipeline.log_schema import LogSchema, Window

from .conftest import CONFIG

CLASSES = pa.array(["home_win", "draw", "away_win"], pa.string())


def test_python_whitespace_holds_arrows():
    """The screen looks for Python's whitespace; Arrow's trim (the other half of the blank
    rule) must not know a whitespace character that Python does not."""
    import pyarrow.compute as pc

    chars = [chr(c) for c in range(0x3001)]
    arrow_space = {c for c, s in zip(chars, pc.utf8_is_space(pa.array(chars)).to_pylist(), strict=True) if s}
    assert arrow_space <= set(_PY_SPACE)


@pytest.mark.parametrize("blank", ["", " ", "\t", "\u00a0", "\u3000", "\u2028 ", "\x1c"])
def test_maybe_blank_sees_every_blank_id(blank):
    ids = pa.array(["p1", "p2", blank, "p3"])
    assert _maybe_blank(ids)
    assert _maybe_blank(ids.slice(2, 1))
    assert not _maybe_blank(ids.slice(0, 2)) and not _maybe_blank(ids.slice(3, 1))


def test_maybe_blank_passes_ids_that_only_contain_spaces_inside():
    assert not _maybe_blank(pa.array(["pred 1", "é-7", "x\u3000y", "漢"]))
    assert _maybe_blank(pa.array(["pred 1", " pred 2"]))  # a leading space: looked at closely (not blank)
    assert not _maybe_blank(pa.array([], pa.string()))


def test_label_codes_fast_path_and_spellings():
    codes = _label_codes(pa.array(["draw", None, "away_win"]), CLASSES, blank_is_null=True)
    assert codes.to_pylist() == [1, None, 2]
    blank = _label_codes(pa.array(["draw", "  ", ""]), CLASSES, blank_is_null=True)
    assert blank.to_pylist() == [1, None, None]  # blank actual label: not known yet
    with pytest.raises(_Fallback):  # a blank prediction is not a class
        _label_codes(pa.array(["draw", " "]), CLASSES, blank_is_null=False)
    with pytest.raises(_Fallback):
        _label_codes(pa.array(["draw", "home_wn"]), CLASSES, blank_is_null=True)
    ints = pa.array(["0", "1"], pa.string())
    assert _label_codes(pa.array(["1.0", "0", "1"]), ints, blank_is_null=False).to_pylist() == [1, 0, 1]


def test_a_short_byte_range_read_declines_the_file(tmp_path):
    """A file that shrank after its byte ranges were planned: the fast path declines (the
    diagnostic reader then reads what is there) instead of parsing a stale buffer."""
    path = tmp_path / "log.csv"
    path.write_bytes(b"a,b\n1,2\n3,4\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert bytes(log_reader._range_bytes(fd, 4, 12)) == b"1,2\n3,4\n"
        with pytest.raises(_Fallback):
            log_reader._range_bytes(fd, 4, 40)
    finally:
        os.close(fd)


@pytest.fixture(scope="module")
def schema():
    from ml_pipeline.config import load_model_config

    return LogSchema.from_model_config(load_model_config(CONFIG))


def _us(*args: int) -> int:
    return (datetime(*args, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // log_reader._ONE_US


def test_edge_times_reads_the_first_and_last_lines(schema):
    ctx = _Ctx(schema, Window.ending_at(datetime(2026, 11, 20, tzinfo=UTC), 7), "candidates")
    ts = schema.columns["created_at"]
    names = ["prediction_id", ts, "note"]
    body = (b'p1,2026-11-19T10:00:00+02:00,"a, quoted, note"\n'
            b"p2,2026-11-19 09:00:00,x\n"
            b"p3,2026-11-18 23:30:00.250000,\"last\"\n")
    got = log_reader._edge_times(memoryview(body), False, ctx, names)
    assert got == (_us(2026, 11, 18, 23, 30, 0, 250000), _us(2026, 11, 19, 8))  # +02:00 is 08:00 UTC
    header = f"prediction_id,{ts},note\n".encode()
    assert log_reader._edge_times(memoryview(header + body), True, ctx, []) == got
    assert log_reader._edge_times(memoryview(header), True, ctx, []) is None  # no data line
    assert log_reader._edge_times(memoryview(b"p1,yesterday,x\np2,2026-11-19 09:00:00,x\n"), False, ctx, names) is None
    assert log_reader._edge_times(memoryview(body), False, ctx, ["prediction_id", "when", "note"]) is None
