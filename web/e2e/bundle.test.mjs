// The production build (issue 12, item 8): no source maps, no Realtime/WebSocket client.
// Runs after `npm run build` (dist/) and `npm run build:e2e` (dist-e2e/); scripts/test-web.sh
// does both first.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function files(dir) {
  return readdirSync(dir, { recursive: true })
    .map((f) => join(dir, String(f)))
    .filter((f) => statSync(f).isFile());
}

for (const name of ['dist', 'dist-e2e']) {
  const dir = join(WEB, name);
  describe(`production bundle ${name}/ (item 8)`, () => {
    it('exists', () => assert.ok(existsSync(join(dir, 'index.html')), `${dir} is missing: run "npm run build" and "npm run build:e2e" first`));

    it('has no source maps: no *.map file and no sourceMappingURL comment', () => {
      const all = files(dir);
      assert.deepEqual(all.filter((f) => f.endsWith('.map')), [], 'source map files in the build');
      for (const f of all.filter((f) => /\.(js|css)$/.test(f))) {
        assert.doesNotMatch(readFileSync(f, 'utf8'), /sourceMappingURL/, `${f} points at a source map`);
      }
    });

    it('does not bundle the Realtime client (no WebSocket, no realtime-js / phoenix)', () => {
      const js = files(dir).filter((f) => f.endsWith('.js'));
      assert.ok(js.length > 0);
      const code = js.map((f) => readFileSync(f, 'utf8')).join('\n');
      assert.doesNotMatch(code, /WebSocket/, 'a WebSocket reference is in the bundle');
      assert.doesNotMatch(code, /realtime\/v1|RealtimeClient|phoenix/i, 'the Realtime client is in the bundle');
      const raw = Buffer.byteLength(code);
      const gz = gzipSync(code).length;
      console.log(`# ${name}: JavaScript ${(raw / 1000).toFixed(2)} kB, ${(gz / 1000).toFixed(2)} kB gzip`);
      // Guard against a silent regression (supabase-js with Realtime was 507 kB / 145 kB gzip).
      assert.ok(raw < 470_000, `bundle grew to ${raw} bytes`);
    });
  });
}
