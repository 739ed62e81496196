'use strict';
/**
 * Failure notice of the "Auto Model Reinforcement" workflow.
 *
 * Called from actions/github-script in the `notify` job:
 *   require(`${process.env.GITHUB_WORKSPACE}/.github/scripts/failure-notice.js`)
 *     .run({ github, context, core })
 *
 * Reads summary.json (written by `python -m ml_pipeline.auto_reinforcement
 * --artifacts-dir DIR`, downloaded from the run's artifact), builds a Markdown notice
 * with the run link, each failed run and its error message, writes it to the job
 * summary, and comments it on the failure issue (#1 unless FAILURE_ISSUE_NUMBER, set in
 * the workflow, says otherwise).
 *
 * Environment: SUMMARY_PATH (path of summary.json), FAILURE_ISSUE_NUMBER (optional).
 * Never throws for an expected problem: a missing or broken summary is reported in the
 * notice; a missing issue or a refused comment fails the step with core.setFailed and
 * a message saying what to fix, and the notice stays readable in the job summary.
 */
const fs = require('node:fs');

const DEFAULT_ISSUE_NUMBER = 1;
const MAX_ERROR_CHARS = 2000;
// GitHub refuses comment bodies over 65,536 characters.
const MAX_BODY_CHARS = 60000;

/** Cuts `text` to at most `max` characters, saying how much was cut. */
function truncate(text, max) {
  const value = String(text);
  if (value.length <= max) return value;
  const marker = `\n... [${value.length - max} more characters cut]`;
  return value.slice(0, Math.max(0, max - marker.length)) + marker;
}

