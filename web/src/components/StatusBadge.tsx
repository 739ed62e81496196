/** Status shown as an icon AND a word: colour is never the only signal. */
const BADGES: Record<string, { icon: string; label: string; tone: string }> = {
  pending: { icon: '◷', label: 'Pending', tone: 'neutral' },
  running: { icon: '↻', label: 'Running', tone: 'info' },
  processing: { icon: '↻', label: 'Processing', tone: 'info' },
  completed: { icon: '✓', label: 'Completed', tone: 'success' },
  failed: { icon: '✕', label: 'Failed', tone: 'danger' },
  skipped: { icon: '⤼', label: 'Skipped', tone: 'muted' },
  cancelled: { icon: '⊘', label: 'Cancelled', tone: 'muted' },
};

export function StatusBadge({ status, prefix }: { status: string; prefix?: string }) {
  const b = BADGES[status] ?? { icon: '?', label: status || 'Unknown', tone: 'neutral' };
  return (
    <span className={`badge badge--${b.tone}`} data-status={status}>
      <span aria-hidden="true" className="badge__icon">
        {b.icon}
      </span>
      {prefix ? <span className="visually-hidden">{prefix} </span> : null}
      {b.label}
    </span>
  );
}
