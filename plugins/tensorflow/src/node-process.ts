/**
 * The child's side of a node process (training-process.ts, prediction-process.ts): messages to
 * the runner that started it, the input channel over IPC (when no shared-memory ring is used),
 * a logger that forwards lines, and the rule that a node never outlives its runner.
 */
import type { InputChannel, Logger } from '@millrace/core';
import type { ChildMessage, ParentMessage } from './process-messages.js';

export const sendToParent = (message: ChildMessage) => process.send?.(message);

/** Input records pulled from the parent on demand, so memory stays bounded. */
export function ipcInput(): InputChannel {
  let waiting: ((records: Uint8Array[] | null) => void) | undefined;
  let ended = false;
  process.on('message', (message: ParentMessage) => {
    if (message.type !== 'records') return;
    const resolve = waiting;
    waiting = undefined;
    resolve?.(
      message.records?.map((record) => new Uint8Array(record.buffer, record.byteOffset, record.byteLength)) ??
        null,
    );
  });
  const readBatch = (maxRecords: number) => {
    if (ended) return Promise.resolve(null);
    return new Promise<Uint8Array[] | null>((resolve) => {
      waiting = (records) => {
        if (records === null) ended = true;
        resolve(records);
      };
      sendToParent({ type: 'read', maxRecords });
    });
  };
  return {
    readBatch,
    async *[Symbol.asyncIterator]() {
      for (let batch = await readBatch(1024); batch; batch = await readBatch(1024)) yield* batch;
    },
  };
}

export const parentLogger: Logger = Object.fromEntries(
  (['debug', 'info', 'warn', 'error'] as const).map((level) => [
    level,
    (message: string, fields?: Record<string, unknown>) =>
      sendToParent({ type: 'log', level, message, fields }),
  ]),
) as unknown as Logger;

/**
 * Runs a node's `main` with SIGTERM as its stop signal; exits 0 when it resolves, 1 with the
 * stack on stderr when it rejects, and at once when the runner's process dies (the IPC channel
 * closes even on SIGKILL).
 */
export function runNodeProcess(main: (signal: AbortSignal) => Promise<void>): void {
  const controller = new AbortController();
  let finished = false;
  process.once('SIGTERM', () => controller.abort());
  process.once('disconnect', () => {
    if (!finished) process.exit(1);
  });
  main(controller.signal).then(
    () => {
      finished = true;
      process.disconnect?.();
      process.exitCode = 0;
      // TF.js keeps no handles, but a stray timer must not keep a finished node alive.
      setTimeout(() => process.exit(0), 200).unref();
    },
    (error: unknown) => {
      process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}

/** Resolves when `signal` aborts (at once if it already has): a serving node's lifetime. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
