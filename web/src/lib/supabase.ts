import { GoTrueClient } from '@supabase/auth-js';
import { PostgrestClient } from '@supabase/postgrest-js';
import { StorageClient } from '@supabase/storage-js';

/**
 * The three Supabase clients the page uses (Auth, PostgREST, Storage), wired the way
 * supabase-js's `createClient` wires them, without its Realtime client: the page polls
 * every 30 s and never opens a WebSocket, and `createClient` always constructs a
 * RealtimeClient (about 1/3 of the supabase-js code in the bundle). See docs/web.md.
 */
export interface Supabase {
  auth: GoTrueClient;
  storage: StorageClient;
  from: PostgrestClient['from'];
}

type Fetch = typeof fetch;

/**
 * `apikey` on every request; `Authorization: Bearer <the user's access token>` when signed
 * in, else the anon key (exactly supabase-js's fetchWithAuth for a legacy JWT anon key;
 * a new `sb_publishable_…` key is never sent as a Bearer token).
 */
function fetchWithAuth(anonKey: string, auth: GoTrueClient, baseFetch: Fetch): Fetch {
  const keyIsJwt = !anonKey.startsWith('sb_');
  return async (input, init) => {
    const { data } = await auth.getSession();
    const token = data.session?.access_token ?? (keyIsJwt ? anonKey : null);
    const headers = new Headers(init?.headers);
    if (!headers.has('apikey')) headers.set('apikey', anonKey);
    if (!headers.has('Authorization') && token) headers.set('Authorization', `Bearer ${token}`);
    return baseFetch(input, { ...init, headers });
  };
}

export function createSupabase(
  url: string,
  anonKey: string,
  options: { fetch?: Fetch; storageKey?: string } = {},
): Supabase {
  const base = new URL(url.endsWith('/') ? url : `${url}/`);
  const baseFetch: Fetch = options.fetch ?? ((...args) => fetch(...args));
  const auth = new GoTrueClient({
    url: new URL('auth/v1', base).href,
    headers: { Authorization: `Bearer ${anonKey}`, apikey: anonKey },
    // The same key supabase-js uses, so a session survives the switch.
    storageKey: options.storageKey ?? `sb-${base.hostname.split('.')[0]}-auth-token`,
    persistSession: true,
    autoRefreshToken: true,
    // Email + password only: no OAuth/magic-link callback to parse from the URL.
    detectSessionInUrl: false,
    fetch: baseFetch,
  });
  const authed = fetchWithAuth(anonKey, auth, baseFetch);
  const rest = new PostgrestClient(new URL('rest/v1', base).href, {
    fetch: authed,
    // React Query already retries failed reads (and never retries writes); postgrest-js's own
    // GET retries would multiply the delay before an error is shown.
    retry: false,
  });
  const storage = new StorageClient(new URL('storage/v1', base).href, {}, authed);
  return { auth, storage, from: (relation: string) => rest.from(relation) };
}
