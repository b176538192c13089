import { existsSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@millrace/core';
import {
  applicationName,
  type SchedulerName,
  type SchedulerOptionsByName,
  type SubmitRequest,
  schedulerNames,
} from '@millrace/scheduler';

/** Every flag `millrace submit` takes, as commander hands them over. */
export interface SubmitFlags {
  scheduler: string;
  hosts: string;
  name?: string;
  dryRun?: boolean;
  sharedDir?: string;
  partition?: string;
  time?: string;
  cpusPerHost?: string;
  memPerHost?: string;
  hostsPerNode?: string;
  sbatchArg: string[];
  image?: string;
  namespace?: string;
  cpu?: string;
  memory?: string;
  maxRestarts?: string;
  amPort?: string;
}

function positiveInteger(
  text: string | undefined,
  path: string,
  issues: { path: string; message: string }[],
) {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    issues.push({ path, message: `must be a positive integer, got '${text}'` });
  return value;
}

/** This CLI, as a command other processes on machines that share this installation can start. */
function thisMillrace(): string[] {
  return [process.execPath, fileURLToPath(new URL('./bin.js', import.meta.url))];
}

/** Checks the flags, naming every bad one, and turns them into a request and scheduler options. */
export function submission(
  job: string,
  jobArguments: readonly string[],
  flags: SubmitFlags,
): { scheduler: SchedulerName; request: SubmitRequest; options: SchedulerOptionsByName[SchedulerName] } {
  const issues: { path: string; message: string }[] = [];
  const scheduler = flags.scheduler as SchedulerName;
  if (!schedulerNames.includes(scheduler)) {
    issues.push({
      path: 'scheduler',
      message: `must be one of ${schedulerNames.join(', ')}, got '${flags.scheduler}'`,
    });
  }
  const hosts = positiveInteger(flags.hosts, 'hosts', issues) ?? 1;
  // On Kubernetes the job is a path inside the image; elsewhere every host shares this filesystem.
  const inImage = scheduler === 'kubernetes';
  const jobPath = inImage ? job : resolve(job);
  if (!inImage && !existsSync(jobPath)) issues.push({ path: 'job', message: `'${job}' does not exist` });
  const name = applicationName(flags.name ?? basename(job, extname(job)));
  if (flags.name !== undefined && name !== flags.name) {
    issues.push({
      path: 'name',
      message: `'${flags.name}' is not a valid name; try '${name}' (lowercase letters, digits, '-')`,
    });
  }
  const options = {
    local: {},
    slurm: {
      ...(flags.sharedDir ? { sharedDirectory: resolve(flags.sharedDir) } : {}),
      ...(flags.partition ? { partition: flags.partition } : {}),
      ...(flags.time ? { time: flags.time } : {}),
      ...(flags.cpusPerHost
        ? { cpusPerHost: positiveInteger(flags.cpusPerHost, 'cpus-per-host', issues) }
        : {}),
      ...(flags.memPerHost ? { memoryPerHost: flags.memPerHost } : {}),
      ...(flags.hostsPerNode
        ? { hostsPerNode: positiveInteger(flags.hostsPerNode, 'hosts-per-node', issues) }
        : {}),
      sbatchArguments: flags.sbatchArg,
    },
    kubernetes: {
      ...(flags.image ? { image: flags.image } : {}),
      ...(flags.namespace ? { namespace: flags.namespace } : {}),
      ...(flags.cpu ? { cpu: flags.cpu } : {}),
      ...(flags.memory ? { memory: flags.memory } : {}),
      ...(flags.maxRestarts !== undefined ? { maxRestarts: Number(flags.maxRestarts) } : {}),
      ...(flags.amPort ? { applicationManagerPort: positiveInteger(flags.amPort, 'am-port', issues) } : {}),
    },
  }[scheduler];
  if (issues.length > 0) throw new ConfigError(issues, { subject: 'millrace submit' });
  return {
    scheduler,
    request: {
      job: jobPath,
      jobArguments,
      hosts,
      name,
      millraceCommand: inImage ? ['millrace'] : thisMillrace(),
    },
    options: options as SchedulerOptionsByName[SchedulerName],
  };
}
