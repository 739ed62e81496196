import { useEffect, useRef, useState } from 'react';
import { useMonitoring, useNow } from '../lib/hooks';
import { errorText } from '../lib/errors';
import { formatTime, sourceLabel } from '../lib/format';
import { AlertBanner } from './AlertBanner';
import { LatestRunCard } from './LatestRunCard';
import { RetrainPanel } from './RetrainPanel';
import { AccuracyChart } from './AccuracyChart';
import { HistoryTable } from './HistoryTable';
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

export function AutoReinforcementSection({ userId }: { userId: string }) {
  const q = useMonitoring();
  const now = useNow(1000);
  const data = q.data;
  const announcement = useRefreshAnnouncement(q.data?.latest ?? null, q.dataUpdatedAt);

  function refreshNow() {
    announcement.markManual();
    void q.refetch();
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
        <p>
          <strong>Could not load retraining runs.</strong> {errorText(q.error)}
        </p>
        <button type="button" className="btn" onClick={() => q.refetch()}>
          Try again
        </button>
      </div>
    );
  } else {
    body = (
      <>
        {q.isError ? (
          <p className="callout callout--warning" role="alert">
            Refresh failed: {errorText(q.error)} Showing the data from {new Date(q.dataUpdatedAt).toLocaleTimeString()}.
          </p>
        ) : null}
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
          <RetrainPanel userId={userId} />
        </div>
        <section className="card history-card" aria-labelledby="history-title">
          <h3 id="history-title">History (last 20 runs)</h3>
          {data.history.length ? (
            <>
              <AccuracyChart runs={data.history} />
              <HistoryTable runs={data.history} />
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
