import { createConsoleLogger, defaultLogFormat, parseLogFormat } from '@millrace/runtime';
import type { Command } from 'commander';
import type { CliIo } from './command.js';

/**
 * Adds `--log-format human|json`. It sets MILLRACE_LOG_FORMAT for this process, so every logger
 * the command makes (the AM's, the node agents', in-process or spawned) writes that format, and
 * the processes it starts inherit it.
 */
export function withLogFormat(command: Command): Command {
  return command
    .option('--log-format <format>', 'log lines on stderr: human (default) or json (one pino record a line)')
    .hook('preAction', (_program, action) => {
      const format = action.opts<{ logFormat?: string }>().logFormat;
      if (format !== undefined) process.env.MILLRACE_LOG_FORMAT = parseLogFormat(format, 'log-format');
    });
}

/**
 * How a command writes its own lines to stderr: `[prefix] message` in the human format (what
 * people and existing scripts read), a pino record named `prefix` with the fields in json.
 */
export function commandLog(
  io: CliIo,
  prefix?: string,
): { info(message: string, fields?: Record<string, unknown>): void; warn(message: string): void } {
  if (defaultLogFormat() === 'json') {
    return createConsoleLogger({ prefix, level: 'info', write: (line) => io.stderr.write(`${line}\n`) });
  }
  const write = (message: string) => io.stderr.write(`${prefix ? `[${prefix}] ` : ''}${message}\n`);
  return { info: write, warn: write };
}
