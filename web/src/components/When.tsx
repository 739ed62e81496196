import { formatDateTime, formatRelative } from '../lib/format';

/** A local time with its time zone and its age: "20 Nov 2026, 02:00 UTC · 6 h ago". */
export function When({ iso, now, className }: { iso: string | null | undefined; now: number; className?: string }) {
  if (!iso) return <span className="muted">—</span>;
  const rel = formatRelative(iso, now);
  return (
    <span className={className}>
      <time dateTime={iso}>{formatDateTime(iso)}</time>
      {rel ? <span className="when__ago"> · {rel}</span> : null}
    </span>
  );
}
