import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useSupabase } from '../lib/context';
import { useSession } from '../lib/hooks';
import { errorText } from '../lib/errors';
import { SignInForm } from './SignInForm';
import { AutoReinforcementSection } from './AutoReinforcementSection';

export function App() {
  const sb = useSupabase();
  const qc = useQueryClient();
  const session = useSession();
  const [signOutError, setSignOutError] = useState<string | null>(null);

  async function signOut() {
    setSignOutError(null);
    // scope 'local' signs this browser out even if the server cannot be reached.
    const { error } = await sb.auth.signOut({ scope: 'local' });
    if (error) setSignOutError(errorText(error));
    qc.clear();
  }

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="topbar__brand">ML Pipeline</span>
        <nav aria-label="Account" className="topbar__account">
          {session.status === 'signed-in' ? (
            <>
              <span className="topbar__user">
                Signed in as <strong>{session.session.user.email ?? session.session.user.id}</strong>
              </span>
              <button type="button" className="btn btn--small" onClick={signOut}>
                Sign out
              </button>
            </>
          ) : null}
        </nav>
      </header>
      <main id="main" className="page" tabIndex={-1}>
        <h1>Monitoring</h1>
        {signOutError ? (
          <p className="form-error" role="alert">
            {signOutError}
          </p>
        ) : null}
        {session.status === 'loading' ? (
          <p className="muted" role="status">
            Checking your session…
          </p>
        ) : session.status === 'signed-out' ? (
          <div className="signed-out">
            <section className="card" aria-labelledby="signed-out-title">
              <h2 id="signed-out-title">You are signed out</h2>
              <p>
                Sign in with your email and password to see the Auto Reinforcement runs, their metrics and alerts, and to
                request a retraining run.
              </p>
            </section>
            <SignInForm />
          </div>
        ) : (
          <AutoReinforcementSection key={session.session.user.id} userId={session.session.user.id} />
        )}
      </main>
    </>
  );
}
