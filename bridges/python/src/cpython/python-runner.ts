/**
 * `pythonRunner(options)`: a {@link Runner} that runs a user's Python code in a CPython child
 * process. The child starts through the `millrace` bootstrap (`python -m millrace`), which builds
 * the Python `Context`, reports `ready`, sends heartbeats and metrics on the control channel, and
 * reports an uncaught exception with its traceback. Records cross through shared-memory rings
 * (see `ring-pumps.ts`), or pipes with `transport: 'pipes'` (`pipe-pumps.ts`). Process handling (own group, line forwarding, stderr tail,
 * SIGTERM → SIGKILL) is `superviseProcess` from `@millrace/runner-kit`.
 */
import { delimiter } from 'node:path';
import type { Duplex } from 'node:stream';
import {
  CodecError,
  ConfigError,
  type ConfigIssue,
  codecDirections,
  RecordTooLargeError,
  type Runner,
  type RunnerContext,
  type RunnerHandle,
  type RunnerResult,
} from '@millrace/core';
import { describeExit, millraceEnvironment, runnerLineSink, superviseProcess } from '@millrace/runner-kit';
import { controlFileDescriptor, openControlChannel, type PythonException } from './control-channel.js';
import { findPython } from './find-python.js';
import { startPipePumps } from './pipe-pumps.js';
import { millracePythonDirectory, shmPythonDirectory } from './python-package.js';
import { type RecordCodecName, recordCodecNames, startRingPumps } from './ring-pumps.js';

/** Where the child's stdout and stderr lines go. */
export type PythonOutput =
  /** This process's stdout/stderr, each line prefixed with `role[index] `. */
  | 'inherit'
  /** The context's logger (stdout at info, stderr at warn). */
  | 'logger'
  /** Dropped (the stderr tail is still kept for failure reports). */
  | 'ignore'
  | ((line: string, stream: 'stdout' | 'stderr', context: RunnerContext) => void);

export interface PythonRunnerOptions {
  /** `module:function` or `path/to/file.py:function`, called with the `millrace.Context`. */
  entry?: string | undefined;
  /** A plain script (torchrun style: it reads the environment; `millrace.context()` for the rest). */
  script?: string | undefined;
  /** Arguments for `script`. */
  args?: readonly string[] | undefined;
  /** The interpreter (path or command). Default: `MILLRACE_PYTHON`, then discovery. */
  python?: string | undefined;
  /** Modules the interpreter must be able to import, e.g. `['torch']`; used to pick the interpreter. */
  requiredModules?: readonly string[] | undefined;
  /** Working directory of the child. Default: this process's. */
  cwd?: string | undefined;
  /** Directories put on `PYTHONPATH` after Millrace's own. */
  pythonPath?: readonly string[] | undefined;
  /**
   * The program acknowledges checkpoints (`ctx.checkpointed(), millrace_torch.save_checkpoint`): a stream-mode role then has replay on
   * by default, and a restarted runner receives the records after its last checkpoint. Leave it
   * off for a program that never acknowledges: with replay on its buffer would fill and the role
   * fail after `replay.acknowledgeTimeoutMs`. Default false.
   */
  acknowledgesCheckpoints?: boolean | undefined;
  /** Extra environment variables, applied last. */
  env?: Readonly<Record<string, string>> | undefined;
  /**
   * Codec of the input records, as the Python side should decode them. Default: the role's codec
   * (`context.codec`, JSON unless `addRole` was given another), else `json`. Set and different
   * from the role's codec, the runner fails at start naming both.
   */
  inputCodec?: RecordCodecName | undefined;
  /** Codec the Python side encodes output records with. Default: the role's codec, else `json`. */
  outputCodec?: RecordCodecName | undefined;
  /**
   * How records reach the child: `ring` (default), a shared-memory ring each way; or `pipes`,
   * length-prefixed frames on two inherited pipes (slower, every record goes through the kernel
   * twice, but needs no /dev/shm and has no record-size limit).
   */
  transport?: 'ring' | 'pipes' | undefined;
  /** Bytes of each shared-memory ring. Default 4 MiB. */
  ringBytes?: number | undefined;
  /** Between SIGTERM and SIGKILL when the runner is stopped. Default 5000 ms. */
  gracePeriodMs?: number | undefined;
  /** How often the child sends a heartbeat. Default 500 ms. */
  heartbeatIntervalMs?: number | undefined;
  /** Silence on the control channel after which the child is declared hung and killed. Default 30 s. */
  livenessTimeoutMs?: number | undefined;
  /** Lines of stderr kept for the failure report. Default 40. */
  stderrTailLines?: number | undefined;
  /** Where output lines go. Default `inherit`. */
  output?: PythonOutput | undefined;
}

