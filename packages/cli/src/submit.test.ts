import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processesWithMarker } from '@millrace/runtime/testing';
import { type SlurmCluster, startSlurmCluster } from '@millrace/scheduler/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `millrace submit` and its companions, run as a user would (the built command), against the
// local scheduler and a real one-node Slurm. Each host runs `millrace run --hosts N --host-index I
// --shared-dir D JOB`; the job is the CLI tests' cluster job (args: workers, mode, marker).
const bin = join(import.meta.dirname, '..', 'dist', 'bin.js');
const job = join(import.meta.dirname, 'test-fixtures', 'cluster-job.mjs');
const hostsJob = join(import.meta.dirname, 'test-fixtures', 'hosts-job.mjs');
const marker = `millrace-submit-test-${randomUUID()}`;
const work = mkdtempSync(join(tmpdir(), 'millrace-submit-'));
let slurm: SlurmCluster;
let environment: NodeJS.ProcessEnv;

beforeAll(async () => {
  slurm = await startSlurmCluster();
  environment = { ...slurm.environment, MILLRACE_STATE_DIR: join(work, 'state') };
}, 60_000);
afterAll(async () => {
  await slurm?.stop();
  rmSync(work, { recursive: true, force: true });
  expect(processesWithMarker(marker)).toEqual([]);
}, 60_000);

function millrace(args: string[], env: NodeJS.ProcessEnv = environment) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: work,
      env,
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
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function submit(scheduler: string, jobArguments: string[], extra: string[] = []) {
  const submitted = await millrace([
    'submit',
    job,
    '--scheduler',
    scheduler,
    '--hosts',
    '1',
    ...extra,
    '--',
    ...jobArguments,
  ]);
  expect(submitted.stderr).toBe('');
  expect(submitted.code).toBe(0);
  return submitted.stdout.trim();
}

