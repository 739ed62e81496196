import { useEffect, useId, useState } from 'react';
import type { MetricSet, RetrainingRun } from '../lib/types';
import { formatDateTime, formatPercent, METRIC_ROWS } from '../lib/format';
import { recordedGate } from '../lib/alerts';

/** Drawing sizes: the SVG scales to its box, so a phone gets a narrower drawing (legible text). */
const WIDE = { W: 960, H: 220, PAD: { top: 14, right: 16, bottom: 40, left: 52 }, maxTicks: 6 };
const NARROW = { W: 420, H: 230, PAD: { top: 14, right: 12, bottom: 40, left: 50 }, maxTicks: 3 };

function useNarrow(): boolean {
  const query = '(max-width: 640px)';
  const [narrow, setNarrow] = useState(() => typeof window !== 'undefined' && !!window.matchMedia?.(query).matches);
  useEffect(() => {
    const mq = window.matchMedia?.(query);
    if (!mq) return;
    const on = () => setNarrow(mq.matches);
    mq.addEventListener('change', on);
    return () => mq.removeEventListener('change', on);
  }, []);
  return narrow;
}

type Metric = keyof MetricSet;

interface Point {
  id: string;
  t: number;
  value: number;
  baseline: number | null;
  promoted: boolean;
}

interface Mark {
  id: string;
  t: number;
  status: 'failed' | 'skipped';
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const runTime = (r: RetrainingRun) => Date.parse(r.completed_at ?? r.created_at);

/** Completed runs with a value for `metric`, oldest first, placed by time. */
export function chartPoints(runs: RetrainingRun[], metric: Metric = 'accuracy'): Point[] {
  return runs
    .filter((r) => r.status === 'completed' && isNum(r.metrics?.[metric]))
    .map((r) => ({
      id: r.id,
      t: runTime(r),
      value: r.metrics![metric] as number,
      baseline: isNum(r.metrics?.baseline?.[metric]) ? (r.metrics!.baseline![metric] as number) : null,
      promoted: r.metrics?.promoted === true,
    }))
    .filter((p) => Number.isFinite(p.t))
    .sort((a, b) => a.t - b.t);
}

/** Failed and skipped runs, marked on the time axis. */
export function chartMarks(runs: RetrainingRun[]): Mark[] {
  return runs
    .filter((r): r is RetrainingRun & { status: 'failed' | 'skipped' } => r.status === 'failed' || r.status === 'skipped')
    .map((r) => ({ id: r.id, t: runTime(r), status: r.status }))
    .filter((m) => Number.isFinite(m.t))
    .sort((a, b) => a.t - b.t);
}

/** The metric the gate decides on: the newest run's recorded gate, else the default (F1). */
export function primaryMetric(runs: RetrainingRun[]): Metric {
  const newest = runs.find((r) => r.status === 'completed' && r.metrics);
  return recordedGate(newest?.metrics ?? null).primary_metric;
}

const label = (m: Metric) => METRIC_ROWS.find((r) => r.key === m)?.label ?? m;
const day = (t: number) => new Date(t).toLocaleDateString(undefined, { month: 'short', day: 'numeric' });

/**
 * Plain SVG over time: the chosen metric per completed run (default: the gate's primary
 * metric), the baseline as a dashed line, failed (✕) and skipped (○) runs on the time axis.
 */
export function AccuracyChart({ runs }: { runs: RetrainingRun[] }) {
  const primary = primaryMetric(runs);
  const [metric, setMetric] = useState<Metric>(primary);
  const { W, H, PAD, maxTicks } = useNarrow() ? NARROW : WIDE;
  const selectId = useId();
  const pts = chartPoints(runs, metric);
  const marks = chartMarks(runs);
  const metricPicker = (
    <div className="chart__controls">
      <label htmlFor={selectId}>Metric</label>
      <select id={selectId} value={metric} onChange={(e) => setMetric(e.target.value as Metric)}>
        {METRIC_ROWS.map(({ key }) => (
          <option key={key} value={key}>
            {label(key)}
            {key === primary ? " (the gate's primary metric)" : ''}
          </option>
        ))}
      </select>
    </div>
  );
  if (pts.length === 0) {
    return (
      <>
        {metricPicker}
        <p className="muted">No completed runs with {label(metric)} yet: nothing to chart.</p>
      </>
    );
  }
  const times = [...pts.map((p) => p.t), ...marks.map((m) => m.t)];
  let t0 = Math.min(...times);
  let t1 = Math.max(...times);
  if (t1 - t0 < 3_600_000) {
    t0 -= 43_200_000;
    t1 += 43_200_000;
  }
  const values = pts.flatMap((p) => (p.baseline != null ? [p.value, p.baseline] : [p.value]));
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  const span = Math.max(hi - lo, 0.02);
  lo = Math.max(0, lo - span * 0.15);
  hi = Math.min(1, hi + span * 0.15);
  if (hi - lo < 0.01) hi = Math.min(1, lo + 0.01);
  const plotBottom = H - PAD.bottom;
  const x = (t: number) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - (v - lo) / (hi - lo)) * (plotBottom - PAD.top);
  const line = pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
  const basePts = pts.filter((p) => p.baseline != null).map((p) => `${x(p.t).toFixed(1)},${y(p.baseline!).toFixed(1)}`);
  const baseSegs = basePts.length > 1 ? `M${basePts.join(' L')}` : null;
  const ticks = [lo, (lo + hi) / 2, hi];
  const dayMs = 86_400_000;
  const days = Math.max(1, Math.round((t1 - t0) / dayMs));
  const step = Math.max(1, Math.ceil(days / maxTicks));
  const timeTicks: number[] = [];
  for (let t = Math.ceil(t0 / dayMs) * dayMs; t <= t1; t += step * dayMs) timeTicks.push(t);
  const first = pts[0]!;
  const last = pts[pts.length - 1]!;
  const failed = marks.filter((m) => m.status === 'failed').length;
  const skipped = marks.length - failed;
  const summary =
    (pts.length === 1
      ? `${label(metric)} of the only completed run: ${formatPercent(first.value)}.`
      : `${label(metric)} over ${pts.length} completed runs, from ${formatPercent(first.value)} on ${formatDateTime(new Date(first.t).toISOString())} to ${formatPercent(last.value)} on ${formatDateTime(new Date(last.t).toISOString())}.`) +
    ` ${failed} failed and ${skipped} skipped runs marked on the time axis. The table below has every value.`;