/** Inline code for a short field: backticks and line breaks would break out of it. */
function code(value) {
  const text = String(value ?? '').replace(/[`\r\n]+/g, ' ').trim();
  return text ? `\`${text}\`` : '`-`';
}

/** A fenced block longer than any backtick run inside `text`, so it cannot be closed early. */
function fence(text) {
  const runs = String(text).match(/`+/g) || [];
  const ticks = '`'.repeat(Math.max(3, ...runs.map((run) => run.length + 1)));
  return `${ticks}text\n${text}\n${ticks}`;
}

/**
 * Reads and parses summary.json.
 * Returns { summary, problem }: summary is the parsed object or null, problem says why
 * it is null (missing file, unreadable, not JSON).
 */
function readSummary(path) {
  if (!path) return { summary: null, problem: 'SUMMARY_PATH is not set' };
  let text;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    if (err && err.code === 'ENOENT') {
      return {
        summary: null,
        problem:
          'no summary.json was produced: the job stopped before the pipeline wrote it ' +
          '(runner setup, dependency install, or a configuration error such as missing secrets)',
      };
    }
    return { summary: null, problem: `summary.json could not be read (${err.message})` };
  }
  try {
    const summary = JSON.parse(text);
    if (summary === null || typeof summary !== 'object' || Array.isArray(summary)) {
      return { summary: null, problem: 'summary.json is not a JSON object' };
    }
    return { summary, problem: null };
  } catch (err) {
    return { summary: null, problem: `summary.json is not valid JSON (${err.message})` };
  }
}

/** Markdown lines describing one failed run. */
function describeRun(run) {
  const details = [`source ${code(run.source)}`];
  if (run.request_id) details.push(`request ${code(run.request_id)}`);
  if (run.log_url) details.push(`log ${code(run.log_url)}`);
  const message = run.error_message ? truncate(run.error_message, MAX_ERROR_CHARS) : '(no error message recorded)';
  return [`- Run ${code(run.id)} (${details.join(', ')}):`, '', fence(message), ''];
}

/**
 * Builds the Markdown notice.
 * @param {{summary: object|null, problem: string|null, runUrl: string, eventName?: string}} input
 * @returns {string} at most MAX_BODY_CHARS characters
 */
function buildBody({ summary, problem, runUrl, eventName }) {
  const lines = ['### Auto Model Reinforcement failed', ''];
  lines.push(`Workflow run: ${runUrl}${eventName ? ` (trigger: ${code(eventName)})` : ''}`, '');

  if (summary) {
    const runs = Array.isArray(summary.runs) ? summary.runs.filter((run) => run && typeof run === 'object') : [];
    const failed = runs.filter((run) => run.status === 'failed');
    lines.push(
      `Backend ${code(summary.backend)}, exit code ${code(summary.exit_code)}, ` +
        `started ${code(summary.started_at)}, finished ${code(summary.finished_at)}.`,
      '',
    );
    if (failed.length > 0) {
      lines.push(`**${failed.length} of ${runs.length} run(s) failed:**`, '');
      for (const run of failed) lines.push(...describeRun(run));
    } else {
      lines.push(
        `No run in summary.json is marked \`failed\` (${runs.length} run(s) recorded), but the job failed: ` +
          'read the job log for the cause.',
        '',
      );
    }
    const alerts = Array.isArray(summary.alerts) ? summary.alerts.filter((alert) => alert && typeof alert === 'object') : [];
    if (alerts.length > 0) {
      lines.push('**Alerts:**', '');
      for (const alert of alerts) lines.push(`- ${code(alert.code)}: ${code(truncate(alert.message ?? '', 500))}`);
      lines.push('');
    }
  } else {
    lines.push(`No run details: ${problem}. Read the job log of the run above.`, '');
  }

  lines.push('Training logs and `summary.json` are attached to the run as an artifact, kept 30 days.');
  return truncate(lines.join('\n'), MAX_BODY_CHARS);
}

/** "HTTP 404: Not Found" from an Octokit error, or its message. */
function describeError(err) {
  if (err && err.status) return `HTTP ${err.status}${err.message ? `: ${err.message}` : ''}`;
  return err && err.message ? err.message : String(err);
}

/** The issue to comment on: FAILURE_ISSUE_NUMBER when it is a positive integer, else 1. */
function issueNumberFrom(value, core) {
  if (value === undefined || value === null || String(value).trim() === '') return DEFAULT_ISSUE_NUMBER;
  const text = String(value).trim();
  if (/^[1-9][0-9]*$/.test(text)) return Number(text);
  core.warning(`FAILURE_ISSUE_NUMBER=${JSON.stringify(text)} is not an issue number; using #${DEFAULT_ISSUE_NUMBER}.`);
  return DEFAULT_ISSUE_NUMBER;
}

/**
 * Posts the failure notice.
 * @param {{github: object, context: object, core: object, env?: object}} deps
 *   github: Octokit client (github.rest.issues.get / createComment); context: the run's
 *   context (repo, runId, serverUrl, eventName); core: @actions/core.
 * @returns {Promise<{posted: boolean, issueNumber: number, body: string, url?: string}>}
 */
async function run({ github, context, core, env = process.env }) {
  const { owner, repo } = context.repo;
  const issueNumber = issueNumberFrom(env.FAILURE_ISSUE_NUMBER, core);
  const serverUrl = context.serverUrl || env.GITHUB_SERVER_URL || 'https://github.com';
  const runUrl = `${serverUrl}/${owner}/${repo}/actions/runs/${context.runId}`;

  const { summary, problem } = readSummary(env.SUMMARY_PATH);
  if (problem) core.warning(`Failure notice without run details: ${problem}.`);
  const body = buildBody({ summary, problem, runUrl, eventName: context.eventName });

  core.info(body);
  try {
    await core.summary.addRaw(body, true).write();
  } catch (err) {
    core.warning(`Could not write the job summary: ${describeError(err)}`);
  }

  const where = `issue #${issueNumber} of ${owner}/${repo}`;
  try {
    const { data: issue } = await github.rest.issues.get({ owner, repo, issue_number: issueNumber });
    if (issue.state === 'closed') {
      core.warning(`${where} is closed; commenting anyway. Reopen it so the notices are seen.`);
    }
  } catch (err) {
    const fix =
      err && (err.status === 404 || err.status === 410)
        ? `it does not exist or issues are disabled (${describeError(err)}). ` +
          'Create an issue for failure notices, or set FAILURE_ISSUE_NUMBER in ' +
          `.github/workflows/auto-reinforcement.yml to an existing one (default ${DEFAULT_ISSUE_NUMBER}).`
        : `it could not be read (${describeError(err)}).`;
    core.setFailed(`Failure notice NOT posted on ${where}: ${fix} The notice is in this job's summary and log.`);
    return { posted: false, issueNumber, body };
  }

  try {
    const { data: comment } = await github.rest.issues.createComment({ owner, repo, issue_number: issueNumber, body });
    core.info(`Failure notice posted: ${comment.html_url}`);
    return { posted: true, issueNumber, body, url: comment.html_url };
  } catch (err) {
    core.setFailed(
      `Failure notice NOT posted on ${where}: the comment was refused (${describeError(err)}). ` +
        "Check that the notify job has 'issues: write' and that the issue is not locked. " +
        "The notice is in this job's summary and log.",
    );
    return { posted: false, issueNumber, body };
  }
}

module.exports = { run, buildBody, readSummary, fence, truncate, MAX_BODY_CHARS, MAX_ERROR_CHARS };
