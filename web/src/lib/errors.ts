/**
 * Turns PostgREST / Storage / Auth / network failures into words a person can act on.
 *
 * PostgREST answers (supabase-js returns them as `{ error, status }`):
 *  - RLS refusal: 401 (anon) or 403 (authenticated) with code 42501
 *    ("new row violates row-level security policy ..." / "permission denied for table ...");
 *  - expired or bad JWT: 401 with code PGRST301/PGRST302/PGRST303;
 *  - unique violation: 409 with code 23505 (here: the one-pending-request-per-user index);
 *  - check violation: 400 with code 23514.
 * A network failure comes back from postgrest-js as status 0 and a message such as
 * "TypeError: Failed to fetch"; storage-js and auth-js throw or return
 * StorageUnknownError / AuthRetryableFetchError with status 0.
 */
export type ApiErrorKind =
  | 'refused'
  | 'permission'
  | 'session-expired'
  | 'duplicate-pending'
  | 'invalid'
  | 'not-pending'
  | 'not-found'
  | 'network'
  | 'unknown';

export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  readonly status: number | null;
  readonly code: string | null;
  readonly detail: string | null;

  constructor(kind: ApiErrorKind, message: string, opts: { status?: number | null; code?: string | null; detail?: string | null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.kind = kind;
    this.status = opts.status ?? null;
    this.code = opts.code ?? null;
    this.detail = opts.detail ?? null;
  }
}

interface ErrorLike {
  message?: unknown;
  code?: unknown;
  status?: unknown;
  statusCode?: unknown;
  name?: unknown;
  details?: unknown;
}

const NETWORK_PATTERNS = [/failed to fetch/i, /networkerror/i, /network request failed/i, /load failed/i, /fetch failed/i, /ECONNREFUSED/i];

export const MESSAGES: Record<ApiErrorKind, string> = {
  permission:
    'Permission denied: the database refused this action (row-level security). Make sure you are signed in with an account that is allowed to do it.',
  refused: 'The database refused this retraining request.',
  'session-expired': 'Your session has expired or is no longer valid (HTTP 401 Unauthorized). Sign in again.',
  'duplicate-pending':
    'You already have a pending retraining request. Cancel it or wait until the runner picks it up before asking again.',
  invalid: 'The database rejected the values sent (reason at most 500 characters; priority low, normal or high).',
  'not-pending': 'That request is no longer pending (the runner may have picked it up already), so it cannot be cancelled.',
  'not-found': 'Not found.',
  network: 'Could not reach Supabase (network failure). Check your connection; the page will retry.',
  unknown: 'Something went wrong.',
};

/** HTTP status codes in words (the ones a person may meet on this page). */
const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** "HTTP 503 Service Unavailable" (or just "HTTP 599" for a status without a name). */
export function httpStatusText(status: number): string {
  return `HTTP ${status}${STATUS_TEXT[status] ? ` ${STATUS_TEXT[status]}` : ''}`;
}

/** Prefix of the database's refusals (BEFORE INSERT trigger, code P0001; docs: WEB_CONTRACT). */
export const REFUSAL_PREFIX = 'retraining request refused: ';
export const REFUSAL_MAX_LENGTH = 300;

/** An error body that is an HTML page (a proxy's or gateway's error page), never shown raw. */
const looksLikeHtml = (text: string) => /<\s*(!doctype|html|head|body|title|h1|div|p|center|pre)\b/i.test(text);

/** Words for a message we cannot classify: no HTML, no megabyte of text. */
function safeDetail(message: string, status: number | null): string {
  if (looksLikeHtml(message)) {
    return `The server answered ${status ? httpStatusText(status) : 'with an error'} and an HTML page instead of data (a proxy or gateway error; try again in a minute).`;
  }
  const trimmed = message.trim();
  return trimmed.length > REFUSAL_MAX_LENGTH ? `${trimmed.slice(0, REFUSAL_MAX_LENGTH - 1)}…` : trimmed;
}

/** Classify anything the Supabase clients return or throw. `status` is the HTTP status when known. */
export function toApiError(err: unknown, status?: number | null): ApiError {
  if (err instanceof ApiError) return err;
  const e = (err ?? {}) as ErrorLike;
  const message = typeof e.message === 'string' ? e.message : String(err);
  const code = typeof e.code === 'string' ? e.code : null;
  const httpStatus =
    typeof status === 'number'
      ? status
      : typeof e.status === 'number'
        ? e.status
        : typeof e.statusCode === 'string' && /^\d+$/.test(e.statusCode)
          ? Number(e.statusCode)
          : null;
  const opts = { status: httpStatus, code, detail: looksLikeHtml(message) ? null : message };

  if (code === 'P0001' && message.startsWith(REFUSAL_PREFIX)) {
    const reason = message.slice(REFUSAL_PREFIX.length).trim();
    const shown = reason.length > REFUSAL_MAX_LENGTH ? `${reason.slice(0, REFUSAL_MAX_LENGTH - 1)}…` : reason;
    return new ApiError('refused', shown || MESSAGES.refused, opts);
  }
  if (code === '23505') return new ApiError('duplicate-pending', MESSAGES['duplicate-pending'], opts);
  if (code === 'PGRST301' || code === 'PGRST302' || code === 'PGRST303' || /jwt expired/i.test(message) || httpStatus === 401) {
    return new ApiError('session-expired', MESSAGES['session-expired'], opts);
  }
  if (code === '42501') return new ApiError('permission', MESSAGES.permission, opts);
  if (code === '23514' || code === '22001' || code === '22P02') return new ApiError('invalid', MESSAGES.invalid, opts);
  if (httpStatus === 403) return new ApiError('permission', MESSAGES.permission, opts);
  if (httpStatus === 0 || NETWORK_PATTERNS.some((p) => p.test(message)) || e.name === 'AuthRetryableFetchError') {
    return new ApiError('network', MESSAGES.network, opts);
  }
  const detail = safeDetail(message, httpStatus);
  const where = httpStatus ? ` (${httpStatusText(httpStatus)})` : '';
  if (httpStatus === 404) return new ApiError('not-found', `${MESSAGES['not-found']}${where} ${detail}`.trim(), opts);
  return new ApiError('unknown', `${MESSAGES.unknown}${where}${detail ? ` ${detail}` : ''}`, opts);
}

/** The words to show for an error of any origin. */
export function errorText(err: unknown): string {
  return toApiError(err).message;
}
