/**
 * The ApplicationManager of an embedded job, on a thread of its own.
 *
 * In `millrace run` the AM would otherwise share the job process's thread with the pipeline, and a
 * stage that computes without pause would hold every status answer, stop request and heartbeat
 * read for as long as it computes (issue 12, finding 7). Here the AM's gRPC server, state machine
 * and heartbeat monitor run in a worker thread; this thread keeps a handle with the AM's surface.
 *
 * What cannot cross threads stays here and is reached from the worker:
 * - The engine. Its hooks (when is the cluster complete, is the job finished, what does a failure
 *   mean) are user code, functions of a plain view. The worker calls them synchronously: it posts
 *   the call and waits on an `Atomics` flag until this thread has answered (the pattern of
 *   synckit). They run only on transitions (registrations, a node finishing or failing), so a
 *   busy pipeline delays a decision, never a heartbeat read or a status answer.
 * - The logger: the worker forwards each line.
 * - The node agents: they run the runners, whose contexts hold the role's queues, so they stay
 *   with the pipeline. This thread ticks a shared counter whenever its event loop takes a turn;
 *   the worker's heartbeat monitor reads it, so agents held by a busy pipeline are not declared
 *   dead while their process is demonstrably alive (heartbeat-monitor.ts).
 *
 * The worker runs the built module (`dist/am-thread-worker.js`): Node 20 cannot load TypeScript
 * in a worker, so tests that import the sources still start the built worker (build first).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import {
  type ClusterConfig,
  type ClusterObservation,
  ConfigError,
  type ConfigIssue,
  type JobOutcome,
  type Logger,
  MillraceError,
  type MillraceErrorCode,
  type MLFramework,
  type NodeFailure,
} from '@millrace/core';
import {
  type ApplicationManager,
  type ApplicationManagerOptions,
  failedJobError,
  type ObservationListener,
  observationLimit,
} from './application-manager.js';
import { silentLogger } from './logger.js';

/** What the embedded job uses of an AM: the same members on either thread. */
export type ApplicationManagerHandle = Pick<
  ApplicationManager,
  | 'config'
  | 'engine'
  | 'token'
  | 'address'
  | 'fingerprint'
  | 'joinUrl'
  | 'result'
  | 'observations'
  | 'onObservation'
  | 'stop'
  | 'reportNodeFailure'
  | 'untilObserved'
  | 'close'
>;

/** The options of {@link ApplicationManager.start} that can be copied to another thread. */
export type ThreadedApplicationManagerOptions = Omit<
  ApplicationManagerOptions,
  'engine' | 'engines' | 'hostThread'
> & { engine: MLFramework };

/** The engine hooks the worker may call; `nodeEnvironment` is the agents' business, not the AM's. */
export const engineHooks = ['validateConfig', 'isClusterComplete', 'isJobFinished', 'failurePolicy'] as const;
export type EngineHook = (typeof engineHooks)[number];

export interface WorkerInput {
  options: Omit<ThreadedApplicationManagerOptions, 'engine' | 'logger'>;
  engine: { name: string; specificationVersion: 'v1'; roles: MLFramework['roles']; hooks: EngineHook[] };
  /** Int32 flag: 0 while an engine call is pending, 1 once its answer is on `enginePort`. */
  engineSignal: SharedArrayBuffer;
  /** Int32 counter this thread increments at every turn of its event loop it gets. */
  pipelineTurns: SharedArrayBuffer;
  enginePort: MessagePort;
}

export type EngineCall = { hook: EngineHook; args: unknown[] };
export type EngineAnswer = { value: unknown } | { error: string };

export type ToWorker =
  | { type: 'stop'; reason: string }
  | { type: 'report-node-failure'; failure: Omit<NodeFailure, 'generation'> }
  | { type: 'until-observed'; id: number; observers: readonly string[] | undefined; timeoutMs: number }
  | { type: 'close' };

export interface SerializedError {
  name: string;
  code?: string | undefined;
  message: string;
  issues?: readonly ConfigIssue[] | undefined;
}

export type FromWorker =
  | {
      type: 'started';
      config: ClusterConfig;
      address: string;
      token: string;
      fingerprint: string | undefined;
      joinUrl: string;
    }
  | { type: 'start-failed'; error: SerializedError }
  | { type: 'observation'; observation: ClusterObservation }
  | { type: 'result'; outcome: JobOutcome }
  | { type: 'observed'; id: number; unread: string[] }
  | { type: 'log'; level: keyof Logger; message: string; fields?: Record<string, unknown> | undefined }
  | { type: 'closed' };

