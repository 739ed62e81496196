/**
 * Warnings a person on call needs before reading anything else (issue 12, item 2):
 *
 * - no_nightly_run: the newest `auto_daily` run was created more than NIGHTLY_MAX_AGE_HOURS
 *   ago (the job runs at 02:00 UTC every night; 26 h leaves two hours of slack for GitHub's
 *   queue), or there is none at all.
 * - run_past_lease: a run is still `running` (or `pending`) although its last sign of life
 *   (`heartbeat_at`, else `started_at`, else `created_at`: the same expression as the
 *   database's reap_stale_retraining_runs) is older than the lease. Its runner was probably
 *   lost; the next run's reaper marks it failed and re-queues its request.
 *
 * LEASE_SECONDS is model_config.yaml's `runner.lease_seconds` default (600, ml_pipeline/config.py).
 */
import { formatDateTime, formatDuration, formatRelative, sourceLabel } from './format';

export const NIGHTLY_MAX_AGE_HOURS = 26;
export const LEASE_SECONDS = 600;
const HOUR_MS = 3_600_000;

export interface StaleRun {
  id: string;
  source: string;
  status: string;
  created_at: string;
  started_at: string | null;
  heartbeat_at?: string | null;
}

export interface StaleWarning {
  code: 'no_nightly_run' | 'run_past_lease';
  runId?: string;
  title: string;
  message: string;
}

export function stalenessWarnings(input: {
  /** The newest `auto_daily` run, or null when there is none. */
  latestNightly: Pick<StaleRun, 'created_at' | 'status'> | null;
  /** Runs to check for a lost runner (the latest run and the history). */
  runs: StaleRun[];
  now: number;
  leaseSeconds?: number;
  nightlyMaxAgeHours?: number;
}): StaleWarning[] {
  const { latestNightly, runs, now, leaseSeconds = LEASE_SECONDS, nightlyMaxAgeHours = NIGHTLY_MAX_AGE_HOURS } = input;
  const out: StaleWarning[] = [];
  if (!latestNightly) {
    out.push({
      code: 'no_nightly_run',
      title: 'No nightly run yet',
      message: 'There is no nightly (auto_daily) run at all. Check that the Auto Model Reinforcement workflow is enabled (docs/github-actions.md).',
    });
  } else {
    const t = Date.parse(latestNightly.created_at);
    if (Number.isFinite(t) && now - t > nightlyMaxAgeHours * HOUR_MS) {
      out.push({
        code: 'no_nightly_run',
        title: `No nightly run since ${formatDateTime(latestNightly.created_at)}`,
        message: `The newest nightly run is ${formatRelative(latestNightly.created_at, now).replace(' ago', '')} old (expected every 24 h at 02:00 UTC). Check the Auto Model Reinforcement workflow's recent runs and schedule (docs/github-actions.md).`,
      });
    }
  }
  const seen = new Set<string>();
  for (const r of runs) {
    if (seen.has(r.id) || (r.status !== 'running' && r.status !== 'pending')) continue;
    seen.add(r.id);
    const alive = r.heartbeat_at ?? r.started_at ?? r.created_at;
    const t = Date.parse(alive);
    if (!Number.isFinite(t) || now - t <= leaseSeconds * 1000) continue;
    out.push({
      code: 'run_past_lease',
      runId: r.id,
      title: `A ${r.status} run has no sign of life`,
      message:
        `The ${sourceLabel(r.source).toLowerCase()} run created ${formatDateTime(r.created_at)} is still "${r.status}", but its last ` +
        `${r.heartbeat_at ? 'heartbeat' : 'sign of life'} was ${formatRelative(alive, now)} (${formatDateTime(alive)}), past the ${formatDuration(leaseSeconds * 1000)} lease. Its runner was probably lost; ` +
        'the next run marks it failed and re-queues its request.',
    });
  }
  return out;
}
