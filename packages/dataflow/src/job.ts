/**
 * A dataflow job: build a graph of sources, operators and sinks with the methods here and on
 * {@link DataStream}, then `execute()` it. A bounded job ends when every source ended and every
 * record was drained; an unbounded one runs until `cancel()` or its AbortSignal fires.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError, ConfigError } from '@millrace/core';
import { DataStream } from './data-stream.js';
import { checkJobHosts, type JobHosts, processHosts } from './hosts.js';
import type { JobEvent, JobEventListener, JobStatus } from './job-events.js';
import type { SourceFactory } from './operator.js';
import { checkPositiveInteger, type OperatorOptions } from './options.js';
import { Execution } from './runtime/execution.js';
import type { GraphInput, GraphNode } from './runtime/graph.js';
import type { OperatorMetrics } from './runtime/metrics.js';
import type { CsvColumnType, CsvRecord } from './sources/csv.js';
import { readCsv, readJsonLines, readLines } from './sources/file-sources.js';
import { type GeneratorOptions, generatorSource } from './sources/generator-source.js';
import { type IterableSourceInput, isOneShot, iterableSource } from './sources/iterable-source.js';

export interface RestartStrategy {
  /** How many times the whole job may restart after a failure before it fails. */
  maxRestarts: number;
  /** Wait before each restart. Default 100 ms. */
  delayMs?: number;
}

export interface JobOptions {
  /** Shown in logs and the CLI. Default `job`. */
  name?: string;
  /** Default parallelism of operators that do not set their own. Default 1. */
  parallelism?: number;
  /** Records per batch between subtasks. Default 1024. */
  batchSize?: number;
  /** Batches a subtask's input channel holds before upstream waits (backpressure). Default 4. */
  channelCapacity?: number;
  /** Async sources send a partial batch after this long. Default 5 ms. */
  lingerMs?: number;
  /** How often `operator-metrics` events are published while running. Default 1000 ms. */
  metricsIntervalMs?: number;
  /**
   * Restart the whole job (every source from the beginning) after a failure, at most
   * `maxRestarts` times. Records that reached sinks before the failure are delivered again
   * (at-least-once), except `collect()` results, which start over. Sources must be replayable:
   * arrays, files, generators, or functions returning a fresh iterable.
   */
  restart?: RestartStrategy;
  /**
   * Which host of a multi-host job this is. Default: what `millrace run --hosts N --host-index I`
   * set, else MILLRACE_HOSTS / MILLRACE_HOST_INDEX, else one host. On N hosts the built-in
   * sources read this host's share (position p is host p mod N's; see hosts.ts) and ML roles run
   * the instances placed here.
   */
  hosts?: JobHosts;
}

export interface ExecuteOptions {
  /** Cancels the job when it fires; `execute` then resolves with status `cancelled`. */
  signal?: AbortSignal;
}

export interface JobResult {
  status: Exclude<JobStatus, 'failed'>;
  /** 1 + the number of restarts. */
  attempts: number;
  metrics: readonly OperatorMetrics[];
}

interface NodeSpec {
  kind: string;
  options: OperatorOptions | undefined;
  inputs: readonly GraphInput[];
  source?: SourceFactory<unknown>;
  operator?: GraphNode['operator'];
  beforeAttempt?: () => void;
  notReplayable?: string;
  /** Parallelism this node must have (e.g. 1 for a non-parallel source). */
  fixedParallelism?: number;
}

export class Job {
  readonly name: string;
  /** Which host of the job this process is, and how many there are. */
  readonly hosts: JobHosts;
  readonly #settings: Required<Omit<JobOptions, 'restart' | 'name' | 'hosts'>>;
  readonly #restart: RestartStrategy | undefined;
  readonly #nodes: GraphNode[] = [];
  readonly #names = new Set<string>();
  readonly #listeners = new Set<JobEventListener>();
  #execution: Execution | undefined;
  #started = false;
  #cancelReason: unknown;
  readonly #cancel = new AbortController();

