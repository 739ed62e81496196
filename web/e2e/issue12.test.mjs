// End-to-end tests of issue 12 ("works on a phone, warns about missed and hung runs, agrees
// with the gate"), one test per numbered item plus the roles/refusals contract, in real
// headless Chromium (see harness.mjs). Also writes the screenshots in docs/screenshots/
// (deterministic: fixed page clock, fixed data, fixed fonts of the machine).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NO_ROLE_USER, USER, VIEWER, makeRun } from '../test-support/fixtures.mjs';
import { FAKE_ORIGIN, REPO, T0, VIEWPORTS, axe, checkFitsAndAccessible, contrast, openApp, signIn, startHarness } from './harness.mjs';
import { ALERT_IDS, alerting, healthy, withPendingRequest } from './scenarios.mjs';

const SHOTS = process.env.E2E_SCREENSHOTS_DIR ? resolve(process.env.E2E_SCREENSHOTS_DIR) : join(REPO, 'docs', 'screenshots');
const H = 3_600_000;

let h;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

/** Open the app on `scenario`, run `body(ctx)`, then check the traffic rules and close. */
async function withApp(scenario, opts, body) {
  const clockOffset = { value: 0 };
  const fake = scenario(clockOffset);
  const app = await openApp(h, fake, clockOffset, opts);
  try {
    await body({ ...app, fake, clockOffset });
    assert.deepEqual(app.sockets, [], 'no WebSocket (realtime) connections');
    assert.deepEqual(app.unexpected, [], 'no requests outside the app and the fake Supabase origin');
    assert.deepEqual(app.pageErrors, [], 'no uncaught page errors');
  } finally {
    await app.context.close();
  }
}

/**
 * A deterministic screenshot: refresh so the page says "Updated just now", fix the page's
 * time there (no ticking text; it stays fixed afterwards), no focus ring, no hover.
 */
async function shot(page, name, { fullPage = false, scrollTo = null } = {}) {
  mkdirSync(SHOTS, { recursive: true });
  const refresh = page.getByRole('button', { name: 'Refresh now' });
  await refresh.click();
  const updated = page.getByTestId('updated-ago').filter({ hasText: 'Updated just now' });
  await updated.waitFor();
  // Date.now() stays at the refresh's time (timers keep running): nothing ticks.
  await page.clock.setFixedTime(Date.parse(await updated.locator('time').getAttribute('datetime')));
  await page.evaluate((sel) => (sel ? document.querySelector(sel).scrollIntoView({ block: 'start' }) : window.scrollTo(0, 0)), scrollTo);
  await page.mouse.move(0, 0);
  await page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
  await page.screenshot({ path: join(SHOTS, name), fullPage });
}

const row = (page, id) => page.locator(`table.history tr[data-run-id="${id}"]`);
const log = (line) => console.log(`# ${line}`);

