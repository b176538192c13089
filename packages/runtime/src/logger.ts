import type { Logger } from '@millrace/core';

const levels = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof levels)[number] | 'silent';

export interface ConsoleLoggerOptions {
  /** Prepended to every line, e.g. `worker[0]`. */
  prefix?: string | undefined;
  /** The least severe level written. Default: `MILLRACE_LOG_LEVEL`, else `warn`. */
  level?: LogLevel | undefined;
  /** Where lines go. Default: stderr (stdout stays free for a command's own output). */
  write?: ((line: string) => void) | undefined;
}

/** A small structured logger that writes one line per record: `prefix level message {fields}`. */
export function createConsoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const configured = options.level ?? (process.env.MILLRACE_LOG_LEVEL as LogLevel | undefined) ?? 'warn';
  const threshold = configured === 'silent' ? levels.length : Math.max(0, levels.indexOf(configured));
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const log = (level: (typeof levels)[number]) => (message: string, fields?: Record<string, unknown>) => {
    if (levels.indexOf(level) < threshold) return;
    const extra = fields && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : '';
    write(`${options.prefix ? `${options.prefix} ` : ''}${level} ${message}${extra}`);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/** Drops everything; for tests and embedding. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** The same logger with `prefix` in front of every message. */
export function childLogger(logger: Logger, prefix: string): Logger {
  return {
    debug: (message, fields) => logger.debug(`${prefix} ${message}`, fields),
    info: (message, fields) => logger.info(`${prefix} ${message}`, fields),
    warn: (message, fields) => logger.warn(`${prefix} ${message}`, fields),
    error: (message, fields) => logger.error(`${prefix} ${message}`, fields),
  };
}
