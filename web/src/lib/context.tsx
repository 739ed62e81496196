import { createContext, useContext, type ReactNode } from 'react';
import type { Supabase } from './supabase';

const SupabaseContext = createContext<Supabase | null>(null);

export function SupabaseProvider({ client, children }: { client: Supabase; children: ReactNode }) {
  return <SupabaseContext.Provider value={client}>{children}</SupabaseContext.Provider>;
}

export function useSupabase(): Supabase {
  const client = useContext(SupabaseContext);
  if (!client) throw new Error('useSupabase must be used inside <SupabaseProvider>');
  return client;
}
