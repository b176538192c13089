/**
 * Every host of a scheduled application writes two files into the application's shared
 * directory: `host-I.log` (its stdout and stderr) and, when it ends, `host-I.exit` (its exit code
 * as text, 128 + the signal number when a signal ended it, as shells report it). The local and
 * Slurm schedulers read status, failures and logs from these, so both tell a failure the same way.
 */
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { AppState, HostLog, HostStatus } from './scheduler.js';

export function hostLogPath(sharedDirectory: string, host: number): string {
  return join(sharedDirectory, `host-${host}.log`);
}

export function hostExitPath(sharedDirectory: string, host: number): string {
  return join(sharedDirectory, `host-${host}.exit`);
}

/** The exit code a host recorded, or undefined while it runs (or if it died without writing). */
export function readHostExit(sharedDirectory: string, host: number): number | undefined {
  const path = hostExitPath(sharedDirectory, host);
  if (!existsSync(path)) return undefined;
  const code = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
  return Number.isInteger(code) ? code : undefined;
}

/**
 * Exit codes of a host that was asked to stop: 130 (`millrace run` cancelled) or SIGTERM's 143.
 * Such a host did not fail; it was ended because another one failed or the user stopped it.
 */
const stoppedExitCodes = new Set([130, 128 + constants.signals.SIGTERM]);

const signalNames = new Map(Object.entries(constants.signals).map(([name, number]) => [number, name]));

/** Each host's state from its exit file; hosts without one are in `whileRunning`. */
export function hostStatuses(sharedDirectory: string, hosts: number, whileRunning: AppState): HostStatus[] {
  return Array.from({ length: hosts }, (_, index) => {
    const exitCode = readHostExit(sharedDirectory, index);
    if (exitCode === undefined) return { index, state: whileRunning };
    const signal = exitCode > 128 ? signalNames.get(exitCode - 128) : undefined;
    return {
      index,
      state: exitCode === 0 ? 'succeeded' : stoppedExitCodes.has(exitCode) ? 'stopped' : 'failed',
      exitCode,
      ...(signal ? { signal } : {}),
    };
  });
}

export function readHostLogs(sharedDirectory: string, hosts: number, only?: number): HostLog[] {
  const indexes = only === undefined ? Array.from({ length: hosts }, (_, index) => index) : [only];
  return indexes.map((host) => {
    const path = hostLogPath(sharedDirectory, host);
    return { host, text: existsSync(path) ? readFileSync(path, 'utf8') : '' };
  });
}

/** The last `lines` non-empty lines of a host's log, for failure messages. */
export function hostLogTail(sharedDirectory: string, host: number, lines = 12): string {
  const path = hostLogPath(sharedDirectory, host);
  if (!existsSync(path)) return '';
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(-lines)
    .join('\n');
}

/** "host 1 exited with code 1: <its last lines>" for the first failed host, if any. */
export function describeHostFailure(
  sharedDirectory: string,
  statuses: readonly HostStatus[],
): string | undefined {
  const failed = statuses.find((host) => host.state === 'failed');
  if (!failed) return undefined;
  const how = failed.signal ? `was killed by ${failed.signal}` : `exited with code ${failed.exitCode}`;
  const tail = hostLogTail(sharedDirectory, failed.index);
  return `host ${failed.index} ${how}${tail ? `; its last lines:\n${indentLines(tail)}` : ''}`;
}

function indentLines(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
