// A small in-memory stand-in for the Supabase endpoints the Monitoring page uses, answering
// in PostgREST's, GoTrue's and Storage's request/response formats. Shared by the Vitest
// tests (through a `fetch` adapter given to the real supabase-js client) and the
// end-to-end tests (through Playwright `page.route` handlers), so both exercise the real
// query strings, headers and bodies that supabase-js builds.
//
// Modelled behaviour (from docs/data-model.md and the RLS the page relies on):
//  - GoTrue: POST /auth/v1/token?grant_type=password, POST /auth/v1/logout, GET /auth/v1/user.
//  - PostgREST: GET with select / eq / neq / gt / gte / lt / lte / in / is / or / order /
//    limit / offset; POST (insert) and PATCH (update) with Prefer: return=representation and
//    Accept: application/vnd.pgrst.object+json; unknown columns -> 400 42703.
//  - Grants/RLS (supabase/migrations/*_retraining_access.sql): anon gets 401 42501 for
//    everything (no grants); a signed-in user reads runs and versions, sees only
//    their own requests, may insert only `requested_by = auth.uid()` with status 'pending',
//    and may only move their own pending request to 'cancelled' (403 42501 otherwise).
//  - UNIQUE (requested_by) WHERE status = 'pending' -> 409 23505.
//  - CHECK priority in (low, normal, high) and length(reason) <= 500 -> 400 23514.
//  - Storage: POST /storage/v1/object/sign/<bucket>/<path> -> { signedURL }.
//  - Roles (docs: WEB_CONTRACT): a user's `role` ('viewer' | 'operator' | undefined) becomes
//    `app_metadata.ml_role`; without a role RLS returns 0 rows and inserts are refused (403
//    42501); a non-operator asking for priority high is refused by the BEFORE INSERT trigger
//    (400 P0001 "retraining request refused: ...").

export const TABLE_COLUMNS = {
  model_retraining_runs: [
    'id', 'source', 'dataset_size', 'fine_tune_flag', 'status', 'metrics', 'started_at', 'completed_at',
    'log_url', 'error_message', 'triggered_by', 'created_at', 'updated_at', 'request_id', 'run_date', 'as_of',
    'heartbeat_at', 'lease_token', 'model_version', 'skip_reason', 'runner',
  ],
  model_retraining_requests: [
    'id', 'requested_by', 'reason', 'priority', 'status', 'processed_at', 'retraining_run_id', 'created_at',
    'updated_at', 'attempts', 'claimed_at', 'last_error', 'priority_rank',
  ],
  model_versions: [
    'version', 'status', 'storage_path', 'sha256', 'size_bytes', 'sklearn_version', 'estimator', 'fine_tunable',
    'metrics', 'run_id', 'parent_version', 'note', 'created_at', 'updated_at', 'promoted_at',
  ],
};

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

export function makeJwt(payload) {
  return `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(payload)}.fake-signature`;
}

