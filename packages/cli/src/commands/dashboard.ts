import { hostname } from 'node:os';
import { MillraceError } from '@millrace/core';
import { parseListenAddress, startDashboardThread } from '@millrace/dashboard';
import { ApplicationManagerConnection } from '@millrace/runtime';
import type { Command } from 'commander';
import { followJobStatus, showStatus } from '../cluster-status-feed.js';
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
        const first = await connection.getJobStatus(observer).catch((error: unknown) => {
          connection.close();
          throw error;
        });
        const dashboard = await startDashboardThread({
          ...ui,
          startedAt,
          title: `millrace · ${first.jobName}`,
          acceptTokens: [target.token],
        });
        commandLog(io).info(`dashboard: ${dashboard.url}`, { dashboard: dashboard.url });
        const interrupt = new AbortController();
        const onSignal = () => interrupt.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        let followed: Awaited<ReturnType<typeof followJobStatus>>;
        try {
          followed = await followJobStatus({
            connection,
            observer,
            first,
            unreachableBoundMs,
            signal: interrupt.signal,
            onStatus: (read) => showStatus(dashboard, read, startedAt),
          });
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          connection.close();
          await dashboard.close();
        }
        const status = followed.status ?? first;
        if (interrupt.signal.aborted) {
          io.setExitCode(130);
          return;
        }
        if (!status.outcome) {
          const { lastError } = followed;
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
