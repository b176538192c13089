import { readFileSync } from 'node:fs';
import { ConfigError } from '@millrace/core';
import { parseJoinUrl } from '@millrace/runtime';
import type { Command } from 'commander';

export interface ConnectionFlags {
  join?: string;
  joinFile?: string;
  am?: string;
  token?: string;
  insecure?: boolean;
}

export interface ResolvedConnection {
  address: string;
  token: string;
  /** The AM certificate's SHA-256 (hex) from the join URL; undefined for a plaintext AM. */
  fingerprint?: string | undefined;
  insecure: boolean;
}

/**
 * Adds the ways to name an AM: a join URL (`--join`, `--join-file`, MILLRACE_JOIN: the token
 * never has to appear on a command line), or today's `--am` and `--token` (MILLRACE_AM,
 * MILLRACE_TOKEN), which speak plaintext and so only reach a loopback AM unless `--insecure`.
 */
export function withConnectionOptions(command: Command): Command {
  return command
    .option('--join <url>', 'join URL printed by `millrace am` (or MILLRACE_JOIN)')
    .option('--join-file <file>', 'a file holding the join URL')
    .option('--am <address>', 'host:port of a plaintext application manager (or MILLRACE_AM)')
    .option('--token <token>', 'the job token for --am (or MILLRACE_TOKEN)')
    .option(
      '--insecure',
      'allow plaintext to a non-loopback AM (the token crosses the network in the clear)',
    );
}

/** Reads the join URL from `--join`, `--join-file` or MILLRACE_JOIN, in that order; undefined when none. */
export function joinUrlFrom(flags: Pick<ConnectionFlags, 'join' | 'joinFile'>): string | undefined {
  if (flags.join) return flags.join;
  if (flags.joinFile) {
    try {
      return readFileSync(flags.joinFile, 'utf8').trim();
    } catch (error) {
      throw new ConfigError(
        [
          {
            path: 'join-file',
            message: `cannot read ${flags.joinFile}: ${(error as NodeJS.ErrnoException).code ?? error}`,
          },
        ],
        { subject: 'options' },
      );
    }
  }
  return process.env.MILLRACE_JOIN || undefined;
}

export function resolveConnection(flags: ConnectionFlags): ResolvedConnection {
  const insecure = flags.insecure === true;
  const given = flags.join ?? (flags.joinFile ? joinUrlFrom(flags) : undefined);
  if (given && (flags.am || flags.token)) {
    throw new ConfigError(
      [
        {
          path: 'join',
          message: 'give either a join URL or --am/--token, not both (the join URL holds both)',
        },
      ],
      { subject: 'options' },
    );
  }
  // An explicit --am wins over a join URL in the environment.
  const join = given ?? (flags.am ? undefined : process.env.MILLRACE_JOIN || undefined);
  if (join) return { ...parseJoinUrl(join), insecure };
  const address = flags.am ?? process.env.MILLRACE_AM;
  const token = flags.token ?? process.env.MILLRACE_TOKEN;
  // The token stays with the agent: runners this process starts inherit its environment, and a
  // runner holding the token could stop the job or impersonate another node.
  delete process.env.MILLRACE_TOKEN;
  const issues = [
    ...(address
      ? []
      : [
          {
            path: 'join',
            message:
              'is required: --join URL, --join-file FILE or MILLRACE_JOIN (printed by `millrace am`), or --am host:port with --token',
          },
        ]),
    ...(address && !token
      ? [
          {
            path: 'token',
            message: 'is required with --am: --token T or MILLRACE_TOKEN (printed by `millrace am`)',
          },
        ]
      : []),
  ];
  if (issues.length) throw new ConfigError(issues, { subject: 'options' });
  return { address: address!, token: token!, fingerprint: undefined, insecure };
}
