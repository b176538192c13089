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
 * Several hosts (DESIGN §9, docs/multi-host.md): the same job runs on every host (`job.hosts`).
 * A role's instances are placed on hosts (contiguous blocks, or `placement`), and each host's
 * role operator runs only its own, with the cluster's node indexes. Host 0's AM operator serves
 * the AM (TLS, on all interfaces) and publishes its join URL in the shared directory; the other
 * hosts' AM operators find it there (or take a join URL), follow the job with GetJobStatus, and
 * end with its outcome, so every host fails with the same JobFailedError (remote-cluster.ts).
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
  type ClusterConfig,
  type ClusterConfigInput,
  type Codec,
  ConfigError,
  type AddRoleOptions as CoreAddRoleOptions,
  type DataflowHost,
  type InputCheckpointAcknowledged,
  type InputCheckpointListener,
  jsonCodec,
  type Logger,
  type MLCluster,
  type MLFramework,
  type MLOperator,
  parseClusterConfig,
  RecordsLostError,
  type ReplayOptions,
  type Runner,
  validateConfigForEngine,
} from '@millrace/core';
import { type DataStream, type Job, KeyedStream, type Output, type SubtaskContext } from '@millrace/dataflow';
import { type ApplicationManagerHandle, startApplicationManagerThread } from '../am-thread.js';
import { hostOfAddress, parseJoinUrl } from '../join-url.js';
import { silentLogger } from '../logger.js';
import {
  type ClusterHostSettings,
  clusterHostSettings,
  defaultJoinWaitMs,
  defaultOutcomeWaitMs,
  parseAmListenAddress,
  publishJoinUrl,
  removeJoinUrl,
} from '../multi-host.js';
import { NodeAgent } from '../node-agent.js';
import { createJobTemporaryDirectory } from '../private-directory.js';
import { loadTlsIdentity } from '../tls-identity.js';
import { instancesOnHost } from './placement.js';
import { queueOutputChannel, RecordQueue } from './record-queue.js';
import {
  findApplicationManager,
  followRemoteJob,
  hostObserver,
  type RemoteApplicationManager,
  stopRemoteJob,
} from './remote-cluster.js';
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
 * throw (an error is logged and ignored). Subscribe before `job.execute()`: a role subtask that
 * starts with no listener does not collect the covered records. Returns the unsubscribe function.
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

/** Runtime options of {@link addAMRole}: core's, and how the hosts of a multi-host job find the AM. */
export interface RuntimeAddAMRoleOptions extends AddAMRoleOptions {
  /** Override the process's settings (what `millrace run` set, or MILLRACE_JOIN / MILLRACE_SHARED_DIR). */
  hosts?: ClusterHostSettings;
}

