import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { useCancelRequest, useCreateRequest, useMyRequests } from '../lib/hooks';
import { errorText, toApiError } from '../lib/errors';
import { formatDateTime } from '../lib/format';
import { allowedPriorities, type Role } from '../lib/role';
import { REASON_MAX_LENGTH, type Priority, type RetrainingRequest } from '../lib/types';
import { StatusBadge } from './StatusBadge';
import { SessionExpiredNotice } from './SessionExpiredNotice';
import { When } from './When';

type Notice = { tone: 'success' | 'info'; text: string } | null;

const PRIORITY_LABELS: Record<Priority, string> = { low: 'Low', normal: 'Normal', high: 'High' };
/** model_config.yaml retraining.min_error_samples (default 10). */
export const MIN_ERROR_SAMPLES = 10;

/** What happens after Confirm, in words (issue 12, item 5). */
function WhatHappens() {
  return (
    <ul className="what-happens small">
      <li>A runner picks the request up within about 10 minutes (the pickup job runs every 10 minutes).</li>
      <li>Training then takes a few minutes; the run appears in the history with its log.</li>
      <li>
        With fewer than {MIN_ERROR_SAMPLES} high-confidence errors in the last 7 days the run is <em>skipped</em> (nothing to
        learn from).
      </li>
      <li>The promotion gate may keep the current model if the candidate is not better on the holdout.</li>
    </ul>
  );
}

