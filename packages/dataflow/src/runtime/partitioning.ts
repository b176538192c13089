import type { Key } from './hash.js';

/**
 * How records of one operator reach the subtasks of the next.
 * - `forward`: subtask i sends to subtask i (equal parallelism); order is kept per subtask.
 * - `rebalance`: whole batches go round-robin to the downstream subtasks; order is kept only
 *   between one upstream and one downstream subtask.
 * - `hash`: each record goes to the subtask that owns its key; records with the same key from one
 *   upstream subtask arrive in the order they were emitted.
 * - `broadcast`: every downstream subtask gets every record.
 */
export type Partitioning =
  | { readonly kind: 'forward' }
  | { readonly kind: 'rebalance' }
  | { readonly kind: 'broadcast' }
  | { readonly kind: 'hash'; readonly key: (record: never) => Key };
