/**
 * Typed streams and their operators. Every method adds an operator to the job's graph and returns
 * the stream it produces; nothing runs until `job.execute()`.
 *
 * Ordering: between one upstream and one downstream subtask, records keep their order. With
 * `forward` (the default at equal parallelism) that means a subtask's order is kept end to end;
 * after `keyBy`, records of one key from one upstream subtask stay in order; `rebalance` and
 * `union` promise nothing across different upstream subtasks.
 */
import { ConfigError } from '@millrace/core';
import { type FunctionReference, isFunctionReference } from './function-reference.js';
import type { Job, NodeSpec } from './job.js';
import type { OperatorFactory } from './operator.js';
import { type CoProcessFunction, coProcessOperator, passThroughOperator } from './operators/co-process.js';
import { type ElementWiseKind, elementWiseOperator } from './operators/element-wise.js';
import { type KeyedProcessFunction, keyedProcessOperator } from './operators/keyed-process.js';
import { type TableJoiner, type TableJoinOptions, tableJoinOperator } from './operators/table-join.js';
import {
  type TumblingWindowOptions,
  tumblingWindowOperator,
  type WindowAggregator,
} from './operators/tumbling-window.js';
import { workerOperator } from './operators/worker-operator.js';
import {
  checkPositiveInteger,
  type FunctionOperatorOptions,
  type MapBatchesOptions,
  type OperatorOptions,
} from './options.js';
import type { GraphNode, InputPartitioning } from './runtime/graph.js';
import type { Key } from './runtime/hash.js';
import {
  CollectedRecords,
  callbackOperator,
  collectOperator,
  type FileSinkOptions,
  fileSinkOperator,
  printOperator,
} from './sinks/sinks.js';

type Fn<I, O> = (value: I) => O;

export class DataStream<T> {
  /** @internal */
  readonly node: GraphNode;
  /** @internal How the next operator reads this stream. */
  readonly partitioning: InputPartitioning;
  readonly job: Job;

  /** @internal Streams are made by a Job's sources and by operators. */
  constructor(job: Job, node: GraphNode, partitioning: InputPartitioning = { kind: 'default' }) {
    this.job = job;
    this.node = node;
    this.partitioning = partitioning;
  }

  /** The name of the operator that produces this stream. */
  get operatorName(): string {
    return this.node.name;
  }

  /** The parallelism of the operator that produces this stream. */
  get parallelism(): number {
    return this.node.parallelism;
  }

  // ---- element-wise ----

  /** One output per record. `fn` may be async, or a FunctionReference (required with `thread: 'worker'`). */
  map<R>(
    fn: Fn<T, R | Promise<R>> | FunctionReference<Fn<T, R | Promise<R>>>,
    options?: FunctionOperatorOptions,
  ): DataStream<R> {
    return this.#elementWise('map', fn, options);
  }

  /** Zero or more outputs per record. */
  flatMap<R>(
    fn:
      | Fn<T, Iterable<R> | Promise<Iterable<R>>>
      | FunctionReference<Fn<T, Iterable<R> | Promise<Iterable<R>>>>,
    options?: FunctionOperatorOptions,
  ): DataStream<R> {
    return this.#elementWise('flatMap', fn, options);
  }

  /** Keeps the records for which `fn` returns true. */
  filter(
    fn: Fn<T, boolean | Promise<boolean>> | FunctionReference<Fn<T, boolean | Promise<boolean>>>,
    options?: FunctionOperatorOptions,
  ): DataStream<T> {
    return this.#elementWise('filter', fn, options);
  }

  /**
   * Calls `fn` with whole batches (at most `maxBatchSize` records) and emits the array it returns,
   * in order. The natural shape for model inference and foreign-runtime UDFs: one call per batch.
   */
  mapBatches<R>(
    fn: Fn<readonly T[], R[] | Promise<R[]>> | FunctionReference<Fn<readonly T[], R[] | Promise<R[]>>>,
    options?: MapBatchesOptions,
  ): DataStream<R> {
    checkPositiveInteger(options?.maxBatchSize, 'maxBatchSize', 'mapBatches options');
    return this.#elementWise('mapBatches', fn, options, options?.maxBatchSize);
  }

