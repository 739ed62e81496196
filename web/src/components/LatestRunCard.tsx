import type { ModelVersion, RetrainingRun } from '../lib/types';
import { durationBetween, formatCount, formatDateTime, formatDuration, sourceLabel } from '../lib/format';
import { StatusBadge } from './StatusBadge';
import { MetricsTable } from './MetricsTable';
import { TrainingLogLink } from './TrainingLogLink';

function hasMetrics(run: RetrainingRun): boolean {
  const m = run.metrics;
  return !!m && ['accuracy', 'precision', 'recall', 'f1_score'].some((k) => typeof (m as Record<string, unknown>)[k] === 'number');
}

function Decision({ run }: { run: RetrainingRun }) {
  const promoted = run.metrics?.promoted;
  if (run.status !== 'completed' || typeof promoted !== 'boolean') return null;
  const reason = run.metrics?.promotion_reason;
  const version = run.model_version ?? run.metrics?.model_version;
  return (
    <p className={`decision decision--${promoted ? 'promoted' : 'rejected'}`}>
      <strong>
        <span aria-hidden="true">{promoted ? '⬆ ' : '⏹ '}</span>
        {promoted ? 'Promoted' : 'Rejected'}
        {version != null ? ` (v${version})` : ''}:
      </strong>{' '}
      {reason || (promoted ? 'the candidate passed the holdout gate.' : 'the candidate did not pass the holdout gate.')}
    </p>
  );
}

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
          <dd>{formatDateTime(run.started_at)}</dd>
        </div>
        <div>
          <dt>Completed</dt>
          <dd>{formatDateTime(run.completed_at)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>
            {formatDuration(duration)}
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
                {champion.promoted_at ? ` · since ${formatDateTime(champion.promoted_at)}` : ''}
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

      {run.status === 'failed' ? (
        <div className="callout callout--danger">
          <strong>Error:</strong> {run.error_message || 'The run failed without an error message.'}
        </div>
      ) : null}

      {run.status === 'skipped' ? (
        <div className="callout callout--muted">
          <strong>Skipped:</strong> {run.skip_reason || 'no reason recorded.'}
        </div>
      ) : null}

      {run.status === 'pending' || run.status === 'running' ? (
        <p className="muted">{run.status === 'pending' ? 'Waiting for a runner.' : 'Training in progress; metrics appear when it completes.'}</p>
      ) : null}

      {hasMetrics(run) && run.metrics ? <MetricsTable metrics={run.metrics} /> : null}

      <Decision run={run} />

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
