/**
 * A runner process that exchanges records with the pipeline: what the role's subtask receives is
 * handed to the process, what the process writes comes out of the role as a DataStream. Inside
 * the program, `openRunnerChannels()` gives the input as an async iterable of encoded records and
 * an output to write encoded records to (see `runner-channels.ts`).
 *
 * Like `processRunner`, the child gets the Millrace environment (`MILLRACE_ROLE`, cluster spec …),
 * runs in its own process group, and `millrace:metrics {…}` stdout lines become node metrics.
 * `millrace:checkpointed <position>` stdout lines acknowledge checkpoints (`checkpoint-line.ts`;
 * `openRunnerChannels().checkpointed(position)` prints them).
 */
import type { Runner, RunnerHandle, RunnerResult } from '@millrace/core';
import {
  millraceEnvironment,
  parseMetricsLine,
  runnerLineSink,
  runnerResultOf,
  superviseProcess,
} from '@millrace/runner-kit';
import { parseCheckpointedLine } from './checkpoint-line.js';
import { chooseRecordTransport, type RecordTransportChoice } from './transport-choice.js';

export interface StreamProcessRunnerOptions {
  /**
   * The program acknowledges checkpoints (`openRunnerChannels().checkpointed(position)`): a stream-mode role then has replay on
   * by default, and a restarted runner receives the records after its last checkpoint. Leave it
   * off for a program that never acknowledges: with replay on its buffer would fill and the role
   * fail after `replay.acknowledgeTimeoutMs`. Default false.
   */
  acknowledgesCheckpoints?: boolean | undefined;
  command: string;
  args?: readonly string[];
  /** Extra environment, applied last. */
  env?: Readonly<Record<string, string>>;
  cwd?: string;
  /** Between SIGTERM and SIGKILL when the runner is stopped. Default 5000 ms. */
  gracePeriodMs?: number;
  /**
   * How records cross to the process: `shm` (the shared-memory ring of @millrace/bridge-shm),
   * `pipes` (length-prefixed frames on fd 3 and 4), or a RecordTransport (e.g. the ring with a
   * larger capacity: `createRecordTransport({ capacityBytes })`). Default `auto`: the ring when
   * @millrace/bridge-shm is installed and its addon loads, else pipes with a warning;
   * `MILLRACE_RECORDS_TRANSPORT=pipes` in this process's environment forces pipes.
   */
  transport?: RecordTransportChoice;
  /**
   * Where the child's stdout/stderr lines go: `inherit` (default; prefixed `role[index] `),
   * `ignore`, or a function.
   */
  output?: 'inherit' | 'ignore' | ((line: string, stream: 'stdout' | 'stderr') => void);
}

export function streamProcessRunner(options: StreamProcessRunnerOptions): Runner {
  const commandLine = [options.command, ...(options.args ?? [])].join(' ');
  const choice = options.transport ?? 'auto';
  let warned = false;
  return {
    description: `${commandLine} (records over ${typeof choice === 'string' ? choice : choice.name})`,
    acknowledgesCheckpoints: options.acknowledgesCheckpoints === true,
    async start(context): Promise<RunnerHandle> {
      const transport = await chooseRecordTransport(choice, process.env, (line) => {
        if (!warned) context.logger.warn(line);
        warned = true;
      });
      const setup = transport.setup({
        hasInput: context.input !== undefined,
        hasOutput: context.output !== undefined,
        codec: context.codec,
      });
      const lines = (stream: 'stdout' | 'stderr') => {
        const sink = options.output ?? 'inherit';
        return sink === 'inherit' || sink === 'ignore'
          ? runnerLineSink(sink, stream, context)
          : (line: string) => sink(line, stream);
      };
      const stdout = lines('stdout');
      const child = superviseProcess({
        command: options.command,
        args: options.args,
        cwd: options.cwd,
        env: {
          ...process.env,
          ...millraceEnvironment(context),
          ...setup.env,
          // The role's codec travels with the records; openRunnerChannels({ codec }) checks it.
          ...(context.codec === undefined ? {} : { MILLRACE_RECORDS_CODEC: context.codec }),
          ...options.env,
        },
        extraStdio: setup.extraStdio,
        gracePeriodMs: options.gracePeriodMs,
        onStdoutLine: (line) => {
          const metrics = parseMetricsLine(line);
          if (metrics) return context.metrics.report(metrics);
          const position = parseCheckpointedLine(line);
          if (position === undefined) return stdout(line);
          try {
            context.checkpointed(position);
          } catch (error) {
            context.logger.error(`ignored '${line}': ${(error as Error).message}`);
          }
        },
        onStderrLine: lines('stderr'),
        signal: context.signal,
      });
      try {
        await child.started;
      } catch (error) {
        setup.discard?.();
        throw error;
      }
      const pumps = setup.connect(child.child.stdio, { input: context.input, output: context.output });
      const result = child.exit.then(async (exit): Promise<RunnerResult> => {
        pumps.stop();
        // Everything the process wrote before exiting reaches the pipeline before the node reports.
        await pumps.outputDrained;
        if (pumps.failure && !exit.stopped) {
          return {
            status: 'failed',
            message: `'${commandLine}': ${pumps.failure.message}`,
            stderrTail: exit.stderrTail,
          };
        }
        return runnerResultOf(exit, commandLine);
      });
      return {
        result,
        // Stopped means gone: the process, its pumps and its transport's files (the shared-memory
        // rings), so a job that ends right after a stop leaves nothing behind.
        stop: async () => {
          await child.stop();
          await result;
        },
      };
    },
  };
}
