import { ConfigError } from '@millrace/core';
import { type DashboardThread, parseListenAddress, startDashboardThread } from '@millrace/dashboard';
import {
  ApplicationManager,
  createConsoleLogger,
  defaultOutcomeWaitMs,
  loadTlsIdentity,
  parseAmListenAddress,
} from '@millrace/runtime';
import type { Command } from 'commander';
import { showStatus, statusReadIntervalMs } from '../cluster-status-feed.js';
import type { CliCommand, CliIo } from '../command.js';
import { findEngine } from '../engines.js';
import { commandLog, withLogFormat } from '../log-format.js';
import { describeObservation, observationToJson } from '../observation-text.js';
import { parseInteger, parseRoles } from '../roles.js';

interface AmFlags {
  roles: string;
  engine: string;
  host: string;
  port: number;
  listen?: string;
  advertiseHost?: string;
  tlsCert?: string;
  tlsKey?: string;
  insecure?: boolean;
  name?: string;
  token?: string;
  serving?: string;
  maxRestarts?: number;
  heartbeatMs?: number;
  registrationTimeoutMs?: number;
  ui?: string;
}

/**
 * `millrace am --roles worker=2,ps=1 [--listen HOST:PORT]`: a standalone application manager.
 * Prints one JSON line `{"address","token","join"}` on stdout, logs the cluster's life on stderr,
 * and exits when the job ends (0 when it succeeded or was stopped, 1 when it failed) or on
 * SIGINT/SIGTERM. Off loopback it serves TLS (a fresh self-signed certificate, or --tls-cert and
 * --tls-key) and `join` pins that certificate's fingerprint.
 */
export const amCommand: CliCommand = {
  name: 'am',
  register(program: Command, io: CliIo) {
    withLogFormat(program.command('am'))
      .description('run a standalone application manager; prints {"address","token","join"} as one JSON line')
      .requiredOption('--roles <roles>', 'instances per role, e.g. worker=2,ps=1')
      .option(
        '--engine <name>',
        'engine: built in (generic, tensorflow, pytorch), listed in millrace.config, or an installed package name',
        'generic',
      )
      .option('--listen <host:port>', 'address to listen on, e.g. 0.0.0.0:7070 (TLS off loopback)')
      .option('--host <host>', 'address to bind (older form of --listen)', '127.0.0.1')
      .option('--port <port>', 'port to bind (0: any free port)', parseInteger('port'), 0)
      .option(
        '--advertise-host <host>',
        "host the join URL names (default: the bound host, or this machine's first non-internal address for 0.0.0.0)",
      )
      .option('--tls-cert <file>', 'PEM certificate to serve (default off loopback: a fresh self-signed one)')
      .option('--tls-key <file>', 'PEM private key of --tls-cert')
      .option('--insecure', 'serve plaintext off loopback (anyone on the network can read the token)')
      .option('--name <name>', 'job name')
      .option('--token <token>', 'job token (default: a random one)')
      .option('--serving <roles>', 'generic engine: roles that run until stopped, e.g. ps')
      .option('--max-restarts <n>', 'restarts before the job fails', parseInteger('max-restarts'))
      .option('--heartbeat-ms <ms>', 'heartbeat interval', parseInteger('heartbeat-ms'))
      .option(
        '--registration-timeout-ms <ms>',
        'how long to wait for every node',
        parseInteger('registration-timeout-ms'),
      )
      .option(
        '--ui <[host:]port>',
        'serve a live dashboard and /metrics there (port 0: any free port; loopback unless a host is given; the job token is accepted too); prints "dashboard: URL" on stderr',
      )
      .action(async (flags: AmFlags) => {
        const roles = parseRoles(flags.roles);
        const ui = flags.ui === undefined ? undefined : parseListenAddress(flags.ui);
        const { host, port } = flags.listen
          ? parseAmListenAddress(flags.listen)
          : { host: flags.host, port: flags.port };
        if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
          throw new ConfigError([{ path: 'tls-cert', message: '--tls-cert and --tls-key go together' }], {
            subject: 'options',
          });
        }
        if (flags.insecure && flags.tlsCert) {
          throw new ConfigError([{ path: 'insecure', message: 'cannot be combined with --tls-cert' }], {
            subject: 'options',
          });
        }
        const tls =
          flags.tlsCert && flags.tlsKey
            ? await loadTlsIdentity({ certificate: flags.tlsCert, privateKey: flags.tlsKey })
            : undefined;
        const engine = await findEngine(flags.engine, {
          generic: {
            roles: Object.keys(roles),
            servingRoles: flags.serving?.split(',').map((role) => role.trim()),
          },
        });
        const am = await ApplicationManager.start({
          config: {
            engine: engine.name,
            roles,
            host,
            ...(flags.name ? { name: flags.name } : {}),
            ...(flags.maxRestarts !== undefined ? { maxRestarts: flags.maxRestarts } : {}),
            ...(flags.heartbeatMs !== undefined
              ? { heartbeat: { intervalMs: flags.heartbeatMs, missedLimit: 3 } }
              : {}),
            ...(flags.registrationTimeoutMs !== undefined
              ? { registrationTimeoutMs: flags.registrationTimeoutMs }
              : {}),
          },
          engine,
          port,
          token: flags.token,
          tls,
          insecure: flags.insecure,
          advertiseHost: flags.advertiseHost,
          logger: createConsoleLogger({ prefix: 'am', write: (line) => io.stderr.write(`${line}\n`) }),
        });
        const log = commandLog(io, 'am');
        am.onObservation((observation) => {
          const line = describeObservation(observation);
          if (line) log.info(line, { observation: observationToJson(observation) });
        });
        if (!am.fingerprint && flags.insecure) {
          log.warn(
            `WARNING: --insecure: serving PLAINTEXT on ${am.address}; the job token crosses the network in the clear and anyone who sees it can join or stop this job`,
          );
        }
        const startedAt = Date.now();
        let dashboard: DashboardThread | undefined;
        if (ui) {
          try {
            dashboard = await startDashboardThread({
              ...ui,
              startedAt,
              title: `millrace am · ${am.config.name}`,
              acceptTokens: [am.token],
            });
          } catch (error) {
            await am.close();
            throw error;
          }
          commandLog(io).info(`dashboard: ${dashboard.url}`, { dashboard: dashboard.url });
        }
        const showing = dashboard;
        const readStatus = showing
          ? setInterval(() => showStatus(showing, am.status(), startedAt), statusReadIntervalMs)
          : undefined;
        io.stdout.write(`${JSON.stringify({ address: am.address, token: am.token, join: am.joinUrl })}\n`);
        const onSignal = () => void am.stop('the application manager was interrupted');
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        const outcome = await am.result;
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        clearInterval(readStatus);
        if (showing) {
          // Open pages and scrapers get the final state before the server goes.
          showStatus(showing, am.status(), startedAt);
          await showing.close();
        }
        // Give the nodes a moment to read their stop before the server goes away; observers that
        // follow the job by its status (the hosts of a multi-host job, `millrace dashboard
        // --join`: GetJobStatus callers naming themselves) get until they have read the outcome,
        // bounded.
        await new Promise((resolve) => setTimeout(resolve, 200));
        const unread = await am.untilObserved(undefined, defaultOutcomeWaitMs);
        if (unread.length > 0)
          io.stderr.write(
            `[am] ${unread.join(', ')} did not read the outcome within ${defaultOutcomeWaitMs} ms\n`,
          );
        await am.close();
        io.setExitCode(outcome.status === 'failed' ? 1 : 0);
      });
  },
};
