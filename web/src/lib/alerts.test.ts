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

describe('accuracy_decreased: judged by the promotion gate (shared cases in alerts.cases.test.ts)', () => {
  const gate = { primary_metric: 'f1_score' as const, min_delta: 0, guard_metrics: { accuracy: 0.02 } };
  it('a promoted run with a 0.1 pt accuracy dip that the gate accepted on F1 is NOT an alert (issue 12 item 3)', () => {
    expect(alertsFor([run({ metrics: { accuracy: 0.87, f1_score: 0.861, baseline: { accuracy: 0.871, f1_score: 0.855 }, promoted: true, gate } })])).toEqual([]);
  });
  it('critical when a promoted run dropped a guard metric beyond its tolerance, with the numbers in words', () => {
    const alerts = alertsFor([run({ metrics: { accuracy: 0.84, f1_score: 0.87, baseline: { accuracy: 0.871, f1_score: 0.85 }, promoted: true, gate } })]);
    expect(codes(alerts)).toEqual(['accuracy_decreased']);
    expect(alerts[0]!.severity).toBe('critical');
    expect(alerts[0]!.message).toContain('accuracy dropped 3.1 pts (87.1% to 84.0%), more than its tolerance of 2.0 pts');
    expect(alerts[0]!.message).toContain('model in service got worse');
  });
  it('warning when the gate rejected a candidate whose primary metric fell', () => {
    const [alert] = alertsFor([run({ metrics: { accuracy: 0.88, f1_score: 0.84, baseline: { accuracy: 0.87, f1_score: 0.85 }, promoted: false, gate } })]);
    expect(alert!.severity).toBe('warning');
    expect(alert!.message).toContain("F1 score (the gate's primary metric) fell from 85.0% to 84.0%");
    expect(alert!.message).toContain('not promoted');
  });
  it('uses the gate the run recorded: primary metric accuracy, no guards', () => {
    const accGate = { primary_metric: 'accuracy' as const, min_delta: 0, guard_metrics: {} };
    expect(alertsFor([run({ metrics: { accuracy: 0.87, f1_score: 0.7, baseline: { accuracy: 0.87, f1_score: 0.85 }, promoted: true, gate: accGate } })])).toEqual([]);
    expect(codes(alertsFor([run({ metrics: { accuracy: 0.86, f1_score: 0.9, baseline: { accuracy: 0.87, f1_score: 0.85 }, promoted: true, gate: accGate } })]))).toEqual(['accuracy_decreased']);
  });
  it('does not depend on input order', () => {
    const runs = [
      run({ daysAgo: 2, metrics: { f1_score: 0.9, baseline: { f1_score: 0.85 }, promoted: true } }),
      run({ daysAgo: 1, metrics: { f1_score: 0.8, baseline: { f1_score: 0.9 }, promoted: true } }),
    ];
    expect(codes(alertsFor(runs))).toEqual(['accuracy_decreased']);
    expect(codes(alertsFor([...runs].reverse()))).toEqual(['accuracy_decreased']);
  });
});

it('no runs: no alerts; all three together keep their order', () => {
  expect(alertsFor([])).toEqual([]);
  const runs = [
    run({ status: 'failed', daysAgo: 0.5 }), run({ status: 'failed', daysAgo: 0.6 }), run({ status: 'failed', daysAgo: 0.7 }),
    run({ daysAgo: 1, dataset_size: 1200, metrics: { f1_score: 0.8, baseline: { f1_score: 0.81 }, promoted: true } }),
  ];
  expect(codes(alertsFor(runs))).toEqual(['repeated_failures', 'error_volume', 'accuracy_decreased']);
});
