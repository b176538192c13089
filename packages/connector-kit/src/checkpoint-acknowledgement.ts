/**
 * Acknowledging broker entries at the checkpoint that covers them, not when a sink wrote them.
 *
 * A stream-mode role (the ML operator's `addRole` with an input) numbers the records each subtask
 * receives and keeps them until the subtask's runner acknowledges a checkpoint covering them; then
 * it calls its `onInputCheckpoint` listeners with those records. The listener made here finds the
 * broker id in each covered record and acknowledges it on the broker (XACK, a JetStream ack). So a
 * broker entry stays pending until the model state that consumed it is durable: if the job's
 * process dies first, the broker hands the entry out again (`redelivered: true`).
 *
 * Across the death of a whole process this is at-least-once: a checkpoint may cover an entry whose
 * acknowledgement had not reached the broker yet, and that entry comes back. The dedup rule: such
 * an entry is always flagged `redelivered`, and a runner that keeps in its checkpoint which
 * entries its state holds skips a redelivered entry it already holds (exactly once).
 */
import { ConfigError, type InputCheckpointListener } from '@millrace/core';
import type { EntryAcknowledger } from './source-entry.js';

export interface CheckpointAcknowledgerOptions<R> {
  /** The broker id carried in each record the role receives, e.g. `(record) => record.entryId`. */
  entryId: (record: R) => string;
  /** Told when acknowledging fails (the source fails the job with it). */
  onFailure: (error: unknown) => void;
}

/** An `onInputCheckpoint` listener that acknowledges, on the broker, the entries a checkpoint covers. */
export function checkpointAcknowledger<R>(
  target: EntryAcknowledger,
  options: CheckpointAcknowledgerOptions<R>,
): InputCheckpointListener {
  return (acknowledged) => {
    const covered = acknowledged.position - acknowledged.previous;
    if (acknowledged.records.length !== covered) {
      options.onFailure(
        new ConfigError(
          [
            {
              path: 'replay',
              message: `is off for role '${acknowledged.role}', so its checkpoints do not carry the records they cover (${covered} positions, ${acknowledged.records.length} records): broker entries cannot be acknowledged at the checkpoint. Turn replay on for that role (addRole({ replay: true }))`,
            },
          ],
          { subject: `${acknowledged.operator}[${acknowledged.subtaskIndex}] onInputCheckpoint` },
        ),
      );
      return;
    }
    const ids: string[] = [];
    for (const record of acknowledged.records) {
      const id = options.entryId(record as R);
      if (typeof id === 'string') ids.push(id);
    }
    if (ids.length > 0) target.acknowledge(ids).catch(options.onFailure);
  };
}
