export function ConfigMissing({ problems }: { problems: string[] }) {
  return (
    <main className="page page--narrow">
      <section className="card card--danger" role="alert" aria-labelledby="config-title">
        <h1 id="config-title">Supabase is not configured</h1>
        <p>The Monitoring page cannot connect to Supabase:</p>
        <ul>
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
        <p>
          Set <code>VITE_SUPABASE_URL</code> and <code>VITE_SUPABASE_ANON_KEY</code> (the project&apos;s anon/public key) in{' '}
          <code>web/.env.local</code> or the build environment, then rebuild. See <code>docs/web.md</code>.
        </p>
      </section>
    </main>
  );
}
