import { ConfigError } from '@millrace/core';
import { hostCommand, shellQuote } from '../host-command.js';
import { hostExitPath, hostLogPath } from '../host-files.js';
import type { SubmitRequest } from '../scheduler.js';

export interface SlurmOptions {
  /** The directory every host sees (join URL, host logs, exit files). Default: a folder for the application under the submit directory. */
  sharedDirectory?: string;
  /** Working directory of the job (default: the submit directory). */
  cwd?: string;
  partition?: string;
  /** Wall-clock limit in Slurm's format (`30`, `1:00:00`, `2-00:00:00`). */
  time?: string;
  cpusPerHost?: number;
  /** Memory per host in Slurm's units (`4G`, `512M`). */
  memoryPerHost?: string;
  /**
   * Hosts placed on one Slurm node (default 1: every host on its own node). More than one is for
   * small clusters and tests; `--mem` is then this many times the memory per host.
   */
  hostsPerNode?: number;
  /** Anything else, passed to sbatch as written (`--account=ml`, `--gres=gpu:1`). */
  sbatchArguments?: readonly string[];
}

/**
 * The sbatch script for one application: N tasks, one per host, each running the host command
 * with `--host-index $SLURM_PROCID`. Each task records its exit code next to its log in the shared
 * directory, so `millrace wait` can name the host that failed even after Slurm forgot the job.
 */
export function sbatchScript(
  request: SubmitRequest,
  options: SlurmOptions & { sharedDirectory: string; cwd: string },
): string {
  const hostsPerNode = options.hostsPerNode ?? 1;
  if (!Number.isInteger(hostsPerNode) || hostsPerNode < 1) {
    throw new ConfigError([{ path: 'hostsPerNode', message: 'must be a positive integer' }], {
      subject: 'slurm options',
    });
  }
  const shared = options.sharedDirectory;
  const directives = [
    `--job-name=${request.name}`,
    `--ntasks=${request.hosts}`,
    `--ntasks-per-node=${hostsPerNode}`,
    `--nodes=${Math.ceil(request.hosts / hostsPerNode)}`,
    `--output=${shared}/slurm-%j.out`,
    `--chdir=${options.cwd}`,
    ...(options.partition ? [`--partition=${options.partition}`] : []),
    ...(options.time ? [`--time=${options.time}`] : []),
    ...(options.cpusPerHost !== undefined ? [`--cpus-per-task=${options.cpusPerHost}`] : []),
    ...(options.memoryPerHost ? [`--mem=${memoryPerNode(options.memoryPerHost, hostsPerNode)}`] : []),
    ...(options.sbatchArguments ?? []),
  ];
  const command = hostCommand(request, { hostIndex: '@HOST_INDEX@', sharedDirectory: shared })
    .map((word) => (word === '@HOST_INDEX@' ? '"$SLURM_PROCID"' : shellQuote(word)))
    .join(' ');
  // Only "$SLURM_PROCID" stays outside quotes, so each task writes its own file.
  const exitFile = `${shellQuote(hostExitPath(shared, 0).replace(/0\.exit$/, ''))}"$SLURM_PROCID".exit`;
  // The wrapper passes Slurm's SIGTERM on to the host and waits for it, so a task ends only once
  // its host has ended and recorded how (a plain `bash -c` would die first and leave it running).
  const task = [
    `${command} & host=$!`,
    `trap 'kill -TERM "$host" 2>/dev/null' TERM INT HUP`,
    'wait "$host"; code=$?',
    'while kill -0 "$host" 2>/dev/null; do wait "$host"; code=$?; done',
    `echo "$code" > ${exitFile}`,
    'exit "$code"',
  ].join('\n');
  const environment = Object.entries(request.environment ?? {}).map(
    ([name, value]) => `export ${name}=${shellQuote(value)}`,
  );
  return [
    '#!/bin/bash',
    ...directives.map((directive) => `#SBATCH ${directive}`),
    '# Written by `millrace submit --scheduler slurm`: one task per host of the job. Host 0 starts',
    '# the application manager and publishes its join URL in the shared directory; the other',
    '# hosts wait for it. A host that fails ends the others (--kill-on-bad-exit).',
    'set -u',
    `mkdir -p ${shellQuote(shared)}`,
    ...environment,
    `srun --kill-on-bad-exit=1 --output=${shellQuote(hostLogPath(shared, 0).replace('host-0.log', 'host-%t.log'))} bash -c ${shellQuote(task)}`,
    '',
  ].join('\n');
}

function memoryPerNode(memoryPerHost: string, hostsPerNode: number): string {
  const match = /^(\d+)([KMGT]?)$/i.exec(memoryPerHost);
  if (!match) {
    throw new ConfigError(
      [{ path: 'memoryPerHost', message: `'${memoryPerHost}' is not a Slurm memory size (e.g. 4G, 512M)` }],
      { subject: 'slurm options' },
    );
  }
  return `${Number(match[1]) * hostsPerNode}${(match[2] ?? '').toUpperCase()}`;
}
