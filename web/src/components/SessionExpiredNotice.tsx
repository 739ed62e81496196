import { useQueryClient } from '@tanstack/react-query';
import { useSupabase } from '../lib/context';

/**
 * A 401 from Supabase: the session expired or was revoked. Offer a way out instead of a
 * dead end: "Sign in again" drops this browser's session (no network needed) and the page
 * shows the sign-in form with focus in its first field.
 */
export function SessionExpiredNotice({ message, standalone = true }: { message: string; standalone?: boolean }) {
  const sb = useSupabase();
  const qc = useQueryClient();
  async function signInAgain() {
    await sb.auth.signOut({ scope: 'local' });
    qc.clear();
  }
  return (
    <div className="form-error session-expired" role={standalone ? 'alert' : undefined} data-error-kind="session-expired">
      <p>{message}</p>
      <button type="button" className="btn btn--small" onClick={signInAgain}>
        Sign in again
      </button>
    </div>
  );
}
