import { describe, expect, it } from 'vitest';
import type { Session } from '@supabase/auth-js';
import { ROLES_DOC_URL, allowedPriorities, roleOf } from './role';

const session = (user: Record<string, unknown>) => ({ user: { id: 'u', app_metadata: {}, ...user } }) as unknown as Session;

describe('roles (app_metadata.ml_role)', () => {
  it('viewer and operator; anything else, none, or an anonymous sign-in is no role', () => {
    expect(roleOf(session({ app_metadata: { ml_role: 'viewer' } }))).toBe('viewer');
    expect(roleOf(session({ app_metadata: { ml_role: 'operator' } }))).toBe('operator');
    expect(roleOf(session({ app_metadata: { ml_role: 'admin' } }))).toBeNull();
    expect(roleOf(session({ app_metadata: {}, user_metadata: { ml_role: 'operator' } }))).toBeNull();
    expect(roleOf(session({ app_metadata: { ml_role: 'operator' }, is_anonymous: true }))).toBeNull();
    expect(roleOf(null)).toBeNull();
  });
  it('only operators may ask for high priority', () => {
    expect(allowedPriorities('operator')).toEqual(['low', 'normal', 'high']);
    expect(allowedPriorities('viewer')).toEqual(['low', 'normal']);
    expect(allowedPriorities(null)).toEqual([]);
  });
  it('links to the "Grant access" section of docs/supabase-setup.md', () => {
    expect(ROLES_DOC_URL).toMatch(/docs\/supabase-setup\.md#grant-access$/);
  });
});
