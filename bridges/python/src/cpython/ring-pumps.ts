/**
 * The rings between the runner context's channels and the Python process: `context.input` → input
 * ring → `ctx.input` in Python, and `ctx.output` in Python → output ring → `context.output`. Each
 * ring has one writer and one reader (this process holds the other end); runner-kit's ring pump
 * moves the records, so backpressure, explicit end-of-stream, and a record too large for the ring
 * (a RecordTooLargeError that fails the job, never a reader left waiting) behave as on every other
 * ring path.
 */
import { rmSync } from 'node:fs';
import { createRing, RingReader, RingWriter } from '@millrace/bridge-shm';
import type { InputChannel, OutputChannel } from '@millrace/core';
import {
  type InputPump,
  type OutputPump,
  pumpChannelIntoRing,
  pumpRingIntoChannel,
} from '@millrace/runner-kit';

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
  /** Called once when the input cannot go on (a record larger than the ring): stop the child. */
  onInputFailure?: ((error: Error) => void) | undefined;
}

/** How records reach the Python child and come back: the rings here, or pipes (`pipe-pumps.ts`). */
export interface RunnerRecordPath {
  /** Where the child finds its records (`MILLRACE_INPUT_RING`, `MILLRACE_INPUT_FD`, …) and their codecs. */
  readonly environment: Record<string, string>;
  /** What the child inherits after the control socket (fd 4 on): the pipes, if any. */
  readonly extraStdio: readonly ('pipe' | 'ignore')[];
  /** Called once the child is spawned, with its stdio (the pipes start moving records then). */
  connect(stdio: readonly unknown[]): void;
  /**
   * Call once the child exited: stops the input pump, drains the output after a clean exit
   * (after a failure the output stream is left unended), removes what it created. Resolves with
   * the data path's failure, if any (a RecordTooLargeError, a failed input channel, an output
   * that broke off).
   */
  finish(outcome: { succeeded: boolean }): Promise<Error | undefined>;
  /** Tears everything down without draining (the child never started). */
  close(): Promise<void>;
}

export async function startRingPumps(options: RingPumpOptions): Promise<RunnerRecordPath> {
  const ringBytes = options.ringBytes ?? defaultRingBytes;
  const environment: Record<string, string> = {};
  const paths: string[] = [];
  let inputPump: InputPump | undefined;
  let outputPump: OutputPump | undefined;

  if (options.input) {
    const ring = await createRing({ capacityBytes: ringBytes, codec: options.inputCodec });
    paths.push(ring.path);
    const writer = await RingWriter.open(ring.path, { codec: options.inputCodec });
    environment.MILLRACE_INPUT_RING = ring.path;
    environment.MILLRACE_INPUT_CODEC = options.inputCodec;
    inputPump = pumpChannelIntoRing({
      input: options.input,
      writer,
      batchRecords: pumpBatchRecords,
      description: 'the shared-memory ring carrying records to the Python runner',
      tooLargeRemedy: (bytes) =>
        `Give pythonRunner a larger ring: ringBytes, a power of two at least ${bytes + 8}.`,
      onFailure: options.onInputFailure,
    });
  }
  if (options.output) {
    const ring = await createRing({ capacityBytes: ringBytes, codec: options.outputCodec });
    paths.push(ring.path);
    const reader = await RingReader.open(ring.path, { codec: options.outputCodec });
    environment.MILLRACE_OUTPUT_RING = ring.path;
    environment.MILLRACE_OUTPUT_CODEC = options.outputCodec;
    outputPump = pumpRingIntoChannel({
      reader,
      output: options.output,
      batchRecords: pumpBatchRecords,
      endOutput: true,
    });
  }

  const removeFiles = () => {
    for (const path of paths) rmSync(path, { force: true });
  };

  return {
    environment,
    extraStdio: [],
    connect() {}, // the child attaches to the rings by their paths
    async finish({ succeeded }) {
      // The child is gone: whatever input it did not read stays unread (stopping ends a pump
      // blocked on a full ring); after a clean exit what it wrote still comes through.
      inputPump?.stop();
      if (succeeded) outputPump?.writerExited();
      else outputPump?.stop();
      const [input, output] = await Promise.all([inputPump?.done, outputPump?.done]);
      removeFiles();
      if (input?.status === 'failed') return input.error;
      if (output?.status === 'failed') return output.error;
      return undefined;
    },
    async close() {
      inputPump?.stop();
      outputPump?.stop();
      await Promise.all([inputPump?.done, outputPump?.done]);
      removeFiles();
    },
  };
}
