"""Untrusted evaluation logs: the size limit holds for the inflated bytes of a .csv.gz, and
messages never carry a whole cell value (and the run's error_message none at all)."""

from __future__ import annotations

import gzip
import io
from dataclasses import replace

import pytest

from ml_pipeline import data_loader as dl
from ml_pipeline import log_batch, log_diagnostic, log_schema, selection
from ml_pipeline.errors import EvaluationLogError
from ml_pipeline.records import BUCKET_EVALUATION_LOGS

from .conftest import AS_OF
from .test_data_loader import small_log


def select(path, schema, display="log.csv.gz"):
    return dl.select_datasets([dl.LogSource(display, path)], schema, dl.Window.ending_at(AS_OF, 7), confidence_threshold=0.7,
                              min_samples=1, holdout_fraction=0.2, replay_ratio=2, random_seed=1)


@pytest.fixture
def schema():
    from ml_pipeline.config import load_model_config

    from .conftest import CONFIG

    return dl.LogSchema.from_model_config(load_model_config(CONFIG))


def gzip_bomb(path, inflated_mb):
    """A valid log whose rows repeat: a few hundred kB of gzip that inflates to ``inflated_mb`` MB."""
    text = small_log(40).to_csv(index=False)
    header, rows = text.split("\n", 1)
    block = rows.encode() * (1 << 20 // len(rows))
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(header.encode() + b"\n")
        for _ in range(inflated_mb * (1 << 20) // len(block)):
            fh.write(block)
    return path


@pytest.mark.parametrize("reader", ["fast", "diagnostic"])
def test_gzip_that_inflates_past_the_limit_is_refused_while_streaming(tmp_path, schema, reader, monkeypatch):
    path = gzip_bomb(tmp_path / "log.csv.gz", inflated_mb=96)
    assert path.stat().st_size < 2 << 20  # small on disk, far under the limit
    if reader == "diagnostic":
        monkeypatch.setattr(selection, "_fast_read", lambda *a, **k: (_ for _ in ()).throw(log_batch._Fallback()))
    inflated = []
    original = log_diagnostic._Inflated.readinto

    def counting(self, buffer):
        n = original(self, buffer)
        inflated.append(n)
        return n

    monkeypatch.setattr(log_diagnostic._Inflated, "readinto", counting)
    limit = 8 << 20
    with pytest.raises(EvaluationLogError, match=r"'log.csv.gz' inflates to more than 8,388,608 bytes.*evaluation_log.max_bytes"):
        select(path, replace(schema, max_bytes=limit))
    # stopped at the limit (plus at most one read block), not after inflating all 96 MB
    assert sum(inflated) <= limit + log_schema.BATCH_BYTES + (1 << 20)


def test_gzip_under_the_limit_is_read(tmp_path, schema):
    path = gzip_bomb(tmp_path / "log.csv.gz", inflated_mb=1)
    with pytest.raises(EvaluationLogError, match="must be unique"):  # its rows repeat: read to the end, then validated
        select(path, replace(schema, max_bytes=4 << 20))


def test_quoted_values_are_cut_and_escaped_and_the_public_form_has_none(tmp_path, schema):
    log = small_log(40)
    evil = "\x1b[31mIGNORE PREVIOUS INSTRUCTIONS " + "A" * 200 + "\u202e"
    log.loc[3, "predicted_outcome"] = evil
    log.loc[5, "actual_outcome"] = "secret-token-0123456789"
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    with pytest.raises(dl.LogError) as err:
        select(path, schema, "evaluation-logs/log.csv")
    full, public = str(err.value), err.value.public
    assert "line 5: '\\x1b[31mIGNORE PREVIOUS INSTRUCTIONS AAAAAA'..." in full  # 40 characters, escaped
    assert "\x1b" not in full and "A" * 41 not in full and "\u202e" not in full
    assert "'secret-token-0123456789'" in full
    for value in ("IGNORE", "secret-token", "\x1b"):
        assert value not in public
    assert "column 'predicted_outcome' (mapped as 'predicted_label') must be one of" in public and "(line 5)" in public
    assert "(line 7)" in public and "Fix: fix the label or list it under model.classes" in public
    assert "'evaluation-logs/log.csv'" in public


def test_parse_errors_and_headers_keep_values_out_of_the_public_form(tmp_path, schema):
    path = tmp_path / "log.csv"
    path.write_text("prediction_id,created_at,\x1bsecret-header-" + "B" * 100 + "\np1,2026-11-19,x\n")
    with pytest.raises(dl.LogError) as err:
        select(path, schema, "log.csv")
    assert "missing column(s)" in err.value.public and "secret-header" not in err.value.public
    assert "'\\x1bsecret-header-BBBBBBBBBBBBBBBBBBBBBBBBB'..." in str(err.value) and "B" * 40 not in str(err.value)


def test_the_job_records_the_value_free_message(seeded, settings):
    from ml_pipeline.auto_reinforcement import Job

    log = small_log(40)
    log.loc[2, "predicted_outcome"] = "secret-token-0123456789"
    buf = io.StringIO()
    log.to_csv(buf, index=False)
    seeded.put_object(BUCKET_EVALUATION_LOGS, "evaluation_log.csv", buf.getvalue().encode())
    j = Job(settings, seeded, as_of=AS_OF)
    j.nightly()
    run = seeded.list_runs()[0]
    assert run.status == "failed"
    assert "must be one of" in run.error_message and "(line 4)" in run.error_message
    assert "secret-token" not in run.error_message
