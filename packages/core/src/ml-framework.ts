import type { ClusterSpec, NodeKey } from './cluster.js';
import type { ClusterConfig } from './config.js';
import { ConfigError, type ConfigIssue, type NodeFailure, VersionMismatchError } from './errors.js';
import type { Runner } from './runner.js';

/** What a node failure means for the cluster. */
export type FailurePolicy = 'restart-all' | 'restart-one' | 'fail';

export interface RoleDefinition {
  name: string;
  description: string;
  /** Named ports each node of this role reserves before registering, e.g. `['rendezvous']`. */
  ports?: readonly string[] | undefined;
  /**
   * `finishes`: the role's runners end on their own (workers).
   * `serves`: they run until stopped (a parameter server); the job never waits for them.
   */
  lifecycle: 'finishes' | 'serves';
  /** The cluster config must give this role at least one instance. */
  required?: boolean | undefined;
  /**
   * Default stall timeout for this role (see `stallTimeoutMs` in the cluster config); the config
   * overrides it. Ignored for `serves` roles unless their role config sets one.
   */
  stallTimeoutMs?: number | undefined;
}

export type NodeStatus = 'pending' | 'registered' | 'running' | 'finished' | 'failed';

export interface NodeView {
  role: string;
  index: number;
  status: NodeStatus;
  /** The generation the node last registered in (0 before its first registration). */
  generation: number;
}

/** A read-only picture of the cluster that engine rules decide on. */
export interface ClusterView {
  generation: number;
  restarts: number;
  /** Instances per role, from the config. */
  roles: Readonly<Record<string, number>>;
  nodes: Readonly<Record<NodeKey, NodeView>>;
}

export interface NodeEnvironmentInput {
  role: string;
  index: number;
  attempt: number;
  clusterSpec: ClusterSpec;
  checkpointDirectory: string;
}

/**
 * An ML framework adapter (an "engine"), version 1: what an engine plugin implements — its roles,
 * its state-machine hooks (cluster complete, job finished, failure policy), the environment each
 * node's runner gets, and the runners it offers. Third parties implement this against
 * `@millrace/core` alone and prove it with `@millrace/core/testing`. When a v2 arrives, v1
 * frameworks keep working.
 */
export interface MLFrameworkV1 {
  readonly specificationVersion: 'v1';
  /** Registered name, e.g. `pytorch`; cluster configs select the engine by it. */
  readonly name: string;
  readonly roles: readonly RoleDefinition[];
  /** Extra checks of a cluster config (including `engineOptions`); return the problems found. */
  validateConfig?(config: ClusterConfig): ConfigIssue[];
  /** When the cluster may start running. Default: every expected node registered. */
  isClusterComplete?(view: ClusterView): boolean;
  /** When the job is done, e.g. "chief finished" or "every worker finished". */
  isJobFinished(view: ClusterView): boolean;
  /** What a failure means: restart everything, restart the failed node alone, or fail the job. */
  failurePolicy(failure: NodeFailure, view: ClusterView): FailurePolicy;
  /** Environment variables for a node's runner, built from the cluster spec. */
  nodeEnvironment(input: NodeEnvironmentInput): Record<string, string>;
  /** Runners the engine offers by name (e.g. `script` for a torchrun-style script). */
  readonly runners?: Readonly<Record<string, (options: never) => Runner>>;
}

/** The ML framework contract an engine plugin implements (today: {@link MLFrameworkV1}). */
export type MLFramework = MLFrameworkV1;

/** @deprecated Renamed {@link MLFramework}; this alias goes in the next minor release. */
export type Engine = MLFramework;
/** @deprecated Renamed {@link MLFrameworkV1}; this alias goes in the next minor release. */
export type EngineV1 = MLFrameworkV1;

const supportedSpecificationVersions = ['v1'];

/**
 * Checks an MLFramework object's shape early, so a broken adapter fails when it is defined or
 * registered, not mid-job.
 */