/** How often this thread marks a turn of its event loop for the worker's heartbeat monitor. */
const turnMarkEveryMs = 100;

const workerModule = fileURLToPath(new URL('../dist/am-thread-worker.js', import.meta.url));

/** Starts an ApplicationManager in a worker thread; rejects like {@link ApplicationManager.start}. */
export async function startApplicationManagerThread(
  options: ThreadedApplicationManagerOptions,
): Promise<ApplicationManagerHandle> {
  if (!existsSync(workerModule)) {
    throw new MillraceError(
      'DEPENDENCY_MISSING',
      `the application manager's thread module ${workerModule} is missing: build @millrace/runtime (npx turbo run build)`,
    );
  }
  const { engine, logger = silentLogger, ...copyable } = options;
  const engineChannel = new MessageChannel();
  const engineSignal = new SharedArrayBuffer(4);
  const pipelineTurns = new SharedArrayBuffer(4);
  const input: WorkerInput = {
    options: copyable,
    engine: {
      name: engine.name,
      specificationVersion: engine.specificationVersion,
      roles: engine.roles,
      hooks: engineHooks.filter((hook) => typeof engine[hook] === 'function'),
    },
    engineSignal,
    pipelineTurns,
    enginePort: engineChannel.port2,
  };
  const worker = new Worker(workerModule, {
    workerData: input,
    transferList: [engineChannel.port2],
    execArgv: builtCodeArguments(process.execArgv),
    name: `millrace-am-${options.config.name ?? 'cluster'}`,
  });
  answerEngineCalls(engine, engineChannel.port1, new Int32Array(engineSignal));
  const turns = new Int32Array(pipelineTurns);
  const marker = setInterval(() => Atomics.add(turns, 0, 1), turnMarkEveryMs);
  marker.unref();
  // What this thread holds for the worker, let go once the worker is gone, however it ended.
  worker.once('exit', () => {
    clearInterval(marker);
    engineChannel.port1.close();
  });
  worker.on('message', (message: FromWorker) => {
    if (message.type === 'log') logger[message.level](message.message, message.fields);
  });

  return new Promise<ApplicationManagerHandle>((resolve, reject) => {
    const onMessage = (message: FromWorker) => {
      if (message.type === 'started') {
        worker.off('message', onMessage);
        worker.off('exit', onEarlyExit);
        resolve(new ThreadedApplicationManager(worker, engine, message));
      } else if (message.type === 'start-failed') {
        void worker.terminate();
        reject(deserializeError(message.error));
      }
    };
    let thrown: Error | undefined;
    const onEarlyExit = (code: number) => {
      reject(
        new MillraceError(
          'PEER_DIED',
          `the application manager's thread exited (code ${code}) before it listened${thrown ? `: ${thrown.message}` : ''}`,
          { cause: thrown },
        ),
      );
    };
    worker.on('message', onMessage);
    worker.once('error', (error) => {
      thrown = error;
      logger.error(`the application manager's thread failed: ${error.message}`);
    });
    worker.once('exit', onEarlyExit);
  });
}

/**
 * This process's Node arguments without its export conditions: under a test runner they select the
 * TypeScript sources (`millrace-source`), which a worker cannot load; the worker runs built code.
 */
function builtCodeArguments(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const argument = execArgv[i]!;
    if (argument === '--conditions' || argument === '-C') i += 1;
    else if (!argument.startsWith('--conditions=')) kept.push(argument);
  }
  return kept;
}

/** Answers the worker's engine calls on this thread, whenever its event loop takes a turn. */
function answerEngineCalls(engine: MLFramework, port: MessagePort, signal: Int32Array): void {
  port.on('message', ({ hook, args }: EngineCall) => {
    let answer: EngineAnswer;
    try {
      const method = engine[hook] as (...parameters: unknown[]) => unknown;
      answer = { value: method.apply(engine, args) };
    } catch (error) {
      answer = { error: error instanceof Error ? error.message : String(error) };
    }
    port.postMessage(answer);
    Atomics.store(signal, 0, 1);
    Atomics.notify(signal, 0);
  });
  // The worker's own reference keeps the process alive while the AM runs; this port must not.
  port.unref();
}

class ThreadedApplicationManager implements ApplicationManagerHandle {
  readonly config: ClusterConfig;
  readonly engine: MLFramework;
  readonly token: string;
  readonly address: string;
  readonly fingerprint: string | undefined;
  readonly joinUrl: string;
  readonly result: Promise<JobOutcome>;

