/**
 * `millrace pytorch run` as a user runs it (the built CLI, a real shell-less spawn): a drop-in for
 * torchrun that forwards each worker's output with its rank and exits with the job's status.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    // Every wait has a bound: a process that hangs is killed and shows as such.
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The same command as host 0 and host 1 of two (torchrun's --nnodes 2 --node-rank I), sharing a directory. */
async function onTwoHosts(args: string[], env: Record<string, string> = {}) {
  const shared = mkdtempSync(join(tmpdir(), 'millrace-pytorch-hosts-'));
  try {
    const host = (index: number) =>
      millrace(
        ['pytorch', 'run', '--hosts', '2', '--host-index', String(index), '--shared-dir', shared, ...args],
        env,
      );
    return await Promise.all([host(0), host(1)]);
  } finally {
    rmSync(shared, { recursive: true, force: true });
  }
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

  it('runs one job on two hosts: 2 workers each form a world of 4, every host exits 0', async () => {
    const [zero, one] = await onTwoHosts([
      '--workers',
      '2',
      '--max-restarts',
      '0',
      '--python',
      torchPython,
      '--',
      'torchrun_allreduce.py',
    ]);
    expect(zero.code, zero.stderr).toBe(0);
    expect(one.code, one.stderr).toBe(0);
    // Host I runs ranks 2I and 2I + 1; all four reduce together.
    for (const rank of [0, 1]) expect(zero.stdout).toContain(`[rank ${rank}] rank ${rank} of 4`);
    for (const rank of [2, 3]) expect(one.stdout).toContain(`[rank ${rank}] rank ${rank} of 4`);
    expect(`${zero.stdout}${one.stdout}`.match(/sum of ranks\+1 = 10/g)).toHaveLength(4);
  }, 200_000);

  it('a rank failing on host 1 fails both hosts, naming it and its traceback', async () => {
    const [zero, one] = await onTwoHosts(
      ['--workers', '2', '--max-restarts', '0', '--python', torchPython, '--', 'fail_on_rank.py'],
      { FAIL_RANK: '3' },
    );
    for (const host of [zero, one]) {
      expect(host.code, host.stderr).toBe(1);
      expect(host.stderr).toMatch(/Job 'torchrun' failed: worker\[3\] failed/);
      expect(host.stderr).toContain('ValueError: shard 3 is corrupt');
    }
  }, 200_000);

  it('rejects a bad worker count before starting anything', async () => {
    const { code, stderr } = await millrace(['pytorch', 'run', '--workers', '0', 'torchrun_allreduce.py']);
    expect(code).toBe(1);
    expect(stderr).toContain('--workers: must be an integer of at least 1');
  }, 30_000);
});
