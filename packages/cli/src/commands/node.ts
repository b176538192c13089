import { createConsoleLogger, NodeAgent, processRunner } from '@millrace/runtime';
import type { Command } from 'commander';
import type { CliCommand, CliIo } from '../command.js';
import { type ConnectionFlags, resolveConnection, withConnectionOptions } from '../connection-options.js';
import { findEngine } from '../engines.js';
import { commandLog, withLogFormat } from '../log-format.js';
import { parseInteger } from '../roles.js';

interface NodeFlags extends ConnectionFlags {
  role: string;
  index: number;
  engine: string;
  host?: string;
  advertiseHost?: string;
  checkpointDir?: string;
  grace?: number;
  amTimeout?: number;
}

/**
 * `millrace node --join URL --role worker --index 0 -- python train.py` (or `--am ADDR --token T`
 * on loopback): a standalone node agent whose runner is the command after `--`. Exits 0 when the
 * job succeeded (or was stopped) and its own last run did not fail; 1 when the job failed, its
 * runner failed, or it could not take part.
 */
export const nodeCommand: CliCommand = {
  name: 'node',
  register(program: Command, io: CliIo) {
    withLogFormat(withConnectionOptions(program.command('node')))
      .description('run a standalone node agent; the runner is the command after --')
      .requiredOption('--role <role>', 'role of this node, e.g. worker')
      .requiredOption('--index <index>', 'index of this node within its role', parseInteger('index'))
      .option('--engine <name>', 'engine name (must match the AM)', 'generic')
      .option(
        '--advertise-host <host>',
        'address other nodes reach this node on; engine ports are bound there (default: the address of the interface that routes to the AM)',
      )
      .option('--host <host>', 'same as --advertise-host (older name)')
      .option('--checkpoint-dir <directory>', 'checkpoint directory that survives restarts')
      .option('--grace <ms>', 'between SIGTERM and SIGKILL when the runner is stopped', parseInteger('grace'))
      .option(
        '--am-timeout <ms>',
        'give up when the AM cannot be reached this long (default 10000)',
        parseInteger('am-timeout'),
      )
      .argument('<command...>', 'the runner command and its arguments')
      .action(async (command: string[], flags: NodeFlags) => {
        const connection = resolveConnection(flags);
        const log = commandLog(io, 'node');
        const [executable, ...args] = command;
        const agent = new NodeAgent({
          ...connection,
          role: flags.role,
          index: flags.index,
          engine: await findEngine(flags.engine, { generic: { roles: [flags.role] } }),
          host: flags.advertiseHost ?? flags.host,
          checkpointDirectory: flags.checkpointDir,
          connectionLostMs: flags.amTimeout,
          runner: processRunner({ command: executable!, args, gracePeriodMs: flags.grace }),
          logger: createConsoleLogger({ write: (line) => io.stderr.write(`${line}\n`), level: 'info' }),
          onEvent: (event) => {
            if (event.type === 'restarting')
              log.info(`restarting into generation ${event.generation}`, { generation: event.generation });
            if (event.type === 'runner-ended' && event.result.status === 'failed') {
              log.warn(`runner failed: ${event.result.message}`);
            }
          },
        });
        const onSignal = () => void agent.stop('the node agent was interrupted');
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          const outcome = await agent.run();
          log.info(`leaving: ${outcome.reason}`, { jobFailed: outcome.jobFailed ?? false });
          // A survivor whose runner was stopped cleanly still fails when the job failed.
          io.setExitCode(outcome.jobFailed || outcome.lastResult?.status === 'failed' ? 1 : 0);
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      });
  },
};
