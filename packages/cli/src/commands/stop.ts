import { ApplicationManagerConnection } from '@millrace/runtime';
import { schedulerOfHandle } from '@millrace/scheduler';
import type { Command } from 'commander';
import type { CliCommand, CliIo } from '../command.js';
import { type ConnectionFlags, resolveConnection, withConnectionOptions } from '../connection-options.js';
import { applicationSummary } from '../scheduling/application-text.js';

/**
 * `millrace stop --am ADDR --token T [--reason R]`: stops the job; every runner is asked to stop.
 * `millrace stop HANDLE`: cancels a submitted application through its scheduler and returns once
 * it ended.
 */
export const stopCommand: CliCommand = {
  name: 'stop',
  register(program: Command, io: CliIo) {
    withConnectionOptions(program.command('stop'))
      .description('stop the job, or a submitted application (HANDLE)')
      .argument('[handle]', 'a handle printed by `millrace submit`')
      .option('--reason <reason>', 'why, for the logs', 'stopped from the command line')
      .action(async (text: string | undefined, flags: ConnectionFlags & { reason: string }) => {
        if (text !== undefined) {
          const { handle, scheduler } = schedulerOfHandle(text);
          io.stdout.write(`${applicationSummary(await scheduler.stop(handle))}\n`);
          return;
        }
        const connection = new ApplicationManagerConnection(resolveConnection(flags));
        try {
          const response = await connection.stopJob(flags.reason);
          io.stdout.write(`job ${response.state}\n`);
        } finally {
          connection.close();
        }
      });
  },
};
