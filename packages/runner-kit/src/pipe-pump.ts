/**
 * The one pipe pump: moves records between a channel and a pipe of a runner process as
 * length-prefixed frames (`frames.ts`). `streamProcessRunner`'s pipe transport (runtime) and
 * `pythonRunner({ transport: 'pipes' })` (bridge-python) both use it. A pipe has no end-of-stream
 * marker: the input pump ends the pipe when the input ends, and whether an output pipe's end was a
 * clean one the caller learns from the process's exit (and from the bytes of an unfinished frame).
 */
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { type InputChannel, type OutputChannel, StopLatch } from '@millrace/core';
import { encodeFrames, FrameDecoder } from './frames.js';

export interface PipeInputPump {
  /** Settles (never rejects) once the pump is finished and the pipe ended or was destroyed. */
  readonly done: Promise<void>;
  /** Stops pumping (the process is gone); records not yet written stay in the channel. */
  stop(): void;
}

/**
 * Writes `input` into `pipe`, `batchRecords` per write, waiting for `drain` (backpressure), and
 * ends the pipe when the input ends: that is end-of-input for the process. A failing channel (a
 * cancelled job) or a pipe the process closed ends the pump quietly: the process's stop or exit
 * says what happened.
 */
export function pumpChannelIntoPipe(
  input: InputChannel,
  pipe: Writable,
  batchRecords: number,
): PipeInputPump {
  // A latch, not one promise raced per batch: that kept every batch sent to the child reachable.
  const halted = new StopLatch<null>();
  pipe.on('error', () => {}); // EPIPE when the process exits without reading everything
  const done = (async () => {
    try {
      for (;;) {
        const batch = await halted.race(input.readBatch(batchRecords));
        if (batch === null || halted.stopped || pipe.destroyed) break;
        if (!pipe.write(encodeFrames(batch))) await halted.race(once(pipe, 'drain'));
      }
    } catch {
      // The channel failed (cancellation) or the pipe broke; the runner's stop follows.
    } finally {
      if (!pipe.destroyed) pipe.end();
    }
  })();
  return { done, stop: () => halted.stop(null) };
}

/**
 * Writes the frames arriving on `pipe` into `output` until the pipe ends or breaks. Resolves with
 * the bytes of an unfinished frame left at the end: 0 when the writer ended between records.
 */
export async function pumpPipeIntoChannel(pipe: Readable, output: OutputChannel): Promise<number> {
  const decoder = new FrameDecoder();
  try {
    for await (const chunk of pipe as AsyncIterable<Buffer>) {
      const frames = decoder.push(chunk);
      if (frames.length > 0) await output.writeBatch(frames);
    }
  } catch {
    // The pipe broke with the process; what arrived was delivered.
  }
  return decoder.pendingBytes;
}