  /** Adds an operator with its own lifecycle (open / processBatch / finish / close), one instance per subtask. */
  transform<R>(factory: OperatorFactory<T, R>, options?: OperatorOptions): DataStream<R> {
    return this.#derive({
      kind: 'transform',
      options,
      inputs: [this.#asInput()],
      operator: factory as OperatorFactory<unknown, unknown>,
    });
  }

  // ---- partitioning ----

  /** Partitions by key: every record of a key goes to the same subtask of the next operator. */
  keyBy<K extends Key>(key: (record: T) => K): KeyedStream<K, T> {
    if (typeof key !== 'function') {
      throw new ConfigError(
        [{ path: 'keyBy', message: 'needs a function that returns the key of a record' }],
        { subject: 'stream' },
      );
    }
    return new KeyedStream(this.job, this.node, key);
  }

  /** Spreads whole batches round-robin over the next operator's subtasks. */
  rebalance(): DataStream<T> {
    return new DataStream(this.job, this.node, { kind: 'rebalance' });
  }

  /** Subtask i feeds subtask i of the next operator (needs equal parallelism). */
  forward(): DataStream<T> {
    return new DataStream(this.job, this.node, { kind: 'forward' });
  }

  /** Every subtask of the next operator gets every record. */
  broadcast(): DataStream<T> {
    return new DataStream(this.job, this.node, { kind: 'broadcast' });
  }

  // ---- combining ----

  /** Merges streams of the same type; no order is promised between the merged streams. */
  union(...others: DataStream<T>[]): DataStream<T> {
    return this.#derive({
      kind: 'union',
      options: undefined,
      inputs: [this, ...others].map((stream) => stream.#asInput()),
      operator: passThroughOperator(),
    });
  }

  /** Two streams processed together by one co-process function (see {@link ConnectedStreams}). */
  connect<U>(other: DataStream<U>): ConnectedStreams<T, U> {
    return new ConnectedStreams(this, other);
  }

  // ---- sinks ----

  /** Gathers every record into memory; read `.records` after `execute()`. Parallelism 1. */
  collect(options?: Omit<OperatorOptions, 'parallelism'>): CollectedRecords<T> {
    const target = new CollectedRecords<T>();
    this.job.addNode({
      kind: 'collect',
      options,
      inputs: [this.#asInput()],
      operator: collectOperator(target) as OperatorFactory<unknown, unknown>,
      beforeAttempt: () => target.reset(),
      fixedParallelism: 1,
    });
    return target;
  }

  /** Calls `callback` for each record (awaited when async, so a slow callback slows the job). */
  forEach(callback: (record: T) => void | Promise<void>, options?: OperatorOptions): void {
    this.job.addNode({
      kind: 'for-each',
      options,
      inputs: [this.#asInput()],
      operator: callbackOperator(callback) as OperatorFactory<unknown, unknown>,
    });
  }

  /** Writes records to a file as JSON lines (default) or CSV. Parallelism 1. */
  toFile(path: string, options: FileSinkOptions<T> & Omit<OperatorOptions, 'parallelism'> = {}): void {
    this.job.addNode({
      kind: 'file-sink',
      options,
      inputs: [this.#asInput()],
      operator: fileSinkOperator(path, options) as OperatorFactory<unknown, unknown>,
      fixedParallelism: 1,
    });
  }

  /** Prints each record on its own line to stdout. Parallelism 1. */
  print(options: { prefix?: string; name?: string } = {}): void {
    this.job.addNode({
      kind: 'print',
      options: { name: options.name ?? 'print' },
      inputs: [this.#asInput()],
      operator: printOperator(options.prefix) as OperatorFactory<unknown, unknown>,
      fixedParallelism: 1,
    });
  }

  // ---- internals ----

  /** @internal */
  asInput(): { node: GraphNode; partitioning: InputPartitioning } {
    return this.#asInput();
  }

  #asInput(): { node: GraphNode; partitioning: InputPartitioning } {
    return { node: this.node, partitioning: this.partitioning };
  }

  #derive<R>(spec: NodeSpec): DataStream<R> {
    return new DataStream<R>(this.job, this.job.addNode(spec));
  }

  #elementWise<R>(
    kind: ElementWiseKind,
    fn: unknown,
    options: FunctionOperatorOptions | undefined,
    maxBatchSize?: number,
  ): DataStream<R> {
    const maxBatch = maxBatchSize ?? this.job.batchSize;
    const thread = options?.thread ?? 'main';
    const name = options?.name ?? kind;
    if (typeof fn !== 'function' && !isFunctionReference(fn)) {
      throw new ConfigError(
        [{ path: name, message: 'needs a function or a functionReference(module, exportName)' }],
        {
          subject: 'operator',
        },
      );
    }
    if (thread !== 'main' && thread !== 'worker') {
      throw new ConfigError([{ path: `${name}.thread`, message: "must be 'main' or 'worker'" }], {
        subject: 'operator options',
      });
    }
    if (thread === 'worker' && !isFunctionReference(fn)) {
      throw new ConfigError(
        [
          {
            path: `${name}.thread`,
            message:
              "'worker' needs the function as functionReference(moduleUrl, exportName): closures cannot cross threads, so the function must live in a module of its own",
          },
        ],
        { subject: 'operator options' },
      );
    }
    const operator =
      thread === 'worker'
        ? workerOperator(kind, fn as FunctionReference, maxBatch)
        : elementWiseOperator(kind, fn as FunctionReference, maxBatch);
    return this.#derive({ kind, options, inputs: [this.#asInput()], operator });
  }
}

