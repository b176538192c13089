/**
 * The shared-memory ring as the record transport of `streamProcessRunner` (@millrace/runtime), the
 * NodeAgent's side. Per runner process it creates up to two rings in this process's job-private
 * directory (RING.md §1): one carrying the role's input to the child, one carrying the child's
 * records back. The child finds them through `MILLRACE_RECORDS_IN_RING` / `MILLRACE_RECORDS_OUT_RING`
 * and opens them with `openRunnerChannels` (`runner-transport-channels.ts`).
 *
 * Same contract as the pipe transport: end-of-input is the ring's explicit end marker, the bounded
 * ring is the backpressure, a dead child is noticed by the ring's pid check (and by the process
 * supervisor), and the ring files are removed when the runner is done, whoever died first.
 *
 * Structurally the `RecordTransport` of @millrace/runtime: this package does not import the
 * runtime (the runtime loads this module by name), so the shapes are restated here.
 */
import { closeSync, openSync, readSync, rmSync } from 'node:fs';
import { type InputChannel, type OutputChannel, ProtocolError } from '@millrace/core';
import { createRingSync } from './create-ring.js';
import { RecordTooLargeError } from './errors.js';
import { loadNativeRing } from './native-binding.js';
import { RingReader } from './ring-reader.js';
import { RingWriter } from './ring-writer.js';

export interface RingTransportOptions {
  /** Data area of each ring: a power of two, at least 4096. The largest record is this minus 8. Default 4 MiB. */
  capacityBytes?: number;
  /** Parent directory of the job directory (default /dev/shm), as for `createRing`. */
  directory?: string;
}

export interface RingTransportSetup {
  extraStdio: ('pipe' | 'ignore')[];
  env: Record<string, string>;
  connect(
    stdio: readonly unknown[],
    channels: { input?: InputChannel | undefined; output?: OutputChannel | undefined },
  ): RingPumps;
  discard(): void;
}

export interface RingPumps {
  readonly outputDrained: Promise<void>;
  readonly failure: Error | undefined;
  stop(): void;
}

export interface RingTransport {
  readonly name: 'shm';
  setup(options: { hasInput: boolean; hasOutput: boolean }): RingTransportSetup;
}

export const defaultRingCapacityBytes = 4 * 1024 * 1024;
/** Records moved per batch in each direction. */
const batchRecords = 1024;
/** The parent waits for its child through the process supervisor, not the attach bound (~24 days). */
const parentAttachTimeoutMs = 2 ** 31;

/**
 * The ring transport. Loads the ring addon at once, so a caller that asks for it learns here (a
 * DependencyMissingError saying how to build it) rather than when the first runner starts.
 */
export function createRecordTransport(options: RingTransportOptions = {}): RingTransport {
  loadNativeRing();
  const capacityBytes = options.capacityBytes ?? defaultRingCapacityBytes;
  return {
    name: 'shm',
    setup({ hasInput, hasOutput }) {
      const ring = () => createRingSync({ capacityBytes, directory: options.directory }).path;
      const inputPath = hasInput ? ring() : undefined;
      const outputPath = hasOutput ? ring() : undefined;
      const env: Record<string, string> = { MILLRACE_RECORDS_TRANSPORT: 'shm' };
      if (inputPath) env.MILLRACE_RECORDS_IN_RING = inputPath;
      if (outputPath) env.MILLRACE_RECORDS_OUT_RING = outputPath;
      const removeFiles = () => {
        for (const path of [inputPath, outputPath]) if (path) rmSync(path, { force: true });
      };
      return {
        extraStdio: [],
        env,
        discard: removeFiles,
        connect: (_stdio, channels) => connectRings({ inputPath, outputPath, channels, removeFiles }),
      };
    },
  };
}

function connectRings(options: {
  inputPath: string | undefined;
  outputPath: string | undefined;
  channels: { input?: InputChannel | undefined; output?: OutputChannel | undefined };
  removeFiles: () => void;
}): RingPumps {
  let failure: Error | undefined;
  let markExited: () => void = () => {};
  const childExited = new Promise<typeof exitedMark>((resolve) => {
    markExited = () => resolve(exitedMark);
  });
  let closeWriter: () => void = () => {};

  const { input, output } = options.channels;
  let inputDone: Promise<void> = Promise.resolve();
  if (input && options.inputPath) {
    const path = options.inputPath;
    inputDone = (async () => {
      const writer = await RingWriter.open(path, { attachTimeoutMs: parentAttachTimeoutMs });
      closeWriter = () => void writer.close(); // ends a pending wait for space: the child is gone
      try {
        for (;;) {
          const batch = await Promise.race([input.readBatch(batchRecords), childExited]);
          if (batch === null || batch === exitedMark) return;
          await writer.writeBatch(batch);
        }
      } catch (error) {
        // A record the ring cannot hold fails the node; anything else is the child going away (its
        // exit is the node's result) or the input channel being cancelled.
        if (error instanceof RecordTooLargeError) {
          failure = new ProtocolError(
            `A record of ${error.recordBytes} bytes does not fit the shared-memory ring carrying records to the runner ` +
              `(largest ${error.maxRecordBytes} bytes). Give streamProcessRunner a larger ring with ` +
              `transport: createRecordTransport({ capacityBytes }) from @millrace/bridge-shm, or use transport: 'pipes'.`,
            { cause: error },
          );
        }
      } finally {
        if (failure === undefined) await writer.end().catch(() => {});
        await writer.close();
      }
    })().catch(() => {});
  }

  let outputDrained: Promise<void> = Promise.resolve();
  if (output && options.outputPath) {
    const path = options.outputPath;
    outputDrained = (async () => {
      const reader = await RingReader.open(path, { attachTimeoutMs: parentAttachTimeoutMs });
      try {
        for (;;) {
          const batch = await readUntilChildGone(reader, childExited);
          if (batch === null) return;
          await output.writeBatch(batch);
        }
      } catch {
        // The child died or closed its output early; what it wrote was delivered.
      } finally {
        await reader.close();
      }
    })().catch(() => {});
  }

  const finished = Promise.all([inputDone, outputDrained]).then(options.removeFiles);
  return {
    outputDrained: finished,
    get failure() {
      return failure;
    },
    stop() {
      markExited();
      closeWriter();
    },
  };
}

const exitedMark = Symbol('child exited');

/**
 * The next batch, or null at the end. While the child runs this waits as long as it takes. Once the
 * child has exited nothing new can arrive: what it wrote comes at once, and a child that attached
 * and died is seen by the ring's pid check within ~50 ms (RING.md §5). A child that died before
 * attaching its output would leave the read waiting for an attach, so that case ends the read.
 */
async function readUntilChildGone(
  reader: RingReader,
  childExited: Promise<typeof exitedMark>,
): Promise<Uint8Array[] | null> {
  const read = reader.readBatch(batchRecords);
  const first = await Promise.race([read, childExited]);
  if (first !== exitedMark) return first;
  if (writerAttached(reader.path)) return read;
  await reader.close(); // cancels the pending wait
  await read.catch(() => {});
  return null;
}

/** `writer_pid` of the ring header (RING.md §2, offset 32) is set when the writer attaches. */
function writerAttached(path: string): boolean {
  const header = Buffer.alloc(4);
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    readSync(fd, header, 0, 4, 32);
  } catch {
    return true; // the file is gone: both sides attached and detached
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return header.readUInt32LE(0) !== 0;
}
