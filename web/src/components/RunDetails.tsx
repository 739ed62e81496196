import type { RetrainingRun } from '../lib/types';
import { recordedGate, metricName } from '../lib/alerts';
import { durationBetween, formatCount, formatDuration, sourceLabel } from '../lib/format';
import { MetricsTable } from './MetricsTable';
import { TrainingLogLink } from './TrainingLogLink';
import { When } from './When';

export function hasMetrics(run: RetrainingRun): boolean {
  const m = run.metrics;
  return !!m && ['accuracy', 'precision', 'recall', 'f1_score'].some((k) => typeof (m as Record<string, unknown>)[k] === 'number');
}

const pts = (v: number) => `${(v * 100).toFixed(1)} pts`;

/** The promotion gate the run was judged by, in words. */
export function GateText({ run }: { run: RetrainingRun }) {
  if (!run.metrics?.baseline) return null;
  const gate = recordedGate(run.metrics);
  const guards = Object.entries(gate.guard_metrics).map(([m, t]) => `${metricName(m)} may drop at most ${pts(t as number)}`);
  // Runs judged by the paired gate (issue 14) record its test: they had to beat the baseline, not tie it.
  const raw = (run.metrics.gate ?? {}) as Record<string, unknown>;
  const paired = typeof raw.paired_test === 'string' && raw.paired_test !== 'none' ? raw.paired_test : null;
  const confidence = typeof raw.confidence === 'number' ? ` at ${Math.round(raw.confidence * 100)}% confidence` : '';
  const balanced = raw.balanced_guard && typeof raw.balanced_guard === 'object'
    ? Object.entries(raw.balanced_guard as Record<string, unknown>).filter(([, t]) => typeof t === 'number').map(([m, t]) => `${m.replace(/_/g, ' ')} may drop at most ${pts(t as number)}`)
    : [];
  const rule = paired
    ? `must beat the baseline${gate.min_delta ? ` by at least ${pts(gate.min_delta)}` : ''}, confirmed by a paired ${paired} test on the same holdout rows${confidence}`
    : `must reach the baseline${gate.min_delta ? ` ${gate.min_delta > 0 ? '+' : '−'} ${pts(Math.abs(gate.min_delta))}` : ''}`;
  return (
    <p className="small muted gate-text">
      Promotion gate: {metricName(gate.primary_metric)} is the primary metric ({rule})
      {[...guards, ...balanced].length ? `; ${[...guards, ...balanced].join('; ')}` : ''}.
      {gate.recorded ? '' : ' (Not recorded by this run: model_config.yaml defaults assumed.)'}
    </p>
  );
}

export function Decision({ run }: { run: RetrainingRun }) {
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

/** Error, skip reason, metrics vs baseline, gate decision: what a run's details show. */
export function RunOutcome({ run }: { run: RetrainingRun }) {
  return (
    <>
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
      {hasMetrics(run) && run.metrics ? <MetricsTable metrics={run.metrics} /> : null}
      <Decision run={run} />
      <GateText run={run} />
    </>
  );
}

/** The details of one history row. */
export function RunDetails({ run, now }: { run: RetrainingRun; now: number }) {
  return (
    <div className="run-details">
      <dl className="facts">
        <div>
          <dt>Source</dt>
          <dd>{sourceLabel(run.source)}{run.fine_tune_flag === false ? ' · trained from scratch' : ''}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd><When iso={run.started_at} now={now} /></dd>
        </div>
        <div>
          <dt>Completed</dt>
          <dd><When iso={run.completed_at} now={now} /></dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{formatDuration(durationBetween(run.started_at, run.completed_at))}</dd>
        </div>
        <div>
          <dt>Dataset size</dt>
          <dd>{formatCount(run.dataset_size)} error samples</dd>
        </div>
        <div>
          <dt>Training log</dt>
          <dd><TrainingLogLink logUrl={run.log_url} /></dd>
        </div>
      </dl>
      <RunOutcome run={run} />
      <p className="small muted">Run id <code className="break">{run.id}</code></p>
    </div>
  );
}
