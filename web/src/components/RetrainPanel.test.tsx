import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { RetrainPanel } from './RetrainPanel';
import { makeClient, renderWithProviders, signIn, type Fake } from '../test/utils';
import { createFakeSupabase } from '../../test-support/fake-supabase.mjs';
import { USER, VIEWER } from '../../test-support/fixtures.mjs';
import type { Role } from '../lib/role';

let fake: Fake;
const NOW = Date.now();

beforeEach(() => {
  fake = createFakeSupabase({ users: [USER, VIEWER] });
});

async function setup(as: typeof USER = USER, role: Role = 'operator') {
  const client = makeClient(fake);
  await signIn(client, as.email, as.password);
  fake.calls.length = 0;
  const user = userEvent.setup();
  const onShowRun = vi.fn();
  const utils = renderWithProviders(<RetrainPanel userId={as.id} role={role} now={NOW} onShowRun={onShowRun} />, { fake, client });
  await screen.findByText('You have no open or recent requests.');
  return { user, onShowRun, ...utils };
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

  it('Escape does not silently drop a typed reason: it is kept as a draft and comes back', async () => {
    const { user } = await setup();
    await user.click(retrainButton());
    await user.type(screen.getByLabelText('Reason (optional)'), 'drift since Monday');
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('form')).not.toBeInTheDocument();
    expect(retrainButton()).toHaveFocus();
    expect(screen.getByText('Your unsent reason is kept as a draft.')).toBeInTheDocument();
    await user.click(retrainButton());
    expect(screen.getByLabelText('Reason (optional)')).toHaveValue('drift since Monday');
    expect(posts()).toHaveLength(0);
  });

  it('says what happens and when: pickup within ~10 minutes, minutes of training, skipped below 10 errors, the gate may keep the model', async () => {
    await setup();
    const panel = screen.getByRole('region', { name: 'Manual retraining' });
    expect(panel).toHaveTextContent('within about 10 minutes');
    expect(panel).toHaveTextContent('Training then takes a few minutes');
    expect(panel).toHaveTextContent('fewer than 10 high-confidence errors');
    expect(panel).toHaveTextContent('skipped');
    expect(panel).toHaveTextContent('may keep the current model');
  });

  it('a viewer sees no High priority; a refusal by the database is shown as plain text and the reason is kept', async () => {
    const { user } = await setup(VIEWER, 'viewer');
    await user.click(retrainButton());
    const form = screen.getByRole('form', { name: 'Request retraining' });
    expect(within(form).queryByRole('radio', { name: 'High' })).not.toBeInTheDocument();
    expect(within(form).getAllByRole('radio').map((r) => (r as HTMLInputElement).value)).toEqual(['low', 'normal']);
    expect(form).toHaveTextContent('High priority is for operators.');
    await user.type(within(form).getByLabelText('Reason (optional)'), 'please');
    fake.failNext((c) => c.method === 'POST', {
      status: 400,
      body: { code: 'P0001', details: null, hint: null, message: 'retraining request refused: rate limit: your previous request was at 07:58 UTC; you may try again after <b>08:08 UTC</b>' },
    });
    await user.click(within(form).getByRole('button', { name: 'Confirm' }));
    const alert = await within(form).findByRole('alert');
    expect(alert).toHaveTextContent('Request refused: rate limit: your previous request was at 07:58 UTC; you may try again after <b>08:08 UTC</b>');
    expect(alert.querySelector('b')).toBeNull();
    expect(within(form).getByLabelText('Reason (optional)')).toHaveValue('please');
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
    await waitFor(() => expect(notice).toHaveFocus());
    expect(retrainButton()).toHaveAttribute('aria-expanded', 'false');

    // The user's own request is listed with its status and a Cancel action.
    const table = await screen.findByRole('list', { name: 'Your requests' });
    const row = within(table).getAllByRole('listitem')[0]!;
    expect(row).toHaveTextContent('High priority');
    expect(row).toHaveTextContent('New product line since Monday');
    expect(row).toHaveTextContent('Pending');
    expect(within(row).getByRole('button', { name: /^Cancel request from/ })).toBeInTheDocument();
    // While it is pending, Retrain Now is disabled and says why.
    await waitFor(() => expect(retrainButton()).toBeDisabled());
    expect(retrainButton()).toHaveAccessibleDescription(/You already have a pending request \(queued .+\)\. Cancel it below or wait/);
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
    const onShowRun = vi.fn();
    renderWithProviders(<RetrainPanel userId={USER.id} role="operator" now={NOW} onShowRun={onShowRun} knownRunIds={new Set(['run-1'])} />, { fake, client });
    const table = await screen.findByRole('list', { name: 'Your requests' });
    return { user, table, onShowRun };
  }

  it('lists each status in words, with Cancel only for pending', async () => {
    ['pending', 'processing', 'completed', 'cancelled', 'failed'].forEach((s) => seed(s));
    const { table } = await setupWithRows();
    const rows = within(table).getAllByRole('listitem');
    expect(rows).toHaveLength(5);
    for (const [s, word] of [['pending', 'Pending'], ['processing', 'Processing'], ['completed', 'Completed'], ['cancelled', 'Cancelled'], ['failed', 'Failed']] as const) {
      const r = rows.find((x) => x.textContent!.includes(`a ${s} one`))!;
      expect(r).toHaveTextContent(word);
      expect(within(r).queryAllByRole('button')).toHaveLength(s === 'pending' ? 1 : 0);
    }
    expect(within(table).getByText('runner lost: no heartbeat for more than 900 s')).toBeInTheDocument();
  });

  it('a request links to its run once there is one', async () => {
    seed('completed', 'req-done');
    fake.state.tables.model_retraining_requests[0].retraining_run_id = 'run-1';
    seed('processing', 'req-other');
    fake.state.tables.model_retraining_requests[1].retraining_run_id = 'run-old-0000';
    const { user, table, onShowRun } = await setupWithRows();
    await user.click(within(table).getByRole('button', { name: /^Show its run/ }));
    expect(onShowRun).toHaveBeenCalledWith('run-1');
    expect(table).toHaveTextContent('Run run-old- (not among the last 20 runs)');
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
    // The Cancel button is gone: focus stays in the list (its heading), not on <body>.
    expect(screen.getByRole('heading', { name: 'Your requests' })).toHaveFocus();
    await waitFor(() => expect(retrainButton()).toBeEnabled());
  });

  it('cancelling a request the runner already claimed says so', async () => {
    seed('pending', 'req-2');
    const { user, table } = await setupWithRows();
    fake.state.tables.model_retraining_requests[0].status = 'processing';
    await user.click(within(table).getByRole('button', { name: /^Cancel request from/ }));
    expect(await screen.findByRole('alert')).toHaveTextContent(/no longer pending/);
  });

  it('while a request is pending Retrain Now is disabled with the reason', async () => {
    seed('pending', 'req-3');
    await setupWithRows();
    expect(retrainButton()).toBeDisabled();
    expect(screen.getByText(/You already have a pending request/)).toBeInTheDocument();
  });

  it('a second request made meanwhile (another tab): 23505 in words, form stays open', async () => {
    const { user } = await setup();
    await user.click(retrainButton());
    seed('pending', 'req-4');
    await user.click(screen.getByRole('button', { name: 'Confirm' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('You already have a pending retraining request.');
    expect(screen.getByRole('form')).toBeInTheDocument();
  });

  it('a failure to load the list is shown in words', async () => {
    fake.failNext((c) => c.method === 'GET' && c.path.endsWith('model_retraining_requests'), { status: 403, body: { code: '42501', message: 'permission denied for table model_retraining_requests' } });
    const client = makeClient(fake);
    await signIn(client, USER.email, USER.password);
    renderWithProviders(<RetrainPanel userId={USER.id} role="operator" now={NOW} onShowRun={() => {}} />, { fake, client });
    expect(await screen.findByRole('alert')).toHaveTextContent(/Could not load your requests: Permission denied/);
  });
});
