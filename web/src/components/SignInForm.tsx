import { useState, type FormEvent } from 'react';
import { useSupabase } from '../lib/context';
import { errorText } from '../lib/errors';

function signInErrorText(err: { message?: string; status?: number; code?: string; name?: string }): string {
  if (err.code === 'invalid_credentials' || /invalid login credentials/i.test(err.message ?? '')) {
    return 'Wrong email or password.';
  }
  if (err.code === 'email_not_confirmed') return 'This email address is not confirmed yet. Check your inbox.';
  if (err.status === 429 || err.code === 'over_request_rate_limit') return 'Too many attempts. Wait a minute and try again.';
  return errorText(err);
}

export function SignInForm() {
  const sb = useSupabase();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { error: err } = await sb.auth.signInWithPassword({ email: email.trim(), password });
      if (err) setError(signInErrorText(err));
    } catch (err) {
      setError(signInErrorText(err as Error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card signin" onSubmit={onSubmit} aria-labelledby="signin-title" noValidate={false}>
      <h2 id="signin-title">Sign in</h2>
      <div className="field">
        <label htmlFor="signin-email">Email</label>
        <input
          id="signin-email"
          type="email"
          autoComplete="username"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
      </div>
      <div className="field">
        <label htmlFor="signin-password">Password</label>
        <input
          id="signin-password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </div>
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
      <button type="submit" className="btn btn--primary" disabled={busy}>
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}
