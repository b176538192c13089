/**
 * Moves records between the runner context's channels and the shared-memory rings the Python
 * process reads and writes: `context.input` → input ring → `ctx.input` in Python, and
 * `ctx.output` in Python → output ring → `context.output`. Each ring has one writer and one reader
 * (this process holds the other end), backpressure flows through (a full ring stops the pump,
 * which stops pulling from the channel), and end-of-stream is forwarded explicitly.
 */
import { rmSync } from 'node:fs';
import { createRing, RingReader, RingWriter } from '@millrace/bridge-shm';
import type { InputChannel, OutputChannel } from '@millrace/core';

export const recordCodecNames = ['raw', 'json', 'msgpack', 'tensor'] as const;
export type RecordCodecName = (typeof recordCodecNames)[number];

const defaultRingBytes = 4 * 1024 * 1024;
const pumpBatchRecords = 4096;

export interface RingPumpOptions {
  input?: InputChannel | undefined;
  output?: OutputChannel | undefined;
  inputCodec: RecordCodecName;
  outputCodec: RecordCodecName;
  /** Power of two; default 4 MiB. */
  ringBytes?: number | undefined;
}

export interface RingPumps {
  /** `MILLRACE_INPUT_RING` / `MILLRACE_OUTPUT_RING` and their codecs, for the child. */
  readonly environment: Record<string, string>;
  /**
   * Call once the child exited: drains the output ring (after a clean exit), stops the input
   * pump, removes the ring files. Resolves with a description of a data-path failure, if any.
   */
  finish(outcome: { succeeded: boolean }): Promise<string | undefined>;
  /** Tears everything down without draining (the child never started). */
  close(): Promise<void>;
}

export async function startRingPumps(options: RingPumpOptions): Promise<RingPumps> {
  const ringBytes = options.ringBytes ?? defaultRingBytes;
  const environment: Record<string, string> = {};
  const paths: string[] = [];
  let inputPump: Promise<string | undefined> = Promise.resolve(undefined);
  let outputPump: Promise<string | undefined> = Promise.resolve(undefined);
  let inputWriter: RingWriter | undefined;
  let outputReader: RingReader | undefined;

  if (options.input) {
    const ring = await createRing({ capacityBytes: ringBytes, codec: options.inputCodec });
    paths.push(ring.path);
    inputWriter = await RingWriter.open(ring.path, { codec: options.inputCodec });
    environment.MILLRACE_INPUT_RING = ring.path;
    environment.MILLRACE_INPUT_CODEC = options.inputCodec;
    inputPump = pumpInput(options.input, inputWriter);
  }
  if (options.output) {
    const ring = await createRing({ capacityBytes: ringBytes, codec: options.outputCodec });
    paths.push(ring.path);
    outputReader = await RingReader.open(ring.path, { codec: options.outputCodec });
    environment.MILLRACE_OUTPUT_RING = ring.path;
    environment.MILLRACE_OUTPUT_CODEC = options.outputCodec;
    outputPump = pumpOutput(outputReader, options.output);
  }

  const removeFiles = () => {
    for (const path of paths) rmSync(path, { force: true });
  };

  return {
    environment,
    async finish({ succeeded }) {
      // The child is gone: whatever input it did not read stays unread. Closing our writer ends a
      // pump blocked on a full ring (its write rejects), which is expected here, not a failure.
      await inputWriter?.close();
      let problem = await inputPump;
      if (succeeded) {
        problem = (await outputPump) ?? problem;
      } else {
        await outputReader?.close();
        await outputPump;
      }
      await outputReader?.close();
      removeFiles();
      return problem;
    },
    async close() {
      await inputWriter?.close();
      await outputReader?.close();
      await Promise.allSettled([inputPump, outputPump]);
      removeFiles();
    },
  };
}

/**
 * Resolves with a problem description when the upstream channel failed (the Python side then sees
 * the ring close without end-of-stream). A failed ring write means the child is gone or stopped
 * reading: not a problem of the data path, the child's exit tells what happened.
 */
async function pumpInput(input: InputChannel, writer: RingWriter): Promise<string | undefined> {
  for (;;) {
    let batch: Uint8Array[] | null;
    try {
      batch = await input.readBatch(pumpBatchRecords);
    } catch (error) {
      await writer.close();
      return `reading the runner's input channel failed: ${(error as Error).message}`;
    }
    try {
      if (batch === null) {
        await writer.end();
        return undefined;
      }
      await writer.writeBatch(batch);
    } catch {
      return undefined;
    }
  }
}

/** Resolves with a problem description instead of rejecting: the runner's result reports it. */
async function pumpOutput(reader: RingReader, output: OutputChannel): Promise<string | undefined> {
  try {
    for (;;) {
      const batch = await reader.readBatch(pumpBatchRecords);
      if (batch === null) break;
      await output.writeBatch(batch);
    }
    await output.end();
    return undefined;
  } catch (error) {
    return `the output stream did not end cleanly: ${(error as Error).message}`;
  }
}
