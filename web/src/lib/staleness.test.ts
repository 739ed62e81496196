import { describe, expect, it } from 'vitest';
import { LEASE_SECONDS, NIGHTLY_MAX_AGE_HOURS, stalenessWarnings, type StaleRun } from './staleness';

const NOW = Date.parse('2026-11-20T08:00:00Z');
const H = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
const nightly = (hoursAgo: number) => ({ created_at: iso(NOW - hoursAgo * H), status: 'completed' });
const run = (p: Partial<StaleRun>): StaleRun => ({ id: 'r1', source: 'manual', status: 'running', created_at: iso(NOW - H), started_at: iso(NOW - H), heartbeat_at: null, ...p });
const codes = (w: { code: string }[]) => w.map((x) => x.code);

describe('no nightly run in ~26 h', () => {
  it('defaults: 26 h and the runner lease of model_config.yaml (600 s)', () => {
    expect(NIGHTLY_MAX_AGE_HOURS).toBe(26);
    expect(LEASE_SECONDS).toBe(600);
  });
  it('6 h or exactly 26 h old: fine; 26 h and a minute: warning with the time and the age', () => {
    expect(stalenessWarnings({ latestNightly: nightly(6), runs: [], now: NOW })).toEqual([]);
    expect(stalenessWarnings({ latestNightly: nightly(26), runs: [], now: NOW })).toEqual([]);
    const [w] = stalenessWarnings({ latestNightly: nightly(26 + 1 / 60), runs: [], now: NOW });
    expect(w!.code).toBe('no_nightly_run');
    expect(w!.title).toMatch(/^No nightly run since .*2026.*UTC/);
    expect(w!.message).toMatch(/^The newest nightly run is 26 h old/);
  });
  it('no nightly run at all is a warning too', () => {
    expect(codes(stalenessWarnings({ latestNightly: null, runs: [], now: NOW }))).toEqual(['no_nightly_run']);
  });
});

describe('running past its lease (heartbeat_at, else started_at, else created_at)', () => {
  it('a heartbeat 9 min ago is alive; 11 min ago is past the 10 min lease', () => {
    expect(stalenessWarnings({ latestNightly: nightly(6), runs: [run({ heartbeat_at: iso(NOW - 9 * 60_000) })], now: NOW })).toEqual([]);
    const [w] = stalenessWarnings({ latestNightly: nightly(6), runs: [run({ heartbeat_at: iso(NOW - 11 * 60_000) })], now: NOW });
    expect(w!.code).toBe('run_past_lease');
    expect(w!.runId).toBe('r1');
    expect(w!.message).toMatch(/still "running", but its last heartbeat was 11 min ago .*past the 10 min lease/);
  });
  it('without a heartbeat the start time counts; pending runs too; finished runs never', () => {
    expect(codes(stalenessWarnings({ latestNightly: nightly(6), runs: [run({ heartbeat_at: null, started_at: iso(NOW - 20 * 60_000) })], now: NOW }))).toEqual(['run_past_lease']);
    expect(codes(stalenessWarnings({ latestNightly: nightly(6), runs: [run({ status: 'pending', started_at: null, created_at: iso(NOW - 20 * 60_000) })], now: NOW }))).toEqual(['run_past_lease']);
    expect(stalenessWarnings({ latestNightly: nightly(6), runs: [run({ status: 'completed', started_at: iso(NOW - 5 * H) })], now: NOW })).toEqual([]);
  });
  it('a run listed twice (latest and history) warns once; the lease is configurable', () => {
    const r = run({ heartbeat_at: iso(NOW - 11 * 60_000) });
    expect(stalenessWarnings({ latestNightly: nightly(6), runs: [r, r], now: NOW })).toHaveLength(1);
    expect(stalenessWarnings({ latestNightly: nightly(6), runs: [r], now: NOW, leaseSeconds: 900 })).toEqual([]);
  });
});
