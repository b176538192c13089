/**
 * Runs one child process the way Millrace needs every runner process run: in its own process group
 * (so a stop ends the whole tree the runner spawned, never leaving orphans), with its output read
 * line by line, a bounded tail of stderr kept for failure reports, and a stop that sends SIGTERM to
 * the group and SIGKILL after a grace period. A command that cannot be spawned (missing
 * executable, bad cwd) rejects `started` with the reason instead of hanging.
 *
 * The one supervisor of the project: `@millrace/runtime`'s process runners, `@millrace/bridge-python`'s
 * CPython host (extra stdio fds for its control pipes) and the engines' training processes all
 * run their children through it.
 */
import { type ChildProcess, type IOType, spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Stream } from 'node:stream';
import type { RunnerResult } from '@millrace/core';

export interface SuperviseProcessOptions {
  command: string;
  args?: readonly string[] | undefined;
  /** The child's whole environment (not merged with `process.env`; callers merge when they want). */
  env?: NodeJS.ProcessEnv | undefined;
  cwd?: string | undefined;
  /** Extra stdio entries after stdin/stdout/stderr (fd 3, 4, ...), e.g. `['pipe', 'pipe']`. */
  extraStdio?: readonly (IOType | 'ipc' | Stream | number | null | undefined)[] | undefined;
  /** stdin of the child; `ignore` unless asked. */
  stdin?: 'pipe' | 'ignore' | 'inherit' | undefined;
  /** Called for each line the child writes to stdout. Default: dropped. */
  onStdoutLine?: ((line: string) => void) | undefined;
  /** Called for each line the child writes to stderr (the tail is kept either way). */
  onStderrLine?: ((line: string) => void) | undefined;
  /** How many stderr lines to keep for {@link SupervisedProcess.stderrTail}. Default 40. */
  stderrTailLines?: number | undefined;
  /** Between SIGTERM and SIGKILL in {@link SupervisedProcess.stop}. Default 5000 ms. */
  gracePeriodMs?: number | undefined;
  /** Aborting it stops the process (same as `stop`). */
  signal?: AbortSignal | undefined;
  /** How messages on an `ipc` entry of `extraStdio` are serialized. Default `json`. */
  serialization?: 'json' | 'advanced' | undefined;
}

export interface ProcessExit {
  /** The exit code, or null when a signal ended the process or it never started. */
  exitCode: number | null;
  /** The signal that ended the process, e.g. `SIGKILL`. */
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  spawnError?: Error | undefined;
  /** True when the exit followed a `stop()` (or the abort signal). */
  stopped: boolean;
  /** The last lines of stderr. */
  stderrTail: string;
}

