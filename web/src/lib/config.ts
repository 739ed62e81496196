/**
 * Build-time configuration. Vite inlines `import.meta.env.VITE_*` at build time, so a
 * missing value is a build/deploy problem: we show a clear message on the page instead
 * of a blank screen or a cryptic supabase-js exception.
 */
export type SupabaseConfig =
  | { ok: true; url: string; anonKey: string }
  | { ok: false; problems: string[] };

type Env = Record<string, string | boolean | undefined>;

function decodeJwtRole(key: string): string | null {
  const parts = key.split('.');
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = JSON.parse(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '=')));
    return typeof json?.role === 'string' ? json.role : null;
  } catch {
    return null;
  }
}

export function readSupabaseConfig(env: Env): SupabaseConfig {
  const problems: string[] = [];
  const url = typeof env.VITE_SUPABASE_URL === 'string' ? env.VITE_SUPABASE_URL.trim() : '';
  const anonKey =
    typeof env.VITE_SUPABASE_ANON_KEY === 'string' ? env.VITE_SUPABASE_ANON_KEY.trim() : '';

  if (!url) {
    problems.push('VITE_SUPABASE_URL is not set.');
  } else {
    try {
      const parsed = new URL(url);
      if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
        problems.push(`VITE_SUPABASE_URL must be an http(s) URL, got "${url}".`);
      }
    } catch {
      problems.push(`VITE_SUPABASE_URL is not a valid URL: "${url}".`);
    }
  }

  if (!anonKey) {
    problems.push('VITE_SUPABASE_ANON_KEY is not set.');
  } else if (anonKey.startsWith('sb_secret_') || decodeJwtRole(anonKey) === 'service_role') {
    // A service-role key in a browser bundle bypasses row-level security for everyone.
    problems.push(
      'VITE_SUPABASE_ANON_KEY holds a service-role (secret) key. Use the anon (public) key: ' +
        'the page relies on row-level security.',
    );
  }

  return problems.length ? { ok: false, problems } : { ok: true, url: url.replace(/\/+$/, ''), anonKey };
}
