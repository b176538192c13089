import { hostname } from 'node:os';
import { MillraceError } from '@millrace/core';
import { parseListenAddress, startDashboardThread } from '@millrace/dashboard';
import { ApplicationManagerConnection } from '@millrace/runtime';
import type { Command } from 'commander';
import { showStatus, statusReadIntervalMs } from '../cluster-status-feed.js';
import type { CliCommand, CliIo } from '../command.js';
import { type ConnectionFlags, resolveConnection, withConnectionOptions } from '../connection-options.js';
import { commandLog, withLogFormat } from '../log-format.js';

/** How long the AM may stay unreachable before the dashboard gives up on it. */
const unreachableBoundMs = 10_000;

/**
 * `millrace dashboard --join URL [--ui [HOST:]PORT]`: serves the dashboard page and /metrics for a
 * cluster that runs elsewhere (a standalone `millrace am`), from the AM's status read four times
 * a second. Prints "dashboard: URL" on stderr; exits when the job ends (0 succeeded or stopped, 1
 * failed), when the AM stays unreachable for 10 s (1), or on Ctrl-C (130).
 */
export const dashboardCommand: CliCommand = {
  name: 'dashboard',
  register(program: Command, io: CliIo) {
    withLogFormat(withConnectionOptions(program.command('dashboard')))
      .description("serve a live dashboard and /metrics for a running cluster (from its AM's status)")
      .option(
        '--ui <[host:]port>',
        'where to serve it (port 0: any free port; loopback unless a host is given)',
        '127.0.0.1:0',
      )
      .action(async (flags: ConnectionFlags & { ui: string }) => {
        const ui = parseListenAddress(flags.ui);
        const target = resolveConnection(flags);
        const connection = new ApplicationManagerConnection(target);
        // Named as an observer, so the AM waits (bounded) until this viewer has read the outcome.
        const observer = `dashboard@${hostname()}:${process.pid}`;
        const startedAt = Date.now();
        // The first read proves the URL and token before anything is served.
        let status = await connection.getJobStatus(observer).catch((error: unknown) => {
          connection.close();
          throw error;
        });
        const dashboard = await startDashboardThread({
          ...ui,
          startedAt,
          title: `millrace · ${status.jobName}`,
          acceptTokens: [target.token],
        });
        commandLog(io).info(`dashboard: ${dashboard.url}`, { dashboard: dashboard.url });
        let interrupted = false;
        let wake: (() => void) | undefined;
        const onSignal = () => {
          interrupted = true;
          wake?.();
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        let lastReadAt = Date.now();
        let lastError: unknown;
        try {
          while (!interrupted) {
            showStatus(dashboard, status, startedAt);
            if (status.outcome) break;
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, statusReadIntervalMs);
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            if (interrupted) break;
            try {
              status = await connection.getJobStatus(observer);
              lastReadAt = Date.now();
            } catch (error) {
              lastError = error;
              if (Date.now() - lastReadAt > unreachableBoundMs) break;
            }
          }
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          connection.close();
          await dashboard.close();
        }
        if (interrupted) {
          io.setExitCode(130);
          return;
        }
        if (!status.outcome) {
          const why = MillraceError.isInstance(lastError) ? lastError.message : String(lastError);
          io.stderr.write(
            `millrace dashboard: the application manager at ${target.address} did not answer for ${unreachableBoundMs / 1000} s (last error: ${why}); the job's outcome is unknown\n`,
          );
          io.setExitCode(1);
          return;
        }
        const line = `job ${status.jobName}: ${status.state} (${status.outcome})\n`;
        (status.state === 'failed' ? io.stderr : io.stdout).write(line);
        io.setExitCode(status.state === 'failed' ? 1 : 0);
      });
  },
};
