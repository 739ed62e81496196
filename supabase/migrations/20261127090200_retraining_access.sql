-- Who may do what (DESIGN.md "Database"; the matrix is tests/db/rls_matrix.md).
--
-- Two layers, both needed:
--   * table and column privileges decide WHICH columns a role may touch at all. Users may
--     insert only id, requested_by, reason, priority, status, attempts, and update only
--     status: created_at cannot be back-dated to jump the queue and priority cannot be
--     raised after the fact.
--   * RLS policies decide WHICH rows and values: their own rows, a new request must be
--     pending with no attempts and no run, and an update may only turn their own pending
--     request into cancelled.
-- anon gets nothing. service_role has BYPASSRLS; it gets plain table privileges.

-- Fail fast instead of queueing behind (and blocking) live traffic on a busy project.
set lock_timeout = '5s';
set statement_timeout = '60s';

grant select, insert, update, delete on table public.model_retraining_runs to service_role;
grant select, insert, update, delete on table public.model_retraining_requests to service_role;
grant select, insert, update, delete on table public.model_versions to service_role;
grant usage, select on sequence public.model_versions_version_seq to service_role;

grant select on table public.model_retraining_runs to authenticated;
grant select on table public.model_versions to authenticated;
grant select on table public.model_retraining_requests to authenticated;
grant insert (id, requested_by, reason, priority, status, attempts)
    on table public.model_retraining_requests to authenticated;
grant update (status) on table public.model_retraining_requests to authenticated;

create policy "signed-in users read runs"
    on public.model_retraining_runs
    for select
    to authenticated
    using (true);

create policy "signed-in users read model versions"
    on public.model_versions
    for select
    to authenticated
    using (true);

create policy "users read their own requests"
    on public.model_retraining_requests
    for select
    to authenticated
    using (requested_by = (select auth.uid()));

create policy "users create their own pending requests"
    on public.model_retraining_requests
    for insert
    to authenticated
    with check (
        requested_by = (select auth.uid())
        and status = 'pending'
        and attempts = 0
        and retraining_run_id is null
        and processed_at is null
        and claimed_at is null
        and last_error is null
        and (reason is null or char_length(reason) <= 500)
    );

create policy "users cancel their own pending requests"
    on public.model_retraining_requests
    for update
    to authenticated
    using (requested_by = (select auth.uid()) and status = 'pending')
    with check (requested_by = (select auth.uid()) and status = 'cancelled');