describe('issue 12: Monitoring page (headless Chromium)', () => {
  it('item 1: every state fits 360/390/430/1280 px without horizontal page scroll; axe 0 violations; phone cards', { timeout: 240_000 }, async () => {
    for (const [name, viewport] of Object.entries(VIEWPORTS)) {
      const phone = viewport.width < 640;
      const size = `${viewport.width}x${viewport.height}`;
      const screenshots = name === 'desktop' || name === 'phone390';

      // Signed out, then a healthy history, details open, the form open.
      await withApp(healthy, { viewport }, async ({ page }) => {
        await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
        log(await checkFitsAndAccessible(page, `${size} signed out`));
        await signIn(page, USER);
        await page.locator('table.history tbody tr').first().waitFor();
        await page.getByRole('link', { name: /Open training log/ }).first().waitFor();
        log(await checkFitsAndAccessible(page, `${size} healthy history`));
        // The failed run is a full card/row with its error, not a blank band.
        const failed = page.locator('table.history tr[data-status="failed"]');
        const box = await failed.boundingBox();
        assert.ok(box.height > (phone ? 150 : 30), `failed row is ${box.height} px high`);
        assert.match(await failed.innerText(), /Error: could not download evaluation-logs/);
        if (phone) {
          // Cards: every column's label is shown next to its value.
          assert.match(await failed.locator('td[data-label="Status"]').evaluate((el) => getComputedStyle(el, '::before').content), /Status/);
          assert.equal(await page.locator('table.history thead').evaluate((el) => el.getBoundingClientRect().width <= 1), true);
        }
        if (screenshots) {
          await shot(page, `healthy-${size}.png`, { scrollTo: '.history-card' });
        }
        await failed.getByRole('button', { expanded: false }).click();
        await page.locator('.history__details').waitFor();
        log(await checkFitsAndAccessible(page, `${size} failed run details open`));
        await page.getByRole('button', { name: 'Retrain Now' }).click();
        await page.getByLabel('Reason (optional)').fill('x'.repeat(120));
        log(await checkFitsAndAccessible(page, `${size} Retrain Now form open`));
      });

      // A pending request: its Cancel button is on screen.
      await withApp(withPendingRequest, { viewport }, async ({ page }) => {
        await signIn(page, USER);
        const cancel = page.getByRole('button', { name: /^Cancel request from/ });
        await cancel.scrollIntoViewIfNeeded();
        const b = await cancel.boundingBox();
        assert.ok(b.x >= 0 && b.x + b.width <= viewport.width, `Cancel button at x ${b.x}..${b.x + b.width} on a ${viewport.width} px screen`);
        log(await checkFitsAndAccessible(page, `${size} pending request`));
        if (screenshots) {
          await shot(page, `pending-request-${size}.png`, { scrollTo: phone ? '.retrain' : null });
        }
      });

      // The alert state: warnings, alerts, a hung run, long unbroken error text.
      await withApp(alerting, { viewport }, async ({ page }) => {
        await signIn(page, USER);
        await page.locator('[data-alert="accuracy_decreased"]').waitFor();
        await page.locator('[data-warning="run_past_lease"]').waitFor();
        log(await checkFitsAndAccessible(page, `${size} alert state`));
        if (screenshots) await shot(page, `alert-${size}.png`);
        await row(page, ALERT_IDS.failed[1]).getByRole('button', { expanded: false }).click();
        await page.locator('.history__details').waitFor();
        log(await checkFitsAndAccessible(page, `${size} alert state, long error open`));
      });

      // Signed in without a role.
      await withApp(healthy, { viewport }, async ({ page }) => {
        await signIn(page, NO_ROLE_USER, { expectHeading: 'Your account has no access yet' });
        log(await checkFitsAndAccessible(page, `${size} no role`));
      });
    }
  });

  it('item 2: ages next to local times with time zone; "no nightly run since ..." after ~26 h; a run running past its lease', { timeout: 90_000 }, async () => {
    await withApp(healthy, {}, async ({ page }) => {
      await signIn(page, USER);
      const card = page.locator('article[aria-labelledby="latest-title"]');
      assert.match(await card.innerText(), /20 Nov 2026, 02:00 UTC · 6 h ago/);
      assert.match(await row(page, (await page.locator('table.history tbody tr').first().getAttribute('data-run-id'))).innerText(), /20 Nov 2026, 02:00 UTC · 6 h ago/);
      assert.equal(await page.locator('[data-warning]').count(), 0, 'a healthy history has no warnings');
      // 21 h later (27 h after the last nightly run) with no new run: the warning appears.
      await page.clock.fastForward('21:00:00');
      await page.locator('[data-warning="no_nightly_run"]').waitFor();
      assert.match(await page.locator('[data-warning="no_nightly_run"]').innerText(), /No nightly run since 20 Nov 2026, 02:00 UTC\. The newest nightly run is 27 h old/);
    });
    // Local time zone of the browser, with its name.
    await withApp(healthy, { timezoneId: 'Europe/Berlin' }, async ({ page }) => {
      await signIn(page, USER);
      assert.match(await page.locator('article[aria-labelledby="latest-title"]').innerText(), /20 Nov 2026, 03:00 CET · 6 h ago/);
    });
    await withApp(alerting, {}, async ({ page }) => {
      await signIn(page, USER);
      const nightly = page.locator('[data-warning="no_nightly_run"]');
      await nightly.waitFor();
      assert.match(await nightly.innerText(), /No nightly run since 19 Nov 2026, 02:00 UTC\. The newest nightly run is 30 h old/);
      const lease = page.locator('[data-warning="run_past_lease"]');
      assert.match(await lease.innerText(), /manual request run created 20 Nov 2026, 07:20 UTC is still "running", but its last heartbeat was 25 min ago .*past the 10 min lease/);
      // The latest card shows the heartbeat's age too.
      assert.match(await page.locator('article[aria-labelledby="latest-title"]').innerText(), /Last heartbeat\s+20 Nov 2026, 07:35 UTC · 25 min ago/i);
    });
  });

  it('item 3: alerts agree with the gate: a run promoted on F1 with a 0.1 pt accuracy dip is no alert; a 3.1 pt drop past the 2 pt tolerance is critical', { timeout: 60_000 }, async () => {
    await withApp(healthy, {}, async ({ page, fake, clockOffset }) => {
      const runs = fake.state.tables.model_retraining_runs;
      // The case: promoted on F1, accuracy 0.1 pt below the baseline (within 2 pts).
      Object.assign(runs[0].metrics, { accuracy: 0.87, f1_score: 0.861, baseline: { ...runs[0].metrics.baseline, accuracy: 0.871, f1_score: 0.855 }, promoted: true });
      await signIn(page, USER);
      assert.match(await page.locator('article[aria-labelledby="latest-title"]').innerText(), /Accuracy\s+87\.0%\s+87\.1%/);
      assert.equal(await page.locator('[data-alert]').count(), 0, 'no alert for a dip the gate accepted');
      // A newer run whose accuracy fell 3.1 pts although F1 rose: worse by the gate's guard.
      const pageNow = await page.evaluate(() => Date.now());
      runs.unshift(
        makeRun({
          id: 'bbbbbbbb-0000-4000-8000-0000000000a3',
          created_at: new Date(pageNow - 60_000).toISOString(),
          metrics: { accuracy: 0.84, precision: 0.83, recall: 0.82, f1_score: 0.87, baseline: { accuracy: 0.871, precision: 0.86, recall: 0.85, f1_score: 0.861 }, promoted: true, gate: { primary_metric: 'f1_score', min_delta: 0, guard_metrics: { accuracy: 0.02 } } },
        }),
      );
      await page.clock.runFor(30_000);
      clockOffset.value += 30_000;
      const alert = page.locator('[data-alert="accuracy_decreased"]');
      await alert.waitFor();
      assert.match(await alert.innerText(), /^Critical: Retraining made the model worse\. .*accuracy dropped 3\.1 pts \(87\.1% to 84\.0%\), more than its tolerance of 2\.0 pts .*model in service got worse/);
    });
  });

  it('item 4: every failed run links to its log; a row opens its details (metrics vs baseline, gate reason, error, log)', { timeout: 60_000 }, async () => {
    await withApp(alerting, {}, async ({ page }) => {
      await signIn(page, USER);
      const failedRows = page.locator('table.history tr[data-status="failed"]');
      assert.equal(await failedRows.count(), 4, 'three recent failures and one old one');
      for (let i = 0; i < 4; i++) {
        const link = failedRows.nth(i).getByRole('link', { name: /^Open log of the failed run of/ });
        await link.waitFor();
        const id = await failedRows.nth(i).getAttribute('data-run-id');
        assert.match(await link.getAttribute('href'), new RegExp(`^${FAKE_ORIGIN}/storage/v1/object/sign/training-logs/${id}\\.log\\?token=`));
      }
      // A completed run's details: metrics vs baseline, the gate's decision and rule, its log.
      const toggle = row(page, ALERT_IDS.worse).locator('button.btn--disclosure');
      await toggle.click();
      assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
      const details = page.locator(`#run-${ALERT_IDS.worse}-details`);
      await details.waitFor();
      const text = await details.innerText();
      assert.match(text, /Holdout metrics \(2,000 samples\)/);
      assert.match(text, /Accuracy\s+84\.0%\s+87\.1%/);
      assert.match(text, /Promoted \(v\d+\): f1_score 0\.8600 >= baseline 0\.8540/);
      assert.match(text, /Promotion gate: F1 score is the primary metric \(must reach the baseline\); accuracy may drop at most 2\.0 pts\./);
      await details.getByRole('link', { name: /Open training log/ }).waitFor();
      // A failed run's details: the error in full.
      await row(page, ALERT_IDS.failed[0]).getByRole('button', { expanded: false }).click();
      const failedDetails = page.locator(`#run-${ALERT_IDS.failed[0]}-details`);
      await failedDetails.waitFor();
      assert.match(await failedDetails.innerText(), /Error: training subprocess exited with code 1: ValueError: Input contains NaN/);
      assert.equal(await details.count(), 0, 'one run open at a time');
    });
  });

  it('item 5: Retrain Now says what happens and when; disabled with the reason while pending; the request links to its run', { timeout: 60_000 }, async () => {
    await withApp(healthy, {}, async ({ page, fake, clockOffset }) => {
      await signIn(page, USER);
      const panel = page.getByRole('region', { name: 'Manual retraining' });
      const words = await panel.innerText();
      assert.match(words, /picks the request up within about 10 minutes/);
      assert.match(words, /Training then takes a few minutes/);
      assert.match(words, /fewer than 10 high-confidence errors in the last 7 days the run is skipped/);
      assert.match(words, /promotion gate may keep the current model/);
      const retrain = page.getByRole('button', { name: 'Retrain Now' });
      await retrain.click();
      await page.getByLabel('Reason (optional)').fill('Cup weekend');
      await page.getByRole('button', { name: 'Confirm' }).click();
      await page.getByTestId('retrain-notice').waitFor();
      assert.match(await page.getByTestId('retrain-notice').innerText(), /picks it up within about 10 minutes/);
      // Pending: disabled, and the reason is its accessible description.
      await page.waitForFunction(() => document.querySelector('.retrain .btn--primary')?.disabled === true);
      const described = await retrain.evaluate((el) => document.getElementById(el.getAttribute('aria-describedby')).textContent);
      assert.match(described, /You already have a pending request \(queued 20 Nov 2026, 08:00 UTC\)\. Cancel it below or wait until a runner picks it up\./);
      // A runner claims it and starts a run.
      const req = fake.state.tables.model_retraining_requests[0];
      const pageNow = await page.evaluate(() => Date.now());
      const runId = 'bbbbbbbb-0000-4000-8000-0000000000c1';
      fake.state.tables.model_retraining_runs.unshift(
        makeRun({ id: runId, source: 'manual', status: 'running', metrics: {}, triggered_by: USER.id, request_id: req.id, created_at: new Date(pageNow - 2_000).toISOString(), started_at: new Date(pageNow - 2_000).toISOString(), heartbeat_at: new Date(pageNow - 1_000).toISOString(), completed_at: null, log_url: null }),
      );
      Object.assign(req, { status: 'processing', retraining_run_id: runId });
      await page.clock.runFor(30_000);
      clockOffset.value += 30_000;
      const show = page.getByRole('button', { name: /^Show its run/ });
      await show.waitFor();
      assert.equal(await retrain.isEnabled(), true, 'no longer pending: Retrain Now is enabled again');
      await show.click();
      await page.locator(`#run-${runId}-details`).waitFor();
      assert.equal(await page.evaluate(() => document.activeElement?.closest('tr')?.getAttribute('data-run-id')), runId, 'focus moves to the run');
    });
  });

  it('item 6: errors in words (no raw HTML, HTTP status), 401 offers Sign in again, focus ring >= 3:1, focus kept after cancel and sign-in, Escape keeps the reason', { timeout: 90_000 }, async () => {
    await withApp(healthy, {}, async ({ page, fake }) => {
      await signIn(page, USER);
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'main-title', 'after sign-in focus is on the page heading');

      // Focus ring contrast, on white cards, on the page background and on the dark top bar.
      await page.keyboard.press('Tab');
      const ring = await page.evaluate(() => {
        const el = document.activeElement;
        const cs = getComputedStyle(el);
        return { tag: el.tagName, color: cs.outlineColor, style: cs.outlineStyle, width: parseFloat(cs.outlineWidth) };
      });
      assert.equal(ring.style, 'solid');
      assert.ok(ring.width >= 2, `focus outline ${ring.width} px`);
      for (const bg of ['rgb(255, 255, 255)', 'rgb(245, 246, 248)', 'rgb(250, 251, 252)']) {
        assert.ok(contrast(ring.color, bg) >= 3, `focus ring ${ring.color} on ${bg}: ${contrast(ring.color, bg).toFixed(2)}:1`);
      }
      log(`focus ring ${ring.color}: ${contrast(ring.color, 'rgb(255, 255, 255)').toFixed(2)}:1 on white, ${contrast(ring.color, 'rgb(245, 246, 248)').toFixed(2)}:1 on the page`);
      await page.getByRole('button', { name: 'Sign out' }).focus();
      await page.keyboard.press('Shift+Tab');
      await page.keyboard.press('Tab');
      const topRing = await page.evaluate(() => getComputedStyle(document.activeElement).outlineColor);
      assert.ok(contrast(topRing, 'rgb(23, 32, 46)') >= 3, `top bar focus ring ${topRing}: ${contrast(topRing, 'rgb(23, 32, 46)').toFixed(2)}:1`);
      log(`top bar focus ring ${topRing}: ${contrast(topRing, 'rgb(23, 32, 46)').toFixed(2)}:1 on #17202e`);

      // Escape closes the form but keeps the typed reason.
      const retrain = page.getByRole('button', { name: 'Retrain Now' });
      await retrain.click();
      await page.getByLabel('Reason (optional)').fill('Derby day drift');
      await page.keyboard.press('Escape');
      await page.getByRole('form', { name: 'Request retraining' }).waitFor({ state: 'detached' });
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Retrain Now');
      await page.getByText('Your unsent reason is kept as a draft.').waitFor();
      await retrain.click();
      assert.equal(await page.getByLabel('Reason (optional)').inputValue(), 'Derby day drift');

      // Confirm, then cancel the request: focus stays in the request list.
      await page.getByRole('button', { name: 'Confirm' }).click();
      const cancel = page.getByRole('button', { name: /^Cancel request from/ });
      await cancel.click();
      await page.locator('ul.requests').getByText('Cancelled').waitFor();
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'my-requests-title', 'focus is not lost after cancel');

      // A proxy's HTML error page: status in words, no markup.
      // (React Query retries a 5xx twice: fail all three attempts.)
      for (let i = 0; i < 3; i++) {
        fake.failNext((c) => c.method === 'GET' && c.path === '/rest/v1/model_retraining_runs' && c.query.get('limit') === '1' && !c.query.get('source'), {
          status: 502,
          raw: '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx/1.25.3</center></body></html>',
        });
      }
      await page.getByRole('button', { name: 'Refresh now' }).click();
      const refreshFailed = page.locator('.callout--warning', { hasText: 'Refresh failed' });
      await page.clock.runFor(10_000); // the retries' back-off (1 s, 2 s)
      await refreshFailed.waitFor();
      const failedText = await refreshFailed.innerText();
      assert.match(failedText, /HTTP 502 Bad Gateway/);
      assert.doesNotMatch(failedText, /<|nginx|center/);

      // A 401: Sign in again, then back in with focus on the heading.
      fake.failNext((c) => c.method === 'GET' && c.path === '/rest/v1/model_retraining_runs', { status: 401, body: { code: 'PGRST303', details: null, hint: null, message: 'JWT expired' } });
      await page.getByRole('button', { name: 'Refresh now' }).click();
      const again = page.getByRole('button', { name: 'Sign in again' });
      await again.waitFor();
      assert.match(await page.locator('[data-error-kind="session-expired"]').innerText(), /HTTP 401 Unauthorized/);
      await again.click();
      await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'signin-email', 'focus moves to the sign-in form');
      await signIn(page, USER);
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'main-title');
    });
  });

  it('roles and refusals (WEB_CONTRACT): a viewer has no High and sees a P0001 refusal as plain text (<= 300 chars) with the reason kept; no role: no access, no form, no data', { timeout: 60_000 }, async () => {
    await withApp(healthy, {}, async ({ page, fake }) => {
      await signIn(page, VIEWER);
      await page.getByRole('button', { name: 'Retrain Now' }).click();
      const form = page.getByRole('form', { name: 'Request retraining' });
      assert.deepEqual(await form.getByRole('radio').evaluateAll((els) => els.map((e) => e.value)), ['low', 'normal']);
      await form.getByLabel('Reason (optional)').fill('Promo weekend');
      const reason = `rate limit: your previous request was at 07:58 UTC; you may try again after 08:08 UTC <img src=x onerror=alert(1)> ${'z'.repeat(400)}`;
      fake.failNext((c) => c.method === 'POST' && c.path === '/rest/v1/model_retraining_requests', { status: 400, body: { code: 'P0001', details: null, hint: null, message: `retraining request refused: ${reason}` } });
      await form.getByRole('button', { name: 'Confirm' }).click();
      const alert = form.locator('[data-error-kind="refused"]');
      await alert.waitFor();
      const shown = await alert.innerText();
      assert.ok(shown.startsWith('Request refused: rate limit: your previous request was at 07:58 UTC; you may try again after 08:08 UTC <img src=x onerror=alert(1)>'), shown.slice(0, 120));
      assert.equal(shown.length, 'Request refused: '.length + 300);
      assert.equal(await alert.locator('img').count(), 0, 'plain text, never HTML');
      assert.equal(await form.getByLabel('Reason (optional)').inputValue(), 'Promo weekend');
      assert.deepEqual(await axe(page), []);
    });
    await withApp(healthy, {}, async ({ page, fake }) => {
      await signIn(page, NO_ROLE_USER, { expectHeading: 'Your account has no access yet' });
      const box = page.getByTestId('no-access');
      assert.match(await box.innerText(), /no role for the Monitoring page.*An admin must grant the role viewer .* or operator/s);
      assert.match(await box.getByRole('link').getAttribute('href'), /docs\/supabase-setup\.md#grant-access$/);
      assert.equal(await page.getByRole('button', { name: 'Retrain Now' }).count(), 0);
      assert.equal(fake.calls.filter((c) => c.path.startsWith('/rest/v1/')).length, 0, 'no data is asked for');
    });
  });

  it('item 7: the chart: x axis by time, failed and skipped runs marked, the gate\'s primary metric plotted and selectable', { timeout: 60_000 }, async () => {
    await withApp(healthy, {}, async ({ page, fake }) => {
      await signIn(page, USER);
      const svg = page.locator('figure.chart svg');
      await svg.waitFor();
      assert.equal(await svg.getAttribute('data-metric'), 'f1_score', "the gate's primary metric by default");
      assert.match(await svg.getAttribute('aria-label'), /^F1 score over 18 completed runs.* 1 failed and 1 skipped runs marked/);
      const runs = fake.state.tables.model_retraining_runs;
      const failed = runs.find((r) => r.status === 'failed');
      const skipped = runs.find((r) => r.status === 'skipped');
      assert.equal(await svg.locator(`[data-mark="failed"][data-run-id="${failed.id}"]`).count(), 1);
      assert.equal(await svg.locator(`[data-mark="skipped"][data-run-id="${skipped.id}"]`).count(), 1);
      // By time: the day of the failed run leaves a one-day gap between its neighbours' dots.
      const i = runs.indexOf(failed);
      const cx = async (id) => Number(await svg.locator(`circle[data-run-id="${id}"]`).getAttribute('cx'));
      const [newer, older, oldest] = [await cx(runs[i - 1].id), await cx(runs[i + 1].id), await cx(runs[i + 2].id)];
      const day = older - oldest;
      assert.ok(Math.abs(newer - older - 2 * day) < 1, `two-day gap ${newer - older} vs one day ${day}`);
      const fx = Number(await svg.locator(`[data-mark="failed"]`).getAttribute('x'));
      assert.ok(older < fx && fx < newer, 'the failed mark sits at its time');
      await page.getByLabel('Metric').selectOption('accuracy');
      assert.equal(await svg.getAttribute('data-metric'), 'accuracy');
      assert.match(await svg.getAttribute('aria-label'), /^Accuracy over 18 completed runs/);
      assert.match(await page.locator('figure.chart figcaption').innerText(), /Candidate Accuracy/);
    });
  });
});