export function addAMRole(job: Job, config: ClusterConfigInput, options: RuntimeAddAMRoleOptions): MLCluster {
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
  const hosts = job.hosts;
  const settings = { ...clusterHostSettings(), ...options.hosts };
  if (hosts.count > 1 && settings.join === undefined && settings.sharedDirectory === undefined) {
    throw new ConfigError(
      [
        {
          path: 'shared-dir',
          message: `the job runs on ${hosts.count} hosts, and they need a way to find its application manager: give every host --shared-dir D (a directory all hosts see; host 0 writes D/join-url, the others read it), or a join URL (--join / MILLRACE_JOIN) of an application manager that runs elsewhere`,
        },
      ],
      { subject: `cluster '${parsed.name}'` },
    );
  }
  // Host 0 serves the AM unless the AM runs elsewhere (a join URL without the AM's certificate).
  const servesHere = hosts.index === 0 && (settings.join === undefined || settings.amTls !== undefined);
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
  const otherHosts = Array.from({ length: hosts.count }, (_, index) => index)
    .filter((index) => index !== hosts.index)
    .map(hostObserver);
  const outcomeWaitMs = settings.outcomeWaitMs ?? defaultOutcomeWaitMs;

  job.source<never>(
    () => {
      state.endpoint = deferred();
      let am: ApplicationManagerHandle | undefined;
      let remote: RemoteApplicationManager | undefined;
      let outcomeKnown = false;
      let lingered = false;
      let runContext: SubtaskContext<never> | undefined;
      let followFailure: unknown;
      let temporaryDirectory: string | undefined;
      const resolveEndpoint = (endpoint: Omit<ClusterEndpoint, 'checkpointDirectory'>) => {
        temporaryDirectory = parsed.checkpointDirectory
          ? undefined
          : createJobTemporaryDirectory(parsed.name);
        state.endpoint.resolve({
          ...endpoint,
          checkpointDirectory: parsed.checkpointDirectory ?? temporaryDirectory!,
        });
        // Where the AM listens, for whoever shows the job: `millrace run`'s board reads its status.
        runContext?.publish({ type: 'application-manager', ...endpoint });
      };
      /** The AM's host keeps serving until the other hosts read the outcome (bounded). */
      const lingerForOtherHosts = async (started: ApplicationManagerHandle) => {
        if (lingered || otherHosts.length === 0) return;
        lingered = true;
        const unread = await started.untilObserved(otherHosts, outcomeWaitMs);
        if (unread.length > 0)
          state.logger.warn(
            `${unread.join(', ')} did not read the job's outcome within ${outcomeWaitMs} ms; they end when they find the application manager gone`,
          );
      };
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
          runContext = context;
          if (!servesHere) {
            try {
              await followElsewhere(context);
            } catch (error) {
              followFailure = error; // close() tells the AM why this host ended
              throw error;
            }
            return;
          }
          try {
            if (settings.sharedDirectory !== undefined) removeJoinUrl(settings.sharedDirectory);
            am = await startApplicationManager(parsed, options.engine, state.logger, hosts.count, settings);
            if (settings.sharedDirectory !== undefined) publishJoinUrl(settings.sharedDirectory, am.joinUrl);
          } catch (error) {
            state.endpoint.reject(error); // roles waiting to join fail with the same reason
            throw error;
          }
          const unsubscribe = am.onObservation((observation) => context.publishObservation(observation));
          for (const observation of am.observations) context.publishObservation(observation);
          const started = am;
          resolveEndpoint({
            address: started.address,
            token: started.token,
            fingerprint: started.fingerprint,
          });
          // On several hosts the reason names this host, as when another host ends first.
          const onAbort = () =>
            void started.stop(
              hosts.count > 1
                ? `host ${hosts.index} ended: ${describeEnd(context.signal, undefined)}`
                : 'the dataflow job was cancelled',
            );
          context.signal.addEventListener('abort', onAbort, { once: true });
          try {
            const outcome = await started.result;
            outcomeKnown = true;
            await lingerForOtherHosts(started);
            if (outcome.status === 'failed') throw outcome.error ?? new Error(outcome.reason);
            if (outcome.status === 'stopped' && !context.signal.aborted) {
              const reason = `the cluster was stopped: ${outcome.reason}`;
              if (hosts.count > 1) throw new CancelledError(reason);
              // On one host a stop is the user's (millrace stop): the whole job ends, cancelled.
              // Ending only this operator would leave the role subtasks refusing records that
              // nobody will read, for as long as the sources produce (for ever, unbounded).
              job.cancel(reason);
            }
          } finally {
            context.signal.removeEventListener('abort', onAbort);
            unsubscribe();
          }
        },
        async close() {
          state.endpoint.reject(
            new CancelledError(`cluster '${parsed.name}' ended before the node could join`),
          );
          const why = describeEnd(runContext?.signal, followFailure);
          if (am) {
            if (!outcomeKnown && hosts.count > 1) {
              // This host ended before the cluster: tell the other hosts why before the AM goes away.
              await am.stop(`host ${hosts.index} ended: ${why}`);
              await lingerForOtherHosts(am);
            }
            await am.close();
            // The URL holds the job token, and a later job must not find this one's.
            if (settings.sharedDirectory !== undefined) removeJoinUrl(settings.sharedDirectory);
          }
          if (remote) {
            if (!outcomeKnown)
              await stopRemoteJob(
                remote.connection,
                `host ${hosts.index} ended: ${why}`,
                hostObserver(hosts.index),
              );
            remote.connection.close();
          }
          if (temporaryDirectory) rmSync(temporaryDirectory, { recursive: true, force: true });
        },
      };

      /** A host whose AM runs elsewhere: join it, then follow the job to its outcome. */
      async function followElsewhere(context: SubtaskContext<never>): Promise<void> {
        const observer = hostObserver(hosts.index);
        try {
          remote = await findApplicationManager({
            source:
              settings.join !== undefined
                ? { url: settings.join }
                : { sharedDirectory: settings.sharedDirectory! },
            config: parsed,
            observer,
            timeoutMs: settings.joinWaitMs ?? defaultJoinWaitMs,
            signal: context.signal,
          });
        } catch (error) {
          state.endpoint.reject(error);
          throw error;
        }
        resolveEndpoint({
          address: remote.target.address,
          token: remote.target.token,
          fingerprint: remote.target.fingerprint,
        });
        const outcome = await followRemoteJob({
          connection: remote.connection,
          observer,
          signal: context.signal,
          publish: (observation) => context.publishObservation(observation),
        });
        outcomeKnown = true;
        context.publishObservation({ type: 'job-finished', outcome });
        if (outcome.status === 'failed') throw outcome.error ?? new Error(outcome.reason);
        if (outcome.status === 'stopped' && !context.signal.aborted)
          throw new CancelledError(`the cluster was stopped: ${outcome.reason}`);
      }
    },
    // One AM per cluster whatever the job's default parallelism: a second would wait for nodes forever.
    { name: options.name ?? `${parsed.name}-am`, parallelism: 1 },
  );
  const handle: MLCluster = { name: state.name, config: state.config, engine: state.engine };
  stateOf.set(handle, state);
  return handle;
}

