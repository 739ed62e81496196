import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';
import { RetrainPanel } from './RetrainPanel';
import { makeClient, renderWithProviders, signIn, type Fake } from '../test/utils';
import { createFakeSupabase } from '../../test-support/fake-supabase.mjs';
import { USER } from '../../test-support/fixtures.mjs';

let fake: Fake;
const NOW = Date.now();

beforeEach(() => {
  fake = createFakeSupabase({ users: [USER] });
});

async function setup() {
  const client = makeClient(fake);
  await signIn(client, USER.email, USER.password);
  fake.calls.length = 0;
  const user = userEvent.setup();
  const utils = renderWithProviders(<RetrainPanel userId={USER.id} />, { fake, client });
  await screen.findByText('You have no open or recent requests.');
  return { user, ...utils };
}

const posts = () => fake.calls.filter((c) => c.method === 'POST' && c.path === '/rest/v1/model_retraining_requests');
const retrainButton = () => screen.getByRole('button', { name: 'Retrain Now' });

describe('Retrain Now form', () => {
  it('opens from the button with reason, counter, priority (default normal), Confirm and Cancel', async () => {
    const { user } = await setup();
    expect(retrainButton()).toHaveAttribute('aria-expanded', 'false');
    expect(screen.queryByRole('form')).not.toBeInTheDocument();
    await user.click(retrainButton());
    expect(retrainButton()).toHaveAttribute('aria-expanded', 'true');
    const form = screen.getByRole('form', { name: 'Request retraining' });
    const reason = within(form).getByLabelText('Reason (optional)');
    expect(reason).toHaveFocus();
    expect(reason).toHaveAttribute('maxLength', '500');
    expect(reason).toHaveAccessibleDescription('0 / 500 characters');
    expect(within(form).getByRole('group', { name: 'Priority' })).toBeInTheDocument();
    expect(within(form).getByRole('radio', { name: 'Normal' })).toBeChecked();
    expect(within(form).getByRole('radio', { name: 'Low' })).not.toBeChecked();
    expect(within(form).getByRole('button', { name: 'Confirm' })).toBeInTheDocument();
    expect(within(form).getByRole('button', { name: 'Cancel' })).toBeInTheDocument();
  });

  it('counts characters and stops at 500', async () => {
    const { user } = await setup();
    await user.click(retrainButton());
    const reason = screen.getByLabelText('Reason (optional)');
    await user.type(reason, 'drift');
    expect(screen.getByText('5 / 500 characters')).toBeInTheDocument();
    await user.clear(reason);
    await user.click(reason);
    await user.paste('x'.repeat(520));
    expect((reason as HTMLTextAreaElement).value).toHaveLength(500);
    expect(screen.getByText('500 / 500 characters')).toBeInTheDocument();
  });

  it('Cancel (and Escape) collapse the form without sending anything', async () => {
    const { user } = await setup();
    await user.click(retrainButton());
    await user.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('form')).not.toBeInTheDocument();
    expect(retrainButton()).toHaveFocus();
    await user.click(retrainButton());
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('form')).not.toBeInTheDocument();
    expect(posts()).toHaveLength(0);
  });

  it('Confirm inserts as the signed-in user, collapses the form and keeps a confirmation OUTSIDE it', async () => {
    const { user } = await setup();
    await user.click(retrainButton());
    await user.type(screen.getByLabelText('Reason (optional)'), 'New product line since Monday');
    await user.click(screen.getByRole('radio', { name: 'High' }));
    await user.click(screen.getByRole('button', { name: 'Confirm' }));

    await waitFor(() => expect(screen.queryByRole('form')).not.toBeInTheDocument());
    expect(posts()).toHaveLength(1);
    expect(posts()[0]!.rawBody).toBe(JSON.stringify({ requested_by: USER.id, reason: 'New product line since Monday', priority: 'high' }));
    expect(posts()[0]!.headers.authorization).toMatch(/^Bearer /);

    const notice = screen.getByTestId('retrain-notice');
    expect(notice).toBeVisible();
    expect(notice).toHaveTextContent(/Retraining requested \(High priority\)/);
    expect(notice.closest('form')).toBeNull();
    expect(notice.closest('[aria-live="polite"]')).toHaveAttribute('role', 'status');
    expect(retrainButton()).toHaveFocus();
    expect(retrainButton()).toHaveAttribute('aria-expanded', 'false');

    // The user's own request is listed with its status and a Cancel action.
    const table = await screen.findByRole('table', { name: 'Your requests' });
    const row = within(table).getAllByRole('row')[1]!;
    expect(row).toHaveTextContent('High priority');
    expect(row).toHaveTextContent('New product line since Monday');
    expect(row).toHaveTextContent('Pending');
    expect(within(row).getByRole('button', { name: /^Cancel request from/ })).toBeInTheDocument();
  });

  it('a blank reason is sent as null with the default priority', async () => {
    const { user } = await setup();
    await user.click(retrainButton());
    await user.click(screen.getByRole('button', { name: 'Confirm' }));
    await screen.findByTestId('retrain-notice');
    expect(posts()[0]!.rawBody).toBe(JSON.stringify({ requested_by: USER.id, reason: null, priority: 'normal' }));
  });

  it('RLS refusal (403 42501) is explained in words', async () => {
    const { user } = await setup();
    fake.failNext((c) => c.method === 'POST', { status: 403, body: { code: '42501', details: null, hint: null, message: 'new row violates row-level security policy for table "model_retraining_requests"' } });
    await user.click(retrainButton());
    await user.click(screen.getByRole('button', { name: 'Confirm' }));
    expect(await screen.findByRole('alert')).toHaveTextContent(/Permission denied: the database refused this action \(row-level security\)/);
    expect(screen.getByRole('form')).toBeInTheDocument();
    expect(screen.queryByTestId('retrain-notice')).not.toBeInTheDocument();
  });

  it('a network failure is explained in words', async () => {
    const { user } = await setup();
    fake.failNext((c) => c.method === 'POST', 'network');
    await user.click(retrainButton());
    await user.click(screen.getByRole('button', { name: 'Confirm' }));
    expect(await screen.findByRole('alert')).toHaveTextContent(/Could not reach Supabase \(network failure\)/);
  });
});

