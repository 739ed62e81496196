// End-to-end: the BUILT app (dist-e2e/, built with VITE_SUPABASE_URL=http://127.0.0.1:54321)
// served on 127.0.0.1, driven in real headless Chromium (Debian's /usr/bin/chromium) by
// playwright-core. Nothing listens on the fake Supabase origin: Playwright route handlers
// answer Auth (GoTrue), REST (PostgREST) and Storage requests in their real formats from an
// in-memory fake (../test-support/fake-supabase.mjs). Realtime is not used: any WebSocket
// the page opens fails the test.
//
// Run: npm run build:e2e && npm run e2e    (scripts/test-web.sh does both)
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createFakeSupabase } from '../test-support/fake-supabase.mjs';
import { USER, buildModelVersions, buildRuns, logObjects, makeRun } from '../test-support/fixtures.mjs';
import { FAKE_ORIGIN, REPO, T0, openApp as open, signIn as signInAs, startHarness } from './harness.mjs';

// The screenshot is deterministic (fixed page clock, fixed data), so re-running does not churn it.
const SCREENSHOT = process.env.E2E_SCREENSHOT ? resolve(process.env.E2E_SCREENSHOT) : resolve(REPO, 'docs', 'screenshot.png');

let h;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

const openApp = (fake, clockOffset) => open(h, fake, clockOffset);

async function signIn(page) {
  const tokenReq = page.waitForRequest((r) => r.url().startsWith(`${FAKE_ORIGIN}/auth/v1/token`));
  await signInAs(page, USER);
  const req = await tokenReq;
  assert.equal(req.method(), 'POST');
  assert.equal(new URL(req.url()).searchParams.get('grant_type'), 'password');
  assert.deepEqual(
    { email: req.postDataJSON().email, password: req.postDataJSON().password },
    { email: USER.email, password: USER.password },
  );
}

const badge = (page, status) => page.locator(`article[aria-labelledby="latest-title"] header [data-status="${status}"]`);

function makeFake(clockOffset) {
  const runs = buildRuns(T0);
  return createFakeSupabase({
    users: [USER],
    runs,
    modelVersions: buildModelVersions(runs),
    objects: logObjects(runs),
    // Server-side defaults (created_at of a new request) follow the page's fake clock.
    now: () => Date.now() + clockOffset.value,
  });
}

