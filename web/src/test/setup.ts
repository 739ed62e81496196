import '@testing-library/jest-dom/vitest';
import { afterEach } from 'vitest';
import { cleanup } from '@testing-library/react';

/*
 * The page never opens a Realtime channel (it polls) and no longer bundles the Realtime
 * client at all (src/lib/supabase.ts wires only Auth, PostgREST and Storage). jsdom supplies
 * a WebSocket that would really try to connect, so the tests install an inert stand-in that
 * throws if anything tries to open a socket: accidental realtime use fails loudly.
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
