/**
 * One attempt at running a job's graph: every operator becomes `parallelism` subtasks (async
 * loops on this thread, or loops that hand batches to worker threads), connected by bounded
 * channels. The attempt ends when every subtask ended (bounded input drained), when one fails
 * (everything else is cancelled, then the first error is thrown) or when it is cancelled.
 */
import { CancelledError, type ClusterObservation, ConfigError, MillraceError } from '@millrace/core';
import { OperatorError, previewRecord, RecordFailure } from '../errors.js';
import type { SourceOperator, StreamOperator, SubtaskContext } from '../operator.js';
import { BoundedChannel } from './channel.js';
import { type GraphNode, resolvePartitioning } from './graph.js';
import { createSubtaskMetrics, type OperatorMetrics, type SubtaskMetrics, summarize } from './metrics.js';
import { type OutputEdge, SubtaskOutput } from './subtask-output.js';

export interface ExecutionSettings {
  batchSize: number;
  channelCapacity: number;
}

export interface ExecutionHooks {
  publish(operator: string, subtask: number, payload: unknown): void;
  publishObservation(operator: string, subtask: number, observation: ClusterObservation): void;
}

export class Execution {
  readonly #nodes: readonly GraphNode[];
  readonly #settings: ExecutionSettings;
  readonly #hooks: ExecutionHooks;
  readonly #abort = new AbortController();
  readonly #channels = new Map<number, BoundedChannel<unknown>[]>();
  readonly #metrics = new Map<GraphNode, SubtaskMetrics[]>();
  #failure: unknown = null;