/** The handle `pythonRunner` returns: the core handle plus what a caller may want to watch. */
export interface PythonRunnerHandle extends RunnerHandle {
  /** The child's process id. */
  readonly pid: number;
  /** Resolves when the Python side has loaded the entry and is about to call it; rejects if it exits first. */
  readonly ready: Promise<void>;
}

const defaults = {
  gracePeriodMs: 5_000,
  heartbeatIntervalMs: 500,
  livenessTimeoutMs: 30_000,
  stderrTailLines: 40,
};

export function validatePythonRunnerOptions(options: PythonRunnerOptions): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if ((options.entry === undefined) === (options.script === undefined)) {
    issues.push({ path: 'entry', message: 'give exactly one of entry (module:function) or script (a file)' });
  }
  if (options.entry !== undefined && !/^[^:]+:[A-Za-z_][A-Za-z0-9_]*$/.test(options.entry)) {
    issues.push({
      path: 'entry',
      message: `'${options.entry}' must look like 'module:function' or 'file.py:function'`,
    });
  }
  if (options.args !== undefined && options.script === undefined) {
    issues.push({ path: 'args', message: 'only a script takes args; an entry function gets the context' });
  }
  for (const field of ['inputCodec', 'outputCodec'] as const) {
    const codec = options[field];
    if (codec !== undefined && !recordCodecNames.includes(codec)) {
      issues.push({ path: field, message: `must be one of ${recordCodecNames.join(', ')}` });
    }
  }
  if (options.transport !== undefined && options.transport !== 'ring' && options.transport !== 'pipes') {
    issues.push({
      path: 'transport',
      message: `must be 'ring' or 'pipes' (got ${JSON.stringify(options.transport)})`,
    });
  }
  if (options.transport === 'pipes' && options.ringBytes !== undefined) {
    issues.push({ path: 'ringBytes', message: "sizes the rings; with transport: 'pipes' there are none" });
  }
  for (const field of [
    'gracePeriodMs',
    'heartbeatIntervalMs',
    'livenessTimeoutMs',
    'stderrTailLines',
    'ringBytes',
  ] as const) {
    const value = options[field];
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      issues.push({ path: field, message: 'must be a positive integer' });
    }
  }
  return issues;
}

export function pythonRunner(options: PythonRunnerOptions): Runner {
  const issues = validatePythonRunnerOptions(options);
  if (issues.length) throw new ConfigError(issues, { subject: 'pythonRunner options' });
  const description = options.entry
    ? `python -m millrace --entry ${options.entry}`
    : ['python', options.script, ...(options.args ?? [])].join(' ');
  return {
    description,
    acknowledgesCheckpoints: options.acknowledgesCheckpoints === true,
    start: (context) => startPythonRunner(options, description, context),
  };
}

