import { METRIC_ROWS, formatPercent, metricDelta } from '../lib/format';
import type { RunMetrics } from '../lib/types';

export function DeltaText({ candidate, baseline }: { candidate?: number | null; baseline?: number | null }) {
  const d = metricDelta(candidate, baseline);
  if (!d) return <span className="muted">—</span>;
  const icon = d.direction === 'up' ? '▲' : d.direction === 'down' ? '▼' : '●';
  return (
    <span className={`delta delta--${d.direction}`}>
      <span aria-hidden="true">
        {icon} {d.text}
      </span>
      <span className="visually-hidden">{d.spoken}</span>
    </span>
  );
}

export function MetricsTable({ metrics }: { metrics: RunMetrics }) {
  const baseline = metrics.baseline ?? null;
  return (
    <div className="table-scroll">
      <table className="metrics">
        <caption>
          Holdout metrics{metrics.holdout_size ? ` (${metrics.holdout_size.toLocaleString('en-US')} samples)` : ''}
          {baseline ? '' : ' — no baseline (no model was in service to compare with)'}
        </caption>
        <thead>
          <tr>
            <th scope="col">Metric</th>
            <th scope="col">Candidate</th>
            <th scope="col">Baseline</th>
            <th scope="col">Change</th>
          </tr>
        </thead>
        <tbody>
          {METRIC_ROWS.map(({ key, label }) => (
            <tr key={key}>
              <th scope="row">{label}</th>
              <td className="num">{formatPercent(metrics[key])}</td>
              <td className="num">{formatPercent(baseline?.[key])}</td>
              <td className="num">
                <DeltaText candidate={metrics[key]} baseline={baseline?.[key]} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
