// The shared alert cases (tests/fixtures/alert_cases.json) through the page's rules. The
// runner's ml_pipeline/alerts.py passes the same file (tests/test_alert_cases.py).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_GATE, computeAlerts, type AlertRun } from './alerts';

interface Case {
  name: string;
  why: string;
  runs: AlertRun[];
  expected: { code: string; severity: string }[];
  failures_threshold?: number;
  error_samples_threshold?: number;
}
// Vitest runs from web/ (npm test, scripts/test-web.sh).
const FILE = resolve(process.cwd(), '..', 'tests', 'fixtures', 'alert_cases.json');
const shared = JSON.parse(readFileSync(FILE, 'utf8')) as {
  now: string;
  thresholds: { failures_threshold: number; error_samples_threshold: number };
  default_gate: unknown;
  cases: Case[];
};

describe('shared alert cases (tests/fixtures/alert_cases.json)', () => {
  it('has cases', () => expect(shared.cases.length).toBeGreaterThanOrEqual(20));
  it('DEFAULT_GATE is the file\'s default_gate (= model_config.yaml promotion, checked on the Python side)', () => {
    expect(DEFAULT_GATE).toEqual(shared.default_gate);
  });
  it.each(shared.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const got = computeAlerts({
      runs: c.runs,
      now: Date.parse(shared.now),
      failuresThreshold: c.failures_threshold ?? shared.thresholds.failures_threshold,
      errorSamplesThreshold: c.error_samples_threshold ?? shared.thresholds.error_samples_threshold,
    });
    expect(got.map((a) => ({ code: a.code, severity: a.severity })), c.why).toEqual(c.expected);
  });
});
