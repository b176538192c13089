import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// The margin examples/online-loop/README.md states: on seed 7 the last window's AUC beats the first's by it.
const statedMargin = 0.05;
const impressions = 80_000;
const example = join(import.meta.dirname, '..', '..', 'examples', 'online-loop', 'src', 'main.mjs');
const directory = mkdtempSync(join(tmpdir(), 'millrace-online-loop-test-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function runExample(args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [example, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('examples/online-loop', () => {
  it(`prediction follows training in one job: every impression scored once, by published versions that only grow, AUC rising by ≥ ${statedMargin}, through a --chaos kill`, async () => {
    const resultFile = join(directory, 'result.json');
    const { code, output } = await runExample(
      ['--chaos', '--impressions', String(impressions), '--windows', '4', '--result-file', resultFile],
      170_000,
    );
    expect(code, output.slice(-3000)).toBe(0);
    const result = JSON.parse(readFileSync(resultFile, 'utf8'));
    // Every impression exactly once.
    expect(result.scoredRecords).toBe(impressions);
    expect(result.distinctScored).toBe(impressions);
    // Only published versions scored, and the training cluster published while prediction served.
    expect(result.versionsServed.every((version: number) => result.versionsPublished.includes(version))).toBe(
      true,
    );
    // Prediction swapped from the untrained version 1 to at least one version the cluster trained and
    // published during the job. How many more it sees depends on how far training's ring runs behind
    // the shared source (on a loaded 2-core machine, as few as one), so the count is not asserted.
    // With the example's buffers at their defaults, a slow start of the trainers once let
    // prediction score everything with version 1 (README: how far prediction runs ahead).
    expect(Math.max(...result.versionsServed), output.slice(-3000)).toBeGreaterThan(1);
    expect(result.refused).toBe(0);
    // The versions prediction used, in the order it emitted, only grow.
    expect(result.versionsOnlyGrow).toBe(true);
    const windows = result.windows as { auc: number }[];
    expect(windows.at(-1)!.auc - windows[0]!.auc, JSON.stringify(windows)).toBeGreaterThanOrEqual(
      statedMargin,
    );
    // The chaos monkey killed worker[1]; it restarted alone while prediction went on.
    expect(result.chaosKilled).toBe('worker[1]');
    expect(result.restarts).toBe(1);
    expect(output).toMatch(/window 0 .*AUC/);
  }, 180_000);
});