describe.each(['local', 'slurm'])('millrace submit --scheduler %s', (scheduler) => {
  it('runs the job, and wait exits 0 with every host succeeded; logs and status show it', async () => {
    const handle = await submit(
      scheduler,
      ['2', 'succeed', marker],
      scheduler === 'slurm' ? ['--hosts-per-node', '1'] : [],
    );
    expect(handle).toMatch(scheduler === 'local' ? /^local:\/\/cluster-job-/ : /^slurm:\/\/\d+$/);
    const waited = await millrace(['wait', handle, '--timeout', '120']);
    expect(waited.code).toBe(0);
    expect(waited.stdout).toContain(`${handle} (cluster-job): succeeded`);
    expect(waited.stdout).toContain('host 0: succeeded (exit 0)');
    const logs = await millrace(['logs', handle, '--host', '0']);
    expect(logs.stdout).toContain('running 2 workers');
    expect(logs.stdout).toMatch(/succeeded/);
    const status = JSON.parse((await millrace(['status', handle, '--json'])).stdout);
    expect(status).toMatchObject({
      handle,
      state: 'succeeded',
      hosts: [{ index: 0, state: 'succeeded', exitCode: 0 }],
    });
  }, 180_000);

  it('a failing job makes wait exit 1 and name the failed node', async () => {
    const handle = await submit(scheduler, ['2', 'fail', marker]);
    const waited = await millrace(['wait', handle, '--timeout', '120']);
    expect(waited.code).toBe(1);
    expect(waited.stderr).toContain('host 0 exited with code 1');
    expect(waited.stderr).toMatch(/worker\[0\].*exit code 5/);
    expect(waited.stderr).toContain('worker 0 cannot go on');
  }, 180_000);

  it('stop cancels a running job cleanly: wait exits 130, no process and no shared-memory file is left', async () => {
    const shmBefore = new Set(readdirSync('/dev/shm'));
    const handle = await submit(scheduler, ['2', 'hang', marker]);
    // Wait until the runners are up, so the stop lands mid-job.
    const deadline = Date.now() + 60_000;
    while (processesWithMarker(marker).length < 3) {
      if (Date.now() > deadline)
        throw new Error(`the job never started: ${(await millrace(['logs', handle])).stdout}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const stopped = await millrace(['stop', handle]);
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain(`${handle} (cluster-job): stopped`);
    expect((await millrace(['wait', handle])).code).toBe(130);
    expect(processesWithMarker(marker)).toEqual([]);
    // A job folder is `millrace-<owner pid>-…`; one whose owner still runs belongs to another job
    // on this machine, one whose owner is gone was left behind.
    const ownerGone = (name: string) => {
      try {
        process.kill(Number(name.split('-')[1]), 0);
        return false;
      } catch {
        return true;
      }
    };
    expect(
      readdirSync('/dev/shm').filter(
        (name) => !shmBefore.has(name) && name.startsWith('millrace-') && ownerGone(name),
      ),
    ).toEqual([]);
  }, 180_000);

  it('a job on two hosts runs as one cluster across them: wait exits 0, every record reached one runner', async () => {
    const out = mkdtempSync(join(work, `hosts-${scheduler}-`));
    const submitted = await millrace([
      'submit',
      hostsJob,
      '--scheduler',
      scheduler,
      '--hosts',
      '2',
      ...(scheduler === 'slurm' ? ['--hosts-per-node', '2'] : []),
      '--',
      'succeed',
      out,
      '120',
      marker,
    ]);
    expect(submitted.code, submitted.stderr).toBe(0);
    const handle = submitted.stdout.trim();
    const waited = await millrace(['wait', handle, '--timeout', '150']);
    expect(waited.code, `${waited.stderr}\n${(await millrace(['logs', handle])).stdout}`).toBe(0);
    expect(waited.stdout).toContain('host 0: succeeded (exit 0)');
    expect(waited.stdout).toContain('host 1: succeeded (exit 0)');
    const ids = [0, 1]
      .flatMap((host) =>
        readFileSync(join(out, `host-${host}.jsonl`), 'utf8')
          .split('\n')
          .filter(Boolean),
      )
      .map((line) => (JSON.parse(line) as { id: number }).id)
      .sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: 120 }, (_, id) => id));
    expect(processesWithMarker(marker)).toEqual([]);
  }, 200_000);
});

describe('millrace submit, bad input and dry runs', () => {
  it('--dry-run prints the sbatch script and submits nothing', async () => {
    const dry = await millrace([
      'submit',
      job,
      '--scheduler',
      'slurm',
      '--hosts',
      '3',
      '--partition',
      'debug',
      '--time',
      '5',
      '--dry-run',
      '--shared-dir',
      join(work, 'dry'),
    ]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^#!\/bin\/bash\n#SBATCH --job-name=cluster-job\n#SBATCH --ntasks=3\n/);
    expect(dry.stdout).toContain('#SBATCH --partition=debug');
    expect(dry.stdout).toContain('--host-index "$SLURM_PROCID"');
    expect(existsSync(join(work, 'dry'))).toBe(false);
  });

  it('--dry-run prints Kubernetes manifests as YAML', async () => {
    const dry = await millrace([
      'submit',
      '/app/job.mjs',
      '--scheduler',
      'kubernetes',
      '--hosts',
      '2',
      '--image',
      'example/jobs:1',
      '--dry-run',
    ]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('kind: Secret');
    expect(dry.stdout).toContain('completionMode: Indexed');
  });

  it('names a missing sbatch and the Debian package that has it', async () => {
    const result = await millrace(['submit', job, '--scheduler', 'slurm'], {
      ...environment,
      PATH: '/nonexistent',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'sbatch is not installed: on Debian install the Slurm client (apt-get install slurm-client)',
    );
  });

  it('names an unknown handle, an unknown scheduler and a bad host count', async () => {
    expect((await millrace(['wait', 'slurm://99999'])).stderr).toContain('unknown application slurm://99999');
    expect((await millrace(['status', 'yarn://1'])).stderr).toContain("unknown scheduler 'yarn'");
    const bad = await millrace(['submit', job, '--scheduler', 'mesos', '--hosts', '0']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("scheduler: must be one of local, slurm, kubernetes, got 'mesos'");
    expect(bad.stderr).toContain("hosts: must be a positive integer, got '0'");
  });
});
