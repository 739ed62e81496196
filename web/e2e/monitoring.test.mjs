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
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startStaticServer } from './static-server.mjs';
import { createFakeSupabase } from '../test-support/fake-supabase.mjs';
import { USER, buildModelVersions, buildRuns, logObjects, makeRun } from '../test-support/fixtures.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const DIST = resolve(HERE, '..', 'dist-e2e');
// The screenshot is deterministic (fixed page clock, fixed data), so re-running does not churn it.
const SCREENSHOT = process.env.E2E_SCREENSHOT ? resolve(process.env.E2E_SCREENSHOT) : resolve(HERE, '..', '..', 'docs', 'screenshot.png');
const FAKE_ORIGIN = 'http://127.0.0.1:54321';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// Page clock starts here (08:00 UTC, six hours after the nightly 02:00 run).
const T0 = Date.parse('2026-11-20T08:00:00.000Z');

let server;
let browser;

before(async () => {
  assert.ok(existsSync(join(DIST, 'index.html')), `${DIST} is missing: run "npm run build:e2e" first`);
  const bundle = readdirSync(join(DIST, 'assets'))
    .filter((f) => f.endsWith('.js'))
    .map((f) => readFileSync(join(DIST, 'assets', f), 'utf8'))
    .join('\n');
  assert.ok(bundle.includes(FAKE_ORIGIN), `dist-e2e was not built against ${FAKE_ORIGIN} (is VITE_SUPABASE_URL set in the environment?)`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: apt-get install -y chromium`);
  server = await startStaticServer(DIST);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PATCH, PUT, DELETE, OPTIONS',
  'access-control-expose-headers': 'content-range, content-profile, x-supabase-api-version',
  'access-control-max-age': '600',
};

/**
 * A browser context whose page clock starts at T0 and whose Supabase traffic is answered
 * by `fake`. Returns helpers to inspect traffic and keep the fake's clock in step.
 */
async function openApp(fake, clockOffset) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    locale: 'en-GB',
    timezoneId: 'UTC',
    colorScheme: 'light',
    serviceWorkers: 'block',
  });
  const unexpected = [];
  const sockets = [];
  const pageErrors = [];

  // Anything not for the app server or the fake origin is unexpected (and blocked).
  await context.route(/.*/, (route) => {
    const url = route.request().url();
    if (url.startsWith(server.url)) return route.continue();
    unexpected.push(`${route.request().method()} ${url}`);
    return route.abort('blockedbyclient');
  });
  await context.route(`${FAKE_ORIGIN}/**`, async (route) => {
    const req = route.request();
    if (req.method() === 'OPTIONS') {
      const asked = (await req.headerValue('access-control-request-headers')) ?? '';
      return route.fulfill({ status: 204, headers: { ...CORS, 'access-control-allow-headers': asked || 'authorization, apikey, content-type, prefer, x-client-info' } });
    }
    const res = fake.handle({ method: req.method(), url: req.url(), headers: await req.allHeaders(), body: req.postData() });
    if (res === 'network') return route.abort('internetdisconnected');
    return route.fulfill({ status: res.status, headers: { ...res.headers, ...CORS }, body: res.body });
  });

  const page = await context.newPage();
  page.on('websocket', (ws) => sockets.push(ws.url()));
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  await page.clock.install({ time: T0 });
  clockOffset.value = T0 - Date.now();
  await page.goto(server.url);
  return { context, page, unexpected, sockets, pageErrors };
}

async function signIn(page) {
  await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
  await page.getByLabel('Email').fill(USER.email);
  await page.getByLabel('Password').fill(USER.password);
  const tokenReq = page.waitForRequest((r) => r.url().startsWith(`${FAKE_ORIGIN}/auth/v1/token`));
  await page.getByRole('button', { name: 'Sign in' }).click();
  const req = await tokenReq;
  assert.equal(req.method(), 'POST');
  assert.equal(new URL(req.url()).searchParams.get('grant_type'), 'password');
  assert.deepEqual(
    { email: req.postDataJSON().email, password: req.postDataJSON().password },
    { email: USER.email, password: USER.password },
  );
  await page.getByRole('heading', { name: 'Latest run' }).waitFor();
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
      await page.getByRole('img', { name: /Accuracy over the last/ }).waitFor();

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
      const myRow = page.locator('table.requests tbody tr').first();
      await myRow.getByText('Pending').waitFor();
      assert.match(await myRow.innerText(), /Weekend promo traffic drifted/);

      // Screenshot of a complete page: completed run, history + chart, confirmation, pending request.
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.mouse.move(0, 0);
      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      // 30 s auto-refresh: the server now has a newer run (decay-triggered, running).
      const latestGets = () =>
        fake.calls.filter((c) => c.method === 'GET' && c.path === '/rest/v1/model_retraining_runs' && c.query.get('limit') === '1').length;
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
    const { context, page, sockets, unexpected } = await openApp(fake, clockOffset);
    try {
      await signIn(page);
      await page.locator('table.requests').getByText('queued earlier').waitFor();

      await page.getByRole('button', { name: 'Retrain Now' }).click();
      const form = page.getByRole('form', { name: 'Request retraining' });
      await form.getByRole('radio', { name: 'High' }).check();
      await form.getByRole('button', { name: 'Confirm' }).click();
      const alert = form.getByRole('alert');
      await alert.waitFor();
      assert.match(await alert.innerText(), /You already have a pending retraining request/);
      assert.equal(await form.isVisible(), true, 'the form stays open on error');

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
