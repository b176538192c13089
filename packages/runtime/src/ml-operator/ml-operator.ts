/**
 * The ML operator: an ML cluster inside a dataflow job (the seed's addAMRole / addRole).
 *
 * `addAMRole(job, config, { engine })` adds the application manager as a parallelism-1 source
 * that emits nothing: it starts the AM (gRPC on loopback), forwards its ClusterObservations to
 * `job.onEvent`, ends when the engine's job-finished rule says the cluster is done, and fails the
 * job with the AM's error (a JobFailedError naming each failed node) when the cluster fails.
 *
 * `addRole(job, role, { instances, input?, runner, codec? })` adds a role whose parallelism is
 * its instance count; subtask i runs NodeAgent i, which registers with the AM and starts the
 * runner. With `input` the role is stream-mode: every record subtask i receives is encoded with
 * the codec and handed to runner i's input channel (bounded: a slow runner slows the pipeline);
 * without it the role is a source and the runner reads its own data. Either way the role returns
 * a DataStream of what the runners write to their output channel, decoded with the codec.
 *
 * Lifecycle: a stream-mode subtask closes its runner's input when its own input ends, then waits
 * for its node to be stopped by the AM (the job-finished rule decides; serving roles such as a
 * parameter server are stopped, not waited for). Cancelling the job stops the AM, every agent and
 * every runner process.
 *
 * Replay (`replay`, on by default for runners that acknowledge checkpoints): each stream-mode
 * subtask numbers its records (positions 1, 2, …) and keeps those handed to its runner until the
 * runner acknowledges a checkpoint covering them (`context.checkpointed(position)`); a restarted
 * runner receives exactly the records after its last acknowledged checkpoint, in order, then the
 * rest (replay-input.ts). With replay off, what a stopped runner had read is not replayed. Either
 * way a subtask whose records did not all reach a runner fails the job (RecordsLostError) instead
 * of reporting success, and `onInputCheckpoint(job, listener)` tells in-process listeners (broker
 * sources) which positions a checkpoint covers.
 */
import { rmSync } from 'node:fs';
import {
  type AddAMRoleOptions,
  CancelledError,
  type ClusterConfigInput,
  type Codec,
  ConfigError,
  type AddRoleOptions as CoreAddRoleOptions,
  type DataflowHost,
  type InputCheckpointAcknowledged,
  type InputCheckpointListener,
  type Logger,
  type MLCluster,
  type MLOperator,
  parseClusterConfig,
  RecordsLostError,
  type ReplayOptions,
  type Runner,
  validateConfigForEngine,
} from '@millrace/core';
import { type DataStream, type Job, KeyedStream, type Output, type SubtaskContext } from '@millrace/dataflow';
import { ApplicationManager } from '../application-manager.js';
import { silentLogger } from '../logger.js';
import { NodeAgent } from '../node-agent.js';
import { createJobTemporaryDirectory } from '../private-directory.js';
import { roleJsonCodec } from './json-codec.js';
import { queueOutputChannel, RecordQueue } from './record-queue.js';
import { ReplayInput } from './replay-input.js';

// Re-exported so users of the embedded dataflow import everything from @millrace/runtime.
export type { AddAMRoleOptions, MLCluster, ReplayOptions };

/** Where role subtasks find the running AM of the current job attempt. */
interface ClusterEndpoint {
  address: string;
  token: string;
  /** The AM's certificate fingerprint when it serves TLS. */
  fingerprint: string | undefined;
  checkpointDirectory: string;
}

interface ClusterState extends MLCluster {
  readonly job: Job;
  readonly roles: Map<string, number>;
  readonly logger: Logger;
  /** Per job attempt: replaced when the AM's subtask is created. */
  endpoint: Deferred<ClusterEndpoint>;
}

/** The embedded dataflow (`@millrace/dataflow`) as core's {@link DataflowHost}. */
export interface EmbeddedDataflow extends DataflowHost {
  readonly job: Job;
  readonly stream: DataStream<this['item']>;
}

/** Options of {@link addRole} for the embedded dataflow. */
export type AddRoleOptions<In, Out> = CoreAddRoleOptions<In, Out, EmbeddedDataflow>;

const clusters = new WeakMap<Job, ClusterState[]>();
const checkpointListeners = new WeakMap<Job, Set<InputCheckpointListener>>();

/**
 * Subscribes to the checkpoint acknowledgements of every stream-mode role of `job`: each call says
 * that input positions `previous + 1` … `position` of one role subtask are in a checkpoint and will
 * never be replayed, with those records. A broker source acknowledges its entries upstream (XACK,
 * a JetStream ack) only then. Listeners run synchronously on the acknowledgement and must not
 * throw (an error is logged and ignored). Returns the unsubscribe function.
 */
