/**
 * Helpers for this package's tests: a runner context with in-memory channels and recorders.
 * Not exported from the package.
 */
import type { InputChannel, OutputChannel, RunnerContext } from '@millrace/core';

export interface RecordingContext extends RunnerContext {
  readonly abort: AbortController;
  readonly reported: Record<string, number>[];
  readonly logged: string[];
  /** Records written to `output` (when created with `output: true`). */
  readonly written: Uint8Array[];
  /** True once `output.end()` was called. */
  ended(): boolean;
  /** Positions passed to `checkpointed`, in order. */
  readonly acknowledged: number[];
}

/** An input channel producing `count` records made by `make(i)`, lazily, in batches. */
export function generatedInput(count: number, make: (index: number) => Uint8Array): InputChannel {
  let next = 0;
  const readBatch = async (maxRecords: number) => {
    if (next >= count) return null;
    const end = Math.min(count, next + maxRecords);
    const batch: Uint8Array[] = [];
    for (; next < end; next += 1) batch.push(make(next));
    return batch;
  };
  return {
    readBatch,
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const batch = await readBatch(1024);
        if (batch === null) return;
        yield* batch;
      }
    },
  };
}

export function recordingContext(
  options: { input?: InputChannel; output?: boolean; checkpointDirectory?: string } = {},
): RecordingContext {
  const abort = new AbortController();
  const reported: Record<string, number>[] = [];
  const logged: string[] = [];
  const written: Uint8Array[] = [];
  const acknowledged: number[] = [];
  let ended = false;
  const output: OutputChannel | undefined = options.output
    ? {
        write: async (record) => {
          written.push(record);
        },
        writeBatch: async (records) => {
          for (const record of records) written.push(record);
        },
        end: async () => {
          ended = true;
        },
      }
    : undefined;
  const log = (level: string) => (message: string) => logged.push(`${level} ${message}`);
  return {
    jobName: 'python-test',
    role: 'worker',
    index: 0,
    generation: 1,
    attempt: 0,
    clusterSpec: {
      jobName: 'python-test',
      generation: 1,
      roles: { worker: [{ role: 'worker', index: 0, host: '127.0.0.1', ports: {} }] },
    },
    environment: { RANK: '0', WORLD_SIZE: '1' },
    input: options.input,
    output,
    checkpointDirectory: options.checkpointDirectory ?? '/tmp',
    reservedPorts: {},
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    metrics: { report: (metrics) => reported.push({ ...metrics }) },
    signal: abort.signal,
    resumePosition: 0,
    checkpointed: (position) => acknowledged.push(position),
    acknowledged,
    abort,
    reported,
    logged,
    written,
    ended: () => ended,
  };
}
