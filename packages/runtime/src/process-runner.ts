/**
 * A {@link Runner} that runs a command as a child process under {@link superviseProcess}.
 *
 * The child gets `process.env`, then the engine's node environment (`TF_CONFIG`, `RANK`...), then
 * the Millrace variables below, then `options.env`:
 *   MILLRACE_JOB_NAME, MILLRACE_ROLE, MILLRACE_INDEX, MILLRACE_GENERATION, MILLRACE_ATTEMPT,
 *   MILLRACE_CHECKPOINT_DIR, MILLRACE_CLUSTER_SPEC (JSON), MILLRACE_PORT_<NAME> per reserved port.
 *
 * A stdout line of the form `millrace:metrics {"loss":0.25,"step":10}` is not forwarded; its
 * numbers go to the context's metrics reporter (and so to the AM and the CLI).
 */

import type { Server } from 'node:net';
import type { Runner, RunnerContext, RunnerHandle } from '@millrace/core';
import {
  environmentName,
  millraceEnvironment,
  parseMetricsLine,
  runnerLineSink,
  runnerResultOf,
  superviseProcess,
} from '@millrace/runner-kit';
import { adoptsReservedSockets, takeReservedSockets } from './port-reservation.js';

export type ProcessOutput =
  /** Write to this process's stdout/stderr, each line prefixed with `role[index] `. */
  | 'inherit'
  /** Send lines to the context's logger (stdout at info, stderr at warn). */
  | 'logger'
  /** Drop them (the stderr tail is still kept for failure reports). */
  | 'ignore'
  | ((line: string, stream: 'stdout' | 'stderr', context: RunnerContext) => void);

export interface ProcessRunnerOptions {
  command: string;
  args?: readonly string[] | undefined;
  /** Extra environment, applied last. */
  env?: Readonly<Record<string, string>> | undefined;
  cwd?: string | undefined;
  /** Between SIGTERM and SIGKILL when the runner is stopped. Default 5000 ms. */
  gracePeriodMs?: number | undefined;
  /** Lines of stderr kept for the failure report. Default 40. */
  stderrTailLines?: number | undefined;
  /** Where output lines go. Default `inherit`. */
  output?: ProcessOutput | undefined;
  /**
   * Hand the reserved ports to the child as already-bound listening sockets (fd 3, 4, ... named
   * by `MILLRACE_PORT_FD_<NAME>`), so no other process can take them between reservation and
   * use. A Node child listens with `net.createServer().listen({ fd })`. Default false: the
   * ports are released right before the child starts and it binds them itself.
   */
  handOverPorts?: boolean | undefined;
}

/** The reserved sockets as extra stdio entries of the child (fd 3 onwards) and their variables. */
function socketsForChild(sockets: Map<string, Server>): {
  stdio: number[];
  environment: Record<string, string>;
} {
  const stdio: number[] = [];
  const environment: Record<string, string> = {};
  for (const [name, server] of sockets) {
    // The listening socket's descriptor; net.Server keeps it on its (internal) handle.
    const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) continue;
    environment[`MILLRACE_PORT_FD_${environmentName(name)}`] = String(3 + stdio.length);
    stdio.push(fd);
  }
  return { stdio, environment };
}

function closeAll(sockets: Map<string, Server>): Promise<void> {
  return Promise.all(
    [...sockets.values()].map((server) => new Promise<void>((done) => server.close(() => done()))),
  ).then(() => {});
}

export function processRunner(
  options: ProcessRunnerOptions | ((context: RunnerContext) => ProcessRunnerOptions),
): Runner {
  const description =
    typeof options === 'function'
      ? 'process (command chosen per node)'
      : [options.command, ...(options.args ?? [])].join(' ');
  return adoptsReservedSockets({
    description,
    async start(context): Promise<RunnerHandle> {
      const resolved = typeof options === 'function' ? options(context) : options;
      const sockets = takeReservedSockets(context);
      const handOver = resolved.handOverPorts ? socketsForChild(sockets) : { stdio: [], environment: {} };
      if (!resolved.handOverPorts) await closeAll(sockets); // released right before the child binds
      const output = resolved.output ?? 'inherit';
      const commandLine = shorten([resolved.command, ...(resolved.args ?? [])].join(' '));
      const stdout = runnerLineSink(output, 'stdout', context);
      const processHandle = superviseProcess({
        command: resolved.command,
        args: resolved.args,
        cwd: resolved.cwd,
        env: { ...process.env, ...millraceEnvironment(context), ...handOver.environment, ...resolved.env },
        extraStdio: handOver.stdio,
        gracePeriodMs: resolved.gracePeriodMs,
        stderrTailLines: resolved.stderrTailLines,
        onStdoutLine: (line) => {
          const metrics = parseMetricsLine(line);
          if (metrics) context.metrics.report(metrics);
          else stdout(line);
        },
        onStderrLine: runnerLineSink(output, 'stderr', context),
        signal: context.signal,
      });
      // The child holds its own copies of the sockets now (or never will): ours can go.
      await processHandle.started.finally(() => closeAll(sockets)); // rejects with the reason when it cannot start
      const result = processHandle.exit.then((exit) => runnerResultOf(exit, commandLine));
      return {
        result,
        stop: async () => {
          await processHandle.stop();
        },
      };
    },
  });
}

function shorten(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > 80 ? `${oneLine.slice(0, 77)}...` : oneLine;
}
