import { Fragment } from 'react';
import type { RetrainingRun } from '../lib/types';
import { durationBetween, formatCount, formatDateTime, formatDuration, formatPercent, sourceLabel } from '../lib/format';
import { StatusBadge } from './StatusBadge';
import { DeltaText } from './MetricsTable';
import { RunDetails } from './RunDetails';
import { TrainingLogLink } from './TrainingLogLink';
import { When } from './When';

const SHORT_SOURCES: Record<string, string> = { auto_daily: 'Nightly', manual: 'Manual', decay_triggered: 'Decay' };
function shortSource(source: string): string {
  return SHORT_SOURCES[source] ?? sourceLabel(source);
}

function outcome(run: RetrainingRun): string {
  if (run.status === 'completed' && typeof run.metrics?.promoted === 'boolean') return run.metrics.promoted ? 'Promoted' : 'Rejected';
  if (run.status === 'skipped') return run.skip_reason ? `Skipped: ${run.skip_reason}` : 'Skipped';
  if (run.status === 'failed') return run.error_message ? `Error: ${run.error_message}` : 'Failed';
  return '—';
}

export const runRowId = (id: string) => `run-${id}`;

/**
 * The last runs, newest first. Each row's date is a disclosure button that opens the run's
 * details (metrics vs baseline, gate reason, error, log) in the row below; every failed run
 * links to its log in the row itself. Below 640 px the table becomes one card per run.
 */
export function HistoryTable({
  runs,
  now,
  openRunId,
  onToggle,
}: {
  runs: RetrainingRun[];
  now: number;
  openRunId: string | null;
  onToggle: (id: string | null) => void;
}) {
  return (
    <div className="table-scroll" tabIndex={0} role="region" aria-label="Run history table">
      <table className="history">
        <caption className="visually-hidden">Last {runs.length} retraining runs, newest first. Open a run for its details.</caption>
        <thead>
          <tr>
            <th scope="col">Created</th>
            <th scope="col">Source</th>
            <th scope="col">Status</th>
            <th scope="col" className="num">Samples</th>
            <th scope="col" className="num">Accuracy</th>
            <th scope="col" className="num">Baseline</th>
            <th scope="col" className="num">Change</th>
            <th scope="col" className="num">Duration</th>
            <th scope="col">Outcome</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => {
            const open = openRunId === r.id;
            const detailsId = `${runRowId(r.id)}-details`;
            return (
              <Fragment key={r.id}>
                <tr id={runRowId(r.id)} data-run-id={r.id} data-status={r.status} className={open ? 'is-open' : undefined}>
                  <td data-label="Created" className="history__when">
                    <button
                      type="button"
                      className="btn--disclosure"
                      aria-expanded={open}
                      aria-controls={open ? detailsId : undefined}
                      onClick={() => onToggle(open ? null : r.id)}
                    >
                      <span aria-hidden="true" className="disclosure-icon">{open ? '▾' : '▸'}</span>
                      <When iso={r.created_at} now={now} />
                      <span className="visually-hidden">: {open ? 'hide' : 'show'} run details</span>
                    </button>
                  </td>
                  <td data-label="Source" className="nowrap">{shortSource(r.source)}</td>
                  <td data-label="Status">
                    <StatusBadge status={r.status} />
                  </td>
                  <td data-label="Samples" className="num">{formatCount(r.dataset_size)}</td>
                  <td data-label="Accuracy" className="num">{formatPercent(r.metrics?.accuracy)}</td>
                  <td data-label="Baseline" className="num">{formatPercent(r.metrics?.baseline?.accuracy)}</td>
                  <td data-label="Change" className="num nowrap">
                    <DeltaText candidate={r.metrics?.accuracy} baseline={r.metrics?.baseline?.accuracy} />
                  </td>
                  <td data-label="Duration" className="num nowrap">{formatDuration(durationBetween(r.started_at, r.completed_at))}</td>
                  <td data-label="Outcome" className="outcome">
                    <span>{outcome(r)}</span>
                    {r.status === 'failed' ? (
                      <span className="outcome__log">
                        {' '}
                        <TrainingLogLink logUrl={r.log_url} label="Open log" context={`of the failed run of ${formatDateTime(r.created_at)}`} />
                      </span>
                    ) : null}
                  </td>
                </tr>
                {open ? (
                  <tr className="history__details" id={detailsId}>
                    <td colSpan={9}>
                      <RunDetails run={r} now={now} />
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
