import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAppHandle } from '../app-handle.js';
import { isAlive } from '../local/local-app.js';
import type { SubmitRequest } from '../scheduler.js';
import { exitCodeOf, waitForApplication } from '../schedulers.js';
import { type SlurmCluster, startSlurmCluster } from '../testing/slurm-cluster.js';
import { createSlurmScheduler } from './slurm-scheduler.js';

const hostProgram = fileURLToPath(new URL('../test-fixtures/host-program.mjs', import.meta.url));

// A real one-node Slurm (Debian's slurm-wlm and munge), started and stopped by the test.
describe('the Slurm scheduler on a real Slurm', () => {
  let slurm: SlurmCluster;
  let work: string;
  beforeAll(async () => {
    slurm = await startSlurmCluster();
    work = mkdtempSync(join(tmpdir(), 'millrace-slurm-apps-'));
  }, 60_000);
  afterAll(async () => {
    await slurm?.stop();
    rmSync(work, { recursive: true, force: true });
  }, 60_000);

  const submitted = async (job: string, hosts = 2) => {
    const environment = { ...slurm.environment, MILLRACE_STATE_DIR: join(work, 'state') };
    const scheduler = createSlurmScheduler({ environment });
    writeFileSync(join(work, job), '');
    const request: SubmitRequest = {
      job: join(work, job),
      jobArguments: ['--flag'],
      hosts,
      name: job,
      millraceCommand: [process.execPath, hostProgram],
    };
    const sharedDirectory = join(work, `${job}-shared`);
    const text = await scheduler.submit(request, { sharedDirectory, cwd: work, hostsPerNode: hosts });
    return { scheduler, handle: parseAppHandle(text), text, sharedDirectory };
  };

  it('runs one task per host with its host index and reports success', async () => {
    const { scheduler, handle, text, sharedDirectory } = await submitted('succeed');
    expect(text).toMatch(/^slurm:\/\/\d+$/);
    const status = await waitForApplication(scheduler, handle, { timeoutMs: 60_000 });
    expect(status.state).toBe('succeeded');
    expect(exitCodeOf(status)).toBe(0);
    const seen = [0, 1].map(
      (host) => JSON.parse(readFileSync(join(sharedDirectory, `seen-${host}.json`), 'utf8')).args,
    );
    expect(seen[0]).toEqual([
      'run',
      '--hosts',
      '2',
      '--host-index',
      '0',
      '--shared-dir',
      sharedDirectory,
      join(work, 'succeed'),
      '--flag',
    ]);
    expect(seen[1][4]).toBe('1');
    expect(status.hosts).toEqual([
      { index: 0, state: 'succeeded', exitCode: 0 },
      { index: 1, state: 'succeeded', exitCode: 0 },
    ]);
    const logs = await scheduler.logs(handle, { host: 1 });
    expect(logs).toEqual([{ host: 1, text: 'host 1 of 2 running succeed\n' }]);
  }, 90_000);

  it('a failing host fails the application, ends the others and is named with its last lines', async () => {
    const { scheduler, handle, sharedDirectory } = await submitted('fail-1');
    const status = await waitForApplication(scheduler, handle, { timeoutMs: 60_000 });
    expect(status.state).toBe('failed');
    expect(exitCodeOf(status)).toBe(1);
    expect(status.message).toMatch(/^host 1 exited with code 3/);
    expect(status.message).toMatch(/worker\[1\] \(generation 0\) exit code 3: boom/);
    // Host 0 was still running; --kill-on-bad-exit ended it.
    const pid = Number(readFileSync(join(sharedDirectory, 'pid-0'), 'utf8'));
    expect(isAlive(pid)).toBe(false);
  }, 90_000);

  it('stop cancels a running application; no host process is left', async () => {
    const { scheduler, handle, sharedDirectory } = await submitted('sleep');
    const deadline = Date.now() + 30_000;
    while (!(existsSync(join(sharedDirectory, 'pid-0')) && existsSync(join(sharedDirectory, 'pid-1')))) {
      if (Date.now() > deadline) throw new Error('the hosts never started');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const pids = [0, 1].map((host) => Number(readFileSync(join(sharedDirectory, `pid-${host}`), 'utf8')));
    const status = await scheduler.stop(handle);
    expect(status.state).toBe('stopped');
    expect(exitCodeOf(status)).toBe(130);
    expect(pids.filter(isAlive)).toEqual([]);
  }, 90_000);

  it('a submission Slurm rejects fails with what sbatch said', async () => {
    const scheduler = createSlurmScheduler({
      environment: { ...slurm.environment, MILLRACE_STATE_DIR: join(work, 'state') },
    });
    writeFileSync(join(work, 'rejected'), '');
    const request: SubmitRequest = {
      job: join(work, 'rejected'),
      jobArguments: [],
      hosts: 1,
      name: 'rejected',
      millraceCommand: [process.execPath, hostProgram],
    };
    await expect(
      scheduler.submit(request, {
        sharedDirectory: join(work, 'rejected-shared'),
        cwd: work,
        partition: 'no-such-partition',
      }),
    ).rejects.toThrow(/sbatch .* failed: .*[Ii]nvalid partition/);
  });

  it('names an application this machine never submitted', async () => {
    const scheduler = createSlurmScheduler({
      environment: { ...slurm.environment, MILLRACE_STATE_DIR: join(work, 'other') },
    });
    await expect(scheduler.status(parseAppHandle('slurm://999999'))).rejects.toThrow(
      /unknown application slurm:\/\/999999: this machine did not submit Slurm job 999999/,
    );
  });
});
