#!/usr/bin/env node
// Runs the whole test suite: every vitest project (unit tests beside the code, integration tests
// in test/) and the Python packages' unittest suites, then prints one plain summary line,
// `N passed, N failed, N skipped`, which CI reads. Extra arguments go to vitest (e.g. a file filter).
//
// With CI=true a skipped torch or Python test is a failure: CI installs everything those tests
// need, so a skip there means a test silently stopped running. Each one is named.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const resultsDirectory = join(root, '.millrace');
mkdirSync(resultsDirectory, { recursive: true });
const vitestJson = join(resultsDirectory, 'vitest-results.json');

const vitest = spawnSync(
  'npx',
  [
    'vitest',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${vitestJson}`,
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: 'inherit' },
);

const inCi = process.env.CI === 'true' || process.env.CI === '1';
let passed = 0;
let failed = 0;
let skipped = 0;
/** Torch or Python tests that were skipped; failures when in CI. */
const skippedHeavy = [];
const torchOrPython = /torch|python|pyodide/i;

if (existsSync(vitestJson)) {
  const report = JSON.parse(readFileSync(vitestJson, 'utf8'));
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  for (const file of report.testResults ?? []) {
    // A file that fails to load has no tests to count; count it as a failure so it cannot hide.
    if (file.status === 'failed' && (file.assertionResults ?? []).length === 0) failed += 1;
    for (const test of file.assertionResults ?? []) {
      if (!['skipped', 'pending', 'todo', 'disabled'].includes(test.status)) continue;
      skipped += 1;
      const where = `${file.name.slice(root.length + 1)} > ${test.fullName}`;
      if (torchOrPython.test(where)) skippedHeavy.push(where);
    }
  }
} else {
  console.error('test-all: vitest wrote no report');
  failed += 1;
}
if (vitest.status !== 0 && failed === 0) failed += 1;

// Python suites: any `python/tests` folder in a bridge or plugin, run with the stdlib's unittest.
const python = process.env.MILLRACE_TEST_PYTHON ?? '/usr/bin/python3';
for (const group of ['bridges', 'plugins']) {
  for (const name of readdirSync(join(root, group))) {
    const pythonRoot = join(root, group, name, 'python');
    if (!existsSync(join(pythonRoot, 'tests'))) continue;
    console.log(`\n[python] ${group}/${name}: ${python} -m unittest discover`);
    const result = spawnSync(python, ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.', '-v'], {
      cwd: pythonRoot,
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: pythonRoot, PYTHONDONTWRITEBYTECODE: '1' },
    });
    process.stdout.write(result.stdout ?? '');
    process.stdout.write(result.stderr ?? '');
    const output = `${result.stdout}\n${result.stderr}`;
    const ran = Number(/Ran (\d+) tests?/.exec(output)?.[1] ?? 0);
    const failures =
      Number(/failures=(\d+)/.exec(output)?.[1] ?? 0) + Number(/errors=(\d+)/.exec(output)?.[1] ?? 0);
    const skippedHere = Number(/skipped=(\d+)/.exec(output)?.[1] ?? 0);
    if (result.status !== 0 && failures === 0) failed += 1;
    failed += failures;
    passed += Math.max(0, ran - failures - skippedHere);
    skipped += skippedHere;
    for (const line of output.split('\n')) {
      if (/\.\.\. skipped/.test(line)) skippedHeavy.push(`${group}/${name} (python) ${line.trim()}`);
    }
  }
}

if (skippedHeavy.length > 0) {
  console.log(`\n${skippedHeavy.length} torch or Python test(s) skipped${inCi ? ' (failures in CI):' : ':'}`);
  for (const where of skippedHeavy) console.log(`  ${where}`);
  if (inCi) {
    failed += skippedHeavy.length;
    skipped -= skippedHeavy.length;
  }
}

console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed === 0 ? 0 : 1);
