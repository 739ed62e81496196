-- Database functions of docs/data-model.md: the queue claim, lease heartbeat, stale-run
-- reaper and promotion. Each runs as its owner (SECURITY DEFINER) with an empty
-- search_path, so every name is schema-qualified, and only service_role may execute it.

-- Fail fast instead of queueing behind (and blocking) live traffic on a busy project.
set lock_timeout = '5s';
set statement_timeout = '60s';

create function public.claim_retraining_request(
    p_runner text,
    p_lease_token uuid,
    p_as_of timestamptz,
    p_request_id uuid default null
)
returns table (
    request_id uuid,
    run_id uuid,
    requested_by uuid,
    reason text,
    priority text,
    attempts integer
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
    v_request public.model_retraining_requests%rowtype;
    v_run_id uuid;
begin
    if p_lease_token is null then
        raise exception 'claim_retraining_request: p_lease_token must not be null'
            using errcode = '22004';
    end if;

    -- SKIP LOCKED: concurrent claimers each take a different row instead of waiting and
    -- then re-reading a row another claimer already took. Order by rank, never the text.
    select q.* into v_request
    from public.model_retraining_requests as q
    where q.status = 'pending'
      and (p_request_id is null or q.id = p_request_id)
    order by q.priority_rank desc, q.created_at, q.id
    limit 1
    for update skip locked;

    if not found then
        return;
    end if;

    insert into public.model_retraining_runs as r (
        source, status, triggered_by, request_id, started_at, heartbeat_at,
        lease_token, as_of, run_date, runner
    )
    values (
        'manual', 'running', v_request.requested_by, v_request.id,
        pg_catalog.now(), pg_catalog.now(), p_lease_token, p_as_of,
        (p_as_of at time zone 'utc')::date, p_runner
    )
    returning r.id into v_run_id;

    update public.model_retraining_requests as q
    set status = 'processing',
        attempts = q.attempts + 1,
        claimed_at = pg_catalog.now(),
        retraining_run_id = v_run_id
    where q.id = v_request.id;

    return query
    select v_request.id, v_run_id, v_request.requested_by, v_request.reason,
           v_request.priority, v_request.attempts + 1;
end;
$$;

comment on function public.claim_retraining_request(text, uuid, timestamptz, uuid) is
    'Claims the next pending request (or p_request_id) in priority order and starts its run.';

create function public.heartbeat_retraining_run(p_run_id uuid, p_lease_token uuid)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    update public.model_retraining_runs as r
    set heartbeat_at = pg_catalog.now()
    where r.id = p_run_id
      and r.lease_token = p_lease_token
      and r.status = 'running';
    return found;
end;
$$;

comment on function public.heartbeat_retraining_run(uuid, uuid) is
    'Extends a running run''s lease; false means the lease was lost (wrong token or reaped).';

create function public.reap_stale_retraining_runs(p_lease_seconds integer, p_max_attempts integer)
returns setof uuid
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_message text;
    v_run_ids uuid[];
    v_request record;
begin
    if p_lease_seconds is null or p_lease_seconds <= 0 then
        raise exception 'reap_stale_retraining_runs: p_lease_seconds must be > 0, got %', p_lease_seconds
            using errcode = '22023';
    end if;
    if p_max_attempts is null or p_max_attempts < 1 then
        raise exception 'reap_stale_retraining_runs: p_max_attempts must be >= 1, got %', p_max_attempts
            using errcode = '22023';
    end if;

    v_message := 'runner lost: no heartbeat for more than ' || p_lease_seconds || ' s';

    with reaped as (
        update public.model_retraining_runs as r
        set status = 'failed',
            error_message = v_message,
            completed_at = pg_catalog.now()
        where r.status in ('running', 'pending')
          and coalesce(r.heartbeat_at, r.started_at, r.created_at)
              < pg_catalog.now() - pg_catalog.make_interval(secs => p_lease_seconds)
        returning r.id
    )
    select coalesce(pg_catalog.array_agg(reaped.id), '{}') into v_run_ids from reaped;

    -- Oldest first, one by one: a request goes back to the queue only if its user has no
    -- other pending request (one pending per user), else it ends failed.
    for v_request in
        select q.id, q.requested_by, q.attempts
        from public.model_retraining_requests as q
        where q.status = 'processing'
          and q.retraining_run_id = any (v_run_ids)
        order by q.created_at, q.id
        for update
    loop
        if v_request.attempts < p_max_attempts
           and not exists (
               select 1 from public.model_retraining_requests as p
               where p.requested_by = v_request.requested_by and p.status = 'pending'
           ) then
            update public.model_retraining_requests as q
            set status = 'pending', last_error = v_message
            where q.id = v_request.id;
        else
            update public.model_retraining_requests as q
            set status = 'failed',
                last_error = case
                    when v_request.attempts >= p_max_attempts
                        then v_message || ' (attempts exhausted: ' || v_request.attempts || ')'
                    else v_message || ' (not re-queued: the user has a newer pending request)'
                end
            where q.id = v_request.id;
        end if;
    end loop;

    update public.model_versions as v
    set status = 'rejected'
    where v.status = 'candidate'
      and v.run_id = any (v_run_ids);

    -- A runner that died between finishing its run and settling its request left the request
    -- 'processing' behind a final run: settle it from the run's outcome, once the lease passed.
    update public.model_retraining_requests as q
    set status = case when r.status = 'failed' then 'failed' else 'completed' end,
        last_error = case when r.status = 'failed' then r.error_message else q.last_error end
    from public.model_retraining_runs as r
    where q.status = 'processing'
      and r.id = q.retraining_run_id
      and r.status in ('completed', 'skipped', 'failed')
      and r.completed_at < pg_catalog.now() - pg_catalog.make_interval(secs => p_lease_seconds);

    -- Likewise a candidate whose run ended undecided (lease lost, crash): never served.
    update public.model_versions as v
    set status = 'rejected'
    from public.model_retraining_runs as r
    where v.status = 'candidate'
      and r.id = v.run_id
      and r.status in ('completed', 'skipped', 'failed')
      and r.completed_at < pg_catalog.now() - pg_catalog.make_interval(secs => p_lease_seconds);

    return query select pg_catalog.unnest(v_run_ids);
end;
$$;

comment on function public.reap_stale_retraining_runs(integer, integer) is
    'Fails runs whose runner stopped heartbeating, re-queues or fails their requests, rejects their candidates.';

create function public.promote_model_version(p_version integer)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    -- Serialise promotions: two concurrent ones would otherwise both retire the same
    -- champion and the second would hit the one-champion index.
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('public.promote_model_version'));

    if not exists (select 1 from public.model_versions as v where v.version = p_version) then
        raise exception 'promote_model_version: model version % does not exist', p_version
            using errcode = 'P0001';
    end if;

    update public.model_versions as v
    set status = 'retired'
    where v.status = 'champion'
      and v.version <> p_version;

    update public.model_versions as v
    set status = 'champion',
        promoted_at = pg_catalog.now()
    where v.version = p_version;
end;
$$;

comment on function public.promote_model_version(integer) is
    'Makes p_version the only champion; the previous champion becomes retired.';

revoke execute on function public.claim_retraining_request(text, uuid, timestamptz, uuid)
    from public, anon, authenticated;
revoke execute on function public.heartbeat_retraining_run(uuid, uuid)
    from public, anon, authenticated;
revoke execute on function public.reap_stale_retraining_runs(integer, integer)
    from public, anon, authenticated;
revoke execute on function public.promote_model_version(integer)
    from public, anon, authenticated;

grant execute on function public.claim_retraining_request(text, uuid, timestamptz, uuid) to service_role;
grant execute on function public.heartbeat_retraining_run(uuid, uuid) to service_role;
grant execute on function public.reap_stale_retraining_runs(integer, integer) to service_role;
grant execute on function public.promote_model_version(integer) to service_role;
