import { useEffect, useRef, useState } from 'react';
import { useMonitoring, useNow } from '../lib/hooks';
import { toApiError } from '../lib/errors';
import { formatTime, sourceLabel } from '../lib/format';
import { stalenessWarnings } from '../lib/staleness';
import { ROLES_DOC_PATH, ROLES_DOC_URL, type Role } from '../lib/role';
import { StatusWarnings } from './StatusWarnings';
import { SessionExpiredNotice } from './SessionExpiredNotice';
import { AlertBanner } from './AlertBanner';
import { LatestRunCard } from './LatestRunCard';
import { RetrainPanel } from './RetrainPanel';
import { AccuracyChart } from './AccuracyChart';
import { HistoryTable, runRowId } from './HistoryTable';
import { RefreshStatus } from './RefreshStatus';

/**
 * What the polite live region says after a refresh: the latest run's new status when it
 * changed (a new run, or running -> completed), or a short "no change" after a manual
 * refresh. Silent on the first load and on unchanged automatic refreshes, so a screen
 * reader is not interrupted every 30 s.
 */
function useRefreshAnnouncement(latest: { id: string; status: string; source: string } | null, updatedAt: number) {
  const [text, setText] = useState('');
  const prev = useRef<{ key: string } | null>(null);
  const manual = useRef(false);
  useEffect(() => {
    if (!updatedAt) return;
    const key = latest ? `${latest.id}:${latest.status}` : 'none';
    if (prev.current && prev.current.key !== key) {
      setText(latest ? `Latest run is now ${latest.status} (${sourceLabel(latest.source)}), updated at ${formatTime(updatedAt)}.` : 'There are no runs.');
    } else if (prev.current && manual.current) {
      setText(`Refreshed at ${formatTime(updatedAt)}; the latest run has not changed.`);
    }
    manual.current = false;
    prev.current = { key };
  }, [latest, updatedAt]);
  return { text, markManual: () => (manual.current = true) };
}

function ErrorText({ error }: { error: unknown }) {
  const e = toApiError(error);
  if (e.kind === 'session-expired') return <SessionExpiredNotice message={e.message} standalone={false} />;
  return <>{e.message}</>;
}

/** Signed in, but no ml_role yet (docs: WEB_CONTRACT): say so and how to fix it; no data, no form. */
export function NoAccess({ email }: { email: string }) {
  return (
    <section className="ar" aria-labelledby="ar-title">
      <h2 id="ar-title">Auto Reinforcement</h2>
      <div className="card card--warning" role="alert" data-testid="no-access">
        <h3>Your account has no access yet</h3>
        <p>
          You are signed in as <strong className="break">{email}</strong>, but this account has no role for the Monitoring page, so it
          can read no runs and cannot request retraining.
        </p>
        <p>
          An admin must grant the role <code>viewer</code> (read, and queue low or normal priority requests) or{' '}
          <code>operator</code> (also high priority) in the user&apos;s <code>app_metadata.ml_role</code>: see{' '}
          <a href={ROLES_DOC_URL}>{ROLES_DOC_PATH}</a>. Then sign out and sign in again.
        </p>
      </div>
    </section>
  );
}

export function AutoReinforcementSection({ userId, role }: { userId: string; role: Role }) {
  const q = useMonitoring();
  const now = useNow(1000);
  const data = q.data;
  const announcement = useRefreshAnnouncement(q.data?.latest ?? null, q.dataUpdatedAt);
  const [openRunId, setOpenRunId] = useState<string | null>(null);

  function refreshNow() {
    announcement.markManual();
    void q.refetch();
  }

  function showRun(id: string) {
    setOpenRunId(id);
    requestAnimationFrame(() => {
      const row = document.getElementById(runRowId(id));
      row?.scrollIntoView({ block: 'center' });
      row?.querySelector<HTMLButtonElement>('button[aria-expanded]')?.focus();
    });
  }

  let body;
  if (q.isPending) {
    body = (
      <p className="card muted" role="status">
        Loading retraining runs…
      </p>
    );
  } else if (!data) {
    body = (
      <div className="card card--danger" role="alert">
        <div>
          <strong>Could not load retraining runs.</strong> <ErrorText error={q.error} />
        </div>
        <button type="button" className="btn" onClick={() => q.refetch()}>
          Try again
        </button>
      </div>
    );
  } else {
    const warnings = stalenessWarnings({
      latestNightly: data.latestNightly ?? null,
      runs: data.latest ? [data.latest, ...data.history] : data.history,
      now,
    });
    body = (
      <>
        {q.isError ? (
          <div className="callout callout--warning" role="alert">
            Refresh failed: <ErrorText error={q.error} /> Showing the data from {new Date(q.dataUpdatedAt).toLocaleTimeString()}.
          </div>
        ) : null}
        <StatusWarnings warnings={warnings} />
        <AlertBanner alerts={data.alerts} />
        <div className="grid">
          {data.latest ? (
            <LatestRunCard run={data.latest} champion={data.champion} now={now} />
          ) : (
            <article className="card empty" aria-labelledby="latest-title">
              <h3 id="latest-title">Latest run</h3>
              <p>
                <strong>No runs yet.</strong> The nightly job runs at 02:00 UTC when there are at least 10 high-confidence
                errors; use Retrain Now to queue one by hand.
              </p>
              {data.champion ? <p>Model in service: v{data.champion.version}</p> : null}
            </article>
          )}
          <RetrainPanel userId={userId} role={role} now={now} onShowRun={showRun} knownRunIds={new Set(data.history.map((r) => r.id))} />
        </div>
        <section className="card history-card" aria-labelledby="history-title">
          <h3 id="history-title">History (last 20 runs)</h3>
          {data.history.length ? (
            <>
              <AccuracyChart runs={data.history} />
              <HistoryTable runs={data.history} now={now} openRunId={openRunId} onToggle={setOpenRunId} />
            </>
          ) : (
            <p className="muted">No runs yet.</p>
          )}
        </section>
      </>
    );
  }

  return (
    <section className="ar" aria-labelledby="ar-title">
      <div className="ar__header">
        <h2 id="ar-title">Auto Reinforcement</h2>
        <RefreshStatus updatedAt={q.dataUpdatedAt} now={now} isFetching={q.isFetching} onRefresh={refreshNow} />
      </div>
      <p className="visually-hidden" role="status" aria-live="polite" data-testid="refresh-announcement">
        {announcement.text}
      </p>
      {body}
    </section>
  );
}
