/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
  build: {
    sourcemap: true,
    // One ~500 kB chunk (≈145 kB gzip), mostly react-dom and supabase-js: fine for an
    // internal monitoring page; not worth code-splitting.
    chunkSizeWarningLimit: 700,
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    // The machine has 2 cores shared with others: keep the pool small.
    maxWorkers: 2,
    testTimeout: 15_000,
  },
});
