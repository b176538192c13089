/**
 * A host of a multi-host job whose application manager runs elsewhere (host 0, or a standalone
 * `millrace am`): it finds the AM through the join URL, checks that the AM runs this job's
 * cluster, and follows the job until it ends by asking GetJobStatus as observer `host-I` (the AM's
 * host waits, bounded, until every host has read the outcome). The outcome becomes this host's:
 * a failed cluster throws the same JobFailedError (naming each failed node) on every host.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CancelledError,
  type ClusterConfig,
  type ClusterObservation,
  type ClusterState,
  ConfigError,
  JobFailedError,
  type JobOutcome,
  MillraceTimeoutError,
} from '@millrace/core';
import type { JobStatus } from '@millrace/protocol';
import { ApplicationManagerConnection } from '../am-client.js';
import { type JoinTarget, parseJoinUrl } from '../join-url.js';
import { type JoinUrlSource, waitForJoinUrl } from '../multi-host.js';
import { fromWireFailure } from '../protocol-mapping.js';

const terminalStates = new Set(['finished', 'failed', 'stopped']);

export interface RemoteApplicationManager {
  target: JoinTarget;
  connection: ApplicationManagerConnection;
}

/** The observer name host `index` uses in GetJobStatus. */
export function hostObserver(index: number): string {
  return `host-${index}`;
}

/** Waits (bounded) for the join URL to name a live AM that runs `config`'s roles. */
export async function findApplicationManager(options: {
  source: JoinUrlSource;
  config: ClusterConfig;
  observer: string;
  timeoutMs: number;
  signal: AbortSignal;
}): Promise<RemoteApplicationManager> {
  let found: RemoteApplicationManager | undefined;
  await waitForJoinUrl({
    source: options.source,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    accept: async (url) => {
      const target = parseJoinUrl(url);
      const connection = new ApplicationManagerConnection({ ...target, callTimeoutMs: 5_000 });
      try {
        checkSameCluster(options.config, target.address, await connection.getJobStatus(options.observer));
      } catch (error) {
        connection.close();
        throw error;
      }
      found = { target, connection };
    },
  });
  return found!;
}

/** A ConfigError unless the AM's roles and instance counts are this job's. */
function checkSameCluster(config: ClusterConfig, address: string, status: JobStatus): void {
  const theirs = new Map<string, number>();
  for (const node of status.nodes) theirs.set(node.role, (theirs.get(node.role) ?? 0) + 1);
  const ours = Object.entries(config.roles).map(([role, { instances }]) => `${role}=${instances}`);
  const described = [...theirs].map(([role, count]) => `${role}=${count}`);
  if (ours.sort().join(',') !== described.sort().join(',')) {
    throw new ConfigError(
      [
        {
          path: 'join',
          message: `the application manager at ${address} runs job '${status.jobName}' with roles ${described.join(', ') || '(none)'}, but this job's cluster '${config.name}' has ${ours.join(', ')}; is the join URL (or the shared directory) this job's?`,
        },
      ],
      { subject: `cluster '${config.name}'` },
    );
  }
}

/**
 * Follows the job until it ends and returns its outcome. Publishes the state changes it sees.
 * An AM that does not answer for `lostMs` in a row fails with a MillraceTimeoutError naming it.
 */
export async function followRemoteJob(options: {
  connection: ApplicationManagerConnection;
  observer: string;
  signal: AbortSignal;
  publish: (observation: ClusterObservation) => void;
  pollMs?: number;
  lostMs?: number;
}): Promise<JobOutcome> {
  const { connection, signal } = options;
  const lostMs = options.lostMs ?? 15_000;
  let lastState: string | undefined;
  let lastAnswer = Date.now();
  let lastError: unknown;
  for (;;) {
    if (signal.aborted) throw signal.reason ?? new CancelledError();
    let status: JobStatus | undefined;
    try {
      status = await connection.getJobStatus(options.observer);
      lastAnswer = Date.now();
    } catch (error) {
      lastError = error;
      if (Date.now() - lastAnswer >= lostMs) {
        throw new MillraceTimeoutError(
          `the application manager at ${connection.address}`,
          lostMs,
          `it stopped answering before the job ended (its host may be gone or cut off): ${(lastError as Error).message}`,
        );
      }
    }
    if (status !== undefined) {
      if (status.state !== lastState) {
        lastState = status.state;
        options.publish({
          type: 'state-changed',
          state: status.state as ClusterState,
          generation: Number(status.generation),
        });
      }
      if (terminalStates.has(status.state)) return outcomeOf(status);
    }
    await sleep(options.pollMs ?? 250, undefined, { signal }).catch(() => {});
  }
}

function outcomeOf(status: JobStatus): JobOutcome {
  const failures = status.failures.map(fromWireFailure);
  // The status text of a stopped job is `stopped: <reason>`; the outcome's reason is the reason
  // alone, as on the AM's own host (which says "the cluster was stopped: <reason>").
  const text = status.state === 'stopped' ? status.outcome.replace(/^stopped: /, '') : status.outcome;
  const reason = text || `the job ${status.state}`;
  const outcomeStatus =
    status.state === 'finished' ? 'succeeded' : status.state === 'failed' ? 'failed' : 'stopped';
  return {
    status: outcomeStatus,
    generation: Number(status.generation),
    restarts: status.restarts,
    failures,
    reason,
    error:
      outcomeStatus === 'failed'
        ? new JobFailedError(`Job '${status.jobName}' failed: ${reason}`, failures, status.restarts)
        : undefined,
  };
}

/**
 * Best effort: asks the AM to stop the job because this host ended early, then reads the outcome
 * as `observer`, so the AM's host does not wait for this host to read it (bounded).
 */
export async function stopRemoteJob(
  connection: ApplicationManagerConnection,
  reason: string,
  observer: string,
): Promise<void> {
  const stopping = connection
    .stopJob(reason)
    .then(() => connection.getJobStatus(observer))
    .catch(() => {});
  await Promise.race([stopping, sleep(3_000)]);
}
