import { execFileSync } from 'node:child_process';
import { ConfigError } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import type { SubmitRequest } from '../scheduler.js';
import { sbatchScript } from './sbatch-script.js';

const request: SubmitRequest = {
  job: '/jobs/click train.mjs',
  jobArguments: ['--epochs', "it's 3"],
  hosts: 3,
  name: 'click-train',
  millraceCommand: ['/usr/bin/node', '/opt/millrace/dist/bin.js'],
  environment: { MILLRACE_RECORDS_TRANSPORT: 'pipes' },
};

describe('the sbatch script', () => {
  const script = sbatchScript(request, {
    sharedDirectory: '/shared/click train',
    cwd: '/home/me',
    partition: 'gpu',
    time: '1:00:00',
    cpusPerHost: 4,
    memoryPerHost: '8G',
    hostsPerNode: 2,
    sbatchArguments: ['--account=ml'],
  });

  it('asks for one task per host and maps every option', () => {
    const directives = script.split('\n').filter((line) => line.startsWith('#SBATCH '));
    expect(directives).toEqual([
      '#SBATCH --job-name=click-train',
      '#SBATCH --ntasks=3',
      '#SBATCH --ntasks-per-node=2',
      '#SBATCH --nodes=2',
      '#SBATCH --output=/shared/click train/slurm-%j.out',
      '#SBATCH --chdir=/home/me',
      '#SBATCH --partition=gpu',
      '#SBATCH --time=1:00:00',
      '#SBATCH --cpus-per-task=4',
      '#SBATCH --mem=16G',
      '#SBATCH --account=ml',
    ]);
  });

  it('runs every host with its Slurm task id as host index, and records its exit code', () => {
    expect(script).toContain("srun --kill-on-bad-exit=1 --output='/shared/click train/host-%t.log' bash -c ");
    expect(script).toContain('export MILLRACE_RECORDS_TRANSPORT=pipes');
    // The task, once bash unquotes it: the host command with "$SLURM_PROCID", run by a wrapper
    // that forwards Slurm's SIGTERM and records the exit code.
    const taskQuoted = /bash -c ([\s\S]+)\n$/.exec(script)?.[1] as string;
    const task = execFileSync('bash', ['-c', `printf %s ${taskQuoted}`], { encoding: 'utf8' });
    expect(task.split('\n')).toEqual([
      `/usr/bin/node /opt/millrace/dist/bin.js run --hosts 3 --host-index "$SLURM_PROCID" --shared-dir '/shared/click train' '/jobs/click train.mjs' --epochs 'it'\\''s 3' & host=$!`,
      `trap 'kill -TERM "$host" 2>/dev/null' TERM INT HUP`,
      'wait "$host"; code=$?',
      'while kill -0 "$host" 2>/dev/null; do wait "$host"; code=$?; done',
      `echo "$code" > '/shared/click train/host-'"$SLURM_PROCID".exit`,
      'exit "$code"',
    ]);
  });

  it('is valid bash', () => {
    expect(() => execFileSync('bash', ['-n'], { input: script })).not.toThrow();
  });

  it('refuses a memory size Slurm would not read', () => {
    expect(() => sbatchScript(request, { sharedDirectory: '/s', cwd: '/', memoryPerHost: 'lots' })).toThrow(
      ConfigError,
    );
  });
});
