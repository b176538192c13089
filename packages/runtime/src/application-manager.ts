/**
 * The ApplicationManager (AM): one per ML cluster, a gRPC server implementing
 * `millrace.v1.ApplicationManager`. It validates every call (job token, role, index, generation),
 * feeds what the nodes report into core's `ClusterStateMachine`, and carries out the effects the
 * machine returns: publish the cluster spec, schedule restarts with backoff, stop nodes, end the
 * job. Silent nodes are declared dead after `heartbeat.missedLimit` missed intervals.
 *
 * Generations: the machine owns the cluster generation. The AM additionally remembers, per node,
 * the generation that node must be in (`requiredGeneration`): nodes restarted by a failover must
 * re-register into the new generation, while survivors of a restart-one keep running and may keep
 * speaking their older generation. A call below a node's required generation is stale.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Server as NetServer, Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import {
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from '@grpc/grpc-js';
import {
  type ClusterConfig,
  type ClusterConfigInput,
  type ClusterEffect,
  type ClusterEvent,
  type ClusterObservation,
  type ClusterSpec,
  ClusterStateMachine,
  ConfigError,
  describeNodeFailure,
  isTerminal,
  JobFailedError,
  type JobOutcome,
  type Logger,
  type MLFramework,
  type MLFrameworkRegistry,
  type NodeFailure,
  type NodeKey,
  type NodeSpec,
  nodeKey,
  parseClusterConfig,
  stallTimeoutFor,
  validateConfigForEngine,
} from '@millrace/core';
import {
  ApplicationManagerService,
  ErrorCode,
  type GetJobStatusRequest,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type JobStatus,
  NodeState,
  protocolServiceError,
  protocolVersion,
  type RegisterNodeRequest,
  type RegisterNodeResponse,
  type ReportStatusRequest,
  type ReportStatusResponse,
  type StopJobRequest,
  type StopJobResponse,
  tokenMetadataKey,
  type WatchClusterRequest,
  type ClusterEvent as WireClusterEvent,
} from '@millrace/protocol';
import { isRejection, type Rejection, tokenMessage } from './am-rejection.js';
import { HeartbeatMonitor, type HostThreadLiveness } from './heartbeat-monitor.js';
import { describeJobStatus } from './job-status.js';
import { formatJoinUrl, isLoopbackHost } from './join-url.js';
import { removeLeftoversOfDeadProcesses } from './leftovers.js';
import { silentLogger } from './logger.js';
import { createNodeRecords, type NodeRecord } from './node-record.js';
import { fromWireFailureReason, toWireClusterSpec } from './protocol-mapping.js';
import { createSelfSignedIdentity, type TlsIdentity } from './tls-identity.js';

export interface ApplicationManagerOptions {
  /** The cluster config; validated (and defaults filled) before anything starts. */
  config: ClusterConfigInput;
  /** The engine to run. When absent, `config.engine` is looked up in `engines`. */
  engine?: MLFramework | undefined;
  engines?: MLFrameworkRegistry | undefined;
  /** Port to bind; 0 (the default) picks a free one. The host is `config.host` (127.0.0.1). */
  port?: number | undefined;
  /** The job token every call must carry; a random one when absent. */
  token?: string | undefined;
  /**
   * The TLS identity to serve. Default: plaintext when `config.host` is a loopback address, else a
   * fresh self-signed certificate made for this job. `'self-signed'` asks for one on loopback too.
   */
  tls?: TlsIdentity | 'self-signed' | undefined;
  /** Serve plaintext off loopback. The token then crosses the network in the clear; logged loudly. */
  insecure?: boolean | undefined;
  /**
   * The host the join URL names. Default: `config.host`, or, when that is a wildcard (0.0.0.0, ::),
   * this machine's first non-internal address.
   */
  advertiseHost?: string | undefined;
  logger?: Logger | undefined;
  /**
   * Another thread of this process that hosts node agents, when the AM runs on a thread of its
   * own (am-thread.ts): silence of those agents while that thread is stalled is not their death.
   */
  hostThread?: HostThreadLiveness | undefined;
}

export type ObservationListener = (observation: ClusterObservation) => void;

