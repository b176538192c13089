/**
 * How records cross between a NodeAgent and a runner process. A transport adds what the child
 * needs (extra file descriptors, environment variables naming them) and pumps records both ways.
 * The runner program never sees which transport is used: it calls `openRunnerChannels()`, which
 * reads `MILLRACE_RECORDS_TRANSPORT` and the variables the transport set. The shared-memory ring
 * (`@millrace/bridge-shm`) slots in as another `RecordTransport` with no change to job code or
 * runner programs.
 *
 * The pipe transport: fd 3 carries records to the child, fd 4 records from it, each as
 * length-prefixed frames (`frames.ts`); closing fd 3 is end-of-input.
 */
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import type { InputChannel, OutputChannel } from '@millrace/core';
import { encodeFrames, FrameDecoder } from './frames.js';

export interface RecordTransportSetup {
  /** stdio entries for fd 3, 4 … of the child. */
  extraStdio: ('pipe' | 'ignore')[];
  env: Record<string, string>;
  /** Starts moving records once the child runs; `stdio` is the child's stdio array. */
  connect(
    stdio: readonly (Readable | Writable | null | undefined)[],
    channels: { input?: InputChannel | undefined; output?: OutputChannel | undefined },
  ): RecordPumps;
  /** Releases what `setup` made (e.g. ring files) when the child never started. */
  discard?(): void;
}

export interface RecordPumps {
  /**
   * Settles when every record the child wrote was handed to `output` and the transport's
   * resources are released.
   */
  readonly outputDrained: Promise<void>;
  /** Set when the transport itself failed the node (e.g. a record too large for it). */
  readonly failure?: Error | undefined;
  /** Stops pumping (the child is gone). */
  stop(): void;
}

/**
 * One way records cross. `setup` runs before each runner process is spawned and returns what that
 * process needs, and the `connect` that pumps its records (so concurrent starts never mix up).
 */
export interface RecordTransport {
  readonly name: string;
  setup(options: { hasInput: boolean; hasOutput: boolean }): RecordTransportSetup;
}

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
  stdio: readonly (Readable | Writable | null | undefined)[],
  channels: { input?: InputChannel | undefined; output?: OutputChannel | undefined },
): RecordPumps {
  let stopped = false;
  const toChild = stdio[inputDescriptor] as Writable | null | undefined;
  const fromChild = stdio[outputDescriptor] as Readable | null | undefined;
  let stopInput: () => void = () => {};
  if (channels.input && toChild) {
    const input = channels.input;
    const halted = new Promise<null>((resolve) => {
      stopInput = () => resolve(null);
    });
    toChild.on('error', () => {}); // EPIPE when the child exits without reading everything.
    void (async () => {
      try {
        for (;;) {
          const batch = await Promise.race([input.readBatch(batchRecords), halted]);
          if (batch === null || stopped || toChild.destroyed) break;
          if (!toChild.write(encodeFrames(batch))) await Promise.race([once(toChild, 'drain'), halted]);
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
      stopInput();
    },
  };
}
