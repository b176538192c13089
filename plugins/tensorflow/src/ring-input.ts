/**
 * Input records reach a training process through a shared-memory ring (`@millrace/bridge-shm`):
 * runner-kit's ring pump copies the node's InputChannel into a ring this process creates, the
 * training process reads the ring. One copy on the way in, batches at every step, a full ring
 * pushes back on the pipeline, and a record larger than the ring fails the node with a
 * RecordTooLargeError (the ring closes without an end marker, so the reader never waits forever).
 * Each process start gets a fresh ring; records in the ring of a process that died die with it,
 * and the role's replay hands them to the restarted process again (the trainer acknowledges
 * checkpoints by input position; the ring itself keeps nothing).
 */
import { rmSync } from 'node:fs';
import type { InputChannel } from '@millrace/core';
import { type InputPump, type PumpOutcome, pumpChannelIntoRing } from '@millrace/runner-kit';
import { z } from 'zod';

/** Ring data area: 4 MiB holds thousands of encoded examples. */
export const defaultRingCapacityBytes = 1 << 22;

/** How a stream-mode node's input reaches its process: options of the trainer and the predictor. */
export const inputTransportOptions = {
  /**
   * `ring`, a shared-memory ring (`@millrace/bridge-shm`), or `ipc`, Node's IPC channel. `ring`
   * falls back to `ipc`, with a warning, when the ring's native addon is not built.
   */
  inputTransport: z.enum(['ring', 'ipc']).default('ring'),
  /**
   * Data area of the input ring, a power of two of at least 4096 bytes (default 4 MiB). The
   * largest input record is this minus 8; a larger one fails the node with a RecordTooLargeError.
   */
  ringCapacityBytes: z
    .number()
    .int()
    .min(4096)
    .refine((value) => (value & (value - 1)) === 0, 'must be a power of two')
    .default(defaultRingCapacityBytes),
};
const pumpBatchRecords = 1024;

export interface RingFeed {
  path: string;
  /**
   * Starts copying `input` into the ring; resolves with the pump's outcome (`failed` with a
   * RecordTooLargeError when a record does not fit; `onFailure` is called first).
   */
  pump(input: InputChannel, onFailure: (error: Error) => void): Promise<PumpOutcome>;
  /** Stops the pump, detaches and removes the ring file (after the training process exited). */
  close(): Promise<void>;
}

type BridgeShm = typeof import('@millrace/bridge-shm');

async function loadBridge(): Promise<BridgeShm> {
  return import('@millrace/bridge-shm');
}

/** Creates a ring for one training process, or rejects when the shared-memory bridge is unavailable. */
export async function createRingFeed(capacityBytes = defaultRingCapacityBytes): Promise<RingFeed> {
  const bridge = await loadBridge();
  const location = await bridge.createRing({ capacityBytes });
  const writer = await bridge.RingWriter.open(location.path);
  let running: InputPump | undefined;
  return {
    path: location.path,
    pump(input, onFailure) {
      running = pumpChannelIntoRing({
        input,
        writer,
        batchRecords: pumpBatchRecords,
        description: 'the shared-memory ring feeding the training process',
        tooLargeRemedy: (bytes) =>
          `Give tensorflowTrainer a larger ring: ringCapacityBytes, a power of two at least ${bytes + 8}.`,
        onFailure,
      });
      return running.done;
    },
    async close() {
      running?.stop();
      await running?.done;
      await writer.close().catch(() => {});
      rmSync(location.path, { force: true });
    },
  };
}

/** The training process's side: the ring as an InputChannel. */
export async function openRingInput(path: string): Promise<InputChannel> {
  const bridge = await loadBridge();
  const reader = await bridge.RingReader.open(path);
  return bridge.ringInputChannel(reader);
}