export function onInputCheckpoint(job: Job, listener: InputCheckpointListener): () => void {
  let listeners = checkpointListeners.get(job);
  if (!listeners) {
    listeners = new Set();
    checkpointListeners.set(job, listeners);
  }
  listeners.add(listener);
  const registered = listeners;
  return () => registered.delete(listener);
}
const stateOf = new WeakMap<MLCluster, ClusterState>();

export function addAMRole(job: Job, config: ClusterConfigInput, options: AddAMRoleOptions): MLCluster {
  const parsed = parseClusterConfig(config);
  if (!options?.engine) {
    throw new ConfigError(
      [{ path: 'engine', message: 'addAMRole needs { engine }: the engine object the cluster runs' }],
      {
        subject: 'addAMRole options',
      },
    );
  }
  validateConfigForEngine(options.engine, parsed);
  const state: ClusterState = {
    name: parsed.name,
    config: parsed,
    engine: options.engine,
    job,
    roles: new Map(),
    logger: options.logger ?? silentLogger,
    endpoint: deferred(),
  };
  const list = clusters.get(job) ?? [];
  list.push(state);
  clusters.set(job, list);

  job.source<never>(
    () => {
      state.endpoint = deferred();
      let am: ApplicationManager | undefined;
      let temporaryDirectory: string | undefined;
      return {
        open() {
          const missing = Object.keys(parsed.roles).filter((role) => !state.roles.has(role));
          if (missing.length > 0) {
            const error = new ConfigError(
              missing.map((role) => ({
                path: `roles.${role}`,
                message: `is in the cluster config but the job has no addRole(job, '${role}', …)`,
              })),
              { subject: `cluster '${parsed.name}'` },
            );
            state.endpoint.reject(error); // roles waiting to join fail with the same reason
            throw error;
          }
        },
        async run(context) {
          try {
            am = await ApplicationManager.start({
              config: parsed,
              engine: options.engine,
              logger: state.logger,
            });
          } catch (error) {
            state.endpoint.reject(error); // roles waiting to join fail with the same reason
            throw error;
          }
          const unsubscribe = am.onObservation((observation) => context.publishObservation(observation));
          for (const observation of am.observations) context.publishObservation(observation);
          temporaryDirectory = parsed.checkpointDirectory
            ? undefined
            : createJobTemporaryDirectory(parsed.name);
          const started = am;
          state.endpoint.resolve({
            address: started.address,
            token: started.token,
            fingerprint: started.fingerprint,
            checkpointDirectory: parsed.checkpointDirectory ?? temporaryDirectory!,
          });
          const onAbort = () => void started.stop('the dataflow job was cancelled');
          context.signal.addEventListener('abort', onAbort, { once: true });
          try {
            const outcome = await started.result;
            if (outcome.status === 'failed') throw outcome.error ?? new Error(outcome.reason);
          } finally {
            context.signal.removeEventListener('abort', onAbort);
            unsubscribe();
          }
        },
        async close() {
          state.endpoint.reject(
            new CancelledError(`cluster '${parsed.name}' ended before the node could join`),
          );
          await am?.close();
          if (temporaryDirectory) rmSync(temporaryDirectory, { recursive: true, force: true });
        },
      };
    },
    // One AM per cluster whatever the job's default parallelism: a second would wait for nodes forever.
    { name: options.name ?? `${parsed.name}-am`, parallelism: 1 },
  );
  const handle: MLCluster = { name: state.name, config: state.config, engine: state.engine };
  stateOf.set(handle, state);
  return handle;
}