async function startPythonRunner(
  options: PythonRunnerOptions,
  description: string,
  context: RunnerContext,
): Promise<PythonRunnerHandle> {
  const interpreter = await findPython({ python: options.python, requiredModules: options.requiredModules });
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? defaults.heartbeatIntervalMs;
  const livenessTimeoutMs = options.livenessTimeoutMs ?? defaults.livenessTimeoutMs;
  const gracePeriodMs = options.gracePeriodMs ?? defaults.gracePeriodMs;

  // Set once the child runs: a record the input ring cannot hold stops it (the job fails with
  // the RecordTooLargeError, not with whatever the Python side makes of the closed ring).
  let stopForDataFailure: (error: Error) => void = () => {};
  const records =
    options.transport === 'pipes'
      ? startPipePumps({ input: context.input, output: context.output, ...codecsFor(options, context) })
      : await startRingPumps({
          input: context.input,
          output: context.output,
          ...codecsFor(options, context),
          ringBytes: options.ringBytes,
          onInputFailure: (error) => stopForDataFailure(error),
        });

  const pythonPath = [
    millracePythonDirectory(),
    shmPythonDirectory(),
    ...(options.pythonPath ?? []),
    process.env.PYTHONPATH,
  ].filter((entry): entry is string => Boolean(entry));
  const environment: NodeJS.ProcessEnv = {
    ...process.env,
    ...millraceEnvironment(context),
    ...records.environment,
    PYTHONPATH: pythonPath.join(delimiter),
    PYTHONUNBUFFERED: '1',
    MILLRACE_CONTROL_FD: String(controlFileDescriptor),
    MILLRACE_HEARTBEAT_MS: String(heartbeatIntervalMs),
    ...options.env,
  };
  const args = options.entry
    ? ['-m', 'millrace', '--entry', options.entry]
    : ['-m', 'millrace', '--script', options.script!, ...(options.args ?? [])];

  const output = options.output ?? 'inherit';
  const supervised = superviseProcess({
    command: interpreter.command,
    args,
    cwd: options.cwd,
    env: environment,
    extraStdio: ['pipe', ...records.extraStdio], // fd 3: the control socket; then the record pipes
    gracePeriodMs,
    stderrTailLines: options.stderrTailLines ?? defaults.stderrTailLines,
    onStdoutLine: runnerLineSink(output, 'stdout', context),
    onStderrLine: runnerLineSink(output, 'stderr', context),
  });
  const controlSocket = supervised.child.stdio[controlFileDescriptor] as Duplex | null;
  // A child that dies early resets the socket; that is reported through its exit, not as an error.
  controlSocket?.on('error', () => {});
  let pid: number;
  try {
    pid = await supervised.started;
  } catch (error) {
    await records.close();
    throw error;
  }
  records.connect(supervised.child.stdio);

  let pythonException: PythonException | undefined;
  let livenessFailure: string | undefined;
  let stopRequested = false;
  let lastSign = Date.now();
  let markReady: () => void = () => {};
  let markNeverReady: (error: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    markNeverReady = reject;
  });
  ready.catch(() => {}); // awaiting it is optional

  const control = openControlChannel(controlSocket as Duplex, {
    onReady: () => {
      lastSign = Date.now();
      markReady();
    },
    onHeartbeat: () => {
      lastSign = Date.now();
    },
    onMetrics: (values) => {
      lastSign = Date.now();
      context.metrics.report(values);
    },
    onCheckpointed: (position) => {
      lastSign = Date.now();
      try {
        context.checkpointed(position);
      } catch (error) {
        context.logger.error(`ignored checkpoint acknowledgement ${position}: ${(error as Error).message}`);
      }
    },
    onError: (exception) => {
      pythonException = exception;
    },
  });

  // A process that is alive but silent (stuck holding the GIL, deadlocked) is as dead as an
  // exited one for the cluster; kill it so the failure is reported and failover can act.
  const liveness = setInterval(
    () => {
      const silentMs = Date.now() - lastSign;
      if (silentMs > livenessTimeoutMs && !livenessFailure) {
        livenessFailure = `no heartbeat for ${silentMs} ms (limit ${livenessTimeoutMs} ms); the process was killed`;
        supervised.kill('SIGKILL');
      }
    },
    Math.min(1_000, heartbeatIntervalMs),
  );
  liveness.unref();

  const stop = async (reason: string): Promise<void> => {
    if (stopRequested) return supervised.exit.then(() => undefined);
    stopRequested = true;
    control.requestStop(reason);
    // Cooperative code sees `ctx.stopping` and finishes on its own; SIGTERM (which raises
    // StopRequested wherever Python is, even inside a `finally`) comes only if it has not
    // exited after a share of the grace period, and SIGKILL after the rest.
    const cooperativeMs = Math.min(1_000, Math.floor(gracePeriodMs / 2));
    const exitedInTime = await Promise.race([
      supervised.exit.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), cooperativeMs).unref()),
    ]);
    if (!exitedInTime) await supervised.stop(gracePeriodMs - cooperativeMs);
  };
  stopForDataFailure = (error) => void stop(error.message);
  const onAbort = () => void stop(String(context.signal.reason ?? 'stopped by the agent'));
  if (context.signal.aborted) onAbort();
  else context.signal.addEventListener('abort', onAbort, { once: true });

  const result = supervised.exit.then(async (exit): Promise<RunnerResult> => {
    markNeverReady(new Error(`${description} exited before it was ready`));
    clearInterval(liveness);
    context.signal.removeEventListener('abort', onAbort);
    control.close();
    const dataError = await records.finish({ succeeded: exit.exitCode === 0 });
    const failed = (message: string): RunnerResult => ({
      status: 'failed',
      message,
      exitCode: exit.exitCode ?? undefined,
      signal: exit.signal ?? undefined,
      // The traceback is in the message already; the tail keeps what the runner wrote before it.
      stderrTail: pythonException
        ? exit.stderrTail.replace(pythonException.traceback.trimEnd(), '').trimEnd()
        : exit.stderrTail,
      permanent: pythonException ? restartCannotFix(pythonException) : undefined,
    });
    // A record larger than the ring fails the job whatever the child did after its ring closed.
    if (RecordTooLargeError.isInstance(dataError)) return failed(`${description}: ${dataError.message}`);
    // A clean exit after a stop request is a stop (the runner obeyed), not the work finishing.
    if (exit.exitCode === 0 && !dataError) return { status: stopRequested ? 'stopped' : 'succeeded' };
    if ((stopRequested || exit.stopped) && !pythonException) return { status: 'stopped' };
    return failed(
      pythonException
        ? `uncaught Python exception ${pythonException.exception}: ${pythonException.message}\n${pythonException.traceback.trimEnd()}`
        : livenessFailure
          ? `${description}: ${livenessFailure}`
          : dataError
            ? `${description}: ${dataError.message}`
            : `${description} ${describeExit(exit)}`,
    );
  });

  return { pid, ready, result, stop };
}

