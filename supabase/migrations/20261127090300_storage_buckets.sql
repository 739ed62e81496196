-- Private Storage buckets (docs/data-model.md "Storage buckets"). Buckets only: their
-- policies are in 20261202100100_storage_policies.sql.
--
-- Restructured after it landed (issue 11), for two reasons:
--   * it used to create the buckets AND a policy on storage.objects in one transaction. On
--     a hosted project where `postgres` does not own storage.objects, `create policy`
--     fails with "must be owner of table objects" and rolled the bucket creation back
--     with it. Now a policy failure cannot undo the buckets.
--   * it adopted an existing bucket of the same name (`on conflict do update`), so in a
--     shared project another app's bucket, with its objects and policies, silently
--     became ours. Now it stops with a message instead.
-- A project that already applied the old version keeps its record of it and never runs
-- this file again; 20261202100100_storage_policies.sql replaces the old policy there.

-- Fail fast instead of queueing behind (and blocking) live traffic on a busy project.
set lock_timeout = '5s';
set statement_timeout = '60s';

do $$
declare
    v_taken text;
begin
    select pg_catalog.string_agg(
               b.id || case when b.public then ' (public)' else ' (private)' end, ', ' order by b.id
           )
    into v_taken
    from storage.buckets as b
    where b.id in ('evaluation-logs', 'training-logs', 'models')
       or b.name in ('evaluation-logs', 'training-logs', 'models');

    if v_taken is not null then
        raise exception 'ml_pipeline: storage bucket(s) % already exist in this project; refusing to adopt them', v_taken
            using errcode = 'P0001',
                  hint = 'They belong to something else (or to an earlier manual setup): their objects and '
                      'policies would become the pipeline''s. Use a project of its own, or rename/empty '
                      'and delete those buckets first (docs/supabase-setup.md, "Buckets").';
    end if;
end
$$;

insert into storage.buckets (id, name, public)
values
    ('evaluation-logs', 'evaluation-logs', false),
    ('training-logs', 'training-logs', false),
    ('models', 'models', false);
