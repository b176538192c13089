import { basename, dirname, resolve } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { CancelledError, MillraceError } from '@millrace/core';
import { type DashboardThread, parseListenAddress, startDashboardThread } from '@millrace/dashboard';
import { routeRunnerOutput } from '@millrace/runtime';
import type { Command } from 'commander';
import type { CliCommand, CliIo } from '../command.js';
import { findEngine } from '../engines.js';
import { loadJobModule } from '../job-loader.js';
import { withLogFormat } from '../log-format.js';
import { startBoardThread } from '../run/board-thread.js';
import type { BoardMode } from '../run/board-worker.js';
import {
  applyHostPlacement,
  type HostFlags,
  resolveHostPlacement,
  withHostOptions,
} from '../run/host-options.js';
import { jsonReporter, liveReporter, plainReporter } from '../run/reporters.js';
import type { RunEvent, RunReporter } from '../run/run-events.js';
import { trackTarget } from '../run/tracking.js';

/** After Ctrl-C, how long the job gets to wind down before the CLI exits anyway. */
const cancelBoundMs = 15_000;

/**
 * `millrace run <job-file-or-directory> [job arguments]`: runs a job module here, with live
 * progress on a TTY, plain lines otherwise, JSON events with `--json`. With `--hosts N
 * --host-index I` this process is host I of a job that runs on N hosts (docs/multi-host.md): the
 * same command runs on every host, and every host's exit code is the job's outcome. Exit code 0 only when the
 * job succeeded; 1 when it failed (the error on stderr); 130 when cancelled (Ctrl-C cancels
 * cleanly, twice forces; `millrace stop` of one of its clusters cancels the job).
 */
export const runCommand: CliCommand = {
  name: 'run',
  register(program: Command, io: CliIo) {
    withLogFormat(withHostOptions(program.command('run')))
      .description('run a job module (a .ts/.js file or a package directory) with live progress')
      .argument('<job>', 'job file or directory')
      .argument('[args...]', 'arguments passed to the job')
      .option('--json', 'print machine-readable events, one JSON object a line')
      .option(
        '--ui <[host:]port>',
        'serve a live dashboard and /metrics there (port 0: any free port; loopback unless a host is given); prints "dashboard: URL"',
      )
      .passThroughOptions()
      .allowUnknownOption()
      .action(async (path: string, args: string[], flags: HostFlags & { json?: boolean; ui?: string }) => {
        // Before the job module loads: every Job it creates runs as this host of the job.
        applyHostPlacement(resolveHostPlacement(flags));
        let ui: { host: string; port: number } | undefined;
        try {
          ui = flags.ui === undefined ? undefined : parseListenAddress(flags.ui);
        } catch (error) {
          io.stderr.write(`millrace run --ui: ${(error as Error).message}\n`);
          io.setExitCode(2);
          return;
        }
        const mode: BoardMode = flags.json ? 'json' : io.stdout.isTTY ? 'live' : 'plain';
        const startedAt = Date.now();
        const inThisThread = () => reporterFor(mode, io, startedAt);
        // The process's own stdout: the board runs on its own thread, so it keeps moving while a
        // pipeline stage holds this one. Output given in-process (tests) is written from here.
        const reporter: RunReporter =
          io.stdout === process.stdout && io.stderr === process.stderr
            ? startBoardThread({ mode, startedAt, output: process.stdout, fallback: inThisThread })
            : inThisThread();
        const exitCode = await runJob({ path, args, reporter, ui, startedAt });
        io.setExitCode(exitCode);
        if (io.stdout === process.stdout) exitWhenLeftOpen(exitCode, io);
      });
  },
};

/** How long `millrace run` waits, after the job ended, for what the job module left open. */
const leftOpenBoundMs = 5_000;

/**
 * The job is over and its outcome printed, but the process ends only once nothing holds its event
 * loop: a timer or socket the job module left open (a progress ticker of a job that failed) would
 * keep `millrace run` alive forever. Name what is still open and exit after a bound; the timer is
 * unref'd, so a process that ends on its own never waits for it.
 */
function exitWhenLeftOpen(exitCode: number, io: CliIo): void {
  setTimeout(() => {
    const open = process.getActiveResourcesInfo().filter((kind) => kind !== 'TTYWrap');
    io.stderr.write(
      `millrace run: the job ended ${leftOpenBoundMs / 1000} s ago, but the job module left ${open.join(', ') || 'handles'} open; exiting (clear timers and close sockets when the job ends)\n`,
    );
    process.exit(exitCode);
  }, leftOpenBoundMs).unref();
}

