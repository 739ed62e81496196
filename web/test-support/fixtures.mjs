// Realistic rows for the tests and the screenshot, in the shapes of docs/data-model.md.

export const USER = { id: '11111111-1111-4111-8111-111111111111', email: 'ana@example.com', password: 'correct horse battery', role: 'operator' };
export const OTHER_USER = { id: '22222222-2222-4222-8222-222222222222', email: 'bo@example.com', password: 'another secret', role: 'viewer' };
export const VIEWER = { id: '33333333-3333-4333-8333-333333333333', email: 'vi@example.com', password: 'viewer secret', role: 'viewer' };
export const NO_ROLE_USER = { id: '44444444-4444-4444-8444-444444444444', email: 'new@example.com', password: 'stranger secret' };

const DAY = 86_400_000;
const MIN = 60_000;

function iso(ms) {
  return new Date(ms).toISOString();
}

export function runId(n) {
  return `0000000${n.toString(16)}`.slice(-8) + '-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
}

function metricsFor(acc, base, promoted, extra = {}) {
  const m = (a, d) => Math.round((a + d) * 10000) / 10000;
  return {
    accuracy: acc,
    precision: m(acc, -0.012),
    recall: m(acc, -0.021),
    f1_score: m(acc, -0.017),
    baseline: base == null ? null : { accuracy: base, precision: m(base, -0.012), recall: m(base, -0.021), f1_score: m(base, -0.017) },
    holdout_size: 2000,
    errors_fixed: 0,
    promoted,
    promotion_reason: promoted
      ? base == null
        ? `first model: f1_score ${m(acc, -0.017).toFixed(4)} >= floor 0.0000`
        : `f1_score ${m(acc, -0.017).toFixed(4)} >= baseline ${m(base, -0.017).toFixed(4)} + min_delta 0.0000; accuracy within 0.0200`
      : `f1_score ${m(acc, -0.017).toFixed(4)} < baseline ${m(base, -0.017).toFixed(4)} + min_delta 0.0000`,
    alerts: [],
    gate: { primary_metric: 'f1_score', min_delta: 0.0, guard_metrics: { accuracy: 0.02 } },
    epochs: 3,
    learning_rate: 0.01,
    training_seconds: 180,
  };
}

/**
 * 20 runs, newest first, ending `now - 6 h` (the nightly 02:00 UTC run when now is 08:00).
 * Accuracy climbs from 84.2% to 87.1% with one rejected candidate, one skipped and one failed run.
 */
export function buildRuns(now) {
  const runs = [];
  const accs = [0.842, 0.845, 0.847, 0.849, 0.853, 0.851, 0.856, 0.858, 0.861, 0.862, 0.862, 0.864, 0.865, 0.866, 0.867, 0.868, 0.871];
  let base = null;
  let champion = 1;
  // Oldest first, then reversed.
  let accIdx = 0;
  for (let i = 19; i >= 0; i--) {
    const created = now - 6 * 60 * MIN - i * DAY;
    const id = runId(20 - i);
    const r = {
      id,
      source: 'auto_daily',
      dataset_size: 40 + ((i * 37) % 90),
      fine_tune_flag: true,
      status: 'completed',
      metrics: {},
      started_at: iso(created + 5_000),
      completed_at: iso(created + 5_000 + (3 * MIN + (i % 5) * 17_000)),
      log_url: `training-logs/${id}.log`,
      error_message: null,
      triggered_by: null,
      created_at: iso(created),
      updated_at: iso(created + 4 * MIN),
      request_id: null,
      run_date: iso(created).slice(0, 10),
      as_of: iso(created),
      heartbeat_at: iso(created + 3 * MIN),
      lease_token: '99999999-9999-4999-8999-999999999999',
      model_version: null,
      skip_reason: null,
      runner: 'ci-runner:4242',
    };
    if (i === 15) {
      r.status = 'skipped';
      r.dataset_size = 6;
      r.skip_reason = 'only 6 high-confidence errors in the last 7 days (minimum 10)';
      r.completed_at = iso(created + 9_000);
      r.log_url = null;
    } else if (i === 11) {
      r.status = 'failed';
      r.error_message = 'could not download evaluation-logs/evaluation_log.csv: storage answered 503 three times';
      r.completed_at = iso(created + 40_000);
    } else if (i === 6) {
      r.source = 'manual';
      r.triggered_by = '22222222-2222-4222-8222-222222222222';
      r.metrics = metricsFor(0.852, base, false);

      r.model_version = champion + 1;
      champion += 1; // the rejected version number is used up
    } else {
      const acc = accs[Math.min(accIdx, accs.length - 1)];
      accIdx += 1;
      const promoted = base == null || acc >= base;
      r.metrics = metricsFor(acc, base, promoted);
      champion += 1;
      r.model_version = champion;
      if (promoted) base = acc;
    }
    runs.push(r);
  }
  return runs.reverse();
}

export function buildModelVersions(runs) {
  const latestPromoted = runs.find((r) => r.status === 'completed' && r.metrics?.promoted);
  return [
    {
      version: latestPromoted.model_version,
      status: 'champion',
      storage_path: `v${latestPromoted.model_version}/model.joblib`,
      sha256: 'a'.repeat(64),
      size_bytes: 48213,
      sklearn_version: '1.7.2',
      estimator: 'SGDClassifier',
      fine_tunable: true,
      metrics: latestPromoted.metrics,
      run_id: latestPromoted.id,
      parent_version: latestPromoted.model_version - 1,
      note: null,
      created_at: latestPromoted.completed_at,
      updated_at: latestPromoted.completed_at,
      promoted_at: latestPromoted.completed_at,
    },
    {
      version: latestPromoted.model_version - 1,
      status: 'retired',
      storage_path: `v${latestPromoted.model_version - 1}/model.joblib`,
      sha256: 'b'.repeat(64),
      size_bytes: 48001,
      sklearn_version: '1.7.2',
      estimator: 'SGDClassifier',
      fine_tunable: true,
      metrics: {},
      run_id: null,
      parent_version: null,
      note: null,
      created_at: latestPromoted.created_at,
      updated_at: latestPromoted.created_at,
      promoted_at: null,
    },
  ];
}

export function logObjects(runs) {
  return runs.filter((r) => r.log_url).map((r) => r.log_url);
}

/** A run row with sensible defaults, for focused tests. */
export function makeRun(overrides = {}) {
  const created = overrides.created_at ?? '2026-11-20T02:00:00.000Z';
  return {
    id: runId(99),
    source: 'auto_daily',
    dataset_size: 120,
    fine_tune_flag: true,
    status: 'completed',
    metrics: metricsFor(0.871, 0.868, true),
    started_at: created,
    completed_at: new Date(Date.parse(created) + 252_000).toISOString(),
    log_url: `training-logs/${overrides.id ?? runId(99)}.log`,
    error_message: null,
    triggered_by: null,
    created_at: created,
    updated_at: created,
    request_id: null,
    run_date: created.slice(0, 10),
    as_of: created,
    heartbeat_at: created,
    lease_token: null,
    model_version: 15,
    skip_reason: null,
    runner: 'host:1',
    ...overrides,
  };
}

export { metricsFor };
