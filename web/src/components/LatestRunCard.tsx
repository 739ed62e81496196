import type { ModelVersion, RetrainingRun } from '../lib/types';
import { durationBetween, formatCount, formatDuration, sourceLabel } from '../lib/format';
import { StatusBadge } from './StatusBadge';
import { TrainingLogLink } from './TrainingLogLink';
import { RunOutcome } from './RunDetails';
import { When } from './When';

export function LatestRunCard({ run, champion, now }: { run: RetrainingRun; champion: ModelVersion | null; now: number }) {
  const duration =
    run.status === 'running' && run.started_at
      ? durationBetween(run.started_at, new Date(now).toISOString())
      : durationBetween(run.started_at, run.completed_at);
  return (
    <article className="card latest" aria-labelledby="latest-title">
      <header className="card__header">
        <h3 id="latest-title">Latest run</h3>
        <StatusBadge status={run.status} prefix="Status:" />
      </header>

      <dl className="facts">
        <div>
          <dt>Source</dt>
          <dd>{sourceLabel(run.source)}{run.fine_tune_flag === false ? ' · trained from scratch' : ''}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd><When iso={run.started_at ?? (run.status === 'pending' ? run.created_at : null)} now={now} /></dd>
        </div>
        {run.status === 'running' ? (
          <div>
            <dt>Last heartbeat</dt>
            <dd><When iso={run.heartbeat_at} now={now} /></dd>
          </div>
        ) : (
          <div>
            <dt>Completed</dt>
            <dd><When iso={run.completed_at} now={now} /></dd>
          </div>
        )}
        <div>
          <dt>Duration</dt>
          <dd>
            {/* A running run's duration in whole minutes: it does not tick every second. */}
            {run.status === 'running' && duration != null && duration >= 60_000 ? formatDuration(Math.floor(duration / 60_000) * 60_000) : formatDuration(duration)}
            {run.status === 'running' && duration != null ? ' so far' : ''}
          </dd>
        </div>
        <div>
          <dt>Dataset size</dt>
          <dd>{formatCount(run.dataset_size)} error samples</dd>
        </div>
        <div>
          <dt>Model in service</dt>
          <dd>
            {champion ? (
              <>
                v{champion.version}
                {champion.estimator ? ` · ${champion.estimator}` : ''}
                {champion.promoted_at ? (
                  <>
                    {' · since '}
                    <When iso={champion.promoted_at} now={now} />
                  </>
                ) : null}
              </>
            ) : (
              <span className="muted">No champion model yet</span>
            )}
          </dd>
        </div>
        <div>
          <dt>Training log</dt>
          <dd>
            <TrainingLogLink logUrl={run.log_url} />
          </dd>
        </div>
      </dl>

      {run.status === 'pending' || run.status === 'running' ? (
        <p className="muted">{run.status === 'pending' ? 'Waiting for a runner.' : 'Training in progress; metrics appear when it completes.'}</p>
      ) : null}

      <RunOutcome run={run} />

      {run.metrics?.alerts && run.metrics.alerts.length > 0 ? (
        <div className="runner-alerts">
          <h4>Alerts recorded by this run</h4>
          <ul>
            {run.metrics.alerts.map((a, i) => (
              <li key={`${a.code}-${i}`}>
                <code>{a.code}</code> {a.message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </article>
  );
}
