import { describe, expect, it } from 'vitest';
import { buildRuns } from '../../test-support/fixtures.mjs';
import { chartMarks, chartPoints, primaryMetric } from './AccuracyChart';
import type { RetrainingRun } from '../lib/types';

const runs = buildRuns(Date.parse('2026-11-20T08:00:00Z')) as RetrainingRun[];

describe('chart data', () => {
  it("plots the gate's primary metric by default (the newest run's recorded gate, else F1)", () => {
    expect(primaryMetric(runs)).toBe('f1_score');
    const withAccuracyGate = runs.map((r, i) => (i === 0 ? { ...r, metrics: { ...r.metrics, gate: { primary_metric: 'accuracy', min_delta: 0, guard_metrics: {} } } } : r));
    expect(primaryMetric(withAccuracyGate)).toBe('accuracy');
  });
  it('points are completed runs by time, oldest first, with the chosen metric and its baseline', () => {
    const pts = chartPoints(runs, 'f1_score');
    expect(pts).toHaveLength(18);
    expect(pts.map((p) => p.t)).toEqual([...pts.map((p) => p.t)].sort((a, b) => a - b));
    expect(pts[pts.length - 1]).toMatchObject({ value: 0.854, baseline: 0.851, promoted: true });
    expect(chartPoints(runs, 'accuracy')[17]!.value).toBe(0.871);
  });
  it('failed and skipped runs are marks on the time axis', () => {
    expect(chartMarks(runs).map((m) => m.status)).toEqual(['skipped', 'failed']);
  });
});
