"""alerts.py: the guide's three alerts over run history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ml_pipeline.alerts import compute_alerts
from ml_pipeline.records import Run

NOW = datetime(2026, 11, 27, 2, tzinfo=UTC)


def run(i, status="completed", days_ago=0.0, size=50, metrics=None):
    return Run(id=f"r{i}", source="auto_daily", status=status, dataset_size=size, metrics=metrics or {},
               created_at=NOW - timedelta(days=days_ago))


def codes(runs):
    return [a["code"] for a in compute_alerts(runs, NOW)]


def test_three_failures_in_seven_days():
    assert codes([run(1, "failed", 1), run(2, "failed", 2)]) == []
    assert codes([run(1, "failed", 1), run(2, "failed", 2), run(3, "failed", 6.9)]) == ["repeated_failures"]
    assert codes([run(1, "failed", 1), run(2, "failed", 2), run(3, "failed", 7.1)]) == []


def test_error_volume_uses_the_newest_run():
    assert codes([run(1, size=1001)]) == ["error_volume"]
    assert codes([run(1, size=1000)]) == []
    assert codes([run(1, size=10, days_ago=0), run(2, size=5000, days_ago=1)]) == []


def test_accuracy_decreased_after_retraining():
    worse = {"accuracy": 0.70, "baseline": {"accuracy": 0.72}, "promoted": True}
    better = {"accuracy": 0.74, "baseline": {"accuracy": 0.72}, "promoted": True}
    alerts = compute_alerts([run(1, metrics=worse)], NOW)
    assert [a["code"] for a in alerts] == ["accuracy_decreased"] and "0.7200 -> 0.7000" in alerts[0]["message"]
    assert codes([run(1, metrics=better)]) == []
    assert codes([run(1, metrics=better, days_ago=0), run(2, metrics=worse, days_ago=1)]) == []
