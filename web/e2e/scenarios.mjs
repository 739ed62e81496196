// Data sets for the end-to-end tests and the screenshots (docs/screenshots/).
import { createFakeSupabase } from '../test-support/fake-supabase.mjs';
import { NO_ROLE_USER, USER, VIEWER, buildModelVersions, buildRuns, logObjects, makeRun, metricsFor } from '../test-support/fixtures.mjs';
import { T0 } from './harness.mjs';

const H = 3_600_000;
const iso = (ms) => new Date(ms).toISOString();
export const USERS = [USER, VIEWER, NO_ROLE_USER];

function fakeWith(runs, clockOffset, extra = {}) {
  return createFakeSupabase({
    users: USERS,
    runs,
    modelVersions: buildModelVersions(runs),
    objects: logObjects(runs),
    now: () => Date.now() + clockOffset.value,
    ...extra,
  });
}

/** 20 nightly runs, the newest 6 h old, promoted; one failed and one skipped run long ago. */
export function healthy(clockOffset) {
  return fakeWith(buildRuns(T0), clockOffset);
}

export const ALERT_IDS = {
  hung: 'dddddddd-0000-4000-8000-000000000001',
  failed: ['dddddddd-0000-4000-8000-0000000000f1', 'dddddddd-0000-4000-8000-0000000000f2', 'dddddddd-0000-4000-8000-0000000000f3'],
  worse: 'dddddddd-0000-4000-8000-0000000000a1',
};

/**
 * What the person on call meets at 8 am: no nightly run for 30 h, a manual run `running` for
 * 40 min whose heartbeat stopped 25 min ago (lease 10 min), three failed runs in the week
 * (one with a 300-character error without spaces), and the newest compared run promoted
 * although accuracy fell 3.1 pts (more than the gate's 2 pt tolerance).
 */
export function alerting(clockOffset) {
  const runs = buildRuns(T0 - 24 * H); // the newest nightly run is 30 h old
  const newest = runs[0];
  newest.metrics = { ...metricsFor(0.84, 0.871, true), f1_score: 0.86, baseline: { accuracy: 0.871, precision: 0.859, recall: 0.85, f1_score: 0.854 } };
  newest.metrics.promotion_reason = 'f1_score 0.8600 >= baseline 0.8540 + min_delta 0.0000; accuracy within 0.0200 (gate as configured then)';
  newest.id = ALERT_IDS.worse;
  newest.log_url = `training-logs/${ALERT_IDS.worse}.log`;
  const failed = [
    ['decay_triggered', 20, 'training subprocess exited with code 1: ValueError: Input contains NaN in column home_elo (rows 12, 40, 77)'],
    ['manual', 14, `could not read evaluation-logs/${'2026-11-19_'.repeat(25)}.csv: object not found`],
    ['manual', 10, 'runner lost: no heartbeat for more than 600 s'],
  ].map(([source, hoursAgo, error], i) =>
    makeRun({
      id: ALERT_IDS.failed[i],
      source,
      status: 'failed',
      metrics: {},
      dataset_size: 0,
      error_message: error,
      created_at: iso(T0 - hoursAgo * H),
      started_at: iso(T0 - hoursAgo * H + 5_000),
      completed_at: iso(T0 - hoursAgo * H + 95_000),
      heartbeat_at: iso(T0 - hoursAgo * H + 60_000),
      log_url: `training-logs/${ALERT_IDS.failed[i]}.log`,
      model_version: null,
    }),
  );
  const hung = makeRun({
    id: ALERT_IDS.hung,
    source: 'manual',
    status: 'running',
    metrics: {},
    dataset_size: 0,
    created_at: iso(T0 - 40 * 60_000),
    started_at: iso(T0 - 39 * 60_000),
    heartbeat_at: iso(T0 - 25 * 60_000),
    completed_at: null,
    log_url: null,
    model_version: null,
  });
  return fakeWith([hung, ...failed, ...runs], clockOffset);
}

/** Healthy history plus the user's own pending request (queued 5 min ago). */
export function withPendingRequest(clockOffset, user = USER) {
  const fake = healthy(clockOffset);
  fake.state.tables.model_retraining_requests.push({
    id: 'eeeeeeee-0000-4000-8000-000000000001',
    requested_by: user.id,
    reason: 'Weekend promo traffic drifted: many away wins predicted as draws',
    priority: 'normal',
    status: 'pending',
    processed_at: null,
    retraining_run_id: null,
    created_at: iso(T0 - 5 * 60_000),
    updated_at: iso(T0 - 5 * 60_000),
    attempts: 0,
    claimed_at: null,
    last_error: null,
  });
  return fake;
}
