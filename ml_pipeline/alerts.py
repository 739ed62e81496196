"""The guide's three alerts, as pure rules over run history.

* ``repeated_failures``: 3 or more failed runs in the last 7 days;
* ``error_volume``: more than 1000 error samples in 7 days (the newest run's
  ``dataset_size`` counts the errors of its 7-day window);
* ``accuracy_decreased``: the newest completed run's candidate is less accurate on the
  holdout than the model it was compared with.

Thresholds come from ``alerts:`` in model_config.yaml. The Monitoring page applies the
same rules (web/src/lib/alerts.ts).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from ml_pipeline.records import Run, RunStatus

WINDOW = timedelta(days=7)


def compute_alerts(runs: Iterable[Run], now: datetime, *, failures_threshold: int = 3, error_samples_threshold: int = 1000) -> list[dict[str, Any]]:
    """Alerts for ``runs`` (any order) as ``[{"code", "message"}]``, most severe first."""
    dated = [(r.created_at, r) for r in runs if r.created_at is not None and r.created_at >= now - WINDOW]
    recent = [r for _, r in sorted(dated, key=lambda pair: pair[0], reverse=True)]
    alerts: list[dict[str, Any]] = []
    failed = [r for r in recent if r.status == RunStatus.FAILED]
    if len(failed) >= failures_threshold:
        alerts.append({"code": "repeated_failures", "message": f"{len(failed)} retraining runs failed in the last 7 days (alert at {failures_threshold})"})
    sized = [r for r in recent if r.status in (RunStatus.COMPLETED, RunStatus.SKIPPED)]
    if sized and sized[0].dataset_size > error_samples_threshold:
        alerts.append({"code": "error_volume", "message": f"{sized[0].dataset_size} high-confidence error samples in 7 days (alert above {error_samples_threshold}): the model is degrading"})
    completed = [r for r in recent if r.status == RunStatus.COMPLETED and r.metrics.get("baseline")]
    if completed:
        m = completed[0].metrics
        before, after = m["baseline"].get("accuracy"), m.get("accuracy")
        if before is not None and after is not None and after < before:
            verdict = "promoted" if m.get("promoted") else "not promoted"
            alerts.append({"code": "accuracy_decreased", "message": f"accuracy decreased after retraining: {before:.4f} -> {after:.4f} on the holdout ({verdict})"})
    return alerts