  readonly #worker: Worker;
  readonly #observations: ClusterObservation[] = [];
  readonly #listeners = new Set<ObservationListener>();
  readonly #untilObserved = new Map<number, (unread: string[]) => void>();
  readonly #closed: Promise<void>;
  #nextRequest = 0;
  #resolveResult!: (outcome: JobOutcome) => void;
  #outcome: JobOutcome | undefined;

  constructor(worker: Worker, engine: MLFramework, started: Extract<FromWorker, { type: 'started' }>) {
    this.#worker = worker;
    this.engine = engine;
    this.config = started.config;
    this.token = started.token;
    this.address = started.address;
    this.fingerprint = started.fingerprint;
    this.joinUrl = started.joinUrl;
    this.result = new Promise((resolve) => {
      this.#resolveResult = resolve;
    });
    worker.on('message', (message: FromWorker) => {
      switch (message.type) {
        case 'observation': {
          const { observation } = message;
          this.#observe(
            observation.type === 'job-finished'
              ? { ...observation, outcome: this.#withError(observation.outcome) }
              : observation,
          );
          break;
        }
        case 'result':
          this.#settle(this.#withError(message.outcome));
          break;
        case 'observed':
          this.#untilObserved.get(message.id)?.(message.unread);
          this.#untilObserved.delete(message.id);
          break;
        case 'closed':
          // The server is shut down; whatever else the thread holds goes with it.
          void worker.terminate();
          break;
      }
    });
    this.#closed = new Promise((resolve) => {
      worker.once('exit', (code) => {
        // A thread that ended without an outcome (it crashed) fails the job rather than hang it.
        this.#settle(
          this.#withError({
            status: 'failed',
            generation: 0,
            restarts: 0,
            failures: [],
            reason: `the application manager's thread ended (exit code ${code}) before the job did`,
          }),
        );
        for (const answer of this.#untilObserved.values()) answer([]);
        this.#untilObserved.clear();
        resolve();
      });
    });
  }

  get observations(): readonly ClusterObservation[] {
    return this.#observations;
  }

  onObservation(listener: ObservationListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async stop(reason = 'stopped by request'): Promise<JobOutcome> {
    this.#send({ type: 'stop', reason });
    return this.result;
  }

  reportNodeFailure(failure: Omit<NodeFailure, 'generation'>): void {
    this.#send({ type: 'report-node-failure', failure });
  }

  untilObserved(observers: readonly string[] | undefined, timeoutMs: number): Promise<string[]> {
    const id = this.#nextRequest++;
    return new Promise((resolve) => {
      this.#untilObserved.set(id, resolve);
      if (!this.#send({ type: 'until-observed', id, observers, timeoutMs })) {
        this.#untilObserved.delete(id);
        resolve([...(observers ?? [])]);
      }
    });
  }

  async close(): Promise<void> {
    this.#send({ type: 'close' });
    await this.#closed;
  }

  /** False once the thread is gone. */
  #send(message: ToWorker): boolean {
    try {
      this.#worker.postMessage(message);
      return true;
    } catch {
      return false;
    }
  }

  #observe(observation: ClusterObservation): void {
    this.#observations.push(observation);
    if (this.#observations.length > observationLimit) this.#observations.shift();
    for (const listener of this.#listeners) listener(observation);
  }

  #settle(outcome: JobOutcome): void {
    if (this.#outcome) return;
    this.#outcome = outcome;
    this.#resolveResult(outcome);
  }

  /** Errors do not cross threads as their classes: a failed outcome gets its JobFailedError here. */
  #withError(outcome: JobOutcome): JobOutcome {
    if (outcome.status !== 'failed') return outcome;
    return { ...outcome, error: failedJobError(this.config.name, outcome) };
  }
}

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  return {
    name: error.name,
    code: (error as { code?: string }).code,
    message: error.message,
    issues: (error as { issues?: readonly ConfigIssue[] }).issues,
  };
}

function deserializeError(serialized: SerializedError): Error {
  // The classes callers branch on keep their class; the words are the original's.
  let error: Error;
  if (serialized.issues !== undefined) error = new ConfigError(serialized.issues);
  else if (serialized.code !== undefined)
    error = new MillraceError(serialized.code as MillraceErrorCode, serialized.message);
  else error = new Error(serialized.message);
  error.name = serialized.name;
  error.message = serialized.message;
  return error;
}
