/**
 * Entry point of a training process (`node dist/training-process.js`), started by
 * {@link tensorflowTrainer}. It reads its node description from `MILLRACE_TF_NODE`, pulls input
 * records from the parent on demand (so memory stays bounded), reports metrics and logs over IPC,
 * and exits 0 when its work is done. SIGTERM stops it.
 */
import type { InputChannel, Logger } from '@millrace/core';
import {
  type ChildMessage,
  type ParentMessage,
  payloadVariable,
  type TrainingProcessPayload,
} from './process-messages.js';
import { openRingInput } from './ring-input.js';
import { runTrainingNode } from './training-node.js';

const send = (message: ChildMessage) => process.send?.(message);

function ipcInput(): InputChannel {
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
      send({ type: 'read', maxRecords });
    });
  };
  return {
    readBatch,
    async *[Symbol.asyncIterator]() {
      for (let batch = await readBatch(1024); batch; batch = await readBatch(1024)) yield* batch;
    },
  };
}

const logger: Logger = Object.fromEntries(
  (['debug', 'info', 'warn', 'error'] as const).map((level) => [
    level,
    (message: string, fields?: Record<string, unknown>) => send({ type: 'log', level, message, fields }),
  ]),
) as unknown as Logger;

async function main(): Promise<void> {
  const text = process.env[payloadVariable];
  if (!text) throw new Error(`${payloadVariable} is not set; this file is started by the tensorflow runner`);
  const payload = JSON.parse(text) as TrainingProcessPayload;
  const controller = new AbortController();
  process.once('SIGTERM', () => controller.abort());
  // The IPC channel closes when the runner's process dies (even by SIGKILL): never outlive it.
  process.once('disconnect', () => {
    if (!finished) process.exit(1);
  });
  const summary = await runTrainingNode(payload.options, {
    role: payload.role,
    index: payload.index,
    clusterSpec: payload.clusterSpec,
    checkpointDirectory: payload.checkpointDirectory,
    training: payload.training,
    resumePosition: payload.resumePosition,
    generation: payload.generation,
    checkpointed: (position) => send({ type: 'checkpointed', position }),
    input:
      payload.input.kind === 'ring'
        ? await openRingInput(payload.input.path)
        : payload.input.kind === 'ipc'
          ? ipcInput()
          : undefined,
    metrics: { report: (metrics) => send({ type: 'metrics', metrics: { ...metrics } }) },
    logger,
    signal: controller.signal,
  });
  if (summary) logger.info('worker finished', { ...summary });
  finished = true;
}

let finished = false;

main().then(
  () => {
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