describe('Monitoring page, Auto Reinforcement section (headless Chromium)', () => {
  it('sign in, latest run, Retrain Now, 30 s auto-refresh, cancel a pending request', { timeout: 90_000 }, async () => {
    const clockOffset = { value: 0 };
    const fake = makeFake(clockOffset);
    const { context, page, unexpected, sockets, pageErrors } = await openApp(fake, clockOffset);
    try {
      await signIn(page);

      // Latest run: the nightly run of 02:00, completed and promoted.
      await badge(page, 'completed').waitFor();
      const card = page.locator('article[aria-labelledby="latest-title"]');
      const cardText = await card.innerText();
      assert.match(cardText, /Completed/);
      assert.match(cardText, /Nightly \(auto_daily\)/);
      assert.match(cardText, /error samples/);
      assert.match(cardText, /Promoted \(v\d+\):/);
      assert.match(cardText, /Accuracy\s+87\.1%\s+86\.8%/);
      const logHref = await card.getByRole('link', { name: /Open training log/ }).getAttribute('href');
      assert.match(logHref, new RegExp(`^${FAKE_ORIGIN}/storage/v1/object/sign/training-logs/[0-9a-f-]+\\.log\\?token=`));
      const historyRows = await page.locator('table.history tbody tr').count();
      assert.equal(historyRows, 20);
      await page.getByRole('img', { name: /F1 score over \d+ completed runs/ }).waitFor();

      // Retrain Now -> form -> reason -> Confirm.
      const retrain = page.getByRole('button', { name: 'Retrain Now' });
      await retrain.click();
      const form = page.getByRole('form', { name: 'Request retraining' });
      await form.waitFor();
      assert.equal(await retrain.getAttribute('aria-expanded'), 'true');
      assert.equal(await form.getByRole('radio', { name: 'Normal' }).isChecked(), true);
      await form.getByLabel('Reason (optional)').fill('Weekend promo traffic drifted');
      assert.equal(await form.getByText('29 / 500 characters').count(), 1);
      const postReq = page.waitForRequest((r) => r.method() === 'POST' && r.url().startsWith(`${FAKE_ORIGIN}/rest/v1/model_retraining_requests`));
      await form.getByRole('button', { name: 'Confirm' }).click();
      const post = await postReq;
      // The EXACT body: the signed-in user's id, the reason, the priority; no status.
      assert.equal(post.postData(), `{"requested_by":"${USER.id}","reason":"Weekend promo traffic drifted","priority":"normal"}`);
      const postHeaders = await post.allHeaders();
      assert.match(postHeaders.authorization, /^Bearer ey/);
      assert.match(postHeaders.prefer, /return=representation/);

      // The form collapses; the confirmation stays visible OUTSIDE it.
      await form.waitFor({ state: 'detached' });
      const notice = page.getByTestId('retrain-notice');
      await notice.waitFor({ state: 'visible' });
      assert.match(await notice.innerText(), /Retraining requested \(Normal priority\)/);
      assert.equal(await notice.evaluate((el) => el.closest('form') === null && el.closest('[role="status"][aria-live="polite"]') !== null), true);
      assert.equal(await retrain.getAttribute('aria-expanded'), 'false');

      // The request is listed as pending, with a Cancel action.
      const myRow = page.locator('ul.requests > li').first();
      await myRow.getByText('Pending').waitFor();
      assert.match(await myRow.innerText(), /Weekend promo traffic drifted/);

      // Screenshot of a complete page: completed run, history + chart, confirmation, pending request.
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.mouse.move(0, 0);
      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      // 30 s auto-refresh: the server now has a newer run (decay-triggered, running).
      const latestGets = () =>
        fake.calls.filter((c) => c.method === 'GET' && c.path === '/rest/v1/model_retraining_runs' && c.query.get('limit') === '1' && !c.query.get('source')).length;
      const before = latestGets();
      const pageNow = await page.evaluate(() => Date.now());
      fake.state.tables.model_retraining_runs.push(
        makeRun({
          id: 'bbbbbbbb-0000-4000-8000-000000000001',
          source: 'decay_triggered',
          status: 'running',
          metrics: {},
          dataset_size: 212,
          created_at: new Date(pageNow - 5_000).toISOString(),
          started_at: new Date(pageNow - 4_000).toISOString(),
          completed_at: null,
          log_url: null,
          model_version: null,
        }),
      );
      assert.equal(await badge(page, 'running').count(), 0);
      await page.clock.runFor(30_000);
      clockOffset.value += 30_000;
      await badge(page, 'running').waitFor({ timeout: 10_000 });
      assert.ok(latestGets() > before, 'the latest run was fetched again after 30 s');
      assert.match(await card.innerText(), /Decay triggered/);
      assert.match(await page.getByTestId('updated-ago').innerText(), /Updated (just now|\d s ago)/);

      // Cancel the pending request: PATCH status=cancelled filtered by id.
      const requestId = fake.state.tables.model_retraining_requests[0].id;
      const patchReq = page.waitForRequest((r) => r.method() === 'PATCH');
      await myRow.getByRole('button', { name: /^Cancel request from/ }).click();
      const patch = await patchReq;
      const patchUrl = new URL(patch.url());
      assert.equal(patchUrl.pathname, '/rest/v1/model_retraining_requests');
      assert.equal(patchUrl.searchParams.get('id'), `eq.${requestId}`);
      assert.equal(patchUrl.searchParams.get('status'), 'eq.pending');
      assert.equal(patch.postData(), '{"status":"cancelled"}');
      await myRow.getByText('Cancelled').waitFor();
      assert.match(await notice.innerText(), /was cancelled/);
      assert.equal(fake.state.tables.model_retraining_requests[0].status, 'cancelled');

      assert.deepEqual(sockets, [], 'no WebSocket (realtime) connections');
      assert.deepEqual(unexpected, [], 'no requests outside the app and the fake Supabase origin');
      assert.deepEqual(pageErrors, [], 'no uncaught page errors');
    } finally {
      await context.close();
    }
  });

  it('errors in words: one pending request per user (23505), RLS refusal (403 42501); sign out', { timeout: 60_000 }, async () => {
    const clockOffset = { value: 0 };
    const fake = makeFake(clockOffset);
    const { context, page, sockets, unexpected } = await openApp(fake, clockOffset);
    try {
      await signIn(page);
      await page.getByText('You have no open or recent requests.').waitFor();
      // A request queued meanwhile in another tab: the page does not know it yet.
      fake.state.tables.model_retraining_requests.push({
        id: 'cccccccc-0000-4000-8000-000000000001',
        requested_by: USER.id,
        reason: 'queued earlier',
        priority: 'low',
        status: 'pending',
        processed_at: null,
        retraining_run_id: null,
        created_at: new Date(T0 - 3_600_000).toISOString(),
        updated_at: new Date(T0 - 3_600_000).toISOString(),
        attempts: 0,
        claimed_at: null,
        last_error: null,
      });

      await page.getByRole('button', { name: 'Retrain Now' }).click();
      const form = page.getByRole('form', { name: 'Request retraining' });
      await form.getByRole('radio', { name: 'High' }).check();
      await form.getByRole('button', { name: 'Confirm' }).click();
      const alert = form.getByRole('alert');
      await alert.waitFor();
      assert.match(await alert.innerText(), /You already have a pending retraining request/);
      assert.equal(await form.isVisible(), true, 'the form stays open on error');
      await page.locator('ul.requests').getByText('queued earlier').waitFor();

      fake.state.tables.model_retraining_requests[0].status = 'completed';
      fake.failNext((c) => c.method === 'POST' && c.path === '/rest/v1/model_retraining_requests', {
        status: 403,
        body: { code: '42501', details: null, hint: null, message: 'new row violates row-level security policy for table "model_retraining_requests"' },
      });
      await form.getByRole('button', { name: 'Confirm' }).click();
      await form.getByText(/Permission denied: the database refused this action \(row-level security\)/).waitFor();

      fake.failNext((c) => c.method === 'POST' && c.path === '/rest/v1/model_retraining_requests', 'network');
      await form.getByRole('button', { name: 'Confirm' }).click();
      await form.getByText(/Could not reach Supabase \(network failure\)/).waitFor();

      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
      assert.equal(await page.getByRole('heading', { name: 'Latest run' }).count(), 0);
      assert.deepEqual(sockets, []);
      assert.deepEqual(unexpected, []);
    } finally {
      await context.close();
    }
  });
});
