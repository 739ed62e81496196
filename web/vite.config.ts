/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
  build: {
    // No source maps in the production build: they would publish the source (and are
    // 5x the bundle). scripts/test-web.sh checks that dist/ holds no *.map and no
    // sourceMappingURL comment.
    sourcemap: false,
    // One chunk, mostly react-dom and the Supabase Auth/PostgREST/Storage clients: fine for
    // an internal monitoring page; not worth code-splitting.
    chunkSizeWarningLimit: 500,
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./src/test/setup.ts'],
    // Times are shown in the browser's zone: the tests pin it.
    env: { TZ: 'UTC' },
    include: ['src/**/*.test.{ts,tsx}'],
    // The machine has 2 cores shared with others: keep the pool small.
    maxWorkers: 2,
    testTimeout: 15_000,
  },
});
