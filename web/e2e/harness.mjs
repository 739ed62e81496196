// Shared by the end-to-end tests: serve dist-e2e/, launch Debian's Chromium, answer the fake
// Supabase origin from the in-memory fake, sign in, run axe, measure overflow.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startStaticServer } from './static-server.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
export const DIST = resolve(HERE, '..', 'dist-e2e');
export const REPO = resolve(HERE, '..', '..');
export const FAKE_ORIGIN = 'http://127.0.0.1:54321';
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// Page clock starts here (08:00 UTC, six hours after the nightly 02:00 run).
export const T0 = Date.parse('2026-11-20T08:00:00.000Z');
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export const VIEWPORTS = {
  phone360: { width: 360, height: 780 },
  phone390: { width: 390, height: 844 },
  phone430: { width: 430, height: 932 },
  desktop: { width: 1280, height: 800 },
};

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PATCH, PUT, DELETE, OPTIONS',
  'access-control-expose-headers': 'content-range, content-profile, x-supabase-api-version',
  'access-control-max-age': '600',
};

export async function startHarness() {
  assert.ok(existsSync(join(DIST, 'index.html')), `${DIST} is missing: run "npm run build:e2e" first`);
  const bundle = readdirSync(join(DIST, 'assets'))
    .filter((f) => f.endsWith('.js'))
    .map((f) => readFileSync(join(DIST, 'assets', f), 'utf8'))
    .join('\n');
  assert.ok(bundle.includes(FAKE_ORIGIN), `dist-e2e was not built against ${FAKE_ORIGIN} (is VITE_SUPABASE_URL set in the environment?)`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: apt-get install -y chromium`);
  const server = await startStaticServer(DIST);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--font-render-hinting=none'],
  });
  return {
    server,
    browser,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

/**
 * A browser context whose page clock starts at `start` and whose Supabase traffic is answered
 * by `fake`. Returns helpers to inspect traffic; `clockOffset.value` keeps the fake's clock
 * in step with the page's.
 */
export async function openApp(h, fake, clockOffset, { viewport = { width: 1280, height: 900 }, start = T0, timezoneId = 'UTC' } = {}) {
  const context = await h.browser.newContext({
    viewport,
    deviceScaleFactor: 1,
    locale: 'en-GB',
    timezoneId,
    colorScheme: 'light',
    serviceWorkers: 'block',
    reducedMotion: 'reduce',
  });
  const unexpected = [];
  const sockets = [];
  const pageErrors = [];
  await context.route(/.*/, (route) => {
    const url = route.request().url();
    if (url.startsWith(h.server.url)) return route.continue();
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
  await page.clock.install({ time: start });
  clockOffset.value = start - Date.now();
  await page.goto(h.server.url);
  return { context, page, unexpected, sockets, pageErrors };
}

export async function signIn(page, user, { expectHeading = 'Latest run' } = {}) {
  await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  if (expectHeading) await page.getByRole('heading', { name: expectHeading }).first().waitFor();
}

/** axe-core in the page: WCAG 2.x A/AA + best practices. Returns the violations. */
export async function axe(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ content: AXE_SOURCE });
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
}

/** Horizontal overflow of the page (the document may not scroll sideways). */
export async function overflow(page) {
  return page.evaluate(() => {
    const doc = document.documentElement;
    const wide = [...document.querySelectorAll('body *')]
      .filter((el) => {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.right <= doc.clientWidth + 0.5) return false;
        // Inside a box that scrolls on its own: fine.
        for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
          const ox = getComputedStyle(p).overflowX;
          if ((ox === 'auto' || ox === 'scroll' || ox === 'hidden') && p.getBoundingClientRect().right <= doc.clientWidth + 0.5) return false;
        }
        return true;
      })
      .slice(0, 5)
      .map((el) => `${el.tagName.toLowerCase()}.${String(el.className).split(' ')[0]} right=${Math.round(el.getBoundingClientRect().right)}`);
    return { scrollWidth: doc.scrollWidth, clientWidth: doc.clientWidth, bodyScrollWidth: document.body.scrollWidth, wide };
  });
}

/** Assert: no horizontal page scroll, nothing sticking out, axe 0 violations. Returns a log line. */
export async function checkFitsAndAccessible(page, label) {
  const o = await overflow(page);
  assert.ok(o.scrollWidth <= o.clientWidth, `${label}: page is ${o.scrollWidth} px wide on a ${o.clientWidth} px screen (${o.wide.join(', ')})`);
  assert.ok(o.bodyScrollWidth <= o.clientWidth, `${label}: body is ${o.bodyScrollWidth} px wide on a ${o.clientWidth} px screen`);
  assert.deepEqual(o.wide, [], `${label}: elements stick out of the screen`);
  const violations = await axe(page);
  assert.deepEqual(violations, [], `${label}: axe violations ${JSON.stringify(violations, null, 1)}`);
  return `${label}: scrollWidth ${o.scrollWidth} <= clientWidth ${o.clientWidth}, axe 0 violations`;
}

/** WCAG contrast ratio of two CSS rgb() colours. */
export function contrast(a, b) {
  const lum = (c) => {
    const [r, g, bl] = c.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}