export function defineMLFramework<F extends MLFrameworkV1>(engine: F): F {
  if (!supportedSpecificationVersions.includes(engine.specificationVersion)) {
    throw new VersionMismatchError(
      `MLFramework '${engine.name}' specificationVersion`,
      supportedSpecificationVersions.join(' or '),
      String(engine.specificationVersion),
    );
  }
  const issues: ConfigIssue[] = [];
  if (!/^[a-z][a-z0-9-]*$/.test(engine.name))
    issues.push({ path: 'name', message: 'must be a lower-case identifier' });
  if (engine.roles.length === 0) issues.push({ path: 'roles', message: 'an engine needs at least one role' });
  const seen = new Set<string>();
  for (const role of engine.roles) {
    if (seen.has(role.name)) issues.push({ path: `roles.${role.name}`, message: 'is defined twice' });
    seen.add(role.name);
  }
  for (const hook of ['isJobFinished', 'failurePolicy', 'nodeEnvironment'] as const) {
    if (typeof engine[hook] !== 'function') issues.push({ path: hook, message: 'must be a function' });
  }
  if (issues.length) throw new ConfigError(issues, { subject: `MLFramework '${engine.name}'` });
  return engine;
}

/** @deprecated Renamed {@link defineMLFramework}; this alias goes in the next minor release. */
export const defineEngine = defineMLFramework;

/** Validates a cluster config against an engine: known roles, required roles, engine's own rules. */
export function validateConfigForEngine(engine: MLFramework, config: ClusterConfig): void {
  const issues: ConfigIssue[] = [];
  if (config.engine !== engine.name) {
    issues.push({
      path: 'engine',
      message: `is '${config.engine}' but the engine given is '${engine.name}'`,
    });
  }
  const known = new Set(engine.roles.map((role) => role.name));
  for (const role of Object.keys(config.roles)) {
    if (!known.has(role)) {
      issues.push({
        path: `roles.${role}`,
        message: `engine '${engine.name}' has no role '${role}' (it knows: ${[...known].join(', ')})`,
      });
    }
  }
  for (const role of engine.roles) {
    if (role.required && !config.roles[role.name]) {
      issues.push({ path: `roles.${role.name}`, message: `engine '${engine.name}' requires this role` });
    }
  }
  issues.push(...(engine.validateConfig?.(config) ?? []));
  if (issues.length) throw new ConfigError(issues);
}

/** The default completion rule: every expected node registered in the current generation. */
export function everyNodeRegistered(view: ClusterView): boolean {
  return Object.values(view.nodes).every((node) => node.status !== 'pending' && node.status !== 'failed');
}

/** True when every node of each named role has finished. */
export function rolesFinished(view: ClusterView, roles: readonly string[]): boolean {
  const nodes = Object.values(view.nodes).filter((node) => roles.includes(node.role));
  return nodes.length > 0 && nodes.every((node) => node.status === 'finished');
}

/** True when the given node has finished. */
export function nodeFinished(view: ClusterView, role: string, index: number): boolean {
  return view.nodes[`${role}:${index}`]?.status === 'finished';
}

/** The roles of an engine whose nodes run until stopped. */
export function servingRoles(engine: MLFramework): string[] {
  return engine.roles.filter((role) => role.lifecycle === 'serves').map((role) => role.name);
}

/**
 * MLFrameworks (engines) by name. Registration is explicit and idempotent: registering the same
 * object twice is a no-op; a different engine under a taken name is an error.
 */
export class MLFrameworkRegistry {
  readonly #engines = new Map<string, MLFramework>();

  register(engine: MLFramework): this {
    defineMLFramework(engine);
    const existing = this.#engines.get(engine.name);
    if (existing && existing !== engine) {
      throw new ConfigError(
        [{ path: 'name', message: `an engine named '${engine.name}' is already registered` }],
        {
          subject: 'engine',
        },
      );
    }
    this.#engines.set(engine.name, engine);
    return this;
  }

  get(name: string): MLFramework {
    const engine = this.#engines.get(name);
    if (!engine) {
      const known = [...this.#engines.keys()];
      throw new ConfigError([
        {
          path: 'engine',
          message: `unknown engine '${name}'; registered engines: ${known.length ? known.join(', ') : 'none'}`,
        },
      ]);
    }
    return engine;
  }

  has(name: string): boolean {
    return this.#engines.has(name);
  }

  names(): string[] {
    return [...this.#engines.keys()];
  }
}

/** @deprecated Renamed {@link MLFrameworkRegistry}; this alias goes in the next minor release. */
export const EngineRegistry = MLFrameworkRegistry;
/** @deprecated Renamed {@link MLFrameworkRegistry}; this alias goes in the next minor release. */
export type EngineRegistry = MLFrameworkRegistry;
