import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { useCancelRequest, useCreateRequest, useMyRequests } from '../lib/hooks';
import { errorText } from '../lib/errors';
import { formatDateTime } from '../lib/format';
import { PRIORITIES, REASON_MAX_LENGTH, type Priority, type RetrainingRequest } from '../lib/types';
import { StatusBadge } from './StatusBadge';

type Notice = { tone: 'success' | 'info'; text: string } | null;

const PRIORITY_LABELS: Record<Priority, string> = { low: 'Low', normal: 'Normal', high: 'High' };

function RetrainForm({
  id,
  userId,
  onCancel,
  onCreated,
}: {
  id: string;
  userId: string;
  onCancel: () => void;
  onCreated: (row: RetrainingRequest) => void;
}) {
  const [reason, setReason] = useState('');
  const [priority, setPriority] = useState<Priority>('normal');
  const create = useCreateRequest();
  const reasonRef = useRef<HTMLTextAreaElement>(null);
  const uid = useId();

  useEffect(() => {
    reasonRef.current?.focus();
  }, []);

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (create.isPending) return;
    create.mutate({ userId, reason, priority }, { onSuccess: onCreated });
  }

  function onKeyDown(e: KeyboardEvent) {
    if (e.key === 'Escape' && !create.isPending) {
      e.stopPropagation();
      onCancel();
    }
  }

  const remaining = REASON_MAX_LENGTH - reason.length;
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
          onChange={(e) => setReason(e.target.value)}
          aria-describedby={`${uid}-count`}
          placeholder="e.g. new product line since Monday"
        />
        <p id={`${uid}-count`} className={`counter${remaining < 50 ? ' counter--low' : ''}`}>
          {reason.length} / {REASON_MAX_LENGTH} characters
        </p>
      </div>
      <fieldset className="field priority">
        <legend>Priority</legend>
        {PRIORITIES.map((p) => (
          <label key={p} className="radio">
            <input type="radio" name={`${uid}-priority`} value={p} checked={priority === p} onChange={() => setPriority(p)} />
            {PRIORITY_LABELS[p]}
          </label>
        ))}
      </fieldset>
      {create.isError ? (
        <p className="form-error" role="alert">
          {errorText(create.error)}
        </p>
      ) : null}
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

function MyRequests({ userId, onNotice }: { userId: string; onNotice: (n: Notice) => void }) {
  const requests = useMyRequests(userId);
  const cancel = useCancelRequest(userId);
  const [cancelError, setCancelError] = useState<string | null>(null);

  function onCancelRequest(r: RetrainingRequest) {
    setCancelError(null);
    cancel.mutate(r.id, {
      onSuccess: () => onNotice({ tone: 'info', text: `Your request from ${formatDateTime(r.created_at)} was cancelled.` }),
      onError: (err) => setCancelError(errorText(err)),
    });
  }

  return (
    <div className="my-requests">
      <h4 id="my-requests-title">Your requests</h4>
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
        <table className="requests" aria-labelledby="my-requests-title">
          <thead>
            <tr>
              <th scope="col">Requested</th>
              <th scope="col">Reason</th>
              <th scope="col">Status</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {requests.data.map((r) => (
              <tr key={r.id} data-request-id={r.id}>
                <td>
                  <div className="nowrap">{formatDateTime(r.created_at)}</div>
                  <div className="small muted">{PRIORITY_LABELS[r.priority as Priority] ?? r.priority} priority</div>
                </td>
                <td className="reason">{r.reason || <span className="muted">—</span>}</td>
                <td>
                  <StatusBadge status={r.status} />
                  {r.status === 'failed' && r.last_error ? <div className="small text-danger">{r.last_error}</div> : null}
                </td>
                <td>
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
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted">You have no open or recent requests.</p>
      )}
    </div>
  );
}

export function RetrainPanel({ userId }: { userId: string }) {
  const [open, setOpen] = useState(false);
  const [notice, setNotice] = useState<Notice>(null);
  const buttonRef = useRef<HTMLButtonElement>(null);
  const formId = useId();

  function close() {
    setOpen(false);
    buttonRef.current?.focus();
  }

  function onCreated(row: RetrainingRequest) {
    // The form collapses; the confirmation lives OUTSIDE it (in the always-present live
    // region below) so it stays visible and is announced.
    setOpen(false);
    setNotice({
      tone: 'success',
      text:
        `Retraining requested (${PRIORITY_LABELS[row.priority as Priority] ?? row.priority} priority) at ${formatDateTime(row.created_at)}. ` +
        'It is queued as pending; the runner picks it up on its next pass and its status shows below.',
    });
    buttonRef.current?.focus();
  }

  return (
    <section className="card retrain" aria-labelledby="retrain-title">
      <h3 id="retrain-title">Manual retraining</h3>
      <p className="muted">Queue a run now instead of waiting for the nightly one.</p>
      <button
        ref={buttonRef}
        type="button"
        className="btn btn--primary"
        aria-expanded={open}
        aria-controls={open ? formId : undefined}
        onClick={() => (open ? close() : setOpen(true))}
      >
        Retrain Now
      </button>
      {open ? <RetrainForm id={formId} userId={userId} onCancel={close} onCreated={onCreated} /> : null}
      <div className="notice-region" role="status" aria-live="polite">
        {notice ? (
          <div className={`notice notice--${notice.tone}`} data-testid="retrain-notice">
            <span aria-hidden="true">{notice.tone === 'success' ? '✓ ' : 'ℹ '}</span>
            <span>{notice.text}</span>
            <button type="button" className="btn btn--link" onClick={() => setNotice(null)}>
              Dismiss<span className="visually-hidden"> message</span>
            </button>
          </div>
        ) : null}
      </div>
      <MyRequests userId={userId} onNotice={setNotice} />
    </section>
  );
}
