"""A stand-in for Supabase's HTTP APIs, for the store contract suite: PostgREST requests
run as SQL on the real test PostgreSQL (tests/conftest.py: Supabase stand-in + every
migration), Storage requests on an in-memory dict.

``SupabaseStore`` is given an ``httpx.Client`` whose transport is
``httpx.MockTransport(SupabaseEmulator(...))``, so supabase-py's real requests (URLs,
query strings, headers, JSON and multipart bodies) reach :meth:`SupabaseEmulator.__call__`
and nothing leaves the process.

What it emulates, as PostgREST 12 and the Storage API shape it:

* Auth: ``apikey`` and ``Authorization: Bearer`` must both be the configured service key,
  else 401 ``{"message": "Invalid API key"}`` (Supabase's gateway). Every SQL statement
  runs in its own transaction as ``service_role`` with ``request.jwt.claims`` set, like
  PostgREST does.
* ``GET /rest/v1/<table>``: ``select`` (``*`` or a column list), filters ``eq``, ``neq``,
  ``gt``, ``gte``, ``lt``, ``lte``, ``in.(...)``, ``is.null|true|false``, ``order``
  (``col.asc|desc[.nullsfirst|nullslast]``, several), ``limit``, ``offset``. The JSON comes
  from ``json_agg`` in Postgres, so timestamps, dates, uuids and jsonb look exactly as
  PostgREST renders them.
* ``POST /rest/v1/<table>`` (one object or an array; columns are the first object's keys)
  and ``PATCH /rest/v1/<table>?<filters>``, with ``Prefer: return=representation`` (rows
  back, 201/200) or ``return=minimal`` (no body, 201/204).
* ``POST /rest/v1/rpc/<fn>``: named arguments cast to the declared parameter types; a
  ``returns table``/composite function answers an array of objects, ``setof <scalar>`` an
  array of values, a scalar function the value, ``void`` ``null``.
* Errors: a PostgreSQL error becomes ``{"code", "message", "details", "hint"}`` with
  PostgREST's status table (23505/23503 -> 409, 42501 -> 403, 42P01/42883 -> 404,
  08*/53* -> 503, P0001 -> 400, P0*/XX*/40*/55*/57*... -> 500, otherwise 400). An unknown
  table is 404 PGRST205, an unknown function or argument name 404 PGRST202.
* Storage (``/storage/v1``): bucket must exist in ``storage.buckets`` (the migration
  creates ours) else 404 "Bucket not found"; ``POST|PUT /object/<bucket>/<name>``
  (multipart ``file``; ``x-upsert: true`` overwrites, otherwise a duplicate is 400 with
  statusCode 409), ``GET /object/[authenticated/]<bucket>/<name>`` (missing: 404 with
  statusCode "404", error "not_found"), ``POST /object/list/<bucket>`` (one folder level,
  folders as entries with ``id: null``, ``limit``/``offset``/``sortBy``/``search``) and
  ``DELETE /object/<bucket>`` with ``{"prefixes": [...]}`` (missing names ignored).

Limits (anything outside them answers 400 "not supported by the adapter", so a client
change that needs more fails loudly instead of passing by accident):

* no resource embedding, no ``or``/``and``/``not.`` filters, no ``like``/``ilike``/full
  text, no ``Range`` headers, no ``count=``, no upsert (``resolution=``), no DELETE on
  tables, no ``GET`` RPC, no ``Prefer: params=single-object``, no schema switching
  (``Accept-Profile`` other than ``public``), no ``.single()`` object responses;
* JWTs are not verified (the key is compared as a string), RLS is bypassed because only
  ``service_role`` is emulated, and user-level roles are out of scope (tests/db covers
  them on SQL directly);
* Storage keeps objects in memory, not in ``storage.objects``; no signed URLs, no
  ``move``/``copy``/``info``, no image transforms, no file size or MIME limits; ``search``
  is a case-insensitive name prefix; legacy Storage (HTTP 400 for every error) is covered
  by the respx tests in ml_pipeline/tests/test_supabase_client.py, not here.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import httpx
import psycopg
from psycopg import sql

from tests.pgcluster import set_role

SCHEMA = "public"
_FILTER_OPS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_RESERVED = {"select", "order", "limit", "offset", "columns", "on_conflict"}


class _Unsupported(Exception):
    """The client used a PostgREST/Storage feature this adapter does not emulate."""


@dataclass
class _Object:
    data: bytes
    content_type: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _status_for(sqlstate: str) -> int:
    """PostgREST's SQLSTATE -> HTTP status table (docs: references/errors)."""
    exact = {"23503": 409, "23505": 409, "25006": 405, "42501": 403, "42P01": 404, "42883": 404,
             "42P17": 500, "53400": 500, "P0001": 400}
    if sqlstate in exact:
        return exact[sqlstate]
    prefix = {"08": 503, "09": 500, "0L": 403, "0P": 403, "25": 500, "28": 403, "2D": 500,
              "38": 500, "39": 500, "3B": 500, "40": 500, "53": 503, "54": 500, "55": 500,
              "57": 500, "58": 500, "F0": 500, "HV": 500, "P0": 500, "XX": 500}
    return prefix.get(sqlstate[:2], 400)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers={"content-type": "application/json", **(headers or {})})