/** A stream partitioned by key; keyed operators (state, windows, joins) live here. */
export class KeyedStream<K extends Key, T> extends DataStream<T> {
  readonly key: (record: T) => K;

  /** @internal Made by `DataStream.keyBy`. */
  constructor(job: Job, node: GraphNode, key: (record: T) => K) {
    super(job, node, { kind: 'hash', key: key as (record: never) => Key });
    this.key = key;
  }

  /** A process function with per-key state (see {@link KeyedProcessFunction}). */
  process<S, R>(fn: KeyedProcessFunction<K, T, S, R>, options?: OperatorOptions): DataStream<R> {
    return this.#keyed('process', keyedProcessOperator(this.key, fn), options);
  }

  /** Event-time tumbling windows, aggregated per key (semantics in `tumbling-window.ts`). */
  tumblingWindow<A, R>(
    window: TumblingWindowOptions<T>,
    aggregator: WindowAggregator<T, A, R, K>,
    options?: OperatorOptions,
  ): DataStream<R> {
    if (!(typeof window.sizeMs === 'number' && window.sizeMs > 0)) {
      throw new ConfigError([{ path: 'sizeMs', message: 'must be a positive number' }], {
        subject: 'tumbling window',
      });
    }
    return this.#keyed('window', tumblingWindowOperator(this.key, window, aggregator), options);
  }

  /**
   * Joins this stream with a table kept from `table`'s records (latest record per key wins).
   * Each record is joined with its key's row as of when it is processed; records whose key has
   * no row yet wait for one until the table stream ends (semantics in `table-join.ts`).
   */
  joinTable<Rt, O>(
    table: KeyedStream<K, Rt>,
    joiner: TableJoiner<T, Rt, O>,
    options: TableJoinOptions & OperatorOptions = {},
  ): DataStream<O> {
    if (!(table instanceof KeyedStream)) {
      throw new ConfigError(
        [{ path: 'joinTable', message: 'the table must be keyed: pass table.keyBy(...)' }],
        { subject: 'stream' },
      );
    }
    checkPositiveInteger(options.maxWaiting, 'maxWaiting', 'joinTable options');
    return new DataStream<O>(
      this.job,
      this.job.addNode({
        kind: 'join',
        options,
        inputs: [this.asInput(), table.asInput()],
        operator: tableJoinOperator(this.key, table.key, joiner, options) as OperatorFactory<
          unknown,
          unknown
        >,
      }),
    );
  }

  #keyed<R>(
    kind: string,
    operator: OperatorFactory<T, R>,
    options: OperatorOptions | undefined,
  ): DataStream<R> {
    return new DataStream<R>(
      this.job,
      this.job.addNode({
        kind,
        options,
        inputs: [this.asInput()],
        operator: operator as OperatorFactory<unknown, unknown>,
      }),
    );
  }
}

/** Two streams, possibly of different types, for one co-process operator. */
export class ConnectedStreams<A, B> {
  readonly #left: DataStream<A>;
  readonly #right: DataStream<B>;

  /** @internal Made by `DataStream.connect`. */
  constructor(left: DataStream<A>, right: DataStream<B>) {
    if (left.job !== right.job) {
      throw new ConfigError([{ path: 'connect', message: 'both streams must belong to the same job' }], {
        subject: 'stream',
      });
    }
    this.#left = left;
    this.#right = right;
  }

  /**
   * Processes both inputs with one function pair. `create` runs once per subtask, so state in its
   * closure is per subtask; key both streams the same way to give a subtask all records of a key.
   */
  process<R>(create: () => CoProcessFunction<A, B, R>, options?: OperatorOptions): DataStream<R> {
    return new DataStream<R>(
      this.#left.job,
      this.#left.job.addNode({
        kind: 'co-process',
        options,
        inputs: [this.#left.asInput(), this.#right.asInput()],
        operator: coProcessOperator(create) as OperatorFactory<unknown, unknown>,
      }),
    );
  }
}
