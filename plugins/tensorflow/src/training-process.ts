/**
 * Entry point of a training process (`node dist/training-process.js`), started by
 * {@link tensorflowTrainer}. It reads its node description from `MILLRACE_TF_NODE`, pulls input
 * records from the parent on demand (so memory stays bounded), reports metrics and logs over IPC,
 * and exits 0 when its work is done. SIGTERM stops it.
 */
import { ipcInput, parentLogger, runNodeProcess, sendToParent } from './node-process.js';
import { payloadVariable, type TrainingProcessPayload } from './process-messages.js';
import { openRingInput } from './ring-input.js';
import { runTrainingNode } from './training-node.js';

runNodeProcess(async (signal) => {
  const text = process.env[payloadVariable];
  if (!text) throw new Error(`${payloadVariable} is not set; this file is started by the tensorflow runner`);
  const payload = JSON.parse(text) as TrainingProcessPayload;
  const summary = await runTrainingNode(payload.options, {
    role: payload.role,
    index: payload.index,
    clusterSpec: payload.clusterSpec,
    checkpointDirectory: payload.checkpointDirectory,
    training: payload.training,
    resumePosition: payload.resumePosition,
    generation: payload.generation,
    checkpointed: (position) => sendToParent({ type: 'checkpointed', position }),
    input:
      payload.input.kind === 'ring'
        ? await openRingInput(payload.input.path)
        : payload.input.kind === 'ipc'
          ? ipcInput()
          : undefined,
    metrics: { report: (metrics) => sendToParent({ type: 'metrics', metrics: { ...metrics } }) },
    logger: parentLogger,
    signal,
  });
  if (summary) parentLogger.info('worker finished', { ...summary });
});
