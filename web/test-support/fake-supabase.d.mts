// Types for fake-supabase.mjs (plain JS so the Node end-to-end runner can import it too).
/* eslint-disable @typescript-eslint/no-explicit-any */
export interface FakeCall {
  method: string;
  path: string;
  search: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: any;
  rawBody: string | null;
}
export interface FakeResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}
export interface FakeUser {
  id: string;
  email: string;
  password: string;
  role?: 'viewer' | 'operator';
}
export interface FakeSupabase {
  state: {
    users: FakeUser[];
    tables: Record<'model_retraining_runs' | 'model_retraining_requests' | 'model_versions', any[]>;
    objects: Set<string>;
  };
  calls: FakeCall[];
  handle(req: { method: string; url: string; headers: Record<string, string>; body?: string | null }): FakeResponse | 'network';
  failNext(match: (call: FakeCall) => boolean, response: { status: number; body?: unknown; raw?: string; headers?: Record<string, string> } | 'network'): void;
  table(name: string): any[];
}
export const TABLE_COLUMNS: Record<string, string[]>;
export function makeJwt(payload: object): string;
export function fakeUuid(prefix?: string): string;
export function createFakeSupabase(opts?: {
  users?: FakeUser[];
  runs?: any[];
  requests?: any[];
  modelVersions?: any[];
  objects?: string[];
  now?: () => number;
}): FakeSupabase;
export function fakeFetch(fake: FakeSupabase): typeof fetch;
