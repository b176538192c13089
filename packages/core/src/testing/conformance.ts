/**
 * The conformance kit: the scenarios every engine must pass, runnable against any engine with any
 * test framework. Core has no I/O, so the target supplies a launcher (`@millrace/runtime` exports
 * one) and runners that behave as each scenario asks; the scenarios drive them and check what a
 * user would see: the outcome, the restarts, the failures and the cluster spec.
 *
 * ```ts
 * for (const scenario of conformanceScenarios(target)) it(scenario.name, scenario.run, scenario.timeoutMs);
 * ```
 */
import type { ClusterConfigInput } from '../config.js';
import { MillraceError } from '../errors.js';
import type { ClusterObservation, JobOutcome } from '../events.js';
import type { MLFramework } from '../ml-framework.js';
import type { Runner } from '../runner.js';

/** How a scripted runner behaves. `fail-first-attempt` fails when its context's attempt is 0. */
export type ScriptedBehaviour = 'succeed' | 'fail' | 'fail-first-attempt' | 'run-until-stopped';

export interface LaunchOptions {
  engine: MLFramework;
  config: ClusterConfigInput;
  runnerFor(node: { role: string; index: number }): Runner;
}

export interface LaunchedCluster {
  /** Settles with the job's outcome; rejects only for a configuration that could not start. */
  readonly result: Promise<JobOutcome>;
  /** Everything observed so far, in order. */
  readonly observations: readonly ClusterObservation[];
  /** Resolves with the first observation matching `predicate`, or rejects after `timeoutMs`. */
  waitFor(
    predicate: (observation: ClusterObservation) => boolean,
    timeoutMs: number,
  ): Promise<ClusterObservation>;
  stop(reason: string): Promise<void>;
}

export type ClusterLauncher = (options: LaunchOptions) => LaunchedCluster;

export interface ConformanceTarget {
  engine: MLFramework;
  /** A layout the engine accepts, instances per role, e.g. `{ worker: 2 }`. */
  roles: Readonly<Record<string, number>>;
  /** A runner for `node` that behaves as asked. */
  runner(behaviour: ScriptedBehaviour, node: { role: string; index: number }): Runner;
  launch: ClusterLauncher;
  /** Bound for one scenario; raise it for engines whose runners start slowly (Python). */
  timeoutMs?: number;
  /** Extra cluster config (engineOptions, checkpointDirectory...). */
  config?: Partial<ClusterConfigInput>;
}

export interface ConformanceScenario {
  name: string;
  timeoutMs: number;
  run(): Promise<void>;
}

class ConformanceFailure extends Error {
  override name = 'ConformanceFailure';
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ConformanceFailure(message);
}

