import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { readSupabaseConfig } from './lib/config';
import { toApiError } from './lib/errors';
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
    // Retry reads twice, but only when retrying can help (network failures, 5xx): a 401 or a
    // refusal is shown at once.
    defaultOptions: { queries: { retry: (count, err) => count < 2 && ['network', 'unknown'].includes(toApiError(err).kind), refetchOnWindowFocus: true } },
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