  return (
    <figure className="chart">
      {metricPicker}
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={summary} preserveAspectRatio="xMidYMid meet" data-metric={metric}>
        {ticks.map((t) => (
          <g key={t}>
            <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} className="chart__grid" />
            <text x={PAD.left - 6} y={y(t) + 4} textAnchor="end" className="chart__tick">
              {formatPercent(t)}
            </text>
          </g>
        ))}
        <line x1={PAD.left} x2={W - PAD.right} y1={plotBottom} y2={plotBottom} className="chart__axis" />
        {timeTicks.map((t) => (
          <g key={t}>
            <line x1={x(t)} x2={x(t)} y1={plotBottom} y2={plotBottom + 4} className="chart__axis" />
            <text x={x(t)} y={H - 8} textAnchor="middle" className="chart__tick">
              {day(t)}
            </text>
          </g>
        ))}
        {baseSegs ? <path d={baseSegs} className="chart__baseline" /> : null}
        <path d={line} className="chart__line" />
        {pts.map((p) => (
          <circle key={p.id} cx={x(p.t)} cy={y(p.value)} r={4.5} className={p.promoted ? 'chart__dot chart__dot--promoted' : 'chart__dot'} data-run-id={p.id}>
            <title>
              {formatDateTime(new Date(p.t).toISOString())}: {formatPercent(p.value)}
              {p.promoted ? ' (promoted)' : ' (not promoted)'}
            </title>
          </circle>
        ))}
        {marks.map((m) =>
          m.status === 'failed' ? (
            <text key={m.id} x={x(m.t)} y={plotBottom - 6} textAnchor="middle" className="chart__failed" data-run-id={m.id} data-mark="failed">
              ✕<title>{formatDateTime(new Date(m.t).toISOString())}: failed run</title>
            </text>
          ) : (
            <circle key={m.id} cx={x(m.t)} cy={plotBottom - 10} r={4} className="chart__skipped" data-run-id={m.id} data-mark="skipped">
              <title>{formatDateTime(new Date(m.t).toISOString())}: skipped run</title>
            </circle>
          ),
        )}
      </svg>
      <figcaption className="chart__legend">
        <span>
          <span className="legend-swatch legend-swatch--line" aria-hidden="true" /> Candidate {label(metric)}
        </span>
        <span>
          <span className="legend-swatch legend-swatch--baseline" aria-hidden="true" /> Baseline (model in service)
        </span>
        <span>
          <span className="legend-swatch legend-swatch--promoted" aria-hidden="true" /> Filled dot: promoted
        </span>
        <span>
          <span className="legend-failed" aria-hidden="true">✕</span> Failed run
        </span>
        <span>
          <span className="legend-swatch legend-swatch--skipped" aria-hidden="true" /> Skipped run
        </span>
      </figcaption>
    </figure>
  );
}
