import '@testing-library/jest-dom/vitest';
import { afterEach } from 'vitest';
import { cleanup } from '@testing-library/react';

/*
 * Node 20 vs supabase-js >= 2.119 (which declares engines.node >= 22):
 * supabase-js always constructs its Realtime client, and realtime-js looks for a global
 * `WebSocket` when it is constructed. Node 22 has one built in; Node 20 does not, so
 * `createClient()` throws "Node.js detected but native WebSocket not found" there.
 * The page never opens a realtime channel (it polls), and browsers always have WebSocket,
 * so the app code is unaffected. The tests run the REAL supabase-js client against an
 * in-memory fake of PostgREST/GoTrue/Storage; under the jsdom environment jsdom supplies
 * its own WebSocket (which would really try to connect), and a plain Node 20 environment
 * has none. We therefore always install an inert stand-in: it satisfies realtime-js's
 * constructor-time check on any Node version, and it throws if anything tries to open a
 * socket, so accidental realtime use fails loudly instead of passing silently.
 * (No downgrade of supabase-js; its engines warning on `npm ci` under Node 20 is expected.)
 */
class InertWebSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly readyState = 3;
  constructor(url: string) {
    throw new Error(`Realtime/WebSocket is not used by the Monitoring page (tried to open ${url})`);
  }
}
(globalThis as { WebSocket?: unknown }).WebSocket = InertWebSocket;

afterEach(() => {
  cleanup();
  localStorage.clear();
});