describe('Your requests', () => {
  function seed(status: string, id = `req-${status}`) {
    fake.state.tables.model_retraining_requests.push({ id, requested_by: USER.id, reason: `a ${status} one`, priority: 'low', status, created_at: new Date(NOW - 120_000).toISOString(), processed_at: null, retraining_run_id: null, last_error: status === 'failed' ? 'runner lost: no heartbeat for more than 900 s' : null, attempts: 0 });
  }

  async function setupWithRows() {
    const client = makeClient(fake);
    await signIn(client, USER.email, USER.password);
    fake.calls.length = 0;
    const user = userEvent.setup();
    renderWithProviders(<RetrainPanel userId={USER.id} />, { fake, client });
    const table = await screen.findByRole('table', { name: 'Your requests' });
    return { user, table };
  }

  it('lists each status in words, with Cancel only for pending', async () => {
    ['pending', 'processing', 'completed', 'cancelled', 'failed'].forEach((s) => seed(s));
    const { table } = await setupWithRows();
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows).toHaveLength(5);
    for (const [s, word] of [['pending', 'Pending'], ['processing', 'Processing'], ['completed', 'Completed'], ['cancelled', 'Cancelled'], ['failed', 'Failed']] as const) {
      const r = rows.find((x) => x.textContent!.includes(`a ${s} one`))!;
      expect(r).toHaveTextContent(word);
      expect(within(r).queryAllByRole('button')).toHaveLength(s === 'pending' ? 1 : 0);
    }
    expect(within(table).getByText('runner lost: no heartbeat for more than 900 s')).toBeInTheDocument();
  });

  it('Cancel sends PATCH status=cancelled filtered by id, then shows it cancelled', async () => {
    seed('pending', 'req-1');
    const { user, table } = await setupWithRows();
    await user.click(within(table).getByRole('button', { name: /^Cancel request from/ }));
    await waitFor(() => expect(within(table).getByText('Cancelled')).toBeInTheDocument());
    const patch = fake.calls.find((c) => c.method === 'PATCH')!;
    expect(patch.path).toBe('/rest/v1/model_retraining_requests');
    expect(patch.query.get('id')).toBe('eq.req-1');
    expect(patch.rawBody).toBe('{"status":"cancelled"}');
    expect(screen.getByTestId('retrain-notice')).toHaveTextContent(/was cancelled/);
  });

  it('cancelling a request the runner already claimed says so', async () => {
    seed('pending', 'req-2');
    const { user, table } = await setupWithRows();
    fake.state.tables.model_retraining_requests[0].status = 'processing';
    await user.click(within(table).getByRole('button', { name: /^Cancel request from/ }));
    expect(await screen.findByRole('alert')).toHaveTextContent(/no longer pending/);
  });

  it('a second request while one is pending: 23505 in words, form stays open', async () => {
    seed('pending', 'req-3');
    const { user } = await setupWithRows();
    await user.click(retrainButton());
    await user.click(screen.getByRole('button', { name: 'Confirm' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('You already have a pending retraining request.');
    expect(screen.getByRole('form')).toBeInTheDocument();
  });

  it('a failure to load the list is shown in words', async () => {
    fake.failNext((c) => c.method === 'GET' && c.path.endsWith('model_retraining_requests'), { status: 401, body: { code: '42501', message: 'permission denied for table model_retraining_requests' } });
    const client = makeClient(fake);
    await signIn(client, USER.email, USER.password);
    renderWithProviders(<RetrainPanel userId={USER.id} />, { fake, client });
    expect(await screen.findByRole('alert')).toHaveTextContent(/Could not load your requests: Permission denied/);
  });
});
