#!/usr/bin/env node
// Runs the whole test suite: every vitest project (unit tests beside the code, integration tests
// in test/) and the Python packages' unittest suites, then prints one plain summary line,
// `N passed, N failed`, which CI reads. Extra arguments go to vitest (e.g. a file filter).
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

let passed = 0;
let failed = 0;
if (existsSync(vitestJson)) {
  const report = JSON.parse(readFileSync(vitestJson, 'utf8'));
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  // A file that fails to load has no tests to count; count it as a failure so it cannot hide.
  for (const file of report.testResults ?? []) {
    if (file.status === 'failed' && (file.assertionResults ?? []).length === 0) failed += 1;
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
    const skipped = Number(/skipped=(\d+)/.exec(output)?.[1] ?? 0);
    if (result.status !== 0 && failures === 0) failed += 1;
    failed += failures;
    passed += Math.max(0, ran - failures - skipped);
  }
}

console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
