"""The guide's three alerts, as pure rules over run history.

* ``repeated_failures``: 3 or more failed runs in the last 7 days;
* ``error_volume``: more than 1000 error samples in 7 days (the newest run's
  ``dataset_size`` counts the errors of its 7-day window);
* ``accuracy_decreased``: the newest completed run of the 7 days that has a baseline came
  out worse than the model it was compared with, **by the promotion gate's own rule and
  thresholds** (ml_pipeline/registry.py ``decide_promotion``): its primary metric fell below
  the baseline's by more than the gate allows (``min_delta`` when negative, else any drop),
  or a guard metric dropped by more than its tolerance. A promoted run with a 0.1 pt accuracy
  dip that the gate accepted on F1 within the accuracy tolerance is therefore *not* an alert.
  The gate used is the one the run recorded in ``metrics.gate`` (``primary_metric``,
  ``min_delta``, ``guard_metrics``); runs that did not record one are judged with
  ``DEFAULT_GATE``, the defaults of model_config.yaml's ``promotion:``.

Severity: ``repeated_failures`` critical, ``error_volume`` warning, ``accuracy_decreased``
critical when that run was promoted (the model in service got worse) and a warning when the
gate rejected it. Thresholds come from ``alerts:`` in model_config.yaml. The Monitoring page
applies the same rules (web/src/lib/alerts.ts); both must pass the shared cases in
tests/fixtures/alert_cases.json.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from ml_pipeline.records import Run, RunStatus

WINDOW = timedelta(days=7)
#: The gate that judges runs which did not record ``metrics.gate`` (model_config.yaml defaults).
DEFAULT_GATE: dict[str, Any] = {"primary_metric": "f1_score", "min_delta": 0.0, "guard_metrics": {"accuracy": 0.02}}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def recorded_gate(metrics: dict[str, Any]) -> dict[str, Any]:
    """The gate a run was judged by: ``metrics.gate`` when recorded, else ``DEFAULT_GATE``."""
    gate = metrics.get("gate")
    if isinstance(gate, dict) and isinstance(gate.get("primary_metric"), str):
        guards = gate.get("guard_metrics")
        return {
            "primary_metric": gate["primary_metric"],
            "min_delta": _num(gate.get("min_delta")) or 0.0,
            "guard_metrics": {k: float(v) for k, v in guards.items() if _num(v) is not None} if isinstance(guards, dict) else {},
        }
    return DEFAULT_GATE


def worse_than_baseline(metrics: dict[str, Any]) -> str | None:
    """Why the candidate in ``metrics`` is worse than ``metrics["baseline"]`` by its gate, or None.

    Same comparisons as ``decide_promotion``: the primary metric may not fall below the
    baseline by more than ``-min_delta`` (any drop when ``min_delta >= 0``); a guard metric
    may not drop by more than its tolerance (``baseline - candidate > tolerance``).
    Missing values are not compared.
    """
    baseline = metrics.get("baseline") or {}
    gate = recorded_gate(metrics)
    primary = gate["primary_metric"]
    allowed = min(0.0, gate["min_delta"])
    value, base = _num(metrics.get(primary)), _num(baseline.get(primary))
    if value is not None and base is not None and value < base + allowed:
        return f"{primary} {base:.4f} -> {value:.4f}, below the baseline" + (f" by more than {-allowed:.4f}" if allowed else "")
    for metric, tolerance in gate["guard_metrics"].items():
        value, base = _num(metrics.get(metric)), _num(baseline.get(metric))
        if value is not None and base is not None and base - value > tolerance:
            return f"{metric} dropped {base - value:.4f} ({base:.4f} -> {value:.4f}), more than its tolerance {tolerance:.4f}"
    return None


def compute_alerts(runs: Iterable[Run], now: datetime, *, failures_threshold: int = 3, error_samples_threshold: int = 1000) -> list[dict[str, Any]]:
    """Alerts for ``runs`` (any order) as ``[{"code", "severity", "message"}]``, most severe first."""
    dated = [(r.created_at, r) for r in runs if r.created_at is not None and r.created_at >= now - WINDOW]
    recent = [r for _, r in sorted(dated, key=lambda pair: pair[0], reverse=True)]
    alerts: list[dict[str, Any]] = []
    failed = [r for r in recent if r.status == RunStatus.FAILED]
    if len(failed) >= failures_threshold:
        alerts.append({"code": "repeated_failures", "severity": "critical", "message": f"{len(failed)} retraining runs failed in the last 7 days (alert at {failures_threshold})"})
    sized = [r for r in recent if r.status in (RunStatus.COMPLETED, RunStatus.SKIPPED)]
    if sized and sized[0].dataset_size > error_samples_threshold:
        message = f"{sized[0].dataset_size} high-confidence error samples in 7 days (alert above {error_samples_threshold}): the model is degrading"
        alerts.append({"code": "error_volume", "severity": "warning", "message": message})
    completed = [r for r in recent if r.status == RunStatus.COMPLETED and r.metrics.get("baseline")]
    if completed:
        m = completed[0].metrics
        why = worse_than_baseline(m)
        if why is not None:
            promoted = m.get("promoted") is True
            verdict = "promoted: the model in service got worse" if promoted else "not promoted: the model in service is unchanged"
            message = f"retraining produced a worse model by the promotion gate's rule: {why} on the holdout ({verdict})"
            alerts.append({"code": "accuracy_decreased", "severity": "critical" if promoted else "warning", "message": message})
    return alerts
