import { createClient, type SupabaseClient } from '@supabase/supabase-js';

export type Supabase = SupabaseClient;

/**
 * The page only reads and writes through PostgREST, Auth and Storage. It never opens a
 * Realtime channel (it polls every 30 s instead), so no WebSocket is ever created:
 * supabase-js builds its Realtime client lazily-connecting and only connects on
 * `channel().subscribe()`, which this code base never calls.
 */
export function createSupabase(
  url: string,
  anonKey: string,
  options: { fetch?: typeof fetch; storageKey?: string } = {},
): Supabase {
  return createClient(url, anonKey, {
    auth: {
      persistSession: true,
      autoRefreshToken: true,
      // Email + password only: no OAuth/magic-link callback to parse from the URL.
      detectSessionInUrl: false,
      ...(options.storageKey ? { storageKey: options.storageKey } : {}),
    },
    // React Query already retries failed reads (and never retries writes); postgrest-js's own
    // GET retries would multiply the delay before an error is shown.
    db: { retry: false },
    ...(options.fetch ? { global: { fetch: options.fetch } } : {}),
  });
}