function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ConformanceFailure(`${what} did not happen within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function conformanceScenarios(target: ConformanceTarget): ConformanceScenario[] {
  const { engine } = target;
  const timeoutMs = target.timeoutMs ?? 30_000;
  const serving = new Set(
    engine.roles.filter((role) => role.lifecycle === 'serves').map((role) => role.name),
  );
  const finishing = Object.keys(target.roles).filter((role) => !serving.has(role));
  check(finishing.length > 0, `target.roles needs at least one role that finishes on its own`);
  // The node whose fate decides the job for every engine rule we know ("chief/worker 0 finished"
  // as much as "every worker finished"): the first instance of the first finishing role.
  const keyRole =
    engine.roles.map((role) => role.name).find((name) => finishing.includes(name)) ?? finishing[0]!;

  const config = (overrides: Partial<ClusterConfigInput> = {}): ClusterConfigInput => ({
    name: `conformance-${engine.name}`,
    engine: engine.name,
    roles: Object.fromEntries(Object.entries(target.roles).map(([role, instances]) => [role, { instances }])),
    restartBackoff: { initialMs: 10, maxMs: 100 },
    ...target.config,
    ...overrides,
  });

  const launch = (
    behaviourFor: (node: { role: string; index: number }) => ScriptedBehaviour,
    overrides?: Partial<ClusterConfigInput>,
  ) =>
    target.launch({
      engine,
      config: config(overrides),
      runnerFor: (node) => target.runner(behaviourFor(node), node),
    });

  const defaultBehaviour = (node: { role: string }): ScriptedBehaviour =>
    serving.has(node.role) ? 'run-until-stopped' : 'succeed';

  const scenario = (name: string, run: () => Promise<void>): ConformanceScenario => ({
    name: `${engine.name}: ${name}`,
    timeoutMs: timeoutMs + 5_000,
    run,
  });

  return [
    scenario('forms a cluster: every node gets one spec with every role and its ports', async () => {
      const cluster = launch(defaultBehaviour);
      const ready = await within(
        cluster.waitFor((o) => o.type === 'cluster-ready', timeoutMs),
        timeoutMs,
        'cluster-ready',
      );
      check(ready.type === 'cluster-ready', 'expected a cluster-ready observation');
      for (const [role, instances] of Object.entries(target.roles)) {
        const nodes = ready.spec.roles[role] ?? [];
        check(
          nodes.length === instances,
          `spec lists ${nodes.length} ${role} node(s), expected ${instances}`,
        );
        const ports = engine.roles.find((r) => r.name === role)?.ports ?? [];
        nodes.forEach((node, index) => {
          check(node.index === index, `spec ${role} nodes are out of order at ${index}`);
          for (const port of ports) {
            const value = node.ports[port];
            check(typeof value === 'number' && value > 0, `${role}[${index}] did not publish port '${port}'`);
          }
          const environment = engine.nodeEnvironment({
            role,
            index,
            attempt: 0,
            clusterSpec: ready.spec,
            checkpointDirectory: '/tmp/conformance',
          });
          check(typeof environment === 'object', `nodeEnvironment(${role}, ${index}) returned no object`);
        });
      }
      const outcome = await within(cluster.result, timeoutMs, 'the job to finish');
      check(
        outcome.status === 'succeeded',
        `expected the job to succeed, got ${outcome.status}: ${outcome.reason}`,
      );
    }),

    scenario('finishes: runners that succeed end the job with success and no restarts', async () => {
      const cluster = launch(defaultBehaviour);
      const outcome = await within(cluster.result, timeoutMs, 'the job to finish');
      check(outcome.status === 'succeeded', `expected succeeded, got ${outcome.status}: ${outcome.reason}`);
      check(outcome.restarts === 0, `expected 0 restarts, got ${outcome.restarts}`);
      check(outcome.failures.length === 0, `expected no failures, got ${outcome.failures.length}`);
    }),

    scenario('fails over: a node that fails once is restarted and the job still succeeds', async () => {
      const cluster = launch((node) =>
        node.role === keyRole && node.index === 0 ? 'fail-first-attempt' : defaultBehaviour(node),
      );
      const outcome = await within(cluster.result, timeoutMs, 'the job to finish after a failover');
      check(
        outcome.status === 'succeeded',
        `expected succeeded after failover, got ${outcome.status}: ${outcome.reason}`,
      );
      check(outcome.restarts >= 1, `expected at least one restart, got ${outcome.restarts}`);
      check(outcome.generation >= 1, `expected the generation to grow, got ${outcome.generation}`);
      const failure = outcome.failures.find((f) => f.role === keyRole && f.index === 0);
      check(failure !== undefined, `expected the failure of ${keyRole}[0] to be recorded`);
      check(
        cluster.observations.some((o) => o.type === 'generation-started'),
        'expected a generation-started observation',
      );
    }),

    scenario('respects maxRestarts: a node that always fails fails the job, naming the node', async () => {
      const maxRestarts = 1;
      const cluster = launch(
        (node) => (node.role === keyRole && node.index === 0 ? 'fail' : defaultBehaviour(node)),
        { maxRestarts },
      );
      const outcome = await within(cluster.result, timeoutMs, 'the job to fail');
      check(outcome.status === 'failed', `expected failed, got ${outcome.status}: ${outcome.reason}`);
      check(
        outcome.restarts <= maxRestarts,
        `restarted ${outcome.restarts} times, maxRestarts is ${maxRestarts}`,
      );
      check(MillraceError.isInstance(outcome.error), 'a failed job must carry a MillraceError');
      check(
        outcome.error.message.includes(`${keyRole}[0]`),
        `the job error must name ${keyRole}[0]; it says: ${outcome.error.message}`,
      );
    }),

    scenario('stops cleanly: stopping a running job ends every node and reports stopped', async () => {
      const cluster = launch(() => 'run-until-stopped');
      await within(
        cluster.waitFor((o) => o.type === 'cluster-ready', timeoutMs),
        timeoutMs,
        'cluster-ready',
      );
      await within(cluster.stop('conformance stop'), timeoutMs, 'stop() to return');
      const outcome = await within(cluster.result, timeoutMs, 'the job to end after stop');
      check(outcome.status === 'stopped', `expected stopped, got ${outcome.status}: ${outcome.reason}`);
    }),
  ];
}