export function addRole<In = unknown, Out = unknown>(
  job: Job,
  role: string,
  options: AddRoleOptions<In, Out>,
): DataStream<Out> {
  const cluster = findCluster(job, options.cluster);
  const configured = cluster.config.roles[role]?.instances;
  const issues: { path: string; message: string }[] = [];
  if (configured === undefined) {
    issues.push({
      path: 'role',
      message: `'${role}' is not a role of cluster '${cluster.name}' (it has: ${Object.keys(cluster.config.roles).join(', ')})`,
    });
  } else if (options.instances !== configured) {
    issues.push({
      path: 'instances',
      message: `is ${options.instances} but the cluster config gives '${role}' ${configured}`,
    });
  }
  if (cluster.roles.has(role))
    issues.push({ path: 'role', message: `'${role}' was already added to cluster '${cluster.name}'` });
  if (!options.runner || typeof options.runner.start !== 'function') {
    issues.push({
      path: 'runner',
      message: 'must be a Runner (e.g. streamProcessRunner({ command, args }))',
    });
  }
  if (options.input !== undefined && options.input.job !== job) {
    issues.push({ path: 'input', message: 'belongs to another job' });
  }
  if (issues.length) throw new ConfigError(issues, { subject: `addRole '${role}'` });
  cluster.roles.set(role, options.instances);

  const codec = (options.codec ?? roleJsonCodec) as Codec<unknown>;
  const name = options.name ?? `${cluster.name}-${role}`;
  const capacity = options.queueCapacity ?? 4096;
  const replay = options.replay ?? options.runner.acknowledgesCheckpoints === true;
  const node = (subtaskIndex: number) =>
    new RoleNode({
      cluster,
      role,
      name,
      index: subtaskIndex,
      runner: options.runner,
      codec,
      capacity,
      replay,
      onInputCheckpoint: options.onInputCheckpoint,
    });

  if (options.input === undefined) {
    return job.source<Out>(
      ({ subtaskIndex }) => {
        const member = node(subtaskIndex);
        return {
          open: (context) => member.open(context as SubtaskContext<unknown>, false),
          run: () => member.untilLeft(),
          close: () => member.close(),
        };
      },
      { name, parallelism: options.instances },
    );
  }
  // Keyed input keeps its key partitioning (all records of a key reach one node); any other input
  // is spread over the nodes batch by batch.
  const input = options.input instanceof KeyedStream ? options.input : options.input.rebalance();
  return input.transform<Out>(
    ({ subtaskIndex }) => {
      const member = node(subtaskIndex);
      return {
        open: (context) => member.open(context as SubtaskContext<unknown>, true),
        processBatch: (batch) => member.send(batch),
        finish: async () => {
          member.endInput();
          await member.untilLeft();
          member.checkRecordCount();
        },
        close: () => member.close(),
      };
    },
    { name, parallelism: options.instances },
  );
}

function findCluster(job: Job, given: MLCluster | undefined): ClusterState {
  if (given !== undefined) {
    const state = stateOf.get(given);
    if (!state || state.job !== job) {
      throw new ConfigError(
        [{ path: 'cluster', message: 'is not a cluster of this job (use the handle addAMRole returned)' }],
        {
          subject: 'addRole options',
        },
      );
    }
    return state;
  }
  const list = clusters.get(job) ?? [];
  if (list.length === 1) return list[0]!;
  throw new ConfigError(
    [
      {
        path: 'cluster',
        message:
          list.length === 0
            ? 'the job has no ML cluster: call addAMRole(job, config, { engine }) first'
            : `the job has ${list.length} ML clusters: pass { cluster } (the handle addAMRole returned)`,
      },
    ],
    { subject: 'addRole options' },
  );
}

interface RoleNodeOptions {
  cluster: ClusterState;
  role: string;
  /** The role operator's name. */
  name: string;
  index: number;
  runner: Runner;
  codec: Codec<unknown>;
  capacity: number;
  replay: boolean | ReplayOptions;
  onInputCheckpoint: InputCheckpointListener | undefined;
}

/** One role instance inside a subtask: its NodeAgent, its record queues and the output pump. */
class RoleNode {
  readonly cluster: ClusterState;
  readonly role: string;
  readonly index: number;
  readonly runner: Runner;
  readonly codec: Codec<unknown>;
  readonly #options: RoleNodeOptions;
  readonly #input: ReplayInput;
  readonly #output: RecordQueue;
  #agent: NodeAgent | undefined;
  #left: Promise<void> | undefined;
  #pump: Promise<void> | undefined;
  #context: SubtaskContext<unknown> | undefined;
  /** Records that arrived after the node had left: nobody will ever read them. */
  #refused = 0;

