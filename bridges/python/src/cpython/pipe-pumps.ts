/**
 * `pythonRunner({ transport: 'pipes' })`: records cross on two pipes the child inherits, fd 4 in and
 * fd 5 out (fd 3 is the control socket), as length-prefixed frames (runner-kit's `frames.ts`; the
 * Python side is `millrace/_pipes.py`). Closing a pipe ends its stream. What shared memory gives
 * and pipes do not: no record-size limit to hit, but every record is copied through the kernel
 * twice, and end-of-stream cannot tell a clean end from a writer that died, so the child's exit
 * status decides whether the output stream ends (as with the rings after a failure).
 */
import type { Readable, Writable } from 'node:stream';
import { type InputChannel, type OutputChannel, ProtocolError } from '@millrace/core';
import { type PipeInputPump, pumpChannelIntoPipe, pumpPipeIntoChannel } from '@millrace/runner-kit';
import type { RecordCodecName, RunnerRecordPath } from './ring-pumps.js';

export const pipeInputDescriptor = 4;
export const pipeOutputDescriptor = 5;
const pumpBatchRecords = 4096;
/** How long the output pipe may stay open after the child exited. */
const outputEndTimeoutMs = 10_000;

export interface PipePumpOptions {
  input?: InputChannel | undefined;
  output?: OutputChannel | undefined;
  inputCodec: RecordCodecName;
  outputCodec: RecordCodecName;
}

export function startPipePumps(options: PipePumpOptions): RunnerRecordPath {
  const environment: Record<string, string> = {};
  if (options.input) {
    environment.MILLRACE_INPUT_FD = String(pipeInputDescriptor);
    environment.MILLRACE_INPUT_CODEC = options.inputCodec;
  }
  if (options.output) {
    environment.MILLRACE_OUTPUT_FD = String(pipeOutputDescriptor);
    environment.MILLRACE_OUTPUT_CODEC = options.outputCodec;
  }
  let inputPump: PipeInputPump | undefined;
  let outputDone: Promise<Error | undefined> = Promise.resolve(undefined);
  let toChild: Writable | undefined;
  let fromChild: Readable | undefined;

  return {
    environment,
    // fd 4 and fd 5, after the control socket at fd 3.
    extraStdio: [options.input ? 'pipe' : 'ignore', options.output ? 'pipe' : 'ignore'],
    connect(stdio) {
      const writable = stdio[pipeInputDescriptor] as Writable | null | undefined;
      if (options.input && writable) {
        toChild = writable;
        inputPump = pumpChannelIntoPipe(options.input, writable, pumpBatchRecords);
      }
      const readable = stdio[pipeOutputDescriptor] as Readable | null | undefined;
      if (options.output && readable) {
        fromChild = readable;
        outputDone = pumpPipeIntoChannel(readable, options.output).then((pendingBytes) =>
          pendingBytes > 0
            ? new ProtocolError(
                `the Python runner's output pipe ended inside a record (${pendingBytes} bytes of an unfinished frame)`,
              )
            : undefined,
        );
      }
    },
    async finish({ succeeded }) {
      // The child is gone: what it did not read stays unread; what it wrote is all in the pipe.
      inputPump?.stop();
      if (toChild && !toChild.destroyed) toChild.destroy();
      await inputPump?.done;
      // A process the runner forked (a DataLoader worker) inherits the pipe and keeps it open
      // after the runner exits; the wait for its end is bounded, and names the likely cause.
      let timer: NodeJS.Timeout | undefined;
      const stayedOpen = new Promise<Error>((resolve) => {
        timer = setTimeout(() => {
          fromChild?.destroy();
          resolve(
            new ProtocolError(
              `the Python runner exited but its output pipe (fd ${pipeOutputDescriptor}) stayed open for ${outputEndTimeoutMs} ms: a process it started still holds it`,
            ),
          );
        }, outputEndTimeoutMs);
      });
      const outputError = await Promise.race([outputDone, stayedOpen]);
      clearTimeout(timer);
      if (outputError) return outputError;
      if (succeeded) await options.output?.end();
      return undefined;
    },
    async close() {
      inputPump?.stop();
      toChild?.destroy();
      fromChild?.destroy();
      await inputPump?.done;
    },
  };
}
