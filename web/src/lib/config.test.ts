import { describe, expect, it } from 'vitest';
import { readSupabaseConfig } from './config';

const jwt = (payload: object) => `e30.${btoa(JSON.stringify(payload)).replace(/=+$/, '')}.sig`;

describe('readSupabaseConfig', () => {
  it('accepts a URL and an anon key (and drops a trailing slash)', () => {
    expect(readSupabaseConfig({ VITE_SUPABASE_URL: 'https://x.supabase.co/', VITE_SUPABASE_ANON_KEY: jwt({ role: 'anon' }) })).toEqual({
      ok: true,
      url: 'https://x.supabase.co',
      anonKey: jwt({ role: 'anon' }),
    });
  });
  it('lists both missing variables', () => {
    const c = readSupabaseConfig({});
    expect(c.ok).toBe(false);
    expect(!c.ok && c.problems).toEqual(['VITE_SUPABASE_URL is not set.', 'VITE_SUPABASE_ANON_KEY is not set.']);
  });
  it('rejects a non-URL', () => {
    const c = readSupabaseConfig({ VITE_SUPABASE_URL: 'not a url', VITE_SUPABASE_ANON_KEY: 'k' });
    expect(!c.ok && c.problems[0]).toMatch(/not a valid URL/);
  });
  it('refuses a service-role key (legacy JWT or new secret key)', () => {
    for (const key of [jwt({ role: 'service_role' }), 'sb_secret_abc123']) {
      const c = readSupabaseConfig({ VITE_SUPABASE_URL: 'https://x.supabase.co', VITE_SUPABASE_ANON_KEY: key });
      expect(!c.ok && c.problems[0]).toMatch(/service-role/);
    }
  });
  it('accepts a new-style publishable key', () => {
    expect(readSupabaseConfig({ VITE_SUPABASE_URL: 'https://x.supabase.co', VITE_SUPABASE_ANON_KEY: 'sb_publishable_abc' }).ok).toBe(true);
  });
});
