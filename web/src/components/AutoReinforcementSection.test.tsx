import { act, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AutoReinforcementSection } from './AutoReinforcementSection';
import { makeClient, renderWithProviders, signIn, type Fake } from '../test/utils';
import { createFakeSupabase } from '../../test-support/fake-supabase.mjs';
import { USER, buildModelVersions, buildRuns, logObjects, makeRun } from '../../test-support/fixtures.mjs';

const NOW = Date.now();
let fake: Fake;

async function setup(f: Fake) {
  const client = makeClient(f);
  await signIn(client, USER.email, USER.password);
  return renderWithProviders(<AutoReinforcementSection userId={USER.id} role="operator" />, { fake: f, client });
}

describe('AutoReinforcementSection', () => {
  beforeEach(() => {
    const runs = buildRuns(NOW);
    fake = createFakeSupabase({ users: [USER], runs, modelVersions: buildModelVersions(runs), objects: logObjects(runs) });
  });

  it('shows a loading state first, then the latest run, history table and chart', async () => {
    await setup(fake);
    expect(screen.getByText('Loading retraining runs…')).toHaveAttribute('role', 'status');
    expect(await screen.findByRole('heading', { name: 'Latest run' })).toBeInTheDocument();
    const history = screen.getByRole('region', { name: 'Run history table' });
    expect(within(history).getAllByRole('row')).toHaveLength(21);
    expect(screen.getByRole('img', { name: /F1 score over \d+ completed runs/ })).toBeInTheDocument();
    expect(screen.getByTestId('updated-ago')).toHaveTextContent(/Updated (just now|\d+ s ago)/);
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
  });

  it('Refresh now refetches and politely says nothing changed', async () => {
    await setup(fake);
    await screen.findByRole('heading', { name: 'Latest run' });
    const before = fake.calls.length;
    await act(async () => screen.getByRole('button', { name: 'Refresh now' }).click());
    await vi.waitFor(() => expect(screen.getByTestId('refresh-announcement')).toHaveTextContent(/^Refreshed at .+; the latest run has not changed\.$/));
    expect(fake.calls.length).toBeGreaterThan(before);
  });

  it('empty: "no runs yet" and Retrain Now still available', async () => {
    fake.state.tables.model_retraining_runs.length = 0;
    fake.state.tables.model_versions.length = 0;
    await setup(fake);
    expect(await screen.findByText('No runs yet.', { selector: 'strong' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Retrain Now' })).toBeInTheDocument();
    expect(screen.queryByRole('img')).not.toBeInTheDocument();
  });

  it('error: network failure in words with a Try again button that recovers', async () => {
    fake.failNext((c) => c.path === '/rest/v1/model_retraining_runs', 'network');
    await setup(fake);
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Could not load retraining runs. Could not reach Supabase (network failure).');
    await act(async () => within(alert).getByRole('button', { name: 'Try again' }).click());
    expect(await screen.findByRole('heading', { name: 'Latest run' })).toBeInTheDocument();
  });

  it('error: RLS refusal in words', async () => {
    fake.failNext((c) => c.path === '/rest/v1/model_versions', { status: 403, body: { code: '42501', message: 'permission denied for table model_versions' } });
    await setup(fake);
    expect(await screen.findByRole('alert')).toHaveTextContent(/Permission denied/);
  });

  it('error: a 401 says the session is no longer valid and offers Sign in again, which signs out locally', async () => {
    fake.failNext((c) => c.path === '/rest/v1/model_versions', { status: 401, body: { code: 'PGRST303', message: 'JWT expired' } });
    const { client } = await setup(fake);
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Your session has expired or is no longer valid (HTTP 401 Unauthorized).');
    await act(async () => within(alert).getByRole('button', { name: 'Sign in again' }).click());
    await waitFor(async () => expect((await client.auth.getSession()).data.session).toBeNull());
  });

  it('error: an HTML error page is never shown raw; the status is in words', async () => {
    fake.failNext((c) => c.path === '/rest/v1/model_versions', { status: 502, raw: '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>' });
    await setup(fake);
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('HTTP 502 Bad Gateway');
    expect(alert.textContent).not.toMatch(/<|nginx/);
  });

  it('alerts banner: 3 failed runs and an accuracy drop', async () => {
    const t = (h: number) => new Date(NOW - h * 3_600_000).toISOString();
    fake.state.tables.model_retraining_runs.push(
      makeRun({ id: 'f1', status: 'failed', created_at: t(30), metrics: {}, error_message: 'x' }),
      makeRun({ id: 'f2', status: 'failed', created_at: t(20), metrics: {}, error_message: 'x' }),
      makeRun({ id: 'f3', status: 'failed', created_at: t(10), metrics: {}, error_message: 'x' }),
      makeRun({ id: 'bad', created_at: t(1), metrics: { accuracy: 0.8, precision: 0.8, recall: 0.8, f1_score: 0.8, baseline: { accuracy: 0.87 }, promoted: true, promotion_reason: 'forced' } }),
    );
    await setup(fake);
    const banner = await screen.findByRole('alert');
    expect(within(banner).getByRole('heading')).toHaveTextContent('2 alerts');
    expect(banner).toHaveTextContent('Critical: Retraining keeps failing.');
    expect(banner).toHaveTextContent('3 runs failed in the last 7 days');
    expect(banner).toHaveTextContent('Critical: Retraining made the model worse.');
    expect(banner).toHaveTextContent('accuracy dropped 7.0 pts (87.0% to 80.0%), more than its tolerance of 2.0 pts');
    expect(banner.querySelector('[data-alert="accuracy_decreased"]')).not.toBeNull();
  });
});

describe('auto-refresh every 30 s', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refetches after 30 s, shows the newer status and resets "updated N s ago"', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true, toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const start = Date.now();
    fake = createFakeSupabase({ users: [USER], runs: [makeRun({ id: 'r1', status: 'running', metrics: {}, created_at: new Date(start - 60_000).toISOString(), started_at: new Date(start - 60_000).toISOString(), completed_at: null })] });
    await setup(fake);
    const badge = () => document.querySelector('article header [data-status]');
    await waitFor(() => expect(badge()).toHaveTextContent('Running'));
    const runGets = () => fake.calls.filter((c) => c.method === 'GET' && c.path === '/rest/v1/model_retraining_runs' && c.query.get('limit') === '1' && !c.query.get('source')).length;
    expect(runGets()).toBe(1);
    expect(screen.getByTestId('refresh-announcement')).toHaveTextContent(/^$/);

    await act(async () => {
      await vi.advanceTimersByTimeAsync(20_000);
    });
    expect(screen.getByTestId('updated-ago')).toHaveTextContent(/Updated 2\d s ago/);

    // The runner finishes the run meanwhile.
    Object.assign(fake.state.tables.model_retraining_runs[0], { status: 'completed', completed_at: new Date(Date.now()).toISOString(), metrics: makeRun().metrics });
    await act(async () => {
      await vi.advanceTimersByTimeAsync(10_500);
    });
    await waitFor(() => expect(badge()).toHaveTextContent('Completed'));
    expect(runGets()).toBe(2);
    expect(screen.getByTestId('updated-ago')).toHaveTextContent(/Updated (just now|\d s ago)/);
    // The change is announced once, politely.
    expect(screen.getByTestId('refresh-announcement')).toHaveTextContent(/^Latest run is now completed \(Nightly \(auto_daily\)\)/);
    expect(screen.getByTestId('refresh-announcement')).toHaveAttribute('aria-live', 'polite');
  });
});
