/**
 * Runs a whole cluster on this machine: one ApplicationManager and one NodeAgent per role
 * instance, all in this process, every agent talking to the AM through real gRPC on loopback (the
 * same path a remote node takes). Implements core's `ClusterLauncher`, so the conformance kit runs
 * against it. Runners that are processes run in their own process groups; the result settles only
 * after every agent left and every runner is gone.
 */
import { rmSync } from 'node:fs';
import {
  type ClusterObservation,
  ConfigError,
  type InputChannel,
  type JobOutcome,
  type Logger,
  MillraceTimeoutError,
  type OutputChannel,
} from '@millrace/core';
import type { LaunchedCluster, LaunchOptions } from '@millrace/core/testing';
import { processHosts } from '@millrace/dataflow';
import { ApplicationManager } from './application-manager.js';
import { silentLogger } from './logger.js';
import { NodeAgent, type NodeAgentEvent } from './node-agent.js';
import { createJobTemporaryDirectory } from './private-directory.js';

export interface LocalClusterOptions extends LaunchOptions {
  /** Channels for stream-mode roles, per node; they persist across the node's attempts. */
  channelsFor?(node: { role: string; index: number }): { input?: InputChannel; output?: OutputChannel };
  /**
   * Shared by every node, survives restarts. Default: `config.checkpointDirectory`, else a fresh
   * temporary directory that is removed when the cluster ends.
   */
  checkpointDirectory?: string | undefined;
  /** Port of the AM; 0 (default) picks a free one. */
  port?: number | undefined;
  /** Job token; random when absent. */
  token?: string | undefined;
  logger?: Logger | undefined;
  /** Each node agent's life steps, for progress displays. */
  onNodeEvent?(node: { role: string; index: number }, event: NodeAgentEvent): void;
}

export interface LocalCluster extends LaunchedCluster {
  /** Resolves once the AM listens (rejects, like `result`, when the config is invalid). */
  readonly applicationManager: Promise<ApplicationManager>;
}

export function launchLocalCluster(options: LocalClusterOptions): LocalCluster {
  const hosts = processHosts();
  if (hosts.count > 1) {
    // Run whole on each host, the job would do its work once per host.
    throw new ConfigError(
      [
        {
          path: 'hosts',
          message: `launchLocalCluster runs the whole cluster on this machine, so on ${hosts.count} hosts it would run ${hosts.count} times: put the cluster in a dataflow job (addAMRole and addRole place its instances on the hosts; docs/multi-host.md), or run it on one host`,
        },
      ],
      { subject: 'launchLocalCluster' },
    );
  }
  const logger = options.logger ?? silentLogger;
  const observations: ClusterObservation[] = [];
  const waiters = new Set<(observation: ClusterObservation) => void>();
  let stopRequested: string | undefined;

  const applicationManager = ApplicationManager.start({
    config: options.config,
    engine: options.engine,
    port: options.port,
    token: options.token,
    logger,
  });

  const result = applicationManager.then(async (am) => {
    am.onObservation((observation) => {
      observations.push(observation);
      for (const waiter of [...waiters]) waiter(observation);
    });
    const configured = options.checkpointDirectory ?? am.config.checkpointDirectory;
    const checkpointDirectory = configured ?? createJobTemporaryDirectory(am.config.name);
    try {
      if (stopRequested !== undefined) void am.stop(stopRequested);
      const agents: Promise<unknown>[] = [];
      for (const [role, { instances }] of Object.entries(am.config.roles)) {
        for (let index = 0; index < instances; index++) {
          const node = { role, index };
          const channels = options.channelsFor?.(node) ?? {};
          const agent = new NodeAgent({
            address: am.address,
            token: am.token,
            fingerprint: am.fingerprint,
            role,
            index,
            engine: am.engine,
            runner: options.runnerFor(node),
            input: channels.input,
            output: channels.output,
            checkpointDirectory,
            logger,
            // The AM owns the registration bound; the agent's is a backstop.
            specTimeoutMs: am.config.registrationTimeoutMs * (am.config.maxRestarts + 2),
            onEvent: options.onNodeEvent ? (event) => options.onNodeEvent!(node, event) : undefined,
          });
          agents.push(
            agent.run().catch((error: Error) => {
              logger.error(`${role}[${index}] agent failed: ${error.message}`);
              am.reportNodeFailure({
                role,
                index,
                reason: 'error',
                message: `node agent failed: ${error.message}`,
              });
            }),
          );
        }
      }
      const outcome = await am.result;
      // Agents leave once the AM told them to stop; their runners are bounded by the grace period.
      await Promise.all(agents);
      return outcome;
    } finally {
      await am.close();
      if (!configured) rmSync(checkpointDirectory, { recursive: true, force: true });
    }
  });

  const waitFor = (predicate: (observation: ClusterObservation) => boolean, timeoutMs: number) =>
    new Promise<ClusterObservation>((resolve, reject) => {
      const seen = observations.find(predicate);
      if (seen) {
        resolve(seen);
        return;
      }
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new MillraceTimeoutError('a cluster observation', timeoutMs));
      }, timeoutMs);
      const waiter = (observation: ClusterObservation) => {
        if (!predicate(observation)) return;
        clearTimeout(timer);
        waiters.delete(waiter);
        resolve(observation);
      };
      waiters.add(waiter);
      result.catch((error) => {
        clearTimeout(timer);
        waiters.delete(waiter);
        reject(error);
      });
    });

  return {
    result,
    applicationManager,
    get observations() {
      return observations;
    },
    waitFor,
    async stop(reason: string) {
      stopRequested = reason;
      const am = await applicationManager.catch(() => undefined);
      if (!am) return;
      await am.stop(reason);
      await result.catch(() => {});
    },
  } satisfies LocalCluster & { result: Promise<JobOutcome> };
}