  constructor(nodes: readonly GraphNode[], settings: ExecutionSettings, hooks: ExecutionHooks) {
    this.#nodes = nodes;
    this.#settings = settings;
    this.#hooks = hooks;
    for (const node of nodes) {
      this.#metrics.set(
        node,
        Array.from({ length: node.parallelism }, () => createSubtaskMetrics()),
      );
      if (node.inputs.length > 0) {
        const producers = node.inputs.map((input) => input.node.parallelism);
        this.#channels.set(
          node.id,
          Array.from(
            { length: node.parallelism },
            () => new BoundedChannel(settings.channelCapacity, producers),
          ),
        );
      }
    }
  }

  get cancelled(): boolean {
    return this.#abort.signal.aborted && this.#failure === null;
  }

  metrics(): OperatorMetrics[] {
    return this.#nodes.map((node) =>
      summarize(node.name, this.#metrics.get(node)!, this.#channels.get(node.id)),
    );
  }

  /** Stops every subtask; `run` then resolves (cancel) or rejects (failure). */
  cancel(reason: unknown = new CancelledError('The job was cancelled')): void {
    if (this.#abort.signal.aborted) return;
    this.#abort.abort(reason);
    for (const channels of this.#channels.values()) for (const channel of channels) channel.cancel(reason);
  }

  async run(): Promise<'finished' | 'cancelled'> {
    for (const node of this.#nodes) node.beforeAttempt?.();
    const edges = this.#outputEdges();
    // Every operator instance is created (in graph order) before any subtask starts, so
    // operators that coordinate (an ML cluster's manager and its roles) can rely on that order.
    const starts: (() => Promise<void>)[] = [];
    for (const node of this.#nodes) {
      for (let index = 0; index < node.parallelism; index++) {
        starts.push(this.#prepareSubtask(node, index, edges.get(node) ?? []));
      }
    }
    await Promise.all(starts.map((start) => start().catch((error) => this.#fail(error))));
    if (this.#failure !== null) throw this.#failure;
    return this.#abort.signal.aborted ? 'cancelled' : 'finished';
  }

  #fail(error: unknown): void {
    if (this.#abort.signal.aborted) return; // Errors after the first are consequences of stopping.
    this.#failure = error;
    this.cancel(new CancelledError('Stopped because another operator failed', { cause: error }));
  }

  #outputEdges(): Map<GraphNode, OutputEdge[]> {
    const edges = new Map<GraphNode, OutputEdge[]>();
    for (const node of this.#nodes) {
      node.inputs.forEach((input, inputIndex) => {
        const partitioning = resolvePartitioning(input, node.parallelism);
        if (partitioning.kind === 'forward' && input.node.parallelism !== node.parallelism) {
          throw new ConfigError(
            [
              {
                path: node.name,
                message: `forward partitioning needs equal parallelism, but '${input.node.name}' has ${input.node.parallelism} and '${node.name}' has ${node.parallelism}; use rebalance() or keyBy()`,
              },
            ],
            { subject: 'job' },
          );
        }
        const list = edges.get(input.node) ?? [];
        list.push({ partitioning, targets: this.#channels.get(node.id)!, input: inputIndex });
        edges.set(input.node, list);
      });
    }
    return edges;
  }

  #prepareSubtask(node: GraphNode, index: number, edges: readonly OutputEdge[]): () => Promise<void> {
    const metrics = this.#metrics.get(node)![index]!;
    const output = new SubtaskOutput<unknown>(edges, this.#settings.batchSize, index, metrics);
    const hooks = this.#hooks;
    const context: SubtaskContext<unknown> = {
      operatorName: node.name,
      subtaskIndex: index,
      parallelism: node.parallelism,
      inputParallelism: node.inputs.map((input) => input.node.parallelism),
      signal: this.#abort.signal,
      output,
      count(metric, delta = 1) {
        metrics.extra[metric] = (metrics.extra[metric] ?? 0) + delta;
      },
      gauge(metric, read) {
        metrics.gauges[metric] = read;
      },
      publish: (payload) => hooks.publish(node.name, index, payload),
      publishObservation: (observation) => hooks.publishObservation(node.name, index, observation),
    };
    const info = { operatorName: node.name, subtaskIndex: index, parallelism: node.parallelism };
    const describe = (error: unknown) => {
      throw this.#describeFailure(error, node, index);
    };
    if (node.source) {
      const source = node.source(info);
      return () => this.#runSource(source, context, output).catch(describe);
    }
    const operator = node.operator!(info);
    const channel = this.#channels.get(node.id)![index]!;
    return () => this.#runOperator(operator, channel, context, output, metrics).catch(describe);
  }

  async #runSource(
    source: SourceOperator<unknown>,
    context: SubtaskContext<unknown>,
    output: SubtaskOutput<unknown>,
  ): Promise<void> {
    try {
      await source.open?.(context);
      await source.run(context);
      if (this.#abort.signal.aborted) return;
      await output.end();
    } finally {
      await source.close?.();
    }
  }

  async #runOperator(
    operator: StreamOperator<unknown, unknown>,
    channel: BoundedChannel<unknown>,
    context: SubtaskContext<unknown>,
    output: SubtaskOutput<unknown>,
    metrics: SubtaskMetrics,
  ): Promise<void> {
    try {
      await operator.open?.(context);
      for (;;) {
        const pulled = channel.pull();
        const message = pulled instanceof Promise ? await pulled : pulled;
        if (message === null) break;
        if (message.end) {
          await operator.endProducer?.(message.input, message.producer);
          if (message.last) await operator.endInput?.(message.input);
          await output.flush();
          continue;
        }
        metrics.recordsIn += message.records.length;
        const started = performance.now();
        const pending = operator.processBatch(message.records, message.input, message.producer);
        if (pending !== undefined) await pending;
        metrics.busyMs += performance.now() - started;
        await output.flush();
      }
      await operator.finish?.();
      await output.end();
    } finally {
      await operator.close?.();
    }
  }

  #describeFailure(error: unknown, node: GraphNode, subtask: number): unknown {
    if (this.#abort.signal.aborted && CancelledError.isInstance(error)) return error;
    if (error instanceof OperatorError) return error;
    if (MillraceError.isInstance(error) && !(error instanceof RecordFailure)) {
      // Errors that already say what went wrong (a cluster failure, a bad config) keep their
      // class so callers can branch on it; the operator and subtask go in front of the message.
      if (error.code !== 'CANCELLED') return error;
    }
    const base = { operator: node.name, subtask, parallelism: node.parallelism };
    if (error instanceof RecordFailure) {
      return new OperatorError(
        { ...base, record: previewRecord(error.record), message: error.message },
        { cause: error.cause },
      );
    }
    const message = error instanceof Error ? error.message : String(error);
    return new OperatorError({ ...base, message }, { cause: error });
  }
}
