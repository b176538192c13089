import { ApplicationManagerConnection } from '@millrace/runtime';
import type { Command } from 'commander';
import type { CliCommand, CliIo } from '../command.js';
import { type ConnectionFlags, resolveConnection, withConnectionOptions } from '../connection-options.js';

/** `millrace stop --am ADDR --token T [--reason R]`: stops the job; every runner is asked to stop. */
export const stopCommand: CliCommand = {
  name: 'stop',
  register(program: Command, io: CliIo) {
    withConnectionOptions(program.command('stop'))
      .description('stop the job')
      .option('--reason <reason>', 'why, for the logs', 'stopped from the command line')
      .action(async (flags: ConnectionFlags & { reason: string }) => {
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
