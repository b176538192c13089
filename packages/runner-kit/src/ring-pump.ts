/**
 * The one ring pump: moves records from a runner context's channel into a ring a runner process
 * reads, and from a ring the process writes back into a channel. Every host that feeds a process
 * through a ring (the Python host, the ring transport of streamProcessRunner, the TensorFlow.js
 * trainer) uses these two functions, so they all end the same way:
 *
 * - the input ends → the end-of-stream marker is written and the writer detaches (`ended`);
 * - the host stops the pump, or the process stops reading (it exited, it closed its end) →
 *   `stopped`: not a data-path failure, the process's exit says what happened;
 * - a record larger than the ring, or a failing input channel → `failed`: the writer detaches
 *   *without* an end marker, so the reader sees the ring closed instead of waiting forever, and
 *   the host fails the job with the error (a {@link RecordTooLargeError} names both sizes).
 *
 * The ring ends are structural (`RingWriter` / `RingReader` of `@millrace/bridge-shm` fit), so this
 * package does not depend on the native ring.
 */
import {
  type InputChannel,
  MillraceError,
  type OutputChannel,
  type PackedRecords,
  ProtocolError,
  RecordTooLargeError,
  StopLatch,
} from '@millrace/core';

/** The writing end of a ring, as the input pump needs it. */
export interface RingSink {
  writeBatch(records: readonly Uint8Array[]): Promise<void>;
  /** Writes packed records in one copy; used when the input channel can read them packed. */
  writePacked?(records: PackedRecords): Promise<void>;
  /** Bytes in the ring not yet read, of `capacityBytes`; when both are there the pump reports the ring's fill. */
  readonly usedBytes?: number;
  readonly capacityBytes?: number;
  /** Writes the end-of-stream marker. */
  end(): Promise<void>;
  /** Detaches; a pending write rejects. Idempotent. */
  close(): Promise<void>;
}

/** The reading end of a ring, as the output pump needs it. */
export interface RingSource {
  /** Up to `maxRecords` records, waiting for at least one; `null` at end-of-stream. */
  readBatch(maxRecords: number): Promise<Uint8Array[] | null>;
  /** Detaches; a pending read rejects. Idempotent. */
  close(): Promise<void>;
  /** Whether a writer ever attached; a pump whose writer exited without attaching ends at once. */
  writerAttached?(): boolean;
}

export type PumpOutcome =
  /** Every record went through and end-of-stream was forwarded. */
  | { status: 'ended' }
  /** Stopped by the host, or the other side went away; the process's exit tells why. */
  | { status: 'stopped' }
  /** The data path itself failed; the host fails the job with `error`. */
  | { status: 'failed'; error: Error };

export interface InputPump {
  /** Settles (never rejects) once the pump is finished and the writer detached. */
  readonly done: Promise<PumpOutcome>;
  /** Stops pumping: the process is gone. Records not yet in the ring stay in the channel. */
  stop(): void;
}

export interface OutputPump {
  /** Settles (never rejects) once the pump is finished and the reader detached. */
  readonly done: Promise<PumpOutcome>;
  /**
   * The writing process exited: what it wrote still comes through; nothing more will. A writer
   * that never attached leaves nothing to drain, so the pump ends at once.
   */
  writerExited(): void;
  /** Stops at once without draining. */
  stop(): void;
}

export interface InputPumpOptions {
  input: InputChannel;
  writer: RingSink;
  /** Records taken from the channel per ring write. Default 1024. */
  batchRecords?: number | undefined;
  /** What the ring is, for messages, e.g. `the input ring of the Python runner`. */
  description?: string | undefined;
  /**
   * What the user can do when a record does not fit, e.g. `Pass ringBytes: 8388608 to pythonRunner.`
   * (the size needed is in the message already). Default: create the ring with a larger capacity.
   */
  tooLargeRemedy?: ((recordBytes: number) => string) | undefined;
  /** Called once when the outcome is `failed`, before `done` settles (e.g. to stop the process). */
  onFailure?: ((error: Error) => void) | undefined;
}

export interface OutputPumpOptions {
  reader: RingSource;
  output: OutputChannel;
  /** Records read from the ring per channel write. Default 1024. */
  batchRecords?: number | undefined;
  /** Calls `output.end()` when the ring ends. Default false (the host ends the channel). */
  endOutput?: boolean | undefined;
}

const defaultBatchRecords = 1024;
const halt = Symbol('pump stopped');

/**
 * Moves `input` into the ring until the input ends, the pump is stopped, or the ring fails. When
 * the channel holds its records packed and the ring takes them so, they go packed: one copy from
 * the channel's memory into the ring, with no object per record on the way.
 */
