import type { ReactNode } from 'react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import { createSupabase, type Supabase } from '../lib/supabase';
import { SupabaseProvider } from '../lib/context';
import { fakeFetch, type FakeSupabase } from '../../test-support/fake-supabase.mjs';

export type Fake = FakeSupabase;
export const FAKE_URL = 'http://fake-supabase.test';

let clientCounter = 0;

/** The real supabase-js client, talking to the in-memory fake through `global.fetch`. */
export function makeClient(fake: Fake): Supabase {
  clientCounter += 1;
  return createSupabase(FAKE_URL, 'test-anon-key', { fetch: fakeFetch(fake), storageKey: `sb-test-${clientCounter}` });
}

export function makeQueryClient() {
  return new QueryClient({
    defaultOptions: { queries: { retry: false, gcTime: Infinity }, mutations: { retry: false } },
  });
}

export function renderWithProviders(ui: ReactNode, opts: { fake: Fake; client?: Supabase; queryClient?: QueryClient }) {
  const client = opts.client ?? makeClient(opts.fake);
  const queryClient = opts.queryClient ?? makeQueryClient();
  const utils = render(
    <SupabaseProvider client={client}>
      <QueryClientProvider client={queryClient}>{ui}</QueryClientProvider>
    </SupabaseProvider>,
  );
  return { ...utils, client, queryClient };
}

/** Sign the client in through the fake GoTrue (POST /auth/v1/token?grant_type=password). */
export async function signIn(client: Supabase, email: string, password: string) {
  const { data, error } = await client.auth.signInWithPassword({ email, password });
  if (error) throw error;
  return data.session!;
}
