import { describe, expect, it } from 'vitest';
import { durationBetween, formatAgo, formatDateTime, formatRelative, formatDuration, formatPercent, metricDelta, sourceLabel } from './format';

describe('format', () => {
  it('durations', () => {
    expect(formatDuration(38_000)).toBe('38 s');
    expect(formatDuration(252_000)).toBe('4 min 12 s');
    expect(formatDuration(3_780_000)).toBe('1 h 3 min');
    expect(formatDuration(null)).toBe('—');
    expect(durationBetween('2026-11-20T02:00:00Z', '2026-11-20T02:04:12Z')).toBe(252_000);
    expect(durationBetween('2026-11-20T02:00:00Z', null)).toBeNull();
  });
  it('ago', () => {
    expect(formatAgo(0)).toBe('just now');
    expect(formatAgo(5_200)).toBe('5 s ago');
    expect(formatAgo(30_000)).toBe('30 s ago');
    expect(formatAgo(600_000)).toBe('10 min ago');
  });
  it('local date and time with the time zone; relative ages', () => {
    expect(formatDateTime('2026-11-20T02:00:00Z')).toMatch(/2026.*02:00.*(UTC|GMT)/);
    const now = Date.parse('2026-11-20T08:00:00Z');
    expect(formatRelative('2026-11-20T08:00:00Z', now)).toBe('just now');
    expect(formatRelative('2026-11-20T07:35:00Z', now)).toBe('25 min ago');
    expect(formatRelative('2026-11-20T02:00:00Z', now)).toBe('6 h ago');
    expect(formatRelative('2026-11-19T02:00:00Z', now)).toBe('30 h ago');
    expect(formatRelative('2026-11-17T02:00:00Z', now)).toBe('3 d ago');
    expect(formatRelative('2026-11-20T09:00:00Z', now)).toBe('in 60 min');
    expect(formatRelative(null, now)).toBe('');
  });
  it('percent and delta in points', () => {
    expect(formatPercent(0.8712)).toBe('87.1%');
    expect(formatPercent(undefined)).toBe('—');
    expect(metricDelta(0.871, 0.868)).toMatchObject({ direction: 'up', text: '+0.3 pts', spoken: 'up 0.3 points' });
    expect(metricDelta(0.84, 0.86)).toMatchObject({ direction: 'down', text: '−2.0 pts' });
    expect(metricDelta(0.86, 0.86)).toMatchObject({ direction: 'same' });
    expect(metricDelta(0.86, null)).toBeNull();
  });
  it('source labels', () => {
    expect(sourceLabel('auto_daily')).toBe('Nightly (auto_daily)');
    expect(sourceLabel('something_new')).toBe('something_new');
  });
});
