import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { useSupabase } from '../lib/context';
import { useSession } from '../lib/hooks';
import { errorText } from '../lib/errors';
import { SignInForm } from './SignInForm';
import { AutoReinforcementSection, NoAccess } from './AutoReinforcementSection';
import { roleOf } from '../lib/role';

export function App() {
  const sb = useSupabase();
  const qc = useQueryClient();
  const session = useSession();
  const [signOutError, setSignOutError] = useState<string | null>(null);
  useEffect(() => {
    if (session.status === 'signed-in') setSignOutError(null);
  }, [session.status]);

  // Focus is never left on a button that disappeared: after signing in it moves to the page
  // heading, after signing out (or "Sign in again") to the sign-in form's first field.
  const prevStatus = useRef(session.status);
  useEffect(() => {
    const prev = prevStatus.current;
    prevStatus.current = session.status;
    if (prev === 'signed-out' && session.status === 'signed-in') document.getElementById('main-title')?.focus();
    if (prev === 'signed-in' && session.status === 'signed-out') document.getElementById('signin-email')?.focus();
  }, [session.status]);
  const role = session.status === 'signed-in' ? roleOf(session.session) : null;

  async function signOut() {
    setSignOutError(null);
    // scope 'local': auth-js removes this browser's session BEFORE asking the server to revoke
    // its refresh token, so signing out never depends on the network.
    const { error } = await sb.auth.signOut({ scope: 'local' });
    qc.clear();
    if (error) setSignOutError(`Signed out on this device, but Supabase could not revoke the session: ${errorText(error)}`);
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
                {role ? <span className="topbar__role"> ({role})</span> : null}
              </span>
              <button type="button" className="btn btn--small" onClick={signOut}>
                Sign out
              </button>
            </>
          ) : null}
        </nav>
      </header>
      <main id="main" className="page" tabIndex={-1}>
        <h1 id="main-title" tabIndex={-1}>
          Monitoring
        </h1>
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
        ) : role ? (
          <AutoReinforcementSection key={session.session.user.id} userId={session.session.user.id} role={role} />
        ) : (
          <NoAccess email={session.session.user.email ?? session.session.user.id} />
        )}
      </main>
    </>
  );
}
