import type { MetricSet } from './types';

/**
 * The guide's "Recommended Alerts", as a pure function of the runs created in the last
 * 7 days. It applies the SAME rules as the runner (ml_pipeline/alerts.py, which records
 * them in `metrics.alerts`), so the page and the runner never disagree:
 *
 * 1. repeated_failures: 3 or more runs with status 'failed' created in the last 7 days.
 * 2. error_volume: more than 1000 error samples in 7 days. Each run's `dataset_size`
 *    already counts the high-confidence errors of its own 7-day window, so the measure is
 *    the NEWEST completed or skipped run's `dataset_size` (failed runs may have stopped
 *    before counting). Summing `dataset_size` over the week's nightly runs would count the
 *    same errors up to 7 times and fire at ~150 errors a week.
 * 3. accuracy_decreased ("accuracy decreases after retraining"), judged by the PROMOTION
 *    GATE's own rule and thresholds (ml_pipeline/registry.py decide_promotion): take the
 *    NEWEST completed run of the last 7 days that has a baseline (`metrics.baseline`, the
 *    model in service on the same holdout); it is worse when its primary metric fell below
 *    the baseline's by more than the gate allows (`min_delta` when negative, else any drop)
 *    or a guard metric dropped by more than its tolerance. The gate is the one the run
 *    recorded (`metrics.gate`), else DEFAULT_GATE (model_config.yaml's defaults). So a run
 *    promoted on F1 with a 0.1 pt accuracy dip inside the 2 pt tolerance is no alert.
 *    Severity: 'critical' when that run was promoted (the model in service got worse),
 *    'warning' when the gate rejected it. A run without a baseline is never compared.
 *
 * The runner and the page must agree: both pass tests/fixtures/alert_cases.json
 * (alerts.cases.test.ts here, tests/test_alert_cases.py for the runner).
 */
export interface AlertRun {
  id: string;
  status: string;
  dataset_size: number | null;
  created_at: string;
  metrics?: (MetricSet & {
    baseline?: MetricSet | null;
    promoted?: boolean | null;
    gate?: { primary_metric?: string; min_delta?: number; guard_metrics?: Record<string, number> } | null;
  }) | null;
}

export type GateMetric = keyof MetricSet;

/** What the promotion gate compares (model_config.yaml `promotion:`). */
export interface Gate {
  primary_metric: GateMetric;
  min_delta: number;
  guard_metrics: Partial<Record<GateMetric, number>>;
}

/** The gate for runs that did not record `metrics.gate`: model_config.yaml's defaults. */
export const DEFAULT_GATE: Gate = { primary_metric: 'f1_score', min_delta: 0, guard_metrics: { accuracy: 0.02 } };

export type AlertCode = 'repeated_failures' | 'error_volume' | 'accuracy_decreased';

export interface Alert {
  code: AlertCode;
  severity: 'warning' | 'critical';
  title: string;
  message: string;
}

export const FAILED_RUNS_THRESHOLD = 3; // alert at >= 3
export const ERROR_VOLUME_THRESHOLD = 1000; // alert at > 1000
export const WINDOW_DAYS = 7;
const DAY_MS = 86_400_000;

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const pts = (v: number) => `${(v * 100).toFixed(1)} pts`;
const METRIC_NAMES: Record<string, string> = { accuracy: 'accuracy', precision: 'precision', recall: 'recall', f1_score: 'F1 score' };
export const metricName = (m: string) => METRIC_NAMES[m] ?? m;

/** The gate a run was judged by: its recorded `metrics.gate`, else DEFAULT_GATE. */
export function recordedGate(metrics: AlertRun['metrics']): Gate & { recorded: boolean } {
  const g = metrics?.gate;
  if (g && typeof g.primary_metric === 'string') {
    const guards: Partial<Record<GateMetric, number>> = {};
    for (const [k, v] of Object.entries(g.guard_metrics ?? {})) if (isNum(v)) guards[k as GateMetric] = v;
    return { primary_metric: g.primary_metric as GateMetric, min_delta: isNum(g.min_delta) ? g.min_delta : 0, guard_metrics: guards, recorded: true };
  }
  return { ...DEFAULT_GATE, recorded: false };
}

/**
 * Why the candidate is worse than its baseline by the gate's rule, or null. The same
 * comparisons as decide_promotion and ml_pipeline/alerts.py worse_than_baseline.
 */
export function worseThanBaseline(metrics: AlertRun['metrics']): string | null {
  const baseline = metrics?.baseline;
  if (!metrics || !baseline) return null;
  const gate = recordedGate(metrics);
  const allowed = Math.min(0, gate.min_delta);
  const value = metrics[gate.primary_metric];
  const base = baseline[gate.primary_metric];
  if (isNum(value) && isNum(base) && value < base + allowed) {
    return `${metricName(gate.primary_metric)} (the gate's primary metric) fell from ${pct(base)} to ${pct(value)}` + (allowed ? `, more than the allowed ${pts(-allowed)}` : '');
  }
  for (const [metric, tolerance] of Object.entries(gate.guard_metrics) as [GateMetric, number][]) {
    const v = metrics[metric];
    const b = baseline[metric];
    if (isNum(v) && isNum(b) && b - v > tolerance) {
      return `${metricName(metric)} dropped ${pts(b - v)} (${pct(b)} to ${pct(v)}), more than its tolerance of ${pts(tolerance)}`;
    }
  }
  return null;
}

export function computeAlerts(input: {
  /** Runs, any order; only those created in the 7 days before `now` count. */
  runs: AlertRun[];
  now: number;
  failuresThreshold?: number;
  errorSamplesThreshold?: number;
}): Alert[] {
  const { runs, now, failuresThreshold = FAILED_RUNS_THRESHOLD, errorSamplesThreshold = ERROR_VOLUME_THRESHOLD } = input;
  const recent = runs
    .filter((r) => {
      const t = Date.parse(r.created_at);
      return Number.isFinite(t) && t >= now - WINDOW_DAYS * DAY_MS;
    })
    .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
  const alerts: Alert[] = [];

  const failed = recent.filter((r) => r.status === 'failed').length;
  if (failed >= failuresThreshold) {
    alerts.push({
      code: 'repeated_failures',
      severity: 'critical',
      title: 'Retraining keeps failing',
      message: `${failed} runs failed in the last ${WINDOW_DAYS} days (alert at ${failuresThreshold} or more). Check the error messages and training logs below.`,
    });
  }

  const sized = recent.find((r) => r.status === 'completed' || r.status === 'skipped');
  if (sized && isNum(sized.dataset_size) && sized.dataset_size > errorSamplesThreshold) {
    alerts.push({
      code: 'error_volume',
      severity: 'warning',
      title: 'High error volume',
      message: `${sized.dataset_size.toLocaleString('en-US')} high-confidence error samples in the last ${WINDOW_DAYS} days (alert above ${errorSamplesThreshold.toLocaleString('en-US')}): the model may be degrading.`,
    });
  }

  const compared = recent.find((r) => r.status === 'completed' && r.metrics?.baseline);
  const why = compared ? worseThanBaseline(compared.metrics) : null;
  if (compared && why) {
    const promoted = compared.metrics?.promoted === true;
    alerts.push({
      code: 'accuracy_decreased',
      severity: promoted ? 'critical' : 'warning',
      title: 'Retraining made the model worse',
      message:
        `Latest compared run, on the holdout: ${why} (the promotion gate's rule). ` +
        (promoted ? 'It was promoted, so the model in service got worse.' : 'It was not promoted; the model in service is unchanged.'),
    });
  }

  return alerts;
}