export function pumpChannelIntoRing(options: InputPumpOptions): InputPump {
  const { input, writer } = options;
  const batchRecords = options.batchRecords ?? defaultBatchRecords;
  const readPacked = input.readPacked?.bind(input);
  const writePacked = writer.writePacked?.bind(writer);
  const read: () => Promise<Uint8Array[] | PackedRecords | null> =
    readPacked && writePacked ? () => readPacked(batchRecords) : () => input.readBatch(batchRecords);
  const write = (batch: Uint8Array[] | PackedRecords) =>
    Array.isArray(batch) ? writer.writeBatch(batch) : writePacked!(batch);
  let stopped = false;
  // A latch, not a long-lived promise raced per batch: that kept every batch reachable.
  const halted = new StopLatch<typeof halt>();
  const signalStop = () => halted.stop(halt);

  const fail = (error: Error): PumpOutcome => {
    options.onFailure?.(error);
    return { status: 'failed', error };
  };

  const run = async (): Promise<PumpOutcome> => {
    for (;;) {
      let batch: Uint8Array[] | PackedRecords | null | typeof halt;
      try {
        batch = await halted.race(read());
      } catch (error) {
        if (stopped) return { status: 'stopped' };
        return fail(
          new ProtocolError(
            `reading the records for ${options.description ?? 'the ring'} failed: ${(error as Error).message}`,
            { cause: error },
          ),
        );
      }
      if (batch === halt || stopped) return { status: 'stopped' };
      try {
        if (batch === null) {
          await writer.end();
          return { status: 'ended' };
        }
        await write(batch);
      } catch (error) {
        if (RecordTooLargeError.isInstance(error)) {
          const { recordBytes, maxRecordBytes } = error;
          return fail(
            new RecordTooLargeError(recordBytes, maxRecordBytes, options.description ?? 'the ring', {
              cause: error,
              remedy: options.tooLargeRemedy?.(recordBytes),
            }),
          );
        }
        // Any other write failure means the reader is gone (exited, closed) or we were stopped.
        return { status: 'stopped' };
      }
    }
  };

  // How full the ring is, for the node's metrics (the input channel shows it, when it can).
  const { capacityBytes } = writer;
  if (writer.usedBytes !== undefined && capacityBytes !== undefined && capacityBytes > 0)
    input.setDownstreamFill?.(() => Math.min(1, (writer.usedBytes ?? 0) / capacityBytes));
  // Detaching without an end marker tells the reader the stream broke (it never waits forever).
  const done = run().then(
    async (outcome) => {
      input.setDownstreamFill?.(undefined);
      await writer.close().catch(() => {});
      return outcome;
    },
    async (error: unknown) => {
      input.setDownstreamFill?.(undefined);
      await writer.close().catch(() => {});
      return fail(
        MillraceError.isInstance(error) ? error : new ProtocolError(String(error), { cause: error }),
      );
    },
  );
  return {
    done,
    stop() {
      stopped = true;
      signalStop();
      // Ends a write waiting for space in a ring nobody reads any more.
      void writer.close().catch(() => {});
    },
  };
}

/** Moves records from the ring into `output` until the ring ends, fails, or the pump is stopped. */
export function pumpRingIntoChannel(options: OutputPumpOptions): OutputPump {
  const { reader, output } = options;
  const batchRecords = options.batchRecords ?? defaultBatchRecords;
  let stopped = false;
  const exited = new StopLatch<typeof halt>();
  const signalExited = () => exited.stop(halt);

  // While the writer runs, a read waits as long as it takes. Once it exited nothing new arrives:
  // what it wrote comes at once, a writer that attached and died is seen by the ring's pid check,
  // and one that never attached would leave the read waiting for an attach, so that ends the read.
  const nextBatch = async (): Promise<Uint8Array[] | null | typeof halt> => {
    const read = reader.readBatch(batchRecords);
    const first = await exited.race(read);
    if (first !== halt) return first;
    if (reader.writerAttached?.() ?? true) return read;
    await reader.close();
    await read.catch(() => {});
    return halt;
  };

  const run = async (): Promise<PumpOutcome> => {
    try {
      for (;;) {
        const batch = await nextBatch();
        if (batch === halt || stopped) return { status: 'stopped' };
        if (batch === null) break;
        await output.writeBatch(batch);
      }
      if (options.endOutput) await output.end();
      return { status: 'ended' };
    } catch (error) {
      if (stopped) return { status: 'stopped' };
      return {
        status: 'failed',
        error: new ProtocolError(`the runner's output did not end cleanly: ${(error as Error).message}`, {
          cause: error,
        }),
      };
    }
  };

  const done = run().then(async (outcome) => {
    await reader.close().catch(() => {});
    return outcome;
  });
  return {
    done,
    writerExited: signalExited,
    stop() {
      stopped = true;
      signalExited();
      void reader.close().catch(() => {});
    },
  };
}
