import { useEffect, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { Session } from '@supabase/auth-js';
import { useSupabase } from './context';
import {
  cancelRetrainRequest,
  createRetrainRequest,
  fetchChampion,
  fetchLatestNightly,
  fetchLatestRun,
  fetchMyRequests,
  fetchRunHistory,
  fetchRunWindow,
  signTrainingLog,
  type NewRequest,
} from './api';
import { computeAlerts } from './alerts';
import { toApiError } from './errors';

/** The guide: "Auto-refresh: updates every 30 seconds". */
export const REFRESH_INTERVAL_MS = 30_000;

export const queryKeys = {
  monitoring: ['monitoring'] as const,
  requests: (userId: string) => ['requests', userId] as const,
  signedLog: (logUrl: string) => ['signed-log', logUrl] as const,
};

export type SessionState =
  | { status: 'loading'; session: null }
  | { status: 'signed-out'; session: null }
  | { status: 'signed-in'; session: Session };

export function useSession(): SessionState {
  const sb = useSupabase();
  const [state, setState] = useState<SessionState>({ status: 'loading', session: null });
  useEffect(() => {
    let active = true;
    sb.auth.getSession().then(({ data }) => {
      if (!active) return;
      setState(data.session ? { status: 'signed-in', session: data.session } : { status: 'signed-out', session: null });
    });
    // Keep this callback synchronous: awaiting other supabase calls inside it can deadlock auth-js.
    const { data } = sb.auth.onAuthStateChange((_event, session) => {
      if (!active) return;
      setState(session ? { status: 'signed-in', session } : { status: 'signed-out', session: null });
    });
    return () => {
      active = false;
      data.subscription.unsubscribe();
    };
  }, [sb]);
  return state;
}

/**
 * One coherent snapshot of everything the section shows, fetched in parallel and refreshed
 * every 30 s: the latest run, the last 20 runs, the 7-day alert window and the champion.
 */
export function useMonitoring(enabled = true) {
  const sb = useSupabase();
  return useQuery({
    queryKey: queryKeys.monitoring,
    enabled,
    refetchInterval: REFRESH_INTERVAL_MS,
    queryFn: async () => {
      const now = Date.now();
      const [latest, history, windowRuns, champion, latestNightly] = await Promise.all([
        fetchLatestRun(sb),
        fetchRunHistory(sb),
        fetchRunWindow(sb, now),
        fetchChampion(sb),
        fetchLatestNightly(sb),
      ]);
      const alerts = computeAlerts({ runs: windowRuns, now });
      return { latest, history, windowRuns, champion, latestNightly, alerts, fetchedAt: now };
    },
  });
}

export function useMyRequests(userId: string) {
  const sb = useSupabase();
  return useQuery({
    queryKey: queryKeys.requests(userId),
    refetchInterval: REFRESH_INTERVAL_MS,
    queryFn: () => fetchMyRequests(sb, userId, Date.now()),
  });
}

export function useCreateRequest() {
  const sb = useSupabase();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (req: NewRequest) => createRetrainRequest(sb, req),
    // Never retry an insert: a retry after a lost response could queue a second request.
    retry: false,
    onSettled: (_data, _err, req) => qc.invalidateQueries({ queryKey: queryKeys.requests(req.userId) }),
  });
}

export function useCancelRequest(userId: string) {
  const sb = useSupabase();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => cancelRetrainRequest(sb, id),
    retry: false,
    onSettled: () => qc.invalidateQueries({ queryKey: queryKeys.requests(userId) }),
  });
}

/** Signed URL for a run's training log; re-signed well before the 1 h expiry. */
export function useSignedLogUrl(logUrl: string | null | undefined) {
  const sb = useSupabase();
  return useQuery({
    queryKey: queryKeys.signedLog(logUrl ?? ''),
    enabled: !!logUrl,
    staleTime: 30 * 60_000,
    refetchInterval: 45 * 60_000,
    retry: (count, err) => count < 2 && toApiError(err).kind === 'network',
    queryFn: () => signTrainingLog(sb, logUrl!),
  });
}

/** A clock that re-renders every `intervalMs` (for "updated N s ago"). */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(id);
  }, [intervalMs]);
  return now;
}
