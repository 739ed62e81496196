import { describe, expect, it } from 'vitest';
import { toApiError } from './errors';

describe('toApiError', () => {
  it('RLS refusal by code 42501, whatever the status', () => {
    const e = toApiError({ code: '42501', message: 'new row violates row-level security policy for table "x"' }, 403);
    expect(e.kind).toBe('permission');
    expect(e.message).toMatch(/row-level security/);
  });
  it('RLS refusal by status 403 without a code; any 401 means the session is no longer valid', () => {
    expect(toApiError({ message: 'nope' }, 403).kind).toBe('permission');
    expect(toApiError({ message: 'nope' }, 401).kind).toBe('session-expired');
    expect(toApiError({ code: '42501', message: 'permission denied for table x' }, 401).message).toMatch(/HTTP 401 Unauthorized\). Sign in again/);
  });
  it('database refusals (P0001): the text after the prefix, plain, at most 300 characters', () => {
    const e = toApiError({ code: 'P0001', message: 'retraining request refused: rate limit: your previous request was at 07:58 UTC; try again after 08:08 UTC' }, 400);
    expect(e.kind).toBe('refused');
    expect(e.message).toBe('rate limit: your previous request was at 07:58 UTC; try again after 08:08 UTC');
    const long = toApiError({ code: 'P0001', message: `retraining request refused: ${'x'.repeat(400)}` }, 400);
    expect(long.message).toHaveLength(300);
    expect(long.message.endsWith('…')).toBe(true);
    // A P0001 from another trigger is not a refusal.
    expect(toApiError({ code: 'P0001', message: 'something else' }, 400).kind).toBe('unknown');
  });
  it('never shows an HTML body; says the HTTP status in words', () => {
    const e = toApiError({ message: '<!DOCTYPE html><html><body><h1>503 Service Temporarily Unavailable</h1></body></html>' }, 503);
    expect(e.message).not.toMatch(/</);
    expect(e.message).toMatch(/HTTP 503 Service Unavailable/);
    expect(toApiError({ message: 'boom' }, 500).message).toBe('Something went wrong. (HTTP 500 Internal Server Error) boom');
  });
  it('one pending request per user: 23505', () => {
    const e = toApiError({ code: '23505', message: 'duplicate key value violates unique constraint' }, 409);
    expect(e.kind).toBe('duplicate-pending');
    expect(e.message).toMatch(/already have a pending/);
  });
  it('network failure: status 0 or a fetch TypeError', () => {
    expect(toApiError({ message: 'TypeError: Failed to fetch', code: '' }, 0).kind).toBe('network');
    expect(toApiError(new TypeError('Failed to fetch')).kind).toBe('network');
    expect(toApiError({ name: 'AuthRetryableFetchError', message: '{}', status: 0 }).message).toMatch(/network failure/);
  });
  it('expired JWT', () => {
    expect(toApiError({ code: 'PGRST303', message: 'JWT expired' }, 401).kind).toBe('session-expired');
  });
  it('unknown errors keep their message', () => {
    const e = toApiError({ message: 'boom', code: 'XX000' }, 500);
    expect(e.kind).toBe('unknown');
    expect(e.message).toContain('boom');
  });
});
