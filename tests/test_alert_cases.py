"""The shared alert cases (tests/fixtures/alert_cases.json) through ml_pipeline/alerts.py.

The Monitoring page runs the same file through web/src/lib/alerts.ts
(web/src/lib/alerts.cases.test.ts), so the runner and the page cannot drift apart.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ml_pipeline import alerts
from ml_pipeline.config import load_model_config

REPO = Path(__file__).resolve().parents[1]
CASES = json.loads((REPO / "tests" / "fixtures" / "alert_cases.json").read_text(encoding="utf-8"))


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _run(row: dict[str, Any]) -> Any:
    # alerts.py's own Run type, wherever the package keeps it (store.py today, records.py later).
    return alerts.Run(id=row["id"], source="auto_daily", status=row["status"], dataset_size=row["dataset_size"], metrics=row["metrics"], created_at=_when(row["created_at"]))


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["name"] for c in CASES["cases"]])
def test_alerts_py_gives_the_expected_alerts(case: dict[str, Any]) -> None:
    thresholds = {**CASES["thresholds"], **{k: case[k] for k in ("failures_threshold", "error_samples_threshold") if k in case}}
    got = alerts.compute_alerts([_run(r) for r in case["runs"]], _when(CASES["now"]), **thresholds)
    assert [{"code": a["code"], "severity": a["severity"]} for a in got] == case["expected"], case["why"]
    assert all(a["message"] for a in got)


def test_default_gate_is_model_config_yaml_promotion() -> None:
    """Runs without ``metrics.gate`` are judged by the gate model_config.yaml configures."""
    promotion = load_model_config(REPO / "model_config.yaml").promotion
    configured = {"primary_metric": promotion.primary_metric, "min_delta": promotion.min_delta, "guard_metrics": dict(promotion.guard_metrics)}
    assert alerts.DEFAULT_GATE == configured == CASES["default_gate"]


def test_the_issue_case_is_not_an_alert_but_a_real_drop_is() -> None:
    """A promoted run with a 0.1 pt accuracy dip that the gate accepted on F1 is no alert."""
    dip = {"accuracy": 0.870, "f1_score": 0.861, "baseline": {"accuracy": 0.871, "f1_score": 0.855}, "promoted": True}
    assert alerts.worse_than_baseline(dip) is None
    drop = {**dip, "accuracy": 0.84}
    assert alerts.worse_than_baseline(drop) == "accuracy dropped 0.0310 (0.8710 -> 0.8400), more than its tolerance 0.0200"
