"""Scenario 7: malformed evaluation logs, through a real run of the job (in-process).

Each of the 12 fixtures is uploaded as the evaluation log, a request is queued and the
job processes it. Expected for each: the run is ``failed`` with one clear message naming
the column (or the file) and the rule, with example rows where rows are at fault; nothing
is registered or promoted; the request ends ``failed`` after one attempt (the error would
recur, so it is not re-queued) and a second pass claims nothing. Two controls must pass:
a UTF-8 BOM, and percentages when ``confidence_scale: percent`` is configured.
"""

from __future__ import annotations

import resource
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.conftest import add_requests, rows, write_config

AS_OF = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
LIMIT = 1_000_000
HUGE = 8 << 30  # 8 GiB, sparse: no disk space, no time to write


@pytest.fixture(scope="module")
def clean(seeded_template: Path) -> Any:
    """60 labelled, correct predictions inside the window, confidence in [0, 1]."""
    import pandas as pd

    df = pd.read_csv(seeded_template / "buckets" / "evaluation-logs" / "evaluation_log.csv")
    df = df[(df["created_at"] >= "2026-11-18") & (df["created_at"] < "2026-11-20")].head(60).reset_index(drop=True)
    df["actual_outcome"] = df["predicted_outcome"]  # no errors: a valid log gives a quick 'skipped' run
    df["confidence_score"] = (df["confidence_score"] / 100).round(4)
    return df


def csv(df: Any) -> bytes:
    return df.to_csv(index=False).encode()


def with_cell(df: Any, changes: dict[tuple[int, str], Any]) -> bytes:
    out = df.copy().astype({c: object for _, c in changes})
    for (row, col), value in changes.items():
        out.at[row, col] = value
    return csv(out)


def non_utf8(df: Any) -> bytes:
    text = csv(df)
    return text.replace(df.at[4, "prediction_id"].encode(), b"pred-\xff\xfe-latin1", 1)


# name -> (bytes of the log or a callable writing it, confidence_scale, what the message must say)
FIXTURES: dict[str, tuple[Callable[[Any], Any], str, list[str]]] = {
    "missing column": (lambda d: csv(d.drop(columns=["confidence_score"])), "unit",
                       ["missing column(s) 'confidence_score'"]),
    "wrong type": (lambda d: with_cell(d, {(3, "confidence_score"): "high"}), "unit",
                   ["confidence_score", "must be a number", "line 5"]),
    "NaN": (lambda d: with_cell(d, {(6, "confidence_score"): "NaN"}), "unit",
            ["confidence_score", "must not be empty or NaN", "line 8"]),
    "+/-inf": (lambda d: with_cell(d, {(7, "home_elo"): "inf", (9, "home_elo"): "-inf"}), "unit",
               ["home_elo", "must be a finite number", "line 9", "line 11"]),
    "confidence outside [0, 1]": (lambda d: with_cell(d, {(2, "confidence_score"): 1.7, (3, "confidence_score"): -0.2}), "unit",
                                  ["confidence_score", "must be a number in [0, 1]", "line 4", "line 5"]),
    "percent-scale confidence": (lambda d: csv(d.assign(confidence_score=d["confidence_score"] * 100)), "unit",
                                 ["confidence_score", "look like percent", "confidence_scale: percent"]),
    "unparseable timestamp": (lambda d: with_cell(d, {(10, "created_at"): "yesterday at noon"}), "unit",
                              ["created_at", "ISO 8601", "line 12"]),
    "duplicate prediction_id": (lambda d: with_cell(d, {(11, "prediction_id"): d.at[12, "prediction_id"]}), "unit",
                                ["prediction_id", "must be unique", "line 13", "line 14"]),
    "empty file": (lambda d: b"", "unit", ["is empty (0 bytes)"]),
    "header only": (lambda d: csv(d.head(0)), "unit", ["has a header but no rows"]),
    "non-UTF-8 bytes": (non_utf8, "unit", ["prediction_id", "must be UTF-8", "line 6"]),
    "far over max_bytes": ("huge", "unit", ["over the limit of 1,000,000", "evaluation_log.max_bytes"]),
}
CONTROLS: dict[str, tuple[Callable[[Any], bytes], str]] = {
    "UTF-8 BOM": (lambda d: b"\xef\xbb\xbf" + csv(d), "unit"),
    "percent, configured": (lambda d: csv(d.assign(confidence_score=d["confidence_score"] * 100)), "percent"),
}


