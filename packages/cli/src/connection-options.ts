import { ConfigError } from '@millrace/core';
import type { Command } from 'commander';

export interface ConnectionFlags {
  am?: string;
  token?: string;
}

/** Adds `--am` and `--token` (the token may come from MILLRACE_TOKEN instead, out of `ps`). */
export function withConnectionOptions(command: Command): Command {
  return command
    .option('--am <address>', 'host:port of the application manager (or MILLRACE_AM)')
    .option('--token <token>', 'the job token (or MILLRACE_TOKEN)');
}

export function resolveConnection(flags: ConnectionFlags): { address: string; token: string } {
  const address = flags.am ?? process.env.MILLRACE_AM;
  const token = flags.token ?? process.env.MILLRACE_TOKEN;
  // The token stays with the agent: runners this process starts inherit its environment, and a
  // runner holding the token could stop the job or impersonate another node.
  delete process.env.MILLRACE_TOKEN;
  const issues = [
    ...(address ? [] : [{ path: 'am', message: 'is required: --am host:port (printed by `millrace am`)' }]),
    ...(token
      ? []
      : [{ path: 'token', message: 'is required: --token T or MILLRACE_TOKEN (printed by `millrace am`)' }]),
  ];
  if (issues.length) throw new ConfigError(issues, { subject: 'options' });
  return { address: address!, token: token! };
}
