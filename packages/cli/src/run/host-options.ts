import { ConfigError } from '@millrace/core';
import type { Command } from 'commander';

/** Which host of a multi-host job this `millrace run` is (what every scheduler's task passes). */
export interface HostFlags {
  hosts?: string;
  hostIndex?: string;
  sharedDir?: string;
  amTlsCert?: string;
  amTlsKey?: string;
}

export interface HostPlacement {
  hosts: number;
  hostIndex: number;
  sharedDirectory?: string | undefined;
}

/** `--hosts`, `--host-index`, `--shared-dir` (or MILLRACE_HOSTS, MILLRACE_HOST_INDEX, MILLRACE_SHARED_DIR). */
export function withHostOptions(command: Command): Command {
  return command
    .option('--hosts <n>', 'how many hosts run this job (or MILLRACE_HOSTS; default 1)')
    .option('--host-index <i>', 'which of them this one is, from 0 (or MILLRACE_HOST_INDEX)')
    .option('--shared-dir <dir>', 'a directory every host sees (or MILLRACE_SHARED_DIR)')
    .option(
      '--am-tls-cert <file>',
      'host 0 of a multi-host job: serve the application manager with this certificate (the join URL pins it)',
    )
    .option('--am-tls-key <file>', 'the private key of --am-tls-cert');
}

/**
 * Checks the host flags. One host is today's single-process job. Several hosts are refused with a
 * named error: running one job module across hosts (DESIGN §9, docs/multi-host.md) is not built
 * yet, and a job that silently ran whole on every host would do its work N times.
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
  if (hostIndex >= hosts)
    issues.push({
      path: 'host-index',
      message: `is ${hostIndex}, but there are ${hosts} hosts (0…${hosts - 1})`,
    });
  if (hosts === 1 && (flags.amTlsCert !== undefined || flags.amTlsKey !== undefined)) {
    issues.push({
      path: 'am-tls-cert',
      message:
        'is for host 0 of a multi-host job (as millrace submit --scheduler kubernetes passes it), which is not implemented yet',
    });
  }
  if (issues.length === 0 && hosts > 1) {
    issues.push({
      path: 'hosts',
      message: `is ${hosts}: one job module across several hosts is not implemented yet; run it on one host (--hosts 1), or form a multi-host cluster by hand with millrace am and millrace node (docs/multi-host.md)`,
    });
  }
  if (issues.length > 0) throw new ConfigError(issues, { subject: 'millrace run' });
  return { hosts, hostIndex, sharedDirectory: flags.sharedDir ?? environment.MILLRACE_SHARED_DIR };
}