/** How many observations {@link ApplicationManager.observations} keeps (oldest dropped first). */
export const observationLimit = 10_000;

/** The error a failed job's outcome carries, on whichever thread the outcome is read. */
export function failedJobError(
  jobName: string,
  outcome: Pick<JobOutcome, 'reason' | 'failures' | 'restarts'>,
): JobFailedError {
  return new JobFailedError(`Job '${jobName}' failed: ${outcome.reason}`, outcome.failures, outcome.restarts);
}

export class ApplicationManager {
  readonly config: ClusterConfig;
  readonly engine: MLFramework;
  readonly token: string;
  /** `host:port` nodes reach the AM on (the advertised host). */
  readonly address: string;
  /** SHA-256 of the served certificate (lower-case hex); undefined when the AM speaks plaintext. */
  readonly fingerprint: string | undefined;
  /** `millrace://HOST:PORT?token=…&ca=sha256:…`: all a node needs to join (see join-url.ts). */
  readonly joinUrl: string;
  /** Settles when the job ends (succeeded, failed or stopped); never rejects. */
  readonly result: Promise<JobOutcome>;

  readonly #server: Server;
  readonly #machine: ClusterStateMachine;
  readonly #nodes: Map<NodeKey, NodeRecord>;
  readonly #listeners = new Set<ObservationListener>();
  readonly #observations: ClusterObservation[] = [];
  readonly #logger: Logger;
  #resolveResult!: (outcome: JobOutcome) => void;
  #outcome: JobOutcome | undefined;
  #currentSpec: ClusterSpec | undefined;
  /** Node reports the machine refused while failing over (restart-one survivors); replayed after. */
  #deferredEvents: ClusterEvent[] = [];
  #heartbeatTimer: NodeJS.Timeout | undefined;
  readonly #heartbeats: HeartbeatMonitor;
  #registrationTimer: NodeJS.Timeout | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Observers that named themselves in GetJobStatus, and whether they have read the outcome. */
  readonly #observers = new Map<string, boolean>();
  readonly #observerListeners = new Set<() => void>();
  /** The raw sockets peers opened, destroyed at close (see close()). */
  readonly #sockets = new Set<Socket>();

