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
 * 3. accuracy_decreased ("accuracy decreases after retraining"). Rule chosen: take the
 *    NEWEST completed run of the last 7 days that has a baseline (`metrics.baseline`, the
 *    model in service it was compared with on the same holdout); alert when its candidate
 *    `metrics.accuracy` < `metrics.baseline.accuracy`. Same holdout, so the comparison is
 *    fair (two runs' accuracies come from different holdouts). Severity on the page:
 *    'critical' when that run was promoted (the model in service got worse), 'warning'
 *    when it was rejected (the gate held, but retraining is producing worse models).
 *    A run without a baseline (the very first model) is never compared.
 */
export interface AlertRun {
  id: string;
  status: string;
  dataset_size: number | null;
  created_at: string;
  metrics?: {
    accuracy?: number | null;
    baseline?: { accuracy?: number | null } | null;
    promoted?: boolean | null;
  } | null;
}

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
  if (compared) {
    const after = compared.metrics?.accuracy;
    const before = compared.metrics?.baseline?.accuracy;
    if (isNum(after) && isNum(before) && after < before) {
      const promoted = compared.metrics?.promoted === true;
      alerts.push({
        code: 'accuracy_decreased',
        severity: promoted ? 'critical' : 'warning',
        title: 'Accuracy decreased after retraining',
        message:
          `Latest compared run: holdout accuracy ${pct(after)}, below the model it was compared with (${pct(before)}). ` +
          (promoted ? 'It was promoted, so the model in service got worse.' : 'It was not promoted; the model in service is unchanged.'),
      });
    }
  }

  return alerts;
}
