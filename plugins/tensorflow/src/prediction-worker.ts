/**
 * A worker of a prediction cluster: reads its partition of the stream batch by batch, pulls the
 * embedding rows each batch uses (and the dense variables once per model version) from the
 * parameter servers, scores the batch and writes one output per input record, in input order.
 *
 * Versions: each batch is scored with the newest version every shard holds, and every row of the
 * batch is pulled for that version, so no batch mixes versions; the version a worker uses only
 * grows. A shard that dies is reconnected (bounded) and the batch asked again; nothing is written
 * before the batch is scored, so a record is scored once.
 */
import {
  CancelledError,
  type ClusterSpec,
  type InputChannel,
  jsonCodec,
  MillraceError,
  MillraceTimeoutError,
} from '@millrace/core';
import { latestModelVersion } from '@millrace/runner-kit';
import { useBackend } from './backend.js';
import { PredictionClient, type ShardFetch } from './prediction-client.js';
import type { PredictionClusterOptions } from './prediction-options.js';
import { type PredictionNodeContext, parameterServerCount } from './prediction-ps.js';
import { ServingModel } from './serving-model.js';
import { planServing, type ServingPlan } from './serving-plan.js';
import { shardOfRow, variableSize } from './sharding.js';
import { tensorflowPortName } from './tf-config.js';
import { importUserModule } from './training-module.js';

/** What a predictor's `module` may export; both hooks are optional. */
export interface PredictionModule {
  /** The model's input row (embedding ids) for a decoded record. Default: `record.features`, or the record when it is an array. */
  features?(record: unknown): ArrayLike<number>;
  /** What is written downstream for a record. Default: `{ id: record.id, prediction, version }`. */
  result?(record: unknown, prediction: number[], version: number | undefined): unknown;
}

export interface PredictionWorkerContext extends PredictionNodeContext {
  input: InputChannel;
  /** The input position this start resumes after. */
  resumePosition: number;
  /** Subscribes to later generations' cluster specs, where a restarted ps may have a new address. */
  onClusterSpec?: ((listener: (spec: ClusterSpec) => void) => void) | undefined;
  /** Writes a batch's outputs downstream; `position` is the input position the batch ends at. */
  write(records: Uint8Array[], position: number): Promise<void>;
}

export interface PredictionWorkerSummary {
  records: number;
  batches: number;
  rowsPulled: number;
  versions: number[];
}

/** A record the worker cannot score: its features are missing or of the wrong length. */
export class PredictionRecordError extends MillraceError {
  constructor(message: string) {
    super('OPERATOR_FAILED', message);
    this.name = 'PredictionRecordError';
  }
}

const versionRetryMs = 50;

export async function runPredictionWorker(
  options: PredictionClusterOptions,
  context: PredictionWorkerContext,
): Promise<PredictionWorkerSummary> {
  const backend = await useBackend(options.backend);
  if (backend !== options.backend)
    context.logger.warn(`TF.js backend ${options.backend} is unavailable; using ${backend}`);
  const module = options.module
    ? await importUserModule<PredictionModule>(options.module, 'tensorflow prediction options')
    : {};
  const shards = parameterServerCount(context.clusterSpec);
  const plan = await planServing(await topologyDirectory(options, context.signal), shards);
  const model = await ServingModel.build(plan, options.batchSize);
  const client = new PredictionClient({
    addresses: parameterServerAddresses(context.clusterSpec),
    worker: context.index,
    fingerprint: plan.fingerprint,
    connectTimeoutMs: options.connectTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs,
    signal: context.signal,
    onReconnect: (shard, reason) =>
      context.logger.warn('reconnecting to a parameter server', { shard, reason }),
  });
  // Subscribed before connecting: a ps may restart at a new address while this worker starts.
  context.onClusterSpec?.((spec) => client.useAddresses(parameterServerAddresses(spec)));
  await client.open();
  const features = module.features ?? defaultFeatures;
  const result = module.result ?? defaultResult;
  const puller = new BatchPuller(plan, client, options.versionTimeoutMs, context.signal);
  const summary: PredictionWorkerSummary = { records: 0, batches: 0, rowsPulled: 0, versions: [] };
  let position = context.resumePosition;
  context.metrics.report({ pid: process.pid, capacity: model.capacity });
  try {
    while (!context.signal.aborted) {
      const encoded = await context.input.readBatch(options.batchSize);
      if (!encoded) break;
      if (encoded.length === 0) continue;
      const records = encoded.map((bytes) => jsonCodec.decode(bytes));
      const ids = new Float32Array(records.length * model.inputLength);
      records.forEach((record, row) => {
        const values = features(record);
        if (values?.length !== model.inputLength) {
          throw new PredictionRecordError(
            `features() gave ${values?.length ?? 'nothing'} values for record ${position + row + 1}; the model takes ${model.inputLength}`,
          );
        }
        ids.set(values, row * model.inputLength);
      });
      const batch = model.remap(ids, records.length, position + 1);
      const pulled = await puller.pull(batch.rows);
      model.useDense(pulled.version, pulled.dense);
      const predictions = model.predict(batch, records.length, pulled.rows);
      const version = options.follow ? pulled.version : undefined;
      const outputs = records.map((record, row) =>
        jsonCodec.encode(
          result(
            record,
            Array.from(predictions.subarray(row * model.outputSize, (row + 1) * model.outputSize)),
            version,
          ),
        ),
      );
      position += records.length;
      await context.write(outputs, position);
      summary.records += records.length;
      summary.batches += 1;
      summary.rowsPulled += batch.rows.length;
      if (summary.versions.at(-1) !== pulled.version) summary.versions.push(pulled.version);
      context.metrics.report({
        records: summary.records,
        batches: summary.batches,
        rows_pulled: summary.rowsPulled,
        version: pulled.version,
      });
    }
  } finally {
    client.close();
    model.dispose();
  }
  return summary;
}

