import { beforeEach, describe, expect, it } from 'vitest';
import {
  buildRequestBody,
  cancelRetrainRequest,
  createRetrainRequest,
  fetchChampion,
  fetchLatestRun,
  fetchMyRequests,
  fetchRunHistory,
  fetchRunWindow,
  parseLogPath,
  signTrainingLog,
} from './api';
import { ApiError } from './errors';
import { makeClient, signIn, type Fake } from '../test/utils';
import { createFakeSupabase } from '../../test-support/fake-supabase.mjs';
import { OTHER_USER, USER, VIEWER, buildModelVersions, buildRuns, logObjects } from '../../test-support/fixtures.mjs';
import type { Supabase } from './supabase';

const NOW = Date.parse('2026-11-20T08:00:00Z');
let fake: Fake;
let sb: Supabase;

beforeEach(async () => {
  const runs = buildRuns(NOW);
  fake = createFakeSupabase({ users: [USER, OTHER_USER, VIEWER], runs, modelVersions: buildModelVersions(runs), objects: logObjects(runs), now: () => NOW });
  sb = makeClient(fake);
  await signIn(sb, USER.email, USER.password);
  fake.calls.length = 0;
});

const lastCall = () => fake.calls[fake.calls.length - 1]!;

describe('reads', () => {
  it('latest run: order by created_at desc limit 1, with the user JWT', async () => {
    const run = await fetchLatestRun(sb);
    expect(run?.id).toBe(buildRuns(NOW)[0]!.id);
    const c = lastCall();
    expect(c.method).toBe('GET');
    expect(c.path).toBe('/rest/v1/model_retraining_runs');
    expect(c.query.get('order')).toBe('created_at.desc');
    expect(c.query.get('limit')).toBe('1');
    expect(c.headers.authorization).toMatch(/^Bearer ey/);
    expect(c.headers.apikey).toBe('test-anon-key');
    // Only documented columns are requested (the fake answers 42703 otherwise) and no lease token.
    expect(c.query.get('select')).not.toContain('lease_token');
  });
  it('latest run: null when the table is empty', async () => {
    fake.state.tables.model_retraining_runs.length = 0;
    expect(await fetchLatestRun(sb)).toBeNull();
  });
  it('history: 20 newest first', async () => {
    const rows = await fetchRunHistory(sb);
    expect(rows).toHaveLength(20);
    expect(Date.parse(rows[0]!.created_at)).toBeGreaterThan(Date.parse(rows[19]!.created_at));
    expect(lastCall().query.get('limit')).toBe('20');
  });
  it('7-day window filters on created_at', async () => {
    const rows = await fetchRunWindow(sb, NOW);
    expect(lastCall().query.get('created_at')).toBe('gte.2026-11-13T08:00:00.000Z');
    expect(rows.length).toBe(7);
    expect(Object.keys(rows[0]!).sort()).toEqual(['created_at', 'dataset_size', 'id', 'metrics', 'status']);
  });
  it('champion: model_versions where status = champion', async () => {
    const v = await fetchChampion(sb);
    expect(v?.status).toBe('champion');
    expect(lastCall().query.get('status')).toBe('eq.champion');
  });
  it('my requests: own rows, open ones or recent ones', async () => {
    fake.state.tables.model_retraining_requests.push(
      { id: 'r-old-pending', requested_by: USER.id, reason: null, priority: 'low', status: 'pending', created_at: '2026-10-01T00:00:00.000Z', processed_at: null, retraining_run_id: null, last_error: null, attempts: 0 },
      { id: 'r-old-done', requested_by: USER.id, reason: null, priority: 'low', status: 'completed', created_at: '2026-10-01T00:00:00.000Z', processed_at: null, retraining_run_id: null, last_error: null, attempts: 1 },
      { id: 'r-recent-done', requested_by: USER.id, reason: 'x', priority: 'high', status: 'completed', created_at: '2026-11-19T00:00:00.000Z', processed_at: null, retraining_run_id: null, last_error: null, attempts: 1 },
      { id: 'r-other', requested_by: OTHER_USER.id, reason: null, priority: 'low', status: 'pending', created_at: '2026-11-19T00:00:00.000Z', processed_at: null, retraining_run_id: null, last_error: null, attempts: 0 },
    );
    const rows = await fetchMyRequests(sb, USER.id, NOW);
    expect(rows.map((r) => r.id)).toEqual(['r-recent-done', 'r-old-pending']);
    const c = lastCall();
    expect(c.query.get('requested_by')).toBe(`eq.${USER.id}`);
    expect(c.query.get('or')).toBe('(status.in.(pending,processing),created_at.gte."2026-11-13T08:00:00.000Z")');
  });
  it('a PostgREST error becomes an ApiError with words', async () => {
    fake.failNext(() => true, { status: 500, body: { code: 'XX000', message: 'internal error', details: null, hint: null } });
    await expect(fetchLatestRun(sb)).rejects.toMatchObject({ kind: 'unknown', status: 500 });
  });
  it('a network failure becomes kind "network"', async () => {
    fake.failNext(() => true, 'network');
    await expect(fetchChampion(sb)).rejects.toMatchObject({ kind: 'network', status: 0 });
  });
});

