/**
 * Input records reach a training process through a shared-memory ring (`@millrace/bridge-shm`):
 * the runner pumps the node's InputChannel into a ring it creates, the training process reads the
 * ring. One copy on the way in, batches at every step, and a full ring pushes back on the pipeline.
 * Each process start gets a fresh ring; records already in the ring of a process that died are
 * lost with it (the same at-most-once the ML operator has across restarts).
 */
import { rmSync } from 'node:fs';
import type { InputChannel, Logger } from '@millrace/core';

/** Ring data area: 4 MiB holds thousands of encoded examples. */
const ringCapacityBytes = 1 << 22;
const pumpBatchRecords = 1024;

export interface RingFeed {
  path: string;
  /** Starts copying `input` into the ring; resolves when the input ended or the reader went away. */
  pump(input: InputChannel): Promise<void>;
  /** Detaches and removes the ring file (after the training process exited). */
  close(): Promise<void>;
}

type BridgeShm = typeof import('@millrace/bridge-shm');

async function loadBridge(): Promise<BridgeShm> {
  return import('@millrace/bridge-shm');
}

/** Creates a ring for one training process, or rejects when the shared-memory bridge is unavailable. */
export async function createRingFeed(logger: Logger): Promise<RingFeed> {
  const bridge = await loadBridge();
  const location = await bridge.createRing({ capacityBytes: ringCapacityBytes });
  const writer = await bridge.RingWriter.open(location.path);
  let closed = false;
  return {
    path: location.path,
    async pump(input) {
      try {
        for (;;) {
          const batch = await input.readBatch(pumpBatchRecords);
          if (closed) return; // the process this ring fed is gone; its successor has its own ring
          if (batch === null) {
            await writer.end();
            return;
          }
          await writer.writeBatch(batch);
        }
      } catch (error) {
        if (!closed) logger.warn('feeding the training process stopped', { error: (error as Error).message });
      }
    },
    async close() {
      closed = true;
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
