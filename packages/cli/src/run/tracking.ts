/**
 * Turns what a job module hands to `track(...)` into {@link RunEvent}s: a dataflow `Job` (its
 * events, including the cluster observations its ML operators forward) or a cluster launched with
 * `launchLocalCluster` (its application manager's observations). Where each cluster's AM listens
 * goes to `follow` (never into the events: it carries the job token), so the board can read the
 * AM's status itself.
 */
import { type ClusterObservation, sourceProgress } from '@millrace/core';
import type { JobEvent } from '@millrace/dataflow';
import type { ApplicationManagerEndpoint, RunEvent } from './run-events.js';

interface EventSource {
  name?: string;
  onEvent(listener: (event: JobEvent) => void): () => void;
}

interface ObservableCluster {
  applicationManager: Promise<{
    config: { name: string };
    address?: string;
    token?: string;
    fingerprint?: string | undefined;
    onObservation(listener: (o: ClusterObservation) => void): () => void;
  }>;
  observations: readonly ClusterObservation[];
}

export function trackTarget(
  target: unknown,
  emit: (event: RunEvent) => void,
  follow: (endpoint: ApplicationManagerEndpoint) => void = () => {},
): () => void {
  if (typeof (target as EventSource)?.onEvent === 'function') {
    const job = target as EventSource;
    const name = job.name ?? 'job';
    return job.onEvent((event) => {
      const endpoint =
        event.type === 'operator-event' ? endpointOf(event.operator, event.payload) : undefined;
      if (endpoint) follow(endpoint);
      const mapped = fromJobEvent(name, event);
      if (mapped) emit(mapped);
    });
  }
  const cluster = target as ObservableCluster;
  if (cluster?.applicationManager && typeof cluster.applicationManager.then === 'function') {
    let unsubscribe = () => {};
    let cancelled = false;
    cluster.applicationManager.then(
      (am) => {
        if (cancelled) return;
        const name = am.config.name;
        if (am.address && am.token)
          follow({ cluster: name, address: am.address, token: am.token, fingerprint: am.fingerprint });
        for (const observation of cluster.observations)
          emit({ type: 'cluster-observation', cluster: name, observation });
        unsubscribe = am.onObservation((observation) =>
          emit({ type: 'cluster-observation', cluster: name, observation }),
        );
      },
      () => {},
    );
    return () => {
      cancelled = true;
      unsubscribe();
    };
  }
  throw new TypeError('track() takes a dataflow Job or a cluster from launchLocalCluster');
}

/** An AM operator announces where its AM listens (addAMRole publishes it as an operator event). */
function endpointOf(operator: string, payload: unknown): ApplicationManagerEndpoint | undefined {
  const announced = payload as { type?: unknown; address?: unknown; token?: unknown; fingerprint?: unknown };
  if (announced?.type !== 'application-manager') return undefined;
  if (typeof announced.address !== 'string' || typeof announced.token !== 'string') return undefined;
  return {
    cluster: operator,
    address: announced.address,
    token: announced.token,
    fingerprint: typeof announced.fingerprint === 'string' ? announced.fingerprint : undefined,
  };
}

function fromJobEvent(job: string, event: JobEvent): RunEvent | undefined {
  switch (event.type) {
    case 'cluster-observation':
      return { type: 'cluster-observation', cluster: `${event.operator}`, observation: event.observation };
    case 'operator-metrics':
      return {
        type: 'operator-metrics',
        job,
        operators: event.operators,
        progress: sourceProgress(event.operators),
      };
    case 'job-started':
      return { type: 'job-started', job, attempt: event.attempt };
    case 'job-restarting':
      return {
        type: 'job-restarting',
        job,
        attempt: event.attempt,
        delayMs: event.delayMs,
        reason: event.error instanceof Error ? event.error.message : String(event.error),
      };
    case 'job-finished':
      return {
        type: 'job-finished',
        job,
        status: event.status,
        error:
          event.error === undefined
            ? undefined
            : event.error instanceof Error
              ? event.error.message
              : String(event.error),
      };
    default:
      return undefined;
  }
}
