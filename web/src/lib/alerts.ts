/**
 * The guide's "Recommended Alerts", as a pure function of rows already fetched.
 *
 * 1. repeated_failures: 3 or more runs with status 'failed' created in the last 7 days.
 * 2. error_volume: more than 1000 error samples in the last 7 days, measured as the sum of
 *    `dataset_size` over the runs created in the window, EXCLUDING failed runs: a failed
 *    nightly run may be retried the same day on the same samples (see the once-a-day guard
 *    in docs/data-model.md), and counting both would double the volume. Caveat: when each
 *    nightly run itself looks back 7 days, consecutive runs overlap, so the sum over-counts;
 *    it is the measure the issue asks for and errs towards alerting.
 * 3. accuracy_drop ("accuracy decreases after retraining"). Rule chosen:
 *    take the LATEST completed run that has a numeric `metrics.accuracy`;
 *      - if it has a numeric `metrics.baseline.accuracy` (the champion it was compared
 *        with, on the same holdout), alert when accuracy < baseline accuracy;
 *      - otherwise (first model, no baseline) compare with the previous completed run that
 *        has a numeric accuracy, and alert when accuracy < that run's accuracy.
 *    Severity is 'critical' when that run was promoted (the model in service got worse)
 *    and 'warning' when it was rejected (the gate held, but retraining is producing worse
 *    models: training on high-confidence errors alone can do that).
 *    Same-holdout baseline first, because accuracies of two runs are measured on different
 *    holdouts and may differ for reasons unrelated to retraining.
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

export type AlertCode = 'repeated_failures' | 'error_volume' | 'accuracy_drop';

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

function inWindow(run: AlertRun, now: number): boolean {
  const t = Date.parse(run.created_at);
  return Number.isFinite(t) && t >= now - WINDOW_DAYS * DAY_MS && t <= now + 60_000;
}

export function computeAlerts(input: {
  /** Runs created in the last 7 days (more is fine: filtered again here). */
  windowRuns: AlertRun[];
  /** Recent runs, any order, with metrics (the history). */
  recentRuns: AlertRun[];
  now: number;
}): Alert[] {
  const { windowRuns, recentRuns, now } = input;
  const alerts: Alert[] = [];
  const inWin = windowRuns.filter((r) => inWindow(r, now));

  const failed = inWin.filter((r) => r.status === 'failed').length;
  if (failed >= FAILED_RUNS_THRESHOLD) {
    alerts.push({
      code: 'repeated_failures',
      severity: 'critical',
      title: 'Retraining keeps failing',
      message: `${failed} runs failed in the last ${WINDOW_DAYS} days (alert at ${FAILED_RUNS_THRESHOLD} or more). Check the error messages and training logs below.`,
    });
  }

  const volume = inWin.filter((r) => r.status !== 'failed').reduce((sum, r) => sum + (isNum(r.dataset_size) ? r.dataset_size : 0), 0);
  if (volume > ERROR_VOLUME_THRESHOLD) {
    alerts.push({
      code: 'error_volume',
      severity: 'warning',
      title: 'High error volume',
      message: `${volume.toLocaleString('en-US')} error samples in the last ${WINDOW_DAYS} days (alert above ${ERROR_VOLUME_THRESHOLD.toLocaleString('en-US')}): the model may be degrading.`,
    });
  }

  const completed = recentRuns
    .filter((r) => r.status === 'completed' && isNum(r.metrics?.accuracy))
    .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
  const latest = completed[0];
  if (latest) {
    const acc = latest.metrics!.accuracy as number;
    const base = latest.metrics?.baseline?.accuracy;
    let reference: { value: number; label: string } | null = null;
    if (isNum(base)) reference = { value: base, label: 'the model it was compared with' };
    else if (completed[1]) reference = { value: completed[1].metrics!.accuracy as number, label: 'the previous completed run' };
    if (reference && acc < reference.value) {
      const promoted = latest.metrics?.promoted === true;
      alerts.push({
        code: 'accuracy_drop',
        severity: promoted ? 'critical' : 'warning',
        title: 'Accuracy decreased after retraining',
        message:
          `Latest completed run: accuracy ${pct(acc)}, below ${reference.label} (${pct(reference.value)}). ` +
          (promoted
            ? 'It was promoted, so the model in service got worse.'
            : 'It was not promoted; the model in service is unchanged.'),
      });
    }
  }

  return alerts;
}
