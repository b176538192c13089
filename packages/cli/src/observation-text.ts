import { type ClusterObservation, describeNodeFailure } from '@millrace/core';

/** One human line per observation (node metrics excluded: they are shown, not logged). */
export function describeObservation(observation: ClusterObservation): string | undefined {
  switch (observation.type) {
    case 'state-changed':
      return `cluster ${observation.state} (generation ${observation.generation})`;
    case 'node-registered':
      return `${observation.role}[${observation.index}] registered (generation ${observation.generation})`;
    case 'cluster-ready': {
      const roles = Object.entries(observation.spec.roles)
        .map(([role, nodes]) => `${role}×${nodes.length}`)
        .join(', ');
      return `cluster ready: ${roles} (generation ${observation.spec.generation})`;
    }
    case 'node-started':
      return `${observation.role}[${observation.index}] started (attempt ${observation.attempt})`;
    case 'node-finished':
      return `${observation.role}[${observation.index}] finished`;
    case 'node-failed':
      return `node failed: ${describeNodeFailure(observation.failure)}`;
    case 'generation-started':
      return `generation ${observation.generation}: ${observation.policy} restarts ${observation.restarting.join(', ')}`;
    case 'job-finished':
      return `job ${observation.outcome.status}: ${observation.outcome.reason}`;
    case 'node-metrics':
      return undefined;
  }
}

/** A JSON-safe copy of an observation (errors become `{ name, code, message }`). */
export function observationToJson(observation: ClusterObservation): unknown {
  if (observation.type !== 'job-finished') return observation;
  const { error, ...outcome } = observation.outcome;
  return {
    ...observation,
    outcome: {
      ...outcome,
      error: error ? { name: error.name, code: error.code, message: error.message } : undefined,
    },
  };
}
