import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createGenericEngine } from './generic-engine.js';
import { launchLocalCluster } from './local-cluster.js';
import {
  createJobTemporaryDirectory,
  ensurePrivateDirectory,
  removeFoldersOfDeadProcesses,
} from './private-directory.js';
import { processRunner } from './process-runner.js';

const root = mkdtempSync(join(tmpdir(), 'millrace-private-directory-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const isRoot = process.getuid?.() === 0;

describe('checkpoint directories are private (a shared, predictable folder ran another user’s pickle)', () => {
  it('creates a missing directory with mode 0700', () => {
    const path = ensurePrivateDirectory(join(root, 'fresh', 'job'), { purpose: 'checkpointDirectory' });
    expect(statSync(path).mode & 0o777).toBe(0o700);
  });

  it('refuses a directory others may write, and a symbolic link', () => {
    const open = join(root, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(() => ensurePrivateDirectory(open, { purpose: 'checkpointDirectory' })).toThrow(
      /checkpointDirectory: '.*open' has mode 777: others may write it/,
    );
    const link = join(root, 'link');
    symlinkSync(join(root, 'fresh'), link);
    expect(() => ensurePrivateDirectory(link, { purpose: 'checkpointDirectory' })).toThrow(/symbolic link/);
  });

  it.runIf(isRoot)(
    'a node refuses a checkpoint folder another user created first, and the job fails at once',
    async () => {
      const planted = join(root, 'planted');
      mkdirSync(planted, { mode: 0o700 });
      chownSync(planted, 65534, 65534); // nobody got there first
      const cluster = launchLocalCluster({
        engine: createGenericEngine(),
        config: { engine: 'generic', roles: { worker: { instances: 1 } }, maxRestarts: 3 },
        checkpointDirectory: planted,
        runnerFor: () => processRunner({ command: process.execPath, args: ['-e', ''], output: 'ignore' }),
      });
      const outcome = await cluster.result;
      expect(outcome.status).toBe('failed');
      expect(outcome.restarts).toBe(0);
      expect(outcome.error?.message).toMatch(/'.*planted' belongs to uid 65534, not to this user/);
    },
  );
});

describe('job folders of a killed process are removed by the next start (they stayed in /tmp forever)', () => {
  it('removes the folders of dead owners and keeps those of live ones', () => {
    const jobs = join(root, 'jobs');
    mkdirSync(jobs);
    const deadPid = spawnSync(process.execPath, ['-e', 'console.log(process.pid)']).stdout.toString().trim();
    mkdirSync(join(jobs, `${deadPid}-flagship-abc123`));
    mkdirSync(join(jobs, `${process.pid}-mine-def456`));
    expect(removeFoldersOfDeadProcesses(jobs)).toEqual([`${deadPid}-flagship-abc123`]);
    expect(existsSync(join(jobs, `${process.pid}-mine-def456`))).toBe(true);
  });

  it('a job folder is private and named after its process', () => {
    const folder = createJobTemporaryDirectory('flagship');
    try {
      expect(folder).toMatch(new RegExp(`/jobs/${process.pid}-flagship-`));
      expect(statSync(folder).mode & 0o777).toBe(0o700);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