/**
 * Exceptions that say the code cannot run here at all (a module missing, a syntax error, an entry
 * that names nothing): running it again fails the same way, so the job fails without restarts.
 */
const permanentExceptions = new Set([
  'EntryError',
  'ImportError',
  'ModuleNotFoundError',
  'SyntaxError',
  'IndentationError',
  'TabError',
]);

function restartCannotFix(exception: PythonException): boolean {
  return permanentExceptions.has(exception.exception);
}

/**
 * The codecs the Python side uses. The role's codec travels in the runner context (and into the
 * ring header, which the Python side checks); `tensor-in/msgpack-out` names an asymmetric role
 * codec. An input codec that disagrees with the role's would decode every record wrongly, so it
 * fails the start naming both. (Output records are not checked against the role yet: torchRunner
 * sets its output codec itself.)
 */
function codecsFor(
  options: Pick<PythonRunnerOptions, 'inputCodec' | 'outputCodec'>,
  context: RunnerContext,
): { inputCodec: RecordCodecName; outputCodec: RecordCodecName } {
  const role = context.codec;
  if (role === undefined) {
    return { inputCodec: options.inputCodec ?? 'json', outputCodec: options.outputCodec ?? 'json' };
  }
  const { input: roleInput, output: roleOutput } = codecDirections(role);
  const known = (name: string): name is RecordCodecName =>
    (recordCodecNames as readonly string[]).includes(name);
  if (context.input && options.inputCodec !== undefined && options.inputCodec !== roleInput) {
    throw new CodecError(
      role,
      `the runner decodes its input as '${options.inputCodec}' but role '${context.role}' encodes its records as ` +
        `'${roleInput}'; drop inputCodec (the runner follows the role) or give addRole the ${options.inputCodec} codec`,
    );
  }
  if (context.input && options.inputCodec === undefined && !known(roleInput)) {
    throw new CodecError(
      role,
      `role '${context.role}' encodes its records as '${roleInput}', which the Python side cannot decode ` +
        `(it knows ${recordCodecNames.join(', ')}); give addRole one of those codecs`,
    );
  }
  // The role decodes what the runner writes with its own codec: another one would turn every
  // output record into a decode error (or, worse, into wrong values) far from the cause.
  if (context.output && options.outputCodec !== undefined && options.outputCodec !== roleOutput) {
    throw new CodecError(
      role,
      `the runner encodes its output as '${options.outputCodec}' but role '${context.role}' decodes what it ` +
        `writes as '${roleOutput}'; drop outputCodec (the runner follows the role) or give addRole a codec ` +
        `whose output is ${options.outputCodec}`,
    );
  }
  if (context.output && options.outputCodec === undefined && !known(roleOutput)) {
    throw new CodecError(
      role,
      `role '${context.role}' decodes its runners' output as '${roleOutput}', which the Python side cannot ` +
        `encode (it knows ${recordCodecNames.join(', ')}); give addRole one of those codecs`,
    );
  }
  return {
    inputCodec: options.inputCodec ?? (known(roleInput) ? roleInput : 'json'),
    outputCodec: options.outputCodec ?? (known(roleOutput) ? roleOutput : 'json'),
  };
}
