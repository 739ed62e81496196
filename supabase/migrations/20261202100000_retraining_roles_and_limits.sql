-- Roles and request limits (issue 11; contract: WEB_CONTRACT in docs/supabase-setup.md).
--
-- Before this migration every signed-in user could read everything and queue unlimited
-- `high` requests, and anyone may sign up with the public anon key. Now:
--   * access needs a role that only an admin can set: app_metadata.ml_role in the JWT,
--     'viewer' or 'operator' (docs/supabase-setup.md, "Grant access"). No role, or an
--     anonymous sign-in (is_anonymous), reads nothing and cannot queue requests.
--   * only operators may ask for `high`; every user has a minimum interval between
--     requests and a daily cap, and the whole team a daily cap
--     (public.retraining_request_limits). A BEFORE INSERT trigger refuses with SQLSTATE
--     P0001 and "retraining request refused: <reason>", which PostgREST returns as HTTP
--     400 and the page shows as text. One pending request per user stays the unique
--     index's to refuse (23505).
-- The service role (the runner, the CLI with the service key) is not limited.

-- Fail fast instead of queueing behind (and blocking) live traffic on a busy project.
set lock_timeout = '5s';
set statement_timeout = '60s';

-- The caller's role: 'viewer', 'operator', or null (no role, anonymous, not signed in).
-- app_metadata is writable only with the service key or in the dashboard, never by the
-- user (user_metadata is theirs, so it is never read here).
create function public.retraining_caller_role()
returns text
language sql
stable
set search_path = ''
as $$
    select case
        when auth.jwt() ->> 'is_anonymous' = 'true' then null
        when auth.jwt() -> 'app_metadata' ->> 'ml_role' in ('viewer', 'operator')
            then auth.jwt() -> 'app_metadata' ->> 'ml_role'
    end
$$;

comment on function public.retraining_caller_role() is
    'viewer, operator or null: app_metadata.ml_role of the JWT, null for anonymous sign-ins.';

revoke execute on function public.retraining_caller_role() from public, anon;
grant execute on function public.retraining_caller_role() to authenticated, service_role;

-- Policies: the same rules as 20261127090200_retraining_access.sql, gated on the role.
drop policy "signed-in users read runs" on public.model_retraining_runs;
drop policy "signed-in users read model versions" on public.model_versions;
drop policy "users read their own requests" on public.model_retraining_requests;
drop policy "users create their own pending requests" on public.model_retraining_requests;
drop policy "users cancel their own pending requests" on public.model_retraining_requests;

create policy "viewers and operators read runs"
    on public.model_retraining_runs
    for select
    to authenticated
    using ((select public.retraining_caller_role()) is not null);

create policy "viewers and operators read model versions"
    on public.model_versions
    for select
    to authenticated
    using ((select public.retraining_caller_role()) is not null);

create policy "viewers and operators read their own requests"
    on public.model_retraining_requests
    for select
    to authenticated
    using (
        (select public.retraining_caller_role()) is not null
        and requested_by = (select auth.uid())
    );

create policy "viewers and operators create their own pending requests"
    on public.model_retraining_requests
    for insert
    to authenticated
    with check (
        (select public.retraining_caller_role()) is not null
        and (priority <> 'high' or (select public.retraining_caller_role()) = 'operator')
        and requested_by = (select auth.uid())
        and status = 'pending'
        and attempts = 0
        and retraining_run_id is null
        and processed_at is null
        and claimed_at is null
        and last_error is null
        and (reason is null or char_length(reason) <= 500)
    );

create policy "viewers and operators cancel their own pending requests"
    on public.model_retraining_requests
    for update
    to authenticated
    using (
        (select public.retraining_caller_role()) is not null
        and requested_by = (select auth.uid())
        and status = 'pending'
    )
    with check (requested_by = (select auth.uid()) and status = 'cancelled');

-- Limits, one row; change them with e.g.
--   update public.retraining_request_limits set daily_cap_per_user = 10;
create table public.retraining_request_limits (
    id boolean primary key default true,
    -- integer: seconds and counts, far below 2^31.
    -- squawk-ignore prefer-bigint-over-int
    min_seconds_between_requests integer not null default 600,
    -- squawk-ignore prefer-bigint-over-int
    daily_cap_per_user integer not null default 5,
    -- squawk-ignore prefer-bigint-over-int
    daily_cap_total integer not null default 20,
    updated_at timestamptz not null default now(),
    constraint retraining_request_limits_single_row check (id),
    constraint retraining_request_limits_interval_nonnegative check (min_seconds_between_requests >= 0),
    constraint retraining_request_limits_caps_positive check (daily_cap_per_user >= 1 and daily_cap_total >= 1)
);