function decodeJwt(token) {
  try {
    const part = token.split('.')[1];
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}

let uuidCounter = 0;
export function fakeUuid(prefix = 'f') {
  uuidCounter += 1;
  const hex = (prefix.replace(/[^0-9a-f]/g, '') + uuidCounter.toString(16)).padStart(12, '0').slice(-12);
  return `00000000-0000-4000-8000-${hex}`;
}

// ---- PostgREST query parsing ------------------------------------------------------------

function splitTopLevel(s) {
  const out = [];
  let depth = 0;
  let cur = '';
  let quoted = false;
  for (const ch of s) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && ch === '(') depth += 1;
    if (!quoted && ch === ')') depth -= 1;
    if (!quoted && ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur !== '') out.push(cur);
  return out;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

function compare(a, b) {
  if (a === null || a === undefined) return null;
  if (typeof a === 'number') return a - Number(b);
  if (typeof a === 'boolean') return String(a) === b ? 0 : 1;
  if (typeof a === 'string' && ISO.test(a) && ISO.test(b)) return Date.parse(a) - Date.parse(b);
  return String(a) < b ? -1 : String(a) > b ? 1 : 0;
}

function unquote(v) {
  return v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/** Build a predicate from one PostgREST condition `op.value` on `column`. */
function condition(column, expr) {
  let negate = false;
  if (expr.startsWith('not.')) {
    negate = true;
    expr = expr.slice(4);
  }
  const dot = expr.indexOf('.');
  const op = expr.slice(0, dot);
  const raw = expr.slice(dot + 1);
  let pred;
  switch (op) {
    case 'eq': pred = (row) => compare(row[column], unquote(raw)) === 0; break;
    case 'neq': pred = (row) => { const c = compare(row[column], unquote(raw)); return c !== null && c !== 0; }; break;
    case 'gt': pred = (row) => { const c = compare(row[column], unquote(raw)); return c !== null && c > 0; }; break;
    case 'gte': pred = (row) => { const c = compare(row[column], unquote(raw)); return c !== null && c >= 0; }; break;
    case 'lt': pred = (row) => { const c = compare(row[column], unquote(raw)); return c !== null && c < 0; }; break;
    case 'lte': pred = (row) => { const c = compare(row[column], unquote(raw)); return c !== null && c <= 0; }; break;
    case 'in': {
      const list = splitTopLevel(raw.replace(/^\(/, '').replace(/\)$/, '')).map(unquote);
      pred = (row) => list.some((v) => compare(row[column], v) === 0);
      break;
    }
    case 'is': pred = (row) => (raw === 'null' ? row[column] == null : String(row[column]) === raw); break;
    default: throw Object.assign(new Error(`unsupported operator ${op}`), { pgrst: true });
  }
  return negate ? (row) => !pred(row) : pred;
}

/** `or=(a.eq.1,b.in.(x,y))` */
function orCondition(value) {
  const inner = value.replace(/^\(/, '').replace(/\)$/, '');
  const preds = splitTopLevel(inner).map((part) => {
    const dot = part.indexOf('.');
    return condition(part.slice(0, dot), part.slice(dot + 1));
  });
  return (row) => preds.some((p) => p(row));
}

function parseQuery(table, searchParams) {
  const columns = TABLE_COLUMNS[table];
  const filters = [];
  let select = null;
  let order = [];
  let limit = null;
  let offset = 0;
  let columnsParam = null;
  for (const [key, value] of searchParams) {
    if (key === 'select') select = value;
    else if (key === 'order') {
      order = value.split(',').map((part) => {
        const [col, ...mods] = part.split('.');
        return { col, desc: mods.includes('desc'), nullsFirst: mods.includes('nullsfirst') };
      });
    } else if (key === 'limit') limit = Number(value);
    else if (key === 'offset') offset = Number(value);
    else if (key === 'columns') columnsParam = value;
    else if (key === 'or') filters.push(orCondition(value));
    else {
      if (!columns.includes(key)) return { error: columnError(table, key) };
      filters.push(condition(key, value));
    }
  }
  let selected = null;
  if (select && select !== '*') {
    selected = splitTopLevel(select).map((c) => c.trim());
    for (const c of selected) if (!columns.includes(c)) return { error: columnError(table, c) };
  }
  for (const o of order) if (!columns.includes(o.col)) return { error: columnError(table, o.col) };
  return { filters, selected, order, limit, offset, columnsParam };
}

function columnError(table, column) {
  return {
    status: 400,
    body: { code: '42703', details: null, hint: null, message: `column ${table}.${column} does not exist` },
  };
}

function project(row, selected) {
  if (!selected) return { ...row };
  const out = {};
  for (const c of selected) out[c] = row[c] ?? null;
  return out;
}

function applyOrder(rows, order) {
  return [...rows].sort((a, b) => {
    for (const { col, desc, nullsFirst } of order) {
      const av = a[col];
      const bv = b[col];
      if (av == null && bv == null) continue;
      if (av == null) return nullsFirst ? -1 : 1;
      if (bv == null) return nullsFirst ? 1 : -1;
      const c = compare(av, typeof bv === 'string' ? bv : String(bv));
      if (c) return desc ? -c : c;
    }
    return 0;
  });
}

// ---- the fake ---------------------------------------------------------------------------

/**
 * @param {object} opts
 * @param {{id:string,email:string,password:string}[]} [opts.users]
 * @param {object[]} [opts.runs]
 * @param {object[]} [opts.requests]
 * @param {object[]} [opts.modelVersions]
 * @param {string[]} [opts.objects] storage objects as "bucket/path"
 * @param {() => number} [opts.now] clock for server-side defaults (created_at ...)
 */
export function createFakeSupabase(opts = {}) {
  const state = {
    users: opts.users ?? [],
    tables: {
      model_retraining_runs: opts.runs ?? [],
      model_retraining_requests: opts.requests ?? [],
      model_versions: opts.modelVersions ?? [],
    },
    objects: new Set(opts.objects ?? []),
  };
  const now = opts.now ?? (() => Date.now());
  /** Every request received: { method, path, search, query, headers, body } (body parsed when JSON). */
  const calls = [];
  /** One-shot overrides: [{ match(call) => bool, response: {status, body} | 'network' }] */
  const overrides = [];

  function json(status, body, headers = {}) {
    return { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: body === undefined ? '' : JSON.stringify(body) };
  }

  function userFromHeaders(headers) {
    const auth = headers.authorization ?? headers.Authorization;
    if (!auth || !auth.startsWith('Bearer ')) return null;
    const claims = decodeJwt(auth.slice(7));
    if (!claims || claims.role !== 'authenticated' || !claims.sub) return null;
    if (typeof claims.exp === 'number' && claims.exp * 1000 < now()) return { expired: true };
    return state.users.find((u) => u.id === claims.sub) ?? null;
  }

  function sessionFor(user) {
    const iat = Math.floor(now() / 1000);
    const userObj = {
      id: user.id,
      aud: 'authenticated',
      role: 'authenticated',
      email: user.email,
      email_confirmed_at: '2026-01-01T00:00:00Z',
      app_metadata: { provider: 'email', providers: ['email'], ...(user.role ? { ml_role: user.role } : {}) },
      is_anonymous: false,
      user_metadata: {},
      identities: [],
      created_at: '2026-01-01T00:00:00Z',
      updated_at: '2026-01-01T00:00:00Z',
    };
    return {
      access_token: makeJwt({ sub: user.id, role: 'authenticated', aud: 'authenticated', email: user.email, iat, exp: iat + 3600, session_id: fakeUuid('5e') }),
      token_type: 'bearer',
      expires_in: 3600,
      refresh_token: `refresh-${user.id}`,
      user: userObj,
    };
  }

  function handleAuth(call) {
    if (call.path === '/auth/v1/token' && call.method === 'POST') {
      const grant = call.query.get('grant_type');
      if (grant === 'password') {
        const { email, password } = call.body ?? {};
        const user = state.users.find((u) => u.email === email && u.password === password);
        if (!user) {
          return json(400, { code: 'invalid_credentials', error_code: 'invalid_credentials', msg: 'Invalid login credentials' }, { 'x-supabase-api-version': '2024-01-01' });
        }
        return json(200, sessionFor(user));
      }
      if (grant === 'refresh_token') {
        const token = call.body?.refresh_token ?? '';
        const user = state.users.find((u) => `refresh-${u.id}` === token);
        if (!user) return json(400, { code: 'refresh_token_not_found', msg: 'Invalid Refresh Token: Refresh Token Not Found' }, { 'x-supabase-api-version': '2024-01-01' });
        return json(200, sessionFor(user));
      }
    }
    if (call.path === '/auth/v1/logout' && call.method === 'POST') return { status: 204, headers: {}, body: '' };
    if (call.path === '/auth/v1/user' && call.method === 'GET') {
      const user = userFromHeaders(call.headers);
      if (!user || user.expired) return json(401, { code: 'bad_jwt', msg: 'invalid JWT' });
      return json(200, sessionFor(user).user);
    }
    return json(404, { code: 'not_found', msg: `no such auth route ${call.method} ${call.path}` });
  }

  function handleStorage(call, user) {
    const m = call.path.match(/^\/storage\/v1\/object\/sign\/([^/]+)\/(.+)$/);
    if (m && call.method === 'POST') {
      if (!user || user.expired) return json(400, { statusCode: '403', error: 'Unauthorized', message: 'new row violates row-level security policy' });
      const key = `${m[1]}/${decodeURIComponent(m[2])}`;
      if (!state.objects.has(key)) return json(400, { statusCode: '404', error: 'not_found', message: 'Object not found' });
      return json(200, { signedURL: `/object/sign/${key}?token=signed.${Buffer.from(key).toString('base64url')}` });
    }
    const g = call.path.match(/^\/storage\/v1\/object\/sign\/(.+)$/);
    if (g && call.method === 'GET') {
      return { status: 200, headers: { 'content-type': 'text/plain' }, body: `training log for ${g[1]}\n` };
    }
    return json(404, { statusCode: '404', error: 'not_found', message: 'route not found' });
  }

  function rlsVisible(table, user, row) {
    if (!user || !user.role) return false; // anon and users without ml_role see nothing
    if (table === 'model_retraining_requests') return row.requested_by === user.id;
    return true;
  }

  function rlsError(user, table) {
    return user
      ? json(403, { code: '42501', details: null, hint: null, message: `new row violates row-level security policy for table "${table}"` })
      : json(401, { code: '42501', details: null, hint: null, message: `permission denied for table ${table}` });
  }

  function respondRows(call, rows, status, total) {
    const wantsObject = (call.headers.accept ?? '').includes('application/vnd.pgrst.object+json');
    const headers = { 'content-range': rows.length ? `0-${rows.length - 1}/${total ?? '*'}` : `*/${total ?? '*'}` };
    if (wantsObject) {
      if (rows.length !== 1) {
        return json(406, { code: 'PGRST116', details: `The result contains ${rows.length} rows`, hint: null, message: 'Cannot coerce the result to a single JSON object' });
      }
      return json(status, rows[0], headers);
    }
    return json(status, rows, headers);
  }

  function handleRest(call, user) {
    const table = call.path.replace(/^\/rest\/v1\//, '');
    if (!TABLE_COLUMNS[table]) {
      return json(404, { code: '42P01', details: null, hint: null, message: `relation "public.${table}" does not exist` });
    }
    if (user?.expired) return json(401, { code: 'PGRST303', details: null, hint: null, message: 'JWT expired' });
    const q = parseQuery(table, call.query);
    if (q.error) return json(q.error.status, q.error.body);
    const rows = state.tables[table];
    const prefer = call.headers.prefer ?? '';
    const wantsRepresentation = prefer.includes('return=representation');

    if (call.method === 'GET' || call.method === 'HEAD') {
      // supabase/migrations/*_retraining_access.sql grants anon nothing: permission denied.
      if (!user) return rlsError(null, table);
      let result = rows.filter((r) => rlsVisible(table, user, r)).filter((r) => q.filters.every((f) => f(r)));
      const total = result.length;
      result = applyOrder(result, q.order);
      result = result.slice(q.offset, q.limit == null ? undefined : q.offset + q.limit);
      return respondRows(call, result.map((r) => project(r, q.selected)), 200, prefer.includes('count=exact') ? total : undefined);
    }

    if (call.method === 'POST') {
      if (table !== 'model_retraining_requests') return rlsError(user, table);
      if (!user) return rlsError(null, table);
      const items = Array.isArray(call.body) ? call.body : [call.body];
      const inserted = [];
      for (const item of items) {
        for (const k of Object.keys(item ?? {})) if (!TABLE_COLUMNS[table].includes(k)) return json(400, columnError(table, k).body);
        const t = new Date(now()).toISOString();
        const row = {
          id: fakeUuid('a'),
          requested_by: user.id, // column default auth.uid()
          reason: null,
          priority: 'normal',
          status: 'pending',
          processed_at: null,
          retraining_run_id: null,
          created_at: t,
          updated_at: t,
          attempts: 0,
          claimed_at: null,
          last_error: null,
          ...item,
        };
        // BEFORE INSERT trigger (wins over RLS): only operators may ask for high priority.
        if (row.priority === 'high' && user.role !== 'operator') {
          return json(400, { code: 'P0001', details: null, hint: 'Ask an operator, or use priority low or normal.', message: 'retraining request refused: only operators may ask for high priority' });
        }
        // RLS WITH CHECK: a role, own rows only, status pending only.
        if (!user.role || row.requested_by !== user.id || row.status !== 'pending') return rlsError(user, table);
        if (!['low', 'normal', 'high'].includes(row.priority) || (row.reason != null && row.reason.length > 500)) {
          return json(400, { code: '23514', details: 'Failing row contains (...).', hint: null, message: 'new row for relation "model_retraining_requests" violates check constraint "model_retraining_requests_check"' });
        }
        if (rows.some((r) => r.requested_by === row.requested_by && r.status === 'pending') || inserted.some((r) => r.requested_by === row.requested_by)) {
          return json(409, { code: '23505', details: `Key (requested_by)=(${row.requested_by}) already exists.`, hint: null, message: 'duplicate key value violates unique constraint "model_retraining_requests_one_pending_per_user"' });
        }
        if ('priority_rank' in item) return json(400, { code: '428C9', details: 'Column "priority_rank" is a generated column.', hint: null, message: 'cannot insert a non-DEFAULT value into column "priority_rank"' });
        row.priority_rank = { high: 3, normal: 2, low: 1 }[row.priority];
        inserted.push(row);
      }
      rows.push(...inserted);
      if (!wantsRepresentation) return { status: 201, headers: {}, body: '' };
      return respondRows(call, inserted.map((r) => project(r, q.selected)), 201);
    }

    if (call.method === 'PATCH') {
      if (table !== 'model_retraining_requests') return rlsError(user, table);
      if (!user) return rlsError(null, table);
      const patch = call.body ?? {};
      for (const k of Object.keys(patch)) if (!TABLE_COLUMNS[table].includes(k)) return json(400, columnError(table, k).body);
      // RLS USING: own rows that are still pending; WITH CHECK: only to 'cancelled'.
      const targets = rows
        .filter((r) => r.requested_by === user.id && r.status === 'pending')
        .filter((r) => q.filters.every((f) => f(r)));
      const allowedKeys = ['status'];
      if (targets.length && (Object.keys(patch).some((k) => !allowedKeys.includes(k)) || patch.status !== 'cancelled')) {
        return rlsError(user, table);
      }
      const t = new Date(now()).toISOString();
      for (const r of targets) Object.assign(r, patch, { updated_at: t, processed_at: t });
      if (!wantsRepresentation) return { status: 204, headers: {}, body: '' };
      return respondRows(call, targets.map((r) => project(r, q.selected)), 200);
    }

    return json(405, { code: 'PGRST117', message: `Unsupported HTTP method: ${call.method}` });
  }

  /**
   * Answer one request.
   * @param {{method:string,url:string,headers:Record<string,string>,body?:string|null}} req
   * @returns {{status:number,headers:Record<string,string>,body:string}|'network'}
   */
  function handle(req) {
    const url = new URL(req.url);
    const headers = Object.fromEntries(Object.entries(req.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    let body = null;
    if (req.body) {
      try {
        body = JSON.parse(req.body);
      } catch {
        body = req.body;
      }
    }
    const call = { method: req.method.toUpperCase(), path: url.pathname, search: url.search, query: url.searchParams, headers, body, rawBody: req.body ?? null };
    calls.push(call);

    const idx = overrides.findIndex((o) => o.match(call));
    if (idx >= 0) {
      const [o] = overrides.splice(idx, 1);
      if (o.response === 'network') return 'network';
      if (typeof o.response.raw === 'string') return { status: o.response.status, headers: o.response.headers ?? { 'content-type': 'text/html' }, body: o.response.raw };
      return json(o.response.status, o.response.body, o.response.headers);
    }

    if (call.method === 'OPTIONS') return { status: 204, headers: {}, body: '' };
    if (call.path.startsWith('/auth/v1/')) return handleAuth(call);
    const user = userFromHeaders(headers);
    if (call.path.startsWith('/storage/v1/')) return handleStorage(call, user);
    if (call.path.startsWith('/rest/v1/')) {
      try {
        return handleRest(call, user);
      } catch (e) {
        if (e.pgrst) return json(400, { code: 'PGRST100', details: e.message, hint: null, message: 'failed to parse filter' });
        throw e;
      }
    }
    return json(404, { message: `unexpected request ${call.method} ${call.path}` });
  }

  return {
    state,
    calls,
    handle,
    /** Make the next request matching `match` answer `response` (or fail at the network level with 'network'). */
    failNext(match, response) {
      overrides.push({ match, response });
    },
    table(name) {
      return state.tables[name];
    },
  };
}

/** A `fetch` for supabase-js (global.fetch option) backed by the fake. */
export function fakeFetch(fake) {
  return async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    const headers = {};
    new Headers(init.headers ?? (typeof input === 'object' && 'headers' in input ? input.headers : undefined)).forEach((v, k) => {
      headers[k] = v;
    });
    if (init.signal?.aborted) throw new DOMException('The operation was aborted.', 'AbortError');
    const res = fake.handle({ method: init.method ?? 'GET', url, headers, body: typeof init.body === 'string' ? init.body : null });
    if (res === 'network') throw new TypeError('Failed to fetch');
    const nullBody = res.status === 204 || res.status === 304 || res.body === '';
    return new Response(nullBody ? null : res.body, { status: res.status, headers: res.headers });
  };
}