/**
 * Starts the AM this host serves. One host: as configured (loopback, plaintext). Several: TLS
 * always (the given certificate, or a fresh self-signed one), on `amListen` or all interfaces.
 * With a join URL (host 0 given the AM's certificate): exactly the AM the URL names — its port,
 * token and host, and a certificate whose fingerprint the URL pins.
 */
async function startApplicationManager(
  config: ClusterConfig,
  engine: MLFramework,
  logger: Logger,
  hostCount: number,
  settings: ClusterHostSettings,
): Promise<ApplicationManagerHandle> {
  let host = config.host;
  let port = 0;
  if (hostCount > 1) host = '0.0.0.0';
  const target = settings.join === undefined ? undefined : parseJoinUrl(settings.join);
  if (target) {
    host = '0.0.0.0';
    port = Number(target.address.slice(target.address.lastIndexOf(':') + 1));
  }
  if (settings.amListen !== undefined)
    ({ host, port } = parseAmListenAddress(settings.amListen, 'am-listen'));
  const tls = settings.amTls
    ? await loadTlsIdentity(settings.amTls)
    : hostCount > 1
      ? 'self-signed'
      : undefined;
  if (target && typeof tls === 'object' && target.fingerprint !== tls.fingerprint) {
    throw new ConfigError(
      [
        {
          path: 'am-tls-cert',
          message: `${settings.amTls!.certificate} has fingerprint sha256:${tls.fingerprint}, but the join URL pins sha256:${target.fingerprint ?? '(none: plaintext)'}; give the certificate the join URL was made for`,
        },
      ],
      { subject: 'millrace run' },
    );
  }
  // On a thread of its own, so pipeline work never holds the control plane (am-thread.ts).
  return startApplicationManagerThread({
    config: { ...config, host },
    engine,
    port,
    token: target?.token,
    tls,
    advertiseHost: target ? hostOfAddress(target.address) : undefined,
    logger,
  });
}

