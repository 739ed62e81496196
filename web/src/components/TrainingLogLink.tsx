import { useSignedLogUrl } from '../lib/hooks';
import { errorText } from '../lib/errors';

/**
 * `log_url` is a private storage path; we sign it (1 h) rather than link it directly.
 * `context` (visually hidden) tells links apart, e.g. "of the run of 20 Nov 2026, 02:00 UTC".
 */
export function TrainingLogLink({ logUrl, label = 'Open training log', context }: { logUrl: string | null; label?: string; context?: string }) {
  const signed = useSignedLogUrl(logUrl);
  if (!logUrl) return <span className="muted">No training log recorded</span>;
  if (signed.isPending) return <span className="muted">Preparing link…</span>;
  if (signed.isError) return <span className="text-danger">Log unavailable: {errorText(signed.error)}</span>;
  return (
    <a href={signed.data} target="_blank" rel="noopener noreferrer">
      {label}
      <span className="visually-hidden">{context ? ` ${context}` : ''} (opens in a new tab)</span>
    </a>
  );
}
