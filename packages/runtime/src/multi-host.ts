/**
 * How the hosts of a multi-host job find their application manager (DESIGN §9,
 * docs/multi-host.md). Host 0 serves the AM and publishes its join URL as `D/join-url` in a
 * directory every host sees (`--shared-dir D`); the other hosts wait for that file, with a bound.
 * With a join URL given (`--join`, MILLRACE_JOIN) the AM runs elsewhere (`millrace am`) and no
 * host starts one, except host 0 when it is also given the AM's certificate and key
 * (`--am-tls-cert/--am-tls-key`, as `millrace submit --scheduler kubernetes` passes them): it then
 * serves exactly the AM the URL names (its port, token and pinned certificate).
 *
 * `millrace run` sets these settings for the process ({@link setClusterHostSettings}); a job run
 * with plain `node` takes MILLRACE_JOIN and MILLRACE_SHARED_DIR from the environment. Like the
 * job's hosts (@millrace/dataflow's hosts.ts), the process value lives under a global symbol, so a
 * job module that imports its own copy of this package sees what the CLI set.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError, ConfigError, MillraceTimeoutError } from '@millrace/core';

export interface ClusterHostSettings {
  /** The AM's join URL; when given, the AM runs elsewhere (see the module comment). */
  join?: string | undefined;
  /** A directory every host sees: host 0 writes `join-url` there, the others read it. */
  sharedDirectory?: string | undefined;
  /** Host 0: serve the AM with this PEM certificate and key instead of a fresh self-signed pair. */
  amTls?: { certificate: string; privateKey: string } | undefined;
  /** Host 0: where the AM listens, `HOST:PORT` (default on several hosts `0.0.0.0:0`). */
  amListen?: string | undefined;
  /** How long a host waits for `join-url` to appear (and name a live AM). Default 120 000 ms. */
  joinWaitMs?: number | undefined;
  /** How long the AM's host waits, after the job ended, for the other hosts to read the outcome. Default 15 000 ms. */
  outcomeWaitMs?: number | undefined;
}

export const defaultJoinWaitMs = 120_000;
export const defaultOutcomeWaitMs = 15_000;
/** The file in the shared directory that holds the join URL. */
export const joinUrlFileName = 'join-url';

const processKey = Symbol.for('millrace.cluster-host-settings');

/** Sets (or clears) the settings every ML cluster of this process uses (what `millrace run` does). */
export function setClusterHostSettings(settings: ClusterHostSettings | undefined): void {
  (globalThis as Record<symbol, unknown>)[processKey] = settings;
}

/** The process's settings: what `millrace run` set, else MILLRACE_JOIN and MILLRACE_SHARED_DIR. */
export function clusterHostSettings(environment: NodeJS.ProcessEnv = process.env): ClusterHostSettings {
  const set = (globalThis as Record<symbol, unknown>)[processKey] as ClusterHostSettings | undefined;
  if (set !== undefined) return set;
  return {
    join: environment.MILLRACE_JOIN || undefined,
    sharedDirectory: environment.MILLRACE_SHARED_DIR || undefined,
  };
}

export function joinUrlPath(sharedDirectory: string): string {
  return join(sharedDirectory, joinUrlFileName);
}

/** Removes a join URL a previous job left in the shared directory (host 0, before its AM starts). */
export function removeJoinUrl(sharedDirectory: string): void {
  rmSync(joinUrlPath(sharedDirectory), { force: true });
}

/**
 * Writes `D/join-url` (mode 0600: it holds the job token) atomically: a reader sees no file or
 * the whole URL, never a part.
 */
export function publishJoinUrl(sharedDirectory: string, url: string): string {
  const path = joinUrlPath(sharedDirectory);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${url}\n`, { mode: 0o600 });
  renameSync(temporary, path);
  return path;
}

/** Where a host gets its join URL: given (MILLRACE_JOIN, `--join`), or host 0's file. */
export type JoinUrlSource = { url: string } | { sharedDirectory: string };

/**
 * Waits until the join URL names a live AM of this job and returns it: `accept` checks that
 * (it throws the reason otherwise). A file is read until it appears, and again when the URL in it
 * was refused (a file left by an earlier job is replaced by host 0). Fails with a
 * MillraceTimeoutError naming the file or URL, the bound, and why the last URL was refused.
 */
export async function waitForJoinUrl(options: {
  source: JoinUrlSource;
  timeoutMs: number;
  signal: AbortSignal;
  accept: (url: string) => Promise<void>;
  pollMs?: number;
}): Promise<string> {
  const { source } = options;
  const path = 'sharedDirectory' in source ? joinUrlPath(source.sharedDirectory) : undefined;
  const read = () =>
    path === undefined
      ? (source as { url: string }).url
      : existsSync(path)
        ? readFileSync(path, 'utf8').trim()
        : '';
  const deadline = Date.now() + options.timeoutMs;
  let refused: { url: string; reason: string; at: number } | undefined;
  for (;;) {
    if (options.signal.aborted) throw options.signal.reason ?? new CancelledError();
    const url = read();
    // A refused URL is tried again now and then (its AM may not listen yet), a new one at once.
    if (url !== '' && (url !== refused?.url || Date.now() - refused.at >= 1_000)) {
      try {
        await options.accept(url);
        return url;
      } catch (error) {
        refused = { url, reason: (error as Error).message, at: Date.now() };
      }
    }
    if (Date.now() >= deadline) {
      if (path === undefined) {
        throw new MillraceTimeoutError(
          'the application manager the join URL names',
          options.timeoutMs,
          `${refused?.reason ?? 'no answer'}; is it running (host 0, or millrace am), and can this host reach it?`,
        );
      }
      throw new MillraceTimeoutError(
        `the join URL in ${path}`,
        options.timeoutMs,
        refused
          ? `the file names no live application manager of this job (${refused.reason}); is host 0 running, and is ${dirnameOf(path)} the directory it writes to?`
          : 'the file never appeared; host 0 writes it once its application manager listens: is host 0 running with the same --shared-dir, and does this host see that directory?',
      );
    }
    await sleep(options.pollMs ?? 200, undefined, { signal: options.signal }).catch(() => {});
  }
}

function dirnameOf(path: string): string {
  return path.slice(0, path.length - joinUrlFileName.length - 1);
}

/** `HOST:PORT`, `[V6]:PORT` or `:PORT` (all interfaces): where an application manager listens. */
export function parseAmListenAddress(text: string, field = 'listen'): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text.trim());
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port > 65_535) {
    throw new ConfigError(
      [{ path: field, message: `'${text}' is not HOST:PORT (e.g. 0.0.0.0:7070, [::]:7070)` }],
      { subject: 'options' },
    );
  }
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}
