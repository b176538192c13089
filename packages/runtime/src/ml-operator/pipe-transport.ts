/**
 * The pipe transport, one `RecordTransport` (core) of `streamProcessRunner`; the shared-memory
 * ring of `@millrace/bridge-shm` is the other. fd 3 carries records to the child, fd 4 records
 * from it, each as length-prefixed frames (`frames.ts`); closing fd 3 is end-of-input.
 */
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import {
  type InputChannel,
  type OutputChannel,
  type RecordPumps,
  type RecordTransport,
  StopLatch,
} from '@millrace/core';
import { encodeFrames, FrameDecoder } from '@millrace/runner-kit';

export const inputDescriptor = 3;
export const outputDescriptor = 4;
const batchRecords = 512;

export const pipeTransport: RecordTransport = {
  name: 'pipes',
  setup({ hasInput, hasOutput }) {
    const env: Record<string, string> = { MILLRACE_RECORDS_TRANSPORT: 'pipes' };
    if (hasInput) env.MILLRACE_RECORDS_IN_FD = String(inputDescriptor);
    if (hasOutput) env.MILLRACE_RECORDS_OUT_FD = String(outputDescriptor);
    return {
      extraStdio: [hasInput ? 'pipe' : 'ignore', hasOutput ? 'pipe' : 'ignore'],
      env,
      connect: connectPipes,
    };
  },
};

function connectPipes(
  stdio: readonly unknown[],
  channels: { input?: InputChannel | undefined; output?: OutputChannel | undefined },
): RecordPumps {
  let stopped = false;
  const toChild = stdio[inputDescriptor] as Writable | null | undefined;
  const fromChild = stdio[outputDescriptor] as Readable | null | undefined;
  // Stops the input pump. A latch, not one promise raced per batch: that kept every batch sent
  // to the child reachable for the runner's lifetime.
  const halted = new StopLatch<null>();
  if (channels.input && toChild) {
    const input = channels.input;
    toChild.on('error', () => {}); // EPIPE when the child exits without reading everything.
    void (async () => {
      try {
        for (;;) {
          const batch = await halted.race(input.readBatch(batchRecords));
          if (batch === null || stopped || toChild.destroyed) break;
          if (!toChild.write(encodeFrames(batch))) await halted.race(once(toChild, 'drain'));
        }
      } catch {
        // The channel failed (cancellation); the runner's stop follows.
      } finally {
        if (!toChild.destroyed) toChild.end();
      }
    })();
  }
  let outputDrained = Promise.resolve();
  if (channels.output && fromChild) {
    const output = channels.output;
    const decoder = new FrameDecoder();
    outputDrained = (async () => {
      try {
        for await (const chunk of fromChild as AsyncIterable<Buffer>) {
          const frames = decoder.push(chunk);
          if (frames.length > 0) await output.writeBatch(frames);
        }
      } catch {
        // The pipe broke with the child; what arrived was delivered.
      }
    })();
  }
  return {
    outputDrained,
    stop() {
      stopped = true;
      halted.stop(null);
    },
  };
}
