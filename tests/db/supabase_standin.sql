-- Stand-in for what a Supabase project provides before our migrations run.
--
-- NOT a migration and never applied to a real project: a hosted or `supabase start`
-- database already has all of this. The test fixtures (tests/pgcluster.py) apply it, as
-- the cluster superuser `supabase_admin`, to an empty PostgreSQL 15 database; the
-- migrations then run as the NON-superuser `postgres`, like `supabase db push` does:
--   * roles anon, authenticated (NOLOGIN), service_role (NOLOGIN, BYPASSRLS), authenticator;
--   * `postgres`: LOGIN, CREATEROLE, CREATEDB, BYPASSRLS, not a superuser (hosted projects
--     revoked superuser from it); it may create in schema public;
--   * Supabase's default privileges: every table, sequence and function `postgres`
--     creates in `public` is granted to anon, authenticated and service_role (so
--     migrations must revoke);
--   * schema auth owned by `supabase_auth_admin`: auth.users (the columns we touch),
--     auth.uid(), auth.role(), auth.jwt() read from `request.jwt.claims` like
--     GoTrue/PostgREST set it;
--   * schema storage owned by `supabase_storage_admin`: storage.buckets and storage.objects
--     with RLS enabled, the table grants Supabase gives the API roles, and for `postgres`
--     ALL on both WITH GRANT OPTION (supabase/storage migration "buckets & objects grants
--     for postgres") plus membership in supabase_storage_admin and supabase_auth_admin
--     (supabase/postgres migration 20220609081115), which is what lets `postgres` create
--     policies on storage.objects. Projects changed by Supabase's 2025 permission change
--     may lack that membership: tests/db/test_storage_policies.py revokes it to show what
--     our migrations then do.
--   * schema extensions (gen_random_uuid() is built into PostgreSQL 13+).

-- Roles belong to the cluster, not the database: create them once per cluster.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'authenticator') then
        create role authenticator login noinherit;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'supabase_auth_admin') then
        create role supabase_auth_admin nologin noinherit createrole;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'supabase_storage_admin') then
        create role supabase_storage_admin nologin noinherit createrole;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'postgres') then
        create role postgres login nosuperuser createrole createdb bypassrls inherit;
    end if;
end
$$;
grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;
grant supabase_auth_admin, supabase_storage_admin to postgres;

create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role, postgres;

grant usage, create on schema public to postgres;
grant usage on schema public to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
    grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
    grant all on sequences to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
    grant all on functions to anon, authenticated, service_role;

-- auth ------------------------------------------------------------------------------------
create schema auth authorization supabase_auth_admin;
grant usage on schema auth to anon, authenticated, service_role, postgres;

create table auth.users (
    id uuid primary key,
    instance_id uuid,
    aud text,
    role text,
    email text,
    raw_app_meta_data jsonb,
    raw_user_meta_data jsonb,
    created_at timestamptz default now(),
    updated_at timestamptz default now()
);

create function auth.jwt() returns jsonb
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

create function auth.uid() returns uuid
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;

create function auth.role() returns text
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$$;

grant execute on function auth.jwt(), auth.uid(), auth.role() to anon, authenticated, service_role, postgres;
alter table auth.users owner to supabase_auth_admin;
alter function auth.jwt() owner to supabase_auth_admin;
alter function auth.uid() owner to supabase_auth_admin;
alter function auth.role() owner to supabase_auth_admin;
grant all on table auth.users to postgres;

-- storage ---------------------------------------------------------------------------------
create schema storage authorization supabase_storage_admin;
grant usage on schema storage to anon, authenticated, service_role, postgres;

create table storage.buckets (
    id text primary key,
    name text not null unique,
    owner uuid,
    owner_id text,
    public boolean default false,
    avif_autodetection boolean default false,
    file_size_limit bigint,
    allowed_mime_types text[],
    created_at timestamptz default now(),
    updated_at timestamptz default now()
);

create table storage.objects (
    id uuid primary key default gen_random_uuid(),
    bucket_id text references storage.buckets (id),
    name text,
    owner uuid,
    owner_id text,
    metadata jsonb,
    path_tokens text[] generated always as (string_to_array(name, '/')) stored,
    version text,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    last_accessed_at timestamptz default now(),
    unique (bucket_id, name)
);

alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;
grant all on storage.buckets, storage.objects to anon, authenticated, service_role;
grant all on storage.buckets, storage.objects to postgres with grant option;
alter table storage.buckets owner to supabase_storage_admin;
alter table storage.objects owner to supabase_storage_admin;

create function storage.foldername(name text) returns text[]
language sql immutable
as $$
    select (string_to_array(name, '/'))[1:array_length(string_to_array(name, '/'), 1) - 1]
$$;
grant execute on function storage.foldername(text) to anon, authenticated, service_role, postgres;
alter function storage.foldername(text) owner to supabase_storage_admin;
