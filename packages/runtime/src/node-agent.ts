/**
 * The NodeAgent: one per role instance. It reserves its engine role's ports, registers with the
 * AM, waits (bounded) for the cluster spec, starts the runner with the context the engine asks
 * for, heartbeats, reports how the runner ended, and obeys the AM: `restart` stops the runner and
 * registers again into the new generation, `stop` stops it and leaves.
 *
 * Everything that can happen to the agent (stream events, stale-generation verdicts, the runner
 * ending, a lost AM, a local stop) arrives in one mailbox, so the lifecycle below reads in order.
 * Input and output channels belong to the caller and persist across attempts.
 */
import { join } from 'node:path';
import {
  type ClusterSpec,
  ConfigError,
  type InputChannel,
  type Logger,
  type MillraceError,
  MillraceError as MillraceErrorClass,
  MillraceTimeoutError,
  type MLFramework,
  type NodeFailure,
  type OutputChannel,
  ProtocolError,
  RegistrationError,
  type Runner,
  type RunnerContext,
  type RunnerHandle,
  type RunnerResult,
  StaleGenerationError,
} from '@millrace/core';
import {
  type ClusterEvent,
  ErrorCode,
  NodeState,
  protocolVersion,
  type RegisterNodeResponse,
} from '@millrace/protocol';
import { addressRoutingTo } from './advertise-host.js';
import { ApplicationManagerConnection, type ClusterWatch } from './am-client.js';
import { childLogger, createConsoleLogger } from './logger.js';
import { Mailbox } from './mailbox.js';
import {
  type AttemptInput,
  type AttemptInputSource,
  isAttemptInputSource,
} from './ml-operator/replay-input.js';
import {
  offerReservedSockets,
  type PortReservation,
  reservePorts,
  runnerAdoptsReservedSockets,
} from './port-reservation.js';
import { ensurePrivateDirectory, userTemporaryDirectory } from './private-directory.js';
import { ProgressWatch } from './progress-watch.js';
import { fromWireClusterSpec, protocolErrorCode, toWireFailureReason } from './protocol-mapping.js';

export interface NodeAgentOptions {
  /** `host:port` of the application manager. */
  address: string;
  token: string;
  /** SHA-256 (hex) of the AM's certificate, from its join URL: the agent speaks TLS and pins it. */
  fingerprint?: string | undefined;
  /** Allow plaintext to a non-loopback AM (the token crosses the network in the clear). */
  insecure?: boolean | undefined;
  role: string;
  index: number;
  /** The engine the cluster runs: it names the role's ports and builds the runner's environment. */
  engine: MLFramework;
  runner: Runner;
  /**
   * Host this node advertises to the others; its engine ports are bound there. Default: the
   * address of this machine's interface that routes to the AM (127.0.0.1 for a loopback AM).
   */
  host?: string | undefined;
  /**
   * Records for a stream-mode role; persists across attempts. An `AttemptInputSource` (the ML
   * operator's replay input) gives each runner start its own view, closed when that runner ends,
   * and takes the runner's checkpoint acknowledgements.
   */
  input?: InputChannel | AttemptInputSource | undefined;
  /** Where the runner's records go; persists across attempts. */
  output?: OutputChannel | undefined;
  /** Name of the role's codec, handed to the runner as `context.codec`. */
  codec?: string | undefined;
  /**
   * Survives restarts; default `<tmpdir>/millrace-<uid>/<job name>`. Created with mode 0700; an
   * existing one owned by another user, or writable by others, is refused (a ConfigError).
   */
  checkpointDirectory?: string | undefined;
  logger?: Logger | undefined;
  /** How long to wait for the cluster spec after registering. Default 120 000 ms. */
  specTimeoutMs?: number | undefined;
  /** How long the AM may be unreachable before the agent gives up. Default 10 000 ms. */
  connectionLostMs?: number | undefined;
  /** The generation to register into first. Default 0 (a stale one is corrected by the AM). */
  generation?: number | undefined;
  /** Called with each step of the node's life, for progress displays. */
  onEvent?: ((event: NodeAgentEvent) => void) | undefined;
}

export type NodeAgentEvent =
  | { type: 'registered'; generation: number; attempt: number }
  | { type: 'spec-received'; spec: ClusterSpec }
  | { type: 'runner-started'; generation: number; attempt: number }
  | { type: 'runner-ended'; result: RunnerResult }
  | { type: 'restarting'; generation: number; reason: string }
  | { type: 'leaving'; reason: string };

