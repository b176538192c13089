/**
 * Entry point of a prediction process (`node dist/prediction-process.js`), started by
 * {@link tensorflowPredictor}: a `ps` serves its share of the model until stopped; a `worker`
 * scores its input and sends each batch's outputs to the runner, waiting until they are written
 * downstream before it reads on (so outputs keep input order and memory stays bounded).
 */
import { CancelledError, type ClusterSpec, ConfigError, MillraceError } from '@millrace/core';
import { ipcInput, parentLogger, runNodeProcess, sendToParent } from './node-process.js';
import { servePredictionShard } from './prediction-ps.js';
import { runPredictionWorker } from './prediction-worker.js';
import { type ParentMessage, type PredictionProcessPayload, payloadVariable } from './process-messages.js';
import { openRingInput } from './ring-input.js';

/** Errors a restart cannot fix: the same records or model would fail the same way. */
const permanentErrors = new Set([
  'EmbeddingIdError',
  'PredictionRecordError',
  'ServingModelError',
  'ModelLoadError',
  'ConfigError',
]);

runNodeProcess(async (signal) => {
  const text = process.env[payloadVariable];
  if (!text)
    throw new Error(`${payloadVariable} is not set; this file is started by the tensorflow predictor`);
  const payload = JSON.parse(text) as PredictionProcessPayload;
  const context = {
    role: payload.role,
    index: payload.index,
    clusterSpec: payload.clusterSpec,
    metrics: {
      report: (metrics: Readonly<Record<string, number>>) =>
        sendToParent({ type: 'metrics', metrics: { ...metrics } }),
    },
    logger: parentLogger,
    signal,
  };
  try {
    if (payload.role === 'ps') {
      await servePredictionShard(payload.options, context);
      return;
    }
    if (payload.role !== 'worker') {
      throw new ConfigError(
        [{ path: `roles.${payload.role}`, message: 'a TF.js prediction cluster runs worker and ps nodes' }],
        { subject: 'tensorflow prediction' },
      );
    }
    if (payload.input.kind === 'none') {
      throw new ConfigError(
        [{ path: 'roles.worker', message: 'a prediction worker scores a stream: give its role an input' }],
        { subject: 'tensorflow prediction' },
      );
    }
    const input = payload.input.kind === 'ring' ? await openRingInput(payload.input.path) : ipcInput();
    const written = writtenAcknowledgements();
    const specListeners: ((spec: ClusterSpec) => void)[] = [];
    // A spec that came while the worker was still starting is handed to it when it subscribes.
    let laterSpec: ClusterSpec | undefined;
    process.on('message', (message: ParentMessage) => {
      if (message.type !== 'cluster-spec') return;
      laterSpec = message.spec;
      for (const listener of specListeners) listener(message.spec);
    });
    const summary = await runPredictionWorker(payload.options, {
      ...context,
      input,
      resumePosition: payload.resumePosition,
      onClusterSpec: (listener) => {
        specListeners.push(listener);
        if (laterSpec) listener(laterSpec);
      },
      write: (records, position) => {
        const done = written.next(signal);
        sendToParent({ type: 'output', records, position });
        return done;
      },
    });
    parentLogger.info('prediction worker finished', { ...summary });
  } catch (error) {
    if (MillraceError.isInstance(error) && permanentErrors.has(error.name)) {
      // Delivered before the process exits, so the runner reports the failure as permanent.
      await new Promise<void>((resolve) => {
        const message = { type: 'fatal' as const, message: `${error.name}: ${error.message}` };
        if (!process.send?.(message, undefined, {}, () => resolve())) resolve();
      });
    }
    throw error;
  }
});

/**
 * The runner's `written` answers, one per output batch, in order. A stop rejects the wait: a
 * pipeline that is shutting down may never take the batch, and the process must still end.
 */
function writtenAcknowledgements(): { next(signal: AbortSignal): Promise<void> } {
  const waiting: (() => void)[] = [];
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'written') waiting.shift()?.();
  });
  return {
    next: (signal) =>
      new Promise<void>((resolve, reject) => {
        const stopped = () => reject(new CancelledError('stopped while its outputs were being written'));
        if (signal.aborted) return stopped();
        signal.addEventListener('abort', stopped, { once: true });
        waiting.push(() => {
          signal.removeEventListener('abort', stopped);
          resolve();
        });
      }),
  };
}
