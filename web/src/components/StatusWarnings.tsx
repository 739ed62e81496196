import type { StaleWarning } from '../lib/staleness';

/** Missed nightly runs and runs past their lease (issue 12, item 2). */
export function StatusWarnings({ warnings }: { warnings: StaleWarning[] }) {
  if (warnings.length === 0) return null;
  return (
    <div className="alert-banner alert-banner--warning stale-warnings" role="alert" aria-labelledby="stale-title">
      <h3 id="stale-title">
        <span aria-hidden="true">⚠ </span>
        {warnings.length === 1 ? 'Check the runner' : `Check the runner (${warnings.length} warnings)`}
      </h3>
      <ul>
        {warnings.map((w) => (
          <li key={`${w.code}-${w.runId ?? ''}`} data-warning={w.code}>
            <strong>{w.title}.</strong> {w.message}
          </li>
        ))}
      </ul>
    </div>
  );
}