function RetrainForm({
  id,
  userId,
  role,
  reason,
  onReasonChange,
  onCancel,
  onCreated,
}: {
  id: string;
  userId: string;
  role: Role;
  reason: string;
  onReasonChange: (v: string) => void;
  onCancel: () => void;
  onCreated: (row: RetrainingRequest) => void;
}) {
  const [priority, setPriority] = useState<Priority>('normal');
  const create = useCreateRequest();
  const reasonRef = useRef<HTMLTextAreaElement>(null);
  const uid = useId();
  const priorities = allowedPriorities(role);

  useEffect(() => {
    reasonRef.current?.focus();
  }, []);

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (create.isPending) return;
    create.mutate({ userId, reason, priority }, { onSuccess: onCreated });
  }

  function onKeyDown(e: KeyboardEvent) {
    // Escape closes the form but KEEPS the typed reason as a draft (shown when it reopens).
    if (e.key === 'Escape' && !create.isPending) {
      e.stopPropagation();
      onCancel();
    }
  }

  const remaining = REASON_MAX_LENGTH - reason.length;
  const err = create.isError ? toApiError(create.error) : null;
  return (
    <form id={id} className="retrain-form" onSubmit={onSubmit} onKeyDown={onKeyDown} aria-label="Request retraining">
      <div className="field">
        <label htmlFor={`${uid}-reason`}>Reason (optional)</label>
        <textarea
          id={`${uid}-reason`}
          ref={reasonRef}
          rows={3}
          maxLength={REASON_MAX_LENGTH}
          value={reason}
          onChange={(e) => onReasonChange(e.target.value)}
          aria-describedby={`${uid}-count`}
          placeholder="e.g. new product line since Monday"
        />
        <p id={`${uid}-count`} className={`counter${remaining < 50 ? ' counter--low' : ''}`}>
          {reason.length} / {REASON_MAX_LENGTH} characters
        </p>
      </div>
      <fieldset className="field priority">
        <legend>Priority</legend>
        {priorities.map((p) => (
          <label key={p} className="radio">
            <input type="radio" name={`${uid}-priority`} value={p} checked={priority === p} onChange={() => setPriority(p)} />
            {PRIORITY_LABELS[p]}
          </label>
        ))}
        {role !== 'operator' ? <p className="small muted priority__note">High priority is for operators.</p> : null}
      </fieldset>
      {err ? (
        err.kind === 'session-expired' ? (
          <SessionExpiredNotice message={err.message} />
        ) : (
          <p className="form-error" role="alert" data-error-kind={err.kind}>
            {err.kind === 'refused' ? <strong>Request refused: </strong> : null}
            {err.message}
          </p>
        )
      ) : null}
      <p className="small muted">Escape or Cancel closes this form and keeps your reason as a draft.</p>
      <div className="actions">
        <button type="submit" className="btn btn--primary" disabled={create.isPending}>
          {create.isPending ? 'Submitting…' : 'Confirm'}
        </button>
        <button type="button" className="btn" onClick={onCancel} disabled={create.isPending}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function MyRequests({
  userId,
  requests,
  now,
  onNotice,
  onShowRun,
  knownRunIds,
}: {
  userId: string;
  requests: ReturnType<typeof useMyRequests>;
  now: number;
  onNotice: (n: Notice) => void;
  onShowRun: (runId: string) => void;
  knownRunIds: Set<string>;
}) {
  const cancel = useCancelRequest(userId);
  const [cancelError, setCancelError] = useState<string | null>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);

  function onCancelRequest(r: RetrainingRequest) {
    setCancelError(null);
    cancel.mutate(r.id, {
      onSuccess: () => {
        onNotice({ tone: 'info', text: `Your request from ${formatDateTime(r.created_at)} was cancelled.` });
        // The Cancel button disappears with the pending row: keep focus in the list.
        headingRef.current?.focus();
      },
      onError: (err) => {
        setCancelError(errorText(err));
        headingRef.current?.focus();
      },
    });
  }

  return (
    <div className="my-requests">
      <h4 id="my-requests-title" ref={headingRef} tabIndex={-1}>
        Your requests
      </h4>
      {cancelError ? (
        <p className="form-error" role="alert">
          {cancelError}
        </p>
      ) : null}
      {requests.isPending ? (
        <p className="muted" role="status">
          Loading your requests…
        </p>
      ) : requests.isError && !requests.data ? (
        <p className="form-error" role="alert">
          Could not load your requests: {errorText(requests.error)}
        </p>
      ) : requests.data && requests.data.length > 0 ? (
        <ul className="requests" aria-labelledby="my-requests-title">
          {requests.data.map((r) => (
            <li key={r.id} data-request-id={r.id} className="request">
              <div className="request__head">
                <StatusBadge status={r.status} />
                <span className="small">
                  {PRIORITY_LABELS[r.priority as Priority] ?? r.priority} priority · <When iso={r.created_at} now={now} />
                </span>
              </div>
              <p className="request__reason">{r.reason || <span className="muted">No reason given</span>}</p>
              {r.status === 'failed' && r.last_error ? <p className="small text-danger">{r.last_error}</p> : null}
              <div className="request__actions">
                {r.retraining_run_id ? (
                  knownRunIds.has(r.retraining_run_id) ? (
                    <button type="button" className="btn btn--link" onClick={() => onShowRun(r.retraining_run_id!)}>
                      Show its run<span className="visually-hidden"> (request from {formatDateTime(r.created_at)})</span>
                    </button>
                  ) : (
                    <span className="small muted">Run {r.retraining_run_id.slice(0, 8)} (not among the last 20 runs)</span>
                  )
                ) : r.status === 'pending' ? (
                  <span className="small muted">Waiting for a runner (usually within 10 minutes).</span>
                ) : null}
                {r.status === 'pending' ? (
                  <button
                    type="button"
                    className="btn btn--small"
                    onClick={() => onCancelRequest(r)}
                    disabled={cancel.isPending && cancel.variables === r.id}
                    aria-label={`Cancel request from ${formatDateTime(r.created_at)}`}
                  >
                    {cancel.isPending && cancel.variables === r.id ? 'Cancelling…' : 'Cancel'}
                  </button>
                ) : null}
              </div>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">You have no open or recent requests.</p>
      )}
    </div>
  );
}

export function RetrainPanel({
  userId,
  role,
  now,
  onShowRun,
  knownRunIds = new Set(),
}: {
  userId: string;
  role: Role;
  now: number;
  onShowRun: (runId: string) => void;
  knownRunIds?: Set<string>;
}) {
  const [open, setOpen] = useState(false);
  const [notice, setNotice] = useState<Notice>(null);
  const [draft, setDraft] = useState('');
  const buttonRef = useRef<HTMLButtonElement>(null);
  const formId = useId();
  const reasonId = useId();
  const requests = useMyRequests(userId);
  const pending = requests.data?.find((r) => r.status === 'pending') ?? null;

  function close() {
    setOpen(false);
    buttonRef.current?.focus();
  }

  function onCreated(row: RetrainingRequest) {
    // The form collapses; the confirmation lives OUTSIDE it (in the always-present live
    // region below) so it stays visible and is announced.
    setOpen(false);
    setDraft('');
    setNotice({
      tone: 'success',
      text:
        `Retraining requested (${PRIORITY_LABELS[row.priority as Priority] ?? row.priority} priority) at ${formatDateTime(row.created_at)}. ` +
        'A runner picks it up within about 10 minutes; its status and run show below.',
    });
    // The Retrain Now button is now disabled (a request is pending): focus the notice instead.
    requestAnimationFrame(() => document.getElementById(`${reasonId}-notice`)?.focus());
  }

  const disabledReason = pending
    ? `You already have a pending request (queued ${formatDateTime(pending.created_at)}). Cancel it below or wait until a runner picks it up.`
    : null;

  return (
    <section className="card retrain" aria-labelledby="retrain-title">
      <h3 id="retrain-title">Manual retraining</h3>
      <p className="muted">Queue a run now instead of waiting for the nightly one (02:00 UTC).</p>
      <WhatHappens />
      <button
        ref={buttonRef}
        type="button"
        className="btn btn--primary"
        aria-expanded={open}
        aria-controls={open ? formId : undefined}
        aria-describedby={disabledReason ? `${reasonId}-disabled` : undefined}
        disabled={!!disabledReason && !open}
        onClick={() => (open ? close() : setOpen(true))}
      >
        Retrain Now
      </button>
      {disabledReason ? (
        <p id={`${reasonId}-disabled`} className="small disabled-reason">
          {disabledReason}
        </p>
      ) : null}
      {!open && draft.trim() && !disabledReason ? <p className="small muted">Your unsent reason is kept as a draft.</p> : null}
      {open ? (
        <RetrainForm id={formId} userId={userId} role={role} reason={draft} onReasonChange={setDraft} onCancel={close} onCreated={onCreated} />
      ) : null}
      <div className="notice-region" role="status" aria-live="polite">
        {notice ? (
          <div className={`notice notice--${notice.tone}`} data-testid="retrain-notice" id={`${reasonId}-notice`} tabIndex={-1}>
            <span aria-hidden="true">{notice.tone === 'success' ? '✓ ' : 'ℹ '}</span>
            <span>{notice.text}</span>
            <button type="button" className="btn btn--link" onClick={() => setNotice(null)}>
              Dismiss<span className="visually-hidden"> message</span>
            </button>
          </div>
        ) : null}
      </div>
      <MyRequests userId={userId} requests={requests} now={now} onNotice={setNotice} onShowRun={onShowRun} knownRunIds={knownRunIds} />
    </section>
  );
}