insert into public.retraining_request_limits (id) values (true);

create trigger retraining_request_limits_set_updated_at
    before update on public.retraining_request_limits
    for each row execute function public.retraining_set_updated_at();

alter table public.retraining_request_limits enable row level security;
revoke all on table public.retraining_request_limits from anon, authenticated;
grant select, update on table public.retraining_request_limits to service_role;

comment on table public.retraining_request_limits is
    'Limits on "Retrain Now" requests of signed-in users (one row). The service role is not limited.';

-- Runs as its owner so it can count every user's requests (the caller sees only theirs);
-- reads who the caller is from the JWT claims, which PostgREST sets from the signed token.
create function public.retraining_request_guard()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_role text;
    v_uid uuid;
    v_limits public.retraining_request_limits%rowtype;
    v_last timestamptz;
    v_count integer;
    v_day_start timestamptz;
    v_reset text;
begin
    -- Only signed-in API users are limited: not the service role, not a direct
    -- connection without JWT claims (migrations, the dashboard's SQL editor).
    if auth.role() is distinct from 'authenticated' then
        return new;
    end if;

    v_role := public.retraining_caller_role();
    if v_role is null then
        raise exception 'retraining request refused: this account has no access yet; an admin must grant it the viewer or operator role'
            using errcode = 'P0001',
                  hint = 'docs/supabase-setup.md, "Grant access"';
    end if;
    if new.priority = 'high' and v_role <> 'operator' then
        raise exception 'retraining request refused: only operators may ask for high priority; ask with normal or low priority, or ask an admin for the operator role'
            using errcode = 'P0001';
    end if;

    v_uid := auth.uid();
    -- One pending request per user is the unique index's to refuse (23505), as before.
    if exists (
        select 1 from public.model_retraining_requests as q
        where q.requested_by = v_uid and q.status = 'pending'
    ) then
        return new;
    end if;

    -- Serialise the counting so two concurrent requests cannot both pass a cap.
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('public.retraining_request_guard'));

    select l.* into v_limits from public.retraining_request_limits as l where l.id;
    if not found then
        raise exception 'retraining_request_guard: public.retraining_request_limits has no row; insert one with `insert into public.retraining_request_limits default values`'
            using errcode = 'P0002';
    end if;

    select pg_catalog.max(q.created_at) into v_last
    from public.model_retraining_requests as q
    where q.requested_by = v_uid;
    if v_last is not null
       and v_last > pg_catalog.now() - pg_catalog.make_interval(secs => v_limits.min_seconds_between_requests) then
        raise exception 'retraining request refused: rate limit: your previous request was at % UTC; you may ask again from % UTC',
            pg_catalog.to_char(v_last at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
            pg_catalog.to_char(
                (v_last + pg_catalog.make_interval(secs => v_limits.min_seconds_between_requests)) at time zone 'UTC',
                'YYYY-MM-DD HH24:MI:SS'
            )
            using errcode = 'P0001';
    end if;

    v_day_start := pg_catalog.date_trunc('day', pg_catalog.now() at time zone 'UTC') at time zone 'UTC';
    v_reset := pg_catalog.to_char((v_day_start + interval '1 day') at time zone 'UTC', 'YYYY-MM-DD HH24:MI');

    select pg_catalog.count(*) into v_count
    from public.model_retraining_requests as q
    where q.requested_by = v_uid and q.created_at >= v_day_start;
    if v_count >= v_limits.daily_cap_per_user then
        raise exception 'retraining request refused: daily cap reached: at most % requests per user per day (UTC); the cap resets at % UTC',
            v_limits.daily_cap_per_user, v_reset
            using errcode = 'P0001';
    end if;

    select pg_catalog.count(*) into v_count
    from public.model_retraining_requests as q
    where q.created_at >= v_day_start;
    if v_count >= v_limits.daily_cap_total then
        raise exception 'retraining request refused: daily cap reached: the team has made % requests today (cap % per day, UTC); the cap resets at % UTC',
            v_count, v_limits.daily_cap_total, v_reset
            using errcode = 'P0001';
    end if;

    return new;
end;
$$;

create trigger model_retraining_requests_guard
    before insert on public.model_retraining_requests
    for each row execute function public.retraining_request_guard();

revoke execute on function public.retraining_request_guard() from public, anon, authenticated;