/** Why this host's part ended: the job's cancel reason, else the AM operator's own failure. */
function describeEnd(signal: AbortSignal | undefined, failure: unknown): string {
  const reason = signal?.aborted ? (signal.reason as unknown) : failure;
  if (reason === undefined) return signal?.aborted ? 'cancelled' : 'its job ended';
  return reason instanceof Error ? reason.message : String(reason);
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
  if (options.onInputCheckpoint !== undefined && options.replay === false) {
    issues.push({
      path: 'onInputCheckpoint',
      message:
        'needs replay: with replay off a checkpoint does not carry the records it covers (a broker source could not acknowledge its entries); drop replay: false',
    });
  }
  if (issues.length) throw new ConfigError(issues, { subject: `addRole '${role}'` });
  const hosts = job.hosts;
  const local = instancesOnHost({
    role,
    instances: options.instances,
    hosts: hosts.count,
    host: hosts.index,
    placement: options.placement,
  });
  if (local.length === 0 && options.input !== undefined) {
    throw new ConfigError(
      [
        {
          path: 'placement',
          message: `no instance of '${role}' runs on host ${hosts.index} of ${hosts.count}, but the role reads a stream, and this host's share of the records would have nowhere to go (records never cross hosts): place an instance on every host (instances ≥ hosts, or a placement that names every host)`,
        },
      ],
      { subject: `addRole '${role}'` },
    );
  }
  cluster.roles.set(role, options.instances);

  const codec = (options.codec ?? jsonCodec) as Codec<unknown>;
  const name = options.name ?? `${cluster.name}-${role}`;
  const capacity = options.queueCapacity ?? 4096;
  // A runner that acknowledges checkpoints gets replay by default, and so does a role whose
  // checkpoints a source listens to (it acknowledges the covered records upstream).
  const replay =
    options.replay ??
    (options.runner.acknowledgesCheckpoints === true || options.onInputCheckpoint !== undefined);
  // Subtask i of this host runs instance local[i]: node indexes are the cluster's, across hosts.
  const node = (subtaskIndex: number) =>
    new RoleNode({
      cluster,
      role,
      name,
      index: local[subtaskIndex]!,
      runner: options.runner,
      codec,
      capacity,
      replay,
      onInputCheckpoint: options.onInputCheckpoint,
    });

  if (local.length === 0) {
    // A source-mode role with no instance here: this host's part of it is empty.
    return job.source<Out>(() => ({ run: async () => {} }), { name, parallelism: 1 });
  }
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
      { name, parallelism: local.length },
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
    { name, parallelism: local.length },
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
  /** The node left because the AM said the job failed: the AM's operator reports why. */
  #jobFailed = false;

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
      // The queue capacity bounds unread records (the read-ahead) with replay on or off; replay
      // adds the records read and not yet covered by a checkpoint, up to replay.maxRecords.
      maxRecords: options.replay === false ? options.capacity : (replayOptions.maxRecords ?? undefined),
      maxUnread: options.capacity,
      replay: options.replay !== false,
      subject: `${options.role}[${options.index}]`,
    });
    this.#output = new RecordQueue(options.capacity);
  }

  async open(context: SubtaskContext<unknown>, streamMode: boolean): Promise<void> {
    this.#context = context;
    if (streamMode) {
      // The record queue in front of the runner, its ring (if it has one) and what the queue holds
      // for replay, for /metrics.
      context.gauge('roleInputQueueFillRatio', () => this.#input.fill);
      context.gauge('roleInputRingFillRatio', () => this.#input.downstreamFill ?? Number.NaN);
      if (this.#input.replay) context.gauge('replayBufferRecords', () => this.#input.held.records);
    }
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
    // Only when someone listens: handing out the covered records costs a view per record.
    // Listeners register before the job runs (onInputCheckpoint, addRole's option).
    if (this.#options.onInputCheckpoint || (checkpointListeners.get(this.cluster.job)?.size ?? 0) > 0) {
      this.#input.onAcknowledged(({ previous, position, records }) =>
        this.#announce(previous, position, records),
      );
    }
    // The agent leaves when the AM stops the cluster (finished, failed or cancelled). A failure
    // of the cluster is reported by the AM's operator; this subtask just ends.
    this.#left = agent.run().then(
      (outcome) => {
        this.#jobFailed = outcome.jobFailed;
      },
      (error: Error) => {
        if (context.signal.aborted) return;
        throw error;
      },
    );
    this.#left
      .finally(() => {
        this.#output.end();
        this.#input.refuseWrites(); // nobody will read what arrives from now on
      })
      .catch(() => {});
    this.#pump = this.#pumpOutput(context.output);
    this.#pump.catch(() => {});
  }

  /** Stream mode: encode and queue records for the runner (waits while the queue is full). */
  async send(batch: readonly unknown[]): Promise<void> {
    const encoded = batch.map((record) => this.codec.encode(record));
    // If the node leaves (its runner finished without reading everything), stop waiting: the
    // input refuses what it did not take, and those records are counted as never delivered.
    this.#refused += await this.#input.writeBatch(encoded);
  }

  endInput(): void {
    this.#input.end();
  }

  /**
   * Stream mode, once the node left after end-of-input: every record the subtask received must
   * have reached a runner (replays counted once); anything else fails the job (RecordsLostError)
   * instead of reporting success. With replay off, records a stopped runner had taken are lost by
   * the user's choice (at-most-once): counted as `recordsNotReplayed` and logged. When the node left
   * because the job failed, the job fails with that cause (the AM's operator throws it); the
   * records it never delivered are its consequence, and a RecordsLostError here would hide it.
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
    if (delivered < recordsIn && !this.#jobFailed) {
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
