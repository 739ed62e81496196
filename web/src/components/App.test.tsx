import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';
import { App } from './App';
import { ConfigMissing } from './ConfigMissing';
import { renderWithProviders, type Fake } from '../test/utils';
import { createFakeSupabase } from '../../test-support/fake-supabase.mjs';
import { USER, buildModelVersions, buildRuns, logObjects } from '../../test-support/fixtures.mjs';
import { readSupabaseConfig } from '../lib/config';

let fake: Fake;
beforeEach(() => {
  const runs = buildRuns(Date.now());
  fake = createFakeSupabase({ users: [USER], runs, modelVersions: buildModelVersions(runs), objects: logObjects(runs) });
});

describe('App: authentication', () => {
  it('signed-out visitors see a clear state and a sign-in form, and no data is requested', async () => {
    renderWithProviders(<App />, { fake });
    expect(await screen.findByRole('heading', { name: 'You are signed out' })).toBeInTheDocument();
    expect(screen.getByLabelText('Email')).toBeInTheDocument();
    expect(screen.getByLabelText('Password')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Sign out' })).not.toBeInTheDocument();
    expect(fake.calls.filter((c) => c.path.startsWith('/rest/'))).toHaveLength(0);
  });

  it('wrong password: says so', async () => {
    const user = userEvent.setup();
    renderWithProviders(<App />, { fake });
    await user.type(await screen.findByLabelText('Email'), USER.email);
    await user.type(screen.getByLabelText('Password'), 'wrong');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Wrong email or password.');
  });

  it('Auth unreachable: network failure in words', async () => {
    const user = userEvent.setup();
    renderWithProviders(<App />, { fake });
    fake.failNext((c) => c.path === '/auth/v1/token', 'network');
    await user.type(await screen.findByLabelText('Email'), USER.email);
    await user.type(screen.getByLabelText('Password'), USER.password);
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent(/network failure/);
  });

  it('signs in with email + password, shows the section, then signs out', async () => {
    const user = userEvent.setup();
    renderWithProviders(<App />, { fake });
    await user.type(await screen.findByLabelText('Email'), USER.email);
    await user.type(screen.getByLabelText('Password'), USER.password);
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('heading', { name: 'Auto Reinforcement' })).toBeInTheDocument();
    expect(await screen.findByRole('heading', { name: 'Latest run' })).toBeInTheDocument();
    expect(screen.getByText(USER.email)).toBeInTheDocument();
    const token = fake.calls.find((c) => c.path === '/auth/v1/token')!;
    expect(token.query.get('grant_type')).toBe('password');
    expect(token.body).toMatchObject({ email: USER.email, password: USER.password });

    await user.click(screen.getByRole('button', { name: 'Sign out' }));
    expect(await screen.findByRole('heading', { name: 'You are signed out' })).toBeInTheDocument();
    await waitFor(() => expect(screen.queryByRole('heading', { name: 'Latest run' })).not.toBeInTheDocument());
  });
});

it('sign-out works offline (local session removed first) and says the server was not told', async () => {
  const user = userEvent.setup();
  renderWithProviders(<App />, { fake });
  await user.type(await screen.findByLabelText('Email'), USER.email);
  await user.type(screen.getByLabelText('Password'), USER.password);
  await user.click(screen.getByRole('button', { name: 'Sign in' }));
  await screen.findByRole('heading', { name: 'Latest run' });
  fake.failNext((c) => c.path === '/auth/v1/logout', 'network');
  await user.click(screen.getByRole('button', { name: 'Sign out' }));
  expect(await screen.findByRole('heading', { name: 'You are signed out' })).toBeInTheDocument();
  expect(await screen.findByText(/Signed out on this device, but Supabase could not revoke the session: Could not reach Supabase/)).toBeInTheDocument();
});

describe('configuration', () => {
  it('a missing URL/key is explained on the page', () => {
    const cfg = readSupabaseConfig({});
    if (cfg.ok) throw new Error('expected a problem');
    render(<ConfigMissing problems={cfg.problems} />);
    expect(screen.getByRole('alert')).toHaveTextContent('Supabase is not configured');
    expect(screen.getByText('VITE_SUPABASE_URL is not set.')).toBeInTheDocument();
    expect(screen.getByText('VITE_SUPABASE_ANON_KEY is not set.')).toBeInTheDocument();
  });
});
