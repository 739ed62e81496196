import type { RetrainingRun } from '../lib/types';
import { formatDateTime, formatPercent } from '../lib/format';

const W = 960;
const H = 200;
const PAD = { top: 14, right: 16, bottom: 28, left: 48 };

interface Point {
  id: string;
  t: number;
  accuracy: number;
  baseline: number | null;
  promoted: boolean;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function chartPoints(runs: RetrainingRun[]): Point[] {
  return runs
    .filter((r) => r.status === 'completed' && isNum(r.metrics?.accuracy))
    .map((r) => ({
      id: r.id,
      t: Date.parse(r.completed_at ?? r.created_at),
      accuracy: r.metrics!.accuracy as number,
      baseline: isNum(r.metrics?.baseline?.accuracy) ? (r.metrics!.baseline!.accuracy as number) : null,
      promoted: r.metrics?.promoted === true,
    }))
    .filter((p) => Number.isFinite(p.t))
    .sort((a, b) => a.t - b.t);
}

/** Plain SVG: candidate accuracy per completed run, baseline as a dashed line. */
export function AccuracyChart({ runs }: { runs: RetrainingRun[] }) {
  const pts = chartPoints(runs);
  if (pts.length === 0) {
    return <p className="muted">No completed runs with metrics yet: nothing to chart.</p>;
  }
  const values = pts.flatMap((p) => (p.baseline != null ? [p.accuracy, p.baseline] : [p.accuracy]));
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  const span = Math.max(hi - lo, 0.02);
  lo = Math.max(0, lo - span * 0.15);
  hi = Math.min(1, hi + span * 0.15);
  if (hi - lo < 0.01) hi = Math.min(1, lo + 0.01);
  const x = (i: number) => PAD.left + (pts.length === 1 ? (W - PAD.left - PAD.right) / 2 : (i * (W - PAD.left - PAD.right)) / (pts.length - 1));
  const y = (v: number) => PAD.top + (1 - (v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  const line = pts.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(p.accuracy).toFixed(1)}`).join(' ');
  const basePts = pts.map((p, i) => (p.baseline != null ? `${x(i).toFixed(1)},${y(p.baseline).toFixed(1)}` : null));
  const baseSegs = basePts.filter(Boolean).length > 1 ? `M${basePts.filter(Boolean).join(' L')}` : null;
  const ticks = [lo, (lo + hi) / 2, hi];
  const first = pts[0]!;
  const last = pts[pts.length - 1]!;
  const label =
    pts.length === 1
      ? `Accuracy of the only completed run: ${formatPercent(first.accuracy)}.`
      : `Accuracy over the last ${pts.length} completed runs, from ${formatPercent(first.accuracy)} on ${formatDateTime(new Date(first.t).toISOString())} to ${formatPercent(last.accuracy)} on ${formatDateTime(new Date(last.t).toISOString())}. The table below has every value.`;

  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label} preserveAspectRatio="xMidYMid meet">
        {ticks.map((t) => (
          <g key={t}>
            <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} className="chart__grid" />
            <text x={PAD.left - 6} y={y(t) + 4} textAnchor="end" className="chart__tick">
              {formatPercent(t)}
            </text>
          </g>
        ))}
        {baseSegs ? <path d={baseSegs} className="chart__baseline" /> : null}
        <path d={line} className="chart__line" />
        {pts.map((p, i) => (
          <circle key={p.id} cx={x(i)} cy={y(p.accuracy)} r={4.5} className={p.promoted ? 'chart__dot chart__dot--promoted' : 'chart__dot'}>
            <title>
              {formatDateTime(new Date(p.t).toISOString())}: {formatPercent(p.accuracy)}
              {p.promoted ? ' (promoted)' : ' (not promoted)'}
            </title>
          </circle>
        ))}
        <text x={PAD.left} y={H - 8} className="chart__tick">
          {new Date(first.t).toLocaleDateString(undefined, { month: 'short', day: 'numeric' })}
        </text>
        <text x={W - PAD.right} y={H - 8} textAnchor="end" className="chart__tick">
          {new Date(last.t).toLocaleDateString(undefined, { month: 'short', day: 'numeric' })}
        </text>
      </svg>
      <figcaption className="chart__legend">
        <span>
          <span className="legend-swatch legend-swatch--line" aria-hidden="true" /> Candidate accuracy
        </span>
        <span>
          <span className="legend-swatch legend-swatch--baseline" aria-hidden="true" /> Baseline (model in service)
        </span>
        <span>
          <span className="legend-swatch legend-swatch--promoted" aria-hidden="true" /> Filled dot: promoted
        </span>
      </figcaption>
    </figure>
  );
}
