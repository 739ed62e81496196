import { useSignedLogUrl } from '../lib/hooks';
import { errorText } from '../lib/errors';

/** `log_url` is a private storage path; we sign it (1 h) rather than link it directly. */
export function TrainingLogLink({ logUrl }: { logUrl: string | null }) {
  const signed = useSignedLogUrl(logUrl);
  if (!logUrl) return <span className="muted">No training log recorded</span>;
  if (signed.isPending) return <span className="muted">Preparing link…</span>;
  if (signed.isError) return <span className="text-danger">Log unavailable: {errorText(signed.error)}</span>;
  return (
    <a href={signed.data} target="_blank" rel="noopener noreferrer">
      Open training log<span className="visually-hidden"> (opens in a new tab)</span>
    </a>
  );
}
