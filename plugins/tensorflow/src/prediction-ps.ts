/**
 * A parameter server of a prediction cluster, whatever process hosts it: loads its share of the
 * checkpoint (or of the newest published version), serves it until stopped and, when following,
 * loads each new version the trainer publishes and serves it beside the one before.
 *
 * Versions are read with runner-kit's `ModelFollower`, the reader `predictWithTensorflow({ follow })`
 * uses. A restarted shard (after a kill) starts from the checkpoint, or from the newest version.
 */
import type { ClusterSpec, Logger, MetricsReporter } from '@millrace/core';
import { ConfigError } from '@millrace/core';
import { ModelFollower } from '@millrace/runner-kit';
import { untilAborted } from './node-process.js';
import type { PredictionClusterOptions } from './prediction-options.js';
import { PredictionShardServer } from './prediction-shard.js';
import { planServing, type ServingPlan } from './serving-plan.js';
import { loadServingShard, type ServingShard } from './serving-shard.js';
import { tensorflowPortName } from './tf-config.js';

export interface PredictionNodeContext {
  role: string;
  index: number;
  clusterSpec: ClusterSpec;
  metrics: MetricsReporter;
  logger: Logger;
  signal: AbortSignal;
}

interface LoadedShard {
  plan: ServingPlan;
  shard: ServingShard;
}

/** The version number a fixed `checkpoint` is served as (published versions count from 1). */
export const checkpointVersion = 0;

export function parameterServerCount(spec: ClusterSpec): number {
  const count = spec.roles.ps?.length ?? 0;
  if (count === 0) {
    throw new ConfigError(
      [{ path: 'roles.ps', message: 'a prediction cluster needs at least one ps node' }],
      {
        subject: 'tensorflow prediction',
      },
    );
  }
  return count;
}

export async function servePredictionShard(
  options: PredictionClusterOptions,
  context: PredictionNodeContext,
): Promise<void> {
  const shards = parameterServerCount(context.clusterSpec);
  const load = async (directory: string): Promise<LoadedShard> => {
    const plan = await planServing(directory, shards);
    return { plan, shard: loadServingShard(plan, context.index) };
  };
  let follower: ModelFollower<LoadedShard> | undefined;
  let first: { version: number; loaded: LoadedShard };
  if (options.checkpoint !== undefined) {
    first = { version: checkpointVersion, loaded: await load(options.checkpoint) };
  } else {
    const follow = options.follow!;
    follower = new ModelFollower<LoadedShard>({
      directory: follow.directory,
      pollMs: follow.pollMs,
      load: (version) => load(version.path),
      incompatibility: (candidate, serving) =>
        candidate.plan.fingerprint === serving.plan.fingerprint
          ? undefined
          : `its variables are ${candidate.plan.fingerprint}; the cluster serves ${serving.plan.fingerprint}`,
      dispose: () => {},
      logger: context.logger,
    });
    follower.start();
    await follower.waitForReady(follow.firstVersionTimeoutMs, context.signal);
    const taken = follower.take();
    if (!taken) {
      await follower.close();
      return; // stopped while waiting
    }
    first = { version: taken.version!.version, loaded: taken.model };
  }
  const { plan, shard } = first.loaded;
  const server = new PredictionShardServer({
    shard: context.index,
    fingerprint: plan.fingerprint,
    dim: plan.table?.dim ?? 0,
  });
  server.addVersion(first.version, shard);
  const self = context.clusterSpec.roles.ps![context.index]!;
  const port = await server.listen(self.ports[tensorflowPortName]!, self.host);
  const report = (version: number) =>
    context.metrics.report({
      pid: process.pid,
      version,
      row_start: shard.rowStart,
      row_end: shard.rowEnd,
      rows_held: shard.rowEnd - shard.rowStart,
      table_rows: plan.table?.rows ?? 0,
      bytes_held: server.bytesHeld,
      rows_served: server.rowsServed,
    });
  context.logger.info('prediction shard serving', {
    port,
    version: first.version,
    rows: `${shard.rowStart} … ${shard.rowEnd - 1}`,
    bytes: server.bytesHeld,
  });
  let version = first.version;
  report(version);
  // Each turn takes the version the follower has ready, if any: a new one joins the one before.
  const timer = setInterval(() => {
    const taken = follower?.take();
    if (taken) {
      version = taken.version!.version;
      server.addVersion(version, taken.model.shard);
      context.logger.info('prediction shard moved to a new version', { version, held: server.held() });
    }
    report(version);
  }, options.follow?.pollMs ?? 1_000);
  try {
    await untilAborted(context.signal);
  } finally {
    clearInterval(timer);
    await follower?.close();
    await server.close();
  }
}
