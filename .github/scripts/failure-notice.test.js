'use strict';
// Unit tests for failure-notice.js with a fake GitHub client: `node --test .github/scripts/`.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');

const notice = require('./failure-notice.js');

const CONTEXT = {
  repo: { owner: 'acme', repo: 'ml' },
  runId: 4242,
  serverUrl: 'https://github.com',
  eventName: 'schedule',
};
const RUN_URL = 'https://github.com/acme/ml/actions/runs/4242';

function httpError(status, message) {
  return Object.assign(new Error(message), { status });
}

/** A fake Octokit: `issue` is what issues.get returns, or an Error it throws. */
function fakeGithub({ issue = { number: 1, state: 'open' }, commentError = null } = {}) {
  const calls = { get: [], createComment: [] };
  const github = {
    rest: {
      issues: {
        async get(params) {
          calls.get.push(params);
          if (issue instanceof Error) throw issue;
          return { data: issue };
        },
        async createComment(params) {
          calls.createComment.push(params);
          if (commentError) throw commentError;
          return { data: { html_url: `https://github.com/acme/ml/issues/${params.issue_number}#issuecomment-9` } };
        },
      },
    },
  };
  return { github, calls };
}

function fakeCore() {
  const record = { info: [], warning: [], failed: [], summary: [] };
  const core = {
    info: (message) => record.info.push(message),
    warning: (message) => record.warning.push(message),
    setFailed: (message) => record.failed.push(message),
    summary: {
      addRaw(text) {
        record.summary.push(text);
        return this;
      },
      async write() {},
    },
  };
  return { core, record };
}

function writeSummary(content) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'failure-notice-'));
  const file = path.join(dir, 'summary.json');
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

const SUMMARY = {
  started_at: '2026-11-27T02:00:05Z',
  finished_at: '2026-11-27T02:04:40Z',
  backend: 'supabase',
  exit_code: 1,
  runs: [
    {
      id: '11111111-1111-1111-1111-111111111111',
      source: 'auto_daily',
      status: 'completed',
      error_message: null,
      skip_reason: null,
      dataset_size: 42,
      metrics: { accuracy: 0.9 },
      log_url: 'training-logs/11111111-1111-1111-1111-111111111111.log',
      request_id: null,
    },
    {
      id: '22222222-2222-2222-2222-222222222222',
      source: 'manual',
      status: 'failed',
      error_message: "evaluation log 'evaluation_log.csv': column 'confidence' is missing",
      skip_reason: null,
      dataset_size: 0,
      metrics: {},
      log_url: 'training-logs/22222222-2222-2222-2222-222222222222.log',
      request_id: '33333333-3333-3333-3333-333333333333',
    },
  ],
  alerts: [{ code: 'repeated_failures', message: '3 failed runs in the last 7 days' }],
};

test('issue exists: comments the run link and each failed run with its error', async () => {
  const { github, calls } = fakeGithub();
  const { core, record } = fakeCore();
  const result = await notice.run({ github, context: CONTEXT, core, env: { SUMMARY_PATH: writeSummary(SUMMARY) } });

  assert.equal(result.posted, true);
  assert.deepEqual(calls.get, [{ owner: 'acme', repo: 'ml', issue_number: 1 }]);
  assert.equal(calls.createComment.length, 1);
  const { body, issue_number: issueNumber } = calls.createComment[0];
  assert.equal(issueNumber, 1);
  assert.ok(body.includes(RUN_URL), body);
  assert.ok(body.includes('1 of 2 run(s) failed'), body);
  assert.ok(body.includes('22222222-2222-2222-2222-222222222222'), body);
  assert.ok(body.includes("column 'confidence' is missing"), body);
  assert.ok(body.includes('33333333-3333-3333-3333-333333333333'), 'the request id of the failed run is shown');
  assert.ok(!body.includes('11111111-1111-1111-1111-111111111111'), 'completed runs are not listed as failed');
  assert.ok(body.includes('repeated_failures'), 'alerts are listed');
  assert.deepEqual(record.failed, []);
  assert.deepEqual(record.summary, [body], 'the notice also goes to the job summary');
});