export interface NodeAgentOutcome {
  /** Why the agent left (the AM's stop reason, or a local stop). */
  reason: string;
  /** How the runner's last attempt ended; undefined when it never started. */
  lastResult?: RunnerResult | undefined;
  generation: number;
  /** How many times the runner was started. */
  starts: number;
  /**
   * True when the AM said the job failed. The node's own runner may have ended cleanly (stopped by
   * a restart or by the job's end), so `lastResult` alone does not tell a standalone node's exit code.
   */
  jobFailed: boolean;
}

type AgentSignal =
  | { type: 'spec'; spec: ClusterSpec }
  | { type: 'restart'; generation: number; reason: string }
  | { type: 'stop'; reason: string; jobFailed?: boolean }
  | { type: 'lost'; error: MillraceError }
  | { type: 'runner-ended'; result: RunnerResult; start: number }
  | { type: 'stalled'; silentMs: number; timeoutMs: number; start: number };

export class NodeAgent {
  readonly role: string;
  readonly index: number;
  readonly #options: NodeAgentOptions;
  readonly #logger: Logger;
  readonly #mailbox = new Mailbox<AgentSignal>();
  readonly #connection: ApplicationManagerConnection;
  /** The generation of the node's current registration (what heartbeats carry). */
  #generation = -1;
  /** The generation the agent is moving into; restarts to it or below are already handled. */
  #targetGeneration: number;
  #attempt = 0;
  #starts = 0;
  #watch: ClusterWatch | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #lastContact = Date.now();
  #pendingMetrics: Record<string, number> = {};
  #metricsTimer: NodeJS.Timeout | undefined;
  #running: Promise<NodeAgentOutcome> | undefined;
  #startFailure: RunnerResult | undefined;
  #leaving = false;
  /** The host this node advertises (resolved when the lifecycle starts). */
  #host = '127.0.0.1';
  readonly #progress = new ProgressWatch();
  /** The caller's input as the runner sees it: reads count as progress for stall detection. */
  readonly #input: InputChannel | undefined;
  /** The current runner start's view of an attempt-aware input; closed when that runner ends. */
  #attemptInput: AttemptInput | undefined;
  /** The running runner's `onClusterSpec` listeners. */
  #specListeners: ((spec: ClusterSpec) => void)[] = [];

