import { screen, within } from '@testing-library/react';
import { beforeEach, describe, expect, it } from 'vitest';
import { LatestRunCard } from './LatestRunCard';
import { makeClient, renderWithProviders, signIn, type Fake } from '../test/utils';
import { createFakeSupabase } from '../../test-support/fake-supabase.mjs';
import { USER, makeRun, metricsFor } from '../../test-support/fixtures.mjs';
import type { ModelVersion, RetrainingRun } from '../lib/types';

const NOW = Date.parse('2026-11-20T08:00:00Z');
const champion: ModelVersion = { version: 15, status: 'champion', estimator: 'SGDClassifier', sklearn_version: '1.7.2', promoted_at: '2026-11-20T02:04:12Z', created_at: '2026-11-20T02:04:12Z' };
let fake: Fake;

beforeEach(() => {
  fake = createFakeSupabase({ users: [USER], objects: [`training-logs/${makeRun().id}.log`] });
});

async function renderCard(run: RetrainingRun, champ: ModelVersion | null = champion) {
  const client = makeClient(fake);
  await signIn(client, USER.email, USER.password);
  return renderWithProviders(<LatestRunCard run={run} champion={champ} now={NOW} />, { fake, client });
}

function badge() {
  return document.querySelector('article header [data-status]');
}

function row(name: string) {
  return within(screen.getByRole('table')).getByRole('row', { name: new RegExp(`^${name}`) });
}

describe('LatestRunCard', () => {
  it('states the paired gate a run recorded (a tie could not promote it)', async () => {
    const run = makeRun() as RetrainingRun;
    const gate = { primary_metric: 'f1_score', min_delta: 0, guard_metrics: { accuracy: 0.02 }, balanced_guard: { balanced_accuracy: 0.01 }, paired_test: 'bootstrap', confidence: 0.95 };
    await renderCard({ ...run, metrics: { ...run.metrics, gate } } as RetrainingRun);
    expect(document.querySelector('.gate-text')).toHaveTextContent(
      'Promotion gate: F1 score is the primary metric (must beat the baseline, confirmed by a paired bootstrap test on the same holdout rows at 95% confidence); accuracy may drop at most 2.0 pts; balanced accuracy may drop at most 1.0 pts.',
    );
  });

  it('completed + promoted: status, source, times, size, metrics vs baseline with change, decision, champion, signed log link', async () => {
    await renderCard(makeRun() as RetrainingRun);
    expect(screen.getByRole('heading', { name: 'Latest run' })).toBeInTheDocument();
    expect(badge()).toHaveTextContent('Status: Completed');
    expect(screen.getByText('Nightly (auto_daily)')).toBeInTheDocument();
    expect(screen.getByText('4 min 12 s')).toBeInTheDocument();
    expect(screen.getByText('120 error samples')).toBeInTheDocument();
    expect(row('Accuracy')).toHaveTextContent('87.1%');
    expect(row('Accuracy')).toHaveTextContent('86.8%');
    expect(row('Accuracy')).toHaveTextContent('up 0.3 points');
    expect(row('F1 score')).toHaveTextContent('85.4%');
    expect(screen.getByText(/^Promoted/)).toBeInTheDocument();
    expect(screen.getByText(/f1_score 0\.8540 >= baseline 0\.8510 \+ min_delta 0\.0000/)).toBeInTheDocument();
    expect(screen.getByText(/v15 · SGDClassifier/)).toBeInTheDocument();
    const link = await screen.findByRole('link', { name: /open training log/i });
    expect(link.getAttribute('href')).toMatch(/\/storage\/v1\/object\/sign\/training-logs\/.+\.log\?token=/);
    expect(link).toHaveAttribute('target', '_blank');
  });

  it('completed with no baseline: dashes and an explanation, no change', async () => {
    await renderCard(makeRun({ metrics: metricsFor(0.84, null, true) }) as RetrainingRun);
    expect(screen.getByText(/no baseline/)).toBeInTheDocument();
    expect(row('Accuracy')).toHaveTextContent('84.0%——');
  });

  it('completed + rejected: says rejected and why', async () => {
    await renderCard(makeRun({ metrics: metricsFor(0.85, 0.86, false) }) as RetrainingRun);
    expect(screen.getByText(/^Rejected/)).toBeInTheDocument();
    expect(screen.getByText(/f1_score 0\.8330 < baseline 0\.8430/)).toBeInTheDocument();
    expect(row('Accuracy')).toHaveTextContent('down 1.0 points');
  });

  it('failed: shows the error message', async () => {
    await renderCard(makeRun({ status: 'failed', metrics: {}, error_message: 'trainer exited with code 1: ValueError' }) as RetrainingRun);
    expect(badge()).toHaveTextContent('Status: Failed');
    expect(screen.getByText(/trainer exited with code 1: ValueError/)).toBeInTheDocument();
    expect(screen.queryByRole('table')).not.toBeInTheDocument();
  });

  it('skipped: shows the skip reason', async () => {
    await renderCard(makeRun({ status: 'skipped', metrics: {}, dataset_size: 4, skip_reason: 'only 4 errors (minimum 10)', log_url: null }) as RetrainingRun);
    expect(badge()).toHaveTextContent('Status: Skipped');
    expect(screen.getByText(/only 4 errors \(minimum 10\)/)).toBeInTheDocument();
    expect(screen.getByText('No training log recorded')).toBeInTheDocument();
  });

  it('running: elapsed time so far and no metrics yet', async () => {
    await renderCard(makeRun({ status: 'running', metrics: {}, started_at: '2026-11-20T07:58:00Z', completed_at: null }) as RetrainingRun);
    expect(badge()).toHaveTextContent('Status: Running');
    expect(screen.getByText('2 min so far')).toBeInTheDocument();
    expect(screen.getByText(/Training in progress/)).toBeInTheDocument();
  });

  it('pending: waiting for a runner; no champion yet', async () => {
    await renderCard(makeRun({ status: 'pending', metrics: {}, started_at: null, completed_at: null, log_url: null }) as RetrainingRun, null);
    expect(badge()).toHaveTextContent('Status: Pending');
    expect(screen.getByText('Waiting for a runner.')).toBeInTheDocument();
    expect(screen.getByText('No champion model yet')).toBeInTheDocument();
  });

  it('a log that is gone from storage is explained', async () => {
    await renderCard(makeRun({ log_url: 'training-logs/expired.log' }) as RetrainingRun);
    expect(await screen.findByText(/Log unavailable: The training log is not in storage/)).toBeInTheDocument();
  });
});