  constructor(options: JobOptions = {}) {
    for (const field of ['parallelism', 'batchSize', 'channelCapacity', 'metricsIntervalMs'] as const) {
      checkPositiveInteger(options[field], field, 'job options');
    }
    if (options.restart !== undefined) {
      const { maxRestarts, delayMs } = options.restart;
      if (!Number.isInteger(maxRestarts) || maxRestarts < 0) {
        throw new ConfigError(
          [{ path: 'restart.maxRestarts', message: 'must be zero or a positive integer' }],
          {
            subject: 'job options',
          },
        );
      }
      if (delayMs !== undefined && !(delayMs >= 0)) {
        throw new ConfigError([{ path: 'restart.delayMs', message: 'must be zero or more' }], {
          subject: 'job options',
        });
      }
    }
    if (options.hosts !== undefined) checkJobHosts(options.hosts, 'job options hosts');
    this.hosts = { ...(options.hosts ?? processHosts()) };
    this.name = options.name ?? 'job';
    this.#restart = options.restart;
    this.#settings = {
      parallelism: options.parallelism ?? 1,
      batchSize: options.batchSize ?? 1024,
      channelCapacity: options.channelCapacity ?? 4,
      lingerMs: options.lingerMs ?? 5,
      metricsIntervalMs: options.metricsIntervalMs ?? 1000,
    };
  }

  /** Records per batch between subtasks. */
  get batchSize(): number {
    return this.#settings.batchSize;
  }

  /** What iterable and file sources need: batching, and whose share of the input to read. */
  get #sourceSettings() {
    return { batchSize: this.#settings.batchSize, lingerMs: this.#settings.lingerMs, hosts: this.hosts };
  }

  // ---- sources ----

  /**
   * Records of an array, an iterable or an async iterable (a generator, a Node stream, a Kafka
   * consumer), read by one subtask (on N hosts, each host keeps the elements at positions
   * `index`, `index + N` …). Pass a function returning the iterable when the job has a
   * restart strategy and the iterable can be read only once.
   */
  fromIterable<T>(input: IterableSourceInput<T>, options?: OperatorOptions): DataStream<T> {
    return this.#sourceStream<T>({
      kind: 'source',
      options,
      inputs: [],
      source: iterableSource(input, this.#sourceSettings) as SourceFactory<unknown>,
      fixedParallelism: 1,
      ...(isOneShot(input)
        ? { notReplayable: 'it is a one-shot iterator; pass a function that returns a fresh one' }
        : {}),
    });
  }

  /** The lines of a UTF-8 text file (`\n` or `\r\n`), streamed. */
  fromLines(path: string, options?: OperatorOptions): DataStream<string> {
    return this.#sourceStream({
      kind: 'lines',
      options,
      inputs: [],
      source: iterableSource(() => readLines(path), this.#sourceSettings) as SourceFactory<unknown>,
      fixedParallelism: 1,
    });
  }

  /** One JSON value per line of a file. */
  fromJsonLines<T>(path: string, options?: OperatorOptions): DataStream<T> {
    return this.#sourceStream({
      kind: 'json-lines',
      options,
      inputs: [],
      source: iterableSource(() => readJsonLines<T>(path), this.#sourceSettings) as SourceFactory<unknown>,
      fixedParallelism: 1,
    });
  }

  /**
   * A CSV file with a header line; `columns` names the columns to read and their types, e.g.
   * `{ user: 'string', age: 'integer', score: 'number', active: 'boolean' }`. Other columns are
   * ignored; a missing column or a value of the wrong type fails with the line number.
   */
  fromCsv<C extends Record<string, CsvColumnType>>(
    path: string,
    options: OperatorOptions & { columns: C },
  ): DataStream<CsvRecord<C>> {
    return this.#sourceStream({
      kind: 'csv',
      options,
      inputs: [],
      source: iterableSource(
        () => readCsv(path, options.columns),
        this.#sourceSettings,
      ) as SourceFactory<unknown>,
      fixedParallelism: 1,
    });
  }

  /** Generated records `create(0)`, `create(1)` …, optionally bounded and rate-limited. */
  generate<T>(create: (index: number) => T, options: GeneratorOptions & OperatorOptions = {}): DataStream<T> {
    checkPositiveInteger(options.ratePerSecond, 'ratePerSecond', 'generate options');
    if (options.count !== undefined && !(Number.isInteger(options.count) && options.count >= 0)) {
      throw new ConfigError([{ path: 'count', message: 'must be zero or a positive integer' }], {
        subject: 'generate options',
      });
    }
    return this.#sourceStream({
      kind: 'generate',
      options,
      inputs: [],
      source: generatorSource(
        create,
        options,
        this.#settings.batchSize,
        this.hosts,
      ) as SourceFactory<unknown>,
    });
  }

  /** A source with its own lifecycle (see {@link SourceOperator}); one instance per subtask. */
  source<T>(factory: SourceFactory<T>, options?: OperatorOptions): DataStream<T> {
    return this.#sourceStream({
      kind: 'source',
      options,
      inputs: [],
      source: factory as SourceFactory<unknown>,
    });
  }

  // ---- observing and running ----

  /** Listens to job events (metrics, operator events, restarts, the end). Returns an unsubscribe function. */
  onEvent(listener: JobEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Per-operator metrics right now (also while running). */
  metrics(): OperatorMetrics[] {
    return this.#execution?.metrics() ?? [];
  }

  /** Stops a running job; `execute` resolves with status `cancelled`. */
  cancel(reason?: string): void {
    this.#cancelReason = new CancelledError(reason ?? 'The job was cancelled');
    this.#cancel.abort(this.#cancelReason);
  }

  /**
   * Runs the job. Resolves when a bounded job drained (`finished`) or the job was cancelled
   * (`cancelled`); rejects with the failing operator's error (an {@link OperatorError}, or the
   * operator's own MillraceError such as a cluster's JobFailedError) after restarts ran out.
   */
  async execute(options: ExecuteOptions = {}): Promise<JobResult> {
    if (this.#started)
      throw new ConfigError([{ path: 'execute', message: 'a job can be executed once' }], { subject: 'job' });
    this.#started = true;
    if (this.#nodes.length === 0) {
      throw new ConfigError(
        [{ path: 'sources', message: 'the job has no sources; add one with fromIterable, generate …' }],
        {
          subject: 'job',
        },
      );
    }
    this.#checkReplayable();
    const signals = [this.#cancel.signal, ...(options.signal ? [options.signal] : [])];
    const signal = signals.length === 1 ? signals[0]! : AbortSignal.any(signals);
    const timer = setInterval(() => this.#publishMetrics(), this.#settings.metricsIntervalMs);
    timer.unref();
    let attempt = 0;
    try {
      for (;;) {
        attempt += 1;
        if (signal.aborted) return this.#end('cancelled', attempt);
        const execution = new Execution(this.#nodes, this.#settings, {
          publish: (operator, subtask, payload) =>
            this.#emit({ type: 'operator-event', operator, subtask, payload }),
          publishObservation: (operator, subtask, observation) =>
            this.#emit({ type: 'cluster-observation', operator, subtask, observation }),
        });
        this.#execution = execution;
        const onAbort = () => execution.cancel(signal.reason ?? this.#cancelReason);
        signal.addEventListener('abort', onAbort, { once: true });
        this.#emit({ type: 'job-started', attempt });
        try {
          const status = await execution.run();
          return this.#end(status, attempt);
        } catch (error) {
          if (signal.aborted) return this.#end('cancelled', attempt);
          const restarts = this.#restart?.maxRestarts ?? 0;
          if (attempt > restarts) {
            this.#publishMetrics();
            this.#emit({ type: 'job-finished', status: 'failed', error });
            throw error;
          }
          const delayMs = this.#restart?.delayMs ?? 100;
          this.#emit({ type: 'job-restarting', attempt: attempt + 1, error, delayMs });
          await sleep(delayMs, undefined, { signal }).catch(() => {});
        } finally {
          signal.removeEventListener('abort', onAbort);
        }
      }
    } finally {
      clearInterval(timer);
    }
  }

  #end(status: 'finished' | 'cancelled', attempts: number): JobResult {
    this.#publishMetrics();
    this.#emit({ type: 'job-finished', status });
    return { status, attempts, metrics: this.metrics() };
  }

  #publishMetrics(): void {
    if (this.#execution) this.#emit({ type: 'operator-metrics', operators: this.#execution.metrics() });
  }

  #emit(event: JobEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        // A broken listener must not break the job; say so once per event.
        process.emitWarning(`job.onEvent listener threw on '${event.type}': ${(error as Error).message}`);
      }
    }
  }

  #checkReplayable(): void {
    if (!this.#restart || this.#restart.maxRestarts === 0) return;
    const bad = this.#nodes.filter((node) => node.notReplayable !== undefined);
    if (bad.length > 0) {
      throw new ConfigError(
        bad.map((node) => ({
          path: node.name,
          message: `cannot be replayed on restart: ${node.notReplayable}`,
        })),
        { subject: 'job' },
      );
    }
  }

  #sourceStream<T>(spec: NodeSpec): DataStream<T> {
    return new DataStream<T>(this, this.addNode(spec));
  }

  /** @internal Adds an operator to the graph; used by DataStream. */
  addNode(spec: NodeSpec): GraphNode {
    if (this.#started) {
      throw new ConfigError([{ path: spec.kind, message: 'operators cannot be added after execute()' }], {
        subject: 'job',
      });
    }
    const options = spec.options ?? {};
    checkPositiveInteger(options.parallelism, `${options.name ?? spec.kind}.parallelism`, 'operator options');
    if (
      spec.fixedParallelism !== undefined &&
      options.parallelism !== undefined &&
      options.parallelism !== spec.fixedParallelism
    ) {
      throw new ConfigError(
        [
          {
            path: `${options.name ?? spec.kind}.parallelism`,
            message: `this operator runs with parallelism ${spec.fixedParallelism}`,
          },
        ],
        { subject: 'operator options' },
      );
    }
    for (const input of spec.inputs) {
      if (!this.#nodes.includes(input.node)) {
        throw new ConfigError(
          [{ path: spec.kind, message: `input '${input.node.name}' belongs to another job` }],
          {
            subject: 'job',
          },
        );
      }
    }
    const node: GraphNode = {
      id: this.#nodes.length,
      name: this.#uniqueName(options.name ?? spec.kind),
      parallelism: spec.fixedParallelism ?? options.parallelism ?? this.#settings.parallelism,
      inputs: spec.inputs,
      source: spec.source,
      operator: spec.operator,
      beforeAttempt: spec.beforeAttempt,
      notReplayable: spec.notReplayable,
    };
    this.#nodes.push(node);
    return node;
  }

  #uniqueName(base: string): string {
    let name = base;
    for (let n = 2; this.#names.has(name); n++) name = `${base}-${n}`;
    this.#names.add(name);
    return name;
  }
}

export type { NodeSpec };