  constructor(options: RoleNodeOptions) {
    this.#options = options;
    this.cluster = options.cluster;
    this.role = options.role;
    this.index = options.index;
    this.runner = options.runner;
    this.codec = options.codec;
    const replayOptions = typeof options.replay === 'object' ? options.replay : {};
    this.#input = new ReplayInput({
      ...replayOptions,
      // Replay off still bounds unread records by the queue capacity.
      maxRecords: options.replay === false ? options.capacity : (replayOptions.maxRecords ?? undefined),
      replay: options.replay !== false,
      subject: `${options.role}[${options.index}]`,
    });
    this.#output = new RecordQueue(options.capacity);
  }

  async open(context: SubtaskContext<unknown>, streamMode: boolean): Promise<void> {
    this.#context = context;
    const endpoint = await abortable(this.cluster.endpoint.promise, context.signal);
    const agent = new NodeAgent({
      address: endpoint.address,
      token: endpoint.token,
      fingerprint: endpoint.fingerprint,
      role: this.role,
      index: this.index,
      engine: this.cluster.engine,
      runner: this.runner,
      input: streamMode ? this.#input : undefined,
      output: queueOutputChannel(this.#output),
      codec: this.codec.name,
      checkpointDirectory: endpoint.checkpointDirectory,
      logger: this.cluster.logger,
      specTimeoutMs: this.cluster.config.registrationTimeoutMs * (this.cluster.config.maxRestarts + 2),
    });
    this.#agent = agent;
    this.#input.onAcknowledged(({ previous, position, records }) =>
      this.#announce(previous, position, records),
    );
    // The agent leaves when the AM stops the cluster (finished, failed or cancelled). A failure
    // of the cluster is reported by the AM's operator; this subtask just ends.
    this.#left = agent.run().then(
      () => {},
      (error: Error) => {
        if (context.signal.aborted) return;
        throw error;
      },
    );
    this.#left.finally(() => this.#output.end()).catch(() => {});
    this.#pump = this.#pumpOutput(context.output);
    this.#pump.catch(() => {});
  }

  /** Stream mode: encode and queue records for the runner (waits while the queue is full). */
  async send(batch: readonly unknown[]): Promise<void> {
    const encoded = batch.map((record) => this.codec.encode(record));
    // If the node leaves (its runner finished without reading everything), stop waiting.
    const writing = this.#input.writeBatch(encoded);
    writing.catch(() => {}); // a write still waiting when the node left fails at close(); nobody awaits it then
    await Promise.race([writing, this.#left!.then(() => this.#countRefused(encoded.length))]);
  }

  endInput(): void {
    this.#input.end();
  }

  /**
   * Stream mode, once the node left after end-of-input: every record the subtask received must
   * have reached a runner (replays counted once); anything else fails the job (RecordsLostError)
   * instead of reporting success. With replay off, records a stopped runner had taken are lost by
   * the user's choice (at-most-once): counted as `recordsNotReplayed` and logged.
   */
  checkRecordCount(): void {
    const recordsIn = this.#input.recordsIn + this.#refused;
    const delivered = this.#input.recordsDelivered;
    this.#context?.count('recordsReplayed', this.#input.recordsReplayed);
    const peak = this.#input.peak;
    this.#context?.count('inputBufferPeakRecords', peak.records);
    this.#context?.count('inputBufferPeakBytes', peak.bytes);
    const notReplayed = this.#input.recordsNotReplayed;
    if (notReplayed > 0) {
      this.#context?.count('recordsNotReplayed', notReplayed);
      this.cluster.logger.warn(
        `${this.role}[${this.index}]: ${notReplayed} records taken by a runner that was stopped were not replayed (replay is off for this role)`,
      );
    }
    if (delivered < recordsIn) {
      throw new RecordsLostError({
        role: this.role,
        index: this.index,
        recordsIn,
        recordsDelivered: delivered,
        reason: 'the node left before its runners read them; a runner must read its input to the end',
      });
    }
  }

  /** Resolves once the node left the cluster and everything the runner wrote went downstream. */
  async untilLeft(): Promise<void> {
    await this.#left;
    await this.#pump;
  }

  async close(): Promise<void> {
    const aborted = this.#context?.signal.aborted ?? true;
    this.#input.fail(new CancelledError('the role operator closed'));
    if (aborted) this.#output.fail(new CancelledError('the role operator closed'));
    await this.#agent?.stop('the dataflow job stopped');
    await this.#left?.catch(() => {});
    await this.#pump?.catch(() => {});
  }

  #countRefused(count: number): void {
    if (!this.#input.ended) this.#refused += count;
  }

  #announce(previous: number, position: number, records: readonly Uint8Array[]): void {
    const listeners = [
      ...(this.#options.onInputCheckpoint ? [this.#options.onInputCheckpoint] : []),
      ...(checkpointListeners.get(this.cluster.job) ?? []),
    ];
    if (listeners.length === 0) return;
    let decoded: unknown[] | undefined;
    const acknowledged: InputCheckpointAcknowledged = {
      operator: this.#options.name,
      role: this.role,
      subtaskIndex: this.index,
      previous,
      position,
      get records() {
        decoded ??= records.map((bytes) => codec.decode(bytes));
        return decoded;
      },
    };
    const codec = this.codec;
    for (const listener of listeners) {
      try {
        listener(acknowledged);
      } catch (error) {
        this.cluster.logger.error(`an input checkpoint listener threw: ${(error as Error).message}`);
      }
    }
  }

  async #pumpOutput(output: Output<unknown>): Promise<void> {
    for (;;) {
      const batch = await this.#output.readBatch(1024);
      if (batch === null) return;
      for (const bytes of batch) output.emit(this.codec.decode(bytes));
      await output.flush();
    }
  }
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason ?? new CancelledError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** The runtime's {@link MLOperator}: ML clusters inside jobs of the embedded dataflow. */
export const mlOperator: MLOperator<EmbeddedDataflow> = { addAMRole, addRole };
