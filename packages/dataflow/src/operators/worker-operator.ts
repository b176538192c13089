/**
 * Element-wise operators whose subtasks run the user function on a worker thread, so CPU-heavy
 * functions use more than one core. Each subtask owns one worker; records cross in whole batches
 * (structured clone), up to `maxInFlight` batches at once so the worker never waits for the main
 * thread, and results are emitted in input order.
 *
 * The worker is started from inline source so it works the same from `src/` (tests) and `dist/`.
 */
import { Worker } from 'node:worker_threads';
import { CancelledError } from '@millrace/core';
import { OperatorError } from '../errors.js';
import type { FunctionReference } from '../function-reference.js';
import type { OperatorFactory, Output, SubtaskContext } from '../operator.js';
import type { ElementWiseKind } from './element-wise.js';

const maxInFlight = 2;

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const preview = (record) => {
  let text;
  try { text = typeof record === 'string' ? JSON.stringify(record) : (JSON.stringify(record) ?? String(record)); }
  catch { text = String(record); }
  text = text.replace(/\\s+/g, ' ');
  return text.length > 120 ? text.slice(0, 120) + '…' : text;
};
const fail = (id, error, record) => parentPort.postMessage({
  id, error: { message: error && error.message ? error.message : String(error), stack: error && error.stack }, record: preview(record),
});
import(workerData.module).then((namespace) => {
  const fn = namespace[workerData.exportName];
  if (typeof fn !== 'function') {
    parentPort.postMessage({ id: -1, error: { message: "'" + workerData.module + "' has no function export '" + workerData.exportName + "'" } });
    return;
  }
  const kind = workerData.kind;
  parentPort.postMessage({ id: -1, ready: true });
  parentPort.on('message', async ({ id, records }) => {
    const out = [];
    if (kind === 'mapBatches') {
      try {
        for (let s = 0; s < records.length; s += workerData.maxBatch) {
          const r = await fn(records.slice(s, s + workerData.maxBatch));
          if (!Array.isArray(r)) throw new TypeError('mapBatches function must return an array, got ' + typeof r);
          for (const x of r) out.push(x);
        }
      } catch (error) { return fail(id, error, records); }
      return parentPort.postMessage({ id, records: out });
    }
    let i = 0;
    try {
      for (; i < records.length; i++) {
        let r = fn(records[i]);
        if (r && typeof r.then === 'function') r = await r;
        if (kind === 'map') out.push(r);
        else if (kind === 'filter') { if (r) out.push(records[i]); }
        else for (const x of r) out.push(x);
      }
    } catch (error) { return fail(id, error, records[i]); }
    parentPort.postMessage({ id, records: out });
  });
}, (error) => parentPort.postMessage({ id: -1, error: { message: 'cannot import ' + workerData.module + ': ' + error.message } }));
`;

interface WorkerReply {
  id: number;
  records?: unknown[];
  ready?: boolean;
  error?: { message: string; stack?: string };
  record?: string;
}

export function workerOperator(
  kind: ElementWiseKind,
  reference: FunctionReference,
  maxBatch: number,
): OperatorFactory<unknown, unknown> {
  return () => {
    let worker: Worker | undefined;
    let output: Output<unknown>;
    let context: SubtaskContext<unknown>;
    let nextId = 0;
    const replies = new Map<
      number,
      { resolve: (records: unknown[]) => void; reject: (e: unknown) => void }
    >();
    // Results are emitted in input order as soon as each batch is back, without waiting for the
    // next input batch (an unbounded stream may go quiet).
    let emitted: Promise<void> = Promise.resolve();
    const inFlight: Promise<void>[] = [];
    let broken: unknown = null;

    const failAll = (error: unknown) => {
      broken ??= error;
      for (const waiter of replies.values()) waiter.reject(error);
      replies.clear();
    };
    const operatorError = (message: string, record?: string) =>
      new OperatorError({
        operator: context.operatorName,
        subtask: context.subtaskIndex,
        parallelism: context.parallelism,
        record,
        message: `${message} (in worker thread, ${reference.module}#${reference.exportName})`,
      });

    return {
      async open(subtask) {
        context = subtask;
        output = subtask.output;
        worker = new Worker(workerSource, {
          eval: true,
          workerData: { module: reference.module, exportName: reference.exportName, kind, maxBatch },
        });
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => reject(new CancelledError('Cancelled while the worker thread started'));
          subtask.signal.addEventListener('abort', onAbort, { once: true });
          worker!.once('message', (reply: WorkerReply) => {
            subtask.signal.removeEventListener('abort', onAbort);
            if (reply.ready) resolve();
            else reject(operatorError(reply.error?.message ?? 'worker failed to start'));
          });
          worker!.once('error', (error) => reject(operatorError(error.message)));
        });
        worker.on('message', (reply: WorkerReply) => {
          const waiter = replies.get(reply.id);
          replies.delete(reply.id);
          if (reply.error) waiter?.reject(operatorError(reply.error.message, reply.record));
          else waiter?.resolve(reply.records ?? []);
        });
        worker.on('error', (error) => failAll(operatorError(error.message)));
        worker.on('exit', (code) => failAll(operatorError(`worker thread exited with code ${code}`)));
      },
      async processBatch(batch) {
        if (broken !== null) throw broken;
        const id = nextId++;
        const result = new Promise<unknown[]>((resolve, reject) => replies.set(id, { resolve, reject }));
        // Keep later batches from being reported as unhandled when an earlier one fails first.
        result.catch(() => {});
        worker!.postMessage({ id, records: batch });
        emitted = emitted
          .then(() => result)
          .then((records) => {
            output.emitAll(records);
            return output.flush();
          });
        emitted.catch(() => {});
        inFlight.push(emitted);
        if (inFlight.length >= maxInFlight) await inFlight.shift();
      },
      async finish() {
        inFlight.length = 0;
        await emitted;
      },
      async close() {
        const w = worker;
        worker = undefined;
        if (w) {
          w.removeAllListeners('exit');
          await w.terminate();
        }
        failAll(new CancelledError('The worker thread was stopped'));
      },
    };
  };
}
