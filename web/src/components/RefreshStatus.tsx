import { useEffect, useState } from 'react';
import { formatAgo, formatTime } from '../lib/format';

/**
 * "Updated N s ago" ticks every second but is NOT a live region (that would chatter);
 * a separate polite live region announces each completed refresh once.
 */
export function RefreshStatus({
  updatedAt,
  now,
  isFetching,
  onRefresh,
}: {
  updatedAt: number;
  now: number;
  isFetching: boolean;
  onRefresh: () => void;
}) {
  const [announcement, setAnnouncement] = useState('');
  useEffect(() => {
    if (updatedAt) setAnnouncement(`Auto Reinforcement data refreshed at ${formatTime(updatedAt)}.`);
  }, [updatedAt]);

  return (
    <div className="refresh">
      <span className="refresh__ago" data-testid="updated-ago">
        {updatedAt ? (
          <>
            Updated <time dateTime={new Date(updatedAt).toISOString()}>{formatAgo(now - updatedAt)}</time>
          </>
        ) : (
          'Not loaded yet'
        )}
        {' · refreshes every 30 s'}
      </span>
      <button type="button" className="btn btn--small" onClick={onRefresh} disabled={isFetching}>
        {isFetching ? 'Refreshing…' : 'Refresh now'}
      </button>
      <span className="visually-hidden" role="status" aria-live="polite">
        {announcement}
      </span>
    </div>
  );
}
