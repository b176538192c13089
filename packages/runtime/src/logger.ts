import { ConfigError, type Logger } from '@millrace/core';
import { pino } from 'pino';

const levels = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof levels)[number] | 'silent';

/** `human`: one readable line per record; `json`: one pino JSON object per line, for log collectors. */
export type LogFormat = 'human' | 'json';
export const logFormats: readonly LogFormat[] = ['human', 'json'];

/** The format `createConsoleLogger` uses when none is given: `MILLRACE_LOG_FORMAT`, else human. */
export function defaultLogFormat(): LogFormat {
  const configured = process.env.MILLRACE_LOG_FORMAT;
  if (configured === undefined || configured === '') return 'human';
  return parseLogFormat(configured, 'MILLRACE_LOG_FORMAT');
}

export function parseLogFormat(text: string, source = 'log format'): LogFormat {
  if ((logFormats as readonly string[]).includes(text)) return text as LogFormat;
  throw new ConfigError([{ path: source, message: `'${text}' is not a log format: use human or json` }], {
    subject: 'options',
  });
}

export interface ConsoleLoggerOptions {
  /** Prepended to every line, e.g. `worker[0]`. */
  prefix?: string | undefined;
  /** The least severe level written. Default: `MILLRACE_LOG_LEVEL`, else `warn`. */
  level?: LogLevel | undefined;
  /** Where lines go. Default: stderr (stdout stays free for a command's own output). */
  write?: ((line: string) => void) | undefined;
  /** Default: `MILLRACE_LOG_FORMAT`, else `human`. */
  format?: LogFormat | undefined;
}

/**
 * A small structured logger that writes one line per record: `prefix level message {fields}`, or
 * with the json format a pino record (`level`, `time`, `pid`, `name`: the prefix, `msg`, fields).
 */
export function createConsoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const configured = options.level ?? (process.env.MILLRACE_LOG_LEVEL as LogLevel | undefined) ?? 'warn';
  const threshold = configured === 'silent' ? levels.length : Math.max(0, levels.indexOf(configured));
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  if ((options.format ?? defaultLogFormat()) === 'json') return jsonLogger(options.prefix, configured, write);
  const log = (level: (typeof levels)[number]) => (message: string, fields?: Record<string, unknown>) => {
    if (levels.indexOf(level) < threshold) return;
    const extra = fields && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : '';
    write(`${options.prefix ? `${options.prefix} ` : ''}${level} ${message}${extra}`);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

function jsonLogger(name: string | undefined, level: LogLevel, write: (line: string) => void): Logger {
  const base = pino(
    { level, ...(name ? { name } : {}), timestamp: pino.stdTimeFunctions.isoTime },
    // pino ends each record with a newline; `write` adds its own.
    { write: (record: string) => write(record.endsWith('\n') ? record.slice(0, -1) : record) },
  );
  const log = (level: (typeof levels)[number]) => (message: string, fields?: Record<string, unknown>) =>
    fields && Object.keys(fields).length ? base[level](fields, message) : base[level](message);
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
