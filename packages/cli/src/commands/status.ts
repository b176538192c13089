import { describeNodeFailure } from '@millrace/core';
import { ApplicationManagerConnection, fromWireFailure } from '@millrace/runtime';
import { schedulerOfHandle } from '@millrace/scheduler';
import type { Command } from 'commander';
import type { CliCommand, CliIo } from '../command.js';
import { type ConnectionFlags, resolveConnection, withConnectionOptions } from '../connection-options.js';
import { applicationSummary } from '../scheduling/application-text.js';

/**
 * `millrace status --am ADDR --token T [--json]`: the job and every node as the AM sees them.
 * `millrace status HANDLE [--json]`: a submitted application as its scheduler sees it.
 */
export const statusCommand: CliCommand = {
  name: 'status',
  register(program: Command, io: CliIo) {
    withConnectionOptions(program.command('status'))
      .description("show the job's state and every node, or a submitted application's (HANDLE)")
      .argument('[handle]', 'a handle printed by `millrace submit`')
      .option('--json', 'print the status as JSON')
      .action(async (text: string | undefined, flags: ConnectionFlags & { json?: boolean }) => {
        if (text !== undefined) {
          const { handle, scheduler } = schedulerOfHandle(text);
          const status = await scheduler.status(handle);
          io.stdout.write(flags.json ? `${JSON.stringify(status)}\n` : `${applicationSummary(status)}\n`);
          return;
        }
        const connection = new ApplicationManagerConnection(resolveConnection(flags));
        try {
          const status = await connection.getJobStatus();
          if (flags.json) {
            io.stdout.write(`${JSON.stringify(status)}\n`);
            return;
          }
          const lines = [
            `job ${status.jobName} (engine ${status.engine}): ${status.state}, generation ${status.generation}, restarts ${status.restarts}/${status.maxRestarts}`,
            ...(status.outcome ? [`outcome: ${status.outcome}`] : []),
            ...status.nodes.map((node) => {
              const where = node.host ? ` ${node.host} ${JSON.stringify(node.ports)}` : '';
              const metrics = Object.entries(node.metrics)
                .map(([name, value]) => `${name}=${value}`)
                .join(' ');
              return `  ${`${node.role}[${node.index}]`.padEnd(12)} ${node.status.padEnd(10)} attempt ${node.attempt}${where}${metrics ? `  ${metrics}` : ''}`;
            }),
            ...status.failures.map(
              (failure) => `  failure: ${describeNodeFailure(fromWireFailure(failure)).split('\n')[0]}`,
            ),
          ];
          io.stdout.write(`${lines.join('\n')}\n`);
        } finally {
          connection.close();
        }
      });
  },
};
