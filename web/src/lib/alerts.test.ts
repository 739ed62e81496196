import { describe, expect, it } from 'vitest';
import { computeAlerts, type AlertRun } from './alerts';

const NOW = Date.parse('2026-11-20T12:00:00Z');
const DAY = 86_400_000;
let n = 0;
function run(p: Partial<AlertRun> & { daysAgo?: number }): AlertRun {
  n += 1;
  const { daysAgo = 1, ...rest } = p;
  return { id: `r${n}`, status: 'completed', dataset_size: 10, created_at: new Date(NOW - daysAgo * DAY).toISOString(), metrics: null, ...rest };
}
const codes = (a: { code: string }[]) => a.map((x) => x.code);
const alertsFor = (runs: AlertRun[]) => computeAlerts({ runs, now: NOW });

describe('repeated_failures: 3+ failed runs in 7 days', () => {
  it('does not alert at 2 failures', () => {
    expect(alertsFor([run({ status: 'failed' }), run({ status: 'failed', daysAgo: 2 }), run({})])).toEqual([]);
  });
  it('alerts at exactly 3 failures, critical, with the count in words', () => {
    const alerts = alertsFor([1, 2, 3].map((d) => run({ status: 'failed', daysAgo: d })));
    expect(codes(alerts)).toEqual(['repeated_failures']);
    expect(alerts[0]!.severity).toBe('critical');
    expect(alerts[0]!.message).toMatch(/^3 runs failed in the last 7 days/);
  });
  it('ignores failures older than 7 days', () => {
    expect(alertsFor([run({ status: 'failed', daysAgo: 1 }), run({ status: 'failed', daysAgo: 2 }), run({ status: 'failed', daysAgo: 7.01 })])).toEqual([]);
  });
  it('thresholds can be configured like the runner\'s', () => {
    expect(codes(computeAlerts({ runs: [run({ status: 'failed' })], now: NOW, failuresThreshold: 1 }))).toEqual(['repeated_failures']);
  });
});

describe('error_volume: > 1000 error samples in 7 days (newest completed/skipped run\'s window)', () => {
  it('does not alert at exactly 1000', () => {
    expect(alertsFor([run({ dataset_size: 1000 })])).toEqual([]);
  });
  it('alerts at 1001, from a completed or a skipped run', () => {
    const alerts = alertsFor([run({ dataset_size: 1001 })]);
    expect(codes(alerts)).toEqual(['error_volume']);
    expect(alerts[0]!.message).toContain('1,001 high-confidence error samples');
    expect(codes(alertsFor([run({ dataset_size: 1500, status: 'skipped' })]))).toEqual(['error_volume']);
  });
  it('does not add up overlapping windows: seven nightly runs of 200 are 200, not 1400', () => {
    expect(alertsFor([1, 2, 3, 4, 5, 6, 6.9].map((d) => run({ dataset_size: 200, daysAgo: d })))).toEqual([]);
  });
  it('uses the NEWEST completed/skipped run: an older big one no longer counts', () => {
    expect(alertsFor([run({ dataset_size: 300, daysAgo: 1 }), run({ dataset_size: 5000, daysAgo: 2 })])).toEqual([]);
    expect(codes(alertsFor([run({ dataset_size: 5000, daysAgo: 1 }), run({ dataset_size: 300, daysAgo: 2 })]))).toEqual(['error_volume']);
  });
  it('ignores failed and running runs and runs older than 7 days', () => {
    expect(alertsFor([run({ dataset_size: 5000, status: 'failed' }), run({ dataset_size: 5000, status: 'running' }), run({ dataset_size: 5000, daysAgo: 8 })])).toEqual([]);
  });
});

describe('accuracy_decreased: newest compared run below its baseline', () => {
  it('alerts (critical) when the candidate was promoted below its baseline', () => {
    const alerts = alertsFor([run({ metrics: { accuracy: 0.84, baseline: { accuracy: 0.86 }, promoted: true } })]);
    expect(codes(alerts)).toEqual(['accuracy_decreased']);
    expect(alerts[0]!.severity).toBe('critical');
    expect(alerts[0]!.message).toContain('84.0%');
    expect(alerts[0]!.message).toContain('86.0%');
    expect(alerts[0]!.message).toContain('model in service got worse');
  });
  it('alerts (warning) when the worse candidate was rejected', () => {
    const [alert] = alertsFor([run({ metrics: { accuracy: 0.84, baseline: { accuracy: 0.86 }, promoted: false } })]);
    expect(alert!.severity).toBe('warning');
    expect(alert!.message).toContain('not promoted');
  });
  it('does not alert when accuracy is equal to or above the baseline', () => {
    expect(alertsFor([run({ metrics: { accuracy: 0.86, baseline: { accuracy: 0.86 }, promoted: true } })])).toEqual([]);
    expect(alertsFor([run({ metrics: { accuracy: 0.87, baseline: { accuracy: 0.86 }, promoted: true } })])).toEqual([]);
  });
  it('only the newest compared run counts (an older drop is history)', () => {
    const runs = [
      run({ daysAgo: 1, metrics: { accuracy: 0.87, baseline: { accuracy: 0.86 }, promoted: true } }),
      run({ daysAgo: 2, metrics: { accuracy: 0.8, baseline: { accuracy: 0.86 }, promoted: false } }),
    ];
    expect(alertsFor(runs)).toEqual([]);
  });
  it('skips failed/running runs and completed runs without a baseline when looking for the newest', () => {
    const runs = [
      run({ daysAgo: 0.1, status: 'running' }),
      run({ daysAgo: 0.2, status: 'failed', metrics: { accuracy: 0.9, baseline: { accuracy: 0.5 } } }),
      run({ daysAgo: 0.3, metrics: { accuracy: 0.99, baseline: null } }),
      run({ daysAgo: 1, metrics: { accuracy: 0.8, baseline: { accuracy: 0.9 }, promoted: false } }),
    ];
    expect(codes(alertsFor(runs))).toEqual(['accuracy_decreased']);
  });
  it('never compares a run without a baseline (the first model), nor runs older than 7 days', () => {
    expect(alertsFor([run({ daysAgo: 1, metrics: { accuracy: 0.5, baseline: null, promoted: true } }), run({ daysAgo: 2, metrics: { accuracy: 0.9, baseline: null } })])).toEqual([]);
    expect(alertsFor([run({ daysAgo: 8, metrics: { accuracy: 0.5, baseline: { accuracy: 0.9 }, promoted: true } })])).toEqual([]);
  });
  it('does not depend on input order', () => {
    const runs = [
      run({ daysAgo: 2, metrics: { accuracy: 0.9, baseline: { accuracy: 0.85 }, promoted: true } }),
      run({ daysAgo: 1, metrics: { accuracy: 0.8, baseline: { accuracy: 0.9 }, promoted: true } }),
    ];
    expect(codes(alertsFor(runs))).toEqual(['accuracy_decreased']);
    expect(codes(alertsFor([...runs].reverse()))).toEqual(['accuracy_decreased']);
  });
});

it('no runs: no alerts; all three together keep their order', () => {
  expect(alertsFor([])).toEqual([]);
  const runs = [
    run({ status: 'failed', daysAgo: 0.5 }), run({ status: 'failed', daysAgo: 0.6 }), run({ status: 'failed', daysAgo: 0.7 }),
    run({ daysAgo: 1, dataset_size: 1200, metrics: { accuracy: 0.8, baseline: { accuracy: 0.81 }, promoted: true } }),
  ];
  expect(codes(alertsFor(runs))).toEqual(['repeated_failures', 'error_volume', 'accuracy_decreased']);
});
