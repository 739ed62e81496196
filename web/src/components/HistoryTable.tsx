import type { RetrainingRun } from '../lib/types';
import { durationBetween, formatCount, formatDateTime, formatDuration, formatPercent, sourceLabel } from '../lib/format';
import { StatusBadge } from './StatusBadge';
import { DeltaText } from './MetricsTable';

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

export function HistoryTable({ runs }: { runs: RetrainingRun[] }) {
  return (
    <div className="table-scroll" tabIndex={0} role="region" aria-label="Run history table">
      <table className="history">
        <caption className="visually-hidden">Last {runs.length} retraining runs, newest first</caption>
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
          {runs.map((r) => (
            <tr key={r.id} data-run-id={r.id}>
              <td className="nowrap">{formatDateTime(r.created_at)}</td>
              <td className="nowrap">{shortSource(r.source)}</td>
              <td>
                <StatusBadge status={r.status} />
              </td>
              <td className="num">{formatCount(r.dataset_size)}</td>
              <td className="num">{formatPercent(r.metrics?.accuracy)}</td>
              <td className="num">{formatPercent(r.metrics?.baseline?.accuracy)}</td>
              <td className="num nowrap">
                <DeltaText candidate={r.metrics?.accuracy} baseline={r.metrics?.baseline?.accuracy} />
              </td>
              <td className="num nowrap">{formatDuration(durationBetween(r.started_at, r.completed_at))}</td>
              <td className="outcome">{outcome(r)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
