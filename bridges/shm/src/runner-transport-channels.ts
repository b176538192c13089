/**
 * The runner program's side of the ring transport (`runner-transport.ts`). @millrace/runtime's
 * `openRunnerChannels()` calls this when `MILLRACE_RECORDS_TRANSPORT=shm`, so runner programs do
 * not change when a job moves from pipes to the ring.
 *
 * Input: records come out of the ring a batch per native call. Output: `write()` copies the record
 * into a staging buffer at once (the caller may reuse its buffer) and returns; the staging buffer
 * goes into the ring in one `writePacked` call when it fills, on the next turn of the event loop,
 * or at `end()`. A full ring makes `write()` wait (backpressure), as a full pipe would.
 */
import { ConfigError, codecDirections } from '@millrace/core';
import { RingReader } from './ring-reader.js';
import { RingWriter } from './ring-writer.js';

export interface RingRunnerChannels {
  input?: AsyncIterable<Uint8Array>;
  output?: {
    write(record: Uint8Array): Promise<void>;
    writeBatch(records: readonly Uint8Array[]): Promise<void>;
    end(): Promise<void>;
    flush(): Promise<void>;
  };
}

export interface RingRunnerChannelsOptions {
  /**
   * The codec this program speaks (a `X-in/Y-out` name for two). Checked against each ring's
   * header, which carries the role's codec: a mismatch fails here with an error naming both.
   */
  codec?: string | undefined;
}

/** Opens the rings named by `MILLRACE_RECORDS_IN_RING` / `MILLRACE_RECORDS_OUT_RING`. */
export async function openRunnerChannels(
  environment: NodeJS.ProcessEnv = process.env,
  options: RingRunnerChannelsOptions = {},
): Promise<RingRunnerChannels> {
  if (environment.MILLRACE_RECORDS_TRANSPORT !== 'shm') {
    throw new ConfigError(
      [
        {
          path: 'MILLRACE_RECORDS_TRANSPORT',
          message: `is ${JSON.stringify(environment.MILLRACE_RECORDS_TRANSPORT)}, not "shm": this program was not started with the ring transport`,
        },
      ],
      { subject: 'runner environment' },
    );
  }
  const names = options.codec === undefined ? undefined : codecDirections(options.codec);
  const channels: RingRunnerChannels = {};
  const inputPath = environment.MILLRACE_RECORDS_IN_RING;
  const outputPath = environment.MILLRACE_RECORDS_OUT_RING;
  let reader: RingReader | undefined;
  if (inputPath) {
    const opened = await RingReader.open(inputPath, { codec: names?.input });
    reader = opened;
    channels.input = {
      async *[Symbol.asyncIterator]() {
        try {
          yield* opened;
        } finally {
          await opened.close();
        }
      },
    };
  }
  if (outputPath) {
    // An output ring refused (its codec disagrees) must not leave the input ring attached.
    const writer = await RingWriter.open(outputPath, { codec: names?.output }).catch(
      async (error: unknown) => {
        await reader?.close();
        throw error;
      },
    );
    channels.output = new StagedRingOutput(writer);
  }
  return channels;
}

/** Bytes staged before a write waits for them to reach the ring. */
const stagingBytes = 256 * 1024;
const stagingRecords = 4096;

class StagedRingOutput {
  readonly #writer: RingWriter;
  #data: Uint8Array = new Uint8Array(stagingBytes);
  /** Record i staged is `#data[#offsets[i] … #offsets[i + 1])`; `#offsets[0]` stays 0. */
  #offsets: Uint32Array = new Uint32Array(stagingRecords + 1);
  /** The other staging pair, free again once its flush is done. */
  #spare: { data: Uint8Array; offsets: Uint32Array } | undefined;
  #bytes = 0;
  #records = 0;
  #flushScheduled = false;
  /** The last flush; a failure surfaces on the next write or end. */
  #lastFlush: Promise<void> = Promise.resolve();
  #failure: unknown;

  constructor(writer: RingWriter) {
    this.#writer = writer;
  }

  write(record: Uint8Array): Promise<void> {
    return this.writeBatch([record]);
  }

  async writeBatch(records: readonly Uint8Array[]): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    for (const record of records) {
      if (record.byteLength > stagingBytes) {
        // Too big to stage: whatever is staged goes first, then the record straight into the ring.
        this.#flush();
        await this.#writer.write(record);
        continue;
      }
      if (this.#bytes + record.byteLength > stagingBytes || this.#records === stagingRecords) {
        await this.#flush();
      }
      this.#data.set(record, this.#bytes);
      this.#bytes += record.byteLength;
      this.#offsets[++this.#records] = this.#bytes;
    }
    if (this.#records > 0 && !this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        void this.#flush();
      });
    }
  }

  /** Resolves once every record written so far is in the ring (a checkpoint acknowledgement waits for it). */
  async flush(): Promise<void> {
    await this.#flush();
    if (this.#failure !== undefined) throw this.#failure;
  }

  async end(): Promise<void> {
    await this.#flush();
    if (this.#failure !== undefined) throw this.#failure;
    await this.#writer.end();
    await this.#writer.close();
  }

  /** Hands the staged records to the ring (in order: the writer queues its operations). */
  #flush(): Promise<void> {
    if (this.#records > 0) {
      const staged = { data: this.#data, offsets: this.#offsets };
      const packed = { data: staged.data, offsets: staged.offsets.subarray(0, this.#records + 1) };
      // The ring may still be copying these when the next write comes: stage into the spare pair.
      this.#data = this.#spare?.data ?? new Uint8Array(stagingBytes);
      this.#offsets = this.#spare?.offsets ?? new Uint32Array(stagingRecords + 1);
      this.#spare = undefined;
      this.#bytes = 0;
      this.#records = 0;
      this.#lastFlush = this.#writer.writePacked(packed).then(
        () => {
          this.#spare = staged;
        },
        (error: unknown) => {
          this.#failure ??= error;
          throw error;
        },
      );
      this.#lastFlush.catch(() => {}); // observed through #failure
    }
    return this.#lastFlush;
  }
}