/** How a process ended, in words: `killed by SIGKILL` or `exited with code 3`. */
export function describeExit(exit: ProcessExit): string {
  return exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.exitCode}`;
}

/** A runner's result for a supervised process's exit; `commandLine` names the process in the message. */
export function runnerResultOf(exit: ProcessExit, commandLine: string): RunnerResult {
  if (exit.exitCode === 0) return { status: 'succeeded' };
  if (exit.stopped) return { status: 'stopped' };
  return {
    status: 'failed',
    message: `'${commandLine}' ${describeExit(exit)}`,
    exitCode: exit.exitCode ?? undefined,
    signal: exit.signal ?? undefined,
    stderrTail: exit.stderrTail,
  };
}

export interface SupervisedProcess {
  readonly child: ChildProcess;
  /** Resolves once the process is running; rejects with the reason when it could not start. */
  readonly started: Promise<number>;
  /** Settles when the process is gone and its output drained; never rejects. */
  readonly exit: Promise<ProcessExit>;
  /** SIGTERM to the group, SIGKILL after the grace period; resolves with the exit. */
  stop(gracePeriodMs?: number): Promise<ProcessExit>;
  /** Sends a signal to the whole process group. */
  kill(signal: NodeJS.Signals): void;
  /** The last lines of stderr so far. */
  stderrTail(): string;
}

/**
 * Process groups still alive. Runners live in their own sessions, so a terminal's Ctrl-C does not
 * reach them: if this process exits, or dies of SIGINT/SIGTERM/SIGHUP that nobody else handles,
 * their groups are killed first so none outlives it. A SIGKILL of this process cannot be caught: the
 * kernel's parent-death signal covers that case (see `withParentDeathSignal`).
 */
const liveGroups = new Set<number>();
const fatalSignals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let exitHookInstalled = false;

function killLiveGroups(): void {
  for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
}

function onFatalSignal(signal: NodeJS.Signals): void {
  // Another listener means the program handles the signal itself (e.g. stops its jobs cleanly).
  if (process.listenerCount(signal) > 1) return;
  killLiveGroups();
  for (const other of fatalSignals) process.removeListener(other, onFatalSignal);
  process.kill(process.pid, signal); // die of the signal as if we had never listened
}

function trackGroup(pid: number): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', killLiveGroups);
  }
  if (liveGroups.size === 0) for (const signal of fatalSignals) process.on(signal, onFatalSignal);
  liveGroups.add(pid);
}

function untrackGroup(pid: number): void {
  liveGroups.delete(pid);
  if (liveGroups.size === 0) for (const signal of fatalSignals) process.removeListener(signal, onFatalSignal);
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

class LineTail {
  readonly #lines: string[] = [];
  constructor(readonly limit: number) {}
  push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.limit) this.#lines.shift();
  }
  toString(): string {
    return this.#lines.join('\n');
  }
}

function forwardLines(stream: Readable | null, onLine: (line: string) => void): Promise<void> {
  if (!stream) return Promise.resolve();
  return new Promise((resolve) => {
    const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on('line', onLine);
    lines.on('close', resolve);
    // readline re-emits input errors (e.g. ECONNRESET when the child dies) on the interface;
    // unhandled, they would crash the host. A broken pipe just ends the output.
    lines.on('error', () => resolve());
    stream.on('error', () => resolve());
  });
}

export function superviseProcess(options: SuperviseProcessOptions): SupervisedProcess {
  const tail = new LineTail(options.stderrTailLines ?? 40);
  const defaultGrace = options.gracePeriodMs ?? 5_000;
  let stopRequested = false;
  let exited = false;

  const environment = { ...(options.env ?? process.env) };
  // The job token stays with the agent: a runner holding it could stop the job.
  delete environment.MILLRACE_TOKEN;
  const launch = withParentDeathSignal(options.command, [...(options.args ?? [])], environment, options.cwd);
  const child = spawn(launch.command, launch.args, {
    env: environment,
    cwd: options.cwd,
    detached: true, // its own process group: signals reach every descendant
    serialization: options.serialization,
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe', ...(options.extraStdio ?? [])],
  });

  const started = new Promise<number>((resolve, reject) => {
    child.once('spawn', () => {
      if (child.pid !== undefined) trackGroup(child.pid);
      resolve(child.pid ?? 0);
    });
    child.once('error', (error) => {
      if (child.pid === undefined) reject(describeSpawnError(options, error));
    });
  });
  started.catch(() => {}); // observed through `exit` as well

  const stdoutDone = forwardLines(child.stdout, (line) => options.onStdoutLine?.(line));
  const stderrDone = forwardLines(child.stderr, (line) => {
    tail.push(line);
    options.onStderrLine?.(line);
  });

  const exit = new Promise<ProcessExit>((resolve) => {
    let spawnError: Error | undefined;
    child.once('error', (error) => {
      if (child.pid === undefined) {
        spawnError = describeSpawnError(options, error);
        exited = true;
        resolve({
          exitCode: null,
          signal: null,
          spawnError,
          stopped: stopRequested,
          stderrTail: tail.toString(),
        });
      }
    });
    child.once('exit', (exitCode, signal) => {
      exited = true;
      if (child.pid !== undefined) {
        // Descendants the runner left behind in its group go with it.
        killGroup(child.pid, 'SIGKILL');
        untrackGroup(child.pid);
      }
      // Output may still be buffered in the pipes; a bounded wait keeps a grandchild that holds
      // them open from delaying the exit forever.
      const drained = Promise.all([stdoutDone, stderrDone]);
      const bound = new Promise((done) => setTimeout(done, 200).unref());
      void Promise.race([drained, bound]).then(() =>
        resolve({ exitCode, signal, stopped: stopRequested, stderrTail: tail.toString() }),
      );
    });
  });

  const stop = async (gracePeriodMs = defaultGrace): Promise<ProcessExit> => {
    stopRequested = true;
    if (!exited && child.pid !== undefined) {
      killGroup(child.pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), gracePeriodMs);
      timer.unref();
      void exit.finally(() => clearTimeout(timer));
    }
    return exit;
  };

  if (options.signal) {
    if (options.signal.aborted) void stop();
    else options.signal.addEventListener('abort', () => void stop(), { once: true });
  }

  return {
    child,
    started,
    exit,
    stop,
    kill: (signal) => {
      if (!exited && child.pid !== undefined) killGroup(child.pid, signal);
    },
    stderrTail: () => tail.toString(),
  };
}

function describeSpawnError(options: SuperviseProcessOptions, error: NodeJS.ErrnoException): Error {
  const what = `could not start '${options.command}'`;
  if (error.code === 'ENOENT') {
    return new Error(
      `${what}: executable not found${options.cwd ? ` (or cwd '${options.cwd}' does not exist)` : ''}; check the command and PATH`,
      { cause: error },
    );
  }
  if (error.code === 'EACCES')
    return new Error(`${what}: permission denied (is it executable?)`, { cause: error });
  return new Error(`${what}: ${error.message}`, { cause: error });
}

/**
 * The kernel's parent-death signal: `setpriv --pdeathsig KILL` (util-linux) sets PR_SET_PDEATHSIG
 * and then execs the runner in place, so the runner keeps its pid and is SIGKILLed by the kernel
 * the moment the thread that started it dies — whatever killed it, SIGKILL included, which no
 * exit hook can catch. Without setpriv (not Linux, util-linux missing) runners are started as
 * they are and only the exit hooks above protect against orphans.
 *
 * A command that does not resolve to an executable file is spawned unwrapped, so a missing
 * executable still fails the spawn itself (ENOENT: a rejected start) rather than setpriv's exec.
 */
const setprivCandidates = ['/usr/bin/setpriv', '/bin/setpriv'];
let setprivPath: string | null | undefined;

function findSetpriv(): string | null {
  if (setprivPath === undefined) {
    setprivPath =
      process.platform === 'linux' && process.env.MILLRACE_PARENT_DEATH_SIGNAL !== 'off'
        ? (setprivCandidates.find(isExecutable) ?? null)
        : null;
  }
  return setprivPath;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function resolvesToExecutable(
  command: string,
  environment: NodeJS.ProcessEnv,
  cwd: string | undefined,
): boolean {
  if (command.includes('/'))
    return isExecutable(isAbsolute(command) ? command : resolvePath(cwd ?? '.', command));
  return (environment.PATH ?? '')
    .split(delimiter)
    .some((directory) => directory !== '' && isExecutable(join(directory, command)));
}

/** The command line that starts `command` with the parent-death signal set, when setpriv exists. */
export function withParentDeathSignal(
  command: string,
  args: string[],
  environment: NodeJS.ProcessEnv,
  cwd?: string,
): { command: string; args: string[] } {
  const setpriv = findSetpriv();
  if (!setpriv || !resolvesToExecutable(command, environment, cwd)) return { command, args };
  return { command: setpriv, args: ['--pdeathsig', 'KILL', '--', command, ...args] };
}
