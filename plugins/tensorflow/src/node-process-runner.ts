/**
 * The runner's side of a node process (a training or prediction process): starts it under the
 * one supervisor, feeds it input (a shared-memory ring, else records over IPC on demand), and
 * carries its messages: metrics, logs, checkpoint acknowledgements and, for prediction workers,
 * outputs to write downstream.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DependencyMissingError,
  type InputChannel,
  type RunnerContext,
  type RunnerHandle,
  type RunnerResult,
} from '@millrace/core';
import { runnerResultOf, superviseProcess } from '@millrace/runner-kit';
import { type ChildMessage, type ParentMessage, payloadVariable } from './process-messages.js';
import type { RingFeed } from './ring-input.js';

/** How long a stopped node process gets after SIGTERM before SIGKILL. */
const stopGraceMs = 5_000;
const stderrTailLines = 30;

/** `dist/<name>.js` of this package; unit tests under src/ need the package built. */
export function nodeProcessPath(name: 'training-process' | 'prediction-process'): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return join(here, '..', 'dist', `${name}.js`);
}

export interface NodeProcessStart {
  kind: 'training' | 'prediction';
  /** Handed to the process in `MILLRACE_TF_NODE`. */
  payload: unknown;
  context: RunnerContext;
  feed: RingFeed | undefined;
  input: InputChannel | undefined;
}

export function startNodeProcess({ kind, payload, context, feed, input }: NodeProcessStart): RunnerHandle {
  const entry = nodeProcessPath(`${kind}-process`);
  if (!existsSync(entry)) {
    throw new DependencyMissingError(
      '@millrace/plugin-tensorflow build',
      `${entry} is missing; build the package first (npm run build -w @millrace/plugin-tensorflow)`,
    );
  }
  // The one supervisor: its own process group (a stop reaches whatever the node spawned),
  // SIGTERM then SIGKILL, stderr tail by line. The IPC channel is fd 3.
  const supervised = superviseProcess({
    command: process.execPath,
    args: [entry],
    env: { ...process.env, ...context.environment, [payloadVariable]: JSON.stringify(payload) },
    extraStdio: ['ipc'],
    serialization: 'advanced',
    gracePeriodMs: stopGraceMs,
    stderrTailLines,
    onStdoutLine: (line) => context.logger.info(line),
    signal: context.signal,
  });
  const child = supervised.child;
  const name = `${context.role}[${context.index}] ${kind} process`;
  let dataFailure: Error | undefined;
  let fatal: string | undefined;
  const fail = (error: Error) => {
    dataFailure ??= error;
    void supervised.stop();
  };
  child.on('message', (message: ChildMessage) => {
    if (message.type === 'fatal') fatal = message.message;
    else handleMessage(child, message, context, input, fail);
  });
  if (feed && input) void feed.pump(input, fail);
  // A prediction worker finds a restarted parameter server at its new address.
  context.onClusterSpec?.((spec) => reply(child, { type: 'cluster-spec', spec }));

  const result = supervised.exit.then(async (exit): Promise<RunnerResult> => {
    await feed?.close();
    if (exit.spawnError)
      return { status: 'failed', message: `${name} could not start: ${exit.spawnError.message}` };
    if (dataFailure || fatal !== undefined) {
      return {
        status: 'failed',
        message: `${name}: ${dataFailure?.message ?? fatal}`,
        exitCode: exit.exitCode ?? undefined,
        signal: exit.signal ?? undefined,
        stderrTail: exit.stderrTail,
        // The same records would fail the same way after a restart.
        permanent: fatal !== undefined && !dataFailure,
      };
    }
    // A node stopped by the agent reports a stop, however cleanly it exited.
    return exit.stopped ? { status: 'stopped' } : runnerResultOf(exit, name);
  });
  return {
    result,
    stop: async () => {
      await supervised.stop();
      await result;
    },
  };
}

function handleMessage(
  child: ChildProcess,
  message: Exclude<ChildMessage, { type: 'fatal' }>,
  context: RunnerContext,
  input: InputChannel | undefined,
  fail: (error: Error) => void,
): void {
  switch (message.type) {
    case 'metrics':
      context.metrics.report(message.metrics);
      return;
    case 'checkpointed':
      acknowledge(context, message.position);
      return;
    case 'output': {
      // Written, then acknowledged in the same turn: a record whose output went downstream is
      // never replayed, and one whose output did not is (the process may die at any point).
      const records = message.records.map(
        (record) => new Uint8Array(record.buffer, record.byteOffset, record.byteLength),
      );
      (context.output ? context.output.writeBatch(records) : Promise.resolve()).then(
        () => {
          acknowledge(context, message.position);
          reply(child, { type: 'written' });
        },
        (error: Error) => fail(error),
      );
      return;
    }
    case 'log':
      context.logger[message.level](message.message, message.fields);
      return;
    case 'read': {
      if (!input) {
        reply(child, { type: 'records', records: null });
        return;
      }
      input.readBatch(message.maxRecords).then(
        (records) => reply(child, { type: 'records', records }),
        (error: Error) => {
          context.logger.error('input channel failed', { error: error.message });
          child.kill('SIGTERM');
        },
      );
      return;
    }
  }
}

function acknowledge(context: RunnerContext, position: number): void {
  try {
    context.checkpointed(position);
  } catch (error) {
    // A position the role refuses is a bug in the node, not a reason to stop it.
    context.logger.error('checkpoint acknowledgement refused', { error: (error as Error).message });
  }
}

function reply(child: ChildProcess, message: ParentMessage): void {
  if (child.connected) child.send(message);
}
