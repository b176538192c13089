import { ApplicationManager, createConsoleLogger } from '@millrace/runtime';
import type { Command } from 'commander';
import type { CliCommand, CliIo } from '../command.js';
import { findEngine } from '../engines.js';
import { describeObservation } from '../observation-text.js';
import { parseInteger, parseRoles } from '../roles.js';

interface AmFlags {
  roles: string;
  engine: string;
  host: string;
  port: number;
  name?: string;
  token?: string;
  serving?: string;
  maxRestarts?: number;
  heartbeatMs?: number;
  registrationTimeoutMs?: number;
}

/**
 * `millrace am --roles worker=2,ps=1`: a standalone application manager. Prints one JSON line
 * `{"address","token"}` on stdout, logs the cluster's life on stderr, and exits when the job
 * ends (0 when it succeeded or was stopped, 1 when it failed) or on SIGINT/SIGTERM.
 */
export const amCommand: CliCommand = {
  name: 'am',
  register(program: Command, io: CliIo) {
    program
      .command('am')
      .description('run a standalone application manager; prints {"address","token"} as one JSON line')
      .requiredOption('--roles <roles>', 'instances per role, e.g. worker=2,ps=1')
      .option(
        '--engine <name>',
        'engine: built in (generic, tensorflow, pytorch), listed in millrace.config, or an installed package name',
        'generic',
      )
      .option('--host <host>', 'address to bind', '127.0.0.1')
      .option('--port <port>', 'port to bind (0: any free port)', parseInteger('port'), 0)
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
      .action(async (flags: AmFlags) => {
        const roles = parseRoles(flags.roles);
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
            host: flags.host,
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
          port: flags.port,
          token: flags.token,
          logger: createConsoleLogger({ prefix: 'am', write: (line) => io.stderr.write(`${line}\n`) }),
        });
        am.onObservation((observation) => {
          const line = describeObservation(observation);
          if (line) io.stderr.write(`[am] ${line}\n`);
        });
        io.stdout.write(`${JSON.stringify({ address: am.address, token: am.token })}\n`);
        const onSignal = () => void am.stop('the application manager was interrupted');
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        const outcome = await am.result;
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        // Give the nodes a moment to read their stop before the server goes away.
        await new Promise((resolve) => setTimeout(resolve, 200));
        await am.close();
        io.setExitCode(outcome.status === 'failed' ? 1 : 0);
      });
  },
};
