import { describe, expect, it } from 'vitest';
import { toApiError } from './errors';

describe('toApiError', () => {
  it('RLS refusal by code 42501, whatever the status', () => {
    const e = toApiError({ code: '42501', message: 'new row violates row-level security policy for table "x"' }, 403);
    expect(e.kind).toBe('permission');
    expect(e.message).toMatch(/row-level security/);
  });
  it('RLS refusal by status 401/403 without a code', () => {
    expect(toApiError({ message: 'nope' }, 401).kind).toBe('permission');
    expect(toApiError({ message: 'nope' }, 403).kind).toBe('permission');
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