function reporterFor(mode: BoardMode, io: CliIo, startedAt: number): RunReporter {
  if (mode === 'json') return jsonReporter(io.stdout, io.stderr);
  if (mode === 'live') return liveReporter(io.stdout, io.stderr, { startedAt });
  return plainReporter(io.stdout, io.stderr);
}

export async function runJob(options: {
  path: string;
  args: string[];
  reporter: RunReporter;
  /** Serve the dashboard and /metrics here while the job runs. */
  ui?: { host: string; port: number } | undefined;
  /** When the run started (epoch ms); now when absent. */
  startedAt?: number | undefined;
}): Promise<number> {
  const { reporter } = options;
  let dashboard: DashboardThread | undefined;
  /** Clusters stopped while the job ran: from outside (`millrace stop`) unless this run cancelled. */
  let clustersStopped = 0;
  const emit = (event: RunEvent) => {
    if (
      event.type === 'cluster-observation' &&
      event.observation.type === 'job-finished' &&
      event.observation.outcome.status === 'stopped'
    )
      clustersStopped += 1;
    dashboard?.apply(event);
    reporter.event(event);
  };
  const started = options.startedAt ?? Date.now();
  if (options.ui) {
    try {
      // On its own thread: the page and /metrics answer even while the pipeline holds this one.
      dashboard = await startDashboardThread({
        ...options.ui,
        startedAt: started,
        title: `millrace · ${basename(resolve(options.path))}`,
      });
    } catch (error) {
      emit({ type: 'log', message: `millrace run --ui: ${(error as Error).message}` });
      await reporter.close();
      return 2;
    }
    emit({ type: 'log', message: `dashboard: ${dashboard.url}` });
    // The board thread's status reads go to the dashboard directly, not through this thread.
    if (reporter.shareStatus) {
      const channel = new MessageChannel();
      dashboard.connect(channel.port1);
      reporter.shareStatus(channel.port2);
    }
  }
  const controller = new AbortController();
  const untrack: (() => void)[] = [];
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts += 1;
    if (interrupts > 1) {
      void Promise.resolve(reporter.close()).finally(() => process.exit(130));
      return;
    }
    emit({ type: 'log', message: 'cancelling the job (Ctrl-C again to force)…' });
    controller.abort(new CancelledError('interrupted (Ctrl-C)'));
    setTimeout(() => {
      emit({ type: 'log', message: `the job did not stop within ${cancelBoundMs} ms; exiting` });
      void Promise.resolve(reporter.close()).finally(() => process.exit(130));
    }, cancelBoundMs).unref();
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  // Runner processes' own lines come here, so they are printed above the board (or as JSON
  // events with --json) instead of landing on stdout in the middle of either.
  const unroute = routeRunnerOutput((output) => emit({ type: 'runner-output', ...output }));
  let status: 'succeeded' | 'failed' | 'cancelled' = 'succeeded';
  let failure: Error | undefined;
  try {
    const { module, file } = await loadJobModule(options.path);
    await module.run({
      args: options.args,
      signal: controller.signal,
      track: (target: unknown) => {
        untrack.push(trackTarget(target, emit, (endpoint) => reporter.follow?.(endpoint)));
      },
      log: (message: string) => emit({ type: 'log', message }),
      // Engines named by the job are found from the job's own project, not the working directory.
      engine: (name: string) => findEngine(name, { directory: dirname(file) }),
    } as Parameters<typeof module.run>[0]);
    // A cluster stopped from outside (`millrace stop`) cancels its job: so the run was cancelled.
    if (controller.signal.aborted || clustersStopped > 0) status = 'cancelled';
  } catch (error) {
    failure = error instanceof Error ? error : new Error(String(error));
    const cancelled = MillraceError.isInstance(error) && error.code === 'CANCELLED';
    status = controller.signal.aborted || cancelled ? 'cancelled' : 'failed';
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
    unroute();
    for (const stop of untrack) stop();
  }
  emit({
    type: 'run-finished',
    status,
    durationMs: Date.now() - started,
    error: failure
      ? {
          name: failure.name,
          code: MillraceError.isInstance(failure) ? failure.code : undefined,
          message: MillraceError.isInstance(failure) ? failure.message : (failure.stack ?? failure.message),
        }
      : undefined,
  });
  await dashboard?.close();
  await reporter.close();
  return status === 'succeeded' ? 0 : status === 'cancelled' ? 130 : 1;
}