  /** Validates the config, binds the server and starts accepting nodes. Rejects with a ConfigError. */
  static async start(options: ApplicationManagerOptions): Promise<ApplicationManager> {
    const config = parseClusterConfig(options.config);
    const engine = options.engine ?? options.engines?.get(config.engine);
    if (!engine) {
      throw new ConfigError([{ path: 'engine', message: `no engine given for '${config.engine}'` }]);
    }
    validateConfigForEngine(engine, config);
    const logger = options.logger ?? silentLogger;
    // Every job starts here: remove what crashed Millrace processes left (rings, job folders).
    const leftovers = await removeLeftoversOfDeadProcesses();
    for (const path of [...leftovers.ringDirectories, ...leftovers.jobFolders]) {
      logger.debug(`removed ${path}: its Millrace process is gone`);
    }
    const loopback = isLoopbackHost(config.host);
    let identity: TlsIdentity | undefined;
    if (options.tls === 'self-signed' || (options.tls === undefined && !loopback && !options.insecure)) {
      identity = await createSelfSignedIdentity();
    } else if (options.tls !== undefined) {
      identity = options.tls;
    }
    if (!identity && !loopback) {
      logger.warn(
        `INSECURE: the application manager listens on ${config.host} in PLAINTEXT (insecure was set): the job token and every call cross the network unencrypted and unauthenticated; anyone on the path can join or stop this job`,
      );
    }
    // Channelz (grpc-js's per-call and per-socket introspection registry) is off: nothing reads it,
    // and at formation it was a tenth of the AM's CPU, on the path every node's first call takes.
    const server = new Server({ 'grpc.enable_channelz': 0 });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(
        `${config.host.includes(':') ? `[${config.host}]` : config.host}:${options.port ?? 0}`,
        identity
          ? ServerCredentials.createSsl(
              null,
              [
                {
                  private_key: Buffer.from(identity.privateKey),
                  cert_chain: Buffer.from(identity.certificate),
                },
              ],
              false,
            )
          : ServerCredentials.createInsecure(),
        (error, bound) =>
          error
            ? reject(
                new ConfigError([
                  { path: 'host', message: `cannot listen on ${config.host}: ${error.message}` },
                ]),
              )
            : resolve(bound),
      );
    });
    const advertised =
      options.advertiseHost ?? (isWildcardHost(config.host) ? firstExternalAddress() : config.host);
    const host = advertised.includes(':') ? `[${advertised}]` : advertised;
    return new ApplicationManager({
      config,
      engine,
      server,
      address: `${host}:${port}`,
      fingerprint: identity?.fingerprint,
      token: options.token ?? randomBytes(16).toString('hex'),
      logger,
      hostThread: options.hostThread,
    });
  }

  private constructor(parts: {
    config: ClusterConfig;
    engine: MLFramework;
    server: Server;
    address: string;
    fingerprint: string | undefined;
    token: string;
    logger: Logger;
    hostThread: HostThreadLiveness | undefined;
  }) {
    this.config = parts.config;
    this.engine = parts.engine;
    this.#server = parts.server;
    this.address = parts.address;
    this.fingerprint = parts.fingerprint;
    this.token = parts.token;
    this.joinUrl = formatJoinUrl({ address: this.address, token: this.token, fingerprint: this.fingerprint });
    this.#logger = parts.logger;
    this.#machine = new ClusterStateMachine(this.config, this.engine);
    this.result = new Promise((resolve) => {
      this.#resolveResult = resolve;
    });
    this.#nodes = createNodeRecords(this.config.roles);
    this.#server.addService(ApplicationManagerService, {
      registerNode: this.#guarded(this.#registerNode),
      watchCluster: (call: ServerWritableStream<WatchClusterRequest, WireClusterEvent>) =>
        this.#watchCluster(call),
      heartbeat: this.#guarded(this.#heartbeat),
      reportStatus: this.#guarded(this.#reportStatus),
      getJobStatus: this.#guarded(this.#getJobStatus),
      stopJob: this.#guarded(this.#stopJob),
    });
    trackSockets(this.#server, this.#sockets);
    this.#heartbeats = new HeartbeatMonitor(this.config.heartbeat, parts.hostThread);
    this.#heartbeatTimer = setInterval(() => this.#checkHeartbeats(), this.#heartbeats.checkEveryMs);
    this.#armRegistrationTimer();
  }

  /** Everything observed so far, oldest first (the latest {@link observationLimit}). */
  get observations(): readonly ClusterObservation[] {
    return this.#observations;
  }

  /** The state machine's current snapshot. */
  get snapshot() {
    return this.#machine.snapshot;
  }

  /** Calls `listener` with every observation from now on; returns the unsubscribe function. */
  onObservation(listener: ObservationListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The job and its nodes as `GetJobStatus` reports them. */
  status(): JobStatus {
    return describeJobStatus({
      config: this.config,
      engine: this.engine,
      snapshot: this.#machine.snapshot,
      nodes: this.#nodes,
    });
  }

  /** Stops the job (every runner is asked to stop) and resolves with the outcome. Idempotent. */
  async stop(reason = 'stopped by request'): Promise<JobOutcome> {
    this.#dispatch({ type: 'stop-job', reason });
    return this.result;
  }

  /**
   * Records a node failure seen outside the protocol (an in-process launcher whose agent crashed).
   * Ignored when the job already ended.
   */
  reportNodeFailure(failure: Omit<NodeFailure, 'generation'>): void {
    const accepted = this.#dispatch({
      type: 'node-failed',
      failure: { ...failure, generation: this.#machine.snapshot.generation },
    });
    if (!accepted && this.#machine.snapshot.state === 'failing-over') {
      this.#deferredEvents.push({ type: 'node-failed', failure: { ...failure, generation: -1 } });
    }
  }

  /**
   * After the job ended: resolves once each of `observers` (default: every observer that named
   * itself in GetJobStatus so far) has read the outcome, or after `timeoutMs`, with the names
   * that had not. The hosts of a multi-host job learn the outcome this way, so the host running
   * the AM waits for them before it shuts the server down.
   */
  async untilObserved(observers: readonly string[] | undefined, timeoutMs: number): Promise<string[]> {
    const missing = () =>
      (observers ?? [...this.#observers.keys()]).filter((name) => this.#observers.get(name) !== true);
    if (missing().length === 0) return [];
    return new Promise<string[]>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#observerListeners.delete(check);
        resolve(missing());
      };
      const check = () => {
        if (missing().length === 0) done();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#observerListeners.add(check);
    });
  }

  /** Stops the job if it is still running, then shuts the server down. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (!this.#outcome) await this.stop('application manager closed');
    this.#closed = true;
    this.#clearTimers();
    // The TCP socket of a peer that vanished (a cut link, a host gone) outlives even a forced
    // shutdown of its HTTP/2 session: TLS waits for that peer's acknowledgement, which never
    // comes, and the socket's retransmissions kept the process alive for minutes. Destroy them.
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, 1_000);
      this.#server.tryShutdown(() => {
        clearTimeout(force);
        this.#server.forceShutdown();
        resolve();
      });
    });
    for (const socket of this.#sockets) socket.destroy();
  }

  // ── RPC handlers ────────────────────────────────────────────────────────────

  #guarded<Request, Response>(
    handler: (request: Request) => Response | Rejection | Promise<Response | Rejection>,
  ): (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>) => void {
    return (call, callback) => {
      if (!this.#authorized(call.metadata.get(tokenMetadataKey)[0])) {
        callback(this.#error({ code: ErrorCode.ERROR_CODE_AUTHENTICATION, message: tokenMessage }));
        return;
      }
      Promise.resolve()
        .then(() => handler.call(this, call.request))
        .then(
          (response) => {
            if (isRejection(response)) callback(this.#error(response));
            else callback(null, response);
          },
          (error: unknown) => {
            this.#logger.error('handler failed', { error: String(error) });
            callback(
              this.#error({
                code: ErrorCode.ERROR_CODE_UNSPECIFIED,
                message: `internal error: ${String(error)}`,
              }),
            );
          },
        );
    };
  }

  #authorized(token: unknown): boolean {
    if (typeof token !== 'string') return false;
    const given = Buffer.from(token);
    const expected = Buffer.from(this.token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  #error(rejection: Rejection) {
    return protocolServiceError({
      code: rejection.code,
      message: rejection.message,
      currentGeneration: this.#machine.snapshot.generation,
      role: rejection.role ?? '',
      index: rejection.index ?? 0,
    });
  }

  /** Looks up the node a call names and checks its generation. */
  #nodeFor(role: string, index: number, generation: number): NodeRecord | Rejection {
    const record = this.#nodes.get(nodeKey(role, index));
    if (!record || record.registrations === 0) {
      return {
        code: ErrorCode.ERROR_CODE_UNKNOWN_NODE,
        message: `${role}[${index}] has not registered; call RegisterNode first`,
        role,
        index,
      };
    }
    if (generation < record.requiredGeneration) return this.#stale(record, generation);
    const current = this.#machine.snapshot.generation;
    if (generation > current) return this.#futureGeneration(role, index, generation);
    return record;
  }

  #futureGeneration(role: string, index: number, generation: number): Rejection {
    return {
      code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
      message: `generation ${generation} does not exist yet; the cluster is at ${this.#machine.snapshot.generation}`,
      role,
      index,
    };
  }

  #stale(record: NodeRecord, generation: number): Rejection {
    return {
      code: ErrorCode.ERROR_CODE_STALE_GENERATION,
      message: `${record.role}[${record.index}] spoke from generation ${generation}, but it must be in generation ${record.requiredGeneration} (the cluster is at ${this.#machine.snapshot.generation}); stop the runner and register again`,
      role: record.role,
      index: record.index,
    };
  }

  #registerNode(request: RegisterNodeRequest): RegisterNodeResponse | Rejection {
    const { role, index } = request;
    const at = { role, index };
    if (request.protocolVersion !== protocolVersion) {
      return {
        code: ErrorCode.ERROR_CODE_VERSION_MISMATCH,
        message: `this AM speaks ${protocolVersion}, the node sent '${request.protocolVersion}'`,
        ...at,
      };
    }
    if (this.#outcome) {
      return {
        code: ErrorCode.ERROR_CODE_JOB_ENDED,
        message: `the job already ended: ${this.#outcome.reason}`,
        ...at,
      };
    }
    if (role === '') {
      return {
        code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
        message: `the role name is empty; name one of the cluster's roles (${Object.keys(this.config.roles).join(', ')})`,
        ...at,
      };
    }
    const instances = this.config.roles[role]?.instances;
    if (instances === undefined) {
      return {
        code: ErrorCode.ERROR_CODE_REGISTRATION_UNKNOWN_ROLE,
        message: `the cluster has no role '${role}' (roles: ${Object.keys(this.config.roles).join(', ')})`,
        ...at,
      };
    }
    if (index >= instances) {
      return {
        code: ErrorCode.ERROR_CODE_REGISTRATION_INDEX_OUT_OF_RANGE,
        message: `${role}[${index}] is out of range: role '${role}' has ${instances} instance(s), indexes 0 to ${instances - 1}`,
        ...at,
      };
    }
    const record = this.#nodes.get(nodeKey(role, index))!;
    if (request.generation < record.requiredGeneration) return this.#stale(record, request.generation);
    const snapshot = this.#machine.snapshot;
    if (request.generation > snapshot.generation)
      return this.#futureGeneration(role, index, request.generation);
    if (snapshot.state === 'failing-over') {
      return {
        code: ErrorCode.ERROR_CODE_REGISTRATION_NOT_ACCEPTING,
        message: `the cluster is between generations (restart backoff); register again shortly`,
        ...at,
      };
    }
    if (snapshot.nodes[nodeKey(role, index)]?.status !== 'pending') {
      return {
        code: ErrorCode.ERROR_CODE_REGISTRATION_DUPLICATE,
        message: `${role}[${index}] is already registered in generation ${snapshot.generation}`,
        ...at,
      };
    }
    record.spec = {
      role,
      index,
      host: request.host,
      ports: { ...request.ports },
      pid: request.pid || undefined,
    };
    record.attempt = record.registrations;
    record.registrations += 1;
    record.lastSeen = Date.now();
    record.declaredDeadIn = undefined;
    const generation = snapshot.generation;
    this.#observe({ type: 'node-registered', role, index, generation });
    if (!this.#dispatch({ type: 'node-registered', role, index, generation })) {
      return {
        code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
        message: `registration of ${role}[${index}] refused`,
        ...at,
      };
    }
    return {
      generation,
      attempt: record.attempt,
      jobName: this.config.name,
      engine: this.engine.name,
      heartbeatIntervalMs: this.config.heartbeat.intervalMs,
      missedHeartbeatLimit: this.config.heartbeat.missedLimit,
      stopGracePeriodMs: this.config.stopGracePeriodMs,
      stallTimeoutMs:
        stallTimeoutFor(
          this.config,
          this.engine.roles.find((definition) => definition.name === role),
          role,
        ) ?? 0,
    };
  }

  #watchCluster(call: ServerWritableStream<WatchClusterRequest, WireClusterEvent>): void {
    const fail = (rejection: Rejection) => call.emit('error', this.#error(rejection));
    if (!this.#authorized(call.metadata.get(tokenMetadataKey)[0])) {
      fail({ code: ErrorCode.ERROR_CODE_AUTHENTICATION, message: tokenMessage });
      return;
    }
    const { role, index, generation } = call.request;
    const record = this.#nodes.get(nodeKey(role, index));
    // A stream opened from a generation the node has left behind is not refused: the node missed
    // its `restart`, and the replay below tells it which generation to register into.
    const found =
      record && record.registrations > 0 && generation < record.requiredGeneration
        ? record
        : this.#nodeFor(role, index, generation);
    if (isRejection(found)) {
      fail(found);
      return;
    }
    // Opening the stream is a call from the node, so it counts as a heartbeat.
    found.lastSeen = Date.now();
    if (found.stream && found.stream !== call) found.stream.end();
    found.stream = call;
    call.on('cancelled', () => {
      if (found.stream === call) found.stream = undefined;
    });
    // Replay what the node may have missed while it was opening the stream.
    if (this.#outcome) {
      call.write({ stop: { reason: this.#outcome.reason, jobFailed: this.#outcome.status === 'failed' } });
      call.end();
    } else if (found.requiredGeneration > generation) {
      call.write({
        restart: { generation: found.requiredGeneration, reason: 'the cluster restarted', delayMs: 0 },
      });
    } else if (this.#currentSpec && this.#currentSpec.generation >= generation) {
      call.write({ specReady: { spec: toWireClusterSpec(this.#currentSpec) } });
    }
  }

  #heartbeat(request: HeartbeatRequest): HeartbeatResponse | Rejection {
    const record = this.#nodeFor(request.role, request.index, request.generation);
    if (isRejection(record)) return record;
    record.lastSeen = Date.now();
    return { generation: this.#machine.snapshot.generation };
  }

  #reportStatus(request: ReportStatusRequest): ReportStatusResponse | Rejection {
    const record = this.#nodeFor(request.role, request.index, request.generation);
    if (isRejection(record)) return record;
    record.lastSeen = Date.now();
    const { role, index } = request;
    const generation = this.#machine.snapshot.generation;
    if (Object.keys(request.metrics).length) {
      Object.assign(record.metrics, request.metrics);
      this.#observe({ type: 'node-metrics', role, index, metrics: { ...request.metrics } });
    }
    switch (request.state) {
      case NodeState.NODE_STATE_RUNNING:
        if (!Object.keys(request.metrics).length) {
          this.#observe({ type: 'node-started', role, index, generation, attempt: request.attempt });
        }
        break;
      case NodeState.NODE_STATE_SUCCEEDED:
        if (this.#machine.snapshot.nodes[nodeKey(role, index)]?.status === 'registered') {
          // Dropping it would leave the job waiting for this node forever.
          return {
            code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
            message: `${role}[${index}] reported SUCCEEDED before the cluster spec of generation ${generation} reached it; start the runner on spec_ready, then report how it ended`,
            role,
            index,
          };
        }
        this.#nodeEvent({ type: 'node-finished', role, index, generation });
        break;
      case NodeState.NODE_STATE_FAILED:
        this.#nodeEvent({
          type: 'node-failed',
          failure: {
            role,
            index,
            generation,
            reason: fromWireFailureReason(request.reason),
            exitCode: request.exitCode,
            signal: request.signal || undefined,
            message: request.message || 'the runner failed',
            stderrTail: request.stderrTail || undefined,
            permanent: request.permanent || undefined,
          },
        });
        break;
      default:
        break;
    }
    return { generation };
  }

  #getJobStatus(request: GetJobStatusRequest): JobStatus {
    const status = this.status();
    if (request.observer) {
      // The outcome is read once the answer says the job ended; the answer is sent right after.
      const read = this.#outcome !== undefined || this.#observers.get(request.observer) === true;
      this.#observers.set(request.observer, read);
      for (const listener of this.#observerListeners) listener();
    }
    return status;
  }

  #stopJob(request: StopJobRequest): StopJobResponse {
    this.#dispatch({ type: 'stop-job', reason: request.reason || 'stopped by request' });
    return { state: this.#machine.snapshot.state };
  }

  // ── the state machine and its effects ───────────────────────────────────────

  /** A report from a node: dispatched now, or after the failover in progress when refused now. */
  #nodeEvent(event: ClusterEvent): void {
    if (this.#dispatch(event)) return;
    if (this.#machine.snapshot.state === 'failing-over') this.#deferredEvents.push(event);
  }

  #dispatch(event: ClusterEvent): boolean {
    const before = this.#machine.snapshot;
    const result = this.#machine.dispatch(event);
    if (!result.accepted) {
      this.#logger.debug(`event ${event.type} refused: ${result.reason}`);
      return false;
    }
    if (event.type === 'node-failed') this.#observe({ type: 'node-failed', failure: event.failure });
    if (event.type === 'node-finished') {
      this.#observe({
        type: 'node-finished',
        role: event.role,
        index: event.index,
        generation: event.generation,
      });
    }
    if (result.snapshot.state !== before.state) {
      this.#observe({
        type: 'state-changed',
        state: result.snapshot.state,
        generation: result.snapshot.generation,
      });
    }
    for (const effect of result.effects) this.#apply(effect);
    return true;
  }

  #apply(effect: ClusterEffect): void {
    switch (effect.type) {
      case 'publish-cluster-spec':
        this.#publishSpec(effect.generation);
        break;
      case 'schedule-restart':
        this.#scheduleRestart(effect);
        break;
      case 'stop-nodes':
        for (const key of effect.nodes) {
          const jobFailed = this.#machine.snapshot.state === 'failed';
          this.#nodes.get(key)?.stream?.write({ stop: { reason: effect.reason, jobFailed } });
        }
        break;
      case 'job-succeeded':
        this.#finish('succeeded', 'the job finished');
        break;
      case 'job-failed':
        this.#finish('failed', effect.reason);
        break;
      case 'job-stopped':
        this.#finish('stopped', effect.reason);
        break;
    }
  }

  #publishSpec(generation: number): void {
    clearTimeout(this.#registrationTimer);
    const roles: Record<string, NodeSpec[]> = {};
    for (const record of this.#nodes.values()) {
      const nodes = roles[record.role] ?? [];
      roles[record.role] = nodes;
      nodes[record.index] = record.spec ?? { role: record.role, index: record.index, host: '', ports: {} };
    }
    const spec: ClusterSpec = { jobName: this.config.name, generation, roles };
    this.#currentSpec = spec;
    this.#observe({ type: 'cluster-ready', spec });
    const message = { specReady: { spec: toWireClusterSpec(spec) } };
    for (const record of this.#nodes.values()) record.stream?.write(message);
  }

  #scheduleRestart(effect: Extract<ClusterEffect, { type: 'schedule-restart' }>): void {
    this.#currentSpec = undefined;
    clearTimeout(this.#registrationTimer);
    const lastFailure = this.#machine.snapshot.failures.at(-1);
    const reason = lastFailure ? describeNodeFailure(lastFailure).split('\n')[0]! : 'the cluster restarts';
    for (const key of effect.nodes) {
      const record = this.#nodes.get(key)!;
      record.requiredGeneration = effect.generation;
      record.stream?.write({ restart: { generation: effect.generation, reason, delayMs: effect.delayMs } });
    }
    this.#observe({
      type: 'generation-started',
      generation: effect.generation,
      policy: effect.policy,
      restarting: effect.nodes,
    });
    this.#restartTimer = setTimeout(() => {
      this.#dispatch({ type: 'restart-cluster' });
      this.#armRegistrationTimer();
      const deferred = this.#deferredEvents;
      this.#deferredEvents = [];
      const generation = this.#machine.snapshot.generation;
      for (const event of deferred) this.#nodeEvent(restamp(event, generation));
    }, effect.delayMs);
  }

  #finish(status: JobOutcome['status'], reason: string): void {
    if (this.#outcome) return;
    const snapshot = this.#machine.snapshot;
    const outcome: JobOutcome = {
      status,
      generation: snapshot.generation,
      restarts: snapshot.restarts,
      failures: snapshot.failures,
      reason,
      error:
        status === 'failed'
          ? failedJobError(this.config.name, {
              reason,
              failures: snapshot.failures,
              restarts: snapshot.restarts,
            })
          : undefined,
    };
    this.#outcome = outcome;
    this.#clearTimers();
    for (const record of this.#nodes.values()) {
      record.stream?.write({ stop: { reason, jobFailed: status === 'failed' } });
      record.stream?.end();
      record.stream = undefined;
    }
    this.#observe({ type: 'job-finished', outcome });
    this.#resolveResult(outcome);
  }

  #checkHeartbeats(): void {
    const snapshot = this.#machine.snapshot;
    if (isTerminal(snapshot.state)) return;
    for (const failure of this.#heartbeats.findSilentNodes(snapshot, this.#nodes, Date.now())) {
      this.#nodeEvent({ type: 'node-failed', failure });
    }
  }

  #armRegistrationTimer(): void {
    clearTimeout(this.#registrationTimer);
    const generation = this.#machine.snapshot.generation;
    // A node declared dead by missed heartbeats in an earlier generation has an agent that stopped
    // answering: a live agent re-registers as soon as its runner stopped (the stop grace period),
    // a dead one never does. Waiting the whole registrationTimeoutMs, then restarting again, only
    // delayed the failure (60 s × every restart); instead it gets the rejoin bound, then the job fails.
    const { heartbeat, stopGracePeriodMs, registrationTimeoutMs } = this.config;
    const rejoinMs = stopGracePeriodMs + heartbeat.intervalMs * heartbeat.missedLimit * 4;
    const wentSilent = (role: string, index: number) => {
      const deadIn = this.#nodes.get(nodeKey(role, index))?.declaredDeadIn;
      return deadIn !== undefined && deadIn < generation;
    };
    const anySilent = [...this.#nodes.values()].some((record) => wentSilent(record.role, record.index));
    const timeoutMs = anySilent ? Math.min(registrationTimeoutMs, rejoinMs) : registrationTimeoutMs;
    this.#registrationTimer = setTimeout(() => {
      const snapshot = this.#machine.snapshot;
      if (
        snapshot.generation !== generation ||
        (snapshot.state !== 'initializing' && snapshot.state !== 'registering')
      ) {
        return;
      }
      const missing = Object.values(snapshot.nodes).filter((node) => node.status === 'pending');
      const first = missing.find((node) => wentSilent(node.role, node.index)) ?? missing[0];
      if (!first) return;
      const names = missing.map((node) => `${node.role}[${node.index}]`).join(', ');
      const gone = wentSilent(first.role, first.index);
      this.#dispatch({
        type: 'node-failed',
        failure: {
          role: first.role,
          index: first.index,
          generation,
          reason: 'error',
          message: gone
            ? `went silent and did not register again within ${timeoutMs} ms (stop grace period + 4 × the heartbeat limit): its agent is gone, and restarting the cluster cannot bring it back; still missing: ${names}`
            : `did not register within ${timeoutMs} ms (registrationTimeoutMs); still missing: ${names}`,
          permanent: gone || undefined,
        },
      });
    }, timeoutMs);
  }

  #clearTimers(): void {
    clearInterval(this.#heartbeatTimer);
    clearTimeout(this.#registrationTimer);
    clearTimeout(this.#restartTimer);
  }

  #observe(observation: ClusterObservation): void {
    this.#observations.push(observation);
    if (this.#observations.length > observationLimit) this.#observations.shift();
    for (const listener of this.#listeners) {
      try {
        listener(observation);
      } catch (error) {
        this.#logger.error('an observation listener threw', { error: String(error) });
      }
    }
  }
}

/**
 * Collects the TCP sockets of the server's listeners. grpc-js keeps its HTTP/2 servers private
 * (`http2Servers`); when that changes in a later version, nothing is tracked and close() does
 * what grpc-js alone does.
 */
function trackSockets(server: Server, sockets: Set<Socket>): void {
  const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map)) return;
  for (const http2Server of http2Servers.keys() as Iterable<NetServer>) {
    http2Server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
  }
}

/** A deferred node report moves into the generation the cluster reached meanwhile. */
function restamp(event: ClusterEvent, generation: number): ClusterEvent {
  if (event.type === 'node-failed') return { ...event, failure: { ...event.failure, generation } };
  if (event.type === 'node-finished') return { ...event, generation };
  return event;
}

function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** This machine's first non-internal IPv4 address (else IPv6), for a join URL of a wildcard bind. */
function firstExternalAddress(): string {
  const addresses = Object.values(networkInterfaces()).flatMap((entries) => entries ?? []);
  const external = addresses.filter((entry) => !entry.internal);
  return (external.find((entry) => entry.family === 'IPv4') ?? external[0])?.address ?? '127.0.0.1';
}
