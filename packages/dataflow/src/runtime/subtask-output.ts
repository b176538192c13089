/**
 * A subtask's output side: it buffers emitted records per downstream target and pushes full
 * batches into the targets' bounded channels. Pushing awaits when a channel is full, and that
 * wait is counted as backpressured time.
 */
import type { Output } from '../operator.js';
import type { BoundedChannel } from './channel.js';
import { hashKey } from './hash.js';
import type { SubtaskMetrics } from './metrics.js';
import type { Partitioning } from './partitioning.js';
import { yieldWhenSliceSpent } from './time-slice.js';

export interface OutputEdge {
  readonly partitioning: Partitioning;
  /** The downstream operator's channels, one per subtask. */
  readonly targets: readonly BoundedChannel<unknown>[];
  /** Which input of the downstream operator this edge feeds. */
  readonly input: number;
}

interface PendingBatch {
  target: BoundedChannel<unknown>;
  input: number;
  records: unknown[];
}

abstract class EdgeWriter {
  readonly ready: PendingBatch[] = [];
  constructor(
    protected readonly edge: OutputEdge,
    protected readonly batchSize: number,
  ) {}
  abstract add(record: unknown): void;
  /** Moves partially filled buffers to `ready`. */
  abstract seal(): void;
}

class SingleTargetWriter extends EdgeWriter {
  #buffer: unknown[] = [];
  readonly #target: BoundedChannel<unknown>;
  constructor(edge: OutputEdge, batchSize: number, target: BoundedChannel<unknown>) {
    super(edge, batchSize);
    this.#target = target;
  }
  add(record: unknown): void {
    const buffer = this.#buffer;
    buffer.push(record);
    if (buffer.length >= this.batchSize) this.seal();
  }
  seal(): void {
    if (this.#buffer.length === 0) return;
    this.ready.push({ target: this.#target, input: this.edge.input, records: this.#buffer });
    this.#buffer = [];
  }
}

class RoundRobinWriter extends EdgeWriter {
  #buffer: unknown[] = [];
  #next: number;
  constructor(edge: OutputEdge, batchSize: number, start: number) {
    super(edge, batchSize);
    this.#next = start % edge.targets.length;
  }
  add(record: unknown): void {
    this.#buffer.push(record);
    if (this.#buffer.length >= this.batchSize) this.seal();
  }
  seal(): void {
    if (this.#buffer.length === 0) return;
    const target = this.edge.targets[this.#next]!;
    this.#next = (this.#next + 1) % this.edge.targets.length;
    this.ready.push({ target, input: this.edge.input, records: this.#buffer });
    this.#buffer = [];
  }
}

class BroadcastWriter extends EdgeWriter {
  #buffer: unknown[] = [];
  add(record: unknown): void {
    this.#buffer.push(record);
    if (this.#buffer.length >= this.batchSize) this.seal();
  }
  seal(): void {
    if (this.#buffer.length === 0) return;
    for (const target of this.edge.targets) {
      this.ready.push({ target, input: this.edge.input, records: this.#buffer.slice() });
    }
    this.#buffer = [];
  }
}

class HashWriter extends EdgeWriter {
  readonly #buffers: unknown[][];
  readonly #key: (record: unknown) => unknown;
  constructor(edge: OutputEdge, batchSize: number, key: (record: unknown) => unknown) {
    super(edge, batchSize);
    this.#buffers = edge.targets.map(() => []);
    this.#key = key;
  }
  add(record: unknown): void {
    const targets = this.#buffers.length;
    const index = targets === 1 ? 0 : hashKey(this.#key(record)) % targets;
    const buffer = this.#buffers[index]!;
    buffer.push(record);
    if (buffer.length >= this.batchSize) this.#sealOne(index);
  }
  seal(): void {
    for (let index = 0; index < this.#buffers.length; index++) this.#sealOne(index);
  }
  #sealOne(index: number): void {
    const buffer = this.#buffers[index]!;
    if (buffer.length === 0) return;
    this.ready.push({ target: this.edge.targets[index]!, input: this.edge.input, records: buffer });
    this.#buffers[index] = [];
  }
}

function writerFor(edge: OutputEdge, batchSize: number, subtaskIndex: number): EdgeWriter {
  const p = edge.partitioning;
  switch (p.kind) {
    case 'forward':
      return new SingleTargetWriter(edge, batchSize, edge.targets[subtaskIndex]!);
    case 'rebalance':
      return edge.targets.length === 1
        ? new SingleTargetWriter(edge, batchSize, edge.targets[0]!)
        : new RoundRobinWriter(edge, batchSize, subtaskIndex);
    case 'broadcast':
      return new BroadcastWriter(edge, batchSize);
    case 'hash':
      return edge.targets.length === 1
        ? new SingleTargetWriter(edge, batchSize, edge.targets[0]!)
        : new HashWriter(edge, batchSize, p.key as (record: unknown) => unknown);
  }
}

export class SubtaskOutput<T> implements Output<T> {
  readonly #writers: EdgeWriter[];
  readonly #edges: readonly OutputEdge[];
  readonly #metrics: SubtaskMetrics;
  readonly #subtaskIndex: number;
  #tail: Promise<void> = Promise.resolve();
  readonly emit: (record: T) => void;

  constructor(
    edges: readonly OutputEdge[],
    batchSize: number,
    subtaskIndex: number,
    metrics: SubtaskMetrics,
  ) {
    this.#edges = edges;
    this.#metrics = metrics;
    this.#subtaskIndex = subtaskIndex;
    this.#writers = edges.map((edge) => writerFor(edge, batchSize, subtaskIndex));
    const writers = this.#writers;
    // One downstream consumer is by far the most common case: give it a direct path.
    if (writers.length === 1) {
      const writer = writers[0]!;
      this.emit = (record) => {
        metrics.recordsOut += 1;
        writer.add(record);
      };
    } else {
      this.emit = (record) => {
        metrics.recordsOut += 1;
        for (const writer of writers) writer.add(record);
      };
    }
  }

  emitAll(records: readonly T[]): void {
    const emit = this.emit;
    for (let i = 0; i < records.length; i++) emit(records[i]!);
  }

  flush(): Promise<void> {
    // Serialized, so a background emitter and the subtask loop never interleave their batches.
    this.#tail = this.#tail.then(() => this.#drain());
    return this.#tail;
  }

  /** Sends what is buffered, then tells every downstream subtask that this producer has ended. */
  async end(): Promise<void> {
    await this.flush();
    for (const edge of this.#edges) {
      for (const target of edge.targets) await target.endInput(edge.input, this.#subtaskIndex);
    }
  }

  async #drain(): Promise<void> {
    for (const writer of this.#writers) {
      writer.seal();
      const ready = writer.ready;
      while (ready.length > 0) {
        const batch = ready.shift()!;
        const waiting = batch.target.push(batch.input, this.#subtaskIndex, batch.records);
        if (waiting !== undefined) {
          const started = performance.now();
          await waiting;
          this.#metrics.backpressuredMs += performance.now() - started;
        }
      }
    }
    // Every subtask, source or operator, flushes after each batch: the one place to let the
    // event loop breathe (time-slice.ts says why).
    const turn = yieldWhenSliceSpent();
    if (turn !== undefined) await turn;
  }
}
