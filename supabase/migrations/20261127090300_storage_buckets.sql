-- Private Storage buckets (docs/data-model.md "Storage buckets") and their policies.
--
-- The runner uses the service-role key, which bypasses RLS, so it needs no policy to
-- write. Signed-in users may read training logs only (the Monitoring page signs
-- `training-logs/<run_id>.log`); nobody else reads models or evaluation logs.

-- Fail fast instead of queueing behind (and blocking) live traffic on a busy project.
set lock_timeout = '5s';
set statement_timeout = '60s';

insert into storage.buckets (id, name, public)
values
    ('evaluation-logs', 'evaluation-logs', false),
    ('training-logs', 'training-logs', false),
    ('models', 'models', false)
on conflict (id) do update set public = false;

create policy "ml_pipeline: signed-in users read training logs"
    on storage.objects
    for select
    to authenticated
    using (bucket_id = 'training-logs');
