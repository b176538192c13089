/**
 * The environment `torchrun` gives each worker, rebuilt from a Millrace cluster spec, so that a
 * script written for torchrun (`init_process_group('gloo')` with the default `env://` rendezvous)
 * runs unmodified. Ranks: the optional `master` node is rank 0 and workers follow; without a master,
 * worker 0 is rank 0 and hosts the rendezvous (the "master folded into worker 0" layout).
 */
import { type ClusterSpec, ConfigError, type NodeEnvironmentInput, type NodeSpec } from '@millrace/core';
import type { PytorchEngineSettings } from './settings.js';
import { interfaceHolding } from './socket-interface.js';

export const workerRole = 'worker';
export const masterRole = 'master';
/** The named port the rank-0 node reserves for torch.distributed's TCP store. */
export const rendezvousPort = 'rendezvous';

/** Nodes in rank order: the master (when configured) then the workers by index. */
export function nodesInRankOrder(spec: ClusterSpec): NodeSpec[] {
  return [...(spec.roles[masterRole] ?? []), ...(spec.roles[workerRole] ?? [])];
}

/** The global rank of a node, or -1 when the spec does not list it. */
export function rankOf(spec: ClusterSpec, role: string, index: number): number {
  return nodesInRankOrder(spec).findIndex((node) => node.role === role && node.index === index);
}

export function torchrunEnvironment(
  input: NodeEnvironmentInput,
  settings: Pick<PytorchEngineSettings, 'backend' | 'threadsPerWorker'>,
): Record<string, string> {
  const { clusterSpec: spec, role, index } = input;
  const nodes = nodesInRankOrder(spec);
  const rank = rankOf(spec, role, index);
  if (rank < 0) {
    throw new ConfigError(
      [
        {
          path: `roles.${role}`,
          message: `node ${role}[${index}] is not in the cluster spec of generation ${spec.generation}`,
        },
      ],
      { subject: 'pytorch cluster spec' },
    );
  }
  const master = nodes[0]!;
  const masterPort = master.ports[rendezvousPort];
  if (masterPort === undefined) {
    throw new ConfigError(
      [
        {
          path: `roles.${master.role}.${master.index}.ports.${rendezvousPort}`,
          message: `rank 0 (${master.role}[${master.index}]) published no '${rendezvousPort}' port; its node agent must reserve it`,
        },
      ],
      { subject: 'pytorch cluster spec' },
    );
  }
  // torchrun's "groups" are hosts (one agent per host): ranks on the same host share a group.
  const hosts = [...new Set(nodes.map((node) => node.host))];
  const self = nodes[rank]!;
  const sameHost = nodes.filter((node) => node.host === self.host);
  const environment: Record<string, string> = {
    RANK: String(rank),
    WORLD_SIZE: String(nodes.length),
    LOCAL_RANK: String(sameHost.indexOf(self)),
    LOCAL_WORLD_SIZE: String(sameHost.length),
    GROUP_RANK: String(hosts.indexOf(self.host)),
    GROUP_WORLD_SIZE: String(hosts.length),
    ROLE_RANK: String(rank),
    ROLE_WORLD_SIZE: String(nodes.length),
    ROLE_NAME: role,
    MASTER_ADDR: master.host,
    MASTER_PORT: String(masterPort),
    TORCHELASTIC_RESTART_COUNT: String(input.attempt),
    TORCHELASTIC_RUN_ID: spec.jobName,
    MILLRACE_JOB_NAME: spec.jobName,
    MILLRACE_ROLE: role,
    MILLRACE_INDEX: String(index),
    MILLRACE_GENERATION: String(spec.generation),
    MILLRACE_ATTEMPT: String(input.attempt),
    MILLRACE_CHECKPOINT_DIR: input.checkpointDirectory,
    MILLRACE_TORCH_BACKEND: settings.backend,
  };
  if (settings.threadsPerWorker > 0) environment.OMP_NUM_THREADS = String(settings.threadsPerWorker);
  // Collectives go out on the interface this node advertised (socket-interface.ts says why).
  const socketInterface = interfaceHolding(self.host);
  if (socketInterface !== undefined) {
    environment.GLOO_SOCKET_IFNAME = socketInterface;
    environment.TP_SOCKET_IFNAME = socketInterface;
  }
  return environment;
}