describe('Retrain Now insert', () => {
  it('sends exactly { requested_by, reason, priority } and returns the pending row', async () => {
    const row = await createRetrainRequest(sb, { userId: USER.id, reason: '  drift after the new catalogue  ', priority: 'high' });
    const c = lastCall();
    expect(c.method).toBe('POST');
    expect(c.path).toBe('/rest/v1/model_retraining_requests');
    expect(c.rawBody).toBe(JSON.stringify({ requested_by: USER.id, reason: 'drift after the new catalogue', priority: 'high' }));
    expect(c.headers.prefer).toContain('return=representation');
    expect(row).toMatchObject({ status: 'pending', priority: 'high', requested_by: USER.id });
  });
  it('a blank reason is sent as null', () => {
    expect(buildRequestBody({ userId: 'u', reason: '   ', priority: 'normal' })).toEqual({ requested_by: 'u', reason: null, priority: 'normal' });
  });
  it('more than 500 characters is refused before sending', () => {
    expect(() => buildRequestBody({ userId: 'u', reason: 'x'.repeat(501), priority: 'normal' })).toThrow(ApiError);
  });
  it('second pending request: 23505 -> duplicate-pending', async () => {
    await createRetrainRequest(sb, { userId: USER.id, reason: '', priority: 'normal' });
    await expect(createRetrainRequest(sb, { userId: USER.id, reason: '', priority: 'normal' })).rejects.toMatchObject({
      kind: 'duplicate-pending',
      status: 409,
      code: '23505',
    });
  });
  it('RLS refusal (403 42501) when requesting for someone else', async () => {
    await expect(createRetrainRequest(sb, { userId: OTHER_USER.id, reason: '', priority: 'normal' })).rejects.toMatchObject({
      kind: 'permission',
      status: 403,
      code: '42501',
    });
  });
  it('signed out: the 401 (42501) means "sign in again"', async () => {
    await sb.auth.signOut({ scope: 'local' });
    await expect(createRetrainRequest(sb, { userId: USER.id, reason: '', priority: 'normal' })).rejects.toMatchObject({ kind: 'session-expired', status: 401 });
  });
  it('a viewer asking for high priority: refused by the database (400 P0001), reason in words', async () => {
    await sb.auth.signOut({ scope: 'local' });
    await sb.auth.signInWithPassword({ email: VIEWER.email, password: VIEWER.password });
    await expect(createRetrainRequest(sb, { userId: VIEWER.id, reason: 'r', priority: 'high' })).rejects.toMatchObject({
      kind: 'refused',
      status: 400,
      code: 'P0001',
      message: 'only operators may ask for high priority',
    });
  });
});

describe('cancel', () => {
  it('PATCH status=cancelled filtered by id (and still pending)', async () => {
    const row = await createRetrainRequest(sb, { userId: USER.id, reason: '', priority: 'low' });
    const done = await cancelRetrainRequest(sb, row.id);
    const c = lastCall();
    expect(c.method).toBe('PATCH');
    expect(c.query.get('id')).toBe(`eq.${row.id}`);
    expect(c.query.get('status')).toBe('eq.pending');
    expect(c.rawBody).toBe('{"status":"cancelled"}');
    expect(done.status).toBe('cancelled');
  });
  it('zero rows back (already picked up) -> not-pending', async () => {
    const row = await createRetrainRequest(sb, { userId: USER.id, reason: '', priority: 'low' });
    fake.state.tables.model_retraining_requests.find((r: { id: string }) => r.id === row.id).status = 'processing';
    await expect(cancelRetrainRequest(sb, row.id)).rejects.toMatchObject({ kind: 'not-pending' });
  });
});

describe('training log', () => {
  it('parses the storage path', () => {
    expect(parseLogPath('training-logs/abc.log')).toEqual({ bucket: 'training-logs', path: 'abc.log' });
    expect(parseLogPath('abc.log')).toEqual({ bucket: 'training-logs', path: 'abc.log' });
    expect(parseLogPath('https://elsewhere/x')).toBeNull();
  });
  it('signs bucket training-logs, object <run_id>.log', async () => {
    const run = buildRuns(NOW)[0]!;
    const url = await signTrainingLog(sb, run.log_url!);
    const c = lastCall();
    expect(c.method).toBe('POST');
    expect(c.path).toBe(`/storage/v1/object/sign/training-logs/${run.id}.log`);
    expect(c.body).toEqual({ expiresIn: 3600 });
    expect(url).toBe(`http://fake-supabase.test/storage/v1/object/sign/training-logs/${run.id}.log?token=signed.${btoa(`training-logs/${run.id}.log`).replace(/=+$/, '')}`);
  });
  it('a missing object -> not-found in words', async () => {
    await expect(signTrainingLog(sb, 'training-logs/gone.log')).rejects.toMatchObject({ kind: 'not-found', message: expect.stringMatching(/kept 30 days/) });
  });
});

it('realtime is never used: the inert WebSocket stand-in (see setup.ts) throws if constructed', () => {
  const WS = (globalThis as unknown as { WebSocket: new (url: string) => unknown }).WebSocket;
  expect(() => new WS('ws://x')).toThrow(/not used by the Monitoring page/);
});
