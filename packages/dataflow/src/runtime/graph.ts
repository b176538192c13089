import type { OperatorFactory, SourceFactory } from '../operator.js';
import type { Partitioning } from './partitioning.js';

/** How a node reads one of its inputs; `default` is forward at equal parallelism, else rebalance. */
export type InputPartitioning = Partitioning | { readonly kind: 'default' };

export interface GraphInput {
  readonly node: GraphNode;
  readonly partitioning: InputPartitioning;
}

/** One operator of the logical plan; the executor turns it into `parallelism` subtasks. */
export interface GraphNode {
  readonly id: number;
  readonly name: string;
  readonly parallelism: number;
  readonly inputs: readonly GraphInput[];
  readonly source?: SourceFactory<unknown> | undefined;
  readonly operator?: OperatorFactory<unknown, unknown> | undefined;
  /** Called before each attempt (first run and restarts), e.g. to clear a collect sink. */
  readonly beforeAttempt?: (() => void) | undefined;
  /** Why this source cannot be replayed on restart, when it cannot. */
  readonly notReplayable?: string | undefined;
}

export function resolvePartitioning(input: GraphInput, downstreamParallelism: number): Partitioning {
  if (input.partitioning.kind !== 'default') return input.partitioning;
  return input.node.parallelism === downstreamParallelism ? { kind: 'forward' } : { kind: 'rebalance' };
}