def _pgrst_error(status: int, code: str, message: str, details: str | None = None, hint: str | None = None) -> httpx.Response:
    return _json(status, {"code": code, "details": details, "hint": hint, "message": message})


def _storage_error(http_status: int, status_code: str, error: str, message: str) -> httpx.Response:
    return _json(http_status, {"statusCode": status_code, "error": error, "message": message})


def _split_list(text: str) -> list[str]:
    """``a,"b,c",d`` -> ['a', 'b,c', 'd'] (PostgREST's quoting of in.() values)."""
    out, cur, quoted, i = [], "", False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quoted and i + 1 < len(text):
            cur += text[i + 1]
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    out.append(cur)
    return out


class SupabaseEmulator:
    """Callable for ``httpx.MockTransport``: answers PostgREST and Storage requests.

    ``requests`` records ``(method, path)`` of every request received.
    """

    def __init__(self, dsn: str, service_key: str) -> None:
        self.service_key = service_key
        self.conn = psycopg.connect(dsn)
        self.admin = psycopg.connect(dsn, autocommit=True)
        self.objects: dict[tuple[str, str], _Object] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the database connections."""
        self.conn.close()
        self.admin.close()

    # -- dispatch --------------------------------------------------------------------------
    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append((request.method, request.url.path))
            if request.headers.get("apikey") != self.service_key or request.headers.get(
                "authorization"
            ) != f"Bearer {self.service_key}":
                return _json(401, {"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."})
            path = unquote(request.url.path)
            try:
                if path.startswith("/rest/v1/"):
                    return self._rest(request, path[len("/rest/v1/"):])
                if path.startswith("/storage/v1/"):
                    return self._storage(request, path[len("/storage/v1/"):])
                raise _Unsupported(f"path {path}")
            except _Unsupported as exc:
                return _pgrst_error(400, "PGRST100", f"not supported by the adapter: {exc}")

    # -- PostgREST -------------------------------------------------------------------------
    def _rest(self, request: httpx.Request, rest: str) -> httpx.Response:
        profile = request.headers.get("accept-profile") or request.headers.get("content-profile") or SCHEMA
        if profile != SCHEMA:
            raise _Unsupported(f"schema {profile}")
        if rest.startswith("rpc/"):
            if request.method != "POST":
                raise _Unsupported(f"{request.method} rpc")
            return self._rpc(request, rest[len("rpc/"):])
        table = rest
        if "/" in table or not self._relation_exists(table):
            return _pgrst_error(404, "PGRST205", f"Could not find the table '{SCHEMA}.{table}' in the schema cache")
        if request.method == "GET":
            return self._select(request, table)
        if request.method == "POST":
            return self._insert(request, table)
        if request.method == "PATCH":
            return self._update(request, table)
        raise _Unsupported(f"{request.method} on a table")

    def _relation_exists(self, name: str) -> bool:
        row = self.admin.execute(
            "select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relname = %s and c.relkind in ('r', 'v', 'p')",
            (SCHEMA, name),
        ).fetchone()
        return row is not None

    def _prefer(self, request: httpx.Request) -> str:
        returning = "minimal"
        for token in request.headers.get("prefer", "").split(","):
            token = token.strip()
            if not token:
                continue
            if token.startswith("return="):
                returning = token.split("=", 1)[1]
            else:
                raise _Unsupported(f"Prefer: {token}")
        return returning

    def _where(self, params: httpx.QueryParams, alias: str | None = None) -> tuple[sql.Composable, list[Any]]:
        clauses: list[sql.Composable] = []
        args: list[Any] = []
        for key, value in params.multi_items():
            if key in _RESERVED:
                continue
            col = sql.Identifier(alias, key) if alias else sql.Identifier(key)
            op, _, operand = value.partition(".")
            if op in _FILTER_OPS:
                clauses.append(sql.SQL("{} {} %s").format(col, sql.SQL(_FILTER_OPS[op])))
                args.append(operand)
            elif op == "in" and operand.startswith("(") and operand.endswith(")"):
                items = _split_list(operand[1:-1])
                clauses.append(sql.SQL("{} in ({})").format(col, sql.SQL(", ").join([sql.Placeholder()] * len(items))))
                args.extend(items)
            elif op == "is" and operand in ("null", "true", "false"):
                clauses.append(sql.SQL("{} is {}").format(col, sql.SQL(operand)))
            else:
                raise _Unsupported(f"filter {key}={value}")
        if not clauses:
            return sql.SQL(""), args
        return sql.SQL(" where ") + sql.SQL(" and ").join(clauses), args

    @staticmethod
    def _columns(params: httpx.QueryParams) -> sql.Composable:
        select = params.get("select", "*")
        if select == "*":
            return sql.SQL("*")
        names = [c.strip() for c in select.split(",")]
        if any(not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in names):
            raise _Unsupported(f"select={select}")
        return sql.SQL(", ").join(sql.Identifier(n) for n in names)

    @staticmethod
    def _tail(params: httpx.QueryParams) -> sql.Composable:
        parts: list[sql.Composable] = []
        if "order" in params:
            terms = []
            for term in params["order"].split(","):
                bits = term.split(".")
                if len(bits) > 3 or (len(bits) > 1 and bits[1] not in ("asc", "desc")) or (
                    len(bits) == 3 and bits[2] not in ("nullsfirst", "nullslast")
                ):
                    raise _Unsupported(f"order={term}")
                direction = sql.SQL(" desc" if len(bits) > 1 and bits[1] == "desc" else " asc")
                nulls = sql.SQL({"nullsfirst": " nulls first", "nullslast": " nulls last"}.get(bits[2], "") if len(bits) == 3 else "")
                terms.append(sql.Identifier(bits[0]) + direction + nulls)
            parts.append(sql.SQL(" order by ") + sql.SQL(", ").join(terms))
        for word in ("limit", "offset"):
            if word in params:
                if not params[word].isdigit():
                    raise _Unsupported(f"{word}={params[word]}")
                parts.append(sql.SQL(f" {word} {int(params[word])}"))
        return sql.Composed(parts)

    def _run(self, query: sql.Composable, args: list[Any] | tuple[Any, ...]) -> tuple[Any, httpx.Response | None]:
        """Run one statement as service_role in its own transaction: (value, error response)."""
        try:
            with self.conn.transaction():
                set_role(self.conn, "service_role", {"role": "service_role"}, local=True)
                row = self.conn.execute(query, args).fetchone()
            return (row[0] if row else None), None
        except psycopg.Error as exc:
            diag = exc.diag
            code = diag.sqlstate or "XX000"
            return None, _pgrst_error(_status_for(code), code, diag.message_primary or str(exc), diag.message_detail, diag.message_hint)

    def _select(self, request: httpx.Request, table: str) -> httpx.Response:
        params = request.url.params
        where, args = self._where(params)
        query = sql.SQL("select coalesce(json_agg(_t), '[]'::json) from (select {} from {}{}{}) _t").format(
            self._columns(params), sql.Identifier(SCHEMA, table), where, self._tail(params)
        )
        value, error = self._run(query, args)
        return error or _json(200, value)

    def _returning(self, request: httpx.Request, query: sql.Composable, args: list[Any], ok: int) -> httpx.Response:
        returning = self._prefer(request)
        value, error = self._run(query, args)
        if error is not None:
            return error
        if returning == "representation":
            return _json(ok, value)
        return httpx.Response(201 if ok == 201 else 204)

    def _insert(self, request: httpx.Request, table: str) -> httpx.Response:
        params = request.url.params
        if set(params) - {"columns", "select"}:
            raise _Unsupported(f"insert parameters {sorted(params)}")
        body = json.loads(request.content or b"null")
        rows = body if isinstance(body, list) else [body]
        if not rows or not all(isinstance(r, dict) for r in rows):
            return _pgrst_error(400, "PGRST102", "Empty or invalid json")
        names = params["columns"].split(",") if "columns" in params else list(rows[0])
        cols = sql.SQL(", ").join(sql.Identifier(n.strip('"')) for n in names)
        query = sql.SQL(
            "with _ins as (insert into {t} ({cols}) select {cols} from json_populate_recordset(null::{t}, %s::json) returning {ret})"
            " select coalesce(json_agg(_ins), '[]'::json) from _ins"
        ).format(t=sql.Identifier(SCHEMA, table), cols=cols, ret=self._columns(params))
        return self._returning(request, query, [json.dumps(rows)], 201)

    def _update(self, request: httpx.Request, table: str) -> httpx.Response:
        params = request.url.params
        body = json.loads(request.content or b"null")
        if not isinstance(body, dict) or not body:
            return _pgrst_error(400, "PGRST102", "Empty or invalid json")
        where, args = self._where(params, alias="_t")
        sets = sql.SQL(", ").join(sql.SQL("{} = _r.{}").format(sql.Identifier(k), sql.Identifier(k)) for k in body)
        # `_r` has every column of the table too: the filters are qualified with `_t`.
        query = sql.SQL(
            "with _upd as (update {t} as _t set {sets} from json_populate_record(null::{t}, %s::json) as _r{where} returning _t.*)"
            " select coalesce(json_agg(_s), '[]'::json) from (select {ret} from _upd) _s"
        ).format(t=sql.Identifier(SCHEMA, table), sets=sets, where=where, ret=self._columns(params))
        return self._returning(request, query, [json.dumps(body), *args], 200)

    def _rpc(self, request: httpx.Request, fn: str) -> httpx.Response:
        self._prefer(request)
        if set(request.url.params):
            raise _Unsupported(f"rpc parameters {sorted(request.url.params)}")
        args = json.loads(request.content or b"{}")
        if not isinstance(args, dict):
            raise _Unsupported("rpc body that is not an object")
        proc = self.admin.execute(
            """
            select p.oid, p.proretset, t.typtype, t.typname,
                   coalesce(p.proargnames, '{}') as names,
                   coalesce(p.proargmodes::text[], '{}') as modes,
                   (select array_agg(format_type(x, null) order by o)
                      from unnest(p.proargtypes) with ordinality as a(x, o)) as in_types,
                   p.pronargs, p.pronargdefaults
            from pg_proc p
            join pg_namespace n on n.oid = p.pronamespace
            join pg_type t on t.oid = p.prorettype
            where n.nspname = %s and p.proname = %s
            """,
            (SCHEMA, fn),
        ).fetchall()
        signature = f"{SCHEMA}.{fn}({', '.join(sorted(args))})"
        chosen = None
        for _oid, retset, typtype, typname, names, modes, in_types, nargs, ndefaults in proc:
            in_names = [n for n, m in zip(names, modes, strict=False) if m in ("i", "b", "v")] if modes else list(names)
            in_names = in_names[:nargs]
            required = set(in_names[: nargs - ndefaults])
            if set(args) <= set(in_names) and required <= set(args):
                chosen = (retset, typtype, typname, dict(zip(in_names, in_types or [], strict=False)), modes)
                break
        if chosen is None:
            return _pgrst_error(
                404, "PGRST202", f"Could not find the function {signature} in the schema cache",
                hint="If a new function was created in the database with this name and parameters, try reloading the schema cache.",
            )
        retset, typtype, typname, types, modes = chosen
        call = sql.SQL("{}({})").format(
            sql.Identifier(SCHEMA, fn),
            sql.SQL(", ").join(
                sql.SQL("{} => %s::{}").format(sql.Identifier(k), sql.SQL(types[k])) for k in args
            ),
        )
        values = [v if not isinstance(v, (dict, list)) else json.dumps(v) for v in args.values()]
        returns_rows = typtype == "c" or "t" in (modes or []) or typname == "record"
        if typname == "void":
            query = sql.SQL("select null::json from {} as _t").format(call)
        elif returns_rows:
            query = sql.SQL("select coalesce(json_agg(_t), '[]'::json) from {} _t").format(call)
        elif retset:
            query = sql.SQL("select coalesce(json_agg(_t.v), '[]'::json) from {} as _t(v)").format(call)
        else:
            query = sql.SQL("select to_json({})").format(call)
        value, error = self._run(query, values)
        return error or _json(200, value)

    # -- Storage ---------------------------------------------------------------------------
    def _bucket_exists(self, bucket: str) -> bool:
        return self.admin.execute("select 1 from storage.buckets where id = %s", (bucket,)).fetchone() is not None

    def _storage(self, request: httpx.Request, rest: str) -> httpx.Response:
        parts = rest.split("/")
        if parts[0] != "object" or len(parts) < 2:
            raise _Unsupported(f"storage path {rest}")
        if parts[1] == "list" and request.method == "POST" and len(parts) == 3:
            return self._list(request, parts[2])
        if parts[1] == "authenticated" and request.method == "GET":
            parts = parts[1:]
        bucket, name = parts[1], "/".join(parts[2:])
        if not self._bucket_exists(bucket):
            return _storage_error(404, "404", "Bucket not found", "Bucket not found")
        if request.method == "DELETE" and not name:
            return self._remove(request, bucket)
        if not name:
            raise _Unsupported(f"{request.method} storage path {rest}")
        if request.method == "GET":
            obj = self.objects.get((bucket, name))
            if obj is None:
                return _storage_error(404, "404", "not_found", "Object not found")
            return httpx.Response(200, content=obj.data, headers={"content-type": obj.content_type})
        if request.method in ("POST", "PUT"):
            return self._upload(request, bucket, name)
        raise _Unsupported(f"{request.method} storage path {rest}")

    def _upload(self, request: httpx.Request, bucket: str, name: str) -> httpx.Response:
        exists = (bucket, name) in self.objects
        if request.method == "POST" and exists and request.headers.get("x-upsert") != "true":
            return _storage_error(400, "409", "Duplicate", "The resource already exists")
        if request.method == "PUT" and not exists:
            return _storage_error(400, "404", "not_found", "Object not found")
        data, content_type = _multipart_file(request)
        old = self.objects.get((bucket, name))
        obj = _Object(data, content_type)
        if old is not None:
            obj.id, obj.created_at = old.id, old.created_at
        self.objects[(bucket, name)] = obj
        return _json(200, {"Key": f"{bucket}/{name}", "Id": obj.id})

    def _list(self, request: httpx.Request, bucket: str) -> httpx.Response:
        if not self._bucket_exists(bucket):
            return _storage_error(404, "404", "Bucket not found", "Bucket not found")
        body = json.loads(request.content or b"{}")
        unknown = set(body) - {"prefix", "limit", "offset", "sortBy", "search"}
        if unknown:
            raise _Unsupported(f"list options {sorted(unknown)}")
        prefix = body.get("prefix") or ""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        search = (body.get("search") or "").lower()
        sort = body.get("sortBy") or {"column": "name", "order": "asc"}
        if sort.get("column") != "name":
            raise _Unsupported(f"sortBy {sort}")
        entries: dict[str, dict[str, Any]] = {}
        for (b, name), obj in self.objects.items():
            if b != bucket or not name.startswith(prefix):
                continue
            rest = name[len(prefix):]
            head, slash, _ = rest.partition("/")
            if not head.lower().startswith(search):
                continue
            if slash:
                entries.setdefault(head, {"name": head, "id": None, "updated_at": None, "created_at": None,
                                          "last_accessed_at": None, "metadata": None})
            else:
                entries[head] = {
                    "name": head, "id": obj.id, "updated_at": obj.updated_at.isoformat(),
                    "created_at": obj.created_at.isoformat(), "last_accessed_at": obj.updated_at.isoformat(),
                    "metadata": {"eTag": f'"{uuid.uuid5(uuid.NAMESPACE_OID, obj.id).hex}"', "size": len(obj.data),
                                 "mimetype": obj.content_type, "cacheControl": "max-age=3600",
                                 "lastModified": obj.updated_at.isoformat(), "contentLength": len(obj.data),
                                 "httpStatusCode": 200},
                }
        ordered = sorted(entries.values(), key=lambda e: e["name"], reverse=sort.get("order") == "desc")
        offset, limit = int(body.get("offset") or 0), int(body.get("limit") or 100)
        return _json(200, ordered[offset : offset + limit])

    def _remove(self, request: httpx.Request, bucket: str) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        removed = []
        for name in body.get("prefixes") or []:
            obj = self.objects.pop((bucket, name), None)
            if obj is not None:
                removed.append({"bucket_id": bucket, "name": name, "id": obj.id})
        return _json(200, removed)


def _multipart_file(request: httpx.Request) -> tuple[bytes, str]:
    """The ``file`` part of a multipart/form-data body: (bytes, its content type)."""
    ctype = request.headers.get("content-type", "")
    match = re.search(r"boundary=([^;]+)", ctype)
    if not ctype.startswith("multipart/form-data") or not match:
        raise _Unsupported(f"upload with content-type {ctype!r}")
    boundary = b"--" + match.group(1).strip('"').encode()
    for chunk in request.content.split(boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk[2:].partition(b"\r\n\r\n")
        headers = head.decode("latin-1")
        if re.search(r'name="file"', headers):
            found = re.search(r"(?im)^content-type:\s*(.+)$", headers)
            return content[:-2], (found.group(1).strip() if found else "application/octet-stream")
    raise _Unsupported("upload without a file part")