def _run_once(seeded_template: Path, root: Path, content: Any, frame: Any, scale: str) -> dict[str, Any]:
    from ml_pipeline.auto_reinforcement import Job
    from ml_pipeline.config import load_settings
    from ml_pipeline.local_store import LocalStore

    home = root / "home"
    shutil.copytree(seeded_template, home)
    target = home / "buckets" / "evaluation-logs" / "evaluation_log.csv"
    if content == "huge":
        target.unlink()
        with open(target, "wb") as fh:
            fh.truncate(HUGE)
    else:
        target.write_bytes(content(frame))
    config = write_config(root, evaluation_log={"confidence_scale": scale, "max_bytes": LIMIT})
    settings = load_settings({"home": str(home), "config_path": str(config), "backend": "local"}, env={})
    (req_id,) = add_requests(home, ["normal"])
    store = LocalStore(home)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    try:
        job = Job(settings, store, as_of=AS_OF)
        job.process_requests()
        seconds = time.monotonic() - t0
        again = Job(settings, store, as_of=AS_OF)
        again.process_requests()  # the failed request must not come back
    finally:
        store.close()
    (run,) = rows(home, "SELECT * FROM model_retraining_runs")
    (req,) = rows(home, "SELECT * FROM model_retraining_requests")
    versions = rows(home, "SELECT version, status FROM model_versions")
    return {"run": run, "req": req, "req_id": req_id, "versions": versions, "seconds": seconds, "second_pass": again.outcomes,
            "rss_growth_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before}


def test_malformed_logs_fail_once_with_a_clear_message(seeded_template: Path, tmp_path: Path, clean: Any, figures: Any) -> None:
    problems, single, huge = [], 0, {}
    for i, (name, (content, scale, expected)) in enumerate(FIXTURES.items()):
        r = _run_once(seeded_template, tmp_path / f"f{i}", content, clean, scale)
        run, req, msg = r["run"], r["req"], r["run"]["error_message"] or ""
        why = []
        if run["status"] != "failed":
            why.append(f"run is {run['status']}")
        why += [f"message lacks {e!r}" for e in expected if e not in msg]
        # the run's error_message (shown in issue comments) names file, column, rows, rule and fix, never cell values
        why += [f"message quotes the cell value {v!r}" for v in ("'high'", "yesterday at noon", "pred-") if v in msg]
        if "problem(s)" in msg and "has 1 problem(s)" not in msg:
            why.append("more than one problem reported for one fault")
        if req["status"] != "failed" or req["attempts"] != 1 or r["second_pass"]:
            why.append(f"request {req['status']} after {req['attempts']} attempt(s), second pass ran {len(r['second_pass'])}")
        if r["versions"] != [{"version": 1, "status": "champion"}]:
            why.append(f"versions changed: {r['versions']}")
        single += "problem(s)" not in msg or "has 1 problem(s)" in msg
        if content == "huge":
            huge = r
        if content == "huge" and (r["seconds"] > 5 or r["rss_growth_kib"] > 100_000):
            why.append(f"huge file took {r['seconds']:.1f} s and {r['rss_growth_kib']} KiB more memory")
        if why:
            problems.append(f"{name}: {'; '.join(why)}\n    message: {msg}")
    assert not problems, "\n".join(problems)
    figures.add("7 malformed evaluation logs", f"{len(FIXTURES)} fixtures + {len(CONTROLS)} controls",
                f"{len(FIXTURES)}/{len(FIXTURES)} runs failed with one message naming the column/rows and the rule "
                f"({single}/{len(FIXTURES)} list exactly one problem), "
                f"request failed after 1 attempt (not retried), 0 promoted; {HUGE >> 30} GiB file refused in {huge['seconds']:.2f} s "
                f"before parsing, peak RSS +{huge['rss_growth_kib'] // 1024} MiB; controls (BOM, configured percent) accepted")


def test_valid_variants_are_accepted(seeded_template: Path, tmp_path: Path, clean: Any) -> None:
    for i, (name, (content, scale)) in enumerate(CONTROLS.items()):
        r = _run_once(seeded_template, tmp_path / f"c{i}", content, clean, scale)
        assert r["run"]["status"] == "skipped", f"{name}: {r['run']['status']}: {r['run']['error_message']}"
        assert r["req"]["status"] == "completed"


def test_non_utf8_is_reported_once(seeded_template: Path, tmp_path: Path, clean: Any) -> None:
    r = _run_once(seeded_template, tmp_path, non_utf8, clean, "unit")
    msg = r["run"]["error_message"]
    assert "has 1 problem(s)" in msg and "must not be empty" not in msg, msg
