import { ConfigError } from '@millrace/core';
import { setProcessHosts } from '@millrace/dataflow';
import { type ClusterHostSettings, setClusterHostSettings } from '@millrace/runtime';
import type { Command } from 'commander';
import { joinUrlFrom } from '../connection-options.js';

/** Which host of a multi-host job this `millrace run` is (what every scheduler's task passes). */
export interface HostFlags {
  hosts?: string;
  hostIndex?: string;
  sharedDir?: string;
  join?: string;
  joinFile?: string;
  joinWaitMs?: string;
  amListen?: string;
  amTlsCert?: string;
  amTlsKey?: string;
}

export interface HostPlacement {
  hosts: number;
  hostIndex: number;
  sharedDirectory?: string | undefined;
  /** The join URL of an AM that runs elsewhere (never printed: it holds the token). */
  join?: string | undefined;
  joinWaitMs?: number | undefined;
  amListen?: string | undefined;
  amTls?: { certificate: string; privateKey: string } | undefined;
}

/**
 * `--hosts`, `--host-index`, `--shared-dir`, `--join` (or MILLRACE_HOSTS, MILLRACE_HOST_INDEX,
 * MILLRACE_SHARED_DIR, MILLRACE_JOIN) and host 0's `--am-listen`, `--am-tls-cert`, `--am-tls-key`.
 */
export function withHostOptions(command: Command): Command {
  return command
    .option('--hosts <n>', 'how many hosts run this job (or MILLRACE_HOSTS; default 1)')
    .option('--host-index <i>', 'which of them this one is, from 0 (or MILLRACE_HOST_INDEX)')
    .option(
      '--shared-dir <dir>',
      'a directory every host sees: host 0 writes join-url there, the others wait for it (or MILLRACE_SHARED_DIR)',
    )
    .option(
      '--join <url>',
      'join URL of an application manager that runs elsewhere, e.g. millrace am (or MILLRACE_JOIN)',
    )
    .option('--join-file <file>', 'a file holding that join URL')
    .option(
      '--join-wait-ms <ms>',
      'how long a host waits for the join URL and its application manager (default 120000)',
    )
    .option(
      '--am-listen <host:port>',
      'host 0: where the application manager listens (default on several hosts 0.0.0.0:0, TLS)',
    )
    .option(
      '--am-tls-cert <file>',
      'host 0: serve the application manager with this certificate (the join URL pins it)',
    )
    .option('--am-tls-key <file>', 'the private key of --am-tls-cert');
}

/**
 * Checks the host flags (DESIGN §9, docs/multi-host.md). One host without a join URL is today's
 * single-process job. Several hosts need a way to find the AM: a shared directory (host 0 writes
 * the join URL there) or a join URL.
 */
export function resolveHostPlacement(
  flags: HostFlags,
  environment: NodeJS.ProcessEnv = process.env,
): HostPlacement {
  const issues: { path: string; message: string }[] = [];
  const integer = (text: string | undefined, path: string, minimum: number, fallback: number) => {
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < minimum) {
      issues.push({ path, message: `must be an integer ≥ ${minimum}, got '${text}'` });
      return fallback;
    }
    return value;
  };
  const hosts = integer(flags.hosts ?? environment.MILLRACE_HOSTS, 'hosts', 1, 1);
  const hostIndex = integer(flags.hostIndex ?? environment.MILLRACE_HOST_INDEX, 'host-index', 0, 0);
  const joinWaitMs =
    flags.joinWaitMs === undefined ? undefined : integer(flags.joinWaitMs, 'join-wait-ms', 1, 1);
  if (hostIndex >= hosts)
    issues.push({
      path: 'host-index',
      message: `is ${hostIndex}, but there are ${hosts} hosts (0…${hosts - 1})`,
    });
  if ((flags.amTlsCert === undefined) !== (flags.amTlsKey === undefined))
    issues.push({ path: 'am-tls-cert', message: '--am-tls-cert and --am-tls-key go together' });
  const join =
    flags.join ??
    (flags.joinFile ? joinUrlFrom({ joinFile: flags.joinFile }) : undefined) ??
    (environment.MILLRACE_JOIN || undefined);
  const sharedDirectory = flags.sharedDir ?? (environment.MILLRACE_SHARED_DIR || undefined);
  if (hosts > 1 && join === undefined && sharedDirectory === undefined)
    issues.push({
      path: 'shared-dir',
      message: `is needed on ${hosts} hosts: give every host --shared-dir D (a directory all of them see; host 0 writes D/join-url, the others wait for it), or a join URL (--join, --join-file or MILLRACE_JOIN) of an application manager that runs elsewhere`,
    });
  if (issues.length > 0) throw new ConfigError(issues, { subject: 'millrace run' });
  return {
    hosts,
    hostIndex,
    sharedDirectory,
    join,
    joinWaitMs,
    amListen: flags.amListen,
    amTls:
      flags.amTlsCert && flags.amTlsKey
        ? { certificate: flags.amTlsCert, privateKey: flags.amTlsKey }
        : undefined,
  };
}

/**
 * Makes this process host `hostIndex` of the job: every `new Job()` the job module creates takes
 * these hosts, and its ML clusters these ways to find the AM. The join URL leaves the environment,
 * so runner processes (which inherit it) never hold the job token.
 */
export function applyHostPlacement(placement: HostPlacement, environment = process.env): void {
  setProcessHosts({ count: placement.hosts, index: placement.hostIndex });
  const settings: ClusterHostSettings = {
    join: placement.join,
    sharedDirectory: placement.sharedDirectory,
    joinWaitMs: placement.joinWaitMs,
    amListen: placement.amListen,
    amTls: placement.amTls,
  };
  setClusterHostSettings(settings);
  delete environment.MILLRACE_JOIN;
}
