import type { Alert } from '../lib/alerts';

/** The guide's recommended alerts. role="alert" announces a new alert once when it appears. */
export function AlertBanner({ alerts }: { alerts: Alert[] }) {
  if (alerts.length === 0) return null;
  const critical = alerts.some((a) => a.severity === 'critical');
  return (
    <div className={`alert-banner alert-banner--${critical ? 'critical' : 'warning'}`} role="alert" aria-labelledby="alerts-title">
      <h3 id="alerts-title">
        <span aria-hidden="true">⚠ </span>
        {alerts.length === 1 ? '1 alert' : `${alerts.length} alerts`}
      </h3>
      <ul>
        {alerts.map((a) => (
          <li key={a.code} data-alert={a.code}>
            <strong>
              {a.severity === 'critical' ? 'Critical' : 'Warning'}: {a.title}.
            </strong>{' '}
            {a.message}
          </li>
        ))}
      </ul>
    </div>
  );
}
