import { formatAgo } from '../lib/format';

/**
 * "Updated N s ago" ticks every second, so it is deliberately NOT a live region (it would
 * chatter); the section announces what changed through its own polite live region.
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
    </div>
  );
}
