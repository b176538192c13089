/**
 * The pipe transport, one `RecordTransport` (core) of `streamProcessRunner`; the shared-memory
 * ring of `@millrace/bridge-shm` is the other. fd 3 carries records to the child, fd 4 records
 * from it, each as length-prefixed frames (`frames.ts`); closing fd 3 is end-of-input.
 */
import type { Readable, Writable } from 'node:stream';
import type { InputChannel, OutputChannel, RecordPumps, RecordTransport } from '@millrace/core';
import { pumpChannelIntoPipe, pumpPipeIntoChannel } from '@millrace/runner-kit';

export const inputDescriptor = 3;
export const outputDescriptor = 4;
const batchRecords = 512;

export const pipeTransport: RecordTransport = {
  name: 'pipes',
  setup({ hasInput, hasOutput }) {
    const env: Record<string, string> = { MILLRACE_RECORDS_TRANSPORT: 'pipes' };
    if (hasInput) env.MILLRACE_RECORDS_IN_FD = String(inputDescriptor);
    if (hasOutput) env.MILLRACE_RECORDS_OUT_FD = String(outputDescriptor);
    return {
      extraStdio: [hasInput ? 'pipe' : 'ignore', hasOutput ? 'pipe' : 'ignore'],
      env,
      connect: connectPipes,
    };
  },
};

function connectPipes(
  stdio: readonly unknown[],
  channels: { input?: InputChannel | undefined; output?: OutputChannel | undefined },
): RecordPumps {
  const toChild = stdio[inputDescriptor] as Writable | null | undefined;
  const fromChild = stdio[outputDescriptor] as Readable | null | undefined;
  const inputPump =
    channels.input && toChild ? pumpChannelIntoPipe(channels.input, toChild, batchRecords) : undefined;
  // A partial frame at the end is the child's failure; its exit reports it.
  const outputDrained =
    channels.output && fromChild
      ? pumpPipeIntoChannel(fromChild, channels.output).then(() => {})
      : Promise.resolve();
  return {
    outputDrained,
    stop() {
      inputPump?.stop();
    },
  };
}
