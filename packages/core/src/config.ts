import { z } from 'zod';
import { ConfigError, type ConfigIssue } from './errors.js';

const positiveInteger = z.number().int().positive();
const nonNegativeInteger = z.number().int().min(0);
const roleName = z
  .string()
  .regex(/^[a-z][a-z0-9-]*$/, 'role names are lower-case letters, digits and dashes, starting with a letter');

export const roleConfigSchema = z.object({
  /** How many instances (nodes) of this role the cluster has. */
  instances: positiveInteger,
  /**
   * A runner of this role that makes no progress (no metric reported, no record consumed) for
   * this long is declared stalled: a node failure with reason `stalled`. Overrides the cluster's
   * `stallTimeoutMs` and the engine's default for the role.
   */
  stallTimeoutMs: positiveInteger.optional(),
});

export const heartbeatConfigSchema = z.object({
  /** How often a node agent sends a heartbeat. */
  intervalMs: positiveInteger.default(500),
  /** How many intervals may pass without a heartbeat before a node is declared dead. */
  missedLimit: positiveInteger.default(3),
});

export const restartBackoffSchema = z.object({
  /** Delay before the first restart. */
  initialMs: nonNegativeInteger.default(100),
  /** Upper bound of the delay; it doubles at each restart until it gets here. */
  maxMs: nonNegativeInteger.default(5_000),
});

export const clusterConfigSchema = z
  .object({
    /** Names the job in logs, checkpoints and the cluster spec. */
    name: z.string().min(1).default('millrace-job'),
    /** The engine that runs this cluster, by registered name (e.g. `pytorch`, `tensorflow`). */
    engine: z.string().min(1),
    /** Instances per role, e.g. `{ worker: { instances: 2 }, ps: { instances: 1 } }`. */
    roles: z.record(roleName, roleConfigSchema).refine((roles) => Object.keys(roles).length > 0, {
      message: 'at least one role is required',
    }),
    /** How many times the cluster may restart after failures before the job fails. */
    maxRestarts: nonNegativeInteger.default(3),
    restartBackoff: restartBackoffSchema.default({ initialMs: 100, maxMs: 5_000 }),
    heartbeat: heartbeatConfigSchema.default({ intervalMs: 500, missedLimit: 3 }),
    /**
     * Stall detection for every role that finishes on its own (serving roles only when their role
     * config sets it): no metric and no record consumed for this long is a node failure, `stalled`.
     * Off when neither this, the role config nor the engine sets it.
     */
    stallTimeoutMs: positiveInteger.optional(),
    /** How long the AM waits for every expected node to register. */
    registrationTimeoutMs: positiveInteger.default(60_000),
    /** How long a runner gets to stop after SIGTERM before it is killed. */
    stopGracePeriodMs: nonNegativeInteger.default(5_000),
    /** Address the AM binds; loopback unless told otherwise. */
    host: z.string().min(1).default('127.0.0.1'),
    /** Where checkpoints go; a directory under the system temp dir when omitted. */
    checkpointDirectory: z.string().min(1).optional(),
    /** Settings the engine validates itself (see `MLFramework.validateConfig`). */
    engineOptions: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export type ClusterConfigInput = z.input<typeof clusterConfigSchema>;
export type ClusterConfig = z.output<typeof clusterConfigSchema>;

/** Turns zod's issues into Millrace's: a dotted path and a sentence a user can act on. */
export function toConfigIssues(error: z.ZodError): ConfigIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: describeIssue(issue),
  }));
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'too_small' && issue.origin === 'number') {
    const zeroAllowed = issue.inclusive && Number(issue.minimum) === 0;
    return zeroAllowed ? 'must be zero or a positive integer' : 'must be a positive integer';
  }
  if (issue.code === 'invalid_type') return `must be ${issue.expected}`;
  if (issue.code === 'unrecognized_keys')
    return `unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
  return issue.message;
}

/**
 * Validates a cluster config and fills defaults. Throws a {@link ConfigError} that names every
 * bad field, e.g. `config.roles.worker.instances: must be a positive integer`.
 */
export function parseClusterConfig(input: unknown): ClusterConfig {
  const parsed = clusterConfigSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(toConfigIssues(parsed.error));
  return parsed.data;
}

/** Validates arbitrary input against a zod schema, throwing a ConfigError named after `subject`. */
export function parseWithSchema<S extends z.ZodType>(
  schema: S,
  input: unknown,
  subject: string,
): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new ConfigError(toConfigIssues(parsed.error), { subject });
  return parsed.data;
}

/** Total number of nodes the config asks for. */
export function expectedNodeCount(config: Pick<ClusterConfig, 'roles'>): number {
  return Object.values(config.roles).reduce((sum, role) => sum + role.instances, 0);
}

/**
 * The stall timeout for one role, or undefined when stall detection is off for it: the role's own
 * setting, else (for roles that finish) the cluster's, else the engine's default for the role.
 * Serving roles idle legitimately, so only their own role setting turns detection on.
 */
export function stallTimeoutFor(
  config: Pick<ClusterConfig, 'roles' | 'stallTimeoutMs'>,
  role: { name: string; lifecycle: 'finishes' | 'serves'; stallTimeoutMs?: number | undefined } | undefined,
  roleName: string,
): number | undefined {
  const own = config.roles[roleName]?.stallTimeoutMs;
  if (own !== undefined) return own;
  if (role?.lifecycle === 'serves') return undefined;
  return config.stallTimeoutMs ?? role?.stallTimeoutMs;
}
