import type { MetricSet } from './types';

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** "20 Nov 2026, 02:00 UTC": local date and time WITH the time zone. */
export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' });
}

/** "6 h ago", "3 d ago", "in 5 min" (coarse, for ages of runs and requests). */
export function formatRelative(iso: string | null | undefined, now: number): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '';
  const diff = now - t;
  const s = Math.round(Math.abs(diff) / 1000);
  let text: string;
  if (s < 45) return 'just now';
  if (s < 90 * 60) text = `${Math.max(1, Math.round(s / 60))} min`;
  else if (s < 36 * 3600) text = `${Math.round(s / 3600)} h`;
  else text = `${Math.round(s / 86400)} d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

export function formatTime(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** "38 s", "4 min 12 s", "1 h 3 min", "2 d 4 h". */
export function formatDuration(ms: number | null | undefined): string {
  if (!isNum(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

export function durationBetween(start: string | null, end: string | null): number | null {
  if (!start || !end) return null;
  const a = Date.parse(start);
  const b = Date.parse(end);
  return Number.isFinite(a) && Number.isFinite(b) && b >= a ? b - a : null;
}

/** "5 s ago", "3 min ago", "just now". */
export function formatAgo(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 1) return 'just now';
  if (s < 120) return `${s} s ago`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min ago`;
  return `${Math.round(m / 60)} h ago`;
}

export function formatPercent(v: number | null | undefined): string {
  return isNum(v) ? `${(v * 100).toFixed(1)}%` : '—';
}

export interface Delta {
  points: number;
  direction: 'up' | 'down' | 'same';
  text: string; // "+1.2 pts"
  spoken: string; // "up 1.2 points"
}

/** Change in percentage points between two 0..1 scores, or null when either is missing. */
export function metricDelta(candidate: number | null | undefined, baseline: number | null | undefined): Delta | null {
  if (!isNum(candidate) || !isNum(baseline)) return null;
  const points = Math.round((candidate - baseline) * 1000) / 10;
  if (points === 0) return { points: 0, direction: 'same', text: '±0.0 pts', spoken: 'no change' };
  const direction = points > 0 ? 'up' : 'down';
  const abs = Math.abs(points).toFixed(1);
  return { points, direction, text: `${points > 0 ? '+' : '−'}${abs} pts`, spoken: `${direction} ${abs} points` };
}

export const METRIC_ROWS: { key: keyof MetricSet; label: string }[] = [
  { key: 'accuracy', label: 'Accuracy' },
  { key: 'precision', label: 'Precision' },
  { key: 'recall', label: 'Recall' },
  { key: 'f1_score', label: 'F1 score' },
];

const SOURCE_LABELS: Record<string, string> = {
  auto_daily: 'Nightly (auto_daily)',
  manual: 'Manual request',
  decay_triggered: 'Decay triggered',
};

export function sourceLabel(source: string): string {
  return SOURCE_LABELS[source] ?? source;
}

export function formatCount(n: number | null | undefined): string {
  return isNum(n) ? n.toLocaleString('en-US') : '—';
}
