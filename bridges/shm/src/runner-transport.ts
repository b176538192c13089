/**
 * The shared-memory ring as the record transport of `streamProcessRunner` (@millrace/runtime), the
 * NodeAgent's side: core's `RecordTransport`. Per runner process it creates up to two rings in this
 * process's job-private directory (RING.md §1): one carrying the role's input to the child, one
 * carrying the child's records back. The child finds them through `MILLRACE_RECORDS_IN_RING` /
 * `MILLRACE_RECORDS_OUT_RING` and opens them with `openRunnerChannels` (`runner-transport-channels.ts`).
 *
 * Records move through runner-kit's one ring pump: end-of-input is the ring's end marker, the
 * bounded ring is the backpressure, a record too large for the ring fails the node with a
 * RecordTooLargeError naming both sizes, a dead child is noticed by the ring's pid check (and by
 * the process supervisor), and the ring files are removed when the runner is done.
 */
import { rmSync } from 'node:fs';
import {
  CodecError,
  codecDirections,
  type InputChannel,
  type OutputChannel,
  type RecordPumps,
  type RecordTransport,
} from '@millrace/core';
import {
  type InputPump,
  type OutputPump,
  pumpChannelIntoRing,
  pumpRingIntoChannel,
} from '@millrace/runner-kit';
import { createRingSync } from './create-ring.js';
import { loadNativeRing } from './native-binding.js';
import { RingReader } from './ring-reader.js';
import { RingWriter } from './ring-writer.js';

export interface RingTransportOptions {
  /** Data area of each ring: a power of two, at least 4096. The largest record is this minus 8. Default 4 MiB. */
  capacityBytes?: number;
  /** Parent directory of the job directory (default /dev/shm), as for `createRing`. */
  directory?: string;
}

/** The ring transport: core's RecordTransport, named `shm`. */
export interface RingTransport extends RecordTransport {
  readonly name: 'shm';
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
    setup({ hasInput, hasOutput, codec }) {
      // Each ring's header carries its direction's codec (RING.md §9), so a runner that opens it
      // expecting another codec fails at open naming both; `raw` only when the role named none.
      const names = ringCodecNames(codec);
      const ring = (name: string) =>
        createRingSync({ capacityBytes, directory: options.directory, codec: name }).path;
      const inputPath = hasInput ? ring(names.input) : undefined;
      const outputPath = hasOutput ? ring(names.output) : undefined;
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
        connect: (_stdio, channels) => connectRings({ inputPath, outputPath, names, channels, removeFiles }),
      };
    },
  };
}

/** The ring header holds 1 to 15 characters of [A-Za-z0-9_.-] (RING.md §9). */
const headerCodecName = /^[A-Za-z0-9_.-]{1,15}$/;

/** The codec name each ring's header carries, checked so a name that does not fit fails by name. */
export function ringCodecNames(codec: string | undefined): { input: string; output: string } {
  if (codec === undefined) return { input: 'raw', output: 'raw' };
  const names = codecDirections(codec);
  for (const name of new Set([names.input, names.output])) {
    if (!headerCodecName.test(name)) {
      throw new CodecError(
        codec,
        `the role's codec name '${name}' cannot go into a shared-memory ring header (1 to 15 characters of ` +
          `A-Z a-z 0-9 _ . -); give the codec a shorter name, or use transport: 'pipes'`,
      );
    }
  }
  return names;
}

function connectRings(options: {
  inputPath: string | undefined;
  outputPath: string | undefined;
  names: { input: string; output: string };
  channels: { input?: InputChannel | undefined; output?: OutputChannel | undefined };
  removeFiles: () => void;
}): RecordPumps {
  const { input, output } = options.channels;
  let inputPump: InputPump | undefined;
  let outputPump: OutputPump | undefined;
  let failure: Error | undefined;
  let stopped = false;
  let inputDone: Promise<unknown> = Promise.resolve();
  if (input && options.inputPath) {
    const writer = RingWriter.open(options.inputPath, {
      attachTimeoutMs: parentAttachTimeoutMs,
      codec: options.names.input,
    });
    inputDone = writer.then(async (opened) => {
      inputPump = pumpChannelIntoRing({
        input,
        writer: opened,
        batchRecords,
        description: 'the shared-memory ring carrying records to the runner',
        tooLargeRemedy: (bytes) =>
          `Give streamProcessRunner a larger ring with transport: createRecordTransport({ capacityBytes }) from ` +
          `@millrace/bridge-shm (a power of two at least ${bytes + 8}), or use transport: 'pipes'.`,
      });
      if (stopped) inputPump.stop();
      const outcome = await inputPump.done;
      if (outcome.status === 'failed') failure = outcome.error;
    });
  }
  let outputDone: Promise<unknown> = Promise.resolve();
  if (output && options.outputPath) {
    const reader = RingReader.open(options.outputPath, {
      attachTimeoutMs: parentAttachTimeoutMs,
      codec: options.names.output,
    });
    outputDone = reader.then(async (opened) => {
      // The child's own end of its output ends the stream; its exit (not this pump) is the
      // node's result when it broke off early, so the pump's outcome is not a failure here.
      outputPump = pumpRingIntoChannel({ reader: opened, output, batchRecords });
      if (stopped) outputPump.writerExited();
      await outputPump.done;
    });
  }
  const finished = Promise.allSettled([inputDone, outputDone]).then(options.removeFiles);
  return {
    outputDrained: finished,
    get failure() {
      return failure;
    },
    stop() {
      stopped = true;
      inputPump?.stop();
      outputPump?.writerExited();
    },
  };
}
