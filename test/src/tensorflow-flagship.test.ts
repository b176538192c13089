import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// The AUC examples/flagship/README.md states for the default run (seed 7).
const statedAuc = 0.74;
const flagship = join(import.meta.dirname, '..', '..', 'examples', 'flagship', 'src', 'main.mjs');
const directory = mkdtempSync(join(tmpdir(), 'millrace-flagship-test-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function runFlagship(args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [flagship, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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

describe('examples/flagship', () => {
  it(`reaches AUC ≥ ${statedAuc} on the held-out stream, even when --chaos kills a worker`, async () => {
    const resultFile = join(directory, 'result.json');
    const { code, output } = await runFlagship(['--chaos', '--result-file', resultFile], 150_000);
    expect(code, output.slice(-3000)).toBe(0);
    const result = JSON.parse(readFileSync(resultFile, 'utf8'));
    expect(result.auc).toBeGreaterThanOrEqual(statedAuc);
    expect(result.heldOutRows).toBe(60_000);
    // The chaos monkey killed worker[1]; the engine restarted it alone and the job finished.
    expect(result.chaosKilled).toBe('worker[1]');
    expect(result.restarts).toBe(1);
    expect(output).toMatch(/generation 1, restart-one of worker:1/);
    // Replay: what the killed worker had read but no checkpoint held went to its restart, and the
    // final checkpoint holds every training record (the positions the ps saved with it).
    expect(result.recordsReplayed).toBeGreaterThan(0);
    expect(result.recordsNotReplayed).toBe(0);
    expect(result.trainingRecords).toBe(240_000);
    expect(result.recordsInCheckpoint).toBe(result.trainingRecords);
    expect(output).toMatch(/replay: \d+ records replayed to restarted workers, 0 given up; .*: none lost/);
    expect(output).toMatch(/held-out: AUC/);
  }, 180_000);
});
