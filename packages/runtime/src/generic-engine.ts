/**
 * A built-in engine for clusters that need nothing engine-specific: the roles are whatever the
 * caller names, each node reserves one port named `port`, every role finishes on its own unless
 * listed as serving, and a failure restarts the whole cluster. The CLI uses it for hand-formed
 * clusters (`millrace am --roles worker=2 --engine generic`); tests use it as their engine.
 * Runners read the cluster from `MILLRACE_CLUSTER_SPEC` (see `processRunner`).
 */
import { defineMLFramework, type FailurePolicy, type MLFramework, rolesFinished } from '@millrace/core';

export interface GenericEngineOptions {
  /** Role names the engine accepts. Default `['worker']`. */
  roles?: readonly string[] | undefined;
  /** Roles whose nodes run until stopped (the job does not wait for them). Default none. */
  servingRoles?: readonly string[] | undefined;
  /** What a node failure means. Default `restart-all`. */
  failurePolicy?: FailurePolicy | undefined;
  /** Named ports every node reserves. Default `['port']`. */
  ports?: readonly string[] | undefined;
  /** MLFramework name. Default `generic`. */
  name?: string | undefined;
}

export function createGenericEngine(options: GenericEngineOptions = {}): MLFramework {
  const roleNames = options.roles ?? ['worker'];
  const serving = new Set(options.servingRoles ?? []);
  const finishing = roleNames.filter((role) => !serving.has(role));
  const policy = options.failurePolicy ?? 'restart-all';
  return defineMLFramework({
    specificationVersion: 'v1',
    name: options.name ?? 'generic',
    roles: roleNames.map((name) => ({
      name,
      description: serving.has(name) ? `${name} (runs until stopped)` : `${name} (finishes on its own)`,
      ports: options.ports ?? ['port'],
      lifecycle: serving.has(name) ? ('serves' as const) : ('finishes' as const),
    })),
    isJobFinished: (view) => {
      const present = finishing.filter((role) => (view.roles[role] ?? 0) > 0);
      return present.length > 0 && rolesFinished(view, present);
    },
    failurePolicy: () => policy,
    nodeEnvironment: () => ({}),
  });
}

/** The generic engine with a single `worker` role. */
export const genericEngine: MLFramework = createGenericEngine();
