-- Storage policies of the three buckets (docs/data-model.md "Storage buckets"); the
-- buckets themselves are created by 20261127090300_storage_buckets.sql, so a failure
-- here never undoes them.
--
-- * Viewers and operators (app_metadata.ml_role) may read `training-logs` (the page signs
--   `training-logs/<run_id>.log`); nobody but the service role reads models or
--   evaluation logs, and nobody but the service role writes any of the three.
-- * The "nobody" parts are RESTRICTIVE policies: in a shared project another app's
--   permissive policy (say "authenticated may insert anywhere") is OR-ed with ours, but
--   restrictive ones are AND-ed with all of them, so they still hold. The same goes for
--   storage.buckets: no API role may make our buckets public, rename or delete them.
-- * The runner uses the service-role key, which bypasses RLS.
--
-- Creating a policy needs ownership of storage.objects (supabase_storage_admin). Hosted
-- projects let `postgres` act as that role; one changed by Supabase's 2025 permission
-- change may not, and then this migration stops with the message below (the buckets
-- stay). docs/supabase-setup.md ("Storage policies") says what to do then.

-- Fail fast instead of queueing behind (and blocking) live traffic on a busy project.
set lock_timeout = '5s';
set statement_timeout = '60s';

do $$
declare
    v_owner text;
begin
    select c.relowner::regrole::text into v_owner
    from pg_catalog.pg_class as c
    where c.oid = 'storage.objects'::regclass;

    if not pg_catalog.pg_has_role(current_user, v_owner, 'USAGE') then
        raise exception 'ml_pipeline: role % cannot create policies on storage.objects: the table belongs to %, and % does not have its privileges on this project', current_user, v_owner, current_user
            using errcode = '42501',
                  hint = 'The buckets were created (previous migration). Run this file in the dashboard''s SQL editor, '
                      'then `supabase migration repair --status applied 20261202100100` and `supabase db push` again '
                      '(docs/supabase-setup.md, "Storage policies").';
    end if;
end
$$;

-- Replaces the policy of the first version of 20261127090300 (any signed-in user).
drop policy if exists "ml_pipeline: signed-in users read training logs" on storage.objects;

create policy "ml_pipeline: viewers and operators read training logs"
    on storage.objects
    for select
    to authenticated
    using (bucket_id = 'training-logs' and (select public.retraining_caller_role()) is not null);

-- Restrictive: hold whatever permissive policies exist. coalesce: a row without a
-- bucket is not ours and must stay as other policies decide.
create policy "ml_pipeline: anon reads none of its buckets"
    on storage.objects
    as restrictive
    for select
    to anon
    using (coalesce(bucket_id, '') not in ('evaluation-logs', 'training-logs', 'models'));

create policy "ml_pipeline: API users read only training logs, by role"
    on storage.objects
    as restrictive
    for select
    to authenticated
    using (
        coalesce(bucket_id, '') not in ('evaluation-logs', 'training-logs', 'models')
        or (bucket_id = 'training-logs' and (select public.retraining_caller_role()) is not null)
    );

create policy "ml_pipeline: API users upload to none of its buckets"
    on storage.objects
    as restrictive
    for insert
    to anon, authenticated
    with check (coalesce(bucket_id, '') not in ('evaluation-logs', 'training-logs', 'models'));

create policy "ml_pipeline: API users change nothing in its buckets"
    on storage.objects
    as restrictive
    for update
    to anon, authenticated
    using (coalesce(bucket_id, '') not in ('evaluation-logs', 'training-logs', 'models'))
    with check (coalesce(bucket_id, '') not in ('evaluation-logs', 'training-logs', 'models'));

create policy "ml_pipeline: API users delete nothing in its buckets"
    on storage.objects
    as restrictive
    for delete
    to anon, authenticated
    using (coalesce(bucket_id, '') not in ('evaluation-logs', 'training-logs', 'models'));

create policy "ml_pipeline: API users cannot create buckets with its names"
    on storage.buckets
    as restrictive
    for insert
    to anon, authenticated
    with check (id not in ('evaluation-logs', 'training-logs', 'models')
                and name not in ('evaluation-logs', 'training-logs', 'models'));

create policy "ml_pipeline: API users change none of its buckets"
    on storage.buckets
    as restrictive
    for update
    to anon, authenticated
    using (id not in ('evaluation-logs', 'training-logs', 'models'))
    with check (id not in ('evaluation-logs', 'training-logs', 'models')
                and name not in ('evaluation-logs', 'training-logs', 'models'));

create policy "ml_pipeline: API users delete none of its buckets"
    on storage.buckets
    as restrictive
    for delete
    to anon, authenticated
    using (id not in ('evaluation-logs', 'training-logs', 'models'));
