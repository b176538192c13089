/**
 * `millrace pytorch run` as a user runs it (the built CLI, a real shell-less spawn): a drop-in for
 * torchrun that forwards each worker's output with its rank and exits with the job's status.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fixture, hasTorch, torchPython } from './pytorch-support.js';

const bin = fileURLToPath(new URL('../../packages/cli/dist/bin.js', import.meta.url));

function millrace(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: fixture('.'),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!hasTorch)('millrace pytorch run (a torchrun drop-in)', () => {
  it('runs a torchrun script on 2 workers, prefixing output with the rank, exit 0', async () => {
    const { code, stdout, stderr } = await millrace([
      'pytorch',
      'run',
      '--workers',
      '2',
      '--python',
      torchPython,
      '--',
      'torchrun_allreduce.py',
    ]);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('[rank 0] rank 0 of 2 (local rank 0): sum of ranks+1 = 3');
    expect(stdout).toContain('[rank 1] rank 1 of 2 (local rank 1): sum of ranks+1 = 3');
  }, 60_000);

  it('restarts all workers after a failure, then exits non-zero with the traceback', async () => {
    const { code, stderr } = await millrace(
      ['pytorch', 'run', '--workers', '2', '--max-restarts', '1', '--python', torchPython, 'fail_on_rank.py'],
      { FAIL_RANK: '1' },
    );
    expect(code).toBe(1);
    expect(stderr).toContain('millrace pytorch: restarting all workers (generation 1)');
    expect(stderr).toMatch(/worker\[1\] failed and the cluster already restarted 1 time/);
    expect(stderr).toContain('ValueError: shard 1 is corrupt');
  }, 90_000);

  it('rejects a bad worker count before starting anything', async () => {
    const { code, stderr } = await millrace(['pytorch', 'run', '--workers', '0', 'torchrun_allreduce.py']);
    expect(code).toBe(1);
    expect(stderr).toContain('--workers: must be an integer of at least 1');
  }, 30_000);
});