test('issue missing (404): no comment, the step fails with a message naming the issue and the fix', async () => {
  const { github, calls } = fakeGithub({ issue: httpError(404, 'Not Found') });
  const { core, record } = fakeCore();
  const result = await notice.run({ github, context: CONTEXT, core, env: { SUMMARY_PATH: writeSummary(SUMMARY) } });

  assert.equal(result.posted, false);
  assert.equal(calls.createComment.length, 0);
  assert.equal(record.failed.length, 1);
  assert.match(record.failed[0], /issue #1 of acme\/ml/);
  assert.match(record.failed[0], /HTTP 404/);
  assert.match(record.failed[0], /FAILURE_ISSUE_NUMBER/);
  assert.equal(record.summary.length, 1, 'the notice is still readable in the job summary');
  assert.ok(record.summary[0].includes("column 'confidence' is missing"));
});

test('no summary file: still comments, saying the job stopped before writing it', async () => {
  const { github, calls } = fakeGithub();
  const { core, record } = fakeCore();
  const missing = path.join(os.tmpdir(), 'no-such-dir-failure-notice', 'summary.json');
  const result = await notice.run({ github, context: CONTEXT, core, env: { SUMMARY_PATH: missing } });

  assert.equal(result.posted, true);
  assert.equal(calls.createComment.length, 1);
  const { body } = calls.createComment[0];
  assert.ok(body.includes(RUN_URL), body);
  assert.match(body, /no summary\.json was produced/);
  assert.equal(record.warning.length, 1);
  assert.deepEqual(record.failed, []);
});

test('comment refused (403): the step fails with the status and what to check', async () => {
  const { github } = fakeGithub({ commentError: httpError(403, 'Resource not accessible by integration') });
  const { core, record } = fakeCore();
  const result = await notice.run({ github, context: CONTEXT, core, env: { SUMMARY_PATH: writeSummary(SUMMARY) } });

  assert.equal(result.posted, false);
  assert.equal(record.failed.length, 1);
  assert.match(record.failed[0], /HTTP 403/);
  assert.match(record.failed[0], /issues: write/);
});

test('closed issue: warns and comments anyway', async () => {
  const { github, calls } = fakeGithub({ issue: { number: 1, state: 'closed' } });
  const { core, record } = fakeCore();
  await notice.run({ github, context: CONTEXT, core, env: { SUMMARY_PATH: writeSummary(SUMMARY) } });

  assert.equal(calls.createComment.length, 1);
  assert.ok(record.warning.some((message) => /closed/.test(message)));
});

test('FAILURE_ISSUE_NUMBER picks the issue; an invalid value falls back to #1 with a warning', async () => {
  const custom = fakeGithub();
  await notice.run({ ...custom, context: CONTEXT, core: fakeCore().core, env: { SUMMARY_PATH: writeSummary(SUMMARY), FAILURE_ISSUE_NUMBER: '7' } });
  assert.equal(custom.calls.createComment[0].issue_number, 7);

  const invalid = fakeGithub();
  const { core, record } = fakeCore();
  await notice.run({ ...invalid, context: CONTEXT, core, env: { SUMMARY_PATH: writeSummary(SUMMARY), FAILURE_ISSUE_NUMBER: '#7; rm' } });
  assert.equal(invalid.calls.createComment[0].issue_number, 1);
  assert.ok(record.warning.some((message) => /FAILURE_ISSUE_NUMBER/.test(message)));
});

test('invalid JSON summary: comments without details and says why', async () => {
  const { github, calls } = fakeGithub();
  const { core } = fakeCore();
  await notice.run({ github, context: CONTEXT, core, env: { SUMMARY_PATH: writeSummary('{"runs": [') } });
  assert.match(calls.createComment[0].body, /not valid JSON/);
});

test('job failed with no failed run (e.g. configuration error): says so', () => {
  const body = notice.buildBody({
    summary: { backend: 'supabase', exit_code: 2, runs: [], alerts: [] },
    problem: null,
    runUrl: RUN_URL,
  });
  assert.match(body, /No run in summary\.json is marked `failed`/);
  assert.match(body, /exit code `2`/);
});

test('error messages cannot break out of their code block, and long ones are cut', () => {
  const message = 'boom ``` @someone <img src=x>\n'.repeat(2) + 'x'.repeat(5000);
  const body = notice.buildBody({
    summary: { runs: [{ id: 'r1', source: 'manual', status: 'failed', error_message: message }] },
    problem: null,
    runUrl: RUN_URL,
  });
  assert.ok(body.includes('````text\nboom ```'), 'the fence is longer than any backtick run inside');
  assert.match(body, /more characters cut/);
  assert.ok(body.length < 5000 + 1000);
});

test('the whole body stays under the comment size limit', () => {
  const runs = Array.from({ length: 100 }, (_, index) => ({
    id: `run-${index}`,
    source: 'manual',
    status: 'failed',
    error_message: 'e'.repeat(notice.MAX_ERROR_CHARS),
  }));
  const body = notice.buildBody({ summary: { runs }, problem: null, runUrl: RUN_URL });
  assert.ok(body.length <= notice.MAX_BODY_CHARS, `${body.length} characters`);
});