/**
 * Pulls a batch's rows (and a version's dense variables, cached) for the newest version every
 * shard holds, asking again until every shard served the same version.
 */
class BatchPuller {
  readonly #plan: ServingPlan;
  readonly #client: PredictionClient;
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal;
  /** Dense variables by version: the current one and the one before. */
  readonly #dense = new Map<number, Float32Array[]>();
  #lastVersion = Number.NEGATIVE_INFINITY;

  constructor(plan: ServingPlan, client: PredictionClient, timeoutMs: number, signal: AbortSignal) {
    this.#plan = plan;
    this.#client = client;
    this.#timeoutMs = timeoutMs;
    this.#signal = signal;
  }

  async pull(rows: Uint32Array): Promise<{ version: number; dense: Float32Array[]; rows: Float32Array }> {
    const rowsByShard = this.#split(rows);
    const deadline = Date.now() + this.#timeoutMs;
    for (;;) {
      if (this.#signal.aborted) throw new CancelledError('stopped while pulling a batch');
      const version = this.#client.newestCommonVersion();
      // Never go back to an older version, even if a shard that held the newer one was restarted.
      if (version !== undefined && version >= this.#lastVersion) {
        const withDense = !this.#dense.has(version);
        const replies = await this.#client.fetch(version, rowsByShard, withDense);
        if (replies.every((reply) => reply.served)) {
          this.#lastVersion = version;
          return { version, ...this.#assemble(version, replies, withDense, rows.length) };
        }
        continue; // a shard no longer holds it, or was reconnected: pick again from what they said
      }
      if (Date.now() > deadline) {
        throw new MillraceTimeoutError(
          'a model version every parameter server holds',
          this.#timeoutMs,
          `the last version used was ${this.#lastVersion}; are the shards loading the same checkpoint directory?`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, versionRetryMs));
      await this.#client.refresh();
    }
  }

  /** Rows are ascending and shards hold ascending ranges: each shard's rows are one slice. */
  #split(rows: Uint32Array): Uint32Array[] {
    const table = this.#plan.table;
    const byShard: Uint32Array[] = [];
    let start = 0;
    for (let shard = 0; shard < this.#plan.shards; shard++) {
      let end = start;
      while (end < rows.length && table && shardOfRow(table.rows, this.#plan.shards, rows[end]!) === shard)
        end++;
      byShard.push(rows.subarray(start, end));
      start = end;
    }
    return byShard;
  }

  #assemble(
    version: number,
    replies: readonly ShardFetch[],
    withDense: boolean,
    rowCount: number,
  ): { dense: Float32Array[]; rows: Float32Array } {
    const dim = this.#plan.table?.dim ?? 0;
    const rows = new Float32Array(rowCount * dim);
    let rowOffset = 0;
    const dense: Float32Array[] = withDense ? new Array(this.#plan.dense.length) : this.#dense.get(version)!;
    replies.forEach((reply, shard) => {
      let offset = 0;
      if (withDense) {
        for (const index of this.#plan.denseByShard[shard]!) {
          const size = variableSize(this.#plan.dense[index]!.shape);
          dense[index] = reply.values.slice(offset, offset + size);
          offset += size;
        }
      }
      const shardRows = reply.values.subarray(offset);
      rows.set(shardRows, rowOffset);
      rowOffset += shardRows.length;
    });
    if (withDense) {
      this.#dense.set(version, dense);
      for (const old of [...this.#dense.keys()].sort((a, b) => a - b).slice(0, -2)) this.#dense.delete(old);
    }
    return { dense, rows };
  }
}

function parameterServerAddresses(spec: ClusterSpec): string[] {
  return (spec.roles.ps ?? []).map((node) => `${node.host}:${node.ports[tensorflowPortName]}`);
}

/** Where the worker reads the model's topology: the checkpoint, or the newest published version. */
async function topologyDirectory(options: PredictionClusterOptions, signal: AbortSignal): Promise<string> {
  if (options.checkpoint !== undefined) return options.checkpoint;
  const follow = options.follow!;
  const deadline = Date.now() + follow.firstVersionTimeoutMs;
  for (;;) {
    const version = await latestModelVersion(follow.directory);
    if (version) return version.path;
    if (signal.aborted) throw new CancelledError('stopped while waiting for the first model version');
    if (Date.now() > deadline) {
      throw new MillraceTimeoutError(
        'the first model version',
        follow.firstVersionTimeoutMs,
        `nothing was published in ${follow.directory}/versions (is the trainer publishing there?)`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, follow.pollMs));
  }
}

function defaultFeatures(record: unknown): ArrayLike<number> {
  if (Array.isArray(record)) return record as number[];
  return (record as { features?: ArrayLike<number> } | null)?.features ?? [];
}

function defaultResult(record: unknown, prediction: number[], version: number | undefined): unknown {
  const id = (record as { id?: unknown } | null)?.id;
  return { id, prediction, version: version ?? null };
}
