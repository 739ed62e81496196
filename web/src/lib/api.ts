import type { Supabase } from './supabase';
import { ApiError, MESSAGES, toApiError } from './errors';
import {
  MODEL_VERSION_COLUMNS,
  REASON_MAX_LENGTH,
  REQUEST_COLUMNS,
  RUN_COLUMNS,
  RUN_WINDOW_COLUMNS,
  type ModelVersion,
  type Priority,
  type RetrainingRequest,
  type RetrainingRun,
  type RunWindowRow,
} from './types';

export const HISTORY_LIMIT = 20;
export const ALERT_WINDOW_DAYS = 7;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Upper bound for the 7-day alert window (several runs a day at most, in practice). */
const WINDOW_ROW_LIMIT = 1000;
export const TRAINING_LOG_BUCKET = 'training-logs';
export const SIGNED_URL_SECONDS = 60 * 60;

/** What every postgrest-js call resolves to (we type rows ourselves, see types.ts). */
interface PgResult {
  data: unknown;
  error: unknown;
  status: number;
}

function unwrap<T>(res: PgResult): T {
  if (res.error) throw toApiError(res.error, res.status);
  return res.data as T;
}

export async function fetchLatestRun(sb: Supabase): Promise<RetrainingRun | null> {
  const rows = unwrap<RetrainingRun[]>(
    await sb.from('model_retraining_runs').select(RUN_COLUMNS).order('created_at', { ascending: false }).limit(1),
  );
  return rows[0] ?? null;
}

export async function fetchRunHistory(sb: Supabase, limit = HISTORY_LIMIT): Promise<RetrainingRun[]> {
  return unwrap<RetrainingRun[]>(
    await sb.from('model_retraining_runs').select(RUN_COLUMNS).order('created_at', { ascending: false }).limit(limit),
  );
}

/** The newest nightly run (for the "no nightly run since ..." warning), or null. */
export async function fetchLatestNightly(sb: Supabase): Promise<Pick<RetrainingRun, 'id' | 'status' | 'created_at'> | null> {
  const rows = unwrap<Pick<RetrainingRun, 'id' | 'status' | 'created_at'>[]>(
    await sb.from('model_retraining_runs').select('id,status,created_at').eq('source', 'auto_daily').order('created_at', { ascending: false }).limit(1),
  );
  return rows[0] ?? null;
}

export async function fetchRunWindow(sb: Supabase, now: number, days = ALERT_WINDOW_DAYS): Promise<RunWindowRow[]> {
  const since = new Date(now - days * DAY_MS).toISOString();
  return unwrap<RunWindowRow[]>(
    await sb
      .from('model_retraining_runs')
      .select(RUN_WINDOW_COLUMNS)
      .gte('created_at', since)
      .order('created_at', { ascending: false })
      .limit(WINDOW_ROW_LIMIT),
  );
}

export async function fetchChampion(sb: Supabase): Promise<ModelVersion | null> {
  const rows = unwrap<ModelVersion[]>(
    await sb.from('model_versions').select(MODEL_VERSION_COLUMNS).eq('status', 'champion').limit(1),
  );
  return rows[0] ?? null;
}

/**
 * The signed-in user's open requests (pending, processing) plus the ones that changed in the
 * last 7 days, so a request that just completed, failed or was cancelled stays visible.
 * RLS limits rows to the user's own anyway; the explicit filter keeps it so for admins too.
 * The timestamp is double-quoted: PostgREST treats `.`, `:` `,` and parentheses in an
 * `or=(...)` tree as reserved, and quoting is its documented escape.
 */
export async function fetchMyRequests(sb: Supabase, userId: string, now: number): Promise<RetrainingRequest[]> {
  const since = new Date(now - ALERT_WINDOW_DAYS * DAY_MS).toISOString();
  return unwrap<RetrainingRequest[]>(
    await sb
      .from('model_retraining_requests')
      .select(REQUEST_COLUMNS)
      .eq('requested_by', userId)
      .or(`status.in.(pending,processing),created_at.gte."${since}"`)
      .order('created_at', { ascending: false })
      .limit(20),
  );
}

export interface NewRequest {
  userId: string;
  reason: string;
  priority: Priority;
}

/**
 * Body sent: `{ requested_by, reason, priority }`.
 * `status` is NOT sent: the column defaults to 'pending' server-side and the RLS insert
 * policy only accepts 'pending', so sending it adds nothing but a way to get it wrong.
 * A blank reason is sent as null (the column is optional).
 */
export function buildRequestBody({ userId, reason, priority }: NewRequest) {
  const trimmed = reason.trim();
  if (trimmed.length > REASON_MAX_LENGTH) {
    throw new ApiError('invalid', MESSAGES.invalid);
  }
  return { requested_by: userId, reason: trimmed === '' ? null : trimmed, priority };
}

export async function createRetrainRequest(sb: Supabase, req: NewRequest): Promise<RetrainingRequest> {
  const body = buildRequestBody(req);
  return unwrap<RetrainingRequest>(
    await sb.from('model_retraining_requests').insert(body).select(REQUEST_COLUMNS).single(),
  );
}

/**
 * PATCH status='cancelled' filtered by id (and status=pending, so a request the runner has
 * just claimed is not touched: zero rows back means it was no longer pending).
 */
export async function cancelRetrainRequest(sb: Supabase, id: string): Promise<RetrainingRequest> {
  const rows = unwrap<RetrainingRequest[]>(
    await sb
      .from('model_retraining_requests')
      .update({ status: 'cancelled' })
      .eq('id', id)
      .eq('status', 'pending')
      .select(REQUEST_COLUMNS),
  );
  const row = rows[0];
  if (!row) throw new ApiError('not-pending', MESSAGES['not-pending']);
  return row;
}

/** `log_url` holds "training-logs/<run_id>.log": bucket `training-logs`, object `<run_id>.log`. */
export function parseLogPath(logUrl: string): { bucket: string; path: string } | null {
  const trimmed = logUrl.trim().replace(/^\/+/, '');
  if (!trimmed || /^[a-z]+:\/\//i.test(trimmed)) return null;
  const prefix = `${TRAINING_LOG_BUCKET}/`;
  const path = trimmed.startsWith(prefix) ? trimmed.slice(prefix.length) : trimmed;
  return path ? { bucket: TRAINING_LOG_BUCKET, path } : null;
}

export async function signTrainingLog(sb: Supabase, logUrl: string): Promise<string> {
  const parsed = parseLogPath(logUrl);
  if (!parsed) throw new ApiError('not-found', `Unrecognised training log location "${logUrl}".`);
  const { data, error } = await sb.storage.from(parsed.bucket).createSignedUrl(parsed.path, SIGNED_URL_SECONDS);
  if (error || !data?.signedUrl) {
    const e = error as { status?: number; statusCode?: string } | null;
    const status = e?.status ?? (e?.statusCode ? Number(e.statusCode) : undefined);
    if (status === 404 || /not.?found/i.test(String((error as { message?: string })?.message ?? ''))) {
      throw new ApiError('not-found', 'The training log is not in storage (logs are kept 30 days).', { status: 404 });
    }
    throw toApiError(error ?? new Error('No signed URL returned'), status ?? null);
  }
  return data.signedUrl;
}
