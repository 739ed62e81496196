import type { ReactNode } from 'react';
import { act, renderHook, waitFor } from '@testing-library/react';
import { QueryClientProvider } from '@tanstack/react-query';
import { describe, expect, it } from 'vitest';
import { REFRESH_INTERVAL_MS, queryKeys, useMonitoring, useMyRequests, useSession } from './hooks';
import { SupabaseProvider } from './context';
import { makeClient, makeQueryClient, signIn } from '../test/utils';
import { createFakeSupabase } from '../../test-support/fake-supabase.mjs';
import { USER, buildModelVersions, buildRuns, logObjects } from '../../test-support/fixtures.mjs';
import type { Supabase } from './supabase';

function setup() {
  const runs = buildRuns(Date.now());
  const fake = createFakeSupabase({ users: [USER], runs, modelVersions: buildModelVersions(runs), objects: logObjects(runs) });
  const client = makeClient(fake);
  const queryClient = makeQueryClient();
  const wrapper = ({ children }: { children: ReactNode }) => (
    <SupabaseProvider client={client as Supabase}>
      <QueryClientProvider client={queryClient}>{children}</QueryClientProvider>
    </SupabaseProvider>
  );
  return { fake, client, queryClient, wrapper, runs };
}

describe('data hooks', () => {
  it('useMonitoring: one snapshot (latest, 20 history rows, 7-day window, champion, alerts), polled every 30 s', async () => {
    const { client, queryClient, wrapper, runs, fake } = setup();
    await signIn(client, USER.email, USER.password);
    fake.calls.length = 0;
    const { result } = renderHook(() => useMonitoring(), { wrapper });
    await waitFor(() => expect(result.current.isSuccess).toBe(true));
    const d = result.current.data!;
    expect(d.latest?.id).toBe(runs[0]!.id);
    expect(d.history).toHaveLength(20);
    expect(d.windowRuns.length).toBe(7);
    expect(d.champion?.status).toBe('champion');
    expect(d.alerts).toEqual([]);
    expect(d.latestNightly?.id).toBe(runs.find((r: { source: string }) => r.source === 'auto_daily')!.id);
    expect(fake.calls.map((c) => c.path).sort()).toEqual([
      '/rest/v1/model_retraining_runs',
      '/rest/v1/model_retraining_runs',
      '/rest/v1/model_retraining_runs',
      '/rest/v1/model_retraining_runs',
      '/rest/v1/model_versions',
    ]);
    expect(REFRESH_INTERVAL_MS).toBe(30_000);
    const observer = queryClient.getQueryCache().find({ queryKey: queryKeys.monitoring })!.observers[0]!;
    expect(observer.options.refetchInterval).toBe(30_000);
  });

  it('useMonitoring(false) does not fetch (signed-out)', async () => {
    const { wrapper, fake } = setup();
    const { result } = renderHook(() => useMonitoring(false), { wrapper });
    await new Promise((r) => setTimeout(r, 20));
    expect(result.current.fetchStatus).toBe('idle');
    expect(fake.calls).toHaveLength(0);
  });

  it('useMonitoring surfaces an ApiError', async () => {
    const { client, wrapper, fake } = setup();
    await signIn(client, USER.email, USER.password);
    fake.failNext(() => true, { status: 403, body: { code: '42501', message: 'permission denied for table model_retraining_runs' } });
    const { result } = renderHook(() => useMonitoring(), { wrapper });
    await waitFor(() => expect(result.current.isError).toBe(true));
    expect(result.current.error).toMatchObject({ kind: 'permission' });
  });

  it('useMyRequests: the user\'s rows, polled every 30 s', async () => {
    const { client, wrapper, fake, queryClient } = setup();
    await signIn(client, USER.email, USER.password);
    fake.state.tables.model_retraining_requests.push({ id: 'q1', requested_by: USER.id, reason: null, priority: 'normal', status: 'processing', created_at: new Date().toISOString(), processed_at: null, retraining_run_id: null, last_error: null, attempts: 1 });
    const { result } = renderHook(() => useMyRequests(USER.id), { wrapper });
    await waitFor(() => expect(result.current.data?.map((r) => r.status)).toEqual(['processing']));
    expect(queryClient.getQueryCache().find({ queryKey: queryKeys.requests(USER.id) })!.observers[0]!.options.refetchInterval).toBe(30_000);
  });

  it('useSession follows sign-in and sign-out', async () => {
    const { client, wrapper } = setup();
    const { result } = renderHook(() => useSession(), { wrapper });
    await waitFor(() => expect(result.current.status).toBe('signed-out'));
    await act(async () => {
      await signIn(client, USER.email, USER.password);
    });
    await waitFor(() => expect(result.current.status).toBe('signed-in'));
    expect(result.current.session?.user.id).toBe(USER.id);
    await act(async () => {
      await client.auth.signOut({ scope: 'local' });
    });
    await waitFor(() => expect(result.current.status).toBe('signed-out'));
  });
});
