import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { readSupabaseConfig } from './lib/config';
import { createSupabase } from './lib/supabase';
import { SupabaseProvider } from './lib/context';
import { App } from './components/App';
import { ConfigMissing } from './components/ConfigMissing';
import './styles.css';

const root = createRoot(document.getElementById('root')!);
const config = readSupabaseConfig(import.meta.env);

if (!config.ok) {
  root.render(
    <StrictMode>
      <ConfigMissing problems={config.problems} />
    </StrictMode>,
  );
} else {
  const client = createSupabase(config.url, config.anonKey);
  const queryClient = new QueryClient({
    defaultOptions: { queries: { retry: 2, refetchOnWindowFocus: true } },
  });
  root.render(
    <StrictMode>
      <SupabaseProvider client={client}>
        <QueryClientProvider client={queryClient}>
          <App />
        </QueryClientProvider>
      </SupabaseProvider>
    </StrictMode>,
  );
}
