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

describe('computeAlerts: repeated failures (3+ failed runs in 7 days)', () => {
  it('does not alert at 2 failures', () => {
    const windowRuns = [run({ status: 'failed' }), run({ status: 'failed', daysAgo: 2 }), run({})];
    expect(computeAlerts({ windowRuns, recentRuns: [], now: NOW })).toEqual([]);
  });
  it('alerts at exactly 3 failures, critical, with the count in words', () => {
    const windowRuns = [1, 2, 3].map((d) => run({ status: 'failed', daysAgo: d }));
    const alerts = computeAlerts({ windowRuns, recentRuns: [], now: NOW });
    expect(codes(alerts)).toEqual(['repeated_failures']);
    expect(alerts[0]!.severity).toBe('critical');
    expect(alerts[0]!.message).toMatch(/^3 runs failed in the last 7 days/);
  });
  it('ignores failures older than 7 days even if given', () => {
    const windowRuns = [run({ status: 'failed', daysAgo: 1 }), run({ status: 'failed', daysAgo: 2 }), run({ status: 'failed', daysAgo: 7.01 })];
    expect(computeAlerts({ windowRuns, recentRuns: [], now: NOW })).toEqual([]);
  });
});

describe('computeAlerts: error volume (> 1000 samples in 7 days)', () => {
  it('does not alert at exactly 1000', () => {
    const windowRuns = [run({ dataset_size: 600 }), run({ dataset_size: 400, status: 'skipped' })];
    expect(computeAlerts({ windowRuns, recentRuns: [], now: NOW })).toEqual([]);
  });
  it('alerts at 1001', () => {
    const windowRuns = [run({ dataset_size: 600 }), run({ dataset_size: 401, status: 'running' })];
    const alerts = computeAlerts({ windowRuns, recentRuns: [], now: NOW });
    expect(codes(alerts)).toEqual(['error_volume']);
    expect(alerts[0]!.message).toContain('1,001 error samples');
  });
  it('does not count failed runs (a same-day retry reuses their samples)', () => {
    const windowRuns = [run({ dataset_size: 900 }), run({ dataset_size: 900, status: 'failed' })];
    expect(codes(computeAlerts({ windowRuns, recentRuns: [], now: NOW }))).toEqual([]);
  });
  it('treats a null dataset_size as 0', () => {
    const windowRuns = [run({ dataset_size: null }), run({ dataset_size: 1001, daysAgo: 8 })];
    expect(computeAlerts({ windowRuns, recentRuns: [], now: NOW })).toEqual([]);
  });
});

describe('computeAlerts: accuracy decreased after retraining', () => {
  it('alerts (critical) when the latest completed run was promoted below its baseline', () => {
    const recentRuns = [run({ metrics: { accuracy: 0.84, baseline: { accuracy: 0.86 }, promoted: true } })];
    const alerts = computeAlerts({ windowRuns: [], recentRuns, now: NOW });
    expect(codes(alerts)).toEqual(['accuracy_drop']);
    expect(alerts[0]!.severity).toBe('critical');
    expect(alerts[0]!.message).toContain('84.0%');
    expect(alerts[0]!.message).toContain('86.0%');
    expect(alerts[0]!.message).toContain('model in service got worse');
  });
  it('alerts (warning) when the worse candidate was rejected', () => {
    const recentRuns = [run({ metrics: { accuracy: 0.84, baseline: { accuracy: 0.86 }, promoted: false } })];
    const [alert] = computeAlerts({ windowRuns: [], recentRuns, now: NOW });
    expect(alert!.severity).toBe('warning');
    expect(alert!.message).toContain('not promoted');
  });
  it('does not alert when accuracy is equal to or above the baseline', () => {
    const equal = [run({ metrics: { accuracy: 0.86, baseline: { accuracy: 0.86 }, promoted: true } })];
    const above = [run({ metrics: { accuracy: 0.87, baseline: { accuracy: 0.86 }, promoted: true } })];
    expect(computeAlerts({ windowRuns: [], recentRuns: equal, now: NOW })).toEqual([]);
    expect(computeAlerts({ windowRuns: [], recentRuns: above, now: NOW })).toEqual([]);
  });
  it('uses the LATEST completed run only (an older drop is history)', () => {
    const recentRuns = [
      run({ daysAgo: 1, metrics: { accuracy: 0.87, baseline: { accuracy: 0.86 }, promoted: true } }),
      run({ daysAgo: 2, metrics: { accuracy: 0.80, baseline: { accuracy: 0.86 }, promoted: false } }),
    ];
    expect(computeAlerts({ windowRuns: [], recentRuns, now: NOW })).toEqual([]);
  });
  it('skips failed, skipped and running runs and runs without accuracy when finding the latest', () => {
    const recentRuns = [
      run({ daysAgo: 0.1, status: 'running' }),
      run({ daysAgo: 0.2, status: 'failed' }),
      run({ daysAgo: 0.3, status: 'completed', metrics: { accuracy: null } }),
      run({ daysAgo: 1, metrics: { accuracy: 0.8, baseline: { accuracy: 0.9 }, promoted: false } }),
    ];
    expect(codes(computeAlerts({ windowRuns: [], recentRuns, now: NOW }))).toEqual(['accuracy_drop']);
  });
  it('without a baseline, compares with the previous completed run', () => {
    const drop = [
      run({ daysAgo: 1, metrics: { accuracy: 0.8, baseline: null, promoted: true } }),
      run({ daysAgo: 2, metrics: { accuracy: 0.85, baseline: null, promoted: true } }),
    ];
    const alerts = computeAlerts({ windowRuns: [], recentRuns: drop, now: NOW });
    expect(codes(alerts)).toEqual(['accuracy_drop']);
    expect(alerts[0]!.message).toContain('the previous completed run');
    const rise = [
      run({ daysAgo: 1, metrics: { accuracy: 0.86, baseline: null, promoted: true } }),
      run({ daysAgo: 2, metrics: { accuracy: 0.85, baseline: null, promoted: true } }),
    ];
    expect(computeAlerts({ windowRuns: [], recentRuns: rise, now: NOW })).toEqual([]);
  });
  it('does not depend on input order', () => {
    const recentRuns = [
      run({ daysAgo: 2, metrics: { accuracy: 0.9, baseline: null, promoted: true } }),
      run({ daysAgo: 1, metrics: { accuracy: 0.8, baseline: null, promoted: true } }),
    ];
    expect(codes(computeAlerts({ windowRuns: [], recentRuns, now: NOW }))).toEqual(['accuracy_drop']);
  });
  it('no runs at all: no alerts', () => {
    expect(computeAlerts({ windowRuns: [], recentRuns: [], now: NOW })).toEqual([]);
  });
});

it('reports all three alerts together', () => {
  const windowRuns = [
    run({ status: 'failed' }), run({ status: 'failed' }), run({ status: 'failed' }),
    run({ dataset_size: 1200 }),
  ];
  const recentRuns = [run({ metrics: { accuracy: 0.8, baseline: { accuracy: 0.81 }, promoted: true } })];
  expect(codes(computeAlerts({ windowRuns, recentRuns, now: NOW }))).toEqual(['repeated_failures', 'error_volume', 'accuracy_drop']);
});