  constructor(options: NodeAgentOptions) {
    this.#options = options;
    this.role = options.role;
    this.index = options.index;
    this.#targetGeneration = options.generation ?? 0;
    this.#logger = childLogger(options.logger ?? createConsoleLogger(), `${options.role}[${options.index}]`);
    this.#connection = new ApplicationManagerConnection({
      address: options.address,
      token: options.token,
      fingerprint: options.fingerprint,
      insecure: options.insecure,
    });
    const input = options.input;
    this.#input = input && !isAttemptInputSource(input) ? this.#progress.observeInput(input) : undefined;
  }

  /** Runs the node until the AM stops it; rejects when it cannot take part (refused, AM lost). */
  run(): Promise<NodeAgentOutcome> {
    this.#running ??= this.#lifecycle().finally(() => this.#shutdown());
    return this.#running;
  }

  /** Stops the runner and leaves, without stopping the job (the AM will see the node go silent). */
  async stop(reason = 'stopped locally'): Promise<void> {
    this.#mailbox.push({ type: 'stop', reason });
    await this.#running?.catch(() => {});
  }

  async #lifecycle(): Promise<NodeAgentOutcome> {
    let generation = this.#targetGeneration;
    let lastResult: RunnerResult | undefined;
    const portNames = this.#options.engine.roles.find((role) => role.name === this.role)?.ports ?? [];
    const host = this.#options.host ?? (await addressRoutingTo(this.#options.address));
    this.#host = host;
    const adopts = runnerAdoptsReservedSockets(this.#options.runner);
    let previousPorts: Readonly<Record<string, number>> = {};
    for (;;) {
      // A restart asks for the same ports: survivors of a restart-one still use the old spec.
      const reservation = await reservePorts(host, portNames, previousPorts);
      previousPorts = reservation.ports;
      let registration: RegisterNodeResponse;
      let spec: ClusterSpec;
      let runnerStarting = false;
      try {
        const registered = await this.#register(generation, reservation);
        if (!registered) return this.#leave('the job already ended', lastResult, generation);
        registration = registered;
        generation = registration.generation;
        this.#emit({ type: 'registered', generation, attempt: registration.attempt });
        this.#openWatch();
        this.#startHeartbeats(registration.heartbeatIntervalMs);
        const first = await this.#waitForSpec();
        if (first.type === 'restart') {
          generation = first.generation;
          continue;
        }
        if (first.type === 'stop') return this.#leave(first.reason, lastResult, generation, first.jobFailed);
        if (first.type === 'lost') throw first.error;
        if (first.type !== 'spec') continue;
        spec = first.spec;
        runnerStarting = true;
      } finally {
        // Released right before the runner starts, so it can bind the published ports itself;
        // a runner that adopts the bound sockets gets them during its start instead.
        if (!(adopts && runnerStarting)) await reservation.release();
      }
      this.#emit({ type: 'spec-received', spec });

      const start = ++this.#starts;
      const controller = new AbortController();
      const handle = await this.#startRunner(spec, reservation, controller.signal).finally(() =>
        reservation.release(),
      );
      if (handle) {
        this.#emit({ type: 'runner-started', generation, attempt: this.#attempt });
        await this.#report(NodeState.NODE_STATE_RUNNING);
        void handle.result.then((result) => this.#mailbox.push({ type: 'runner-ended', result, start }));
        const timeoutMs = registration!.stallTimeoutMs;
        if (timeoutMs > 0) {
          this.#progress.start({
            timeoutMs,
            onStall: (silentMs) => this.#mailbox.push({ type: 'stalled', silentMs, timeoutMs, start }),
          });
        }
      } else {
        lastResult = this.#startFailure;
      }
      let runnerLive = handle !== undefined;
      // A runner's stop is bounded by its own grace period; this bound covers runners that hang.
      const stopBoundMs = registration!.stopGracePeriodMs + 2_000;
      let stalled = false;
      const stopRunner = async (reason: string) => {
        this.#progress.stop();
        // Nothing more goes to a runner that is being stopped: what it has not read stays queued.
        this.#attemptInput?.close();
        controller.abort(new Error(reason));
        if (runnerLive && handle) {
          let timer: NodeJS.Timeout | undefined;
          const bound = new Promise<'timeout'>((resolve) => {
            timer = setTimeout(() => resolve('timeout'), stopBoundMs);
          });
          const ended = await Promise.race([handle.stop(reason).then(() => 'stopped' as const), bound]);
          clearTimeout(timer);
          if (ended === 'timeout')
            this.#logger.warn(`the runner did not stop within ${stopBoundMs} ms; leaving it`);
        }
        runnerLive = false;
      };

      for (;;) {
        const signal = await this.#mailbox.next();
        if (!signal) continue;
        if (signal.type === 'runner-ended') {
          // A stalled runner was already reported; its stopped result says nothing new.
          if (signal.start !== start || stalled) continue;
          this.#progress.stop();
          this.#attemptInput?.close();
          runnerLive = false;
          lastResult = signal.result;
          this.#emit({ type: 'runner-ended', result: signal.result });
          await this.#reportResult(signal.result);
        } else if (signal.type === 'stalled') {
          if (signal.start !== start || !runnerLive) continue;
          stalled = true;
          const message = `no progress for ${signal.silentMs} ms (stallTimeoutMs ${signal.timeoutMs}): no metric reported and no record consumed`;
          this.#logger.warn(`the runner stalled: ${message}; stopping it`);
          await stopRunner(`stalled: ${message}`);
          lastResult = { status: 'failed', message: `stalled: ${message}` };
          this.#emit({ type: 'runner-ended', result: lastResult });
          await this.#flushMetrics();
          await this.#report(NodeState.NODE_STATE_FAILED, {
            reason: toWireFailureReason('stalled'),
            message,
          });
        } else if (signal.type === 'spec') {
          // Another node restarted alone: adopt the new generation, keep running, and tell the
          // runner where the nodes are now.
          generation = Math.max(generation, signal.spec.generation);
          this.#generation = generation;
          this.#targetGeneration = Math.max(this.#targetGeneration, generation);
          if (runnerLive) this.#tellSpecListeners(signal.spec);
        } else if (signal.type === 'restart') {
          this.#emit({ type: 'restarting', generation: signal.generation, reason: signal.reason });
          await stopRunner(`restart into generation ${signal.generation}: ${signal.reason}`);
          generation = signal.generation;
          break;
        } else if (signal.type === 'stop') {
          const wasLive = runnerLive;
          await stopRunner(signal.reason);
          if (wasLive) await this.#report(NodeState.NODE_STATE_STOPPED);
          return this.#leave(
            signal.reason,
            lastResult ?? { status: 'stopped' },
            generation,
            signal.jobFailed,
          );
        } else {
          await stopRunner('lost the application manager');
          throw signal.error;
        }
      }
    }
  }

  #leave(
    reason: string,
    lastResult: RunnerResult | undefined,
    generation: number,
    jobFailed = false,
  ): NodeAgentOutcome {
    this.#emit({ type: 'leaving', reason });
    return { reason, lastResult, generation, starts: this.#starts, jobFailed };
  }

  /** Registers, retrying while the AM is unreachable or between generations; undefined once the job ended. */
  async #register(
    generation: number,
    reservation: PortReservation,
  ): Promise<RegisterNodeResponse | undefined> {
    let wanted = generation;
    // Unreachable: bounded by connectionLostMs. Between generations: the AM answers, so the wait is
    // bounded by its restart backoff; specTimeoutMs backstops it.
    const unreachableDeadline = Date.now() + (this.#options.connectionLostMs ?? 10_000);
    const notAcceptingDeadline = Date.now() + (this.#options.specTimeoutMs ?? 120_000);
    for (;;) {
      try {
        const response = await this.#connection.registerNode({
          protocolVersion,
          role: this.role,
          index: this.index,
          host: this.#host,
          ports: { ...reservation.ports },
          pid: process.pid,
          generation: wanted,
        });
        if (response.engine !== this.#options.engine.name) {
          throw new ConfigError([
            {
              path: 'engine',
              message: `the application manager runs engine '${response.engine}' but this node was given '${this.#options.engine.name}'`,
            },
          ]);
        }
        this.#generation = response.generation;
        this.#targetGeneration = Math.max(this.#targetGeneration, response.generation);
        this.#attempt = response.attempt;
        this.#lastContact = Date.now();
        return response;
      } catch (error) {
        if (
          error instanceof StaleGenerationError ||
          (MillraceErrorClass.isInstance(error) && error.code === 'STALE_GENERATION')
        ) {
          wanted = (error as StaleGenerationError).current;
          continue;
        }
        const code = protocolErrorCode(error);
        if (code === ErrorCode.ERROR_CODE_JOB_ENDED) return undefined;
        const notAccepting = error instanceof RegistrationError && error.reason === 'not-accepting';
        const unreachable = error instanceof ProtocolError && code === undefined; // no detail: no AM (yet)
        if (notAccepting && Date.now() < notAcceptingDeadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          continue;
        }
        if (!unreachable || Date.now() > unreachableDeadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  async #waitForSpec(): Promise<AgentSignal> {
    const timeoutMs = this.#options.specTimeoutMs ?? 120_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const signal = await this.#mailbox.next(Math.max(0, deadline - Date.now()));
      if (!signal) {
        throw new MillraceTimeoutError(
          'the cluster spec',
          timeoutMs,
          `${this.role}[${this.index}] registered but the cluster never became complete (are all nodes started?)`,
        );
      }
      if (signal.type !== 'runner-ended' && signal.type !== 'stalled') return signal;
    }
  }

  /** Hands a later generation's spec to the running runner's listeners; a throwing one is logged. */
  #tellSpecListeners(spec: ClusterSpec): void {
    for (const listener of this.#specListeners) {
      try {
        listener(spec);
      } catch (error) {
        this.#logger.error('a cluster spec listener threw', { error: (error as Error).message });
      }
    }
  }

  async #startRunner(
    spec: ClusterSpec,
    reservation: PortReservation,
    signal: AbortSignal,
  ): Promise<RunnerHandle | undefined> {
    // Listeners belong to one runner start: a restarted runner subscribes again.
    this.#specListeners = [];
    try {
      const checkpointDirectory = this.#options.checkpointDirectory
        ? ensurePrivateDirectory(this.#options.checkpointDirectory, { purpose: 'checkpointDirectory' })
        : ensurePrivateDirectory(join(userTemporaryDirectory(), safeFileName(spec.jobName)), {
            purpose: 'checkpointDirectory',
            privateToOwner: true,
          });
      const environment = this.#options.engine.nodeEnvironment({
        role: this.role,
        index: this.index,
        attempt: this.#attempt,
        clusterSpec: spec,
        checkpointDirectory,
      });
      const source = isAttemptInputSource(this.#options.input) ? this.#options.input : undefined;
      this.#attemptInput?.close();
      this.#attemptInput = source?.openAttempt();
      const input = this.#attemptInput
        ? this.#progress.observeInput(this.#attemptInput.channel)
        : this.#input;
      const context: RunnerContext = {
        jobName: spec.jobName,
        role: this.role,
        index: this.index,
        generation: this.#generation,
        attempt: this.#attempt,
        clusterSpec: spec,
        environment,
        input,
        output: this.#options.output,
        codec: this.#options.codec,
        checkpointDirectory,
        reservedPorts: reservation.ports,
        logger: this.#logger,
        metrics: { report: (metrics) => this.#queueMetrics(metrics) },
        signal,
        onClusterSpec: (listener) => this.#specListeners.push(listener),
        resumePosition: this.#attemptInput?.resumePosition ?? 0,
        checkpointed: (position) => {
          this.#progress.progress();
          source?.acknowledge(position);
        },
      };
      offerReservedSockets(context, reservation);
      return await this.#options.runner.start(context);
    } catch (error) {
      const message = `could not start runner '${this.#options.runner.description}': ${(error as Error)?.message ?? String(error)}`;
      this.#logger.error(message);
      const result: RunnerResult = { status: 'failed', message, permanent: startCannotSucceed(error) };
      this.#startFailure = result;
      this.#emit({ type: 'runner-ended', result });
      await this.#reportResult(result, 'start-failed');
      return undefined;
    }
  }

  async #reportResult(result: RunnerResult, reason: NodeFailure['reason'] = 'exited'): Promise<void> {
    await this.#flushMetrics();
    if (result.status === 'succeeded') await this.#report(NodeState.NODE_STATE_SUCCEEDED);
    else if (result.status === 'stopped') await this.#report(NodeState.NODE_STATE_STOPPED);
    else {
      const exited = result.exitCode !== undefined || result.signal !== undefined;
      await this.#report(NodeState.NODE_STATE_FAILED, {
        reason: toWireFailureReason(exited ? reason : reason === 'start-failed' ? reason : 'error'),
        exitCode: result.exitCode,
        signal: result.signal ?? '',
        message: result.message,
        stderrTail: result.stderrTail ?? '',
        permanent: result.permanent ?? false,
      });
    }
  }

  async #report(
    state: NodeState,
    extra: Partial<{
      reason: ReturnType<typeof toWireFailureReason>;
      exitCode: number | undefined;
      signal: string;
      message: string;
      stderrTail: string;
      metrics: Record<string, number>;
      permanent: boolean;
    }> = {},
  ): Promise<void> {
    try {
      await this.#connection.reportStatus({
        role: this.role,
        index: this.index,
        generation: this.#generation,
        state,
        attempt: this.#attempt,
        reason: extra.reason ?? 0,
        exitCode: extra.exitCode,
        signal: extra.signal ?? '',
        message: extra.message ?? '',
        stderrTail: extra.stderrTail ?? '',
        metrics: extra.metrics ?? {},
        permanent: extra.permanent ?? false,
      });
      this.#lastContact = Date.now();
    } catch (error) {
      this.#handleCallError(error, 'report');
    }
  }

  #queueMetrics(metrics: Readonly<Record<string, number>>): void {
    this.#progress.progress();
    Object.assign(this.#pendingMetrics, metrics);
    // Coalesce bursts: a runner reporting every step must not flood the AM.
    this.#metricsTimer ??= setTimeout(() => void this.#flushMetrics(), 100);
  }

  async #flushMetrics(): Promise<void> {
    clearTimeout(this.#metricsTimer);
    this.#metricsTimer = undefined;
    const metrics = this.#pendingMetrics;
    if (!Object.keys(metrics).length) return;
    this.#pendingMetrics = {};
    await this.#report(NodeState.NODE_STATE_RUNNING, { metrics });
  }

  #openWatch(): void {
    this.#watch?.cancel();
    const generation = this.#generation;
    this.#watch = this.#connection.watchCluster(
      { role: this.role, index: this.index, generation },
      {
        onEvent: (event) => this.#onClusterEvent(event),
        onEnd: (error) => {
          if (this.#leaving) return;
          if (error) this.#handleCallError(error, 'watch');
          // The AM ends streams only after sending stop; anything else is a dropped connection:
          // reopen while the heartbeats decide whether the AM is really gone.
          setTimeout(() => {
            if (!this.#leaving && this.#generation === generation) this.#openWatch();
          }, 200).unref();
        },
      },
    );
  }

  #onClusterEvent(event: ClusterEvent): void {
    if (event.specReady?.spec) {
      const spec = fromWireClusterSpec(event.specReady.spec);
      if (spec.generation >= this.#generation) this.#mailbox.push({ type: 'spec', spec });
    } else if (event.restart) {
      this.#restartInto(event.restart.generation, event.restart.reason);
    } else if (event.stop) {
      this.#mailbox.push({ type: 'stop', reason: event.stop.reason, jobFailed: event.stop.jobFailed });
    }
  }

  #restartInto(generation: number, reason: string): void {
    if (generation <= this.#targetGeneration) return;
    this.#targetGeneration = generation;
    this.#mailbox.push({ type: 'restart', generation, reason });
  }

  #startHeartbeats(intervalMs: number): void {
    if (this.#heartbeatTimer) return;
    const lostAfter = this.#options.connectionLostMs ?? 10_000;
    // The agent's own thread can stall (in an embedded job it is the pipeline's, and a stage may
    // compute without pause): a call whose deadline ran out meanwhile says nothing about the AM,
    // and the time this thread could not run is not time the AM was silent.
    let lastTickAt = Date.now();
    let stalledSinceContactMs = 0;
    const noteOwnStall = () => {
      const now = Date.now();
      const lateMs = now - lastTickAt - intervalMs;
      lastTickAt = now;
      if (lateMs > intervalMs) stalledSinceContactMs += lateMs;
    };
    const beat = async () => {
      noteOwnStall();
      try {
        await this.#connection.heartbeat({
          role: this.role,
          index: this.index,
          generation: this.#generation,
        });
        this.#lastContact = Date.now();
        stalledSinceContactMs = 0;
      } catch (error) {
        this.#handleCallError(error, 'heartbeat');
        noteOwnStall();
        if (Date.now() - this.#lastContact - stalledSinceContactMs > lostAfter && !this.#leaving) {
          this.#mailbox.push({
            type: 'lost',
            error: new MillraceTimeoutError(
              'the application manager',
              lostAfter,
              `no answer from ${this.#options.address}: ${(error as Error).message}`,
            ),
          });
        }
      }
    };
    this.#heartbeatTimer = setInterval(() => void beat(), intervalMs);
  }

  #handleCallError(error: unknown, what: string): void {
    if (error instanceof StaleGenerationError) {
      this.#restartInto(error.current, `the cluster moved to generation ${error.current}`);
      return;
    }
    if (MillraceErrorClass.isInstance(error) && error.code === 'AUTHENTICATION') {
      this.#mailbox.push({ type: 'lost', error });
      return;
    }
    this.#logger.debug(`${what} failed: ${(error as Error).message}`);
  }

  #emit(event: NodeAgentEvent): void {
    this.#logger.debug(event.type, { ...event, spec: undefined });
    try {
      this.#options.onEvent?.(event);
    } catch (error) {
      this.#logger.error(`onEvent threw: ${String(error)}`);
    }
  }

  #shutdown(): void {
    this.#leaving = true;
    this.#attemptInput?.close();
    clearInterval(this.#heartbeatTimer);
    clearTimeout(this.#metricsTimer);
    this.#progress.stop();
    this.#watch?.cancel();
    this.#connection.close();
  }
}

/**
 * A runner that could not start because of what it was given (a bad config, a missing dependency,
 * an executable that does not exist or may not run) fails the same way on every restart.
 */
function startCannotSucceed(error: unknown): boolean {
  for (let cause = error, depth = 0; cause && depth < 5; cause = (cause as Error).cause, depth++) {
    if (
      MillraceErrorClass.isInstance(cause) &&
      (cause.code === 'CONFIG_INVALID' || cause.code === 'DEPENDENCY_MISSING')
    )
      return true;
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOEXEC') return true;
  }
  return false;
}

/** A job name as one path segment: no separators, no `..`. */
function safeFileName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return cleaned === '.' || cleaned === '..' ? `_${cleaned}` : cleaned;
}
